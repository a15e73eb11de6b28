"""The batched fixed-point simulator: bit-exact against a plain NumPy reference, tracks the ANN."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lprnn.snn import map_network
from lprnn.snn.network import LoihiLayer, LoihiNetwork, LoihiReadout, SigmaDeltaFixedParams
from lprnn.snn.simulator import _Connection, encode_input, simulate
from tests.test_loihi import small_model, smooth_input

STATE_MAX = 2 ** 23 - 1


def reference_simulate(net: LoihiNetwork, x: np.ndarray):
    """One sample, written plainly from docs/METHOD.md (Timing) and the neuron docstring (NumPy int64)."""
    x = np.concatenate([x] + [x[-1:]] * net.readout_latency)   # the readout latency: last frame held
    k, n_ann = net.steps_per_ann_step, x.shape[0]
    x_int = np.round(x.astype(np.float64) * net.input_scale).astype(np.int64)

    def decay(v, d, rounding):   # to nearest: add half of 4096 before flooring the magnitude
        half = 2048 if rounding == "nearest" else 0
        return np.sign(v) * ((np.abs(v) * (4096 - d) + half) // 4096)

    def shift(v, e):
        return v << e if e >= 0 else v >> -e

    states = [{name: np.zeros(layer.n_neurons, np.int64) for name in ("i_in", "i_ip", "v", "i_fb")}
              for layer in net.layers]
    previous = [np.zeros(layer.n_neurons, np.int64) for layer in net.layers]
    spikes_out = [[] for _ in net.layers]
    saturated_steps = [0 for _ in net.layers]   # steps after which a state is at ±STATE_MAX

    def own_spikes(l, n):  # s_l(n − 1 − D_l), zero before the start
        m = n - 1 - net.layers[l].recurrent_delay
        return spikes_out[l][m].astype(np.int64) if m >= 0 else np.zeros(net.layers[l].n_neurons, np.int64)

    window, window_counts = net.window_start(n_ann), np.zeros(net.layers[-1].n_neurons, np.int64)
    for n in range(n_ann * k):
        current = []
        for l, layer in enumerate(net.layers):
            w = layer.weights.astype(np.int64)
            if l == 0:
                source = x_int[(n - 1) // k] if n >= 1 else np.zeros(layer.n_inputs, np.int64)
            else:
                source = previous[l - 1]
            a = shift(w @ source, layer.weight_exp)
            if layer.recurrent_weights is not None:
                a = a + shift(layer.recurrent_weights.astype(np.int64) @ own_spikes(l, n),
                              layer.recurrent_weight_exp)
            p, s = layer.neuron, states[l]
            s["i_in"] = np.clip(decay(s["i_in"], p.decay_in, p.decay_rounding) + a, -STATE_MAX, STATE_MAX)
            u = s["i_in"] + layer.bias
            if p.drive_max is not None:
                u = np.clip(u, 0, p.drive_max)
            s["i_ip"] = np.clip(decay(s["i_ip"], p.decay_ip, p.decay_rounding) + u, 0, STATE_MAX)
            s["v"] = np.clip(decay(s["v"], p.decay_v, p.decay_rounding) + s["i_ip"] + s["i_fb"], 0, STATE_MAX)
            fired = s["v"] > p.threshold
            if p.payload_max > 1:   # graded: steps |w_fb| by which v exceeds θ, at most P
                fired = np.where(fired, np.minimum(
                    p.payload_max, np.ceil((s["v"] - p.threshold) / -p.feedback_weight)
                ).astype(np.int64), 0)
            s["v"][fired > 0] = 0
            s["i_fb"] = np.clip(decay(s["i_fb"], p.decay_fb, p.decay_rounding) + p.feedback_weight * fired,
                                -STATE_MAX, STATE_MAX)
            current.append(fired.astype(np.int64))
            spikes_out[l].append(fired)
            saturated_steps[l] += any(np.any(np.abs(value) == STATE_MAX) for value in s.values())
        previous = current
        if n >= window:  # the readout's source: spikes, or the reconstruction −i_fb
            window_counts += previous[-1] if net.readout.source == "spike_counts" else -states[-1]["i_fb"]
    logits = net.readout.weights.astype(np.int64) @ window_counts + \
        net.readout.bias * (n_ann * k - window)
    return logits, [np.array(s) for s in spikes_out], saturated_steps


def random_network(seed: int, sizes: tuple[int, ...] = (3, 5, 4),
                   payload_max: int = 1, decay_rounding: str = "truncate") -> LoihiNetwork:
    """Arbitrary integers (negative exponents, saturating drives, both clamp variants,
    recurrent delays) on layers of ``sizes`` (inputs first); spikes with payloads up to
    ``payload_max`` (1: binary); decays rounded as ``decay_rounding``."""
    rng = np.random.default_rng(seed)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        neuron = SigmaDeltaFixedParams(
            decay_in=int(rng.integers(0, 4097)), decay_ip=int(rng.integers(1, 4097)),
            decay_v=int(rng.choice([0, 4096])), decay_fb=int(rng.integers(1, 4097)),
            feedback_weight=-int(rng.integers(1, 2 ** 22)), threshold=int(rng.choice([0, 1000])),
            drive_max=None if i == 0 else int(rng.integers(1, 2 ** 23)),
            payload_max=payload_max, decay_rounding=decay_rounding)
        layers.append(LoihiLayer(
            f"layer{i}", rng.integers(-128, 128, (n_out, n_in)).astype(np.int32) * 2,
            int(rng.integers(-3, 8)), rng.integers(-4000, 4000, n_out).astype(np.int32),
            int(rng.integers(0, 8)), neuron, 1000.0,
            recurrent_weights=None if i == 0 else rng.integers(-128, 128, (n_out, n_out)).astype(np.int32) * 2,
            recurrent_weight_exp=int(rng.integers(-2, 8)), recurrent_delay=int(rng.integers(0, 4))))
    readout = LoihiReadout(rng.integers(-50, 50, (2, sizes[-1])).astype(np.int32),
                           rng.integers(-99, 99, 2))
    return LoihiNetwork(layers, readout, steps_per_ann_step=3, input_scale=float(rng.choice([1.0, 300.0, 5e4])))


def _assert_matches_reference(net: LoihiNetwork, x: torch.Tensor, backend: str = "auto") -> None:
    result = simulate(net, x, record=True, batch_size=2, backend=backend, allow_saturation=True)
    for b in range(x.shape[0]):
        logits, spikes, saturated_steps = reference_simulate(net, x[b].numpy())
        assert result.logits[b].tolist() == logits.tolist()
        for layer, expected, saturated in zip(net.layers, spikes, saturated_steps):
            assert np.array_equal(result.spikes[layer.name][b].numpy(), expected)
            assert result.spike_counts[layer.name][b].tolist() == (expected > 0).sum(0).tolist()
            assert int(result.saturated_steps[layer.name][b]) == saturated


@pytest.mark.parametrize("decay_rounding", ["truncate", "nearest"])
@pytest.mark.parametrize("backend", ["kernel", "torch"])
@pytest.mark.parametrize("seed", range(3))
def test_bit_exact_against_numpy_reference_random_integers(seed, backend, decay_rounding):
    net = random_network(seed, decay_rounding=decay_rounding)
    x = torch.randn(3, 7, 3, generator=torch.Generator().manual_seed(seed)) * 4
    _assert_matches_reference(net, x, backend)


@pytest.mark.parametrize("backend", ["kernel", "torch"])
@pytest.mark.parametrize("seed", range(3))
def test_graded_spikes_bit_exact_against_numpy_reference(seed, backend):
    """Graded spikes (payloads up to 7) on both paths; payloads above one step occur."""
    net = random_network(seed, payload_max=7)
    if seed % 2:
        net.readout.source = "spike_counts"   # sums payloads, not events
    x = torch.randn(3, 7, 3, generator=torch.Generator().manual_seed(seed)) * 4
    _assert_matches_reference(net, x, backend)
    spikes = simulate(net, x, record=True, backend=backend, allow_saturation=True).spikes
    assert max(int(s.max()) for s in spikes.values()) > 1


@pytest.mark.parametrize("backend", ["kernel", "torch"])
@pytest.mark.parametrize("options", [dict(), dict(activation_clamp="state", threshold="zero",
                                                  readout="spike_counts", recurrent_delay=0)])
def test_bit_exact_against_numpy_reference_mapped_network(options, backend):
    x = smooth_input(batch=3, steps=8)
    net = map_network(small_model(), 3, calibration=x, **options)
    _assert_matches_reference(net, x, backend)


def test_snn_tracks_the_ann():
    """Decoded SNN activations follow the ANN's (k = 10): correlation ≥ 0.97 and mean absolute
    error below 0.1 (activations are in [0, 6]; one ΣΔ quantization step is 0.13)."""
    model = small_model()
    x = smooth_input(batch=6, steps=40)
    net = map_network(model, 10, calibration=x)
    result = simulate(net, x, record=True)
    with torch.no_grad():   # the ANN on the input the SNN runs: its last frame held m steps
        trace = model.trace(torch.cat([x] + [x[:, -1:]] * net.readout_latency, 1))
    for name, decoded in result.decoded.items():
        ann = trace[name]
        assert decoded.shape == ann.shape
        correlation = np.corrcoef(ann.flatten().numpy(), decoded.flatten().numpy())[0, 1]
        assert correlation >= 0.97, (name, correlation)
        assert (decoded - ann).abs().mean() < 0.1, name


def test_batching_does_not_change_results():
    x = smooth_input(batch=5, steps=10)
    net = map_network(small_model(), 4, calibration=x)
    a, b = simulate(net, x, batch_size=5), simulate(net, x, batch_size=2)
    assert torch.equal(a.logits, b.logits) and torch.equal(a.synaptic_ops, b.synaptic_ops)
    assert a.spikes is None and a.decoded is None
    assert a.predictions.tolist() == a.logits.argmax(1).tolist()
    assert a.n_snn_steps == (10 + net.readout_latency) * 4 == 44   # one recurrent layer: m = 1


def test_synaptic_ops_count_fan_out_of_every_event():
    x = smooth_input(batch=2, steps=6)
    net = map_network(small_model(), 3, calibration=x)
    result = simulate(net, x, record=True)
    first, hidden = net.layers
    fan_first = np.count_nonzero(hidden.weights, axis=0)            # lpff → rnn_layers.0
    fan_hidden = (np.count_nonzero(hidden.recurrent_weights, axis=0)
                  + np.count_nonzero(net.readout.weights, axis=0))  # recurrent + readout
    fan_input = np.count_nonzero(first.weights, axis=0)
    x_int = encode_input(net, x).numpy()
    for b in range(2):
        expected = (3 * ((x_int[b] != 0) @ fan_input).sum()
                    + ((result.spikes["lpff"][b].numpy() != 0) @ fan_first).sum()
                    + ((result.spikes["rnn_layers.0"][b].numpy() != 0) @ fan_hidden).sum())
        assert int(result.synaptic_ops[b]) == int(expected)


def test_float64_fallback_keeps_large_row_sums_exact():
    # 254 · 139999 = 35_559_746 > 2**25, ≡ 2 (mod 4): float32 (spacing 4 there) cannot hold it.
    weights = np.full((1, 139_999), 254, np.int32)
    connection = _Connection(weights, 1, torch.device("cpu"))
    assert connection.weight_t.dtype == torch.float64
    out = connection(torch.ones(1, 139_999, dtype=torch.bool))
    assert out.tolist() == [[35_559_746 * 2]]
    small = _Connection(np.full((3, 4), -256, np.int32), -3, torch.device("cpu"))
    assert small.weight_t.dtype == torch.float32
    assert small(torch.tensor([[True, False, True, True]])).tolist() == [[-96] * 3]  # floor(-768/8)


@pytest.mark.parametrize("x,error,match", [
    (torch.zeros(2, 5, 7), ValueError, "expected \\[batch, time, 6\\]"),
    (torch.zeros(2, 6), ValueError, "expected \\[batch, time, 6\\]"),
    (torch.zeros(2, 5, 6, dtype=torch.int64), TypeError, "float tensor"),
    (torch.full((1, 2, 6), 1e9), ValueError, "graded spike range"),
    (torch.zeros(1, 2, 6).index_put_((torch.tensor(0), torch.tensor(1), torch.tensor(4)),
                                     torch.tensor(float("nan"))),
     ValueError, "1 non-finite values \\(the first, nan, at \\[batch, time, feature\\] = \\[0, 1, 4\\]"),
    (torch.full((1, 2, 6), -float("inf")), ValueError, "12 non-finite values \\(the first, -inf"),
])
def test_input_errors(x, error, match):
    net = map_network(small_model(), 2)
    with pytest.raises(error, match=match):
        simulate(net, x)


def test_network_and_option_errors():
    net = map_network(small_model(), 2)
    x = smooth_input(batch=1, steps=3)
    with pytest.raises(ValueError, match="batch_size=0"):
        simulate(net, x, batch_size=0)
    net.readout = LoihiReadout(np.zeros((3, 4), np.int32), np.zeros(3, np.int64))
    with pytest.raises(ValueError, match=r"readout.weights has shape \(3, 4\), expected \(3, 10\)"):
        simulate(net, x)
    net.readout = LoihiReadout(np.zeros((3, 10), np.int32), np.zeros(3, np.int64), source="rates")
    with pytest.raises(ValueError, match="readout.source='rates'"):
        simulate(net, x)
    with pytest.raises(ValueError, match="track_state_max=True"):
        simulate(map_network(small_model(), 2), x).headroom_bits()
    bad = map_network(small_model(), 2)
    layer = bad.layers[1]
    bad.layers[1] = LoihiLayer(layer.name, layer.weights, layer.weight_exp, layer.bias_mantissa,
                               layer.bias_exp, SigmaDeltaFixedParams(90, 5000, 4096, 90, -10, 0),
                               layer.state_scale, layer.recurrent_weights)
    with pytest.raises(ValueError, match=r"layers.1.neuron: decay_ip=5000.*\(layer 'rnn_layers.0'\)"):
        simulate(bad, x)
    bad.layers[1] = LoihiLayer(layer.name, layer.weights, layer.weight_exp, layer.bias_mantissa,
                               layer.bias_exp, layer.neuron, layer.state_scale,
                               layer.recurrent_weights, recurrent_delay=-1)
    with pytest.raises(ValueError, match=r"layers.1.recurrent_delay=-1.*\(layer 'rnn_layers.0'\)"):
        simulate(bad, x)
