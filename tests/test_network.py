"""LoihiNetwork saves to .npz + JSON and loads back identically, with clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lprnn.snn.network import LoihiLayer, LoihiNetwork, LoihiReadout, SigmaDeltaFixedParams


def _network() -> LoihiNetwork:
    rng = np.random.default_rng(0)
    neuron = SigmaDeltaFixedParams(decay_in=409, decay_ip=91, decay_v=0, decay_fb=409,
                                   feedback_weight=-1200, threshold=0)
    layers = [
        LoihiLayer("lpff", rng.integers(-128, 128, (5, 3)).astype(np.int32) * 2, 2,
                   rng.integers(-50, 50, 5).astype(np.int32), 3, neuron, 1024.0),
        LoihiLayer("rnn_layers.0", rng.integers(-128, 128, (4, 5)).astype(np.int32) * 2, 1,
                   rng.integers(-50, 50, 4).astype(np.int32), 0, neuron, 512.0,
                   recurrent_weights=rng.integers(-128, 128, (4, 4)).astype(np.int32) * 2,
                   recurrent_weight_exp=1),
    ]
    readout = LoihiReadout(rng.integers(-4, 5, (2, 4)).astype(np.int32), np.array([3, -2]))
    return LoihiNetwork(layers, readout, steps_per_ann_step=10, input_scale=64.0,
                        metadata={"retention_ratio": 0.8, "sizes": [3, 5, 4]})


def test_round_trip(tmp_path):
    net = _network()
    stem = net.save(tmp_path / "net.npz")
    loaded = LoihiNetwork.load(stem)
    assert loaded.steps_per_ann_step == 10 and loaded.input_scale == 64.0
    assert loaded.metadata == net.metadata
    for a, b in zip(net.layers, loaded.layers):
        assert a.name == b.name and a.neuron == b.neuron and a.state_scale == b.state_scale
        np.testing.assert_array_equal(a.weights, b.weights)
        np.testing.assert_array_equal(a.bias, b.bias)
        assert (a.recurrent_weights is None) == (b.recurrent_weights is None)
    np.testing.assert_array_equal(loaded.layers[1].recurrent_weights, net.layers[1].recurrent_weights)
    np.testing.assert_array_equal(loaded.readout.weights, net.readout.weights)


def test_effective_bias_and_window():
    net = _network()
    np.testing.assert_array_equal(net.layers[0].bias, net.layers[0].bias_mantissa.astype(np.int64) * 8)
    assert net.window_start(20) == 100
    net.averaging = "all"
    assert net.window_start(20) == 0
    net.averaging = "last"
    with pytest.raises(ValueError, match="'last'"):
        net.window_start(20)


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.json"):
        LoihiNetwork.load(tmp_path / "missing")
    stem = _network().save(tmp_path / "net")
    meta = json.loads(stem.with_suffix(".json").read_text())
    meta["format"] = "something-else"
    stem.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="something-else"):
        LoihiNetwork.load(stem)
    stem.with_suffix(".json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        LoihiNetwork.load(stem)
