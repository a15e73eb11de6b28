"""The Lava backend: format checks, and Lava's fixed_pt run equal to the simulator, spike for spike.

The two sides are independent implementations of the neuron (the NumPy ProcessModel in
``lprnn.snn.lava.procs.models``, the torch step in ``lprnn.core.sigma_delta``); both are pinned
to Lava's own bit-accurate LIF arithmetic, and a changed rounding on either side fails the
spike-for-spike comparison.

Tests that start Lava processes are marked ``lava`` (select with ``pytest -m lava``).
"""

from __future__ import annotations

import glob
import multiprocessing
import os
import re
from dataclasses import replace

import numpy as np
import pytest
import torch

pytest.importorskip("lava")

from lava.proc.lif.models import PyLifModelBitAcc  # noqa: E402
from lava.utils.weightutils import SignMode, clip_weights, truncate_weights  # noqa: E402

from lprnn import snn  # noqa: E402
from lprnn.core import hardware  # noqa: E402
from lprnn.core import sigma_delta  # noqa: E402
from lprnn.core.sigma_delta import (SigmaDeltaParams, initial_state,  # noqa: E402
                                    sigma_delta_step)
from lprnn.snn.lava.procs import models  # noqa: E402
from lprnn.snn.lava import LavaProcessError, build_graph, run_graph, run_on_lava  # noqa: E402
from lprnn.snn.lava.formats import (  # noqa: E402
    check_network, dense_encoding, encode_inputs, lava_kept_weights)
from lprnn.snn import map_network  # noqa: E402
from lprnn.ann.model import LpRNNClassifier, ModelConfig  # noqa: E402
from lprnn.snn.network import (LoihiLayer, LoihiNetwork, LoihiReadout,  # noqa: E402
                           SigmaDeltaFixedParams)

NEURON = SigmaDeltaFixedParams(decay_in=409, decay_ip=91, decay_v=4096, decay_fb=409,
                               feedback_weight=-1200, threshold=0)


def float_params(neuron: SigmaDeltaFixedParams) -> SigmaDeltaParams:
    """The float parameters of an integer neuron: decays d → d/4096, the rest as floats."""
    return SigmaDeltaParams(
        *(getattr(neuron, name) / hardware.DECAY_UNITY
          for name in ("decay_in", "decay_ip", "decay_v", "decay_fb")),
        float(neuron.feedback_weight), float(neuron.threshold),
        None if neuron.drive_max is None else float(neuron.drive_max), neuron.payload_max)


def _hand_network(k: int = 4, payload_max: int = 1) -> LoihiNetwork:
    rng = np.random.default_rng(0)
    neuron = replace(NEURON, payload_max=payload_max)
    layers = [
        LoihiLayer("lpff", rng.integers(-128, 128, (5, 3)).astype(np.int32) * 2, 2,
                   rng.integers(-50, 50, 5).astype(np.int32), 3, neuron, 1024.0),
        LoihiLayer("rnn_layers.0", rng.integers(-128, 128, (4, 5)).astype(np.int32) * 2, 1,
                   rng.integers(-50, 50, 4).astype(np.int32), 0, neuron, 512.0,
                   recurrent_weights=rng.integers(-128, 128, (4, 4)).astype(np.int32) * 2,
                   recurrent_weight_exp=1),
    ]
    readout = LoihiReadout(rng.integers(-4, 5, (2, 4)).astype(np.int32), np.array([3, -2]))
    return LoihiNetwork(layers, readout, steps_per_ann_step=k, input_scale=64.0)


