"""SHD/SSC loader on tiny HDF5 files in the publisher's layout, where tonic expects them."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from lprnn.datasets import shd
from lprnn.datasets.hd import HD_CLASSES

SHD_KEYS = [f"english {d}" for d in range(10)] + [f"german {d}" for d in range(10)]


def write_spike_file(path: Path, labels: list[int], speakers: list[int], keys: list[str],
                     seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """An HDF5 file with spikes/times, spikes/units, labels, extra/keys, extra/speaker."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    samples = []
    for _ in labels:
        n = int(rng.integers(5, 30))
        samples.append((np.sort(rng.uniform(0, 1.2, n)).astype(np.float16),
                        rng.integers(0, 700, n).astype(np.uint16)))
    with h5py.File(path, "w") as f:
        times = f.create_dataset("spikes/times", (len(labels),),
                                 dtype=h5py.vlen_dtype(np.float16))
        units = f.create_dataset("spikes/units", (len(labels),),
                                 dtype=h5py.vlen_dtype(np.uint16))
        for i, (t, u) in enumerate(samples):
            times[i], units[i] = t, u
        f["labels"] = np.asarray(labels, np.uint16)
        f["extra/speaker"] = np.asarray(speakers, np.uint16)
        f["extra/keys"] = np.asarray([k.encode() for k in keys])
    return samples


@pytest.fixture
def shd_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LPRNN_DATA_DIR", str(tmp_path / "data"))
    root = tmp_path / "spikes"
    write_spike_file(root / "SHD" / "shd_train.h5", [0, 13, 5, 17, 2, 19], [0, 0, 3, 3, 5, 5],
                     SHD_KEYS)
    write_spike_file(root / "SHD" / "shd_test.h5", [1, 11], [4, 4], SHD_KEYS, seed=1)
    return root


def test_bin_spikes_counts_per_bin() -> None:
    counts = shd.bin_spikes(np.array([0.0, 0.005, 0.0101, 0.0299, 0.05]),
                            np.array([0, 1, 1, 699, 3]), bin_ms=10.0, n_bins=4)
    assert counts.shape == (4, 700)
    expected = np.zeros((4, 700), np.float32)
    expected[0, 0] = expected[0, 1] = expected[1, 1] = expected[2, 699] = 1  # 50 ms: dropped
    assert np.array_equal(counts, expected)
    assert shd.bin_spikes(np.array([]), np.array([], np.int64), 10.0, 3).sum() == 0
    with pytest.raises(ValueError, match="expected channels in \\[0, 700\\)"):
        shd.bin_spikes(np.array([0.0]), np.array([700]), 10.0, 3)


def test_low_pass() -> None:
    counts = torch.zeros(1, 4, 2)
    counts[0, 0, 0] = 1.0
    counts[0, 2, 1] = 2.0
    filtered = shd.low_pass(counts, 0.5)
    assert filtered[0, :, 0].tolist() == [1.0, 0.5, 0.25, 0.125]
    assert filtered[0, :, 1].tolist() == [0.0, 0.0, 2.0, 1.0]


def test_shd_splits_labels_and_features(shd_root: Path) -> None:
    train = shd.load("train", root=shd_root, progress=False)
    val = shd.load("val", root=shd_root, progress=False)
    test = shd.load("test", root=shd_root, progress=False)
    # speaker 5 (highest id) is the validation speaker; labels become the authors' convention
    assert train.labels.tolist() == [10, 3, 15, 7]
    assert val.labels.tolist() == [12, 9]
    assert test.labels.tolist() == [11, 1]
    assert train.classes == HD_CLASSES and train.name == "shd"
    assert train.features.shape == (4, 140, 700)
    # the filtered input of the first training sample, recomputed from its spikes
    samples = write_spike_file(shd_root / "copy.h5", [0, 13, 5, 17, 2, 19], [0] * 6, SHD_KEYS)
    times, units = samples[0]
    counts = torch.from_numpy(shd.bin_spikes(times.astype(np.float64), units.astype(np.int64),
                                             10.0, 140))
    assert torch.allclose(train.features[0], shd.low_pass(counts, 0.8))
    assert counts.sum() == len(times)
    other = shd.load("val", root=shd_root, val_speakers=(0, 3), progress=False)
    assert other.labels.tolist() == [10, 3, 15, 7]


