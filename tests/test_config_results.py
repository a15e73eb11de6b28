"""Paths come from lprnn.config; results.csv is upserted atomically."""

from __future__ import annotations

import csv

import pytest

from lprnn import config, results


def test_paths_follow_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("LPRNN_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("LPRNN_FIGURES_DIR", str(tmp_path / "f"))
    assert config.data_dir() == tmp_path / "d" and (tmp_path / "d").is_dir()
    assert config.models_dir() == tmp_path / "d" / "models"
    assert config.results_csv() == tmp_path / "f" / "results.csv"


def test_quick_mode_rejects_garbage(monkeypatch):
    monkeypatch.setenv("LPRNN_QUICK", "1")
    assert config.quick_mode()
    monkeypatch.setenv("LPRNN_QUICK", "0")
    assert not config.quick_mode()
    monkeypatch.setenv("LPRNN_QUICK", "yes please")
    with pytest.raises(ValueError, match="LPRNN_QUICK"):
        config.quick_mode()


def test_authors_checkpoint_absent(tmp_path, monkeypatch):
    monkeypatch.setenv("LPRNN_FIXTURES_DIR", str(tmp_path))
    assert config.authors_checkpoint() is None


def test_record_upserts_and_keeps_other_rows(tmp_path):
    path = tmp_path / "results.csv"
    results.record_one("train", "digits", "lpRNN", "test_accuracy", 0.9, "02.ipynb", path)
    results.record_one("train", "digits", "LSTM", "test_accuracy", 0.8, "06.ipynb", path)
    results.record_one("train", "digits", "lpRNN", "test_accuracy", 0.95, "02.ipynb", path)
    rows = results.read_results(path)
    assert [(r["model"], r["value"]) for r in rows] == [("LSTM", "0.8"), ("lpRNN", "0.95")]
    with path.open() as f:
        assert next(csv.reader(f)) == list(results.COLUMNS)


def test_record_rejects_bad_rows_without_touching_table(tmp_path):
    path = tmp_path / "results.csv"
    results.record_one("a", "b", "c", "d", 1, "n", path)
    before = path.read_text()
    with pytest.raises(ValueError, match="missing"):
        results.record([dict(experiment="a", value=1)], path)
    with pytest.raises(ValueError, match="non-finite"):
        results.record_one("a", "b", "c", "e", float("nan"), "n", path)
    assert path.read_text() == before
    assert not list(tmp_path.glob(".results-*"))


def test_read_rejects_foreign_csv(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text("x,y\n1,2\n")
    with pytest.raises(ValueError, match="columns"):
        results.read_results(path)
