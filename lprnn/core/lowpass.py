"""The low-pass unit of lpLinear and lpRNN layers (float, differentiable).

One step (``docs/METHOD.md``, *The lpRNN*), with retention ratio α and clamp ceiling a_max::

    z_t = W x_t + U h_{t-1} + b                      (the drive; U = 0 for lpLinear)
    h_t = α h_{t-1} + (1 − α) · clamp(z_t, 0, a_max)

:func:`lowpass_step` is that update for one step. :func:`lowpass_scan` runs it over a whole
sequence from h_{-1} = 0, given the feed-forward part ``W x_t + b`` of the drive for all steps
at once (one matmul by the caller); only the recurrence ``U h_{t-1}`` is computed step by step.
Its backward pass is written out (backpropagation through time, below) instead of being
recorded by autograd step by step: that removes most of the per-step overhead of training on
CPU and is exact (tests compare it with autograd through :func:`lowpass_step`).

Backward, with G_t = ∂L/∂h_t accumulated from the future and m_t = [0 ≤ z_t ≤ a_max]
(the subgradient autograd uses for ``clamp``)::

    G_t      = ∂L/∂h_t (direct) + α G_{t+1} + (∂L/∂z_{t+1+D}) U
    ∂L/∂z_t  = (1 − α) · m_t · G_t                    (= ∂L/∂drive_t)
    ∂L/∂U    = Σ_t (∂L/∂z_t)ᵀ h_{t-1-D}

with D the optional recurrent delay (z_t = W x_t + U h_{t-1-D} + b; D = 0 is the lpRNN; the
SNN-timed lpRNN of :mod:`lprnn.ann.model` uses the mapped network's D).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable


def lowpass_step(h: Tensor, drive: Tensor, retention_ratio: float, a_max: float) -> Tensor:
    """One low-pass step: h ← α h + (1 − α) · clamp(drive, 0, a_max), α = retention_ratio."""
    return torch.lerp(torch.clamp(drive, 0.0, a_max), h, retention_ratio)


def check_lowpass_params(retention_ratio: float, a_max: float) -> None:
    """Raise ValueError unless 0 ≤ retention_ratio < 1 and a_max > 0."""
    if not 0.0 <= retention_ratio < 1.0:
        raise ValueError(f"retention_ratio={retention_ratio}: expected a value in [0, 1)")
    if not a_max > 0.0:
        raise ValueError(f"a_max={a_max}: expected a positive clamp ceiling")


class _LowpassScan(torch.autograd.Function):
    """Sequence of :func:`lowpass_step` from h_{-1} = 0 with the explicit backward of the module
    docstring. Works time-major ([T, B, H]) so each step reads and writes contiguous slices."""

    @staticmethod
    def forward(ctx: Any, drive: Tensor, recurrent_weight: Tensor | None,
                retention_ratio: float, a_max: float, recurrent_delay: int) -> Tensor:
        drive_tm = drive.detach().transpose(0, 1).contiguous()
        n_steps, batch, hidden = drive_tm.shape
        states = torch.empty_like(drive_tm)
        in_range = torch.empty(drive_tm.shape, dtype=torch.bool, device=drive.device)
        recurrent_t = None if recurrent_weight is None else recurrent_weight.detach().t()
        h = drive_tm.new_zeros(batch, hidden)
        # The recurrence stays in the drive's dtype (float32) even under autocast.
        with torch.autocast(device_type=drive.device.type, enabled=False):
            for t in range(n_steps):
                # lowpass_step written into the preallocated outputs, keeping m_t = [clamp(z) == z]
                past = t - 1 - recurrent_delay
                z = (drive_tm[t] if recurrent_t is None or past < 0
                     else torch.addmm(drive_tm[t], states[past], recurrent_t))
                clamped = torch.clamp(z, 0.0, a_max)
                torch.eq(clamped, z, out=in_range[t])
                h = torch.lerp(clamped, h, retention_ratio, out=states[t])
        ctx.save_for_backward(states, in_range, recurrent_weight)
        ctx.retention_ratio = retention_ratio
        ctx.recurrent_delay = recurrent_delay
        return states.transpose(0, 1)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_states: Tensor) -> tuple[Tensor, Tensor | None, None, None, None]:
        states, in_range, recurrent_weight = ctx.saved_tensors
        alpha, lag = ctx.retention_ratio, 1 + ctx.recurrent_delay
        grad_tm = grad_states.transpose(0, 1).contiguous()
        grad_drive = torch.empty_like(grad_tm)
        drive_gain = in_range.to(grad_tm.dtype).mul_(1.0 - alpha)
        weight = None if recurrent_weight is None else recurrent_weight.detach()
        n_steps = grad_tm.shape[0]
        carried = torch.zeros_like(grad_tm[0])
        if weight is None or lag == 1:
            for t in range(n_steps - 1, -1, -1):
                carried += grad_tm[t]
                torch.mul(carried, drive_gain[t], out=grad_drive[t])
                carried = (carried.mul_(alpha) if weight is None
                           else torch.addmm(carried, grad_drive[t], weight, beta=alpha))
        else:
            # ∂L/∂z_t reaches h_{t−lag} through U: collected in `through_u` until then.
            through_u = torch.zeros_like(grad_tm)
            for t in range(n_steps - 1, -1, -1):
                carried += grad_tm[t] + through_u[t]
                torch.mul(carried, drive_gain[t], out=grad_drive[t])
                if t >= lag:
                    through_u[t - lag].addmm_(grad_drive[t], weight)
                carried.mul_(alpha)
        grad_weight = None
        if weight is not None and ctx.needs_input_grad[1]:
            hidden = grad_tm.shape[-1]
            grad_weight = (grad_drive[lag:].reshape(-1, hidden).t()
                           @ states[:n_steps - lag].reshape(-1, hidden))
        return grad_drive.transpose(0, 1), grad_weight, None, None, None


def lowpass_scan(drive: Tensor, recurrent_weight: Tensor | None, retention_ratio: float,
                 a_max: float, recurrent_delay: int = 0) -> Tensor:
    """All states h [B, T, H] of a low-pass layer from h_{-1} = 0.

    ``drive`` [B, T, H] is the feed-forward part ``W x_t + b`` for every step; the step is
    z_t = drive_t + U h_{t-1-D} with U = ``recurrent_weight`` [H, H] (None for lpLinear),
    D = ``recurrent_delay`` extra steps (h_{<0} = 0; 0 is the lpRNN), then
    :func:`lowpass_step`. Differentiable in ``drive`` and ``recurrent_weight``.
    """
    if isinstance(recurrent_delay, bool) or not isinstance(recurrent_delay, int) \
            or recurrent_delay < 0:
        raise ValueError(f"lowpass_scan: recurrent_delay={recurrent_delay!r}, expected an "
                         "integer ≥ 0")
    if drive.dim() != 3:
        raise ValueError(f"lowpass_scan: drive has shape {tuple(drive.shape)}, expected [B, T, H]")
    if recurrent_weight is not None and recurrent_weight.shape != (drive.shape[-1],) * 2:
        raise ValueError(f"lowpass_scan: recurrent_weight has shape "
                         f"{tuple(recurrent_weight.shape)}, expected {(drive.shape[-1],) * 2}")
    check_lowpass_params(retention_ratio, a_max)
    return _LowpassScan.apply(drive, recurrent_weight, float(retention_ratio), float(a_max),
                              recurrent_delay)
