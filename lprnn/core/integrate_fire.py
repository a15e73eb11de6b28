"""The plain rate-coded integrate-and-fire (IF) neuron: the baseline the ΣΔ neuron is compared with.

A non-leaky integrator with reset by subtraction, the neuron of rate-based ANN→SNN conversion.
One SNN step, for input current ``a`` (any batch shape, per neuron) and threshold θ > 0:

    v ← v + a
    s = [v ≥ θ]
    v ← v − θ·s

For a constant input 0 ≤ a ≤ θ the rate converges to ``a / θ`` spikes per step, and the spike
count after n steps is exactly ``floor((n·a + v₀) / θ)`` for v₀ = 0 (reset by subtraction
keeps the remainder, so no input is lost). At most one spike per step: inputs above θ saturate
the rate at 1 while v keeps growing. Negative inputs lower v without a floor (as in the
conversion literature), so a negative excursion must be paid back before the next spike.

:func:`integrate_fire_step` works on float tensors (differentiable in ``a`` except at the
threshold); the baselines run it in float, which only favours them.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor



class IntegrateFireState(NamedTuple):
    """State of a layer of IF neurons."""

    v: Tensor  # membrane potential (input units); spikes when it reaches the threshold


class IntegrateFireParams(NamedTuple):
    """Parameters of IF neurons: θ as a number or a tensor broadcastable to the state."""

    threshold: float | int | Tensor  # θ > 0, in input units; also the spike's reset amount


def initial_state(shape: tuple[int, ...] | torch.Size, dtype: torch.dtype = torch.float32,
                  device: torch.device | str = "cpu") -> IntegrateFireState:
    """All membranes at rest (v = 0)."""
    return IntegrateFireState(v=torch.zeros(shape, dtype=dtype, device=device))


def _check_threshold(threshold: float | int | Tensor) -> None:
    below = (threshold <= 0).any().item() if isinstance(threshold, Tensor) else threshold <= 0
    if below:
        raise ValueError(f"IF threshold {threshold}: expected a threshold > 0")


def integrate_fire_step(input_current: Tensor, state: IntegrateFireState,
                        params: IntegrateFireParams) -> tuple[Tensor, IntegrateFireState]:
    """One float step: ``v ← v + a; s = [v ≥ θ]; v ← v − θ·s``. Returns (spikes as 0./1., state)."""
    if not input_current.is_floating_point():
        raise TypeError(f"integrate_fire_step: input dtype {input_current.dtype}, expected a "
                        "floating-point tensor")
    _check_threshold(params.threshold)
    v = state.v + input_current
    spikes = (v >= params.threshold).to(v.dtype)
    return spikes, IntegrateFireState(v=v - params.threshold * spikes)