def _random_network(seed: int, saturating: bool, payload_max: int = 1) -> LoihiNetwork:
    """Exercises every sign mode, positive and negative exponents, recurrence (with and without
    extra recurrent delays, i.e. DelayDense) and, when
    ``saturating``, 24-bit saturation (large biases and inputs); otherwise moderate activity.
    ``payload_max`` > 1: graded spikes with payloads up to it."""
    rng = np.random.default_rng(seed)
    bias_exps = (3, 8) if saturating else (0, 2)
    sizes = [4, 7, 6, 5]
    layers = []
    for i, (n_in, n) in enumerate(zip(sizes[:-1], sizes[1:])):
        kind = ["mixed", "excitatory", "inhibitory"][(i + seed) % 3]
        if kind == "mixed":
            w = rng.integers(-128, 128, (n, n_in)) * 2
        elif kind == "excitatory":
            w = rng.integers(0, 256, (n, n_in))             # odd weights are exact here
        else:
            w = -rng.integers(0, 129, (n, n_in)) * 2        # includes −256 (mixed mode)
            w[0, 0] = -256
        neuron = SigmaDeltaFixedParams(
            decay_in=int(rng.integers(0, 4097)), decay_ip=int(rng.integers(1, 100)),
            decay_v=int(rng.choice([0, 2048, 4096])), decay_fb=int(rng.integers(1, 800)),
            feedback_weight=-int(rng.integers(100, 20_000)),
            threshold=int(rng.choice([0, 1000])),
            drive_max=None if i % 2 else int(rng.integers(1, 2 ** 22)), payload_max=payload_max)
        recurrent = rng.integers(-128, 128, (n, n)).astype(np.int32) * 2 if i > 0 else None
        layers.append(LoihiLayer(
            f"layer{i}", w.astype(np.int32), int(rng.integers(-3, 8)),
            rng.integers(-4095, 4096, n).astype(np.int32), int(rng.integers(*bias_exps)), neuron,
            1.0, recurrent_weights=recurrent, recurrent_weight_exp=int(rng.integers(-2, 8)),
            recurrent_delay=i if recurrent is not None else 0))
    readout = LoihiReadout(rng.integers(-8, 9, (3, sizes[-1])).astype(np.int32),
                           rng.integers(-50, 50, 3))
    return LoihiNetwork(layers, readout, steps_per_ann_step=int(rng.integers(1, 5)),
                        input_scale=3000.0 if saturating else 30.0,
                        averaging=["second_half", "all"][seed % 2])


def _small_state_network(seed: int = 0, decay_rounding: str = "truncate") -> LoihiNetwork:
    """States of a few tens of units (w_fb = −40, negative input exponents), where one unit of
    decay rounding per step changes spikes: the case that tells roundings apart."""
    rng = np.random.default_rng(seed)
    neuron = SigmaDeltaFixedParams(decay_in=1024, decay_ip=300, decay_v=2048, decay_fb=700,
                                   feedback_weight=-40, threshold=3,
                                   decay_rounding=decay_rounding)
    layers = [
        LoihiLayer("lpff", rng.integers(-128, 128, (5, 3)).astype(np.int32) * 2, -4,
                   rng.integers(-8, 8, 5).astype(np.int32), 0, neuron, 1.0),
        LoihiLayer("rnn_layers.0", rng.integers(-128, 128, (4, 5)).astype(np.int32) * 2, -5,
                   rng.integers(-8, 8, 4).astype(np.int32), 0, neuron, 1.0,
                   recurrent_weights=rng.integers(-128, 128, (4, 4)).astype(np.int32) * 2,
                   recurrent_weight_exp=-6),
    ]
    readout = LoihiReadout(rng.integers(-4, 5, (2, 4)).astype(np.int32), np.array([3, -2]))
    return LoihiNetwork(layers, readout, steps_per_ann_step=4, input_scale=8.0)


def _small_state_inputs(seed: int = 0) -> torch.Tensor:
    return torch.randn(2, 6, 3, generator=torch.Generator().manual_seed(seed))


def _assert_equal_to_simulator(network: LoihiNetwork, x: torch.Tensor) -> None:
    """Lava's run equals the simulator's, spike for spike, on both of the simulator's paths:
    the torch step functions and (the default where a compiler exists) the compiled kernel."""
    result = run_on_lava(network, x)
    assert list(result.spikes) == [layer.name for layer in network.layers]
    for backend in ("torch", "auto"):
        reference = snn.simulate(network, x, record=True, backend=backend)
        for layer in network.layers:
            np.testing.assert_array_equal(result.spikes[layer.name],
                                          reference.spikes[layer.name].numpy(),
                                          err_msg=f"spikes of layer {layer.name} ({backend})")
        np.testing.assert_array_equal(result.logits, reference.logits.numpy())
        np.testing.assert_array_equal(result.predictions, reference.predictions.numpy())


def _mapped_shared_memory() -> set[str]:
    """Names of the /dev/shm segments that another live process (one we may read) maps."""
    names = set()
    for maps in glob.glob("/proc/[0-9]*/maps"):
        if maps == f"/proc/{os.getpid()}/maps":   # this test's own mappings count as leftovers
            continue
        try:
            with open(maps) as f:
                names.update(re.findall(r"/dev/shm/(\S+)", f.read()))
        except OSError:   # the process ended, or is not ours to read
            continue
    return names


