"""Validation at every boundary: the one network validator, and crafted corrupt files for every
reader (mapped network .npz/JSON, netx HDF5, checkpoints, feature cache, digits cache)."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from lprnn.ann.model import LpRNNClassifier, ModelConfig
from lprnn.ann.train import load_checkpoint, save_checkpoint
from lprnn.datasets import cache, digits
from lprnn.snn import export
from lprnn.snn import map_network
from lprnn.snn.network import LoihiNetwork, validate_network
from lprnn.snn.simulator import simulate
from tests.test_loihi import small_model, smooth_input


@pytest.fixture(scope="module")
def network() -> LoihiNetwork:
    return map_network(small_model(), 2)


def _layer(net: LoihiNetwork, index: int, **changes) -> LoihiNetwork:
    layers = list(net.layers)
    layers[index] = replace(layers[index], **changes)
    return replace(net, layers=layers)


# -- the validator, in memory (simulate calls it first) ---------------------------------------

@pytest.mark.parametrize("change, match", [
    (lambda n: _layer(n, 0, bias_exp=63), r"layers.0.bias_exp=63, expected an integer \[0, 7\]"),
    (lambda n: _layer(n, 0, bias_exp=64), r"layers.0.bias_exp=64"),
    (lambda n: _layer(n, 1, weight_exp=63),
     r"layers.1.weight_exp=63, expected an integer \[-8, 7\]"),
    (lambda n: _layer(n, 1, recurrent_weight_exp=-9), r"layers.1.recurrent_weight_exp=-9"),
    (lambda n: _layer(n, 0, weights=n.layers[0].weights.astype(np.float64) + 0.4),
     r"layers.0.weights has dtype float64, expected integers"),
    (lambda n: _layer(n, 0, weights=np.full_like(n.layers[0].weights, 300)),
     r"layers.0.weights: value 300 at \(0, 0\) outside \[-256, 255\]"),
    (lambda n: _layer(n, 0, bias_mantissa=np.full_like(n.layers[0].bias_mantissa, 5000)),
     r"layers.0.bias_mantissa: value 5000"),
    (lambda n: _layer(n, 1, recurrent_delay=64),
     r"layers.1.recurrent_delay=64, expected an integer \[0, 63\]"),
    (lambda n: _layer(n, 1, state_scale=math.nan), r"layers.1.state_scale=nan"),
    (lambda n: _layer(n, 0, neuron=replace(n.layers[0].neuron, decay_v=5000)),
     r"layers.0.neuron: decay_v=5000"),
    (lambda n: replace(n, steps_per_ann_step=10.7),
     r"steps_per_ann_step=10.7, expected an integer ≥ 1"),
    (lambda n: replace(n, steps_per_ann_step=0), r"steps_per_ann_step=0"),
    (lambda n: replace(n, input_scale=math.nan), r"input_scale=nan, expected a finite number > 0"),
    (lambda n: replace(n, input_scale=-3.0), r"input_scale=-3.0"),
    (lambda n: replace(n, input_scale=math.inf), r"input_scale=inf"),
    (lambda n: replace(n, readout=replace(n.readout, weights=n.readout.weights.astype(float))),
     r"readout.weights has dtype float64"),
    (lambda n: _layer(n, 1, weights=n.layers[1].weights[:, :3]),
     r"layers.1.weights has shape \(10, 3\), expected \(10, 8\)"),
    (lambda n: replace(n, averaging="middle"), r"averaging='middle'"),
])
def test_out_of_range_fields_are_refused_before_simulating(network, change, match):
    bad = change(network)
    with pytest.raises(ValueError, match=match):
        validate_network(bad)
    with pytest.raises(ValueError, match=match):
        simulate(bad, smooth_input(batch=1, steps=3))


def test_the_mapped_network_passes_and_names_the_layer(network):
    assert validate_network(network) is network
    with pytest.raises(ValueError,
                       match=r"^somewhere: layers.1.bias_exp=8.*\(layer 'rnn_layers.0'\)"):
        validate_network(_layer(network, 1, bias_exp=8), where="somewhere")


@pytest.mark.lava
def test_lava_check_network_calls_the_common_validator(network):
    from lprnn.snn.lava import formats

    with pytest.raises(ValueError, match=r"steps_per_ann_step=10.7"):
        formats.check_network(replace(network, steps_per_ann_step=10.7))


# -- LoihiNetwork.load: crafted files ---------------------------------------------------------

def _edit_json(stem: Path, edit) -> None:
    path = stem.with_suffix(".json")
    meta = json.loads(path.read_text())
    edit(meta)
    path.write_text(json.dumps(meta))


def _set(meta: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    target = meta
    for name in parents:
        target = target[int(name)] if isinstance(target, list) else target[name]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value


@pytest.mark.parametrize("field, value, match", [
    ("layers.0.bias_exp", 63, r"layers.0.bias_exp=63"),
    ("layers.0.bias_exp", 64, r"layers.0.bias_exp=64"),
    ("layers.1.weight_exp", 63, r"layers.1.weight_exp=63"),
    ("layers.1.weight_exp", 2.5, r"layers.1.weight_exp=2.5"),
    ("steps_per_ann_step", 10.7, r"steps_per_ann_step=10.7"),
    ("input_scale", math.nan, r"input_scale=nan"),
    ("input_scale", -1.0, r"input_scale=-1.0"),
    ("layers.1.neuron.decay_fb", 4097, r"layers.1.neuron: decay_fb=4097"),
    ("layers.0.weight_exp", KeyError, r"field 'layers.0.weight_exp' missing"),
    ("layers.0.neuron.tau", 3, r"field 'layers.0.neuron' has unknown entries \['tau'\]"),
    ("layers", "none", r"field 'layers' is 'none', expected a list"),
    ("format", "other-v9", r"format 'other-v9'"),
])
def test_an_edited_network_file_names_the_file_and_the_field(network, tmp_path, field, value,
                                                              match):
    stem = network.save(tmp_path / "net")
    assert LoihiNetwork.load(stem).steps_per_ann_step == network.steps_per_ann_step
    _edit_json(stem, lambda meta: _set(meta, field, value))
    with pytest.raises(ValueError, match=match) as info:
        LoihiNetwork.load(stem)
    assert str(tmp_path / "net") in str(info.value)


def test_corrupt_truncated_or_incomplete_network_files(network, tmp_path):
    stem = network.save(tmp_path / "net")
    npz, js = stem.with_suffix(".npz"), stem.with_suffix(".json")
    good_npz, good_json = npz.read_bytes(), js.read_text()
    js.write_text(good_json[: len(good_json) // 2])
    with pytest.raises(ValueError, match=f"{js}: not valid JSON"):
        LoihiNetwork.load(stem)
    js.write_text(good_json)
    npz.write_bytes(good_npz[: len(good_npz) // 2])
    with pytest.raises(ValueError, match=f"{npz}: not a readable .npz"):
        LoihiNetwork.load(stem)
    with np.load(_rewrite(npz, good_npz)) as archive:
        arrays = {k: archive[k] for k in archive.files}
    arrays.pop("layers.1.bias_mantissa")
    np.savez(npz, **arrays)
    with pytest.raises(ValueError, match=f"{npz}: array 'layers.1.bias_mantissa' missing"):
        LoihiNetwork.load(stem)
    arrays["layers.1.bias_mantissa"] = np.zeros(10) + 0.5
    np.savez(npz, **arrays)
    with pytest.raises(ValueError, match="layers.1.bias_mantissa has dtype float64"):
        LoihiNetwork.load(stem)


def _rewrite(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# -- netx HDF5 ---------------------------------------------------------------------------------

def test_corrupt_or_edited_netx_files_name_the_file_and_the_field(network, tmp_path):
    h5py = pytest.importorskip("h5py")
    path = export.save_netx(network, tmp_path / "net.h5")
    good = path.read_bytes()
    assert export.load_netx(path).layers[1].bias_exp == network.layers[1].bias_exp
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match=f"{path}: not a readable HDF5 file"):
        export.load_netx(path)
    for edit, match in [
        (lambda f: f["layer/1/biasExp"].__setitem__((), 63), r"layers.0.bias_exp=63"),
        (lambda f: f.attrs.__setitem__("steps_per_ann_step", 10.7), r"steps_per_ann_step=10.7"),
        (lambda f: f.attrs.__setitem__("input_scale", np.nan), r"input_scale=nan"),
        (lambda f: f["layer/2"].__delitem__("wgtExp"), r"/layer/2/wgtExp missing"),
        (lambda f: f["layer"].__delitem__("1"), r"/layer/1 missing"),
        (lambda f: f.attrs.__delitem__("input_scale"), r"root attribute 'input_scale' missing"),
        (lambda f: f.attrs.__setitem__("format", "foreign"), r"format 'foreign'"),
    ]:
        path.write_bytes(good)
        with h5py.File(path, "r+") as f:
            edit(f)
        with pytest.raises(ValueError, match=match) as info:
            export.load_netx(path)
        assert str(path) in str(info.value)
    path.write_bytes(good)
    with h5py.File(path, "r+") as f:
        del f["layer/1/wgtExp"]
        f["layer/1/wgtExp"] = 1.5      # a float exponent is refused, not truncated to 1
    with pytest.raises(ValueError, match=r"layers.0.weight_exp=1.5"):
        export.load_netx(path)


# -- checkpoints -------------------------------------------------------------------------------

def _tiny_model() -> LpRNNClassifier:
    return LpRNNClassifier(ModelConfig(n_inputs=4, ff_size=5, rnn_sizes=(6,), n_classes=3))


def test_corrupt_foreign_or_incomplete_checkpoints(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", _tiny_model(), note="x")
    assert load_checkpoint(path)[1] == {"note": "x"}
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match=f"checkpoint {path} is corrupt"):
        load_checkpoint(path)
    payload = torch.load(_rewrite(path, good), weights_only=True)
    for field, value, match in [
        ("info", None, r"field 'info' is missing"),
        ("config", "{not json", r"field 'config' or 'info' is not JSON"),
        ("config", json.dumps({"n_inputs": 4, "hidden": 3}), r"field 'config'"),
        ("state_dict", {"lpff.linear.weight": torch.zeros(2, 2)}, r"tensors do not fit"),
    ]:
        crafted = dict(payload)
        if value is None:
            crafted.pop(field)
        else:
            crafted[field] = value
        torch.save(crafted, path)
        with pytest.raises(ValueError, match=match) as info:
            load_checkpoint(path)
        assert str(path) in str(info.value)
    torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(ValueError, match="expected an 'lprnn-checkpoint-v1' file"):
        load_checkpoint(path)


# -- non-finite inputs -------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_mapper_refuses_non_finite_calibration(bad):
    calibration = smooth_input(batch=2, steps=4)
    calibration[1, 2, 3] = bad
    with pytest.raises(ValueError, match="NaN/inf"):
        map_network(small_model(), 2, calibration=calibration)


# -- feature cache -----------------------------------------------------------------------------

def test_a_corrupt_or_incomplete_feature_cache_is_recomputed_with_a_warning(tmp_path,
                                                                            monkeypatch):
    monkeypatch.setenv("LPRNN_DATA_DIR", str(tmp_path))
    key = dict(split="test", n_mels=80)
    calls = []

    def compute():
        calls.append(1)
        return dict(features=torch.arange(6.0).reshape(2, 3), labels=torch.tensor([0, 1]))

    first = cache.cached_features("demo", key, compute)
    path = cache.cache_path("demo", key)
    good = path.read_bytes()
    crafted = [
        (lambda: path.write_bytes(good[: len(good) // 2]), f"feature cache {path}: unreadable"),
        (lambda: torch.save(dict(features=first["features"]), path),
         r"tensor 'labels' is None, its record says"),
        (lambda: torch.save(dict(first, labels=torch.tensor([0, 1, 2])), path),
         r"tensor 'labels' is .*\[3\].*its record says .*\[2\]"),
        (lambda: torch.save([1, 2], path), "does not hold a dict of tensors"),
        (lambda: path.with_suffix(".json").write_text("{"), "record .*: not readable JSON"),
    ]
    for n, (corrupt, match) in enumerate(crafted, start=2):
        corrupt()
        with pytest.warns(UserWarning, match=match):
            again = cache.cached_features("demo", key, compute)
        assert len(calls) == n and torch.equal(again["labels"], first["labels"])
        assert torch.equal(cache.cached_features("demo", key, compute)["features"],
                           first["features"])   # repaired: read without recomputing
        assert len(calls) == n


# -- digits cache and manifest -----------------------------------------------------------------

def _fake_generate(config, progress=True):
    counts = dict(train=3, val=2, test=2)
    data = {split: dict(features=np.zeros((n, 4, 80), np.float16),
                        labels=np.arange(n, dtype=np.int64), speakers=np.zeros(n, np.int64))
            for split, n in counts.items()}
    manifest = dict(name="digits", key=digits.cache_key(config), classes=digits.CLASSES,
                    counts=counts, n_steps=4, n_features=80)
    return data, manifest


def test_a_corrupt_digits_cache_or_manifest_is_regenerated_with_a_warning(tmp_path,
                                                                          monkeypatch):
    calls = []

    def generate(config, progress=True):
        calls.append(1)
        return _fake_generate(config)

    monkeypatch.setattr(digits, "generate", generate)
    config = digits.make_config(quick=True)
    features_path, manifest_path = digits.cache_paths(config, tmp_path)
    arrays, _ = digits.load_arrays(config, "val", tmp_path)
    assert arrays["features"].shape == (2, 4, 80) and len(calls) == 1
    good_npz, good_manifest = features_path.read_bytes(), manifest_path.read_text()
    manifest = json.loads(good_manifest)
    crafted = [
        (lambda: manifest_path.write_text(good_manifest[:40]), "not readable JSON"),
        (lambda: manifest_path.write_text(json.dumps(dict(manifest, key="0" * 12))),
         "field 'key' is '000000000000'"),
        (lambda: manifest_path.write_text(json.dumps({k: v for k, v in manifest.items()
                                                      if k != "counts"})),
         "field 'counts' is missing"),
        (lambda: manifest_path.write_text(json.dumps(dict(manifest, n_steps=5))),
         r"array 'val_features' is float16 \(2, 4, 80\), expected floating \(2, 5, 80\)"),
        (lambda: features_path.write_bytes(good_npz[: len(good_npz) // 2]), "not a readable .npz"),
    ]
    for n, (corrupt, match) in enumerate(crafted, start=2):
        features_path.write_bytes(good_npz)
        manifest_path.write_text(good_manifest)
        corrupt()
        with pytest.warns(UserWarning, match=f"{match}.*; regenerating the digits cache"):
            arrays, _ = digits.load_arrays(config, "val", tmp_path)
        assert arrays["features"].shape == (2, 4, 80) and len(calls) == n
    digits.load_arrays(config, "test", tmp_path)
    assert len(calls) == len(crafted) + 1    # the regenerated cache is whole again


def test_a_feature_cache_entry_of_the_first_form_is_read_and_described(tmp_path, monkeypatch):
    monkeypatch.setenv("LPRNN_DATA_DIR", str(tmp_path))
    key = dict(split="test", n_mels=80)
    path = cache.cache_path("demo", key)
    path.parent.mkdir(parents=True)
    torch.save(dict(features=torch.ones(2)), path)
    path.with_suffix(".json").write_text(json.dumps(key, sort_keys=True, indent=1) + "\n")

    def compute():
        raise AssertionError("an intact entry of the first form was recomputed")

    assert torch.equal(cache.cached_features("demo", key, compute)["features"], torch.ones(2))
    record = json.loads(path.with_suffix(".json").read_text())
    assert record == dict(key=key, tensors=dict(features=dict(dtype="torch.float32", shape=[2])))
