"""The README results table is generated from figures/results.csv and must agree with it."""

from __future__ import annotations

import pytest

from lprnn import readme_table, results

README = "# Title\n\nprose\n\n{start}\nstale\n{end}\n\nmore prose\n"


def _readme(tmp_path, body="stale"):
    path = tmp_path / "README.md"
    path.write_text(README.format(start=readme_table.START_MARKER, end=readme_table.END_MARKER)
                    .replace("stale", body))
    return path


def test_real_readme_matches_real_results_csv():
    csv = readme_table.repository_results_csv()
    if not csv.is_file():
        pytest.skip(f"{csv} does not exist yet (run make reproduce)")
    assert readme_table.check_readme(readme_table.repository_readme(), csv), (
        "README.md results table disagrees with figures/results.csv: "
        "run `python -m lprnn.readme_table`")


def test_write_then_check_round_trip_and_prose_untouched(tmp_path):
    csv = tmp_path / "results.csv"
    results.record_one("train", "digits", "lpRNN 3-bit", "test_accuracy", 0.931, "02_train_lprnn.ipynb", csv)
    results.record_one("energy", "digits", "Loihi", "energy_uJ", 1.25, "08_energy.ipynb", csv)
    readme = _readme(tmp_path)
    assert not readme_table.check_readme(readme, csv)
    assert readme_table.write_readme(readme, csv)
    assert readme_table.check_readme(readme, csv)
    assert not readme_table.write_readme(readme, csv)
    text = readme.read_text()
    assert text.startswith("# Title\n\nprose\n\n") and text.endswith("\n\nmore prose\n")
    table = readme_table.table_in_readme(text)
    lines = table.splitlines()
    assert len(lines) == 2 + 2
    assert "| test_accuracy = 0.931 |" in lines[2]
    assert "`papermill notebooks/02_train_lprnn.ipynb" in lines[2]
    assert "[08_energy.ipynb](notebooks/08_energy.ipynb)" in lines[3]


def test_check_fails_when_a_value_changes(tmp_path):
    csv = tmp_path / "results.csv"
    results.record_one("train", "digits", "lpRNN", "test_accuracy", 0.9, "02_train_lprnn.ipynb", csv)
    readme = _readme(tmp_path)
    readme_table.write_readme(readme, csv)
    results.record_one("train", "digits", "lpRNN", "test_accuracy", 0.91, "02_train_lprnn.ipynb", csv)
    assert not readme_table.check_readme(readme, csv)
    assert readme_table.main(["--check", "--readme", str(readme), "--csv", str(csv)]) == 1
    assert readme_table.main(["--readme", str(readme), "--csv", str(csv)]) == 0
    assert readme_table.main(["--check", "--readme", str(readme), "--csv", str(csv)]) == 0


def test_empty_results_render_a_message(tmp_path):
    readme = _readme(tmp_path)
    readme_table.write_readme(readme, tmp_path / "missing.csv")
    assert "No results yet" in readme_table.table_in_readme(readme.read_text())


def test_pipes_in_values_are_escaped():
    row = dict(experiment="temporal_tasks", dataset="d", model="a|b", metric="x", value="1",
               notebook="n.ipynb")
    line = readme_table.render_table([row]).splitlines()[2]
    assert "a\\|b" in line and line.count(" | ") == len(readme_table.HEADER) - 1


def test_only_headline_metrics_are_shown_grouped_per_model():
    rows = [dict(experiment="train", dataset="digits", model="lpRNN", metric=m, value=v,
                 notebook="02.ipynb")
            for m, v in (("test_accuracy", "0.9"), ("zero_weight_fraction", "0.4"), ("other", "7"))]
    rows.append(dict(experiment="not_a_headline", dataset="d", model="m", metric="x", value="1",
                     notebook="09.ipynb"))
    lines = readme_table.render_table(rows).splitlines()
    assert len(lines) == 3
    assert "test_accuracy = 0.9; zero_weight_fraction = 0.4 |" in lines[2]
    assert "other" not in lines[2]


