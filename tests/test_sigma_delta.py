"""The ΣΔ neuron step: golden traces, an independent integer reference, decoding accuracy, errors."""

from __future__ import annotations

import random

import pytest
import torch

from lprnn.core.sigma_delta import (
    SigmaDeltaParams, SigmaDeltaState, decay_fixed, initial_state, sigma_delta_step,
    sigma_delta_step_fixed, validate_fixed_params)
from lprnn.snn.network import SigmaDeltaFixedParams

# d = 2048 halves a state each step; i_in has no memory (d_in = 4096), θ = 0.
GOLDEN_FIXED = SigmaDeltaFixedParams(decay_in=4096, decay_ip=2048, decay_v=4096, decay_fb=2048,
                                     feedback_weight=-100, threshold=0)
GOLDEN_FLOAT = SigmaDeltaParams(decay_in=1.0, decay_ip=0.5, decay_v=1.0, decay_fb=0.5,
                                feedback_weight=-100.0, threshold=0.0)


def _run_fixed(inputs: list[int], params: SigmaDeltaFixedParams, bias: int = 0):
    state = initial_state((1,))
    trace = []
    for a in inputs:
        spikes, state = sigma_delta_step_fixed(torch.tensor([a]), bias, state, params)
        trace.append((bool(spikes[0]), *(int(x[0]) for x in state)))
    return trace


def test_fixed_golden_trace_constant_input():
    # Worked by hand from the docstring's update; step 3 checks truncation toward zero:
    # decay(-125, 2048) = -(125·2048 >> 12) = -62, not floor(-62.5) = -63.
    trace = _run_fixed([60] * 5, GOLDEN_FIXED)
    assert [t[0] for t in trace] == [True, False, True, False, True]
    assert [t[2] for t in trace] == [60, 90, 105, 112, 116]       # i_ip
    assert [t[4] for t in trace] == [-100, -50, -125, -62, -131]  # i_fb
    assert all(t[3] == 0 for t in trace)                          # θ = 0: v always back at 0


def test_float_golden_trace_constant_input():
    state = initial_state((1,), torch.float64)
    spikes, i_ip, i_fb = [], [], []
    for _ in range(5):
        s, state = sigma_delta_step(torch.tensor([60.0], dtype=torch.float64), 0.0, state,
                                    GOLDEN_FLOAT)
        spikes.append(int(s[0])), i_ip.append(float(state.i_ip[0])), i_fb.append(float(state.i_fb[0]))
    assert spikes == [1, 0, 1, 0, 1]
    assert i_ip == [60.0, 90.0, 105.0, 112.5, 116.25]
    assert i_fb == [-100.0, -50.0, -125.0, -62.5, -131.25]


def test_negative_drive_is_clipped_at_zero():
    trace = _run_fixed([50, -400, 0], GOLDEN_FIXED)
    assert [t[2] for t in trace] == [50, 0, 0]  # i_ip: the ReLU on the state
    assert [t[1] for t in trace] == [50, -400, 0]  # i_in is not clipped


