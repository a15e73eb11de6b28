"""The plain integrate-and-fire neuron (lprnn.core.integrate_fire)."""

from __future__ import annotations

import pytest
import torch

from lprnn.core.integrate_fire import (IntegrateFireParams, initial_state,
                                       integrate_fire_step)


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


@pytest.mark.parametrize("threshold", [0.0, -1.0, torch.tensor([1.0, 0.0])])
def test_nonpositive_threshold_rejected(threshold):
    with pytest.raises(ValueError, match="threshold"):
        integrate_fire_step(torch.ones(2), initial_state((2,)), IntegrateFireParams(threshold))