def test_missing_markers_and_readme_are_clear_errors(tmp_path):
    path = tmp_path / "README.md"
    path.write_text("# no markers\n")
    with pytest.raises(ValueError, match="results-table:start"):
        readme_table.write_readme(path, tmp_path / "r.csv")
    path.write_text(f"{readme_table.START_MARKER}\n{readme_table.END_MARKER}\n{readme_table.START_MARKER}")
    with pytest.raises(ValueError, match="exactly once"):
        readme_table.check_readme(path, tmp_path / "r.csv")
    with pytest.raises(FileNotFoundError, match="README"):
        readme_table.check_readme(tmp_path / "nope.md", tmp_path / "r.csv")


def test_notebook_tables_accuracy_overview_and_figure_index(tmp_path):
    rows = [dict(experiment="train", dataset="digits", model="lpRNN 3-bit", metric="test_accuracy",
                 value="0.93", notebook="02_train_lprnn.ipynb"),
            dict(experiment="map", dataset="digits", model="SNN", metric="agreement", value="0.99",
                 notebook="03_ann_to_snn.ipynb"),
            dict(experiment="map", dataset="digits", model="SNN", metric="status", value="ok",
                 notebook="03_ann_to_snn.ipynb"),
            dict(experiment="map", dataset="digits", model="SNN", metric="agreement", value="0.995",
                 notebook="03_ann_to_snn.ipynb", run_size="full")]
    tables = readme_table.notebook_tables(rows)
    assert list(tables) == ["02_train_lprnn.ipynb", "03_ann_to_snn.ipynb"]
    assert tables["02_train_lprnn.ipynb"].loc[("train", "digits", "lpRNN 3-bit", ""),
                                              "test_accuracy"] == 0.93
    assert tables["03_ann_to_snn.ipynb"].loc[("map", "digits", "SNN", ""), "status"] == "ok"
    assert tables["03_ann_to_snn.ipynb"].loc[("map", "digits", "SNN", "full"), "agreement"] == 0.995
    overview = readme_table.accuracy_overview(rows)
    assert overview.shape == (3, 2)
    assert readme_table.notebook_tables([]) == {} and readme_table.accuracy_overview([]).empty
    (tmp_path / "nb").mkdir()
    (tmp_path / "nb" / "05_weight_precision.ipynb").write_text("{}")
    for name in ("05_precision.png", "99_other.png"):
        (tmp_path / name).write_bytes(b"")
    index = readme_table.figure_index(tmp_path, tmp_path / "nb")
    assert index[["figure", "notebook"]].values.tolist() == [
        ["05_precision.png", "05_weight_precision.ipynb"], ["99_other.png", "unknown"]]


def test_rows_show_their_interval_and_provenance():
    row = dict(experiment="train", dataset="digits", model="lpRNN", metric="test_accuracy",
               value="0.861", std="", ci_low="0.8312", ci_high="0.8867", seeds="0,1,2",
               n_clips="600", run_size="default", commit="abc1234def5678-dirty",
               notebook="02.ipynb")
    spread = dict(row, metric="val_accuracy", value="0.85", ci_low="", ci_high="", std="0.0123")
    line = readme_table.render_table([row, spread]).splitlines()[2]
    cells = [c.strip() for c in line.strip("|").split(" | ")]
    assert cells[4] == "test_accuracy = 0.861 [0.831, 0.887]; val_accuracy = 0.85 ± 0.0123"
    assert cells[5] == "default · seeds 0,1,2 · 600 clips · abc1234-dirty"
    old = {k: row[k] for k in results.LEGACY_COLUMNS}
    assert readme_table.render_table([old]).splitlines()[2].split(" | ")[4:6] == [
        "test_accuracy = 0.861", "not recorded"]


