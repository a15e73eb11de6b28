"""Yin et al.'s adaptive LIF layer step by step, every operation recorded by autograd.

The independent side of the written-out gradient of ``lprnn.baselines.srnn.adaptive_lif_scan``
(tests/test_baselines.py), and the plain version that benchmarks/srnn_step.py times it against.
Constants and equations are written out here, not imported: b_0 = 0.01, β = 1.8, the
multi-Gaussian surrogate with γ = 0.5, σ = 0.5, scale 6, height 0.15.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def _gaussian(v: Tensor, mu: float, sigma: float) -> Tensor:
    return torch.exp(-(v - mu) ** 2 / (2 * sigma ** 2)) / (math.sqrt(2 * math.pi) * sigma)


class _Spike(torch.autograd.Function):
    """H(v) forward; γ · surrogate(v) backward."""

    @staticmethod
    def forward(ctx, v: Tensor) -> Tensor:
        ctx.save_for_backward(v)
        return (v > 0).to(v.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (v,) = ctx.saved_tensors
        surrogate = (_gaussian(v, 0.0, 0.5) * 1.15 - _gaussian(v, 0.5, 3.0) * 0.15
                     - _gaussian(v, -0.5, 3.0) * 0.15)
        return grad * 0.5 * surrogate


def adaptive_lif_autograd(x: Tensor, weight_hh: Tensor, tau_m: Tensor, tau_adp: Tensor) -> Tensor:
    """Spikes ``[B, T, H]`` for the drive ``x [B, T, H]``; gradients by autograd, step by step."""
    alpha, rho = torch.exp(-1.0 / tau_m), torch.exp(-1.0 / tau_adp)
    u = x.new_zeros(x.shape[0], x.shape[2])
    b, s = u + 0.01, u
    spikes = []
    for t in range(x.shape[1]):
        b = rho * b + (1 - rho) * s
        threshold = 0.01 + 1.8 * b
        u = alpha * u + (1 - alpha) * (x[:, t] + s @ weight_hh.t()) - threshold * s
        s = _Spike.apply(u - threshold)
        spikes.append(s)
    return torch.stack(spikes, dim=1)
