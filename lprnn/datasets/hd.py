"""Heidelberg Digits (audio): the paper's HD benchmark, from the official release.

The release ``hd_audio.tar.gz`` (https://zenkelab.org/datasets/hd_audio.tar.gz, Cramer et al.
2020) unpacks into a folder with ``audio/*.flac`` (48 kHz mono), ``train_filenames.txt`` and
``test_filenames.txt``. File names carry the recording's metadata::

    lang-english_speaker-01_trial-0_digit-1.flac

Splits: ``test`` is the official test list; ``train`` and ``val`` divide the official training
list *by speaker* (no speaker of ``val`` is in ``train``): by default the training speaker with
the highest id is held out (``val_speakers`` chooses others).

Labels (:data:`HD_CLASSES`): the authors' convention, as the built-in ``digits`` set and the
authors' checkpoint, ``label = digit`` for German and ``digit + 10`` for English. The official
HD/SHD label files use the reverse (English ``d → d``, German ``d → 10 + d``);
:func:`swap_label_convention` converts either way (it is its own inverse).

Features, as the authors' ``SHD_MelDataset``: every clip is cut or left-padded to the 90th
percentile of the training clips' lengths, keeping the end of the clip,

    x ← x[-L:]  if len(x) ≥ L,   else  x ← [0, …, 0, x]     (L = percentile_90(train lengths))

then put through :func:`lprnn.datasets.frontend.hd_logmel` (80 log-mel bands, hop 256: ``L // 256``
frames, about 187). Features are cached on disk (:mod:`lprnn.datasets.cache`).
"""

from __future__ import annotations

import hashlib
import re
import tarfile
import urllib.request
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile
import torch
from tqdm.auto import tqdm

from lprnn.datasets import frontend
from lprnn.datasets.cache import cached_features, fingerprint_files
from lprnn.datasets import SequenceDataset
from lprnn.datasets.digits import CLASSES as DIGITS_CLASSES

HD_URL = "https://zenkelab.org/datasets/hd_audio.tar.gz"
HD_MD5_URL = "https://zenkelab.org/datasets/md5sums.txt"
HD_ARCHIVE = "hd_audio.tar.gz"
LANGUAGES = ("german", "english")
# Same class names and order as the built-in digits: "de-null" … "de-neun", "en-zero" … "en-nine".
HD_CLASSES = list(DIGITS_CLASSES)
OPTIONS = ("val_speakers", "frontend")
FRONTENDS = ("hd", "authors")
LENGTH_PERCENTILE = 90
SPLITS = ("train", "val", "test")
QUICK_CLIPS = 40  # clips per split in smoke mode
_BATCH = 64  # clips per front-end call
_FILE_NAME = re.compile(
    r"lang-(?P<language>english|german)_speaker-(?P<speaker>\d+)_trial-(?P<trial>\d+)"
    r"_digit-(?P<digit>\d)\.flac")


class HDClip(NamedTuple):
    """One recording of the release, parsed from its file name."""

    name: str
    language: str
    speaker: int
    trial: int
    digit: int

    @property
    def label(self) -> int:
        """Class index in the authors' convention (German ``d → d``, English ``d → 10 + d``)."""
        return self.digit + 10 * LANGUAGES.index(self.language)


def parse_clip_name(name: str) -> HDClip:
    """Parse ``lang-<english|german>_speaker-NN_trial-N_digit-D.flac``."""
    match = _FILE_NAME.fullmatch(Path(name).name)
    if match is None:
        raise ValueError(f"HD file name {name!r}: expected "
                         "'lang-<english|german>_speaker-NN_trial-N_digit-D.flac'")
    return HDClip(Path(name).name, match["language"], int(match["speaker"]),
                  int(match["trial"]), int(match["digit"]))


def swap_label_convention(labels: torch.Tensor) -> torch.Tensor:
    """Authors' HD labels ↔ official HD/SHD labels: ``(label + 10) mod 20`` (an involution)."""
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise TypeError(f"labels dtype {labels.dtype}: expected an integer tensor")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= 20):
        raise ValueError(f"labels in [{int(labels.min())}, {int(labels.max())}]: "
                         "expected HD class indices in [0, 20)")
    return (labels + 10) % 20


def _missing_data_error(root: Path, what: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"Heidelberg Digits not found: {what}. Download {HD_URL} (or pass download=True), "
        f"unpack it with 'tar -xzf {HD_ARCHIVE}' and pass its folder as root (it must hold "
        f"audio/*.flac, train_filenames.txt and test_filenames.txt); root was {root}")