def _no_leftovers(shm_before: set[str]) -> None:
    """No child process is left, and no shared-memory segment that appeared during the test
    outlives every process but ours (a segment that another live process still maps belongs
    to other work on the machine, e.g. a second test run, not to this test's Lava runtime)."""
    assert multiprocessing.active_children() == []
    new = set(os.listdir("/dev/shm")) - shm_before
    assert new - _mapped_shared_memory() == set()


# -- formats (no Lava process) -------------------------------------------------------------

@pytest.mark.parametrize("mode", ["mixed", "excitatory", "inhibitory"])
def test_kept_weights_equal_lavas_own_clip_and_truncate(mode):
    w = np.random.default_rng(1).integers(-300, 300, (6, 5))
    w = np.abs(w) if mode == "excitatory" else -np.abs(w) if mode == "inhibitory" else w
    sign_mode = SignMode[mode.upper()]
    lava = truncate_weights(clip_weights(w, sign_mode, num_bits=8), sign_mode, 8)
    np.testing.assert_array_equal(lava_kept_weights(w, mode), lava)


def test_dense_encoding_picks_an_exact_sign_mode():
    assert dense_encoding(np.array([[-256, 254], [0, 2]]), 3, "x").sign_mode == "mixed"
    assert dense_encoding(np.array([[255, 1]]), -2, "x").sign_mode == "excitatory"
    assert dense_encoding(np.array([[-255, -1]]), 0, "x").sign_mode == "inhibitory"
    # −256 does not fit the inhibitory mode (which clips at −255) but is exact as mixed
    assert dense_encoding(np.array([[-256, -2]]), 0, "x").sign_mode == "mixed"


@pytest.mark.parametrize("weights, exp, message", [
    (np.array([[3, -2]]), 0, "weight 3 at (0, 0) is odd in a mixed-sign matrix"),
    (np.array([[256, 0]]), 0, "weight 256 at (0, 0) is outside Lava's 8-bit weight range"),
    (np.array([[-258, 2]]), 0, "weight -258 at (0, 0) is outside"),
    (np.array([[2, -2]]), 8, "weight_exp=8 outside Loihi's range"),
    (np.array([[2.0, -2.0]]), 0, "expected integers"),
    (np.array([2, -2]), 0, "expected a non-empty 2-D matrix"),
])
def test_dense_encoding_refuses_what_lava_would_change(weights, exp, message):
    with pytest.raises((ValueError, TypeError), match=message.replace("(", r"\(").replace(")", r"\)")):
        dense_encoding(weights, exp, "layer 'rnn', recurrent weights")


def test_check_network_names_the_layer():
    network = _hand_network()
    network.layers[1].weights[0, 0] = 3
    with pytest.raises(ValueError, match="layer 'rnn_layers.0', feed-forward weights: weight 3"):
        check_network(network)
    network = _hand_network()
    network.layers[0].bias_mantissa[0] = 5000
    with pytest.raises(ValueError, match=r"layers.0.bias_mantissa: value 5000 .*\(layer 'lpff'\)"):
        check_network(network)
    network = _hand_network()
    network.layers[0].bias_exp = 8
    with pytest.raises(ValueError, match=r"layers.0.bias_exp=8.*\(layer 'lpff'\)"):
        check_network(network)
    network = _hand_network()
    network.layers[1].neuron = replace(NEURON, decay_ip=5000)
    with pytest.raises(ValueError, match="decay_ip=5000"):
        check_network(network)
    network = _hand_network()
    network.layers[1].recurrent_weights = np.zeros((3, 3), np.int32)
    with pytest.raises(ValueError, match=r"layers.1.recurrent_weights has shape \(3, 3\), expected \(4, 4\)"):
        check_network(network)
    network = _hand_network()
    network.readout = LoihiReadout(np.zeros((2, 5), np.int32), np.zeros(2, np.int64))
    with pytest.raises(ValueError, match=r"readout.weights has shape \(2, 5\), expected \(2, 4\)"):
        check_network(network)


