"""The results table: provenance columns, old and corrupt tables, parallel writers, stale rows."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lprnn import config, results

REPO = Path(__file__).resolve().parents[1]


def _row(metric="test_accuracy", value=0.9, notebook="02_train_lprnn.ipynb", **extra):
    return dict(experiment="train", dataset="digits", model="lpRNN", metric=metric, value=value,
                notebook=notebook, **extra)


def test_provenance_columns_are_written_and_commit_is_filled_in(tmp_path):
    path = tmp_path / "results.csv"
    results.record([_row(std=0.012, ci_low=0.85, ci_high=0.95, seeds=[0, 1, 2], n_clips=600,
                         run_size="default"), _row(metric="val_accuracy")], path)
    with path.open(newline="") as f:
        assert next(csv.reader(f)) == list(results.COLUMNS)
    by_metric = {r["metric"]: r for r in results.read_results(path)}
    full, bare = by_metric["test_accuracy"], by_metric["val_accuracy"]
    assert (full["std"], full["ci_low"], full["ci_high"]) == ("0.012", "0.85", "0.95")
    assert (full["seeds"], full["n_clips"], full["run_size"]) == ("0,1,2", "600", "default")
    assert all(bare[c] == "" for c in results.OPTIONAL)
    # independent side: git itself
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    assert full["commit"] in (head, head + "-dirty") and bare["commit"] == full["commit"]


def test_record_one_takes_the_optional_fields_as_keywords(tmp_path):
    path = tmp_path / "results.csv"
    results.record_one("a", "b", "c", "d", 0.5, "n.ipynb", path, seeds=3, n_clips=10,
                       run_size="quick")
    row, = results.read_results(path)
    assert (row["seeds"], row["n_clips"], row["run_size"]) == ("3", "10", "quick")


@pytest.mark.parametrize("extra, match", [
    (dict(run_size="huge"), "run_size='huge'"), (dict(n_clips=0), "n_clips=0"),
    (dict(std=float("inf")), "std"), (dict(commit="abc"), "unknown \\['commit'\\]")])
def test_bad_optional_fields_are_refused(tmp_path, extra, match):
    with pytest.raises(ValueError, match=match):
        results.record([_row(**extra)], tmp_path / "results.csv")


def test_commit_outside_git_is_unknown(tmp_path):
    assert results._commit_of(tmp_path) == results.UNKNOWN_COMMIT


def test_old_six_column_table_is_read_and_upgraded(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text("experiment,dataset,model,metric,value,notebook\n"
                    "train,digits,lpRNN,test_accuracy,0.8,02.ipynb\n")
    old, = results.read_results(path)
    assert old["value"] == "0.8" and old["commit"] == "" and old["seeds"] == ""
    results.record([_row(metric="val_accuracy")], path)
    with path.open(newline="") as f:
        assert next(csv.reader(f)) == list(results.COLUMNS)
    assert {r["metric"] for r in results.read_results(path)} == {"test_accuracy", "val_accuracy"}


def test_truncated_last_row_is_refused_and_never_written_back(tmp_path):
    path = tmp_path / "results.csv"
    results.record([_row(), _row(metric="val_accuracy")], path)
    whole = path.read_text()
    path.write_text(whole[:-25])       # a write cut short in the last row
    with pytest.raises(ValueError, match=f"{path}, line 3: .*field '.*' missing"):
        results.read_results(path)
    path.write_text(whole[:-1])        # only the line end lost: the last value may be cut
    with pytest.raises(ValueError, match="line 3: the last row has no line end"):
        results.read_results(path)
    with pytest.raises(ValueError, match="truncated"):
        results.record([_row(metric="other")], path)
    assert path.read_text() == whole[:-1]


def test_foreign_or_broken_tables_name_the_file_line_and_field(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match=f"{path}, line 1: columns"):
        results.read_results(path)
    path.unlink()
    results.record([_row()], path)
    text = path.read_text().replace(",0.9,", ",,")
    path.write_text(text)
    with pytest.raises(ValueError, match="line 2: field 'value' is empty"):
        results.read_results(path)


WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from lprnn import results
    path, writer, start = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    while not start.exists():
        time.sleep(0.005)
    for i in range(100):
        results.record_one("concurrency", "none", f"writer{writer}", f"row{i}", i,
                           "test.ipynb", path)
""")


@pytest.mark.slow
def test_eight_processes_writing_at_once_keep_every_row(tmp_path):
    path, start = tmp_path / "results.csv", tmp_path / "start"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(w), str(start)],
                                env=env) for w in range(8)]
    start.touch()
    assert [w.wait(timeout=300) for w in writers] == [0] * 8
    rows = results.read_results(path)
    assert len(rows) == 800
    assert {(r["model"], r["metric"]) for r in rows} == {
        (f"writer{w}", f"row{i}") for w in range(8) for i in range(100)}