def _reference(inputs, biases, p: SigmaDeltaFixedParams):
    """A plain Python-int transcription of the fixed-point update (independent of torch)."""
    lo, hi = -(2 ** 23 - 1), 2 ** 23 - 1

    def decay(x, d):
        return (1 if x > 0 else -1 if x < 0 else 0) * ((abs(x) * (4096 - d)) >> 12)

    i_in = i_ip = v = i_fb = 0
    out = []
    for a, b in zip(inputs, biases):
        i_in = min(hi, max(lo, decay(i_in, p.decay_in) + a))
        i_ip = min(hi, max(0, decay(i_ip, p.decay_ip) + i_in + b))
        v = min(hi, max(0, decay(v, p.decay_v) + i_ip + i_fb))
        s = int(v > p.threshold)
        if s and p.payload_max > 1:   # graded: how many steps |w_fb| v exceeds θ by, ≤ P
            s = min(p.payload_max, -(-(v - p.threshold) // -p.feedback_weight))
        if s:
            v = 0
        i_fb = min(hi, max(lo, decay(i_fb, p.decay_fb) + p.feedback_weight * s))
        out.append((s, i_in, i_ip, v, i_fb))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_fixed_matches_independent_integer_reference(seed):
    """Seeds 4 and 5: graded spikes (payloads up to 3 and 255)."""
    rng = random.Random(seed)
    n_neurons, n_steps = 6, 300
    params = SigmaDeltaFixedParams(
        decay_in=rng.choice([0, 91, 1000, 4096]), decay_ip=rng.randint(1, 4096),
        decay_v=rng.choice([0, 300, 4096]), decay_fb=rng.randint(1, 4096),
        feedback_weight=-rng.randint(1, 2 ** 20), threshold=rng.choice([0, 17, 5000]),
        payload_max={4: 3, 5: 255}.get(seed, 1))
    # Large inputs drive the states into 24-bit saturation on purpose.
    scale = rng.choice([100, 10 ** 5, 10 ** 7])
    inputs = [[rng.randint(-scale, scale) for _ in range(n_neurons)] for _ in range(n_steps)]
    biases = [rng.randint(-1000, 1000) for _ in range(n_neurons)]
    state = initial_state((n_neurons,))
    got = []
    for row in inputs:
        spikes, state = sigma_delta_step_fixed(torch.tensor(row), torch.tensor(biases), state,
                                               params)
        got.append([(int(spikes[j]), *(int(x[j]) for x in state)) for j in range(n_neurons)])
    for j in range(n_neurons):
        expected = _reference([row[j] for row in inputs], [biases[j]] * n_steps, params)
        assert [step[j] for step in got] == expected


def test_decay_fixed_truncates_toward_zero_and_is_odd():
    x = torch.tensor([-7, -1, 0, 1, 7, 2 ** 23 - 1])
    assert decay_fixed(x, 2048).tolist() == [-3, 0, 0, 0, 3, (2 ** 23 - 1) // 2]
    assert decay_fixed(x, 0).tolist() == x.tolist()
    assert decay_fixed(x, 4096).tolist() == [0] * 6


@pytest.mark.parametrize("value", [0.3, 1.0, 2.5, 5.0])
def test_decoded_output_converges_to_constant_input(value):
    # Mapping of α = 0.8, k = 10, a_max = 6 (the paper's): d = 4096·(1 − α^(1/k)).
    d = round(4096 * (1 - 0.8 ** 0.1))
    state_scale, a_max = 4096, 6.0
    w_fb = -round(a_max * state_scale * d / 4096)
    params = SigmaDeltaFixedParams(d, d, 4096, d, w_fb, 0)
    validate_fixed_params(params)
    drive = round(value * state_scale * d / 4096)  # steady state of i_ip = drive · 4096 / d
    state = initial_state((1,))
    decoded = []
    for n in range(3000):
        _, state = sigma_delta_step_fixed(torch.zeros(1, dtype=torch.int64), drive, state, params)
        if n >= 1000:
            decoded.append(-int(state.i_fb[0]) / state_scale)
    step = abs(w_fb) / state_scale  # one quantization step, in input units
    assert abs(sum(decoded) / len(decoded) - value) < step
    assert max(abs(x - value) for x in decoded) <= step + 1e-9


@pytest.mark.parametrize("payload_max", [1, 7])
def test_float_and_fixed_paths_agree_on_spike_trains(payload_max):
    # Without decays (d = 0; d_v = 1 is a reset) the fixed path is plain integer addition, so
    # the float path on integer inputs must reproduce it exactly, spikes and states.
    params_f = SigmaDeltaParams(0.0, 0.0, 1.0, 0.0, -8.0, 4.0, payload_max=payload_max)
    params_i = SigmaDeltaFixedParams(0, 0, 4096, 0, -8, 4, payload_max=payload_max)
    inputs = [3, -1, 40, 1, -5, 9, -2, 60, -50, 3, 25, 0]
    sf, si = initial_state((1,), torch.float64), initial_state((1,))
    payloads = []
    for a in inputs:
        spf, sf = sigma_delta_step(torch.tensor([float(a)], dtype=torch.float64), 0.0, sf, params_f)
        spi, si = sigma_delta_step_fixed(torch.tensor([a]), 0, si, params_i)
        assert float(spf[0]) == int(spi[0])
        payloads.append(int(spi[0]))
        assert [float(x[0]) for x in sf] == [float(x[0]) for x in si]
    assert max(payloads) == payload_max   # graded: payloads up to the ceiling occur


@pytest.mark.parametrize("field,value", [("decay_in", -0.1), ("decay_fb", 1.5),
                                         ("feedback_weight", 1.0), ("threshold", -1.0),
                                         ("payload_max", 0), ("payload_max", 2.0)])
def test_float_params_reject_bad_values(field, value):
    kwargs = dict(decay_in=0.1, decay_ip=0.1, decay_v=1.0, decay_fb=0.1,
                  feedback_weight=-1.0, threshold=0.0)
    kwargs[field] = value
    with pytest.raises(ValueError, match=field):
        SigmaDeltaParams(**kwargs)


@pytest.mark.parametrize("field,value", [("decay_ip", 4097), ("decay_v", -1), ("decay_in", 1.5),
                                         ("feedback_weight", 0), ("threshold", -2),
                                         ("feedback_weight", -2 ** 24), ("payload_max", 0),
                                         ("payload_max", 256), ("payload_max", True),
                                         ("decay_rounding", "up")])
def test_fixed_params_validation(field, value):
    kwargs = dict(decay_in=91, decay_ip=91, decay_v=4096, decay_fb=91, feedback_weight=-100,
                  threshold=0)
    kwargs[field] = value
    with pytest.raises(ValueError, match=field):
        validate_fixed_params(SigmaDeltaFixedParams(**kwargs), where="layer x")


def test_dtype_errors():
    with pytest.raises(TypeError, match="int64"):
        sigma_delta_step_fixed(torch.zeros(2), 0, initial_state((2,)), GOLDEN_FIXED)
    with pytest.raises(TypeError, match="float"):
        sigma_delta_step(torch.zeros(2, dtype=torch.int64), 0.0,
                         initial_state((2,), torch.float32), GOLDEN_FLOAT)


def test_initial_state_is_zero_with_requested_dtype():
    state = initial_state((2, 3), torch.float32)
    assert isinstance(state, SigmaDeltaState)
    assert all(x.shape == (2, 3) and x.dtype == torch.float32 and not x.any() for x in state)
