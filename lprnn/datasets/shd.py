"""Spiking Heidelberg Digits (SHD) and Spiking Speech Commands (SSC), through tonic.

The data are the publisher's HDF5 files (Cramer et al. 2020) in tonic's layout,
``<root>/SHD/shd_{train,test}.h5`` and ``<root>/SSC/ssc_{train,valid,test}.h5``, each with
``spikes/times`` (seconds), ``spikes/units`` (0–699), ``labels`` and ``extra/keys``,
``extra/speaker``. ``download=True`` lets ``tonic.datasets.SHD``/``SSC`` fetch and md5-check
the archives from zenkelab.org.

Splits: SHD ``test`` is the official test file, ``train``/``val`` divide the official training
file by speaker (default: the highest speaker id is held out, option ``val_speakers``). SSC
has official ``train``, ``valid`` and ``test`` files.

Labels: SSC keeps the official 35 classes (``extra/keys``). SHD labels are converted to the
authors' HD convention (German ``d → d``, English ``d → 10 + d``; the files use the reverse),
so ``shd``, ``hd`` and the built-in ``digits`` share one class list.

Features: the spikes are binned with ``tonic.transforms.ToFrame`` into ``bin_ms`` bins over
``duration_s`` (later spikes are dropped; short samples end in empty bins), then low-pass
filtered per channel into an analog input for the lpRNN:

    x_t = α x_{t−1} + c_t,    x_{−1} = 0,    c_t = spike count of the channel in bin t

with α = ``retention_ratio`` (0.8, the lpRNN's own: τ ≈ 4.5 bins). Features are cached.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import torch
from tqdm.auto import tqdm

from lprnn.datasets import SequenceDataset
from lprnn.datasets.cache import cached_features, fingerprint_files
from lprnn.datasets.hd import HD_CLASSES, swap_label_convention

N_CHANNELS = 700
BIN_MS = 10.0
RETENTION_RATIO = 0.8
DURATION_S = {"shd": 1.4, "ssc": 1.0}  # SHD digits last up to ~1.4 s, SSC words up to 1 s
FILES = {"shd": {"train": "shd_train.h5", "test": "shd_test.h5"},
         "ssc": {"train": "ssc_train.h5", "val": "ssc_valid.h5", "test": "ssc_test.h5"}}
TONIC_FOLDERS = {"shd": "SHD", "ssc": "SSC"}
SPLITS = ("train", "val", "test")
QUICK_SAMPLES = 40  # samples per split in smoke mode
OPTIONS = ("bin_ms", "duration_s", "retention_ratio", "val_speakers")


def _missing_data_error(folder: Path, file_name: str, what: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"{folder.name} not found: {what}. Pass download=True (tonic fetches "
        f"https://zenkelab.org/datasets/{file_name}.zip and checks its md5), or download that "
        f"file yourself and unzip it into {folder} so that {folder / file_name} exists")


def _download(dataset: str, root: Path, split: str) -> None:
    import tonic  # optional dependency (pip install lprnn[datasets])

    try:
        if dataset == "shd":
            tonic.datasets.SHD(str(root), train=split != "test")
        else:
            tonic.datasets.SSC(str(root), split={"val": "valid"}.get(split, split))
    except OSError as error:
        folder = root / TONIC_FOLDERS[dataset]
        raise _missing_data_error(folder, FILES[dataset][_file_split(dataset, split)],
                                  f"download failed ({error})") from None


def _file_split(dataset: str, split: str) -> str:
    return split if split in FILES[dataset] else "train"


def read_spike_file(path: Path) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray,
                                         np.ndarray, list[str]]:
    """``(times_s, units, labels, speakers, keys)`` of a SHD/SSC HDF5 file, checked."""
    try:
        with h5py.File(path, "r") as f:
            times = [np.asarray(t, np.float64) for t in f["spikes/times"][()]]
            units = [np.asarray(u, np.int64) for u in f["spikes/units"][()]]
            labels = np.asarray(f["labels"][()], np.int64)
            speakers = np.asarray(f["extra/speaker"][()], np.int64)
            keys = [k.decode() if isinstance(k, bytes) else str(k) for k in f["extra/keys"][()]]
    except (OSError, KeyError) as error:
        raise ValueError(f"{path}: not a SHD/SSC HDF5 file with spikes/times, spikes/units, "
                         f"labels, extra/keys and extra/speaker ({error})") from None
    if not len(times) == len(units) == len(labels) == len(speakers):
        raise ValueError(f"{path}: {len(times)} spike times, {len(units)} unit lists, "
                         f"{len(labels)} labels and {len(speakers)} speakers: expected equal")
    return times, units, labels, speakers, keys


def bin_spikes(times_s: np.ndarray, units: np.ndarray, bin_ms: float, n_bins: int) -> np.ndarray:
    """Spike counts ``[n_bins, 700]`` with tonic's ``ToFrame`` (``bin_ms`` bins from t = 0)."""
    import tonic  # optional dependency (pip install lprnn[datasets])

    if len(units) and (units.min() < 0 or units.max() >= N_CHANNELS):
        raise ValueError(f"spike units in [{units.min()}, {units.max()}]: expected channels "
                         f"in [0, {N_CHANNELS})")
    keep = times_s < n_bins * bin_ms * 1e-3
    events = tonic.io.make_structured_array(times_s[keep] * 1e6, units[keep], 1,
                                            dtype=tonic.datasets.SHD.dtype)
    counts = np.zeros((n_bins, N_CHANNELS), np.float32)
    if len(events):
        # start_time/end_time pin the bin edges to 0, bin, 2·bin, … whatever the first spike
        frames = tonic.transforms.ToFrame(sensor_size=(N_CHANNELS, 1, 1),
                                          time_window=bin_ms * 1e3, start_time=0,
                                          end_time=n_bins * bin_ms * 1e3)(events)
        frames = frames.reshape(len(frames), -1)[:n_bins]
        counts[:len(frames)] = frames
    return counts