def test_encode_inputs_refuses_bad_inputs():
    network = _hand_network()
    with pytest.raises(ValueError, match="shape"):
        encode_inputs(network, torch.zeros(2, 5, 4))
    with pytest.raises(TypeError, match="float tensor"):
        encode_inputs(network, torch.zeros(2, 5, 3, dtype=torch.int64))
    network.layers[0].weight_exp = 7
    network.layers[0].weights[:] = 254
    with pytest.raises(ValueError, match="overflows Lava's int32 accumulator"):
        encode_inputs(network, torch.full((1, 2, 3), 10_000.0))
    x_int = encode_inputs(_hand_network(), torch.tensor([[[0.5, -1.0, 2.5 / 64]]]))
    np.testing.assert_array_equal(x_int, [[[32, -64, 2]]])   # round half to even, as simulator


def test_run_on_lava_refuses_before_starting():
    network = _hand_network()
    network.layers[0].weights[1, 1] = 7
    shm_before = set(os.listdir("/dev/shm"))
    with pytest.raises(ValueError, match="layer 'lpff', feed-forward weights: weight 7 at"):
        run_on_lava(network, torch.zeros(1, 2, 3))
    with pytest.raises(ValueError, match="numeric='double'"):
        run_on_lava(_hand_network(), torch.zeros(1, 2, 3), numeric="double")
    _no_leftovers(shm_before)


# -- Lava runs --------------------------------------------------------------------------------

@pytest.mark.lava
def test_mapped_model_equals_simulator_spike_for_spike():
    torch.manual_seed(0)
    model = LpRNNClassifier(ModelConfig(n_inputs=8, ff_size=12, rnn_sizes=(16, 10),
                                        n_classes=4))
    x = torch.randn(3, 7, 8)
    _assert_equal_to_simulator(map_network(model, steps_per_ann_step=5, calibration=x), x)


RANDOM_CASES = [(1, False), (7, False), (1, True), (2, True)]


def _random_inputs(seed: int) -> torch.Tensor:
    return torch.randn(2, 6, 4, generator=torch.Generator().manual_seed(seed)) * 3


@pytest.mark.lava
@pytest.mark.parametrize("seed, saturating", RANDOM_CASES)
def test_random_networks_equal_simulator(seed, saturating):
    _assert_equal_to_simulator(_random_network(seed, saturating), _random_inputs(seed))


GRADED_CASES = [(1, False, 7), (2, True, 3)]


@pytest.mark.lava
@pytest.mark.parametrize("seed, saturating, payload_max", GRADED_CASES)
def test_graded_spike_networks_equal_simulator(seed, saturating, payload_max):
    """Graded spikes: payloads through Dense and DelayDense with message bits, recorded as
    uint8 (the simulator's torch path; its kernel takes binary spikes only)."""
    _assert_equal_to_simulator(_random_network(seed, saturating, payload_max),
                               _random_inputs(seed))


@pytest.mark.parametrize("seed, saturating, payload_max", GRADED_CASES)
def test_graded_spike_networks_are_demanding(seed, saturating, payload_max):
    """Guards the test above: payloads of more than one step, and at the ceiling, occur."""
    result = snn.simulate(_random_network(seed, saturating, payload_max), _random_inputs(seed),
                          record=True, allow_saturation=True)
    payloads = torch.cat([s.flatten() for s in result.spikes.values()]).to(torch.int64)
    assert int((payloads > 1).sum()) > 0 and int((payloads == payload_max).sum()) > 0


@pytest.mark.lava
@pytest.mark.parametrize("decay_rounding", ["truncate", "nearest"])
def test_small_state_network_equals_simulator(decay_rounding):
    _assert_equal_to_simulator(_small_state_network(decay_rounding=decay_rounding),
                               _small_state_inputs())


@pytest.mark.parametrize("seed, saturating", RANDOM_CASES)
def test_random_networks_are_demanding(seed, saturating):
    """Guards the test above: saturating cases hit the 24-bit limit; the others are active
    below it, and their samples spike differently."""
    result = snn.simulate(_random_network(seed, saturating), _random_inputs(seed), record=True,
                          track_state_max=True)
    if saturating:
        assert max(result.state_max.values()) == 2 ** 23 - 1
    else:
        assert max(result.state_max.values()) < 2 ** 23 - 1
        for spikes in result.spikes.values():
            assert 0 < spikes.float().mean() < 1
            assert not torch.equal(spikes[0], spikes[1])


