"""One neuron encoding an analog signal: the ΣΔ neuron against a rate-coded integrate-and-fire one.

Thin wrappers over :mod:`lprnn.core.sigma_delta` and
:mod:`lprnn.core.integrate_fire` for notebook 01. The signal ``x`` is given per ANN step
(``T`` steps, any leading batch shape); the neuron runs ``k = steps_per_ann_step`` SNN steps per
ANN step with the input held (``docs/METHOD.md``, Timing). What both neurons must convey is the
lpRNN unit's state, computed by the ANN itself (:func:`lprnn.core.lowpass.lowpass_step`):

    h_t = α h_{t−1} + (1 − α) · clamp(x_t, 0, a_max)                     the target

ΣΔ neuron (:func:`sigma_delta_encode`, float path, a single unit with an identity synapse), in
ANN units (state scale 1), with the time constants :func:`lprnn.snn.map_network` uses for a
first-layer neuron (τ_ip = −k / ln α SNN steps, ``docs/METHOD.md``):

    a      = d_ip · x_t                  (input held over the k SNN steps of ANN step t)
    d_in   = 1                           (no synaptic filter: i_in = a)
    u_max  = d_ip · a_max                (drive clamp clip(i_in, 0, u_max): the ANN's clamp)
    d_ip   = 1 − α^(1/k)                 (k SNN steps retain α, as one ANN step: i_ip ≈ h)
    d_v    = 1                           (v = max(0, i_ip + i_fb): the ΣΔ comparator)
    d_fb   = d_ip                        (the mapper's choice; or 1/(τ_fb·k) for τ_fb ANN steps)
    w_fb   = −a_max · d_fb               (one spike per SNN step ↔ a_max)
    θ      = threshold · |w_fb|          (threshold in quantization steps; the paper uses 0)

The reconstruction is ``−i_fb``: every spike adds one quantization step ``|w_fb|`` to it and it
decays with ``d_fb``; the spike rate is ``x / a_max`` per SNN step. (Float decays here; the
mapper rounds them to 12 bits and scales the states to integers, which changes nothing visible
at this scale.)

Integrate-and-fire neuron (:func:`integrate_fire_encode`): the rate-coded conversion of the same
unit. Its input current is the ANN state ``h_t`` itself (held k steps); it fires at rate
``h / θ_IF`` and is decoded by the *same* low-pass filter as the ΣΔ reconstruction, with each
spike worth θ_IF:  ``y ← (1 − d_fb) · y + θ_IF · d_fb · s``. :func:`match_spike_budget` picks
θ_IF so that it emits exactly a given number of spikes (the ΣΔ neuron's), for a comparison at
equal spike budget.

Both report ``decoded``: the reconstruction at the last SNN step of each ANN step, the moment
the ANN's ``h_t`` refers to (after the k SNN steps that consumed ``x_t``), compared with ``h`` by
:func:`reconstruction_error` (RMS, in activation units). Averaging over the k SNN steps instead
(as :func:`lprnn.snn.simulate` reports ``decoded``) smooths the ripple but lags ``h_t`` by half
an ANN step, an error that does not shrink with k.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from lprnn.datasets.frontend import HD_HOP_LENGTH, HD_SAMPLE_RATE
from lprnn.core import integrate_fire, sigma_delta
from lprnn.core.lowpass import check_lowpass_params, lowpass_step

# Duration of one ANN step of the HD front end (one hop of 256 samples at 48 kHz).
HD_ANN_STEP_SECONDS = HD_HOP_LENGTH / HD_SAMPLE_RATE


class EncodingResult(NamedTuple):
    """A signal encoded by one neuron per batch element, and its decoding."""

    spikes: Tensor          # [..., T·k] 0/1 spikes per SNN step
    reconstruction: Tensor  # [..., T·k] decoded value at every SNN step (activation units)
    decoded: Tensor         # [..., T] reconstruction at the last SNN step of each ANN step
    target: Tensor          # [..., T] the lpRNN state h the neuron conveys
    steps_per_ann_step: int


def _check_signal(signal: Tensor, name: str = "signal") -> None:
    if not isinstance(signal, Tensor) or not signal.is_floating_point():
        raise TypeError(f"{name}: got {type(signal).__name__}"
                        f"{' of dtype ' + str(signal.dtype) if isinstance(signal, Tensor) else ''}, "
                        "expected a floating-point tensor [..., T]")
    if signal.dim() == 0 or signal.shape[-1] == 0:
        raise ValueError(f"{name}: shape {tuple(signal.shape)}, expected [..., T] with T ≥ 1")


def _check_steps(steps_per_ann_step: int) -> None:
    if isinstance(steps_per_ann_step, bool) or not isinstance(steps_per_ann_step, int) \
            or steps_per_ann_step < 1:
        raise ValueError(f"steps_per_ann_step={steps_per_ann_step!r}: expected an integer ≥ 1")


def _decays(retention_ratio: float, steps_per_ann_step: int,
            feedback_time_constant: float | None) -> tuple[float, float]:
    """(d_ip, d_fb) per SNN step: d_ip = 1 − α^(1/k); d_fb = d_ip, or 1/(τ_fb·k)."""
    if retention_ratio == 0.0:
        raise ValueError("retention_ratio=0.0: expected a value in (0, 1) (τ = −T/ln α)")
    _check_steps(steps_per_ann_step)
    decay_ip = 1.0 - retention_ratio ** (1.0 / steps_per_ann_step)
    if feedback_time_constant is None:
        return decay_ip, decay_ip
    if not feedback_time_constant > 0:
        raise ValueError(f"feedback_time_constant={feedback_time_constant}: expected a positive "
                         "number of ANN steps (or None: τ_fb = τ_ip)")
    decay_fb = 1.0 / (feedback_time_constant * steps_per_ann_step)
    if decay_fb > 1.0:
        raise ValueError(f"feedback_time_constant={feedback_time_constant} ANN steps is shorter "
                         f"than one SNN step at steps_per_ann_step={steps_per_ann_step}")
    return decay_ip, decay_fb


def _hold(signal: Tensor, steps_per_ann_step: int) -> Tensor:
    """Zero-order hold: [..., T] → [..., T·k] with sample n = signal[n // k].

    No one-step delay, unlike a network's first layer (``conventions.held_input_step``): here
    the signal is the neuron's own drive, with no synapse in front of it."""
    return signal.repeat_interleave(steps_per_ann_step, dim=-1)


def _ann_step_end(trace: Tensor, steps_per_ann_step: int) -> Tensor:
    """[..., T·k] → [..., T]: the value at SNN step t·k + k − 1 of each ANN step t."""
    return trace[..., steps_per_ann_step - 1::steps_per_ann_step]


def lowpass_target(signal: Tensor, retention_ratio: float = 0.8, a_max: float = 6.0) -> Tensor:
    """The lpRNN state h [..., T] for drive ``signal`` (identity weight, no bias), from h = 0."""
    _check_signal(signal)
    check_lowpass_params(retention_ratio, a_max)
    h = torch.zeros_like(signal[..., 0])
    states = []
    for t in range(signal.shape[-1]):
        h = lowpass_step(h, signal[..., t], retention_ratio, a_max)
        states.append(h)
    return torch.stack(states, dim=-1)


def sigma_delta_params(retention_ratio: float = 0.8, steps_per_ann_step: int = 10,
                       a_max: float = 6.0, *, threshold: float = 0.0,
                       feedback_time_constant: float | None = None
                       ) -> sigma_delta.SigmaDeltaParams:
    """Float parameters of one ΣΔ neuron in ANN units (module docstring): θ in quantization steps;
    τ_fb in ANN steps, None for τ_fb = τ_ip (as the mapper)."""
    check_lowpass_params(retention_ratio, a_max)
    decay_ip, decay_fb = _decays(retention_ratio, steps_per_ann_step, feedback_time_constant)
    if not threshold >= 0:
        raise ValueError(f"threshold={threshold}: expected θ ≥ 0 quantization steps")
    feedback_weight = -a_max * decay_fb
    return sigma_delta.SigmaDeltaParams(
        decay_in=1.0, decay_ip=decay_ip, decay_v=1.0, decay_fb=decay_fb,
        feedback_weight=feedback_weight, threshold=threshold * abs(feedback_weight),
        drive_max=a_max * decay_ip)


def sigma_delta_encode(signal: Tensor, *, retention_ratio: float = 0.8,
                       steps_per_ann_step: int = 10, a_max: float = 6.0, threshold: float = 0.0,
                       feedback_time_constant: float | None = None) -> EncodingResult:
    """Encode ``signal`` [..., T] (the unit's drive per ANN step) with one ΣΔ neuron per element.

    Runs :func:`lprnn.core.sigma_delta.sigma_delta_step` with :func:`sigma_delta_params`
    for T·k SNN steps; the reconstruction is −i_fb.
    """
    _check_signal(signal)
    params = sigma_delta_params(retention_ratio, steps_per_ann_step, a_max, threshold=threshold,
                                feedback_time_constant=feedback_time_constant)
    drive = _hold(signal * params.decay_ip, steps_per_ann_step)
    state = sigma_delta.initial_state(signal.shape[:-1], dtype=signal.dtype, device=signal.device)
    spikes, reconstruction = torch.empty_like(drive), torch.empty_like(drive)
    for n in range(drive.shape[-1]):
        spikes[..., n], state = sigma_delta.sigma_delta_step(drive[..., n], 0.0, state, params)
        reconstruction[..., n] = -state.i_fb
    return EncodingResult(spikes, reconstruction, _ann_step_end(reconstruction, steps_per_ann_step),
                          lowpass_target(signal, retention_ratio, a_max), steps_per_ann_step)


def integrate_fire_encode(target: Tensor, *, threshold: float, steps_per_ann_step: int = 10,
                          retention_ratio: float = 0.8,
                          feedback_time_constant: float | None = None) -> EncodingResult:
    """Rate-code ``target`` [..., T] (the ANN state h, ≥ 0) with one IF neuron per element.

    Input current h_t per SNN step (held k steps), threshold θ_IF = ``threshold`` (activation
    units); decoded by the ΣΔ reconstruction's filter: y ← (1 − d_fb)·y + θ_IF·d_fb·s, with
    the d_fb of :func:`sigma_delta_params` for the same arguments.
    """
    _check_signal(target, "target")
    check_lowpass_params(retention_ratio, 1.0)
    _, decay_fb = _decays(retention_ratio, steps_per_ann_step, feedback_time_constant)
    if not threshold > 0:
        raise ValueError(f"threshold={threshold}: expected θ_IF > 0")
    current = _hold(target, steps_per_ann_step)
    params = integrate_fire.IntegrateFireParams(threshold=threshold)
    state = integrate_fire.initial_state(target.shape[:-1], dtype=target.dtype, device=target.device)
    spikes, reconstruction = torch.empty_like(current), torch.empty_like(current)
    y = torch.zeros_like(target[..., 0])
    for n in range(current.shape[-1]):
        spikes[..., n], state = integrate_fire.integrate_fire_step(current[..., n], state, params)
        y = (1.0 - decay_fb) * y + threshold * decay_fb * spikes[..., n]
        reconstruction[..., n] = y
    return EncodingResult(spikes, reconstruction, _ann_step_end(reconstruction, steps_per_ann_step),
                          target, steps_per_ann_step)


def _if_spike_count(target: Tensor, threshold: float, steps_per_ann_step: int) -> int:
    """Spikes of :func:`integrate_fire_encode` (the decoder does not change them)."""
    current = _hold(target.reshape(-1), steps_per_ann_step)
    params = integrate_fire.IntegrateFireParams(threshold=threshold)
    state = integrate_fire.initial_state((), dtype=target.dtype)
    count = 0
    for n in range(current.shape[0]):
        spike, state = integrate_fire.integrate_fire_step(current[n], state, params)
        count += int(spike.item())
    return count


def match_spike_budget(target: Tensor, n_spikes: int, *, steps_per_ann_step: int = 10,
                       max_iterations: int = 60) -> float:
    """Threshold θ_IF at which the IF neuron fed with ``target`` [T] emits exactly ``n_spikes``.

    With reset by subtraction and 0 ≤ h ≤ θ_IF, the count is floor(k·Σh / θ_IF), so the first
    guess θ = k·Σh / (n + ½) is exact unless the rate saturates; otherwise bisection on θ (the
    count falls as θ grows). Raises ValueError when no threshold gives exactly ``n_spikes``.
    """
    _check_signal(target, "target")
    if target.dim() != 1:
        raise ValueError(f"target: shape {tuple(target.shape)}, expected one signal [T]")
    if (target < 0).any():
        raise ValueError("target: has negative values, expected the lpRNN state h ≥ 0")
    _check_steps(steps_per_ann_step)
    n_steps = target.shape[0] * steps_per_ann_step
    if isinstance(n_spikes, bool) or not isinstance(n_spikes, int) or not 1 <= n_spikes <= n_steps:
        raise ValueError(f"n_spikes={n_spikes!r}: expected an integer in [1, {n_steps}] "
                         f"(at most one spike per SNN step)")
    total = float(target.sum()) * steps_per_ann_step
    if total <= 0:
        raise ValueError("target: is all zeros, an IF neuron cannot spend any spike budget on it")
    threshold = total / (n_spikes + 0.5)
    count = _if_spike_count(target, threshold, steps_per_ann_step)
    if count == n_spikes:
        return threshold
    # count(low) > n_spikes > count(high) brackets the answer.
    low, high = (threshold, 2 * total) if count > n_spikes else (0.0, threshold)
    for _ in range(max_iterations):
        threshold = 0.5 * (low + high)
        count = _if_spike_count(target, threshold, steps_per_ann_step)
        if count == n_spikes:
            return threshold
        low, high = (threshold, high) if count > n_spikes else (low, threshold)
    raise ValueError(f"no IF threshold gives exactly n_spikes={n_spikes} "
                     f"(closest: {count} spikes at θ={threshold:.6g})")


def reconstruction_error(decoded: Tensor, target: Tensor) -> float:
    """Root-mean-square error between ``decoded`` and ``target`` (same shape), activation units."""
    if decoded.shape != target.shape:
        raise ValueError(f"decoded shape {tuple(decoded.shape)} differs from target shape "
                         f"{tuple(target.shape)}")
    return float(torch.sqrt(torch.mean((decoded - target) ** 2)))


def spikes_per_second(spikes: Tensor, steps_per_ann_step: int,
                      ann_step_seconds: float = HD_ANN_STEP_SECONDS) -> float:
    """Mean firing rate per neuron in Hz of ``spikes`` [..., T·k], one ANN step = ann_step_seconds."""
    _check_steps(steps_per_ann_step)
    if not ann_step_seconds > 0:
        raise ValueError(f"ann_step_seconds={ann_step_seconds}: expected a positive duration")
    if spikes.dim() == 0 or spikes.shape[-1] % steps_per_ann_step:
        raise ValueError(f"spikes: shape {tuple(spikes.shape)}, expected [..., T·k] with "
                         f"k={steps_per_ann_step} dividing the last dimension")
    seconds = spikes.shape[-1] / steps_per_ann_step * ann_step_seconds
    return float(spikes.float().sum(-1).mean()) / seconds


def chirp(n_steps: int, *, start_hz: float = 0.5, end_hz: float = 15.0, low: float = 0.0,
          high: float = 6.0, ann_step_seconds: float = HD_ANN_STEP_SECONDS,
          dtype: torch.dtype = torch.float64) -> Tensor:
    """A linear chirp [n_steps] sampled once per ANN step, oscillating between low and high.

        x_t = (low + high)/2 − (high − low)/2 · cos(2π (f₀ t' + (f₁ − f₀) t'² / (2 D))),
        t' = t · ann_step_seconds, D = n_steps · ann_step_seconds
    """
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
        raise ValueError(f"n_steps={n_steps!r}: expected an integer ≥ 1")
    if not (start_hz > 0 and end_hz > 0):
        raise ValueError(f"chirp frequencies {start_hz}, {end_hz} Hz: expected positive values")
    if not high > low:
        raise ValueError(f"chirp range [{low}, {high}]: expected low < high")
    if not ann_step_seconds > 0:
        raise ValueError(f"ann_step_seconds={ann_step_seconds}: expected a positive duration")
    seconds = torch.arange(n_steps, dtype=dtype) * ann_step_seconds
    duration = n_steps * ann_step_seconds
    phase = 2 * math.pi * (start_hz * seconds + (end_hz - start_hz) * seconds ** 2 / (2 * duration))
    return (low + high) / 2 - (high - low) / 2 * torch.cos(phase)
