"""Free Spoken Digit Dataset (FSDD): real human speech, 3,000 English digits by 6 speakers.

The release (GitHub Jakobovski/free-spoken-digit-dataset, pinned at commit :data:`FSDD_COMMIT`;
CC BY-SA 4.0) is a folder ``recordings/`` of mono 16-bit WAV files at 8 kHz named
``{digit}_{speaker}_{index}.wav``: each of the speakers george, jackson, lucas, nicolas, theo
and yweweler says each digit 0-9 fifty times (index 0-49).

Where the data is looked for (registry entry ``"fsdd"``), in order: an explicit ``root``;
``<data_dir>/fsdd``; ``<repo>/../shared/datasets/fsdd``. ``download=True`` fetches the pinned
commit into ``<data_dir>/fsdd`` (or ``root``) with pooch and checks every recording against the
sha256 manifest shipped with the package (``fsdd_sha256.txt``) before the folder appears.

Protocols (option ``protocol``):

- ``"official"`` (default): index 0-4 is ``test`` (300 clips, the FSDD README's split); of the
  training indices 5-49, :data:`OFFICIAL_VAL_INDICES` (5-9) are ``val`` and 10-49 ``train``.
  Every speaker is in every split.
- ``"speakers"``: whole speakers held out: ``test_speakers`` (default ``("theo",)``) are
  ``test``, ``val_speakers`` (default ``("lucas",)``) are ``val``, the others ``train``.
  ``fold=k`` is leave-one-speaker-out fold ``k`` of :func:`speaker_folds` instead.

Labels (option ``labels``): ``"digits"`` (default) gives 10 classes ``label = digit``;
``"hd"`` gives the authors' 20 Heidelberg-Digits classes, English ``digit → 10 + digit``, so
that a network trained on HD (the authors' checkpoint) can be evaluated on FSDD.

Features (option ``frontend``, see :mod:`lprnn.datasets.frontend`): every clip is resampled
to the front end's rate (48 kHz for the HD shapes), cut or left-padded to ``L`` samples, the
90th percentile of the protocol's training clips' lengths, keeping the end of the clip (as
HD), then

- ``"hd"`` (default): HD log-mel (80 bands, ``L // 256`` frames, about 110);
- ``"authors"``: the authors' HD recipe, batch-wise dB reference and −79 dB floor
  (:func:`lprnn.datasets.frontend.authors_logmel`), batches in file-name order;
- ``"narrowband"``: log-mel matched to 8 kHz (80 bands over 0–4 kHz, ``L // 43`` frames;
  :func:`lprnn.datasets.frontend.narrowband_logmel`), without resampling.

Option ``band_norm=True`` also z-normalizes each band of each clip over its frames
(:func:`lprnn.datasets.frontend.band_normalize`). Features are cached on disk
(:mod:`lprnn.datasets.cache`) under a key holding the split's files, ``L`` and every
front-end parameter.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from lprnn import config
from lprnn.datasets import SequenceDataset, audio, frontend
from lprnn.datasets.cache import cached_features
from lprnn.datasets.hd import HD_CLASSES

FSDD_REPOSITORY = "https://github.com/Jakobovski/free-spoken-digit-dataset"
FSDD_COMMIT = "26eb9aaf76e81b692f806f9140c2d2777410d7a1"
FSDD_URL = f"{FSDD_REPOSITORY}/archive/{FSDD_COMMIT}.zip"
FSDD_SAMPLE_RATE = 8000
MANIFEST = "fsdd_sha256.txt"
SPLITS = ("train", "val", "test")
PROTOCOLS = ("official", "speakers")
LABEL_CONVENTIONS = ("digits", "hd")
FRONTENDS = audio.FRONTENDS
OPTIONS = ("protocol", "test_speakers", "val_speakers", "fold", "labels", "frontend",
           "band_norm")
DIGIT_CLASSES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
OFFICIAL_TEST_INDICES = range(0, 5)
OFFICIAL_VAL_INDICES = range(5, 10)
DEFAULT_TEST_SPEAKERS = ("theo",)
DEFAULT_VAL_SPEAKERS = ("lucas",)
QUICK_CLIPS = 60  # clips per split in smoke mode
_FILE_NAME = re.compile(r"(?P<digit>\d)_(?P<speaker>[a-z]+)_(?P<index>\d+)\.wav")


class FSDDClip(NamedTuple):
    """One recording, parsed from its file name ``{digit}_{speaker}_{index}.wav``."""

    name: str
    digit: int
    speaker: str
    index: int


def parse_clip_name(name: str) -> FSDDClip:
    match = _FILE_NAME.fullmatch(Path(name).name)
    if match is None:
        raise ValueError(f"FSDD file name {name!r}: expected '{{digit}}_{{speaker}}_{{index}}.wav' "
                         "(e.g. 3_theo_17.wav)")
    return FSDDClip(Path(name).name, int(match["digit"]), match["speaker"], int(match["index"]))


def shared_root() -> Path:
    """The read-only copy beside the repository: ``<repo>/../shared/datasets/fsdd``."""
    return config.REPO_ROOT.parent / "shared" / "datasets" / "fsdd"


def _has_recordings(folder: Path) -> bool:
    return (folder / "recordings").is_dir()


def resolve_root(root: str | Path | None) -> Path:
    """``root`` itself when given; else ``<data_dir>/fsdd`` when it holds ``recordings/``;
    else the shared copy when it does; else ``<data_dir>/fsdd`` (where a download goes)."""
    if root is not None:
        return Path(root).expanduser()
    local = config.data_dir() / "fsdd"
    if not _has_recordings(local) and _has_recordings(shared_root()):
        return shared_root()
    return local


def available(root: str | Path | None = None) -> bool:
    """Whether the recordings are at hand where :func:`resolve_root` looks (no download)."""
    return _has_recordings(resolve_root(root))


def _missing_data_error(root: Path, what: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"Free Spoken Digit Dataset not found: {what}. Pass download=True to fetch it "
        f"({FSDD_URL}), or get it yourself: 'git clone {FSDD_REPOSITORY}' and "
        f"'git checkout {FSDD_COMMIT}', then put its recordings/ folder (3,000 files "
        f"{{digit}}_{{speaker}}_{{index}}.wav) at {config.data_dir() / 'fsdd' / 'recordings'} "
        f"or pass the folder holding recordings/ as root; root was {root}")


# -- checksums and download ---------------------------------------------------------------

def read_manifest(text: str | None = None) -> dict[str, str]:
    """``{file name: sha256}`` from ``sha256  name`` lines (default: the shipped manifest)."""
    if text is None:
        text = resources.files("lprnn.datasets").joinpath(MANIFEST).read_text()
    manifest = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not re.fullmatch(r"[0-9a-f]{64}", parts[0]):
            raise ValueError(f"checksum manifest line {number} {line!r}: expected "
                             "'<64 hex digits>  <file name>'")
        manifest[parts[1]] = parts[0]
    return manifest


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def verify_recordings(folder: Path, manifest: dict[str, str] | None = None) -> None:
    """Check that ``folder`` holds every file of ``manifest`` with its sha256 (else ValueError)."""
    manifest = read_manifest() if manifest is None else manifest
    missing = sorted(name for name in manifest if not (folder / name).is_file())
    if missing:
        raise ValueError(f"{folder}: {len(missing)} of the {len(manifest)} recordings of the "
                         f"manifest are missing (first: {missing[0]})")
    wrong = sorted(name for name, digest in manifest.items() if _sha256(folder / name) != digest)
    if wrong:
        raise ValueError(f"{folder}: {len(wrong)} recordings do not match their sha256 in the "
                         f"manifest (first: {wrong[0]}, sha256 {_sha256(folder / wrong[0])}, "
                         f"expected {manifest[wrong[0]]})")


def _extract_recordings(archive: Path, target: Path, manifest: dict[str, str]) -> None:
    """Write the archive's ``*/recordings/<name>`` members listed in ``manifest`` to ``target``."""
    target.mkdir(parents=True)
    with zipfile.ZipFile(archive) as zipped:
        for member in zipped.infolist():
            parts = Path(member.filename).parts
            if len(parts) >= 2 and parts[-2] == "recordings" and parts[-1] in manifest:
                (target / parts[-1]).write_bytes(zipped.read(member))