def test_recorded_provenance_reaches_the_readme(tmp_path):
    csv = tmp_path / "results.csv"
    results.record_one("train", "digits", "lpRNN", "test_accuracy", 0.861, "02.ipynb", csv,
                       ci_low=0.83, ci_high=0.89, seeds=[0, 1, 2], n_clips=600,
                       run_size="default")
    readme = _readme(tmp_path)
    readme_table.write_readme(readme, csv)
    table = readme_table.table_in_readme(readme.read_text())
    assert f"| default · seeds 0,1,2 · 600 clips · {results.current_commit()[:7]}" in table
    assert "test_accuracy = 0.861 [0.83, 0.89]" in table


def test_real_speech_leads_and_its_rows_regenerate_with_their_recipe():
    from lprnn import readme_table

    def row(notebook, dataset):
        return dict(experiment="train", dataset=dataset, model="lpRNN 3-bit", metric="test_accuracy",
                    value="0.9", std="", ci_low="", ci_high="", seeds="0", n_clips="", run_size="default",
                    commit="abc", notebook=notebook)
    lines = readme_table.render_table([row("02_train_lprnn.ipynb", "digits"),
                                       row("02_train_lprnn.ipynb", "fsdd_speakers")]).splitlines()
    assert "fsdd_speakers" in lines[2] and "digits" in lines[3]
    assert "02_train_lprnn.fsdd_speakers.ipynb -p recipe_name fsdd_speakers" in lines[2]
    assert "-p recipe_name" not in lines[3]


def test_a_value_over_seeds_shows_its_spread_and_its_interval():
    from lprnn.readme_table import shown_value

    assert shown_value(dict(value="0.83", std="0.0123", ci_low="0.8", ci_high="0.86")) \
        == "0.83 ± 0.0123 [0.8, 0.86]"
    assert shown_value(dict(value="0.83", std="", ci_low="0.8", ci_high="0.86")) == "0.83 [0.8, 0.86]"
    assert shown_value(dict(value="0.83", std="", ci_low="", ci_high="")) == "0.83"


def test_a_labelled_speech_dataset_is_regenerated_with_its_recipe():
    command = readme_table.papermill_command("03_ann_to_snn.ipynb",
                                             "fsdd (out of domain: trained on Heidelberg Digits)")
    assert command.endswith("build/executed/03_ann_to_snn.fsdd.ipynb -p recipe_name fsdd")
    assert readme_table.papermill_command("03_ann_to_snn.ipynb", "digits") == \
        "papermill notebooks/03_ann_to_snn.ipynb build/executed/03_ann_to_snn.ipynb"


def test_full_size_rows_have_their_own_line_and_command():
    def row(run_size, value):
        return dict(experiment="train", dataset="fsdd_speakers", model="lpRNN 3-bit",
                    metric="test_accuracy", value=value, std="", ci_low="", ci_high="",
                    seeds="0", n_clips="", run_size=run_size, commit="abc",
                    notebook="02_train_lprnn.ipynb")
    lines = readme_table.render_table([row("default", "0.8"), row("full", "0.85")]).splitlines()
    assert len(lines) == 4
    assert "0.8;" not in lines[2] and "test_accuracy = 0.8 " in lines[2] + " "
    assert "test_accuracy = 0.85" in lines[3] and "· full ·" not in lines[2]
    assert lines[3].endswith("`papermill notebooks/02_train_lprnn.ipynb build/executed/"
                             "02_train_lprnn.fsdd_speakers.full.ipynb -p recipe_name "
                             "fsdd_speakers -p full True` |")
    assert readme_table.papermill_command("08_energy.ipynb", "digits", "full") == (
        "papermill notebooks/08_energy.ipynb build/executed/08_energy.full.ipynb -p full True")
    assert readme_table.papermill_command("08_energy.ipynb", "fsdd_speakers", "full") == (
        "papermill notebooks/08_energy.ipynb build/executed/08_energy.fsdd_speakers.full.ipynb "
        "-p recipe_name fsdd_speakers -p full True")
    assert readme_table.papermill_command("04_loihi_lava.ipynb", "fsdd_speakers") == (
        "papermill notebooks/04_loihi_lava.ipynb build/executed/04_loihi_lava.ipynb")
    with pytest.raises(ValueError, match="run_size='huge'"):
        readme_table.papermill_command("08_energy.ipynb", "digits", "huge")
