"""The adaptive ΣΔ low-pass neuron: one step, float and Loihi fixed point.

Each lpRNN unit becomes one neuron with four states (``docs/METHOD.md``, "The ΣΔ neuron"):

- ``i_in``: synaptic current, the low-pass of the incoming weighted spikes;
- ``i_ip``: the low-pass of ``i_in + bias``: the unit's analog state (sets the lpRNN's α);
- ``v``: membrane, compares the state with its own reconstruction;
- ``i_fb``: self-feedback current, the low-pass of the neuron's own spikes times
  ``feedback_weight`` (< 0); ``-i_fb`` is the decoded (reconstructed) value of ``i_ip``.

One step, in this order (both numeric paths; ``a`` is the synaptic input of the step)::

    i_in ← sat(decay(i_in, d_in) + a)
    u    = i_in + bias                     or  clip(i_in + bias, 0, drive_max)  (see below)
    i_ip ← clip(decay(i_ip, d_ip) + u, 0, MAX)                 the ReLU: state never < 0
    v    ← clip(decay(v, d_v) + i_ip + i_fb, 0, MAX)           integrates the coding error
    s    = v > θ ;  v ← 0 where s
    i_fb ← sat(decay(i_fb, d_fb) + w_fb · s)

Graded spikes (``payload_max`` P > 1, Loihi 2): the spike carries how many quantization
steps |w_fb| the reconstruction has fallen behind, at most P::

    s    = clip(⌈(v − θ) / |w_fb|⌉, 0, P) ;  v ← 0 where s > 0

which for P = 1 is the binary ``v > θ``. With θ = |w_fb|/2 it rounds ``v / |w_fb|`` to the
nearest integer, so the reconstruction tracks ``i_ip`` within half a step as before, while
the ceiling (P steps per SNN step) is P times higher: for the same a_max the step |w_fb| is
P times finer (the mapper's ``spike_bits``, P = 2^bits − 1).

``v`` uses the *previous* ``i_fb`` (the reconstruction before this step's spike), ``i_ip``
uses the *new* ``i_in``. Both ``i_ip`` and ``v`` are clipped below at 0 as in the paper.

Where the ReLU goes (``drive_max``). With ``drive_max = None`` this is the paper's neuron:
the drive ``u`` enters the low-pass unclipped and the state ``i_ip`` is clipped at 0, so the
neuron computes ``relu(LP(z))``, while the lpRNN computes ``LP(clamp(z, 0, a_max))``; they
differ whenever the drive z dips below 0 or above a_max (the ANN's state then decays with α;
the SNN's state is pulled down by the negative drive). With an integer ``drive_max`` the drive
is clamped to ``[0, drive_max]`` *before* the low-pass, exactly the ANN's clamp (the mapper
sets ``drive_max`` to a_max in drive units); the clip of ``i_ip`` at 0 is then never active.
Loihi 2's programmable neurons can do either; the mapper's default is chosen by measurement
(:mod:`lprnn.snn.mapper`).

Why this works. With ``v`` clipped at 0, a threshold θ ≥ 0 and ``d_v = 4096`` (the mapper's
choice: ``v`` keeps no memory), ``v = max(0, i_ip + i_fb)`` and the neuron fires exactly when
its reconstruction falls behind: ``i_ip − (−i_fb) > θ`` (a ΣΔ comparator). Every spike adds
``|w_fb|`` to the reconstruction ``−i_fb``, which then decays with ``d_fb``; so ``−i_fb``
tracks ``i_ip`` within one quantization step ``|w_fb|``, the spike rate is
``r = (−i_fb)·d_fb / |w_fb|``, and it saturates at one spike per step, i.e. at
``−i_fb = |w_fb| / d_fb``: that is where the ANN's clamp ``a_max`` goes. Because ``v`` keeps
no memory, a state above the ceiling cannot wind up. Measured on constant inputs over
[0, a_max] (α = 0.8, k = 10, d = d_fb as a fraction):

- the paper's θ = 0: the mean of ``−i_fb`` is ``(1 − d)·i_ip + |w_fb|/2``: every active
  unit is biased up by up to half a step (+0.37 step on average below 1/6 of the range);
- θ = ``|w_fb|/2`` (the mapper's default, "half_step"): the mean is ``(1 − d)·i_ip`` with
  no offset (a rounding quantizer); the mapper folds the gain into the scale of the
  reconstruction, leaving a mean error of 0.007 step and at most 0.38 step. (Noise-free, the
  comparator gives ``r(n) = i_ip(n) − d·r(n−1)``, i.e. ``r = i_ip/(1 + d)`` at rest, which is
  ``1 − d`` to O(d²); the mapper uses ``1/(1 + d)``, see :mod:`lprnn.snn.analysis`.)

Float path (:func:`sigma_delta_step`): real-valued states, ``decay(x, d) = x·(1 − d)`` with
``d`` in [0, 1], ``sat`` the identity, ``MAX`` = +inf.

Fixed-point path (:func:`sigma_delta_step_fixed`), Loihi arithmetic with the constants of
:mod:`lprnn.core.hardware`: int64 tensors holding 24-bit states,

    decay(x, d) = sign(x) · ((|x| · (4096 − d) + o) >> 12)   d integer in [0, 4096]

with the rounding offset o of the neuron's ``decay_rounding``: 0 for ``"truncate"`` (toward
zero, the rounding of Loihi 1 and of Lava's ``fixed_pt`` LIF model), 2048 for ``"nearest"``
(Loihi 2's programmable neurons: one add before the shift). Truncation takes half a unit per
step off every state's magnitude on average, so a state that decays with d settles
``0.5 · 4096/d`` units nearer zero: negligible for ``i_ip`` and ``i_fb``, whose scale grows
as 1/d, but not for a hidden layer's ``i_in``, which holds the drive (its scale shrinks with d):
the bias relative to the drive then grows as k², and a recurrent layer integrates it.
``sat(x) = clip(x, STATE_MIN, STATE_MAX)`` (saturation, not wrap-around) and
``MAX = STATE_MAX = 2**23 − 1``. Everything is integer: the result is bit-exact and
platform-independent; the Lava ProcessModel implements exactly these lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from lprnn.core import hardware


@dataclass(frozen=True)
class SigmaDeltaFixedParams:
    """Integer parameters of one layer's ΣΔ low-pass neurons (shared by all its neurons).

    Decays are 12-bit: a state x decays as sign(x)·((|x|·(4096 − d) + o) >> 12), so d = 4096/τ
    for a time constant τ in SNN steps (d = 0: no decay; d = 4096: no memory), with o the
    offset of ``decay_rounding`` (:data:`lprnn.core.hardware.DECAY_ROUNDING_OFFSETS`).
    """

    decay_in: int         # synaptic current i_in
    decay_ip: int         # low-pass input i_ip (the unit's state; sets the lpRNN's α)
    decay_v: int          # membrane v
    decay_fb: int         # self-feedback current i_fb
    feedback_weight: int  # w_fb < 0: added to i_fb at each own spike
    threshold: int        # θ: spike when v > θ
    # None: the paper's neuron (the ReLU clips the state i_ip at 0). An integer: the drive
    # i_in + bias is clamped to [0, drive_max] before the low-pass, as the ANN clamps z to
    # [0, a_max] (see lprnn.core.sigma_delta). Older files without it load as None.
    drive_max: int | None = None
    # Largest spike payload P: 1 is the paper's binary spike; P > 1 a graded spike carrying
    # the number of quantization steps |w_fb| the reconstruction falls behind (at most P).
    payload_max: int = 1
    # Rounding of every decay: "truncate" (toward zero: Loihi 1, Lava's LIF) or "nearest"
    # (Loihi 2 microcode; the mapper's default). Older files without it load as "truncate".
    decay_rounding: str = "truncate"


class SigmaDeltaState(NamedTuple):
    """The four states of a population of ΣΔ neurons (all of the same shape)."""

    i_in: Tensor  # synaptic current
    i_ip: Tensor  # low-pass of the input: the unit's analog state (≥ 0)
    v: Tensor     # membrane (≥ 0)
    i_fb: Tensor  # self-feedback current (≤ 0 for w_fb < 0); −i_fb decodes i_ip


@dataclass(frozen=True)
class SigmaDeltaParams:
    """Float parameters of the ΣΔ neuron; decays are fractions per step (d = 1/τ)."""

    decay_in: float
    decay_ip: float
    decay_v: float
    decay_fb: float
    feedback_weight: float  # w_fb < 0, added to i_fb at each own spike
    threshold: float        # θ ≥ 0: spike when v > θ
    drive_max: float | None = None  # None: ReLU on i_ip (paper); else clamp i_in + bias
    payload_max: int = 1            # largest spike payload P (1: binary spikes)

    def __post_init__(self) -> None:
        for name in ("decay_in", "decay_ip", "decay_v", "decay_fb"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"SigmaDeltaParams.{name}={value}: expected a decay in [0, 1]")
        if not self.feedback_weight < 0:
            raise ValueError(f"SigmaDeltaParams.feedback_weight={self.feedback_weight}: "
                             "expected a negative self-feedback weight")
        if not self.threshold >= 0:
            raise ValueError(f"SigmaDeltaParams.threshold={self.threshold}: expected θ ≥ 0")
        if self.drive_max is not None and not self.drive_max > 0:
            raise ValueError(f"SigmaDeltaParams.drive_max={self.drive_max}: expected None or "
                             "a positive drive ceiling")
        check_payload_max(self.payload_max, "SigmaDeltaParams")


def check_payload_max(payload_max: object, where: str) -> None:
    """Raise ValueError unless ``payload_max`` is an integer P in [1, 2^NEURON_SPIKE_BITS_MAX − 1]."""
    limit = 2 ** hardware.NEURON_SPIKE_BITS_MAX - 1
    if isinstance(payload_max, bool) or not isinstance(payload_max, int) \
            or not 1 <= payload_max <= limit:
        raise ValueError(f"{where}: payload_max={payload_max!r}, expected an integer spike "
                         f"payload in [1, {limit}] (1: binary spikes)")


def initial_state(shape: tuple[int, ...] | torch.Size, dtype: torch.dtype = torch.int64,
                  device: torch.device | str = "cpu") -> SigmaDeltaState:
    """All four states at zero (int64 for the fixed-point path, a float dtype for the float one)."""
    return SigmaDeltaState(*(torch.zeros(shape, dtype=dtype, device=device) for _ in range(4)))


def sigma_delta_step(synaptic_input: Tensor, bias: Tensor | float, state: SigmaDeltaState,
                     params: SigmaDeltaParams) -> tuple[Tensor, SigmaDeltaState]:
    """One float step of the ΣΔ neuron (module docstring); returns (spikes as float payloads
    0/1, or 0…P for graded spikes, state).

        i_in ← i_in·(1 − d_in) + a
        u    = i_in + bias   (clip(i_in + bias, 0, drive_max) when drive_max is set)
        i_ip ← max(0, i_ip·(1 − d_ip) + u)
        v    ← max(0, v·(1 − d_v) + i_ip + i_fb)
        s    = v > θ   (graded: clip(⌈(v − θ)/|w_fb|⌉, 0, P)) ;  v ← 0 where s > 0
        i_fb ← i_fb·(1 − d_fb) + w_fb · s
    """
    if not synaptic_input.is_floating_point():
        raise TypeError(f"sigma_delta_step: synaptic_input has dtype {synaptic_input.dtype}, "
                        "expected a float tensor (use sigma_delta_step_fixed for integers)")
    i_in = state.i_in * (1.0 - params.decay_in) + synaptic_input
    drive = i_in + bias
    if params.drive_max is not None:
        drive = torch.clamp(drive, 0.0, params.drive_max)
    i_ip = torch.clamp_min(state.i_ip * (1.0 - params.decay_ip) + drive, 0.0)
    v = torch.clamp_min(state.v * (1.0 - params.decay_v) + i_ip + state.i_fb, 0.0)
    if params.payload_max == 1:
        spikes = (v > params.threshold).to(synaptic_input.dtype)
    else:
        spikes = torch.clamp(torch.ceil((v - params.threshold) / -params.feedback_weight),
                             0.0, params.payload_max)
    v = torch.where(spikes > 0, torch.zeros_like(v), v)
    i_fb = state.i_fb * (1.0 - params.decay_fb) + params.feedback_weight * spikes
    return spikes, SigmaDeltaState(i_in, i_ip, v, i_fb)


def decay_fixed(x: Tensor, decay: int, rounding: str = "truncate") -> Tensor:
    """Loihi's 12-bit decay: sign(x) · ((|x| · (4096 − decay) + o) >> 12), with o = 0 for
    ``rounding="truncate"`` (toward zero) and 2048 for ``"nearest"``."""
    offset = hardware.DECAY_ROUNDING_OFFSETS[rounding]
    return torch.sign(x) * ((torch.abs(x) * (hardware.DECAY_UNITY - decay) + offset)
                            >> hardware.DECAY_SHIFT)


def saturate(x: Tensor) -> Tensor:
    """Clip to the signed 24-bit state range [STATE_MIN, STATE_MAX]."""
    return torch.clamp(x, hardware.STATE_MIN, hardware.STATE_MAX)


def validate_fixed_params(params: SigmaDeltaFixedParams, where: str = "neuron") -> None:
    """Raise ValueError if an integer parameter is outside what Loihi (and this model) allows."""
    for name in ("decay_in", "decay_ip", "decay_v", "decay_fb"):
        value = getattr(params, name)
        if not isinstance(value, int) or not 0 <= value <= hardware.DECAY_UNITY:
            raise ValueError(f"{where}: {name}={value!r}, expected an integer decay in "
                             f"[0, {hardware.DECAY_UNITY}]")
    if not isinstance(params.feedback_weight, int) or \
            not hardware.STATE_MIN <= params.feedback_weight < 0:
        raise ValueError(f"{where}: feedback_weight={params.feedback_weight!r}, expected a "
                         f"negative integer ≥ {hardware.STATE_MIN}")
    if not isinstance(params.threshold, int) or not 0 <= params.threshold <= hardware.STATE_MAX:
        raise ValueError(f"{where}: threshold={params.threshold!r}, expected an integer in "
                         f"[0, {hardware.STATE_MAX}]")
    if params.drive_max is not None and (not isinstance(params.drive_max, int)
                                         or not 0 < params.drive_max <= hardware.STATE_MAX):
        raise ValueError(f"{where}: drive_max={params.drive_max!r}, expected None or an integer "
                         f"in [1, {hardware.STATE_MAX}]")
    check_payload_max(params.payload_max, where)
    if params.decay_rounding not in hardware.DECAY_ROUNDING_OFFSETS:
        raise ValueError(f"{where}: decay_rounding={params.decay_rounding!r}, expected one of "
                         f"{list(hardware.DECAY_ROUNDING_OFFSETS)}")


def sigma_delta_step_fixed(synaptic_input: Tensor, bias: Tensor | int, state: SigmaDeltaState,
                           params: SigmaDeltaFixedParams, state_max: int = hardware.STATE_MAX
                           ) -> tuple[Tensor, SigmaDeltaState]:
    """One fixed-point step (Loihi arithmetic); returns (spikes, state): spikes as bool for
    binary spikes (``payload_max`` 1), int64 payloads 0…P for graded ones; states int64.

        i_in ← sat(decay(i_in, d_in) + a)
        u    = i_in + bias   (clip(i_in + bias, 0, drive_max) when drive_max is set)
        i_ip ← clip(decay(i_ip, d_ip) + u, 0, STATE_MAX)
        v    ← clip(decay(v, d_v) + i_ip + i_fb, 0, STATE_MAX)
        s    = v > θ   (graded: clip(⌈(v − θ)/|w_fb|⌉, 0, P), integer ceiling) ;  v ← 0 where s > 0
        i_fb ← sat(decay(i_fb, d_fb) + w_fb · s)

    with ``decay`` of :func:`decay_fixed` and ``sat`` of :func:`saturate`. ``params`` is not
    re-validated here (hot loop): check it once with :func:`validate_fixed_params`.
    ``state_max`` (``STATE_MAX``, the hardware's) is the saturation limit of every state; a
    wider one (below 2**50, so that decays stay exact in int64) shows what saturation changed.
    """
    if synaptic_input.dtype != torch.int64 or state.i_in.dtype != torch.int64:
        raise TypeError(f"sigma_delta_step_fixed: synaptic_input {synaptic_input.dtype} and "
                        f"state {state.i_in.dtype}, expected torch.int64 tensors")
    rounding = params.decay_rounding
    i_in = torch.clamp(decay_fixed(state.i_in, params.decay_in, rounding) + synaptic_input,
                       -state_max, state_max)
    drive = i_in + bias
    if params.drive_max is not None:
        drive = torch.clamp(drive, 0, params.drive_max)
    i_ip = torch.clamp(decay_fixed(state.i_ip, params.decay_ip, rounding) + drive, 0, state_max)
    v = torch.clamp(decay_fixed(state.v, params.decay_v, rounding) + i_ip + state.i_fb,
                    0, state_max)
    if params.payload_max == 1:
        spikes = v > params.threshold
    else:
        step = -params.feedback_weight
        spikes = torch.clamp((v - params.threshold + step - 1) // step, 0, params.payload_max)
    v = v.masked_fill(spikes > 0, 0)
    i_fb = torch.clamp(decay_fixed(state.i_fb, params.decay_fb, rounding)
                       + params.feedback_weight * spikes,
                       -state_max, state_max)
    return spikes, SigmaDeltaState(i_in, i_ip, v, i_fb)
