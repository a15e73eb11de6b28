"""Input as events: a layer of ΣΔ encoder neurons in front of a mapped network.

:func:`lprnn.snn.mapper.map_network` feeds the first layer with the held graded input
``x_int = round(x · input_scale)``, re-sent at every SNN step: each of the k sends of a frame
costs one synaptic operation per non-zero input value and non-zero first-layer weight.
:func:`sigma_delta_input` returns the same network with the input sent as spikes instead:
each input channel drives an on/off pair of ΣΔ neurons (the features are z-normalized, so they
take both signs), and the first layer reads their spikes through its synapses, exactly as a
hidden layer reads the layer below. The encoder is a plain :class:`LoihiLayer`, so the
bit-exact simulator (:func:`lprnn.snn.simulate`) and Lava run it unchanged.

Encoder (layer ``"input_sd"``, 2F neurons, weights ``[+2·I; −2·I]``, exponent 0, no bias):

    d_in = d_ip = d_v = 4096        no memory: i_ip = clip(±2·x_int, 0, drive_max), v = (i_ip + i_fb)⁺
    d_fb = round(4096 · (1 − e^(−1/(τ_fb·k))))      reconstruction time constant τ_fb ANN steps
    θ    = |w_fb| // 2              half a quantization step (the mapper's "half_step")
    ceiling x_max ↔ one spike per SNN step:  2·s_in · x_max / (1 + d_fb/4096) = |w_fb| · 4096/d_fb

(``1 / (1 + d_fb/4096)`` is the mean gain of a half-step comparator's reconstruction −i_fb
against its state i_ip; :mod:`lprnn.core.sigma_delta`)

so an encoder neuron fires k·|x|/x_max times per frame (rate ∝ the value it holds, a ΣΔ code:
when the input is 0 it is silent), and its spikes low-passed with d_fb,
``L = Σ_m s(m)·(1 − d_fb/4096)^(n−m)``, decode ``L_on − L_off ≈ x · 4096 / (x_max · d_fb)``.
The quantization step is ``x_max · d_fb / 4096`` (input units).

First layer: weights ``[r·W₀, −r·W₀]`` with exponent e (r integer, 0 ≤ e ≤ 7) and synaptic
decay ``d_in = d_fb`` (a hidden layer's filter), everything else unchanged. Its drive is then

    i_in ≈ r·2^e · W₀ · (L_on − L_off) = r·2^e · 4096 / (x_max · d_fb) · W₀ · x

which equals the original ``(W₀ · x_int) << e₀ = 2^e₀ · s₀ · W₀ · x`` when

    x_max = r · 2^(e − e₀) · 4096 / (s₀ · d_fb)

The smallest ``r · 2^e`` (``|r·W₀|`` within the 8-bit mantissa range) that puts ``x_max`` at or
above ``input_bound`` is used, so the first layer's bias, scales, w_fb and clamp stay exactly
as mapped. When even the largest ``r · 2^e`` is too small (an encoder spike is worth more
input than the weights can carry: few SNN steps, a short τ_fb), the first layer's states are
scaled down by the power of two ``2^shift`` that makes it fit (its bias, w_fb, θ, clamp and
state scale divided and rounded; ``s₀`` above becomes ``s₀ / 2^shift``). ``|w_fb|`` is chosen so that the encoder's largest state is 2^21 (two bits of
headroom), and ``s_in`` (the new ``input_scale``) follows from the ceiling equation. Inputs
beyond ±x_max are clipped by the encoder (``drive_max``): pass the largest |x| expected.

What changes: the input's synaptic operations become 2 per non-zero input value and SNN step
(into the encoder pair) plus one per encoder spike and non-zero first-layer weight; 2F neuron
updates per SNN step are added; the first layer sees a quantized, one-step-later copy of the
input, which is what :func:`lprnn.snn.compare_with_ann` measures.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from lprnn.core import hardware
from lprnn.snn.network import LoihiLayer, LoihiNetwork, SigmaDeltaFixedParams

ENCODER_NAME = "input_sd"
# Encoder weight: Lava stores mixed-sign weights as even integers (lprnn.core.hardware).
ENCODER_WEIGHT = 2
# Largest encoder state, log2: two bits below 24-bit saturation.
ENCODER_STATE_BITS = hardware.STATE_BITS - 3
# Smallest |w_fb| left to a first layer scaled down for the encoder (its quantization step in
# state units: below this the rounding of w_fb, θ and the bias becomes visible).
MIN_FEEDBACK = 2 ** 6


class InputCodingError(ValueError):
    """The network cannot take a ΣΔ-encoded input as asked (the message names the value)."""


def encoder_decay(feedback_time_constant: float, steps_per_ann_step: int) -> int:
    """12-bit decay of the encoder's reconstruction for τ_fb ANN steps: round(4096·(1 − e^(−1/(τ_fb·k))))."""
    if not (isinstance(feedback_time_constant, (int, float)) and feedback_time_constant > 0):
        raise InputCodingError(f"feedback_time_constant={feedback_time_constant!r}: expected a "
                               "positive number of ANN steps")
    decay = round(hardware.DECAY_UNITY
                  * (1.0 - math.exp(-1.0 / (feedback_time_constant * steps_per_ann_step))))
    if not 1 <= decay < hardware.DECAY_UNITY:
        raise InputCodingError(f"feedback_time_constant={feedback_time_constant} ANN steps at "
                               f"k={steps_per_ann_step} gives decay {decay}, outside "
                               f"[1, {hardware.DECAY_UNITY - 1}]")
    return decay


