"""The ANN → SNN mapper: exact weights, decays, scales without saturation, report, rejections."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lprnn.core import hardware
from lprnn.snn import map_network
from lprnn.snn.mapper import DEFAULT_SPIKE_BITS, MappingError, feedforward_decay, mapping_report
from lprnn.ann.model import LpRNNClassifier, ModelConfig
from lprnn.snn.network import LoihiNetwork
from lprnn.snn import simulate


def small_model(seed: int = 0, **options) -> LpRNNClassifier:
    """A random 3-bit lpRNN whose units are active (positive biases)."""
    torch.manual_seed(seed)
    config = dict(n_inputs=6, ff_size=8, rnn_sizes=(10,), n_classes=3)
    model = LpRNNClassifier(ModelConfig(**{**config, **options})).eval()
    with torch.no_grad():
        for layer in model.quantized_layers().values():
            layer.weight.uniform_(-0.6, 0.6)
            if layer.bias is not None:
                layer.bias.uniform_(0.0, 0.6)
    return model


def smooth_input(batch: int = 4, steps: int = 30, features: int = 6, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, steps, features, generator=generator)
    for t in range(1, steps):  # a slowly varying signal, like successive spectrogram frames
        x[:, t] = 0.7 * x[:, t - 1] + 0.3 * x[:, t]
    return 2 * x


def test_weights_are_exact_integer_multiples_of_the_ann_weights():
    model = small_model()
    network = map_network(model, 10, calibration=smooth_input())
    params = model.effective_parameters()
    keys = {"lpff": ("lpff.linear.weight", None),
            "rnn_layers.0": ("rnn_layers.0.linear.weight", "rnn_layers.0.linear_hh.weight")}
    for layer in network.layers:
        scale = network.metadata["layers"][layer.name]["weight_scale"]
        w_key, u_key = keys[layer.name]
        back = layer.weights.astype(np.float64) * 2.0 ** layer.weight_exp / scale
        np.testing.assert_array_equal(back, params[w_key].double().numpy())
        assert (layer.weights % 2 == 0).all()  # mixed-sign Lava weights are even
        assert layer.weights.min() >= hardware.WEIGHT_MIN and layer.weights.max() <= hardware.WEIGHT_MAX
        if u_key:
            back = layer.recurrent_weights.astype(np.float64) * 2.0 ** layer.recurrent_weight_exp / scale
            np.testing.assert_array_equal(back, params[u_key].double().numpy())
    assert network.readout.weights.dtype == np.int32
    q_out = (params["out.linear.weight"].numpy() * 8).astype(np.int64)
    np.testing.assert_array_equal(network.readout.weights, q_out)  # decoded readout: R = 1
    counts = map_network(model, 10, readout="spike_counts")
    np.testing.assert_array_equal(counts.readout.weights, q_out * 2 ** 10)


def test_decays_follow_the_retention_ratio():
    assert feedforward_decay(0.8, 10) == round(4096 * (1 - 0.8 ** 0.1)) == 90
    network = map_network(small_model(), 10)
    first, hidden = network.layers
    assert first.neuron.decay_in == 4096 and hidden.neuron.decay_in == hidden.neuron.decay_fb == 90
    for layer in network.layers:  # the half-step comparator
        assert layer.neuron.decay_ip == 90
        assert layer.neuron.threshold == -layer.neuron.feedback_weight // 2
    assert math.isclose(network.metadata["effective_retention_ratio"], 0.8, rel_tol=5e-3)
    # The reconstruction ceiling (a full payload P every step) is a_max in ANN units.
    for layer in network.layers:
        assert layer.neuron.payload_max == 2 ** DEFAULT_SPIKE_BITS - 1  # graded by default
        ceiling = (-layer.neuron.feedback_weight * layer.neuron.payload_max * 4096
                   / layer.neuron.decay_fb / layer.state_scale)
        assert math.isclose(ceiling, 6.0, rel_tol=1e-4)


def test_calibrated_mapping_keeps_the_requested_headroom():
    x = smooth_input()
    network = map_network(small_model(), 10, calibration=x, headroom_bits=2.0)
    result = simulate(network, x, track_state_max=True)
    assert all(bits >= 2.0 for bits in result.headroom_bits().values())
    report = mapping_report(network)
    assert list(report.index) == ["lpff", "rnn_layers.0"]
    assert (report["weight_error_max"] == 0).all()
    assert (report["headroom_bits"] >= 2.0).all()
    assert report.loc["rnn_layers.0", "synapses"] == (
        np.count_nonzero(network.layers[1].weights) + np.count_nonzero(network.layers[1].recurrent_weights))
    assert report["fits_one_core"].all()
    assert (report["bias_error_max"] < 1e-3).all()


def test_uncalibrated_mapping_uses_worst_case_bounds():
    network = map_network(small_model(), 10, input_bound=4.0)
    result = simulate(network, smooth_input(), track_state_max=True)  # |x| mostly within 4
    assert max(result.state_max.values()) < hardware.STATE_MAX


def test_papers_neuron_variant():
    network = map_network(small_model(), 10, activation_clamp="state", threshold="zero")
    assert all(layer.neuron.drive_max is None and layer.neuron.threshold == 0
               for layer in network.layers)
    drive = map_network(small_model(), 10)
    assert all(layer.neuron.drive_max > 0 for layer in drive.layers)


@pytest.mark.parametrize("bits", [2, 3, 5])
def test_graded_spikes_make_the_step_finer_by_their_payload(bits):
    """spike_bits b: payload P = 2^b − 1, feedback weight and quantization step P times
    smaller (to rounding), the same decays and ceiling; the exact bounds still hold."""
    x = smooth_input()
    binary = map_network(small_model(), 10, calibration=x, spike_bits=1)
    graded = map_network(small_model(), 10, calibration=x, spike_bits=bits)
    payload = 2 ** bits - 1
    assert graded.metadata["spike_bits"] == bits and binary.metadata["spike_bits"] == 1
    assert graded.metadata["quantization_step"] == pytest.approx(
        binary.metadata["quantization_step"] / payload)
    for b, g in zip(binary.layers, graded.layers):
        assert g.neuron.payload_max == payload and b.neuron.payload_max == 1
        assert (g.neuron.decay_ip, g.neuron.decay_fb) == (b.neuron.decay_ip, b.neuron.decay_fb)
        ceiling = -g.neuron.feedback_weight * payload * hardware.DECAY_UNITY / g.neuron.decay_fb
        assert ceiling / g.state_scale == pytest.approx(small_model().config.a_max, rel=1e-3)
    result = simulate(graded, x, track_state_max=True, record=True)
    assert max(result.state_max.values()) < hardware.STATE_MAX
    assert max(int(s.max()) for s in result.spikes.values()) > 1


def test_too_many_spike_bits_for_the_state_range_says_so():
    """With 8-bit payloads the smallest exact weight scale of this model's hidden layer would
    saturate its synaptic current: the error names the layer and the remedy."""
    with pytest.raises(MappingError, match="layer rnn_layers.0.*try fewer spike_bits"):
        map_network(small_model(), 10, spike_bits=8)


@pytest.mark.parametrize("spike_bits", [1, 3])
def test_mapped_network_round_trips_through_files(tmp_path, spike_bits):
    x = smooth_input(batch=2, steps=12)
    network = map_network(small_model(), 4, calibration=x, spike_bits=spike_bits)
    loaded = LoihiNetwork.load(network.save(tmp_path / "net"))
    a, b = simulate(network, x), simulate(loaded, x)
    assert torch.equal(a.logits, b.logits)
    assert all(torch.equal(a.spike_counts[n], b.spike_counts[n]) for n in a.spike_counts)
    assert loaded.layers[0].neuron == network.layers[0].neuron
    assert loaded.layers[1].recurrent_delay == network.layers[1].recurrent_delay == 2
    assert loaded.readout.source == "decoded"


@pytest.mark.parametrize("k,match", [(0, "at least 1"), (2.5, "integer"), (True, "integer"),
                                     (5000, "too large")])
def test_rejects_bad_steps_per_ann_step(k, match):
    with pytest.raises(MappingError, match=match):
        map_network(small_model(), k)


def test_rejects_k_too_small_for_the_retention_ratio():
    model = small_model(retention_ratio=1e-6)
    with pytest.raises(MappingError, match="too small"):
        map_network(model, 1)


def test_rejects_float_weights():
    with pytest.raises(MappingError, match="weight_frac_bits=None"):
        map_network(small_model(weight_frac_bits=None), 10)


def test_rejects_weights_off_the_grid():
    class OffGrid(LpRNNClassifier):
        def effective_parameters(self):
            params = super().effective_parameters()
            params["rnn_layers.0.linear_hh.weight"][0, 0] = 0.3
            return params

    model = OffGrid(ModelConfig(n_inputs=6, ff_size=8, rnn_sizes=(10,), n_classes=3))
    with pytest.raises(MappingError, match=r"rnn_layers.0: recurrent weight value 0.3"):
        map_network(model, 10)


def test_rejects_weight_too_large_for_an_8_bit_mantissa():
    model = small_model(weight_frac_bits=8)
    with torch.no_grad():
        model.lpff.linear.weight[2, 3] = 0.9  # 230 · 2^-8: c·230 > 254 for every even c
    with pytest.raises(MappingError, match=r"layer lpff: weight mantissa 230"):
        map_network(model, 10)


def test_rejects_a_scale_that_cannot_avoid_saturation():
    model = small_model(n_inputs=4, ff_size=400, rnn_sizes=(4,), weight_int_bits=4)
    with torch.no_grad():
        model.rnn_layers[0].linear.weight.fill_(7.0)  # exact i_in bound: 400·56·c·2^e·4096/d_in
    network = map_network(model, 10, spike_bits=1)    # fits at k = 10 (d_in = 90) ...
    assert network.metadata["layers"]["rnn_layers.0"]["weight_multiplier"] >= 2
    with pytest.raises(MappingError, match="layer rnn_layers.0: avoiding 24-bit saturation"):
        map_network(model, 100, spike_bits=1)        # ... not at d_in = 9: c·2^e < 2
    # graded payloads of up to 7 raise the i_in bound 7-fold: the error names the remedy
    with pytest.raises(MappingError, match="try fewer spike_bits"):
        map_network(model, 10)


def test_rejects_a_bias_beyond_the_mantissa_range():
    model = small_model(weight_int_bits=4)
    with torch.no_grad():  # a drive made of bias only: the scale is set by the bias itself
        model.lpff.linear.weight.zero_()
        model.lpff.linear.bias[1] = 15.0
    with pytest.raises(MappingError, match="layer lpff: bias"):
        map_network(model, 1)


@pytest.mark.parametrize("kwargs,match", [(dict(activation_clamp="relu"), "activation_clamp"),
                                          (dict(threshold="one"), "threshold='one'"),
                                          (dict(readout="logits"), "readout='logits'"),
                                          (dict(recurrent_delay=-2), "recurrent_delay=-2"),
                                          (dict(headroom_bits=-1.0), "headroom_bits"),
                                          (dict(spike_bits=0), "spike_bits=0"),
                                          (dict(spike_bits=9), "spike_bits=9"),
                                          (dict(spike_bits=2.0), "spike_bits=2.0")])
def test_rejects_bad_options(kwargs, match):
    with pytest.raises(MappingError, match=match):
        map_network(small_model(), 10, **kwargs)


def test_rejects_bad_calibration_shape():
    with pytest.raises(ValueError, match="expected"):
        map_network(small_model(), 10, calibration=torch.zeros(2, 5, 7))


def test_calibration_needs_a_simulation_function():
    """The mapper does not import the simulator: calibration inputs need ``state_max``."""
    from lprnn.snn import mapper

    with pytest.raises(MappingError, match="state_max"):
        mapper.map_network(small_model(), 10, calibration=smooth_input())


def _error_against_rate_model(model: LpRNNClassifier, x: torch.Tensor, k: int,
                              **options) -> float:
    """Mean squared error (ANN units) of the recurrent layer's decoded SNN trace against the
    same weights run with the SNN's timing (the SNN's rate limit)."""
    from lprnn.ann.model import with_timing
    result = simulate(map_network(model, k, calibration=x, **options), x, record=True)
    timed = with_timing(model, "snn", k).trace(x)["rnn_layers.0"]
    return float(((result.decoded["rnn_layers.0"] - timed) ** 2).mean())


def test_default_mapping_approaches_its_rate_model_as_k_grows():
    """Decays rounded to nearest (the default): the error falls with the quantization step at
    every k. Truncation biases each hidden i_in by 0.5·4096/d units, which grows as k² against
    the drive: at k = 40 the recurrent layer's error is many times larger than at k = 20."""
    model, x = small_model(), smooth_input(batch=8, steps=30)
    errors = [_error_against_rate_model(model, x, k) for k in (10, 20, 40)]
    assert errors[0] > errors[1] > errors[2], errors
    truncated = [_error_against_rate_model(model, x, k, decay_rounding="truncate")
                 for k in (20, 40)]
    assert truncated[1] > truncated[0] and truncated[1] > 10 * errors[2], (truncated, errors)