@pytest.mark.lava
@pytest.mark.parametrize("payload_max", [1, 7])
def test_floating_pt_equals_float_reference(payload_max):
    network = _hand_network(payload_max=payload_max)
    x = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(3))
    result = run_on_lava(network, x, numeric="floating_pt")
    k, n_steps = network.steps_per_ann_step, 5 * network.steps_per_ann_step
    payload = torch.cat([torch.zeros(2, 1, 3, dtype=torch.float64),   # s(−1) = 0
                         (x.double() * network.input_scale).repeat_interleave(k, dim=1)], 1)
    states = [initial_state((2, layer.n_neurons), torch.float64) for layer in network.layers]
    spikes = [torch.zeros(2, layer.n_neurons, dtype=torch.float64) for layer in network.layers]
    recorded = [[] for _ in network.layers]
    for n in range(n_steps):
        new = []
        for i, layer in enumerate(network.layers):
            pre = payload[:, n] if i == 0 else spikes[i - 1]     # one step of delay
            a = pre @ torch.as_tensor(layer.weights.T * 2.0 ** layer.weight_exp)
            if layer.recurrent_weights is not None:
                a = a + spikes[i] @ torch.as_tensor(
                    layer.recurrent_weights.T * 2.0 ** layer.recurrent_weight_exp)
            s, states[i] = sigma_delta_step(a, torch.as_tensor(layer.bias, dtype=torch.float64),
                                            states[i], float_params(layer.neuron))
            new.append(s)
            recorded[i].append(s.bool() if payload_max == 1 else s.to(torch.uint8))
        spikes = new
    for layer, mine in zip(network.layers, recorded):
        np.testing.assert_array_equal(result.spikes[layer.name], torch.stack(mine, 1).numpy(),
                                      err_msg=layer.name)
    assert result.logits.dtype == np.float64


@pytest.mark.lava
def test_worker_exception_surfaces_with_traceback_and_cleans_up(tmp_path):
    network = _hand_network()
    shm_before = set(os.listdir("/dev/shm"))
    data = encode_inputs(network, torch.zeros(1, 2, 3))
    graph = build_graph(network, data, spike_dir=tmp_path / "missing")   # worker cannot write
    with pytest.raises(LavaProcessError, match=r"(?s)Traceback.*open_memmap.*FileNotFoundError"):
        run_graph(graph)
    _no_leftovers(shm_before)


