"""The plain integrate-and-fire neuron (lprnn.core.integrate_fire)."""

from __future__ import annotations

import pytest
import torch

from lprnn.core import hardware
from lprnn.core.integrate_fire import (IntegrateFireParams, IntegrateFireState,
                                             initial_state, integrate_fire_step,
                                             integrate_fire_step_fixed)


def _run(step, inputs: torch.Tensor, params: IntegrateFireParams, dtype: torch.dtype):
    state = initial_state(inputs.shape[1:], dtype=dtype)
    spikes = []
    for a in inputs:
        s, state = step(a, state, params)
        spikes.append(s)
    return torch.stack(spikes), state


def test_golden_trace_float():
    # v: 0.4, 0.8, 1.2→0.2 (spike), 0.6, 1.0→0.0 (spike), -0.5
    inputs = torch.tensor([0.4, 0.4, 0.4, 0.4, 0.4, -0.5], dtype=torch.float64)
    spikes, state = _run(integrate_fire_step, inputs, IntegrateFireParams(threshold=1.0),
                         torch.float64)
    assert spikes.tolist() == [0, 0, 1, 0, 1, 0]
    assert state.v.item() == pytest.approx(-0.5)


def test_golden_trace_fixed_against_plain_integers():
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randint(-20, 60, (50, 3), generator=generator, dtype=torch.int64)
    threshold = 37
    spikes, state = _run(integrate_fire_step_fixed, inputs, IntegrateFireParams(threshold),
                         torch.int64)
    for n in range(3):
        v, expected = 0, []
        for a in inputs[:, n].tolist():
            v += a
            expected.append(int(v >= threshold))
            v -= threshold * expected[-1]
        assert spikes[:, n].tolist() == expected
        assert state.v[n].item() == v


@pytest.mark.parametrize("current, threshold", [(3, 7), (7, 7), (1, 100), (0, 5)])
def test_rate_equals_input_over_threshold_fixed(current, threshold):
    n_steps = 700
    inputs = torch.full((n_steps, 1), current, dtype=torch.int64)
    spikes, _ = _run(integrate_fire_step_fixed, inputs, IntegrateFireParams(threshold), torch.int64)
    assert spikes.sum().item() == (n_steps * current) // threshold


def test_rate_equals_input_over_threshold_float_batched():
    inputs = torch.tensor([0.0, 0.125, 0.25, 0.5, 1.0], dtype=torch.float64).expand(800, 5)
    spikes, _ = _run(integrate_fire_step, inputs, IntegrateFireParams(threshold=1.0),
                     torch.float64)
    assert spikes.sum(0).tolist() == [0, 100, 200, 400, 800]


def test_rate_saturates_at_one_spike_per_step():
    inputs = torch.full((10, 1), 2.5)
    spikes, state = _run(integrate_fire_step, inputs, IntegrateFireParams(threshold=1.0),
                         torch.float32)
    assert spikes.sum().item() == 10
    assert state.v.item() == pytest.approx(15.0)


def test_per_neuron_threshold_tensor():
    inputs = torch.ones(12, 3)
    spikes, _ = _run(integrate_fire_step, inputs,
                     IntegrateFireParams(threshold=torch.tensor([1.0, 2.0, 4.0])), torch.float32)
    assert spikes.sum(0).tolist() == [12, 6, 3]


def test_fixed_membrane_saturates_at_24_bits():
    state = IntegrateFireState(v=torch.tensor([hardware.STATE_MAX - 1, hardware.STATE_MIN + 1]))
    _, state = integrate_fire_step_fixed(torch.tensor([0, -5]), state,
                                         IntegrateFireParams(hardware.STATE_MAX))
    spikes, state = integrate_fire_step_fixed(torch.tensor([10, 0]), state,
                                              IntegrateFireParams(hardware.STATE_MAX))
    assert spikes.tolist() == [1, 0]
    assert state.v.tolist() == [0, hardware.STATE_MIN]


@pytest.mark.parametrize("threshold", [0.0, -1.0, torch.tensor([1.0, 0.0])])
def test_nonpositive_threshold_rejected(threshold):
    with pytest.raises(ValueError, match="threshold"):
        integrate_fire_step(torch.ones(2), initial_state((2,)), IntegrateFireParams(threshold))


def test_wrong_dtypes_rejected():
    with pytest.raises(TypeError, match="floating-point"):
        integrate_fire_step(torch.ones(2, dtype=torch.int64), initial_state((2,)),
                            IntegrateFireParams(1.0))
    with pytest.raises(TypeError, match="int64"):
        integrate_fire_step_fixed(torch.ones(2), initial_state((2,), dtype=torch.int64),
                                  IntegrateFireParams(1))
    with pytest.raises(TypeError, match="expected an int"):
        integrate_fire_step_fixed(torch.ones(2, dtype=torch.int64),
                                  initial_state((2,), dtype=torch.int64), IntegrateFireParams(1.5))
    with pytest.raises(ValueError, match="STATE_MAX"):
        integrate_fire_step_fixed(torch.ones(2, dtype=torch.int64),
                                  initial_state((2,), dtype=torch.int64),
                                  IntegrateFireParams(hardware.STATE_MAX + 1))