def low_pass(counts: torch.Tensor, retention_ratio: float) -> torch.Tensor:
    """``x_t = α x_{t−1} + c_t`` along dim −2 of ``counts [..., T, C]`` (α = retention_ratio)."""
    state = torch.zeros_like(counts[..., 0, :])
    filtered = torch.empty_like(counts)
    for t in range(counts.shape[-2]):
        state = retention_ratio * state + counts[..., t, :]
        filtered[..., t, :] = state
    return filtered


def _check_options(dataset: str, options: dict[str, object]) -> dict[str, object]:
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ValueError(f"unknown {dataset.upper()} options {unknown}: expected some of "
                         f"{list(OPTIONS)}")
    settings = {**dict(bin_ms=BIN_MS, duration_s=DURATION_S[dataset],
                       retention_ratio=RETENTION_RATIO, val_speakers=None), **options}
    for name in ("bin_ms", "duration_s"):
        value = settings[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f"{name} {value!r}: expected a positive number")
    alpha = settings["retention_ratio"]
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha < 1:
        raise ValueError(f"retention_ratio {alpha!r}: expected a number in [0, 1)")
    if dataset == "ssc" and settings["val_speakers"] is not None:
        raise ValueError("val_speakers: SSC has an official validation file; "
                         "expected no val_speakers")
    return settings


def _select(split: str, speakers: np.ndarray,
            val_speakers: object) -> np.ndarray:
    """Indices of the SHD training file that belong to ``split`` ("train" or "val")."""
    known = sorted(set(speakers.tolist()))
    if val_speakers is None:
        val_speakers = (known[-1],)
    if not isinstance(val_speakers, (tuple, list)) or not all(
            isinstance(s, int) and not isinstance(s, bool) for s in val_speakers):
        raise TypeError(f"val_speakers {val_speakers!r}: expected a tuple of speaker ids (ints)")
    if set(val_speakers) - set(known) or set(val_speakers) == set(known):
        raise ValueError(f"val_speakers {tuple(val_speakers)}: expected a proper subset of the "
                         f"training speakers {known}")
    held_out = np.isin(speakers, list(val_speakers))
    return np.flatnonzero(held_out if split == "val" else ~held_out)


def _load(dataset: str, split: str, root: Path, download: bool, quick: bool, progress: bool,
          options: dict[str, object]) -> SequenceDataset:
    if split not in SPLITS:
        raise ValueError(f"{dataset.upper()} split {split!r}: expected one of {list(SPLITS)}")
    settings = _check_options(dataset, options)
    root = Path(root).expanduser()
    folder = root / TONIC_FOLDERS[dataset]
    file_name = FILES[dataset][_file_split(dataset, split)]
    path = folder / file_name
    if not path.is_file():
        if not download:
            raise _missing_data_error(folder, file_name, f"{path} is missing")
        _download(dataset, root, split)
    times, units, labels, speakers, keys = read_spike_file(path)
    indices = np.arange(len(labels))
    if dataset == "shd" and split != "test":
        indices = _select(split, speakers, settings["val_speakers"])
    if quick and len(indices) > QUICK_SAMPLES:
        indices = indices[np.linspace(0, len(indices) - 1, QUICK_SAMPLES).round().astype(int)]
    n_classes = 20 if dataset == "shd" else 35
    if len(keys) != n_classes or labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"{path}: {len(keys)} class keys and labels in [{labels.min()}, "
                         f"{labels.max()}]: expected {n_classes} classes")
    n_bins = int(round(settings["duration_s"] * 1e3 / settings["bin_ms"]))
    key = dict(split=split, file=fingerprint_files([path]), indices=indices.tolist(),
               bin_ms=settings["bin_ms"], n_bins=n_bins,
               retention_ratio=settings["retention_ratio"])

    def compute() -> dict[str, torch.Tensor]:
        counts = np.stack([bin_spikes(times[i], units[i], settings["bin_ms"], n_bins)
                           for i in tqdm(indices, desc=f"{dataset.upper()} binning",
                                         disable=not progress, unit="sample",
                                         mininterval=1.0)])
        return dict(features=low_pass(torch.from_numpy(counts), settings["retention_ratio"]),
                    labels=torch.from_numpy(labels[indices]))

    tensors = cached_features(dataset, key, compute)
    if dataset == "shd":
        # official (English d → d, German d → 10 + d) to the authors' convention
        return SequenceDataset(tensors["features"], swap_label_convention(tensors["labels"]),
                               list(HD_CLASSES), "shd")
    return SequenceDataset(tensors["features"], tensors["labels"], keys, "ssc")


def load(split: str = "train", *, root: str | Path, download: bool = False, quick: bool = False,
         progress: bool = True, **options: object) -> SequenceDataset:
    """SHD split ``split`` ("train", "val", "test") as low-pass filtered spike counts
    ``[N, 140, 700]`` (registry entry ``"shd"``). ``root`` holds ``SHD/``. Options: ``bin_ms``,
    ``duration_s``, ``retention_ratio``, ``val_speakers``; ``quick`` keeps at most
    :data:`QUICK_SAMPLES` samples."""
    return _load("shd", split, Path(root), download, quick, progress, options)


def load_ssc(split: str = "train", *, root: str | Path, download: bool = False,
             quick: bool = False, progress: bool = True, **options: object) -> SequenceDataset:
    """SSC split ``split`` as ``[N, 100, 700]`` features (registry entry ``"ssc"``); ``root``
    holds ``SSC/``. Options as :func:`load` except ``val_speakers``."""
    return _load("ssc", split, Path(root), download, quick, progress, options)