def test_decay_rounding_is_recorded_and_checked():
    network = map_network(small_model(), 4)
    assert network.metadata["decay_rounding"] == "nearest"
    assert {layer.neuron.decay_rounding for layer in network.layers} == {"nearest"}
    with pytest.raises(MappingError, match=r"decay_rounding='up': expected one of "
                                           r"\['truncate', 'nearest'\]"):
        map_network(small_model(), 4, decay_rounding="up")


def test_readout_latency_is_the_models_and_checked():
    """The mapping takes the model's readout latency (one ANN step per recurrent layer unless
    set), records it, and refuses an SNN-timed model run with another one."""
    from lprnn.ann.model import with_timing
    model = small_model()                                   # one recurrent layer: m = 1
    assert map_network(model, 4).readout_latency == model.config.snn_readout_latency == 1
    assert map_network(model, 4, readout_latency=0).readout_latency == 0
    with pytest.raises(MappingError, match="readout latency 3, but the mapping asks 1"):
        map_network(with_timing(model, "snn", 4, readout_latency=3), 4, readout_latency=1)
    with pytest.raises(MappingError, match=r"readout_latency=-1: expected an integer ≥ 0"):
        map_network(model, 4, readout_latency=-1)
    network = map_network(model, 4)
    x = smooth_input(batch=2, steps=5)
    assert simulate(network, x).n_snn_steps == (5 + 1) * 4
