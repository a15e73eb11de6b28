"""Bring your own audio: the generic folder/CSV dataset, register_dataset, recipes and the CLI."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from lprnn.__main__ import main
from lprnn.ann.recipes import get_recipe
from lprnn.ann.train import load_checkpoint
from lprnn.datasets import LOADERS, audio, frontend, load_dataset, register_dataset

WORDS = ("go", "stop")


def _word(word: str, take: int, rate: int) -> np.ndarray:
    t = np.arange(int((0.2 + 0.03 * take) * rate)) / rate
    return (0.2 * np.sin(2 * np.pi * (400 if word == "go" else 900) * t)).astype(np.float32)


def _write_folder(root: Path) -> Path:
    for split, takes in (("train", 4), ("val", 1), ("test", 2)):
        for word in WORDS:
            (root / split / word).mkdir(parents=True)
            for take in range(takes):
                soundfile.write(root / split / word / f"{take}.wav", _word(word, take, 16000),
                                16000, subtype="FLOAT")
    return root


def _write_manifest(root: Path) -> Path:
    """Clips at two rates (16 and 8 kHz), listed in a CSV with relative paths."""
    root.mkdir(parents=True)
    rows = []
    for split, takes in (("train", 4), ("val", 1), ("test", 2)):
        for word in WORDS:
            for take in range(takes):
                rate = 16000 if take % 2 else 8000
                name = f"{split}-{word}-{take}.flac"
                soundfile.write(root / name, _word(word, take, rate), rate)
                rows.append(dict(path=name, label=word, speaker=f"s{take}", split=split))
    manifest = root / "words.csv"
    with manifest.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=["path", "label", "speaker", "split"])
        writer.writeheader()
        writer.writerows(rows)
    return manifest


@pytest.fixture(autouse=True)
def _data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LPRNN_DATA_DIR", str(tmp_path / "data"))


def test_folder_layout_gives_splits_classes_and_hd_features(tmp_path):
    root = _write_folder(tmp_path / "words")
    splits = {split: load_dataset("audio", split, root=root, progress=False)
              for split in ("train", "val", "test")}
    assert {split: len(ds) for split, ds in splits.items()} == {"train": 8, "val": 2, "test": 4}
    assert splits["train"].classes == ["go", "stop"]
    assert splits["test"].labels.tolist() == [0, 0, 1, 1]
    length = int(np.percentile([len(_word(word, take, 48000)) for word in WORDS
                                for take in range(4)], 90))
    assert splits["train"].features.shape[1:] == (length // frontend.HD_HOP_LENGTH, 80)
    # the features are the package's HD front end of the clip, resampled and cut/padded
    clip = frontend.resample(torch.from_numpy(_word("stop", 1, 16000)), 16000, 48000)
    expected = frontend.hd_logmel(torch.from_numpy(audio.fit_length(clip.numpy(), length)))
    torch.testing.assert_close(splits["test"].features[3], expected, atol=1e-4, rtol=0)


def test_manifest_with_mixed_rates_and_front_ends(tmp_path):
    manifest = _write_manifest(tmp_path / "words")
    hd = load_dataset("audio", "train", root=manifest, progress=False)
    narrow = load_dataset("audio", "train", root=manifest, progress=False, frontend="narrowband")
    assert len(hd) == len(narrow) == 8 and hd.name == "words"
    length_8k = int(np.percentile([len(_word(word, take, 8000)) for word in WORDS
                                   for take in range(4)], 90))
    assert narrow.n_steps == length_8k // frontend.NARROWBAND_HOP_LENGTH
    assert len(list((tmp_path / "data" / "features" / "audio").glob("*.pt"))) == 2


@pytest.mark.parametrize("edit, error, message", [
    (lambda text: text.replace("speaker,", ""), ValueError, r"columns \['speaker'\] are missing"),
    (lambda text: text.replace(",test\n", ",testing\n", 1), ValueError, "split 'testing'"),
    (lambda text: text.replace("test-stop-1.flac", "gone.flac"), FileNotFoundError,
     "gone.flac does not exist"),
    (lambda text: text.replace("test-stop-1.flac,stop", "test-stop-1.flac,jump"), ValueError,
     r"test labels \['jump'\] are not among the classes"),
])
def test_manifest_errors_are_named(tmp_path, edit, error, message):
    manifest = _write_manifest(tmp_path / "words")
    manifest.write_text(edit(manifest.read_text()))
    with pytest.raises(error, match=message):
        load_dataset("audio", "test", root=manifest, progress=False)


def test_missing_folder_and_root_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dataset("audio", "train", root=tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="expected files <split>/<label>/<name>.wav"):
        load_dataset("audio", "train", root=tmp_path / "empty")
    with pytest.raises(ValueError, match="expected root="):
        load_dataset("audio", "train")


def test_register_dataset(tmp_path, monkeypatch):
    monkeypatch.setattr("lprnn.datasets.LOADERS", dict(LOADERS))
    root = _write_folder(tmp_path / "words")
    register_dataset("words", audio.audio_loader(root, frontend="narrowband"))
    test = load_dataset("words", "test", progress=False)
    assert len(test) == 4 and test.n_steps == load_dataset(
        "audio", "test", root=root, frontend="narrowband", progress=False).n_steps
    with pytest.raises(ValueError, match="already registered"):
        register_dataset("words", audio.audio_loader(root))
    register_dataset("words", audio.audio_loader(root), replace=True)
    with pytest.raises(ValueError, match="dataset name 'my/words'"):
        register_dataset("my/words", audio.audio_loader(root))
    with pytest.raises(TypeError, match="expected a function"):
        register_dataset("other", "not a loader")


def test_with_overrides_dataset_drops_the_old_data_shape():
    recipe = get_recipe("fsdd_speakers", "quick").with_overrides(
        dataset="audio", dataset_options=dict(root="/data/words"))
    assert recipe.dataset == "audio"
    assert "n_inputs" not in recipe.model and "n_classes" not in recipe.model
    assert recipe.dataset_options == dict(quick=True, root="/data/words")
    assert recipe.model["averaging"] == "second_half"
    with pytest.raises(ValueError, match="dataset 'mnist': expected a registered dataset"):
        get_recipe("fsdd").with_overrides(dataset="mnist")


def test_cli_trains_on_a_manifest(tmp_path, capsys):
    manifest = _write_manifest(tmp_path / "words")
    out = tmp_path / "words.pt"
    argv = ["train", "--recipe", "fsdd", "--size", "quick", "--dataset", str(manifest),
            "--device", "cpu", "--data-dir", str(tmp_path / "data"), "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "trained and saved" in printed and "test accuracy" in printed
    model, info = load_checkpoint(out)
    assert model.config.n_classes == 2
    assert info["recipe"]["dataset"] == "audio"
    assert info["recipe"]["dataset_options"]["root"] == str(manifest)


def test_cli_rejects_an_unknown_dataset(tmp_path, capsys):
    assert main(["train", "--recipe", "fsdd", "--size", "quick", "--dataset", "mnist",
                 "--data-dir", str(tmp_path / "data")]) == 2
    assert "--dataset 'mnist': expected a registered dataset" in capsys.readouterr().err


def test_cli_dataset_name_and_data_dir_find_the_release(tmp_path, capsys, monkeypatch):
    from tests.test_fsdd import _write_release

    _write_release(tmp_path / "data" / "fsdd")
    assert main(["train", "--recipe", "digits", "--size", "quick", "--dataset", "fsdd",
                 "--device", "cpu", "--data-dir", str(tmp_path / "data")]) == 0
    assert "test accuracy" in capsys.readouterr().out


def test_cli_dataset_options_reach_the_loader(tmp_path, capsys, monkeypatch):
    seen = []
    original = LOADERS["fsdd"]

    def spy(split, **options):
        seen.append(options)
        return original(split, **options)

    monkeypatch.setitem(LOADERS, "fsdd", spy)
    from test_fsdd import _write_release

    root = _write_release(tmp_path / "release")
    assert main(["train", "--recipe", "fsdd_speakers", "--size", "quick", "--device", "cpu",
                 "--dataset-root", str(root), "--dataset-option", "fold=1",
                 "--dataset-option", "frontend=narrowband", "--data-dir",
                 str(tmp_path / "data")]) == 0
    assert {options["fold"] for options in seen} == {1}
    assert {options["frontend"] for options in seen} == {"narrowband"}
    assert {str(options["root"]) for options in seen} == {str(root)}
    assert "test accuracy" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["train", "--dataset-option", "fold"])
    assert "expected KEY=VALUE" in capsys.readouterr().err
