"""Bring your own audio: a labelled folder or a CSV manifest through the package's front ends.

Two layouts (``root`` is the folder, or the manifest file itself):

- a folder ``root/<split>/<label>/*.wav`` with ``split`` in train/val/test (any format
  libsndfile reads: wav, flac, ogg);
- a CSV manifest with the header ``path,label,speaker,split``: ``path`` relative to the
  manifest's folder (or absolute), ``label`` a class name, ``speaker`` free text (may be
  empty), ``split`` train/val/test.

Classes are the sorted label names of the training split (or the ``classes`` option); a val or
test label outside them is an error. Every clip is resampled to 48 kHz
(:func:`lprnn.datasets.frontend.resample`), cut or left-padded to the 90th percentile of the
training clips' lengths (keeping the end, as HD) and put through a front end of
:data:`FRONTENDS` (see :func:`featurize`). Features are cached under a key holding the files,
the length and the front end.

Use it through :func:`audio_loader` and :func:`lprnn.datasets.register_dataset`::

    register_dataset("mywords", audio_loader("/data/mywords.csv"))
    train = load_dataset("mywords", "train")
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile
import torch
from tqdm.auto import tqdm

from lprnn.datasets import Loader, SequenceDataset, frontend
from lprnn.datasets.cache import cached_features, fingerprint_files
from lprnn.datasets.hd import fit_length

SPLITS = ("train", "val", "test")
FRONTENDS = ("hd", "authors", "narrowband")
# The sample rate each front end works at (clips are resampled to it, then cut to length).
FRONTEND_RATES = {"hd": frontend.HD_SAMPLE_RATE, "authors": frontend.HD_SAMPLE_RATE,
                  "narrowband": frontend.NARROWBAND_SAMPLE_RATE}
OPTIONS = ("frontend", "classes")
MANIFEST_COLUMNS = ("path", "label", "speaker", "split")
LENGTH_PERCENTILE = 90
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
QUICK_CLIPS = 60
_BATCH = 64


class AudioClip(NamedTuple):
    path: Path
    label: str
    speaker: str
    split: str


def read_audio(path: Path, expected_rate: int | None = None) -> tuple[np.ndarray, int]:
    """(mono float32 samples, sample rate) of ``path``; ValueError naming the file when it is
    unreadable, empty, or not at ``expected_rate`` Hz (when given)."""
    try:
        samples, sample_rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as error:
        raise ValueError(f"{path}: not a readable audio file ({error})") from None
    if expected_rate is not None and sample_rate != expected_rate:
        raise ValueError(f"{path}: sample rate {sample_rate} Hz, expected {expected_rate} Hz")
    if len(samples) == 0:
        raise ValueError(f"{path}: holds no samples")
    return samples.mean(axis=1), int(sample_rate)


def resampled_length(path: Path, rate: int) -> int:
    """Samples of ``path`` once resampled to ``rate`` Hz (``ceil(n · rate / file rate)``)."""
    try:
        info = soundfile.info(path)
    except (RuntimeError, soundfile.LibsndfileError) as error:
        raise ValueError(f"{path}: not a readable audio file ({error})") from None
    return -(-info.frames * rate // info.samplerate)


def target_length(paths: Sequence[Path], front_end: str = "hd") -> int:
    """``L``: the 90th percentile (numpy's linear) of the clips' lengths at the front end's
    rate (48 kHz, or 8 kHz for "narrowband")."""
    rate = FRONTEND_RATES[_check_frontend(front_end)]
    return int(np.percentile([resampled_length(path, rate) for path in paths],
                             LENGTH_PERCENTILE))


def _check_frontend(front_end: object) -> str:
    if front_end not in FRONTENDS:
        raise ValueError(f"frontend {front_end!r}: expected one of {list(FRONTENDS)}")
    return front_end


def featurize(paths: Sequence[Path], length: int, front_end: str = "hd", *,
              expected_rate: int | None = None, progress: bool = True) -> torch.Tensor:
    """Features ``[N, T, 80]`` of the recordings ``paths``, in their order.

    Each clip is resampled to the front end's rate (:data:`FRONTEND_RATES`), cut or left-padded
    to ``length`` samples (keeping its end), then put through ``front_end``: ``"hd"``
    (:func:`lprnn.datasets.frontend.hd_logmel`, per clip, ``T = length // 256``),
    ``"authors"`` (:func:`lprnn.datasets.frontend.authors_logmel`, batches in the order of
    ``paths``) or ``"narrowband"`` (:func:`lprnn.datasets.frontend.narrowband_logmel`,
    ``T = length // 43``). ``expected_rate``: reject files at another rate.
    """
    rate = FRONTEND_RATES[_check_frontend(front_end)]
    clips = []
    for path in tqdm(paths, desc="audio", disable=not progress, unit="clip"):
        samples, file_rate = read_audio(path, expected_rate)
        resampled = frontend.resample(torch.from_numpy(samples), file_rate, rate)
        clips.append(fit_length(resampled.numpy(), length))
    waveforms = torch.from_numpy(np.stack(clips))
    if front_end == "authors":
        return frontend.authors_logmel(waveforms)
    logmel = frontend.narrowband_logmel if front_end == "narrowband" else frontend.hd_logmel
    return torch.cat([logmel(waveforms[start:start + _BATCH], rate)
                      for start in range(0, len(clips), _BATCH)])


def feature_key(paths: Sequence[Path], length: int, front_end: str) -> dict[str, object]:
    """The cache-key fields of :func:`featurize`: files, length and every front-end setting."""
    key = dict(clips=fingerprint_files(paths), length=length, frontend=front_end,
               resampler=frontend.RESAMPLER, n_mels=frontend.HD_N_MELS,
               sample_rate=FRONTEND_RATES[_check_frontend(front_end)])
    if front_end == "narrowband":
        return dict(key, n_fft=frontend.NARROWBAND_N_FFT,
                    win_length=frontend.NARROWBAND_WIN_LENGTH,
                    hop_length=frontend.NARROWBAND_HOP_LENGTH,
                    f_max=frontend.NARROWBAND_SAMPLE_RATE / 2,
                    dynamic_range_db=frontend.HD_DYNAMIC_RANGE_DB)
    return dict(key, n_fft=frontend.HD_N_FFT, hop_length=frontend.HD_HOP_LENGTH,
                f_max=frontend.HD_SAMPLE_RATE / 2,
                dynamic_range_db=(frontend.AUTHORS_DYNAMIC_RANGE_DB if front_end == "authors"
                                  else frontend.HD_DYNAMIC_RANGE_DB))


def read_manifest(manifest: Path) -> list[AudioClip]:
    """The clips of a ``path,label,speaker,split`` CSV file (paths relative to its folder)."""
    with manifest.open(newline="") as file:
        reader = csv.DictReader(file)
        missing = sorted(set(MANIFEST_COLUMNS) - set(reader.fieldnames or ()))
        if missing:
            raise ValueError(f"{manifest}: columns {missing} are missing: expected the header "
                             f"{','.join(MANIFEST_COLUMNS)}")
        clips = []
        for line, row in enumerate(reader, 2):
            if row["split"] not in SPLITS:
                raise ValueError(f"{manifest} line {line}: split {row['split']!r}, expected one "
                                 f"of {list(SPLITS)}")
            if not row["label"]:
                raise ValueError(f"{manifest} line {line}: empty label")
            path = Path(row["path"])
            path = path if path.is_absolute() else manifest.parent / path
            if not path.is_file():
                raise FileNotFoundError(f"{manifest} line {line}: {path} does not exist")
            clips.append(AudioClip(path, row["label"], row["speaker"] or "", row["split"]))
    return clips


def scan_folder(root: Path) -> list[AudioClip]:
    """The clips of a ``root/<split>/<label>/<file>`` folder (audio suffixes only)."""
    clips = [AudioClip(path, path.parent.name, "", split)
             for split in SPLITS if (root / split).is_dir()
             for path in sorted((root / split).glob("*/*"))
             if path.suffix.lower() in AUDIO_SUFFIXES]
    if not clips:
        raise FileNotFoundError(f"no audio in {root}: expected files "
                                f"<split>/<label>/<name>.wav with split in {list(SPLITS)}, or a "
                                f"CSV manifest with the header {','.join(MANIFEST_COLUMNS)}")
    return clips


def list_clips(root: Path) -> list[AudioClip]:
    """The clips of ``root``: a CSV manifest (a ``.csv`` file) or a split/label folder."""
    if not root.exists():
        raise FileNotFoundError(f"audio dataset {root} does not exist: expected a folder "
                                "<split>/<label>/<file> or a CSV manifest")
    return read_manifest(root) if root.is_file() else scan_folder(root)


def _quick_subset(clips: list[AudioClip]) -> list[AudioClip]:
    if len(clips) <= QUICK_CLIPS:
        return clips
    return [clips[i] for i in np.linspace(0, len(clips) - 1, QUICK_CLIPS).round().astype(int)]


def load(split: str = "train", *, root: str | Path | None, download: bool = False,
         quick: bool = False, progress: bool = True, **options: object) -> SequenceDataset:
    """Split ``split`` of the audio folder or manifest ``root`` (module docstring).

    Options: ``frontend`` ("hd" or "authors"), ``classes`` (the class names in label order;
    default the sorted training labels). ``download`` is refused: bring the audio yourself.
    """
    if split not in SPLITS:
        raise ValueError(f"split {split!r}: expected one of {list(SPLITS)}")
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ValueError(f"unknown audio dataset options {unknown}: expected some of "
                         f"{list(OPTIONS)}")
    if download:
        raise ValueError("download=True: an audio folder or manifest is local data; "
                         "expected download=False")
    front_end = _check_frontend(options.get("frontend", "hd"))
    if root is None:
        raise ValueError("audio dataset: expected root=<folder or CSV manifest>")
    root = Path(root).expanduser()
    all_clips = list_clips(root)
    train_clips = [clip for clip in all_clips if clip.split == "train"]
    clips = [clip for clip in all_clips if clip.split == split]
    if not train_clips or not clips:
        raise ValueError(f"{root}: the {'train' if not train_clips else split} split is empty")
    classes = options.get("classes") or sorted({clip.label for clip in train_clips})
    if not isinstance(classes, (list, tuple)) or not all(isinstance(c, str) for c in classes):
        raise TypeError(f"classes {classes!r}: expected a list of class names")
    unknown_labels = sorted({clip.label for clip in clips} - set(classes))
    if unknown_labels:
        raise ValueError(f"{root}: {split} labels {unknown_labels} are not among the classes "
                         f"{list(classes)}")
    if quick:
        clips = _quick_subset(clips)
    paths = [clip.path for clip in clips]
    length = target_length([clip.path for clip in train_clips], front_end)
    key = dict(split=split, source=str(root.resolve()), **feature_key(paths, length, front_end))
    tensors = cached_features("audio", key, lambda: dict(
        features=featurize(paths, length, front_end, progress=progress)))
    labels = torch.tensor([list(classes).index(clip.label) for clip in clips], dtype=torch.int64)
    return SequenceDataset(tensors["features"], labels, list(classes), root.stem)


def audio_loader(root: str | Path, **preset: object) -> Loader:
    """A registry entry (for :func:`lprnn.datasets.register_dataset`) reading the folder or
    manifest ``root`` with the options ``preset`` (e.g. ``frontend="authors"``); a ``root``
    given to :func:`lprnn.datasets.load_dataset` replaces it."""
    default_root = Path(root).expanduser()

    def load_audio(split: str, *, root: Path | None, **kwargs: object) -> SequenceDataset:
        return load(split, root=root if root is not None else default_root,
                    **{**preset, **kwargs})

    return load_audio
