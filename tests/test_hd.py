"""Heidelberg Digits loader on a tiny fixture in the release's on-disk format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from lprnn import config
from lprnn.datasets import cache, frontend, hd
from lprnn.datasets.digits import CLASSES as DIGITS_CLASSES

RATE = 48000
# (language, speaker, trial, digit, length in samples)
TRAIN = [(lang, speaker, trial, digit, 4000 + 500 * digit + 300 * trial)
         for lang in ("english", "german") for speaker in (0, 2) for trial in (0, 1)
         for digit in (1, 7)]
TEST = [(lang, 4, 0, digit, 6000) for lang in ("english", "german") for digit in (1, 7)]


def clip_name(lang: str, speaker: int, trial: int, digit: int) -> str:
    return f"lang-{lang}_speaker-{speaker:02d}_trial-{trial}_digit-{digit}.flac"


def write_release(root: Path) -> Path:
    """A miniature hd_audio release: audio/*.flac (48 kHz) and the two file lists."""
    (root / "audio").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for which, rows in (("train", TRAIN), ("test", TEST)):
        names = []
        for lang, speaker, trial, digit, length in rows:
            name = clip_name(lang, speaker, trial, digit)
            soundfile.write(root / "audio" / name, 0.1 * rng.standard_normal(length), RATE)
            names.append(name)
        (root / f"{which}_filenames.txt").write_text("\n".join(names) + "\n")
    return root


@pytest.fixture
def release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LPRNN_DATA_DIR", str(tmp_path / "data"))
    return write_release(tmp_path / "hd")


def test_parse_clip_name_and_labels() -> None:
    clip = hd.parse_clip_name("lang-english_speaker-01_trial-3_digit-7.flac")
    assert clip == hd.HDClip("lang-english_speaker-01_trial-3_digit-7.flac", "english", 1, 3, 7)
    assert clip.label == 17
    assert hd.parse_clip_name("audio/lang-german_speaker-11_trial-0_digit-0.flac").label == 0
    with pytest.raises(ValueError, match="lang-<english|german>"):
        hd.parse_clip_name("lang-french_speaker-01_trial-0_digit-1.flac")


def test_label_conventions() -> None:
    assert hd.HD_CLASSES == DIGITS_CLASSES
    assert hd.HD_CLASSES[3] == "de-drei" and hd.HD_CLASSES[13] == "en-three"
    authors = torch.arange(20)
    official = hd.swap_label_convention(authors)
    assert official[3].item() == 13 and official[13].item() == 3
    assert torch.equal(hd.swap_label_convention(official), authors)
    with pytest.raises(ValueError, match="expected HD class indices"):
        hd.swap_label_convention(torch.tensor([20]))
    with pytest.raises(TypeError, match="integer tensor"):
        hd.swap_label_convention(torch.tensor([1.0]))


def test_fit_length_keeps_the_end() -> None:
    x = np.arange(1, 6, dtype=np.float32)
    assert hd.fit_length(x, 3).tolist() == [3, 4, 5]
    assert hd.fit_length(x, 7).tolist() == [0, 0, 1, 2, 3, 4, 5]


def test_splits_labels_and_shapes(release: Path) -> None:
    lengths = [row[-1] for row in TRAIN]
    frames = int(np.percentile(lengths, 90)) // 256
    train = hd.load("train", root=release, progress=False)
    val = hd.load("val", root=release, progress=False)
    test = hd.load("test", root=release, progress=False)
    # speaker 2 (the highest training id) is held out as validation, by default
    assert len(train) == len(val) == 8 and len(test) == 4
    for ds in (train, val, test):
        assert ds.features.shape[1:] == (frames, 80) and ds.features.dtype == torch.float32
        assert ds.n_classes == 20 and ds.name == "hd"
    expected = sorted(hd.parse_clip_name(clip_name(*row[:4])).label for row in TRAIN
                      if row[1] == 0)
    assert sorted(train.labels.tolist()) == expected == [1, 1, 7, 7, 11, 11, 17, 17]
    # each clip is z-normalized over time and bands
    assert torch.allclose(train.features.mean(dim=(1, 2)), torch.zeros(8), atol=1e-4)
    other = hd.load("train", root=release, progress=False, val_speakers=(0,))
    assert len(other) == 8 and not torch.equal(other.features, train.features)


def test_features_are_cached(release: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = hd.load("test", root=release, progress=False)
    entries = list((config.data_dir() / "features" / "hd").glob("*.pt"))
    assert len(entries) == 1

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("features recomputed despite the cache")

    monkeypatch.setattr(hd, "compute_features", fail)
    second = hd.load("test", root=release, progress=False)
    assert torch.equal(first.features, second.features)
    assert torch.equal(first.labels, second.labels)


def test_quick_keeps_few_clips(release: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hd, "QUICK_CLIPS", 3)
    assert len(hd.load("train", root=release, quick=True, progress=False)) == 3


def test_release_in_hd_audio_subfolder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LPRNN_DATA_DIR", str(tmp_path / "data"))
    write_release(tmp_path / "hd" / "hd_audio")
    assert len(hd.load("test", root=tmp_path / "hd", progress=False)) == 4


def test_missing_data_says_what_to_download(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="zenkelab.org/datasets/hd_audio.tar.gz"):
        hd.load("train", root=tmp_path / "nothing")


def test_missing_audio_file(release: Path) -> None:
    (release / "audio" / clip_name("german", 4, 0, 7)).unlink()
    with pytest.raises(FileNotFoundError, match="1 of the 4 files in test_filenames.txt"):
        hd.load("test", root=release)


def test_malformed_audio_file(release: Path) -> None:
    (release / "audio" / clip_name("german", 4, 0, 7)).write_bytes(b"not a flac")
    with pytest.raises(ValueError, match="not a readable audio file"):
        hd.load("test", root=release, progress=False)


def test_bad_arguments(release: Path) -> None:
    with pytest.raises(ValueError, match="HD split 'dev'"):
        hd.load("dev", root=release)
    with pytest.raises(ValueError, match="unknown HD options \\['n_mels'\\]"):
        hd.load("train", root=release, n_mels=40)
    with pytest.raises(ValueError, match="proper subset of the training speakers"):
        hd.load("train", root=release, val_speakers=(9,))
    with pytest.raises(ValueError, match="proper subset of the training speakers"):
        hd.load("train", root=release, val_speakers=(0, 2))
    with pytest.raises(TypeError, match="tuple of speaker ids"):
        hd.load("train", root=release, val_speakers=2)


def test_feature_cache_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LPRNN_DATA_DIR", str(tmp_path))
    calls = []

    def compute() -> dict[str, torch.Tensor]:
        calls.append(1)
        return dict(features=torch.arange(3.0))

    key = dict(split="test", n_mels=80)
    assert torch.equal(cache.cached_features("demo", key, compute)["features"], torch.arange(3.0))
    cache.cached_features("demo", key, compute)
    assert len(calls) == 1
    cache.cached_features("demo", dict(key, n_mels=40), compute)  # another key: recomputed
    assert len(calls) == 2
    path = cache.cache_path("demo", key)
    assert path.with_suffix(".json").is_file()
    path.write_bytes(b"truncated")
    with pytest.warns(UserWarning, match="unreadable"):
        cache.cached_features("demo", key, compute)
    assert len(calls) == 3 and torch.load(path, weights_only=True)["features"].shape == (3,)
    with pytest.raises(TypeError, match="not JSON-serializable"):
        cache.cache_path("demo", dict(root=Path("/x")))
    with pytest.raises(ValueError, match="plain folder name"):
        cache.cache_path("../up", key)


def test_cli_trains_the_hd_recipe_on_a_release(tmp_path: Path, capsys: pytest.CaptureFixture,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """`python -m lprnn train --recipe hd --data-dir DATA` end to end on a release in DATA/hd."""
    from lprnn.__main__ import main

    monkeypatch.setenv("LPRNN_DATA_DIR", "")   # --data-dir sets it; restored after the test
    write_release(tmp_path / "data" / "hd")
    argv = ["train", "--recipe", "hd", "--size", "quick", "--device", "cpu",
            "--data-dir", str(tmp_path / "data")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out
    assert list((tmp_path / "data" / "models").glob("hd-*.pt"))


CACHE_WRITER = """
import sys, time
from pathlib import Path
import torch
from lprnn.datasets import cache
log, start = Path(sys.argv[1]), Path(sys.argv[2])
while not start.exists():
    time.sleep(0.005)
def compute():
    with log.open("a") as f:
        f.write("computed\\n")
    time.sleep(0.5)
    return dict(features=torch.arange(4.0))
assert torch.equal(cache.cached_features("demo", dict(split="x"), compute)["features"],
                   torch.arange(4.0))
"""


@pytest.mark.slow
def test_parallel_processes_compute_a_feature_cache_entry_once(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = dict(os.environ, LPRNN_DATA_DIR=str(tmp_path / "data"),
               PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    log, start = tmp_path / "log", tmp_path / "start"
    workers = [subprocess.Popen([sys.executable, "-c", CACHE_WRITER, str(log), str(start)],
                                env=env) for _ in range(3)]
    start.touch()
    assert [w.wait(timeout=120) for w in workers] == [0, 0, 0]
    assert log.read_text() == "computed\n"
def test_authors_front_end_runs_over_the_whole_list_in_file_order(release: Path) -> None:
    names = (release / "train_filenames.txt").read_text().split()
    length = int(np.percentile([row[-1] for row in TRAIN], 90))
    clips = np.stack([hd.fit_length(soundfile.read(release / "audio" / name,
                                                   dtype="float32")[0], length)
                      for name in names])
    whole_list = frontend.authors_logmel(torch.from_numpy(clips))
    for split, speaker in (("train", 0), ("val", 2)):
        loaded = hd.load(split, root=release, progress=False, frontend="authors")
        rows = [i for i, name in enumerate(names) if hd.parse_clip_name(name).speaker == speaker]
        torch.testing.assert_close(loaded.features, whole_list[rows])
    per_clip = hd.load("train", root=release, progress=False)
    assert not torch.allclose(per_clip.features, whole_list[[i for i, n in enumerate(names)
                                                             if "speaker-00" in n]])
    with pytest.raises(ValueError, match="HD frontend 'mfcc'"):
        hd.load("train", root=release, progress=False, frontend="mfcc")
