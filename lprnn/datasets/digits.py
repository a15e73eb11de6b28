"""The built-in spoken digits: a small, offline stand-in for the Heidelberg Digits (HD).

What it is: the digits 0–9 spoken in German and in English (20 classes, HD's task), produced by
the formant synthesizer eSpeak NG (through ``espeakng-loader``, no network, no system package),
made harder with per-speaker and per-utterance variety and with audio augmentation, resampled to
48 kHz and turned into HD's 80-band log-mel features by :func:`lprnn.datasets.frontend.hd_logmel`.
Class index = digit for German and digit + 10 for English (the authors' HD convention).

What it is not: human speech. Formant synthesis is far more regular than the 12 HD speakers,
so accuracies here are not comparable with HD numbers; the data set exists so that every
notebook runs end to end (train → map → simulate → Lava) in minutes, anywhere.

Speakers. A speaker is a bilingual configuration: one eSpeak NG voice variant (timbre: formant
shifts, breathiness, roughness, whisper; ``voices/!v`` without the robot and effect voices), an
English accent (``en``, ``en-us``, ``en-gb-scotland``, ...), a base pitch, pitch range and
speaking rate. The variants are shuffled
(by ``seed``) and split into disjoint train / val / test pools, so validation and test speakers
are held out, as HD's test set holds out speakers; val therefore estimates test accuracy. Each
speaker says every digit ``repetitions`` times, each time with its pitch, pitch range and rate
jittered. (eSpeak's word gap only spaces words within an utterance; every utterance here is a
single word, so timing variety comes from the rate and the random leading/trailing silence.)

Augmentation, per utterance, in this order (random draws from ``(seed, split, index)``):

1. trim eSpeak's silences; resample 22.05 → 48 kHz;
2. time shift: leading silence U(0, ``max_lead_s``), trailing silence U(0, ``max_trail_s``);
3. room reverb with probability ``reverb_probability``: convolution with a direct path plus an
   exponentially decaying noise tail, RT60 ~ U(``rt60_s``), wet/dry energy ratio ~ U(0.1, 1);
4. cut or left-pad to the 90th-percentile length of the training clips, keeping the end (HD);
5. additive noise over the whole clip, spectrum ∝ 1/f^β with β ~ U(0, 2) (white to brown), at
   an SNR ~ U(``snr_db``) relative to the speech power;
6. gain ~ U(``gain_db``) (the per-clip normalisation of the front end removes it from the
   features; it varies the waveforms and their int16 range).

Reproducibility: every random draw (speakers, jitter, augmentation) comes from ``seed``, each
utterance is spoken by a freshly loaded eSpeak NG (:mod:`lprnn.datasets.synth`), and the
resampling and features do not depend on torch's thread count, so a regenerated data set equals
the cached one bit for bit (with the same eSpeak NG build), whatever the process did before.

Sizes: ``speakers × 20 × repetitions`` clips per split; by default 75 / 8 / 15 speakers and two
repetitions: 3000 train, 320 val, 600 test; ``quick=True``: 10 / 3 / 5 speakers, one
repetition: 200 / 60 / 100.

Cache: the features of all three splits are generated together (the sequence length comes from
the training clips) into ``<root>/digits-<key>.npz`` (float16 features, labels, speaker ids)
with a manifest ``digits-<key>.json`` beside it (parameters, counts, speakers per split, length,
generation time). ``key`` hashes every parameter that changes the data, including the front end,
so a changed parameter regenerates and an unchanged one loads in well under a second. Generation
holds a lock (parallel notebooks generate once and share the result), the files are written
atomically, and a cache that does not pass :func:`read_cache` (corrupt, truncated, foreign or
incomplete) is regenerated with a warning naming the file and the field.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import scipy.fft
import scipy.signal
import torch
from tqdm.auto import tqdm

from lprnn import atomic
from lprnn.datasets import frontend
from lprnn.datasets import SequenceDataset, synth

GERMAN_WORDS = ("null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun")
ENGLISH_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
CLASSES = [f"de-{w}" for w in GERMAN_WORDS] + [f"en-{w}" for w in ENGLISH_WORDS]
GERMAN_VOICE = "de"
ENGLISH_ACCENTS = ("en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
                   "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
SPLITS = ("train", "val", "test")
# Fractions of the voice variants reserved for each split (disjoint pools).
VARIANT_POOL_FRACTIONS = {"train": 0.6, "val": 0.15, "test": 0.25}
# Voice variants that do not sound like a human speaker (robots, effects) are left out.
NON_HUMAN_VARIANTS = ("Demonic", "UniRobot", "anikaRobot", "croak", "Tweaky", "robosoft",
                      "robosoft2", "robosoft3", "robosoft4", "robosoft5", "robosoft6",
                      "robosoft7", "robosoft8")
SEQUENCE_PERCENTILE = 90
CACHE_VERSION = 2  # bump when the generation code changes the data

_TRIM_THRESHOLD = 0.01  # of the clip's peak: eSpeak's leading/trailing silence is below it


@dataclass(frozen=True)
class DigitsConfig:
    """Every parameter that changes the generated data (all hashed into the cache key)."""

    seed: int = 0
    train_speakers: int = 75
    val_speakers: int = 8
    test_speakers: int = 15
    repetitions: int = 2
    pitch: tuple[int, int] = (25, 75)          # speaker base pitch, eSpeak 0–100 scale
    pitch_range: tuple[int, int] = (10, 90)    # speaker intonation range, eSpeak 0–100
    rate: tuple[int, int] = (140, 220)         # speaker base rate, words per minute
    pitch_jitter: int = 6                      # per utterance, ± on the 0–100 scale
    rate_jitter: float = 0.1                   # per utterance, relative ±
    max_lead_s: float = 0.12
    max_trail_s: float = 0.08
    reverb_probability: float = 0.3
    rt60_s: tuple[float, float] = (0.1, 0.4)
    snr_db: tuple[float, float] = (10.0, 30.0)
    gain_db: tuple[float, float] = (-20.0, 0.0)

    def __post_init__(self) -> None:
        for name in ("train_speakers", "val_speakers", "test_speakers", "repetitions"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r}: expected a positive integer")
        for name in ("pitch", "pitch_range", "rate", "rt60_s", "snr_db", "gain_db"):
            value = getattr(self, name)
            if len(value) != 2 or not value[0] <= value[1]:
                raise ValueError(f"{name}={value!r}: expected a (low, high) pair with low <= high")
        if not 0.0 <= self.reverb_probability <= 1.0:
            raise ValueError(f"reverb_probability={self.reverb_probability!r}: expected a value "
                             "in [0, 1]")

    def speakers_in(self, split: str) -> int:
        return getattr(self, f"{split}_speakers")


QUICK_SIZES = dict(train_speakers=10, val_speakers=3, test_speakers=5, repetitions=1)


class Speaker(NamedTuple):
    """A bilingual synthetic speaker: German as ``de+variant``, English as ``accent+variant``."""

    variant: str
    accent: str
    pitch: int
    pitch_range: int
    rate: int

    def voice_name(self, label: int) -> str:
        language = GERMAN_VOICE if label < 10 else self.accent
        return f"{language}+{self.variant}" if self.variant else language


def make_config(quick: bool = False, **options: object) -> DigitsConfig:
    """The configuration for ``options`` (names of :class:`DigitsConfig` fields).

    ``quick=True`` shrinks the speaker counts and repetitions (unless given) to the smoke-test
    size.
    """
    known = [f.name for f in dataclasses.fields(DigitsConfig)]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"unknown digits option(s) {unknown}: expected some of {known}")
    values = {**(QUICK_SIZES if quick else {}), **options}
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return DigitsConfig(**values)


def _split_rng(config: DigitsConfig, split: str, purpose: int) -> np.random.Generator:
    return np.random.default_rng([config.seed, SPLITS.index(split), purpose])


def speakers(config: DigitsConfig) -> dict[str, list[Speaker]]:
    """The speakers of each split; their voice variants are disjoint between splits."""
    variants = [""] + [v for v in synth.voice_variants() if v not in NON_HUMAN_VARIANTS]
    np.random.default_rng([config.seed, 99]).shuffle(variants)
    pools: dict[str, list[str]] = {}
    start = 0
    for split in SPLITS:
        stop = start + round(VARIANT_POOL_FRACTIONS[split] * len(variants))
        pools[split] = variants[start:stop] if split != SPLITS[-1] else variants[start:]
        start = stop
    result = {}
    for split in SPLITS:
        rng = _split_rng(config, split, 0)
        pool = pools[split]
        count = config.speakers_in(split)
        result[split] = [
            Speaker(variant=pool[i % len(pool)],
                    accent=ENGLISH_ACCENTS[int(rng.integers(len(ENGLISH_ACCENTS)))],
                    pitch=int(rng.integers(config.pitch[0], config.pitch[1] + 1)),
                    pitch_range=int(rng.integers(config.pitch_range[0], config.pitch_range[1] + 1)),
                    rate=int(rng.integers(config.rate[0], config.rate[1] + 1)))
            for i in range(count)]
    return result


def _utterance_voices(config: DigitsConfig, split: str,
                      split_speakers: list[Speaker]) -> list[tuple[int, int, synth.Voice]]:
    """(speaker index, label, jittered voice) of every clip of a split, in a fixed order."""
    rng = _split_rng(config, split, 1)
    clips = []
    for speaker_index, speaker in enumerate(split_speakers):
        for _ in range(config.repetitions):
            for label in range(len(CLASSES)):
                jitter = config.pitch_jitter
                pitch = speaker.pitch + int(rng.integers(-jitter, jitter + 1))
                pitch_range = speaker.pitch_range + int(rng.integers(-jitter, jitter + 1))
                rate = speaker.rate * (1.0 + rng.uniform(-config.rate_jitter, config.rate_jitter))
                voice = synth.Voice(speaker.voice_name(label), pitch=int(np.clip(pitch, 0, 100)),
                                    pitch_range=int(np.clip(pitch_range, 0, 100)),
                                    rate=int(np.clip(round(rate), 80, 450)))
                clips.append((speaker_index, label, voice))
    return clips


def _trim(samples: np.ndarray) -> np.ndarray:
    loud = np.flatnonzero(np.abs(samples) > _TRIM_THRESHOLD * np.abs(samples).max())
    return samples[loud[0]:loud[-1] + 1] if loud.size else samples


def _synthesize_48k(voices: list[synth.Voice], labels: list[int], description: str,
                    progress: bool) -> list[torch.Tensor]:
    """Speak each digit, trim silences and resample to 48 kHz (float, peak ≈ 1)."""
    words = [GERMAN_WORDS[label] if label < 10 else ENGLISH_WORDS[label - 10] for label in labels]
    raw = [_trim(synth.synthesize(word, voice).astype(np.float32) / 32768.0)
           for word, voice in tqdm(list(zip(words, voices)), desc=f"synthesizing {description}",
                                   leave=False, disable=not progress)]
    lengths = [len(r) for r in raw]
    padded = torch.zeros(len(raw), max(lengths))
    for i, r in enumerate(raw):
        padded[i, :len(r)] = torch.from_numpy(r)
    resampled = frontend.resample(padded, synth.SAMPLE_RATE, frontend.HD_SAMPLE_RATE)
    scale = frontend.HD_SAMPLE_RATE / synth.SAMPLE_RATE
    return [resampled[i, :int(n * scale)] for i, n in enumerate(lengths)]


def _room_impulse_response(rng: np.random.Generator, rt60_s: float) -> np.ndarray:
    """Direct path plus an exponentially decaying noise tail (−60 dB after ``rt60_s``)."""
    rate = frontend.HD_SAMPLE_RATE
    n = int(rt60_s * rate)
    t = np.arange(n) / rate
    tail = rng.standard_normal(n) * 10.0 ** (-3.0 * t / rt60_s)
    tail[: int(0.002 * rate)] = 0.0  # first reflections arrive after ~2 ms
    wet = rng.uniform(0.1, 1.0)
    tail *= np.sqrt(wet / max(np.sum(tail**2), 1e-12))
    tail[0] = 1.0
    return tail


def _colored_noise(rng: np.random.Generator, length: int) -> np.ndarray:
    """Unit-power noise with power spectrum ∝ 1/f^β, β ~ U(0, 2)."""
    beta = rng.uniform(0.0, 2.0)
    n_fft = scipy.fft.next_fast_len(length, real=True)
    spectrum = scipy.fft.rfft(rng.standard_normal(n_fft))
    frequency = scipy.fft.rfftfreq(n_fft)
    frequency[0] = frequency[1]
    noise = scipy.fft.irfft(spectrum * frequency ** (-beta / 2.0), n=n_fft)[:length]
    return noise / np.sqrt(np.mean(noise**2))


def _shift_and_reverb(speech: torch.Tensor, rng: np.random.Generator,
                      config: DigitsConfig) -> np.ndarray:
    rate = frontend.HD_SAMPLE_RATE
    lead = int(rng.uniform(0.0, config.max_lead_s) * rate)
    trail = int(rng.uniform(0.0, config.max_trail_s) * rate)
    clip = np.concatenate([np.zeros(lead), speech.numpy().astype(np.float64), np.zeros(trail)])
    if rng.uniform() < config.reverb_probability:
        response = _room_impulse_response(rng, rng.uniform(*config.rt60_s))
        clip = scipy.signal.fftconvolve(clip, response)[:len(clip)]
    return clip


def _fit_length(clip: np.ndarray, length: int) -> np.ndarray:
    """Cut or left-pad to ``length`` samples, keeping the end (HD)."""
    if len(clip) >= length:
        return clip[len(clip) - length:]
    return np.concatenate([np.zeros(length - len(clip)), clip])


def _finish(clip: np.ndarray, speech_power: float, rng: np.random.Generator,
            config: DigitsConfig) -> np.ndarray:
    snr_db = rng.uniform(*config.snr_db)
    noisy = clip + _colored_noise(rng, len(clip)) * np.sqrt(speech_power * 10.0 ** (-snr_db / 10.0))
    noisy *= 10.0 ** (rng.uniform(*config.gain_db) / 20.0) / max(np.abs(noisy).max(), 1e-12)
    return noisy


def cache_key(config: DigitsConfig) -> str:
    """Hash of everything that changes the cached features (data and front end)."""
    payload = dict(dataclasses.asdict(config), version=CACHE_VERSION,
                   frontend=dict(sample_rate=frontend.HD_SAMPLE_RATE, n_fft=frontend.HD_N_FFT,
                                 hop_length=frontend.HD_HOP_LENGTH, n_mels=frontend.HD_N_MELS,
                                 dynamic_range_db=frontend.HD_DYNAMIC_RANGE_DB),
                   percentile=SEQUENCE_PERCENTILE, variants=synth.voice_variants())
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


def generate(config: DigitsConfig,
             progress: bool = True) -> tuple[dict[str, dict[str, np.ndarray]], dict]:
    """Synthesize, augment and featurize all three splits.

    Returns ``({split: {"features": float16 [N, T, 80], "labels": int64 [N], "speakers":
    int64 [N]}}, manifest)``.
    """
    start = time.perf_counter()
    split_speakers = speakers(config)
    shifted: dict[str, list[np.ndarray]] = {}
    powers: dict[str, list[float]] = {}
    clip_info: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for split in SPLITS:
        clips = _utterance_voices(config, split, split_speakers[split])
        speech = _synthesize_48k([v for _, _, v in clips], [label for _, label, _ in clips], split,
                                 progress)
        rng = _split_rng(config, split, 2)
        shifted[split] = [_shift_and_reverb(s, rng, config) for s in speech]
        powers[split] = [float(np.mean(s.numpy().astype(np.float64) ** 2)) for s in speech]
        clip_info[split] = (np.array([label for _, label, _ in clips], dtype=np.int64),
                            np.array([i for i, _, _ in clips], dtype=np.int64))
    length = int(np.percentile([len(c) for c in shifted["train"]], SEQUENCE_PERCENTILE))
    data = {}
    for split in SPLITS:
        rng = _split_rng(config, split, 3)
        audio = np.stack([_finish(_fit_length(c, length), p, rng, config)
                          for c, p in zip(shifted[split], powers[split])])
        features = []
        for chunk in tqdm(np.array_split(audio, max(1, len(audio) // 256)),
                          desc=f"features {split}", leave=False, disable=not progress):
            features.append(frontend.hd_logmel(torch.from_numpy(chunk).float()).half().numpy())
        labels, speaker_ids = clip_info[split]
        data[split] = dict(features=np.concatenate(features), labels=labels, speakers=speaker_ids)
    n_steps = int(data["train"]["features"].shape[1])
    manifest = dict(
        name="digits", cache_version=CACHE_VERSION, key=cache_key(config),
        config=dataclasses.asdict(config), classes=CLASSES,
        sample_rate=frontend.HD_SAMPLE_RATE, clip_samples=length, n_steps=n_steps,
        n_features=frontend.HD_N_MELS,
        counts={split: int(len(data[split]["labels"])) for split in SPLITS},
        speakers={split: [s._asdict() for s in split_speakers[split]] for split in SPLITS},
        generation_seconds=round(time.perf_counter() - start, 2))
    return data, manifest


def cache_paths(config: DigitsConfig, root: Path) -> tuple[Path, Path]:
    """(features ``.npz``, manifest ``.json``) of ``config`` under ``root``."""
    key = cache_key(config)
    return root / f"digits-{key}.npz", root / f"digits-{key}.json"


def read_cache(config: DigitsConfig, features_path: Path, manifest_path: Path,
               splits: tuple[str, ...] = SPLITS) -> tuple[dict[str, dict[str, np.ndarray]], dict]:
    """The arrays of ``splits`` and the manifest of a cache, checked as a whole (the manifest,
    every split's entries, the shapes, types and labels of the splits read).

    Raises ValueError naming the file and the field when a file is unreadable, the manifest
    is not this configuration's, or an array is missing or has the wrong shape or type.
    """
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"digits manifest {manifest_path}: not readable JSON ({err})") from None

    def field(name: str, kind: type) -> object:
        if not isinstance(manifest, dict) or not isinstance(manifest.get(name), kind):
            raise ValueError(f"digits manifest {manifest_path}: field {name!r} is missing or not "
                             f"a {kind.__name__}")
        return manifest[name]

    if field("key", str) != cache_key(config):
        raise ValueError(f"digits manifest {manifest_path}: field 'key' is {manifest['key']!r}, "
                         f"expected {cache_key(config)!r} (another configuration's cache)")
    if field("classes", list) != list(CLASSES):
        raise ValueError(f"digits manifest {manifest_path}: field 'classes' differs from "
                         f"the {len(CLASSES)} digit classes")
    counts, n_steps, n_features = field("counts", dict), field("n_steps", int), \
        field("n_features", int)
    expected = {"features": np.floating, "labels": np.integer, "speakers": np.integer}
    data: dict[str, dict[str, np.ndarray]] = {}
    try:
        with np.load(features_path, allow_pickle=False) as archive:
            for entry in (f"{split}_{name}" for split in SPLITS for name in expected):
                if entry not in archive.files:
                    raise ValueError(f"digits cache {features_path}: array {entry!r} missing")
            for split in splits:
                if not isinstance(counts.get(split), int):
                    raise ValueError(f"digits manifest {manifest_path}: field 'counts.{split}' "
                                     "is missing or not an integer")
                shapes = {"features": (counts[split], n_steps, n_features),
                          "labels": (counts[split],), "speakers": (counts[split],)}
                data[split] = {}
                for name, kind in expected.items():
                    entry = f"{split}_{name}"
                    array = archive[entry]
                    if array.shape != shapes[name] or not np.issubdtype(array.dtype, kind):
                        raise ValueError(f"digits cache {features_path}: array {entry!r} is "
                                         f"{array.dtype} {array.shape}, expected "
                                         f"{kind.__name__} {shapes[name]}")
                    data[split][name] = array
                labels = data[split]["labels"]
                if labels.size and not 0 <= labels.min() <= labels.max() < len(CLASSES):
                    raise ValueError(f"digits cache {features_path}: array '{split}_labels' "
                                     f"spans [{labels.min()}, {labels.max()}], expected "
                                     f"[0, {len(CLASSES) - 1}]")
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"digits cache {features_path}: not a readable .npz ({err})") from None
    return data, manifest


def load_arrays(config: DigitsConfig, split: str, root: Path,
                progress: bool = True) -> tuple[dict[str, np.ndarray], dict]:
    """The cached arrays of ``split`` and the manifest, generating the cache when absent or
    invalid (:func:`read_cache`; with a warning)."""
    if split not in SPLITS:
        raise ValueError(f"split {split!r}: expected one of {list(SPLITS)}")
    features_path, manifest_path = cache_paths(config, Path(root))
    with atomic.lock(features_path):
        if features_path.is_file() and manifest_path.is_file():
            try:
                data, manifest = read_cache(config, features_path, manifest_path, (split,))
                return data[split], manifest
            except ValueError as err:
                warnings.warn(f"{err}; regenerating the digits cache", stacklevel=2)
        data, manifest = generate(config, progress=progress)
        flat = {f"{s}_{k}": v for s, arrays in data.items() for k, v in arrays.items()}
        atomic.write(features_path, lambda p: np.savez(p, **flat))
        atomic.write_text(manifest_path, json.dumps(manifest, indent=1))
        return data[split], manifest


def load(split: str = "train", *, root: Path, download: bool = False, quick: bool = False,
         progress: bool = True, **options: object) -> SequenceDataset:
    """The ``split`` of the built-in digits (registry entry ``"digits"``).

    ``download`` is accepted for the common signature and unused: the data is generated
    locally. ``options`` are :class:`DigitsConfig` fields (e.g. ``seed=1``, ``snr_db=(5, 20)``).
    """
    config = make_config(quick=quick, **options)
    arrays, manifest = load_arrays(config, split, root, progress=progress)
    return SequenceDataset(torch.from_numpy(arrays["features"].astype(np.float32)),
                           torch.from_numpy(arrays["labels"]), list(manifest["classes"]),
                           name="digits")
