"""Speech Commands loader on a tiny fixture in torchaudio's on-disk layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from lprnn.datasets import SequenceDataset, gsc

RATE = 16000
# word -> speakers; the lists put speaker "cccc" in validation and "dddd" in testing
WORDS = {"yes": ("aaaa", "bbbb", "cccc", "dddd"), "go": ("aaaa", "cccc", "dddd"),
         "cat": ("aaaa", "bbbb", "dddd")}


def write_speech_commands(root: Path, version: str = "speech_commands_v0.02") -> Path:
    folder = root / "SpeechCommands" / version
    rng = np.random.default_rng(0)
    val, test = [], []
    for word, speakers in WORDS.items():
        (folder / word).mkdir(parents=True)
        for i, speaker in enumerate(speakers):
            name = f"{word}/{speaker}_nohash_0.wav"
            length = 12000 + 2000 * i  # shorter and longer than 1 s
            soundfile.write(folder / name, 0.1 * rng.standard_normal(length), RATE,
                            subtype="PCM_16")
            {"cccc": val, "dddd": test}.get(speaker, []).append(name)
    (folder / "_background_noise_").mkdir()
    soundfile.write(folder / "_background_noise_" / "white_noise.wav",
                    0.3 * rng.standard_normal(3 * RATE), RATE, subtype="PCM_16")
    (folder / "validation_list.txt").write_text("\n".join(val) + "\n")
    (folder / "testing_list.txt").write_text("\n".join(test) + "\n")
    return root


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LPRNN_DATA_DIR", str(tmp_path / "data"))
    return write_speech_commands(tmp_path / "gsc")


def test_twelve_class_splits_labels_and_shapes(root: Path) -> None:
    train = gsc.load("train", root=root, progress=False)
    val = gsc.load("val", root=root, progress=False)
    test = gsc.load("test", root=root, progress=False)
    unknown, silence = gsc.CLASSES_12.index("unknown"), gsc.CLASSES_12.index("silence")
    yes, go = gsc.CLASSES_12.index("yes"), gsc.CLASSES_12.index("go")
    assert gsc.CLASSES_12[:3] == ["unknown", "silence", "yes"] and len(gsc.CLASSES_12) == 12
    # train: yes×2, go×1, cat×2 (unknown); silence = round(mean command count) = round(0.3)
    assert sorted(train.labels.tolist()) == sorted([yes, yes, go, unknown, unknown])
    # val: yes, go; round(0.2) = 0 silence crops
    assert sorted(val.labels.tolist()) == sorted([yes, go])
    # test: yes, go, cat + round(2 / 10) = 0 silence
    assert sorted(test.labels.tolist()) == sorted([yes, go, unknown])
    for ds in (train, val, test):
        assert ds.features.shape[1:] == (98, 40) and ds.n_classes == 12 and ds.name == "gsc"
    assert isinstance(train, gsc.FrequencyMaskedDataset)
    assert type(val) is SequenceDataset and type(test) is SequenceDataset
    assert silence not in train.labels.tolist()


def test_silence_crops() -> None:
    crops = gsc.silence_clips([], 0, seed=0)
    assert crops.shape == (0, gsc.CLIP_SAMPLES)
    with pytest.raises(FileNotFoundError, match="_background_noise_"):
        gsc.silence_clips([], 2, seed=0)


def test_silence_class_in_twelve_class_task(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # more "yes" clips make round(mean command count) = 1 silence crop in train
    folder = root / "SpeechCommands" / "speech_commands_v0.02"
    rng = np.random.default_rng(1)
    for i in range(8):
        soundfile.write(folder / "yes" / f"ee{i:02d}_nohash_0.wav",
                        0.1 * rng.standard_normal(RATE), RATE, subtype="PCM_16")
    train = gsc.load("train", root=root, progress=False)
    silence = gsc.CLASSES_12.index("silence")
    assert train.labels.tolist().count(silence) == 1
    assert train.labels[-1].item() == silence


def test_thirty_five_words(root: Path) -> None:
    test = gsc.load("test", root=root, task=35, progress=False)
    assert test.n_classes == 35 and test.name == "gsc35"
    assert sorted(test.classes[i] for i in test.labels.tolist()) == ["cat", "go", "yes"]


def test_version_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LPRNN_DATA_DIR", str(tmp_path / "data"))
    write_speech_commands(tmp_path / "gsc", "speech_commands_v0.01")
    ds = gsc.load("val", root=tmp_path / "gsc", version="v0.01", progress=False)
    assert ds.name == "gsc_v1" and len(ds) == 2
    with pytest.raises(FileNotFoundError, match="speech_commands_v0.02"):
        gsc.load("val", root=tmp_path / "gsc")


def test_frequency_masking_zeroes_bands_only_on_access(root: Path) -> None:
    train = gsc.load("train", root=root, freq_mask_param=40, progress=False)
    torch.manual_seed(0)
    masked = [train[0][0] for _ in range(20)]
    for x in masked:
        zero_bands = (x == 0).all(dim=0)
        assert x.shape == (98, 40)
        # the zeroed bands are one contiguous range; the other values are untouched
        assert torch.equal(x[:, ~zero_bands], train.features[0][:, ~zero_bands])
    assert any(bool((x == 0).all(dim=0).any()) for x in masked)
    assert not bool((train.features[0] == 0).all(dim=0).any())
    batch = train.augment_batch(train.features)
    for x, original in zip(batch, train.features):
        zero_bands = (x == 0).all(dim=0).nonzero().flatten()
        assert len(zero_bands) == 0 or zero_bands[-1] - zero_bands[0] + 1 == len(zero_bands)
        assert torch.equal(x[:, (x != 0).any(dim=0)], original[:, (x != 0).any(dim=0)])
    plain = gsc.load("train", root=root, augment=False, progress=False)
    assert type(plain) is SequenceDataset
    assert torch.equal(plain[0][0], plain.features[0])


def test_features_are_cached(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = gsc.load("test", root=root, progress=False)

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("features recomputed despite the cache")

    monkeypatch.setattr(gsc, "compute_features", fail)
    second = gsc.load("test", root=root, progress=False)
    assert torch.equal(first.features, second.features)
    with pytest.raises(AssertionError, match="recomputed"):
        gsc.load("test", root=root, task=35, progress=False)


def test_quick(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gsc, "QUICK_CLIPS", 2)
    assert len(gsc.load("train", root=root, quick=True, progress=False)) == 2


def test_fit_length_keeps_the_end() -> None:
    x = np.arange(1, 6, dtype=np.float32)
    assert gsc.fit_length(x, 3).tolist() == [3, 4, 5]
    assert gsc.fit_length(x, 6).tolist() == [0, 1, 2, 3, 4, 5]


def test_missing_data_says_what_to_download(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError,
                       match="download.tensorflow.org/data/speech_commands_v0.02.tar.gz"):
        gsc.load("train", root=tmp_path)


def test_missing_and_malformed_clips(root: Path) -> None:
    folder = root / "SpeechCommands" / "speech_commands_v0.02"
    (folder / "go" / "dddd_nohash_0.wav").write_bytes(b"RIFF nonsense")
    with pytest.raises(ValueError, match="dddd_nohash_0.wav: not a readable audio file"):
        gsc.load("test", root=root, progress=False)
    (folder / "go" / "dddd_nohash_0.wav").unlink()
    with pytest.raises(FileNotFoundError, match="1 listed clips are missing"):
        gsc.load("test", root=root, progress=False)


def test_bad_options(root: Path) -> None:
    with pytest.raises(ValueError, match="split 'dev'"):
        gsc.load("dev", root=root)
    with pytest.raises(ValueError, match="unknown Speech Commands options \\['n_mels'\\]"):
        gsc.load("train", root=root, n_mels=80)
    with pytest.raises(ValueError, match="version 'v3'"):
        gsc.load("train", root=root, version="v3")
    with pytest.raises(ValueError, match="task 20"):
        gsc.load("train", root=root, task=20)
    with pytest.raises(ValueError, match="35-word task needs version 'v0.02'"):
        gsc.load("train", root=root, task=35, version="v0.01")
    with pytest.raises(TypeError, match="augment 'yes'"):
        gsc.load("train", root=root, augment="yes")
    with pytest.raises(ValueError, match="freq_mask_param 41"):
        gsc.load("train", root=root, freq_mask_param=41)
