"""Google Speech Commands (v0.01 and v0.02) through torchaudio's ``SPEECHCOMMANDS``.

Layout: torchaudio's,
``<root>/SpeechCommands/speech_commands_v0.0X/<word>/<speaker>_nohash_<n>.wav`` with ``validation_list.txt`` and ``testing_list.txt`` (the official splits: ``val`` and
``test``; ``train`` is every other clip) and ``_background_noise_/*.wav``.
``download=True`` lets torchaudio fetch the archive from download.tensorflow.org and check its
sha256.

Tasks (option ``task``):

- ``12``: the ten commands yes, no, up, down, left, right, on, off, stop, go, plus ``unknown``
  (every other word, all of its clips, as the authors) and ``silence``: 1 s crops of the
  background-noise recordings at a gain drawn uniformly in [0, 1], as many per split as the
  mean count of a command in that split (the crops of all splits come from the same six
  recordings, as in TensorFlow's reference input pipeline). Class order is the authors':
  ``["unknown", "silence", "yes", "no", …, "go"]``.
- ``35`` (v0.02 only): every word, classes in alphabetical order (the authors'
  ``speech_datasetv2``).

Features, as the authors' ``GSpeechCommands``: each clip is cut or left-padded to 1 s
(16000 samples, keeping the end) and put through :func:`lprnn.datasets.frontend.gsc_fbank`
(40 Kaldi fbank bins, 25 ms frames, 10 ms shift: ``[98, 40]``). Features are cached on disk.
Augmentation (``train`` split, option ``augment``, default on): frequency masking, one band
range of width ``U{0, …, freq_mask_param}`` zeroed per access
(:class:`FrequencyMaskedDataset`). The authors called
``FrequencyMasking(40)`` on a ``[time, bands]`` tensor, which masks *time* frames (it masks the
second-to-last dimension); we mask bands, as the name intends.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import soundfile
import torch
import torchaudio
from tqdm.auto import tqdm

from lprnn.datasets import frontend
from lprnn.datasets import SequenceDataset
from lprnn.datasets.cache import cached_features, fingerprint_files

ARCHIVES = {"v0.01": "speech_commands_v0.01", "v0.02": "speech_commands_v0.02"}
FOLDER = "SpeechCommands"
NOISE_FOLDER = "_background_noise_"
COMMANDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
CLASSES_12 = ["unknown", "silence", *COMMANDS]
WORDS_35 = sorted(["backward", "bed", "bird", "cat", "dog", "down", "eight", "five", "follow",
                   "forward", "four", "go", "happy", "house", "learn", "left", "marvin", "nine",
                   "no", "off", "on", "one", "right", "seven", "sheila", "six", "stop", "three",
                   "tree", "two", "up", "visual", "wow", "yes", "zero"])
TASKS = (12, 35)
CLIP_SAMPLES = frontend.GSC_SAMPLE_RATE  # 1 s
# Widest band range one mask may zero: a fifth of the 40 bands.
FREQ_MASK_PARAM = 8
QUICK_CLIPS = 48  # clips per split in smoke mode
SPLITS = {"train": "training", "val": "validation", "test": "testing"}
OPTIONS = ("version", "task", "augment", "freq_mask_param")


class FrequencyMaskedDataset(SequenceDataset):
    """A :class:`SequenceDataset` whose items get SpecAugment frequency masking.

    Each sequence gets bands ``f0 … f0 + w − 1`` set to zero at every access, with
    ``w ~ U{0, …, freq_mask_param}`` and ``f0 ~ U{0, …, F − w}`` (torch's global generator);
    ``features`` itself stays unmasked. ``ds[i]`` masks one sequence; a trainer that slices
    ``features`` directly applies :meth:`augment_batch` to each batch.
    """

    def __init__(self, features: torch.Tensor, labels: torch.Tensor, classes: list[str],
                 name: str, freq_mask_param: int) -> None:
        super().__init__(features, labels, classes, name)
        self.freq_mask_param = freq_mask_param

    def augment_batch(self, x: torch.Tensor) -> torch.Tensor:
        """``x [B, T, F]`` with one random band range per sequence set to zero."""
        n, n_bands = x.shape[0], x.shape[-1]
        widths = torch.randint(0, self.freq_mask_param + 1, (n, 1))
        starts = (torch.rand(n, 1) * (n_bands - widths + 1)).floor()
        bands = torch.arange(n_bands)
        masked = (bands >= starts) & (bands < starts + widths)  # [B, F]
        return x.masked_fill(masked[:, None, :].to(x.device), 0.0)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        features, label = super().__getitem__(index)
        return self.augment_batch(features[None])[0], label


def _missing_data_error(folder: Path, what: str) -> FileNotFoundError:
    archive = folder.name
    return FileNotFoundError(
        f"Speech Commands not found: {what}. Pass download=True (torchaudio fetches "
        f"http://download.tensorflow.org/data/{archive}.tar.gz and checks its sha256), or "
        f"download it yourself and unpack it with 'mkdir -p {folder} && tar -xzf "
        f"{archive}.tar.gz -C {folder}' so that {folder}/validation_list.txt exists")


def fit_length(samples: np.ndarray, length: int = CLIP_SAMPLES) -> np.ndarray:
    """Cut to the last ``length`` samples, or left-pad with zeros (the end of a clip is kept)."""
    if len(samples) >= length:
        return samples[len(samples) - length:]
    return np.concatenate([np.zeros(length - len(samples), samples.dtype), samples])


def read_clip(path: Path) -> np.ndarray:
    """A mono clip as float32 in [-1, 1]; clear errors for unreadable or off-rate files."""
    try:
        samples, sample_rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as error:
        raise ValueError(f"{path}: not a readable audio file ({error})") from None
    if sample_rate != frontend.GSC_SAMPLE_RATE:
        raise ValueError(f"{path}: sample rate {sample_rate} Hz, expected "
                         f"{frontend.GSC_SAMPLE_RATE} Hz (Speech Commands)")
    return samples.mean(axis=1)


def _check_options(options: dict[str, object]) -> tuple[str, int, bool, int]:
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ValueError(f"unknown Speech Commands options {unknown}: expected some of "
                         f"{list(OPTIONS)}")
    version = options.get("version", "v0.02")
    task = options.get("task", 12)
    augment = options.get("augment", True)
    freq_mask_param = options.get("freq_mask_param", FREQ_MASK_PARAM)
    if version not in ARCHIVES:
        raise ValueError(f"Speech Commands version {version!r}: expected one of {list(ARCHIVES)}")
    if task not in TASKS:
        raise ValueError(f"Speech Commands task {task!r}: expected one of {list(TASKS)} classes")
    if task == 35 and version != "v0.02":
        raise ValueError("the 35-word task needs version 'v0.02' (v0.01 has 30 words)")
    if not isinstance(augment, bool):
        raise TypeError(f"augment {augment!r}: expected True or False")
    if isinstance(freq_mask_param, bool) or not isinstance(freq_mask_param, int) \
            or not 0 <= freq_mask_param <= frontend.GSC_N_MELS:
        raise ValueError(f"freq_mask_param {freq_mask_param!r}: expected an int in "
                         f"[0, {frontend.GSC_N_MELS}]")
    return version, task, augment, freq_mask_param


def _label(word: str, task: int) -> int:
    if task == 35:
        return WORDS_35.index(word)
    return CLASSES_12.index(word) if word in COMMANDS else CLASSES_12.index("unknown")


def silence_clips(noise_files: list[Path], count: int, seed: int) -> np.ndarray:
    """``count`` 1 s crops of the noise recordings at random offsets and gains in [0, 1]."""
    if count and not noise_files:
        raise FileNotFoundError(f"no {NOISE_FOLDER}/*.wav: the 12-class task needs the "
                                "background-noise recordings for its silence class")
    rng = np.random.default_rng(seed)
    recordings = [read_clip(path) for path in noise_files]
    crops = np.zeros((count, CLIP_SAMPLES), np.float32)
    for i in range(count):
        noise = recordings[rng.integers(len(recordings))]
        start = rng.integers(max(len(noise) - CLIP_SAMPLES, 0) + 1)
        crops[i] = rng.uniform(0.0, 1.0) * fit_length(noise[start:start + CLIP_SAMPLES])
    return crops


def compute_features(files: list[Path], labels: list[int], noise_files: list[Path],
                     n_silence: int, seed: int, progress: bool = True) -> dict[str, torch.Tensor]:
    """Features ``[N, 98, 40]`` of ``files`` (then ``n_silence`` silence crops) and labels."""
    speech = (fit_length(read_clip(path)) for path in files)
    silence = silence_clips(noise_files, n_silence, seed) if n_silence else []
    clips = tqdm(itertools.chain(speech, silence), total=len(files) + n_silence,
                 desc="GSC fbank", disable=not progress, unit="clip", mininterval=1.0)
    features = torch.stack([frontend.gsc_fbank(torch.from_numpy(clip)) for clip in clips])
    silence_labels = [CLASSES_12.index("silence")] * n_silence
    return dict(features=features,
                labels=torch.tensor(labels + silence_labels, dtype=torch.int64))


def _quick_subset(items: list, count: int) -> list:
    if len(items) <= count:
        return items
    return [items[i] for i in np.linspace(0, len(items) - 1, count).round().astype(int)]


def load(split: str = "train", *, root: str | Path, download: bool = False, quick: bool = False,
         progress: bool = True, **options: object) -> SequenceDataset:
    """Speech Commands split ``split`` ("train", "val", "test") as 40 fbank features.

    Registry entries: ``"gsc"`` (v0.02, 12 classes), ``"gsc35"`` (v0.02, ``task=35``),
    ``"gsc_v1"`` (``version="v0.01"``, 12 classes). ``root`` holds ``SpeechCommands/``.
    Options: ``version`` ("v0.01"/"v0.02"), ``task`` (12 or 35), ``augment`` (frequency
    masking on the train split), ``freq_mask_param``. ``quick`` keeps at most
    :data:`QUICK_CLIPS` clips per split.
    """
    if split not in SPLITS:
        raise ValueError(f"Speech Commands split {split!r}: expected one of {list(SPLITS)}")
    version, task, augment, freq_mask_param = _check_options(dict(options))
    root = Path(root).expanduser()
    folder = root / FOLDER / ARCHIVES[version]
    if not (folder / "validation_list.txt").is_file() or \
            not (folder / "testing_list.txt").is_file():
        if not download:
            raise _missing_data_error(folder, f"no validation_list.txt/testing_list.txt in "
                                              f"{folder}")
        try:
            torchaudio.datasets.SPEECHCOMMANDS(root, url=ARCHIVES[version], download=True)
        except (OSError, RuntimeError) as error:
            raise _missing_data_error(folder, f"download failed ({error})") from None
    listing = torchaudio.datasets.SPEECHCOMMANDS(root, url=ARCHIVES[version],
                                                 subset=SPLITS[split])
    entries = []
    for n in range(len(listing)):
        relpath, _, word, _, _ = listing.get_metadata(n)
        if task == 35 and word not in WORDS_35:
            raise ValueError(f"{folder / relpath}: word {word!r} is not one of the 35 words")
        entries.append((root / FOLDER / relpath, _label(word, task)))
    if not entries:
        raise ValueError(f"{folder}: the {split} split has no clips")
    missing = [str(path) for path, _ in entries if not path.is_file()]
    if missing:
        raise _missing_data_error(folder, f"{len(missing)} listed clips are missing "
                                          f"(first: {missing[0]})")
    n_silence = 0
    noise_files: list[Path] = []
    if task == 12:
        noise_files = sorted((folder / NOISE_FOLDER).glob("*.wav"))
        counts = np.bincount([label for _, label in entries], minlength=len(CLASSES_12))
        n_silence = int(round(counts[2:].mean()))
    if quick:
        entries = _quick_subset(entries, QUICK_CLIPS)
        n_silence = min(n_silence, max(QUICK_CLIPS // len(CLASSES_12), 1))
    files = [path for path, _ in entries]
    seed = list(SPLITS).index(split)
    key = dict(split=split, version=version, task=task, files=fingerprint_files(files),
               noise=fingerprint_files(noise_files), n_silence=n_silence, seed=seed,
               clip_samples=CLIP_SAMPLES, n_mels=frontend.GSC_N_MELS)
    tensors = cached_features(
        "gsc", key, lambda: compute_features(files, [label for _, label in entries],
                                             noise_files, n_silence, seed, progress))
    classes = list(WORDS_35) if task == 35 else list(CLASSES_12)
    name = {("v0.02", 12): "gsc", ("v0.02", 35): "gsc35", ("v0.01", 12): "gsc_v1"}[
        (version, task)]
    if split == "train" and augment and freq_mask_param > 0:
        return FrequencyMaskedDataset(tensors["features"], tensors["labels"], classes, name,
                                      freq_mask_param)
    return SequenceDataset(tensors["features"], tensors["labels"], classes, name)
