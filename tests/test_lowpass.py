"""The low-pass step and its sequence scan (value and hand-written backward)."""

from __future__ import annotations

import pytest
import torch

from lprnn.core.lowpass import lowpass_scan, lowpass_step

ALPHA, A_MAX = 0.8, 6.0


def test_step_golden_values():
    h = torch.tensor([0.5, 0.5, 0.5, 0.0])
    drive = torch.tensor([-1.0, 2.0, 10.0, 6.0])
    # h ← 0.8 h + 0.2 clamp(drive, 0, 6)
    expected = torch.tensor([0.4, 0.8, 1.6, 1.2])
    torch.testing.assert_close(lowpass_step(h, drive, ALPHA, A_MAX), expected)


def _reference(drive: torch.Tensor, recurrent: torch.Tensor | None) -> torch.Tensor:
    """The per-step loop of lowpass_step, recorded by autograd."""
    h = drive.new_zeros(drive.shape[0], drive.shape[2])
    states = []
    for t in range(drive.shape[1]):
        z = drive[:, t] if recurrent is None else drive[:, t] + h @ recurrent.t()
        h = lowpass_step(h, z, ALPHA, A_MAX)
        states.append(h)
    return torch.stack(states, dim=1)


@pytest.mark.parametrize("recurrent", [False, True])
def test_scan_matches_step_loop_values_and_gradients(recurrent):
    torch.manual_seed(0)
    drive = (torch.randn(3, 9, 5, dtype=torch.float64) * 4).requires_grad_()
    weight = torch.randn(5, 5, dtype=torch.float64).requires_grad_() if recurrent else None
    inputs = (drive,) if weight is None else (drive, weight)
    states = lowpass_scan(drive, weight, ALPHA, A_MAX)
    expected = _reference(drive, weight)
    torch.testing.assert_close(states, expected, rtol=0, atol=1e-12)
    grad_out = torch.randn_like(states)
    grads = torch.autograd.grad((states * grad_out).sum(), inputs)
    expected_grads = torch.autograd.grad((expected * grad_out).sum(), inputs)
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_scan_saturates_at_a_max_and_stays_non_negative():
    drive = torch.full((1, 200, 2), 100.0)
    drive[..., 1] = -100.0
    states = lowpass_scan(drive, None, ALPHA, A_MAX)
    assert float(states[0, -1, 0]) == pytest.approx(A_MAX, rel=1e-6)
    assert float(states[..., 1].abs().max()) == 0.0


def test_scan_gradcheck():
    torch.manual_seed(1)
    drive = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    weight = (0.5 * torch.randn(3, 3, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda d, u: lowpass_scan(d, u, ALPHA, A_MAX), (drive, weight))


@pytest.mark.parametrize("retention_ratio, a_max, match", [
    (1.0, 6.0, "retention_ratio=1.0"), (-0.1, 6.0, "retention_ratio=-0.1"),
    (0.8, 0.0, "a_max=0.0")])
def test_scan_rejects_bad_parameters(retention_ratio, a_max, match):
    with pytest.raises(ValueError, match=match):
        lowpass_scan(torch.zeros(1, 2, 3), None, retention_ratio, a_max)


def test_scan_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"expected \[B, T, H\]"):
        lowpass_scan(torch.zeros(2, 3), None, ALPHA, A_MAX)
    with pytest.raises(ValueError, match=r"recurrent_weight has shape \(3, 4\)"):
        lowpass_scan(torch.zeros(1, 2, 3), torch.zeros(3, 4), ALPHA, A_MAX)
