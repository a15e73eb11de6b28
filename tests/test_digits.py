"""The built-in spoken digits, the dataset registry and the eSpeak NG binding."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from lprnn.core.threads import torch_threads
from lprnn.datasets import LOADERS, SPLITS, SequenceDataset, digits, load_dataset, synth

# Two training speakers, one each for val and test, one repetition: 40 / 20 / 20 clips.
TINY = dict(train_speakers=2, val_speakers=1, test_speakers=1, repetitions=1)


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("digits")
    load_dataset("digits", "train", root=root, progress=False, **TINY)
    return root


def test_splits_have_the_documented_sizes_and_shapes(tiny_root):
    sizes = {"train": 40, "val": 20, "test": 20}
    n_steps = set()
    for split in SPLITS:
        dataset = load_dataset("digits", split, root=tiny_root, **TINY)
        assert isinstance(dataset, SequenceDataset)
        assert len(dataset) == sizes[split]
        assert dataset.features.dtype == torch.float32 and dataset.labels.dtype == torch.int64
        assert dataset.n_features == 80 and dataset.n_classes == 20
        assert dataset.name == "digits"
        assert sorted(dataset.labels.tolist()) == sorted(list(range(20)) * (sizes[split] // 20))
        assert torch.isfinite(dataset.features).all()
        n_steps.add(dataset.n_steps)
        features, label = dataset[3]
        assert features.shape == (dataset.n_steps, 80) and isinstance(label, int)
    assert len(n_steps) == 1, "every split has the training clips' sequence length"


def test_label_convention_german_digit_english_digit_plus_10():
    assert digits.CLASSES[3] == "de-drei" and digits.CLASSES[13] == "en-three"
    speaker = digits.Speaker(variant="f3", accent="en-us", pitch=50, pitch_range=50, rate=170)
    assert speaker.voice_name(3) == "de+f3"
    assert speaker.voice_name(13) == "en-us+f3"
    assert digits.Speaker("", "en", 50, 50, 170).voice_name(0) == "de"


def test_manifest_records_parameters_counts_speakers_and_length(tiny_root):
    config = digits.make_config(**TINY)
    features_path, manifest_path = digits.cache_paths(config, tiny_root)
    assert features_path.is_file()
    manifest = json.loads(manifest_path.read_text())
    assert manifest["counts"] == {"train": 40, "val": 20, "test": 20}
    assert manifest["config"]["train_speakers"] == 2
    assert [len(manifest["speakers"][s]) for s in SPLITS] == [2, 1, 1]
    assert manifest["n_steps"] == manifest["clip_samples"] // 256
    assert manifest["n_steps"] == load_dataset("digits", "val", root=tiny_root, **TINY).n_steps
    assert manifest["key"] in features_path.name


def test_second_load_reads_the_cache(tiny_root, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the cached dataset was regenerated")

    monkeypatch.setattr(digits, "generate", fail)
    assert len(load_dataset("digits", "test", root=tiny_root, **TINY)) == 20


def _fake_speech(text: str, voice: synth.Voice) -> np.ndarray:
    """A deterministic stand-in for eSpeak NG (whose waveforms vary by a few samples per run)."""
    n = 4000 + 40 * len(text) + 10 * voice.rate
    t = np.arange(n) / synth.SAMPLE_RATE
    frequency = 100 + 5 * voice.pitch + 30 * len(text)
    return (8000 * np.sin(2 * np.pi * frequency * t)).astype(np.int16)


def test_random_draws_are_deterministic_and_seeded():
    config = digits.make_config(**TINY)
    assert digits.speakers(config) == digits.speakers(digits.make_config(**TINY))
    assert (digits._utterance_voices(config, "test", digits.speakers(config)["test"])
            == digits._utterance_voices(config, "test", digits.speakers(config)["test"]))
    assert digits.speakers(config) != digits.speakers(digits.make_config(seed=1, **TINY))


def test_generation_is_bit_exact_given_the_speech(monkeypatch):
    monkeypatch.setattr(digits.synth, "synthesize", _fake_speech)
    config = digits.make_config(**TINY)
    first, manifest = digits.generate(config, progress=False)
    second, _ = digits.generate(config, progress=False)
    other_seed, _ = digits.generate(digits.make_config(seed=1, **TINY), progress=False)
    for split in SPLITS:
        for name in ("features", "labels", "speakers"):
            assert np.array_equal(first[split][name], second[split][name])
        assert first[split]["features"].dtype == np.float16
    assert not np.array_equal(first["train"]["features"], other_seed["train"]["features"])
    assert manifest["counts"]["train"] == 40


def test_regenerated_features_equal_the_cache_whatever_was_spoken_before(tiny_root, tmp_path):
    # Other voices spoken first (their variants' settings used to persist into later voices)
    # and another torch thread count: the regenerated data set is the cached one, bit for bit.
    for voice in ("de+klatt", "en-us+Storm", "de+Alicia", "en+steph3"):
        synth.synthesize("drei", synth.Voice(voice))
    cached = load_dataset("digits", "train", root=tiny_root, **TINY)
    with torch_threads(2):
        again = load_dataset("digits", "train", root=tmp_path, progress=False, **TINY)
    assert torch.equal(cached.labels, again.labels)
    assert torch.equal(cached.features, again.features)


def test_an_utterance_depends_on_its_text_and_voice_only():
    # Speaker 1 of the default test split ('Alicia', breathy) after speaker 0 ('klatt') and after
    # other variants: eSpeak NG's static state and noise seed made these differ.
    voice = synth.Voice("de+Alicia", pitch=59, pitch_range=78, rate=154)
    first = synth.synthesize("fünf", voice)
    for other in ("de+klatt", "en-gb-x-rp+shelby", "de+steph3", "en-us+f1"):
        synth.synthesize("zwei", synth.Voice(other, pitch=30, rate=170))
        assert np.array_equal(synth.synthesize("fünf", voice), first)


def test_an_utterance_is_the_same_in_another_process():
    script = ("import numpy as np; from lprnn.datasets import synth; "
              "print(int(np.sum(synth.synthesize('fünf', synth.Voice('de+Alicia', pitch=59, "
              "pitch_range=78, rate=154)).astype(np.int64) ** 2)))")
    energies = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                               check=True).stdout for _ in range(2)}
    here = synth.synthesize("fünf", synth.Voice("de+Alicia", pitch=59, pitch_range=78, rate=154))
    assert energies == {f"{int(np.sum(here.astype(np.int64) ** 2))}\n"}


def test_changed_parameters_change_the_cache_file():
    base = digits.make_config(**TINY)
    keys = {digits.cache_key(base), digits.cache_key(digits.make_config(**TINY, snr_db=(5, 25))),
            digits.cache_key(digits.make_config(quick=True)),
            digits.cache_key(digits.make_config())}
    assert len(keys) == 4
    assert digits.cache_key(digits.make_config(**TINY)) == digits.cache_key(base)


def test_speakers_are_held_out_between_splits():
    config = digits.make_config()
    split_speakers = digits.speakers(config)
    variants = {split: {s.variant for s in split_speakers[split]} for split in SPLITS}
    assert variants["train"].isdisjoint(variants["val"])
    assert variants["train"].isdisjoint(variants["test"])
    assert variants["val"].isdisjoint(variants["test"])
    assert [len(split_speakers[s]) for s in SPLITS] == [75, 8, 15]
    assert not variants["train"] & set(digits.NON_HUMAN_VARIANTS)
    quick = digits.make_config(quick=True)
    assert [quick.speakers_in(s) for s in SPLITS] == [10, 3, 5] and quick.repetitions == 1


def test_utterances_jitter_within_the_configured_ranges():
    config = digits.make_config(**TINY)
    speaker = digits.speakers(config)["train"][0]
    clips = digits._utterance_voices(config, "train", [speaker])
    assert [label for _, label, _ in clips] == list(range(20))
    for _, label, voice in clips:
        assert voice.name == speaker.voice_name(label)
        assert abs(voice.pitch - speaker.pitch) <= config.pitch_jitter
        assert abs(voice.rate - speaker.rate) <= config.rate_jitter * speaker.rate + 1


@pytest.mark.parametrize("name, split, options, message", [
    ("mnist", "train", {}, r"unknown dataset 'mnist': expected one of \['audio', 'digits'"),
    ("digits", "training", {}, r"split 'training': expected one of \['train', 'val', 'test'\]"),
    ("digits", "train", {"speakers": 3}, r"unknown digits option\(s\) \['speakers'\]"),
    ("digits", "train", {"repetitions": 0}, "repetitions=0: expected a positive integer"),
    ("digits", "train", {"snr_db": (20, 0)}, r"snr_db=\(20, 0\): expected a \(low, high\)"),
    ("digits", "train", {"reverb_probability": 1.5}, "reverb_probability=1.5"),
])
def test_bad_names_splits_and_options_are_rejected(tmp_path, name, split, options, message):
    with pytest.raises(ValueError, match=message):
        load_dataset(name, split, root=tmp_path, **options)
    assert not list(tmp_path.iterdir()), "nothing is generated for a rejected request"


def test_sequence_dataset_validates_its_arrays():
    features = torch.zeros(4, 5, 3)
    dataset = SequenceDataset(features, torch.tensor([0, 1, 2, 1]), ["a", "b", "c"], "toy")
    assert (len(dataset), dataset.n_steps, dataset.n_features, dataset.n_classes) == (4, 5, 3, 3)
    with pytest.raises(ValueError, match=r"features: expected a \[N, T, F\] tensor"):
        SequenceDataset(torch.zeros(4, 5), torch.zeros(4, dtype=torch.int64), ["a"], "toy")
    with pytest.raises(ValueError, match=r"labels: expected a \[4\] tensor"):
        SequenceDataset(features, torch.zeros(3, dtype=torch.int64), ["a"], "toy")
    with pytest.raises(ValueError, match=r"labels span \[0, 3\]"):
        SequenceDataset(features, torch.tensor([0, 1, 2, 3]), ["a", "b", "c"], "toy")


def test_espeak_synthesizes_both_languages():
    english = synth.synthesize("seven", synth.Voice("en-us+f3", pitch=70, rate=200))
    german = synth.synthesize("fünf", synth.Voice("de+m2"))
    for wave in (english, german):
        assert wave.dtype == np.int16 and 0.1 * synth.SAMPLE_RATE < len(wave) < synth.SAMPLE_RATE
        assert np.abs(wave).max() > 1000
    slow = synth.synthesize("seven", synth.Voice("en", rate=100))
    fast = synth.synthesize("seven", synth.Voice("en", rate=300))
    assert len(slow) > 1.5 * len(fast)
    assert "f3" in synth.voice_variants() and "m2" in synth.voice_variants()


@pytest.mark.parametrize("text, voice, message", [
    ("seven", synth.Voice("xx-nonexistent"), "voice 'xx-nonexistent': not an eSpeak NG voice"),
    ("  ", synth.Voice("en"), "expected a non-empty string"),
])
def test_espeak_rejects_bad_text_and_voices(text, voice, message):
    with pytest.raises(ValueError, match=message):
        synth.synthesize(text, voice)


@pytest.mark.parametrize("name, expected_in_message", [
    ("hd", "hd_audio.tar.gz"), ("gsc", "speech_commands_v0.02"), ("gsc35", "speech_commands_v0.02"),
    ("gsc_v1", "speech_commands_v0.01"), ("shd", "shd_test.h5"), ("ssc", "ssc_test.h5"),
])
def test_registry_entries_reach_their_loaders(tmp_path, name, expected_in_message):
    # Without the data and without download=True every external dataset says what is missing;
    # gsc_v1's preset option selects the v0.01 release.
    with pytest.raises(FileNotFoundError, match=expected_in_message):
        load_dataset(name, "test", root=tmp_path)


def test_default_root_is_the_entrys_folder_under_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LPRNN_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "gsc" / "SpeechCommands")):
        load_dataset("gsc35", "test")
    assert sorted(LOADERS) == ["audio", "digits", "fsdd", "gsc", "gsc35", "gsc_v1", "hd", "shd",
                               "ssc"]