def test_ssc_official_validation_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LPRNN_DATA_DIR", str(tmp_path / "data"))
    keys = [f"word{i:02d}" for i in range(35)]
    for split, labels in (("train", [0, 34, 7]), ("valid", [3]), ("test", [5, 6])):
        write_spike_file(tmp_path / "SSC" / f"ssc_{split}.h5", labels, [1] * len(labels), keys)
    val = shd.load_ssc("val", root=tmp_path, progress=False)
    assert val.labels.tolist() == [3] and val.classes == keys and val.name == "ssc"
    assert val.features.shape == (1, 100, 700)
    assert shd.load_ssc("train", root=tmp_path, progress=False).labels.tolist() == [0, 34, 7]
    with pytest.raises(ValueError, match="SSC has an official validation file"):
        shd.load_ssc("train", root=tmp_path, val_speakers=(1,))


def test_features_are_cached(shd_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = shd.load("test", root=shd_root, progress=False)

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("spikes binned again despite the cache")

    monkeypatch.setattr(shd, "bin_spikes", fail)
    assert torch.equal(shd.load("test", root=shd_root, progress=False).features, first.features)
    with pytest.raises(AssertionError, match="binned again"):
        shd.load("test", root=shd_root, bin_ms=5.0, progress=False)


def test_quick(shd_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shd, "QUICK_SAMPLES", 1)
    assert len(shd.load("train", root=shd_root, quick=True, progress=False)) == 1


def test_missing_data_says_what_to_download(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="zenkelab.org/datasets/shd_train.h5.zip"):
        shd.load("val", root=tmp_path)
    with pytest.raises(FileNotFoundError, match="zenkelab.org/datasets/ssc_valid.h5.zip"):
        shd.load_ssc("val", root=tmp_path)


def test_malformed_file(shd_root: Path) -> None:
    (shd_root / "SHD" / "shd_test.h5").write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="not a SHD/SSC HDF5 file"):
        shd.load("test", root=shd_root)
    with h5py.File(shd_root / "SHD" / "shd_test.h5", "w") as f:
        f["labels"] = np.zeros(2, np.uint16)
    with pytest.raises(ValueError, match="not a SHD/SSC HDF5 file"):
        shd.load("test", root=shd_root)


def test_bad_options(shd_root: Path) -> None:
    with pytest.raises(ValueError, match="SHD split 'dev'"):
        shd.load("dev", root=shd_root)
    with pytest.raises(ValueError, match="unknown SHD options \\['n_mels'\\]"):
        shd.load("train", root=shd_root, n_mels=80)
    with pytest.raises(ValueError, match="bin_ms 0"):
        shd.load("train", root=shd_root, bin_ms=0)
    with pytest.raises(ValueError, match="retention_ratio 1.5"):
        shd.load("train", root=shd_root, retention_ratio=1.5)
    with pytest.raises(ValueError, match="proper subset of the training speakers"):
        shd.load("train", root=shd_root, val_speakers=(0, 3, 5))
    with pytest.raises(TypeError, match="tuple of speaker ids"):
        shd.load("train", root=shd_root, val_speakers="5")


def test_fixture_is_what_tonic_reads(shd_root: Path) -> None:
    tonic = pytest.importorskip("tonic")
    (shd_root / "SHD" / "shd_test.h5.zip").touch()  # tonic's "already downloaded" marker
    events, label = tonic.datasets.SHD(str(shd_root), train=False)[1]
    ours = shd.load("test", root=shd_root, progress=False)
    assert int(label) == 11 and ours.labels[1].item() == 1  # official → authors' convention
    counts = shd.bin_spikes(events["t"] * 1e-6, events["x"], 10.0, 140)
    assert torch.allclose(ours.features[1], shd.low_pass(torch.from_numpy(counts), 0.8))
