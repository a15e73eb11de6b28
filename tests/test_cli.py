"""``python -m lprnn``: subcommands, the train command end to end (toy data), input errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from lprnn.__main__ import SUBCOMMANDS, main
from lprnn.datasets import SequenceDataset
from lprnn.ann.recipes import recipe_names
from lprnn.ann.train import load_checkpoint


def _toy(split: str) -> SequenceDataset:
    generator = torch.Generator().manual_seed({"train": 0, "val": 1, "test": 2}[split])
    labels = torch.arange(40) % 20
    features = torch.randn(40, 6, 80, generator=generator)
    return SequenceDataset(features, labels, [str(i) for i in range(20)], "digits")


@pytest.fixture
def toy_digits(tmp_path, monkeypatch):
    """Redirect data and models to tmp_path and replace the digits set by random features."""
    monkeypatch.setenv("LPRNN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr("lprnn.datasets.load_dataset", lambda name, split, **options: _toy(split))
    return tmp_path


def test_help_lists_subcommands():
    result = subprocess.run([sys.executable, "-m", "lprnn", "--help"], capture_output=True,
                            text=True, check=True)
    for name in SUBCOMMANDS:
        assert name in result.stdout


def test_train_help_lists_recipes(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert all(name in out for name in recipe_names())


def test_train_quick_recipe_then_load_cached(toy_digits, capsys):
    out_path = toy_digits / "copy.pt"
    argv = ["train", "--recipe", "digits", "--size", "quick", "--epochs", "1",
            "--weight-bits", "float", "--seed", "3", "--device", "cpu",
            "--data-dir", str(toy_digits / "data"), "--out", str(out_path)]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert "trained and saved" in first and "test accuracy" in first
    model, info = load_checkpoint(out_path)
    assert model.config.weight_frac_bits is None
    assert info["recipe"]["train"]["seed"] == 3 and info["recipe"]["train"]["epochs"] == 1
    assert main(argv) == 0
    assert "loaded cached" in capsys.readouterr().out


def test_bad_weight_bits_is_a_clear_error(toy_digits, capsys):
    argv = ["train", "--size", "quick", "--epochs", "1", "--weight-bits", "0",
            "--device", "cpu"]
    assert main(argv) == 2
    assert "frac_bits=0" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--weight-bits", "three"])
    assert exit_info.value.code == 2
    assert "'three': expected a number of fractional bits" in capsys.readouterr().err


def test_unknown_recipe_and_size(capsys):
    for argv in (["train", "--recipe", "nope"], ["train", "--size", "huge"], ["fly"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
        assert "invalid choice" in capsys.readouterr().err