def test_drop_stale_removes_only_unrecorded_rows_of_the_notebooks_run(tmp_path, monkeypatch):
    path = tmp_path / "results.csv"
    results.record([_row(metric="old_metric", notebook="02.ipynb"),
                    _row(metric="kept_elsewhere", notebook="09.ipynb"),
                    _row(metric="test_accuracy", value=0.1, notebook="02.ipynb")], path)
    monkeypatch.setenv(results.RUN_ID_ENV, "run1")
    results.record([_row(metric="test_accuracy", value=0.9, notebook="02.ipynb")], path)
    monkeypatch.delenv(results.RUN_ID_ENV)
    dropped = results.drop_stale("run1", ["notebooks/02.ipynb"], path)
    assert [r["metric"] for r in dropped] == ["old_metric"]
    rows = {r["metric"]: r["value"] for r in results.read_results(path)}
    assert rows == {"kept_elsewhere": "0.9", "test_accuracy": "0.9"}
    assert not results.run_keys_path("run1", path).exists()


def test_drop_stale_without_a_record_of_the_run_drops_nothing(tmp_path, monkeypatch):
    path = tmp_path / "results.csv"
    monkeypatch.setenv(results.RUN_ID_ENV, "run4")
    results.record([_row(metric="fresh_03", notebook="03.ipynb"),
                    _row(metric="fresh_02", notebook="02.ipynb")], path)
    monkeypatch.delenv(results.RUN_ID_ENV)
    assert results.drop_stale("run4", ["03.ipynb"], path) == []
    # The first call consumed the run's record: a second one must not take the run's
    # other rows for stale.
    with pytest.raises(FileNotFoundError, match="'run4' has no record"):
        results.drop_stale("run4", ["02.ipynb"], path)
    assert {r["metric"] for r in results.read_results(path)} == {"fresh_03", "fresh_02"}


def test_drop_stale_keeps_the_rows_the_run_skipped(tmp_path, monkeypatch):
    path = tmp_path / "results.csv"
    results.record([{**_row(metric="speech", notebook="02.ipynb"), "dataset": "fsdd"},
                    _row(metric="stale", notebook="02.ipynb")], path)
    monkeypatch.setenv(results.RUN_ID_ENV, "run2")
    results.record([_row(metric="fresh", notebook="02.ipynb")], path)
    monkeypatch.delenv(results.RUN_ID_ENV)
    dropped = results.drop_stale("run2", ["02.ipynb"], path, spare=[("02.ipynb", "fsdd")])
    assert [r["metric"] for r in dropped] == ["stale"]
    assert {r["metric"] for r in results.read_results(path)} == {"speech", "fresh"}


def test_a_full_size_row_sits_beside_the_default_one_and_survives_a_default_run(
        tmp_path, monkeypatch):
    path = tmp_path / "results.csv"
    results.record([_row(value=0.8, run_size="default"), _row(value=0.85, run_size="full")],
                   path)
    assert sorted(r["value"] for r in results.read_results(path)) == ["0.8", "0.85"]
    monkeypatch.setenv(results.RUN_ID_ENV, "run3")
    results.record([_row(value=0.81, run_size="default")], path)
    monkeypatch.delenv(results.RUN_ID_ENV)
    assert results.drop_stale("run3", ["02_train_lprnn.ipynb"], path, run_size="default") == []
    assert {r["run_size"]: r["value"] for r in results.read_results(path)} == {
        "default": "0.81", "full": "0.85"}
    with pytest.raises(ValueError, match="run_size='huge'"):
        results.drop_stale("run3", ["02_train_lprnn.ipynb"], path, run_size="huge")


@pytest.mark.slow
def test_reproduce_run_replaces_its_rows_and_drops_stale_ones(tmp_path, monkeypatch):
    import nbformat

    from lprnn import reproduce

    monkeypatch.setenv("LPRNN_FIGURES_DIR", str(tmp_path / "figures"))
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    table = config.results_csv()
    results.record([_row(metric="stale", notebook="01_rec.ipynb"),
                    _row(metric="fresh", value=0.1, notebook="01_rec.ipynb"),
                    _row(metric="other", notebook="05_other.ipynb")], table)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "from lprnn import results\n"
        "results.record_one('train', 'digits', 'lpRNN', 'fresh', 0.7, '01_rec.ipynb')")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    (tmp_path / "notebooks").mkdir()
    nbformat.write(nb, tmp_path / "notebooks" / "01_rec.ipynb")
    assert reproduce.main(["--no-readme", "--output-dir", str(tmp_path / "out"),
                           str(tmp_path / "notebooks" / "01_rec.ipynb")]) == 0
    rows = {r["metric"]: r["value"] for r in results.read_results(table)}
    assert rows == {"fresh": "0.7", "other": "0.9"}
    assert results.RUN_ID_ENV not in os.environ


def test_optional_fields_given_as_blank_are_missing_and_numpy_counts_are_counts(tmp_path):
    import numpy as np

    path = tmp_path / "results.csv"
    results.record([_row(std="", ci_low=None, n_clips=np.int64(600), seeds="")], path)
    (row,) = results.read_results(path)
    assert (row["std"], row["ci_low"], row["seeds"], row["n_clips"]) == ("", "", "", "600")
    with pytest.raises(ValueError, match="n_clips=0"):
        results.record([_row(n_clips=0)], path)