def download_fsdd(root: Path, *, url: str = FSDD_URL, manifest: dict[str, str] | None = None,
             progress: bool = True) -> Path:
    """Fetch the release zip from ``url`` (pooch), check it, and create ``root/recordings``.

    Everything happens in a temporary folder beside ``root``: the archive is downloaded and the
    recordings of ``manifest`` (default: the shipped one) extracted and checked against their
    sha256 there; only then is the folder renamed to ``root`` (one atomic step), so ``root``
    either holds the whole verified release or is left as it was. ``root`` must not exist yet
    or be empty. The archive itself is not kept.
    """
    import pooch

    manifest = read_manifest() if manifest is None else manifest
    root = Path(root).expanduser()
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise FileExistsError(f"cannot download FSDD into {root}: it exists and is not an empty "
                              "folder (remove it, or pass another root)")
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}-download-"))
    try:
        try:
            archive = Path(pooch.retrieve(url, known_hash=None, fname="fsdd.zip",
                                          path=staging / "archive", progressbar=progress))
        except Exception as error:  # requests and pooch raise several types
            raise _missing_data_error(root, f"the download of {url} failed "
                                            f"({type(error).__name__}: {error})") from None
        release = staging / "fsdd"
        try:
            _extract_recordings(archive, release / "recordings", manifest)
        except zipfile.BadZipFile as error:
            raise ValueError(f"{url} is not a readable zip archive ({error})") from None
        verify_recordings(release / "recordings", manifest)
        (release / "SHA256SUMS").write_text(
            "".join(f"{digest}  {name}\n" for name, digest in sorted(manifest.items())))
        if root.exists():
            root.rmdir()
        release.rename(root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root


# -- clips, splits, folds ------------------------------------------------------------------

def list_clips(root: Path) -> list[FSDDClip]:
    """Every recording in ``root/recordings`` (sorted by name); unparseable names raise."""
    folder = root / "recordings"
    if not folder.is_dir():
        raise _missing_data_error(root, f"no recordings/ folder in {root}")
    clips = [parse_clip_name(path.name) for path in sorted(folder.glob("*.wav"))]
    if not clips:
        raise _missing_data_error(root, f"{folder} holds no .wav files")
    return clips


def speakers_of(clips: Iterable[FSDDClip]) -> list[str]:
    return sorted({clip.speaker for clip in clips})


def speaker_folds(speakers: Sequence[str]) -> list[tuple[str, str]]:
    """Leave-one-speaker-out folds ``(test speaker, val speaker)``: fold ``k`` tests on
    ``speakers[k]`` and validates on the next one, ``speakers[(k + 1) % n]`` (sorted names)."""
    speakers = sorted(speakers)
    if len(speakers) < 3:
        raise ValueError(f"speakers {speakers}: leave-one-speaker-out folds need at least 3 "
                         "(test, validation and training)")
    return [(s, speakers[(k + 1) % len(speakers)]) for k, s in enumerate(speakers)]


def _names(value: object, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, (tuple, list)) or not value or not all(
            isinstance(v, str) for v in value):
        raise TypeError(f"{what} {value!r}: expected a speaker name or a non-empty tuple of names")
    return tuple(value)


def _held_out_speakers(options: dict, speakers: list[str]) -> tuple[tuple[str, ...],
                                                                    tuple[str, ...]]:
    """(test speakers, val speakers) of the ``speakers`` protocol, checked."""
    fold = options.get("fold")
    if fold is not None:
        if "test_speakers" in options or "val_speakers" in options:
            raise ValueError("fold: expected either fold or test_speakers/val_speakers, not both")
        folds = speaker_folds(speakers)
        if isinstance(fold, bool) or not isinstance(fold, int) or not 0 <= fold < len(folds):
            raise ValueError(f"fold {fold!r}: expected an integer in [0, {len(folds) - 1}]")
        test, val = folds[fold]
        return (test,), (val,)
    test = _names(options.get("test_speakers", DEFAULT_TEST_SPEAKERS), "test_speakers")
    val = _names(options.get("val_speakers", DEFAULT_VAL_SPEAKERS), "val_speakers")
    unknown = sorted(set(test + val) - set(speakers))
    if unknown:
        raise ValueError(f"speakers {unknown} are not in the data: expected some of {speakers}")
    if set(test) & set(val):
        raise ValueError(f"test_speakers {test} and val_speakers {val}: expected disjoint sets")
    if not set(speakers) - set(test) - set(val):
        raise ValueError(f"test_speakers {test} and val_speakers {val} leave no training speaker "
                         f"of {speakers}")
    return test, val


def split_of(clip: FSDDClip, protocol: str, test_speakers: tuple[str, ...] = (),
             val_speakers: tuple[str, ...] = ()) -> str:
    """The split ("train", "val" or "test") that ``clip`` belongs to under ``protocol``."""
    if protocol == "official":
        if clip.index in OFFICIAL_TEST_INDICES:
            return "test"
        return "val" if clip.index in OFFICIAL_VAL_INDICES else "train"
    if clip.speaker in test_speakers:
        return "test"
    return "val" if clip.speaker in val_speakers else "train"


class Selection(NamedTuple):
    """The clips of one split and the training clips that set the length ``L``."""

    clips: list[FSDDClip]
    train_clips: list[FSDDClip]
    protocol: dict


def select(root: Path, split: str, **options: object) -> Selection:
    """The clips of ``split`` under the protocol options (module docstring), in name order."""
    if split not in SPLITS:
        raise ValueError(f"FSDD split {split!r}: expected one of {list(SPLITS)}")
    protocol = options.get("protocol", "official")
    if protocol not in PROTOCOLS:
        raise ValueError(f"FSDD protocol {protocol!r}: expected one of {list(PROTOCOLS)}")
    all_clips = list_clips(root)
    test, val = (), ()
    if protocol == "speakers":
        test, val = _held_out_speakers(dict(options), speakers_of(all_clips))
    elif {"test_speakers", "val_speakers", "fold"} & set(options):
        raise ValueError("test_speakers, val_speakers and fold: expected only with "
                         "protocol='speakers'")
    clips = [c for c in all_clips if split_of(c, protocol, test, val) == split]
    train_clips = [c for c in all_clips if split_of(c, protocol, test, val) == "train"]
    if not clips or not train_clips:
        empty = split if not clips else "train"
        raise ValueError(f"FSDD {empty} split is empty under protocol {protocol!r} "
                         f"(test speakers {test}, val speakers {val}) in {root}")
    description = dict(protocol=protocol, test_speakers=list(test), val_speakers=list(val))
    return Selection(clips, train_clips, description)


# -- audio and features --------------------------------------------------------------------

def read_audio(path: Path) -> np.ndarray:
    """Mono float32 samples in [-1, 1) of an 8 kHz recording (ValueError otherwise)."""
    return audio.read_audio(path, FSDD_SAMPLE_RATE)[0]


def _quick_subset(clips: list[FSDDClip]) -> list[FSDDClip]:
    if len(clips) <= QUICK_CLIPS:
        return clips
    return [clips[i] for i in np.linspace(0, len(clips) - 1, QUICK_CLIPS).round().astype(int)]


def _check_options(options: dict) -> tuple[str, str]:
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ValueError(f"unknown FSDD options {unknown}: expected some of {list(OPTIONS)}")
    labels = options.get("labels", "digits")
    if labels not in LABEL_CONVENTIONS:
        raise ValueError(f"FSDD labels {labels!r}: expected one of {list(LABEL_CONVENTIONS)}")
    front_end = options.get("frontend", "hd")
    if front_end not in FRONTENDS:
        raise ValueError(f"FSDD frontend {front_end!r}: expected one of {list(FRONTENDS)}")
    return labels, front_end


def labels_of(clips: Iterable[FSDDClip], convention: str = "digits") -> torch.Tensor:
    """Class indices: ``digit`` ("digits") or the authors' HD English class ``10 + digit``."""
    offset = 10 if convention == "hd" else 0
    return torch.tensor([clip.digit + offset for clip in clips], dtype=torch.int64)


def load(split: str = "train", *, root: str | Path | None = None, download: bool = False,
         quick: bool = False, progress: bool = True, **options: object) -> SequenceDataset:
    """FSDD split ``split`` ("train", "val" or "test") as 80 log-mel features.

    ``root``: the folder holding ``recordings/`` (default: see the module docstring);
    ``download=True`` fetches the pinned release when it is missing. Options: ``protocol``
    ("official" or "speakers"), ``test_speakers``/``val_speakers`` (names) or ``fold`` (int)
    for "speakers", ``labels`` ("digits" or "hd"), ``frontend`` ("hd", "authors" or
    "narrowband"), ``band_norm`` (bool: also z-normalize each band over the clip's frames,
    :func:`lprnn.datasets.frontend.band_normalize`; applied to the cached features).
    ``quick`` keeps at most :data:`QUICK_CLIPS` clips per split (smoke runs).
    """
    labels, front_end = _check_options(dict(options))
    band_norm = options.get("band_norm", False)
    if not isinstance(band_norm, bool):
        raise TypeError(f"band_norm {band_norm!r}: expected True or False")
    explicit = root is not None
    root = resolve_root(root)
    if not _has_recordings(root):
        if not download:
            searched = str(root) if explicit else (f"{root} and {shared_root()}")
            raise _missing_data_error(root, f"no recordings/ folder in {searched}")
        download_fsdd(root, progress=progress)
    selection = select(root, split, **{k: v for k, v in options.items()
                                       if k not in ("labels", "frontend", "band_norm")})
    clips = _quick_subset(selection.clips) if quick else selection.clips
    paths = [root / "recordings" / clip.name for clip in clips]
    length = audio.target_length([root / "recordings" / c.name for c in selection.train_clips],
                                 front_end)
    key = dict(split=split, **selection.protocol, **audio.feature_key(paths, length, front_end))
    tensors = cached_features("fsdd", key, lambda: dict(features=audio.featurize(
        paths, length, front_end, expected_rate=FSDD_SAMPLE_RATE, progress=progress)))
    features = tensors["features"]
    if band_norm:
        features = frontend.band_normalize(features)
    classes = list(HD_CLASSES) if labels == "hd" else list(DIGIT_CLASSES)
    return SequenceDataset(features, labels_of(clips, labels), classes, "fsdd")
