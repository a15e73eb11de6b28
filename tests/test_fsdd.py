"""The FSDD loader on tiny fixture folders: layout, labels, protocols, folds, download, errors."""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from lprnn.datasets import frontend, fsdd, load_dataset

SPEAKERS = ("ann", "bob", "cat")
DIGITS = (0, 1, 2)
INDICES = (0, 3, 5, 10, 11)  # 0 and 3 official test, 5 official val, 10 and 11 train


def _tone(digit: int, index: int, rate: int = 8000) -> np.ndarray:
    seconds = 0.15 + 0.02 * index
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * (300 + 200 * digit) * t)).astype(np.float32)


def _write_release(root: Path) -> Path:
    folder = root / "recordings"
    folder.mkdir(parents=True)
    for digit in DIGITS:
        for speaker in SPEAKERS:
            for index in INDICES:
                soundfile.write(folder / f"{digit}_{speaker}_{index}.wav", _tone(digit, index),
                                8000, subtype="PCM_16")
    return root


@pytest.fixture
def release(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("LPRNN_DATA_DIR", str(tmp_path / "data"))
    return _write_release(tmp_path / "fsdd")


def _load(root: Path, split: str, **options) -> torch.utils.data.Dataset:
    return load_dataset("fsdd", split, root=root, progress=False, **options)


def test_official_split_by_recording_index(release):
    sizes = {}
    for split in ("train", "val", "test"):
        clips = fsdd.select(release, split).clips
        expected = {"test": {0, 3}, "val": {5}, "train": {10, 11}}[split]
        assert {clip.index for clip in clips} == expected
        assert {clip.speaker for clip in clips} == set(SPEAKERS)
        sizes[split] = len(_load(release, split))
    assert sizes == {"train": 18, "val": 9, "test": 18}


def test_digit_labels_and_the_authors_hd_convention(release):
    digits = _load(release, "test")
    hd = _load(release, "test", labels="hd")
    assert digits.classes[:3] == ["zero", "one", "two"] and digits.n_classes == 10
    expected = torch.tensor([fsdd.parse_clip_name(c.name).digit
                             for c in fsdd.select(release, "test").clips])
    assert torch.equal(digits.labels, expected)
    assert hd.n_classes == 20 and torch.equal(hd.labels, expected + 10)
    assert [hd.classes[int(label)] for label in hd.labels[:1]] == ["en-zero"]
    torch.testing.assert_close(hd.features, digits.features)


def test_features_shape_follows_the_training_length(release):
    train = _load(release, "train")
    longest_train = max(len(_tone(d, i)) for d in DIGITS for i in (10, 11)) * 6
    shortest_train = min(len(_tone(d, i)) for d in DIGITS for i in (10, 11)) * 6
    length = int(np.percentile([shortest_train, longest_train], 90))  # two lengths only
    assert train.n_features == 80 and train.n_steps == length // frontend.HD_HOP_LENGTH


def test_speaker_protocol_holds_speakers_out(release):
    options = dict(protocol="speakers", test_speakers=("cat",), val_speakers="bob")
    speakers = {split: {c.speaker for c in fsdd.select(release, split, **options).clips}
                for split in ("train", "val", "test")}
    assert speakers == {"train": {"ann"}, "val": {"bob"}, "test": {"cat"}}
    assert len(_load(release, "test", **options)) == len(DIGITS) * len(INDICES)


@pytest.mark.parametrize("options, error, message", [
    (dict(protocol="speakers"), ValueError, r"\['lucas', 'theo'\] are not in the data"),
    (dict(protocol="speakers", test_speakers="ann", val_speakers="ann"), ValueError, "disjoint"),
    (dict(protocol="speakers", test_speakers=("ann", "bob"), val_speakers="cat"), ValueError,
     "no training speaker"),
    (dict(protocol="speakers", fold=3), ValueError, r"fold 3: expected an integer in \[0, 2\]"),
    (dict(protocol="speakers", fold=0, test_speakers="ann"), ValueError, "not both"),
    (dict(test_speakers="ann"), ValueError, "only with protocol='speakers'"),
    (dict(protocol="random"), ValueError, "protocol 'random'"),
    (dict(labels="german"), ValueError, "labels 'german'"),
    (dict(frontend="mfcc"), ValueError, "frontend 'mfcc'"),
    (dict(speaker="ann"), ValueError, r"unknown FSDD options \['speaker'\]"),
])
def test_bad_options_are_rejected(release, options, error, message):
    with pytest.raises(error, match=message):
        _load(release, "train", **options)


def test_leave_one_speaker_out_folds(release):
    assert fsdd.speaker_folds(["cat", "ann", "bob"]) == [("ann", "bob"), ("bob", "cat"),
                                                          ("cat", "ann")]
    tested = []
    for fold in range(3):
        test = fsdd.select(release, "test", protocol="speakers", fold=fold).clips
        val = fsdd.select(release, "val", protocol="speakers", fold=fold).clips
        assert len({c.speaker for c in test}) == len({c.speaker for c in val}) == 1
        assert not {c.speaker for c in test} & {c.speaker for c in val}
        tested += [c.name for c in test]
    assert sorted(tested) == sorted(c.name for c in fsdd.list_clips(release))


def test_missing_data_error_says_what_where_and_how(tmp_path, monkeypatch):
    monkeypatch.setenv("LPRNN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(fsdd, "shared_root", lambda: tmp_path / "no-shared")
    with pytest.raises(FileNotFoundError) as error:
        load_dataset("fsdd", "train")
    message = str(error.value)
    for part in ("download=True", fsdd.FSDD_COMMIT, fsdd.FSDD_REPOSITORY,
                 str(tmp_path / "data" / "fsdd" / "recordings"), str(tmp_path / "no-shared")):
        assert part in message


def test_root_resolution_order(tmp_path, monkeypatch):
    monkeypatch.setenv("LPRNN_DATA_DIR", str(tmp_path / "data"))
    shared = _write_release(tmp_path / "shared")
    monkeypatch.setattr(fsdd, "shared_root", lambda: shared)
    assert fsdd.resolve_root(None) == shared
    local = _write_release(tmp_path / "data" / "fsdd")
    assert fsdd.resolve_root(None) == local
    assert fsdd.resolve_root(tmp_path / "elsewhere") == tmp_path / "elsewhere"


def test_corrupt_wav_is_named(release):
    (release / "recordings" / "1_bob_10.wav").write_bytes(b"RIFF\x00\x00not a wave file")
    with pytest.raises(ValueError, match=r"1_bob_10\.wav: not a readable audio file"):
        _load(release, "train")


def test_file_at_the_wrong_rate_is_named(release):
    soundfile.write(release / "recordings" / "2_cat_11.wav", _tone(2, 11, 16000), 16000)
    with pytest.raises(ValueError, match=r"2_cat_11\.wav: sample rate 16000 Hz, expected 8000"):
        _load(release, "train")


def test_unexpected_file_name_is_named(release):
    shutil.copy(release / "recordings" / "0_ann_0.wav", release / "recordings" / "hello.wav")
    with pytest.raises(ValueError, match=r"'hello\.wav': expected '\{digit\}_\{speaker\}"):
        _load(release, "train")


def test_cache_key_separates_front_ends_and_reloads(release, tmp_path):
    hd = _load(release, "val")
    authors = _load(release, "val", frontend="authors")
    entries = sorted((tmp_path / "data" / "features" / "fsdd").glob("*.pt"))
    assert len(entries) == 2
    assert not torch.equal(hd.features, authors.features)
    assert torch.equal(_load(release, "val").features, hd.features)


def _features_at_one_and_two_threads(paths, n_samples: int) -> list[torch.Tensor]:
    """The front end's features of ``paths`` computed with 1 and with 2 torch threads."""
    from lprnn.core.threads import torch_threads

    features = []
    for count in (1, 2):
        with torch_threads(count):
            features.append(fsdd.audio.featurize(paths, n_samples, progress=False))
    return features


def test_features_do_not_depend_on_the_thread_count(release):
    paths = [release / "recordings" / c.name for c in fsdd.select(release, "train").clips]
    one, two = _features_at_one_and_two_threads(paths, 7000)
    assert torch.equal(one, two)


@pytest.mark.skipif(not (fsdd.shared_root() / "recordings").is_dir(),
                    reason="the shared FSDD copy is not here")
def test_real_recordings_are_thread_independent_and_match_the_manifest():
    root = fsdd.shared_root()
    verify = {name: digest for name, digest in fsdd.read_manifest().items()
              if name.startswith("7_")}
    fsdd.verify_recordings(root / "recordings", verify)
    paths = [root / "recordings" / name for name in sorted(verify)[:24]]
    one, two = _features_at_one_and_two_threads(paths, 29016)
    assert torch.equal(one, two)


def test_shipped_manifest_is_the_whole_release():
    manifest = fsdd.read_manifest()
    clips = [fsdd.parse_clip_name(name) for name in manifest]
    assert len(manifest) == 3000
    assert {c.speaker for c in clips} == {"george", "jackson", "lucas", "nicolas", "theo",
                                          "yweweler"}
    assert {(c.digit, c.index) for c in clips} == {(d, i) for d in range(10) for i in range(50)}


# -- download ------------------------------------------------------------------------------

def _archive(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A zip laid out as GitHub's archive of the release, and its manifest."""
    source = _write_release(tmp_path / "source")
    archive = tmp_path / "release.zip"
    top = f"free-spoken-digit-dataset-{fsdd.FSDD_COMMIT}"
    manifest = {}
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr(f"{top}/README.md", "FSDD")
        for path in sorted((source / "recordings").iterdir()):
            zipped.write(path, f"{top}/recordings/{path.name}")
            manifest[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return archive, manifest


@pytest.fixture
def fake_fetch(tmp_path, monkeypatch):
    """pooch.retrieve replaced by a copy of a local archive (no network in tests)."""
    import pooch

    archive, manifest = _archive(tmp_path)
    calls = []

    def retrieve(url, known_hash, fname, path, progressbar):
        calls.append(url)
        Path(path).mkdir(parents=True, exist_ok=True)
        return str(shutil.copy(archive, Path(path) / fname))

    monkeypatch.setattr(pooch, "retrieve", retrieve)
    return manifest, calls


def test_download_extracts_verified_recordings(tmp_path, fake_fetch, monkeypatch):
    manifest, calls = fake_fetch
    root = fsdd.download_fsdd(tmp_path / "downloaded", manifest=manifest, progress=False)
    assert calls == [fsdd.FSDD_URL]
    assert sorted(p.name for p in (root / "recordings").iterdir()) == sorted(manifest)
    assert fsdd.read_manifest((root / "SHA256SUMS").read_text()) == manifest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["downloaded", "release.zip", "source"]


def test_load_with_download_fetches_into_the_data_folder(tmp_path, fake_fetch, monkeypatch):
    manifest, _ = fake_fetch
    monkeypatch.setenv("LPRNN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(fsdd, "shared_root", lambda: tmp_path / "no-shared")
    monkeypatch.setattr(fsdd, "read_manifest", lambda text=None: manifest)
    test = load_dataset("fsdd", "test", download=True, progress=False)
    assert len(test) == 18 and (tmp_path / "data" / "fsdd" / "recordings").is_dir()


def test_checksum_failure_leaves_nothing(tmp_path, fake_fetch):
    manifest, _ = fake_fetch
    wrong = dict(manifest, **{"1_bob_10.wav": "0" * 64})
    with pytest.raises(ValueError, match=r"1 recordings do not match.*1_bob_10\.wav"):
        fsdd.download_fsdd(tmp_path / "downloaded", manifest=wrong, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["release.zip", "source"]


def test_file_missing_from_the_archive_leaves_nothing(tmp_path, fake_fetch):
    manifest, _ = fake_fetch
    more = dict(manifest, **{"9_zed_0.wav": "0" * 64})
    with pytest.raises(ValueError, match=r"1 of the 46 recordings .* missing \(first: 9_zed_0"):
        fsdd.download_fsdd(tmp_path / "downloaded", manifest=more, progress=False)
    assert not (tmp_path / "downloaded").exists()


def test_failed_fetch_gives_the_missing_data_error(tmp_path, monkeypatch):
    import pooch

    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(pooch, "retrieve", offline)
    with pytest.raises(FileNotFoundError, match="download of .* failed .*no network"):
        fsdd.download_fsdd(tmp_path / "downloaded", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_download_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not an empty folder"):
        fsdd.download_fsdd(tmp_path / "full", progress=False)


def test_band_norm_normalizes_each_band_of_each_clip(release):
    plain = _load(release, "val")
    banded = _load(release, "val", band_norm=True)
    reference = plain.features.double().numpy()
    mean = reference.mean(axis=1, keepdims=True)
    std = reference.std(axis=1, ddof=1, keepdims=True)
    np.testing.assert_allclose(banded.features.numpy(), (reference - mean) / (std + 1e-5),
                               atol=1e-4)
    with pytest.raises(TypeError, match="band_norm 'yes'"):
        _load(release, "val", band_norm="yes")