@pytest.mark.lava
def test_keyboard_interrupt_stops_the_runtime():
    network = _hand_network()
    shm_before = set(os.listdir("/dev/shm"))
    graph = build_graph(network, encode_inputs(network, torch.zeros(3, 2, 3)))

    def interrupt(sample: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_graph(graph, on_sample=interrupt)
    _no_leftovers(shm_before)


# -- the neuron's arithmetic against Lava's bit-accurate LIF ----------------------------------

def _lif_subthreshold(u, v, du, dv, bias_mant, bias_exp) -> PyLifModelBitAcc:
    """Lava's PyLifModelBitAcc after one sub-threshold update with no synaptic input."""
    lif = PyLifModelBitAcc({})
    lif.u, lif.v = u.astype(np.int32), v.astype(np.int32)
    lif.du, lif.dv = du, dv
    lif.bias_mant = bias_mant.astype(np.int16)
    lif.bias_exp = np.full(bias_mant.shape, bias_exp, np.int16)
    lif.scale_bias()
    lif.subthr_dynamics(activation_in=np.zeros(u.shape, np.int16))
    return lif


def _numpy_arithmetic():
    return models.decay_fixed, models.saturate, models.effective_bias


def _torch_arithmetic():
    def decay(x, d):
        return sigma_delta.decay_fixed(torch.from_numpy(x.astype(np.int64)), int(d)).numpy()

    def saturate(x):
        return sigma_delta.saturate(torch.from_numpy(np.asarray(x, np.int64))).numpy()

    def bias(mant, exp):   # what the simulator adds: LoihiLayer.bias
        return LoihiLayer("x", np.zeros((mant.size, 1), np.int32), 0, mant, exp, NEURON,
                          1.0).bias
    return decay, saturate, bias


@pytest.mark.parametrize("arithmetic", [_numpy_arithmetic, _torch_arithmetic],
                         ids=["lava_model_numpy", "simulator_torch"])
@pytest.mark.parametrize("du, dv, bias_exp", [(0, 0, 0), (408, 91, 3), (4095, 0, 7),
                                              (1234, 1000, 5)])
def test_decay_saturation_and_bias_shift_equal_lavas_lif(arithmetic, du, dv, bias_exp):
    """u ← decay(u, du + 1) and v ← sat(decay(v, dv) + u + bias_mant << bias_exp), on the
    same 24-bit integers, equal Lava's LIF (its du register has an implicit +1 offset)."""
    decay, saturate, bias = arithmetic()
    rng = np.random.default_rng(du + dv)
    n = 4000
    u = rng.integers(hardware.STATE_MIN, hardware.STATE_MAX + 1, n)
    v = rng.integers(hardware.STATE_MIN, hardware.STATE_MAX + 1, n)
    bias_mant = rng.integers(-hardware.BIAS_MANTISSA_MAX, hardware.BIAS_MANTISSA_MAX + 1, n)
    lif = _lif_subthreshold(u, v, du, dv, bias_mant, bias_exp)
    u_new = decay(u, du + lif.ds_offset)
    np.testing.assert_array_equal(u_new, lif.u)
    np.testing.assert_array_equal(bias(bias_mant, bias_exp), lif.effective_bias)
    v_new = saturate(decay(v, dv + lif.dm_offset) + u_new + bias(bias_mant, bias_exp))
    np.testing.assert_array_equal(v_new, lif.v)
    # the integers are demanding: both saturation limits are hit, and flooring instead of
    # truncating toward zero would differ (except for du + 1 = 4096, which zeroes u)
    assert {hardware.STATE_MIN, hardware.STATE_MAX} <= set(lif.v.tolist())
    floor = (u.astype(np.int64) * (hardware.DECAY_UNITY - du - 1)) >> hardware.DECAY_SHIFT
    assert np.any(floor != lif.u) or du + 1 == hardware.DECAY_UNITY


# Mutated decays (the rounding argument of the real ones is ignored).
def _floor_numpy(state, decay, _rounding=None):
    return (state.astype(np.int64) * (hardware.DECAY_UNITY - np.int64(decay))) >> hardware.DECAY_SHIFT


def _floor_torch(x, decay, _rounding=None):
    return (x * (hardware.DECAY_UNITY - decay)) >> hardware.DECAY_SHIFT


def _nearest_numpy(state, decay, _rounding=None):
    decayed = state.astype(np.int64) * (hardware.DECAY_UNITY - np.int64(decay))
    return np.sign(decayed) * ((np.abs(decayed) + hardware.DECAY_UNITY // 2) >> hardware.DECAY_SHIFT)


def _nearest_torch(x, decay, _rounding=None):
    decayed = x * (hardware.DECAY_UNITY - decay)
    return torch.sign(decayed) * ((decayed.abs() + hardware.DECAY_UNITY // 2) >> hardware.DECAY_SHIFT)


def _truncate_numpy(state, decay, _offset=None):
    decayed = state.astype(np.int64) * (hardware.DECAY_UNITY - np.int64(decay))
    return np.sign(decayed) * (np.abs(decayed) >> hardware.DECAY_SHIFT)


def _truncate_torch(x, decay, _rounding=None):
    decayed = x * (hardware.DECAY_UNITY - decay)
    return torch.sign(decayed) * (decayed.abs() >> hardware.DECAY_SHIFT)


@pytest.mark.lava
@pytest.mark.parametrize("network_rounding, side, rounding", [
    ("truncate", "simulator", _floor_torch), ("truncate", "lava", _floor_numpy),
    ("truncate", "lava", _nearest_numpy), ("truncate", "simulator", _nearest_torch),
    ("nearest", "lava", _truncate_numpy), ("nearest", "simulator", _truncate_torch)],
    ids=["simulator-floor", "lava-floor", "lava-nearest", "simulator-nearest",
         "nearest-network-lava-truncates", "nearest-network-simulator-truncates"])
def test_changed_decay_rounding_on_either_side_fails_the_equivalence_check(
        monkeypatch, network_rounding, side, rounding):
    """The one-line mutation of the decay's rounding in the simulator's torch step or in the
    Lava ProcessModel (floor, or round to nearest, instead of truncation toward zero; or, in
    a network whose decays round to nearest, truncation) makes the spike-for-spike comparison
    of the equivalence tests fail on the small-state network (which the unchanged sides pass,
    test above). Lava's workers are forked, so they run the patched model. The networks with
    large states are blind to it: their spikes do not change."""
    if side == "simulator":
        monkeypatch.setattr(sigma_delta, "decay_fixed", rounding)
    else:
        monkeypatch.setattr(models, "decay_fixed", rounding)
    with pytest.raises(AssertionError, match="spikes of layer"):
        _assert_equal_to_simulator(_small_state_network(decay_rounding=network_rounding),
                                   _small_state_inputs())