def _largest_multiplier(first: LoihiLayer) -> int:
    """Largest r with every r·W₀ in Lava's weight range."""
    w = first.weights.astype(np.int64)
    r_max = hardware.WEIGHT_MAX
    if w.max(initial=0) > 0:
        r_max = min(r_max, hardware.WEIGHT_MAX // int(w.max()))
    if w.min(initial=0) < 0:
        r_max = min(r_max, hardware.WEIGHT_MIN // int(w.min()))
    return r_max


def _first_layer_multiplier(r_max: int, target: float) -> tuple[int, int]:
    """Smallest r·2^e ≥ target with 1 ≤ r ≤ r_max and e in [0, WEIGHT_EXP_MAX]."""
    best = None
    for e in range(0, hardware.WEIGHT_EXP_MAX + 1):
        r = max(1, math.ceil(target / 2 ** e))
        if r <= r_max and (best is None or r * 2 ** e < best[0] * 2 ** best[1]):
            best = (r, e)
    assert best is not None, "caller keeps target ≤ r_max · 2^WEIGHT_EXP_MAX"
    return best


def _scaled_down(layer: LoihiLayer, shift: int) -> LoihiLayer:
    """The layer with its states 2^shift times smaller: bias, w_fb, θ, drive ceiling and state
    scale divided by 2^shift (rounded); its spikes, which are all later layers see, keep their
    meaning."""
    if shift == 0:
        return layer
    bias = np.round(layer.bias.astype(np.float64) / 2 ** shift)
    exp = 0
    while np.abs(bias / 2 ** exp).max(initial=0) > hardware.BIAS_MANTISSA_MAX:
        exp += 1
    neuron = layer.neuron
    feedback = -max(1, round(-neuron.feedback_weight / 2 ** shift))
    return replace(
        layer, bias_mantissa=np.round(bias / 2 ** exp).astype(np.int32), bias_exp=exp,
        state_scale=layer.state_scale / 2 ** shift,
        neuron=replace(neuron, feedback_weight=feedback,
                       threshold=round(neuron.threshold / 2 ** shift),
                       drive_max=(None if neuron.drive_max is None
                                  else max(1, round(neuron.drive_max / 2 ** shift)))))


def sigma_delta_input(network: LoihiNetwork, *, input_bound: float,
                      feedback_time_constant: float = 1.0) -> LoihiNetwork:
    """``network`` with its input sent as ΣΔ spikes by 2F encoder neurons (module docstring).

    ``input_bound``: the largest |x| to represent (x_max is the smallest admissible value at or
    above it); ``feedback_time_constant``: τ_fb of the encoder's reconstruction in ANN steps
    (shorter follows faster changes, with a coarser quantization step x_max·d_fb/4096).
    The input network is not modified.
    """
    if network.layers and network.layers[0].name == ENCODER_NAME:
        raise InputCodingError("network already has a ΣΔ input encoder")
    if not (isinstance(input_bound, (int, float)) and math.isfinite(input_bound)
            and input_bound > 0):
        raise InputCodingError(f"input_bound={input_bound!r}: expected a positive number (the "
                               "largest |input| to represent)")
    k = network.steps_per_ann_step
    first = network.layers[0]
    if first.neuron.decay_in != hardware.DECAY_UNITY:
        raise InputCodingError(f"layer {first.name}: decay_in={first.neuron.decay_in}, expected "
                               f"{hardware.DECAY_UNITY} (a first layer fed with the graded input)")
    d_fb = encoder_decay(feedback_time_constant, k)
    r_max = _largest_multiplier(first)
    target = (input_bound * 2.0 ** first.weight_exp * network.input_scale * d_fb
              / hardware.DECAY_UNITY)
    # A spike worth more input than the weights can carry: scale the first layer's states down.
    shift = max(0, math.ceil(math.log2(target / (r_max * 2 ** hardware.WEIGHT_EXP_MAX))))
    first = _scaled_down(first, shift)
    if -first.neuron.feedback_weight < MIN_FEEDBACK:
        raise InputCodingError(
            f"layer {first.name}: input_bound={input_bound} at τ_fb={feedback_time_constant} "
            f"ANN steps needs the first layer's states 2^{shift} times smaller, leaving a "
            f"feedback weight {first.neuron.feedback_weight} (at least {MIN_FEEDBACK} in "
            "magnitude expected); use a larger feedback_time_constant or a smaller input_bound")
    base_gain = 2.0 ** (first.weight_exp - shift) * network.input_scale  # 2^e₀ · s₀ / 2^shift
    r, e = _first_layer_multiplier(r_max, target / 2 ** shift)
    x_max = r * 2 ** e * hardware.DECAY_UNITY / (base_gain * d_fb)
    # Mean reconstruction of a half-step comparator: −i_fb ≈ i_ip / (1 + d_fb/4096), the slope
    # measured over the range in fixed point (1.000 of 1/(1+d) at d = 90, 0.99 at d = 1350).
    retained = 1.0 / (1.0 + d_fb / hardware.DECAY_UNITY)
    # |w_fb| from the ceiling equation with the encoder's largest state 2·s_in·x_max = 2^21.
    feedback = round(retained * 2.0 ** ENCODER_STATE_BITS * d_fb / hardware.DECAY_UNITY)
    if feedback < 2:
        raise InputCodingError(f"encoder feedback weight {feedback} too small to quantize")
    input_scale = feedback * hardware.DECAY_UNITY / (d_fb * retained * ENCODER_WEIGHT * x_max)
    drive_max = round(ENCODER_WEIGHT * input_scale * x_max)
    n_inputs = network.n_inputs
    identity = np.eye(n_inputs, dtype=np.int32) * ENCODER_WEIGHT
    encoder = LoihiLayer(
        name=ENCODER_NAME, weights=np.concatenate([identity, -identity]), weight_exp=0,
        bias_mantissa=np.zeros(2 * n_inputs, np.int32), bias_exp=0,
        neuron=SigmaDeltaFixedParams(
            decay_in=hardware.DECAY_UNITY, decay_ip=hardware.DECAY_UNITY,
            decay_v=hardware.DECAY_UNITY, decay_fb=d_fb, feedback_weight=-feedback,
            threshold=feedback // 2, drive_max=drive_max,
            decay_rounding=first.neuron.decay_rounding),
        state_scale=retained * ENCODER_WEIGHT * input_scale)
    w0 = first.weights.astype(np.int64) * r
    reading = replace(first, weights=np.concatenate([w0, -w0], axis=1).astype(np.int32),
                      weight_exp=e, neuron=replace(first.neuron, decay_in=d_fb))
    metadata = dict(network.metadata)
    metadata["input_coding"] = dict(
        kind="sigma_delta", input_bound=float(input_bound), input_max=float(x_max),
        feedback_time_constant=float(feedback_time_constant), decay_fb=d_fb,
        quantization_step=float(x_max * d_fb / hardware.DECAY_UNITY),
        first_layer_multiplier=r, first_layer_weight_exp=e, first_layer_state_shift=shift,
        graded_input_scale=float(network.input_scale))
    return replace(network, layers=[encoder, reading, *network.layers[1:]],
                   input_scale=float(input_scale), metadata=metadata)