def download_hd(root: Path) -> None:
    """Download the release into ``root``, check its md5 against the publisher's md5sums.txt."""
    root.mkdir(parents=True, exist_ok=True)
    archive = root / HD_ARCHIVE
    try:
        with urllib.request.urlopen(HD_MD5_URL, timeout=30) as response:
            sums = response.read().decode()
        if not archive.is_file():
            torch.hub.download_url_to_file(HD_URL, str(archive), progress=True)
    except OSError as error:
        raise _missing_data_error(root, f"download failed ({error})") from None
    expected = next((line.split()[0] for line in sums.splitlines()
                     if line.strip().endswith(HD_ARCHIVE)), None)
    if expected is None:
        raise _missing_data_error(root, f"{HD_MD5_URL} lists no checksum for {HD_ARCHIVE}")
    digest = hashlib.md5()
    with archive.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != expected:
        archive.unlink()
        raise _missing_data_error(root, f"{archive} has md5 {digest.hexdigest()}, "
                                        f"expected {expected} (deleted; download again)")
    with tarfile.open(archive) as tar:
        tar.extractall(root, filter="data")


def _release_folder(root: Path) -> Path:
    """``root`` itself or its single ``hd_audio`` subfolder, whichever holds the release."""
    for folder in (root, root / "hd_audio"):
        if (folder / "train_filenames.txt").is_file():
            return folder
    return root


def read_file_list(root: Path, which: str) -> list[HDClip]:
    """The clips of ``<root>/<which>_filenames.txt`` ("train" or "test"), checked on disk."""
    listing = root / f"{which}_filenames.txt"
    if not listing.is_file():
        raise _missing_data_error(root, f"{listing} is missing")
    clips = [parse_clip_name(line.strip()) for line in listing.read_text().splitlines()
             if line.strip()]
    if not clips:
        raise ValueError(f"{listing} lists no clips: expected one .flac file name per line")
    missing = [clip.name for clip in clips if not (root / "audio" / clip.name).is_file()]
    if missing:
        raise _missing_data_error(root, f"{len(missing)} of the {len(clips)} files in "
                                        f"{listing.name} are not in {root / 'audio'} "
                                        f"(first: {missing[0]})")
    return clips


def _read_audio(path: Path) -> np.ndarray:
    try:
        samples, sample_rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as error:
        raise ValueError(f"{path}: not a readable audio file ({error})") from None
    if sample_rate != frontend.HD_SAMPLE_RATE:
        raise ValueError(f"{path}: sample rate {sample_rate} Hz, expected "
                         f"{frontend.HD_SAMPLE_RATE} Hz (the HD release)")
    return samples.mean(axis=1)


def _clip_length(path: Path) -> int:
    try:
        return soundfile.info(path).frames
    except (RuntimeError, soundfile.LibsndfileError) as error:
        raise ValueError(f"{path}: not a readable audio file ({error})") from None


def fit_length(samples: np.ndarray, length: int) -> np.ndarray:
    """Cut to the last ``length`` samples, or left-pad with zeros (the end of a clip is kept)."""
    if len(samples) >= length:
        return samples[len(samples) - length:]
    return np.concatenate([np.zeros(length - len(samples), samples.dtype), samples])


def target_length(root: Path, clips: list[HDClip]) -> int:
    """``L``: the 90th percentile of the clips' lengths in samples (numpy's linear method)."""
    lengths = [_clip_length(root / "audio" / clip.name) for clip in clips]
    return int(np.percentile(lengths, LENGTH_PERCENTILE))


def compute_features(root: Path, clips: list[HDClip], length: int,
                     progress: bool = True, front_end: str = "hd") -> torch.Tensor:
    """HD log-mel features ``[N, length // 256, 80]`` of ``clips``, cut/padded to ``length``:
    per clip (``"hd"``), or the authors' batches in the order of ``clips`` (``"authors"``,
    :func:`lprnn.datasets.frontend.authors_logmel`)."""
    if front_end == "authors":
        batches = frontend.authors_batches(len(clips))
        logmel = frontend.authors_batch_logmel
    else:
        batches = [range(start, min(start + _BATCH, len(clips)))
                   for start in range(0, len(clips), _BATCH)]
        logmel = frontend.hd_logmel
    chunks = []
    for batch in tqdm(batches, desc="HD log-mel", disable=not progress, unit="batch"):
        waveforms = np.stack([fit_length(_read_audio(root / "audio" / clips[i].name), length)
                              for i in batch])
        chunks.append(logmel(torch.from_numpy(waveforms)))
    return torch.cat(chunks)


def _select(clips: list[HDClip], split: str, val_speakers: tuple[int, ...]) -> list[HDClip]:
    if split == "test":
        return clips
    held_out = [clip.speaker in val_speakers for clip in clips]
    return [c for c, out in zip(clips, held_out) if out == (split == "val")]


def _quick_subset(clips: list[HDClip]) -> list[HDClip]:
    """At most :data:`QUICK_CLIPS` clips spread evenly over the list."""
    if len(clips) <= QUICK_CLIPS:
        return clips
    return [clips[i] for i in np.linspace(0, len(clips) - 1, QUICK_CLIPS).round().astype(int)]


def load(split: str = "train", *, root: str | Path, download: bool = False, quick: bool = False,
         progress: bool = True, **options: object) -> SequenceDataset:
    """Heidelberg Digits split ``split`` ("train", "val" or "test") as 80 log-mel features
    (registry entry ``"hd"``; ``load_dataset`` passes ``root = <data_dir>/hd`` by default).

    ``root`` is the unpacked release, or a folder holding it as ``hd_audio/``;
    ``download=True`` fetches it there when missing. Option ``val_speakers`` (tuple of ints):
    the training-list speakers held out as the validation split (default: the highest speaker
    id). Option ``frontend``: ``"hd"`` (default, :func:`lprnn.datasets.frontend.hd_logmel`) or
    ``"authors"``, their features exactly: computed over the whole official list (train or
    test) in file order in their batches, then the split taken out. ``quick`` keeps at most
    :data:`QUICK_CLIPS` clips per split (smoke runs; with "authors", of the list first).
    """
    if split not in SPLITS:
        raise ValueError(f"HD split {split!r}: expected one of {list(SPLITS)}")
    unknown_options = sorted(set(options) - set(OPTIONS))
    if unknown_options:
        raise ValueError(f"unknown HD options {unknown_options}: expected some of {list(OPTIONS)}")
    val_speakers = options.get("val_speakers")
    front_end = options.get("frontend", "hd")
    if front_end not in FRONTENDS:
        raise ValueError(f"HD frontend {front_end!r}: expected one of {list(FRONTENDS)}")
    root = Path(root).expanduser()
    folder = _release_folder(root)
    if not (folder / "train_filenames.txt").is_file():
        if not download:
            raise _missing_data_error(root, f"no train_filenames.txt in {root}")
        download_hd(root)
        folder = _release_folder(root)
    train_clips = read_file_list(folder, "train")
    speakers = sorted({clip.speaker for clip in train_clips})
    if val_speakers is None:
        val_speakers = (speakers[-1],)
    if not isinstance(val_speakers, (tuple, list)) or not all(
            isinstance(s, int) and not isinstance(s, bool) for s in val_speakers):
        raise TypeError(f"val_speakers {val_speakers!r}: expected a tuple of speaker ids (ints)")
    val_speakers = tuple(val_speakers)
    unknown = sorted(set(val_speakers) - set(speakers))
    if unknown or set(val_speakers) == set(speakers):
        raise ValueError(f"val_speakers {val_speakers}: expected a proper subset of the "
                         f"training speakers {speakers}")
    listed = read_file_list(folder, "test") if split == "test" else train_clips
    if front_end == "authors":   # their batches run over the whole list, in file order
        computed = _quick_subset(listed) if quick else listed
        clips = _select(computed, split, val_speakers)
    else:
        clips = _select(listed, split, val_speakers)
        clips = computed = _quick_subset(clips) if quick else clips
    train_paths = [folder / "audio" / clip.name for clip in train_clips]
    key = dict(split=split, clips=fingerprint_files(folder / "audio" / c.name for c in clips),
               train_list=fingerprint_files(train_paths), percentile=LENGTH_PERCENTILE,
               sample_rate=frontend.HD_SAMPLE_RATE, n_fft=frontend.HD_N_FFT,
               hop_length=frontend.HD_HOP_LENGTH, n_mels=frontend.HD_N_MELS,
               dynamic_range_db=frontend.HD_DYNAMIC_RANGE_DB)
    if front_end == "authors":   # (the key of the default front end is kept as it was)
        key.update(frontend=front_end, dynamic_range_db=frontend.AUTHORS_DYNAMIC_RANGE_DB,
                   computed=fingerprint_files(folder / "audio" / c.name for c in computed))

    def compute() -> dict[str, torch.Tensor]:
        length = target_length(folder, train_clips)
        features = compute_features(folder, computed, length, progress, front_end)
        if computed is not clips:
            kept = set(clips)
            features = features[[i for i, clip in enumerate(computed) if clip in kept]]
        return dict(features=features,
                    labels=torch.tensor([clip.label for clip in clips], dtype=torch.int64))

    tensors = cached_features("hd", key, compute)
    return SequenceDataset(tensors["features"], tensors["labels"], list(HD_CLASSES), "hd")
