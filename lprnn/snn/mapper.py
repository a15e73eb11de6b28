"""ANN → SNN mapper: a trained :class:`~lprnn.ann.model.LpRNNClassifier` → :class:`LoihiNetwork`.

Every lpRNN unit becomes one ΣΔ neuron (:mod:`lprnn.core.sigma_delta`). With
``k = steps_per_ann_step`` SNN steps per ANN step and retention ratio α:

**Time constants.** The lpRNN's α is τ = −T_ANN / ln α, i.e. τ_ip = −k / ln α SNN steps
(``docs/METHOD.md``). Rather than d = 4096/τ, the mapper uses the exact discrete equivalent
``d_ip = round(4096 · (1 − α^(1/k)))`` so that k decays of ``1 − d_ip/4096`` give α (the
metadata record the effective α). The reconstruction decays with ``d_fb = d_ip``: the longest
time constant whose reconstruction still keeps up with a falling state (a state decays at
most with τ_ip while its drive stays ≥ 0), hence the finest quantization step
``a_max · d_fb / 4096`` in ANN units. Hidden layers filter incoming spikes with
``d_in = d_fb``: then ``i_in = W·2^e · LP(s)`` with ``LP(s) = −i_fb/|w_fb|`` of the
presynaptic neurons, exactly linear in their decoded values. The first layer receives the
held graded input and needs no synaptic filter (``d_in = 4096``). ``d_v = 4096``; the threshold
is half a quantization step, ``θ = |w_fb|/2`` (``threshold="half_step"``; ``"zero"`` is the
paper's θ = 0, which biases every active unit by half a step; see
:mod:`lprnn.core.sigma_delta`).

**Graded spikes.** ``spike_bits`` b lets every ΣΔ neuron send a payload of up to
P = 2^b − 1 quantization steps per SNN step (Loihi 2's graded spikes;
:mod:`lprnn.core.sigma_delta`). The ceiling of the reconstruction is then P·|w_fb|/d_fb, so for
the same a_max the step is P times finer, ``a_max · d_fb / (4096 · P)``, at the same k: the
binary step cannot come down but through k, because the reconstruction only falls by its own
decay and ``d_fb`` cannot be slower than ``d_ip``. The default is :data:`DEFAULT_SPIKE_BITS`
= 3, the candidate that notebook 03 measured closest to the ANN at every k (it sends about
3.6 times the events and twice the synaptic operations of binary spikes at the same k);
``spike_bits=1`` is the binary spike of the paper and of Loihi 1. Below, a spike rate r is a
payload per step; every formula holds with P = 1.

**Decay rounding.** ``decay_rounding="nearest"`` (default, :data:`DEFAULT_DECAY_ROUNDING`)
rounds every 12-bit decay to the nearest integer (one add before the shift in a Loihi 2
microcode neuron); ``"truncate"`` is Loihi 1's and Lava's LIF rounding, toward zero
(:mod:`lprnn.core.sigma_delta`). Truncation takes half a unit per step off a state's
magnitude, so a state that decays with d settles ``0.5 · 4096/d`` units nearer zero. A hidden
layer's ``i_in`` holds the drive at the gain g ≈ 2^23 · d/(4096 · a_max) (below), so its drive
is biased toward zero by about ``a_max / d²`` in ANN units, growing as k² (α = 0.8: d = 90,
45, 23 at k = 10, 20, 40). Against the quantization step ``a_max · d/(4096 · P)`` that is
``4096 · P / d³``: a third of a graded step at k = 20, more than two at k = 40, and a
recurrent layer that integrates its input (the adding task) drifts with it. Rounding to nearest leaves an unbiased
error of at most half a unit, and the SNN then approaches its rate model as k grows.

**Where the ReLU goes.** ``activation_clamp="drive"`` (default) clamps the drive
``i_in + bias`` to ``[0, a_max]`` before the low-pass, which is the lpRNN's
``LP(clamp(z))``; ``"state"`` is the paper's ReLU on ``i_ip`` (``relu(LP(z))``).

**Recurrent delay.** The lpRNN's recurrence uses ``h_{t−1}``, held over the whole ANN step t;
the SNN integrates continuously and would see its own state only one SNN step old. The rate
model of the mapped network (:func:`lprnn.snn.analysis.rate_model`: the same network with no
spike quantization) shows that timing, not the ΣΔ code, limits the agreement with the paper's
lpRNN, so the recurrent synapses get ``recurrent_delay = k // 2`` extra SNN steps (a Lava
``DelayDense``; Loihi 2 supports synaptic delays). What timing remains (each layer sees the
one below move during the ANN step, one SNN step late) is removed at its root by running the
ANN with the SNN's timing (``timing="snn"`` in :mod:`lprnn.ann.model`): that ANN *is* the rate
model, and a model with it maps only at its own k and D (``with_timing`` re-times a model).

**Readout latency.** Each layer follows the one below a fraction of an ANN step late, so the
decoded logits lag the lpRNN's (notebook 03's lag table: about 1.3 ANN steps behind the second
of two recurrent layers at k = 10). ``readout_latency`` m (default: the model's, one ANN step
per recurrent layer) holds the clip's last frame m more ANN steps and takes the window over
the T + m steps (:func:`lprnn.core.conventions.extend_input`): the readout waits for the
pipeline. An lpRNN run with the SNN's timing (``with_timing``) does the same, so it stays
the SNN's rate limit; ``readout_latency=0`` reads out when the input ends.

**Scales.** A spike rate r relates to the ANN activation h by r = P · h / a_max (P per
step is the clamp a_max), so ``LP(s) = P · h · 4096 / (a_max · d_fb)``. With 3-bit weights
``w = q · δ`` (``δ = 2^-weight_frac_bits``, q integer) and Loihi weights ``W = c · q``
(c even, so the mixed-sign mantissas are exact; ``|c·q|`` within [−256, 254]) shifted by
``e ≥ 0``, the drive of a layer is ``i_in + bias = g · z`` with the gain

    g = c · 2^e · 4096 · P / (a_max · d_fb_pre · δ)  (hidden layers: rate-coded inputs)
    g = c · 2^e · input_scale / δ                    (first layer: x_int = round(x·input_scale))

The recurrent weights of a layer use the same c and e (same gain: presynaptic d_fb is the
layer's own). The bias becomes ``round(g · b)`` = mantissa · 2^bias_exp (13-bit mantissa);
i_ip settles at ``ip_scale · z`` with ``ip_scale = g · 4096 / d_ip``; the half-step
comparator's reconstruction settles at ``i_ip / (1 + d_fb/4096)`` (noise-free, it is
``r(n) = i_ip(n) − d·r(n−1)``, :mod:`lprnn.snn.analysis`), so ``state_scale = ip_scale /
(1 + d_fb/4096)`` (``ip_scale`` for θ = 0), and
``w_fb = −round(a_max · state_scale · d_fb / (4096 · P))`` puts the ceiling of the
reconstruction (P per step) at a_max. The weights are therefore *exact*: W · 2^e / (c · 2^e) · δ
reproduces the 3-bit ANN weights bit for bit; only the bias, w_fb and the input are rounded
(their errors are in the report).

**Scale search.** Per layer, the largest ``c · 2^e`` (c ≤ the largest even multiplier that
keeps the mantissas in range, 0 ≤ e ≤ 7) whose states stay ``headroom_bits`` below 24-bit
saturation. With the drive clamp (default) the bounds are *exact* and need no data and no
headroom (``headroom_bits=0``): ``i_ip ≤ (drive_max + ρ) · 4096/d_ip`` (``v ≤ i_ip``),
``|i_fb| ≤ (P · |w_fb| + ρ) · 4096/d_fb`` and, for hidden layers fed by payloads 0…P,
``|i_in| ≤ ((Σ_row|W| + Σ_row|U|) · 2^e · P + ρ) · 4096/d_in``, with ρ = 1/2 when decays round
to nearest (a decay may then keep half a unit more than the exact product) and 0 when they
truncate; the first layer's ``i_in`` keeps no memory
and a value beyond 24 bits saturates to a drive that the clamp maps to the same result. So
the gain is ``g ≈ 2^23 · d_ip / (4096 · a_max)`` whatever k, data or calibration, and no state
can saturate. With ``activation_clamp="state"`` the drive is unbounded and the peak state is
estimated as ``state_scale · max(z_max, a_max)`` with z_max the largest ANN drive on the
``calibration`` inputs (or, without them, the worst case ``Σ|W|·a_max + |b|``, inputs bounded by
``input_bound``), with ``headroom_bits = 1`` by default. With calibration inputs the mapped
network is then simulated on them and any layer that comes closer to saturation than
``headroom_bits`` is scaled down and re-checked. For the first layer, c = 2 and e = 0: the
free ``input_scale`` takes the gain, which maximizes the resolution of the graded input.

**Readout.** ``readout="decoded"`` (default): ``logits = q_out · Σ_window(−i_fb) +
round(b · state_scale / δ) · N_w``, the ANN's averaged logits times ``N_w · state_scale / δ``
(what a Loihi readout neuron with the layer's synaptic decay d_fb and an integrating membrane
computes). ``"spike_counts"``: ``logits = (R·q_out) · counts + round(R·b·ρ/δ) · N_w`` with ρ
the spikes per step per unit of activation (≈ 1/a_max) and R = 2^10. Counting spikes is
worse: the count over a window is ``d_fb · Σ LP(s)`` plus the boundary term
``LP(end) − LP(start)``, i.e. the rate code also weighs how the activity changed across the
window (the "spike-count readout" rows of notebook 03's mapping sweep measure the cost).

What cannot be mapped raises :class:`MappingError` (a ValueError) naming the layer and value:
k not a positive integer, a decay that rounds out of [1, 4095] (k too large or too small for
α), weights off the 2^-frac_bits grid, a weight too large for an 8-bit mantissa with an even
multiplier, a scale that cannot avoid saturation, a bias beyond the 13-bit mantissa range.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from lprnn.ann.model import substep_decay
from lprnn.core import conventions, hardware
from lprnn.snn.network import (READOUT_SOURCES, LoihiLayer, LoihiNetwork, LoihiReadout,
                               SigmaDeltaFixedParams)

# Per layer name, the largest |state| of a simulation of the network on the calibration inputs
# (the simulator's lprnn.snn.simulator.state_max; lprnn.snn.map_network passes it).
StateMax = Callable[[LoihiNetwork, Tensor, bool], Mapping[str, int]]

# Readout multiplier R (see module doc): resolution of the per-step readout bias.
READOUT_MULTIPLIER = 2 ** 10
# Without calibration inputs, features are assumed within ±DEFAULT_INPUT_BOUND (the front
# ends z-normalize each clip); pass calibration data for a verified mapping instead.
DEFAULT_INPUT_BOUND = 8.0
# Bits kept below 24-bit saturation by the *estimated* bounds of activation_clamp="state"
# (the drive clamp's bounds are exact and need none).
DEFAULT_HEADROOM_BITS = 1.0
# Spike payload bits of the default mapping: graded spikes of up to 7 quantization steps
# (Loihi 2; 1 is the paper's binary spike). See the module doc.
DEFAULT_SPIKE_BITS = 3
# Rounding of the neurons' decays (lprnn.core.hardware.DECAY_ROUNDING_OFFSETS): "nearest"
# (Loihi 2 microcode) or "truncate" (Loihi 1, Lava's LIF). See the module doc.
DEFAULT_DECAY_ROUNDING = "nearest"
MAX_CALIBRATION_ROUNDS = 6
# The exact state bounds of the drive clamp hold for the rounded integers: keep the gain a
# hair below the limit so that round(gain · a_max) cannot push them over.
ROUNDING_MARGIN = 1.0 - 1e-4
ACTIVATION_CLAMPS = ("drive", "state")
THRESHOLDS = ("half_step", "zero")


class MappingError(ValueError):
    """The model cannot be mapped onto Loihi as asked (the message names layer and value)."""


def feedforward_decay(retention_ratio: float, steps_per_ann_step: int) -> int:
    """12-bit decay whose k-th power is α: round(4096 · (1 − α^(1/k))); MappingError if it
    falls outside [1, 4095]."""
    if isinstance(steps_per_ann_step, bool) or not isinstance(steps_per_ann_step, int):
        raise MappingError(f"steps_per_ann_step={steps_per_ann_step!r}: expected an integer")
    if steps_per_ann_step < 1:
        raise MappingError(f"steps_per_ann_step={steps_per_ann_step}: expected at least 1 SNN "
                           "step per ANN step")
    if not 0.0 < retention_ratio < 1.0:
        raise MappingError(f"retention_ratio={retention_ratio}: expected 0 < α < 1 for a "
                           "low-pass state")
    decay = substep_decay(retention_ratio, steps_per_ann_step)
    tau = -steps_per_ann_step / math.log(retention_ratio)
    if decay < 1:
        raise MappingError(f"steps_per_ann_step={steps_per_ann_step} too large for retention_ratio "
                           f"{retention_ratio}: τ_ip = {tau:.0f} SNN steps needs a decay "
                           f"{hardware.DECAY_UNITY / tau:.3f} < 1 (12-bit decays)")
    if decay >= hardware.DECAY_UNITY:
        raise MappingError(f"steps_per_ann_step={steps_per_ann_step} too small for retention_ratio "
                           f"{retention_ratio}: τ_ip = {tau:.3g} SNN steps gives decay {decay} "
                           f"≥ {hardware.DECAY_UNITY} (no memory left)")
    return decay


def _layer_weights(model: Any) -> list[dict[str, Any]]:
    """Per mapped layer: name, W, b, U (None for lpLinear) as float64 numpy, from the deployed
    (quantized, masked) parameters."""
    params = {k: v.detach().double().cpu().numpy() for k, v in model.effective_parameters().items()}
    layers = [dict(name="lpff", W=params["lpff.linear.weight"], b=params["lpff.linear.bias"], U=None)]
    for i in range(len(model.config.rnn_sizes)):
        p = f"rnn_layers.{i}"
        layers.append(dict(name=p, W=params[f"{p}.linear.weight"], b=params[f"{p}.linear.bias"],
                           U=params[f"{p}.linear_hh.weight"]))
    readout = dict(W=params["out.linear.weight"], b=params["out.linear.bias"])
    return layers + [readout]


def _to_grid(name: str, what: str, values: np.ndarray, quantum: float) -> np.ndarray:
    """values / quantum as exact integers, or MappingError naming the first off-grid value."""
    scaled = values / quantum
    q = np.round(scaled)
    off = np.abs(scaled - q) > 1e-6
    if off.any():
        bad = float(values.flat[int(np.argmax(off))])
        raise MappingError(f"layer {name}: {what} value {bad!r} is not a multiple of {quantum} "
                           f"(the model's weight grid); an exact mapping needs quantized weights")
    return q.astype(np.int64)


def _max_multiplier(name: str, q: np.ndarray) -> int:
    """Largest even c with every c·q in [WEIGHT_MIN, WEIGHT_MAX]; MappingError if below 2."""
    c = hardware.WEIGHT_MAX
    if q.max(initial=0) > 0:
        c = min(c, hardware.WEIGHT_MAX // int(q.max()))
    if q.min(initial=0) < 0:
        c = min(c, hardware.WEIGHT_MIN // int(q.min()))
    c -= c % 2
    if c < 2:
        worst = int(q.flat[int(np.argmax(np.abs(q)))])
        raise MappingError(f"layer {name}: weight mantissa {worst} (in steps of the weight grid) "
                           f"does not fit an 8-bit mantissa at any exponent: Loihi weights are "
                           f"even integers in [{hardware.WEIGHT_MIN}, {hardware.WEIGHT_MAX}], "
                           f"so |q| ≤ {hardware.WEIGHT_MAX // 2} is needed")
    return c


def _best_multiplier(name: str, target: float, c_max: int) -> tuple[int, int]:
    """The largest c·2^e ≤ target with c even in [2, c_max] and e in [0, WEIGHT_EXP_MAX]."""
    best = None
    for e in range(0, hardware.WEIGHT_EXP_MAX + 1):
        c = min(c_max, int(target // 2 ** e))
        c -= c % 2
        if c >= 2 and (best is None or c * 2 ** e > best[0] * 2 ** best[1]):
            best = (c, e)
    if best is None:
        raise MappingError(f"layer {name}: avoiding 24-bit saturation needs a weight scale "
                           f"c·2^e ≤ {target:.3g}, below the smallest exact one (2); its drive "
                           "is too large for Loihi's state range")
    return best


def _bias_fixed(name: str, bias: np.ndarray) -> tuple[np.ndarray, int]:
    """Integer bias → 13-bit mantissa · 2^exp (smallest exp that fits), rounding to nearest."""
    for exp in range(hardware.BIAS_EXP_MIN, hardware.BIAS_EXP_MAX + 1):
        mantissa = np.round(bias / 2 ** exp)
        if np.abs(mantissa).max(initial=0) <= hardware.BIAS_MANTISSA_MAX:
            return mantissa.astype(np.int32), exp
    worst = float(bias.flat[int(np.argmax(np.abs(bias)))])
    raise MappingError(f"layer {name}: bias {worst:.4g} (state units) exceeds the largest "
                       f"Loihi bias {hardware.BIAS_MANTISSA_MAX}·2^{hardware.BIAS_EXP_MAX}")


@torch.no_grad()
def _ann_drive_peaks(model: Any, layers: list[dict[str, Any]], calibration: Tensor) -> list[float]:
    """Largest positive drive z (and |drive| with the bias removed) per layer on calibration."""
    traces = model.trace(calibration.float())
    inputs = calibration.double().cpu().numpy()
    peaks = []
    for layer in layers:
        h_pre = inputs if layer["name"] == "lpff" else traces[_previous(layers, layer)].double().cpu().numpy()
        z = h_pre @ layer["W"].T + layer["b"]
        if layer["U"] is not None:
            h = traces[layer["name"]].double().cpu().numpy()
            h_prev = np.concatenate([np.zeros_like(h[:, :1]), h[:, :-1]], axis=1)
            z = z + h_prev @ layer["U"].T
        peaks.append(float(np.abs(z).max()))
    return peaks


def _previous(layers: list[dict[str, Any]], layer: dict[str, Any]) -> str:
    return layers[[x["name"] for x in layers].index(layer["name"]) - 1]["name"]


def _worst_case_peaks(layers: list[dict[str, Any]], a_max: float, input_bound: float) -> list[float]:
    peaks = []
    for layer in layers:
        bound = input_bound if layer["name"] == "lpff" else a_max
        z = np.abs(layer["W"]).sum(axis=1) * bound + np.abs(layer["b"])
        if layer["U"] is not None:
            z = z + np.abs(layer["U"]).sum(axis=1) * a_max
        peaks.append(float(z.max()))
    return peaks


def map_network(model: Any, steps_per_ann_step: int = 10, *, calibration: Tensor | None = None,
                headroom_bits: float | None = None, input_bound: float = DEFAULT_INPUT_BOUND,
                activation_clamp: str = "drive", threshold: str = "half_step",
                readout: str = "decoded", recurrent_delay: int | None = None,
                spike_bits: int = DEFAULT_SPIKE_BITS,
                decay_rounding: str = DEFAULT_DECAY_ROUNDING,
                readout_latency: int | None = None, state_max: StateMax | None = None,
                progress: bool = False) -> LoihiNetwork:
    """Map a trained (quantized) LpRNNClassifier onto ΣΔ neurons with k SNN steps per ANN step.

    ``calibration`` ([B, T, F] features like the model's inputs) sets and verifies the scales
    (no 24-bit saturation on it, ``headroom_bits`` to spare); without it worst-case bounds are
    used. ``state_max`` simulates a mapped network on the calibration inputs (needed with
    them; :func:`lprnn.snn.map_network` passes the simulator's). See the module docstring for
    every choice; ``spike_bits`` > 1 sends graded spikes of that many bits (Loihi 2; default
    :data:`DEFAULT_SPIKE_BITS`), 1 the paper's binary spikes (Loihi 1); ``decay_rounding``
    "nearest" (default) or "truncate" (Loihi 1); ``readout_latency`` m ANN steps (None: the
    model's ``config.snn_readout_latency``). Raises MappingError (a ValueError) for what
    cannot be mapped.
    """
    config = model.config
    k = steps_per_ann_step
    if isinstance(spike_bits, bool) or not isinstance(spike_bits, int) \
            or not 1 <= spike_bits <= hardware.NEURON_SPIKE_BITS_MAX:
        raise MappingError(f"spike_bits={spike_bits!r}: expected an integer in [1, "
                           f"{hardware.NEURON_SPIKE_BITS_MAX}] (1: binary spikes, more: graded "
                           "spikes of that many bits)")
    if decay_rounding not in hardware.DECAY_ROUNDING_OFFSETS:
        raise MappingError(f"decay_rounding={decay_rounding!r}: expected one of "
                           f"{list(hardware.DECAY_ROUNDING_OFFSETS)}")
    if activation_clamp not in ACTIVATION_CLAMPS:
        raise MappingError(f"activation_clamp={activation_clamp!r}: expected one of "
                           f"{list(ACTIVATION_CLAMPS)}")
    if threshold not in THRESHOLDS:
        raise MappingError(f"threshold={threshold!r}: expected one of {list(THRESHOLDS)}")
    if readout not in READOUT_SOURCES:
        raise MappingError(f"readout={readout!r}: expected one of {list(READOUT_SOURCES)}")
    readout_source = readout
    if headroom_bits is None:
        headroom_bits = 0.0 if activation_clamp == "drive" else DEFAULT_HEADROOM_BITS
    if recurrent_delay is None:
        recurrent_delay = steps_per_ann_step // 2 if isinstance(steps_per_ann_step, int) else 0
    if getattr(config, "timing", "ann") == "snn" and (
            config.steps_per_ann_step, config.substep_recurrent_delay) != (k, recurrent_delay):
        raise MappingError(f"model runs with SNN timing at k={config.steps_per_ann_step}, D="
                           f"{config.substep_recurrent_delay}, but the mapping asks k={k}, D="
                           f"{recurrent_delay}: map lprnn.ann.model.with_timing(model, 'snn', "
                           f"{k}, {recurrent_delay}) so that the ANN is this SNN's rate limit")
    model_latency = getattr(config, "snn_readout_latency", 0)
    if readout_latency is None:
        readout_latency = model_latency
    try:
        conventions.check_readout_latency(readout_latency)
    except ValueError as err:
        raise MappingError(str(err)) from None
    if getattr(config, "timing", "ann") == "snn" and model_latency != readout_latency:
        raise MappingError(f"model runs with SNN timing and readout latency {model_latency}, "
                           f"but the mapping asks {readout_latency}: map lprnn.ann.model."
                           f"with_timing(model, 'snn', {k}, readout_latency={readout_latency})")
    if isinstance(recurrent_delay, bool) or not isinstance(recurrent_delay, int) \
            or recurrent_delay < 0:
        raise MappingError(f"recurrent_delay={recurrent_delay!r}: expected a non-negative "
                           "integer number of SNN steps")
    payload_max = 2 ** spike_bits - 1
    d_ip = feedforward_decay(config.retention_ratio, k)
    d_fb = d_in_hidden = d_ip
    a_max = float(config.a_max)
    if config.weight_frac_bits is None:
        raise MappingError("model has float weights (weight_frac_bits=None): an exact mapping "
                           "needs fixed-point weights (train with weight_frac_bits, e.g. 3)")
    if not headroom_bits >= 0:
        raise MappingError(f"headroom_bits={headroom_bits}: expected ≥ 0")
    quantum = 2.0 ** -config.weight_frac_bits
    *layers, readout_params = _layer_weights(model)
    for layer in layers:
        layer["qW"] = _to_grid(layer["name"], "weight", layer["W"], quantum)
        layer["qU"] = (None if layer["U"] is None
                       else _to_grid(layer["name"], "recurrent weight", layer["U"], quantum))
        both = layer["qW"] if layer["qU"] is None else np.concatenate([layer["qW"].ravel(),
                                                                       layer["qU"].ravel()])
        layer["c_max"] = _max_multiplier(layer["name"], both)
        rows = np.abs(layer["qW"]).sum(axis=1)
        if layer["qU"] is not None:
            rows = rows + np.abs(layer["qU"]).sum(axis=1)
        layer["row_sum"] = max(int(rows.max(initial=0)), 1)   # in steps of the weight grid
    q_out = _to_grid("out", "readout weight", readout_params["W"], quantum)

    if calibration is not None:
        if state_max is None:
            raise MappingError("calibration inputs need state_max, a function that simulates the "
                               "mapped network on them: call lprnn.snn.map_network, which passes "
                               "the simulator's")
        model.check_input(calibration)
        peaks = _ann_drive_peaks(model, layers, calibration)
    else:
        peaks = _worst_case_peaks(layers, a_max, input_bound)
    shrink = [1.0] * len(layers)   # extra scale-down per layer found by calibration runs
    for _ in range(MAX_CALIBRATION_ROUNDS):
        network = _build(layers, q_out, readout_params, peaks, shrink, config, k, d_ip, d_fb,
                         d_in_hidden, quantum, headroom_bits, activation_clamp, threshold,
                         readout_source, recurrent_delay, payload_max, decay_rounding)
        network.readout_latency = readout_latency
        if calibration is None:
            return network
        peak_states = state_max(network, calibration, progress)
        limit = hardware.STATE_MAX * 2.0 ** -headroom_bits
        over = {i: peak_states[layer.name] / limit for i, layer in enumerate(network.layers)
                if peak_states[layer.name] > limit}
        for layer in network.layers:
            network.metadata["layers"][layer.name].update(
                calibrated_state_max=peak_states[layer.name],
                headroom_bits=float(np.log2(hardware.STATE_MAX
                                            / max(peak_states[layer.name], 1))))
        if not over:
            network.metadata["calibration_samples"] = int(calibration.shape[0])
            return network
        for i, ratio in over.items():
            shrink[i] *= 2.0 ** math.ceil(math.log2(ratio) + 1e-9)
    raise MappingError(f"layers {[network.layers[i].name for i in over]} still exceed the "
                       f"headroom after {MAX_CALIBRATION_ROUNDS} calibration rounds")


def _rounding_slack(decay_rounding: str) -> float:
    """ρ: how much more than the exact product x·(1 − d/4096) a decay can keep (module doc)."""
    return hardware.DECAY_ROUNDING_OFFSETS[decay_rounding] / hardware.DECAY_UNITY


def _state_bound(layer: LoihiLayer, first: bool) -> float:
    """The largest |state| a layer with the drive clamp can reach, for any input: i_ip ≤
    (drive_max + ρ)·4096/d_ip (v ≤ i_ip), |i_fb| ≤ (P·|w_fb| + ρ)·4096/d_fb and, for hidden
    layers fed by payloads 0…P, |i_in| ≤ ((Σ_row |W| + Σ_row |U|)·2^e·P + ρ)·4096/d_in, ρ the
    rounding slack (the first layer's i_in keeps no memory: beyond 24 bits it saturates to a
    drive the clamp maps to the same value)."""
    p = layer.neuron
    slack = _rounding_slack(p.decay_rounding)
    bounds = [(p.drive_max + slack) * hardware.DECAY_UNITY / p.decay_ip,
              (-p.feedback_weight * p.payload_max + slack) * hardware.DECAY_UNITY / p.decay_fb]
    if not first:
        rows = np.abs(layer.weights.astype(np.int64)).sum(axis=1) * 2.0 ** layer.weight_exp
        if layer.recurrent_weights is not None:
            rows = rows + (np.abs(layer.recurrent_weights.astype(np.int64)).sum(axis=1)
                           * 2.0 ** layer.recurrent_weight_exp)
        bounds.append((float(rows.max(initial=0)) * p.payload_max + slack)
                      * hardware.DECAY_UNITY / p.decay_in)
    return float(max(bounds))


def _build(layers, q_out, readout, peaks, shrink, config, k, d_ip, d_fb, d_in_hidden, quantum,
           headroom_bits, activation_clamp, threshold, readout_source,
           recurrent_delay, payload_max, decay_rounding) -> LoihiNetwork:
    a_max = float(config.a_max)
    slack = _rounding_slack(decay_rounding)
    state_limit = hardware.STATE_MAX * 2.0 ** -headroom_bits
    mapped, metadata_layers = [], {}
    input_scale = None
    for i, (layer, peak) in enumerate(zip(layers, peaks)):
        name = layer["name"]
        unit = hardware.DECAY_UNITY * payload_max / (a_max * d_fb * quantum)  # gain per unit of c·2^e (hidden)
        d_in = hardware.DECAY_UNITY if i == 0 else d_in_hidden
        if activation_clamp == "drive":
            # Exact bounds (module doc): i_ip ≤ (drive_max + ρ)·4096/d_ip, and the hidden
            # i_in ≤ (c·2^e·Σ_row|q|·P + ρ)·4096/d_in; the first layer's memoryless i_in may
            # saturate harmlessly.
            gain_target = (ROUNDING_MARGIN * (state_limit * d_ip / hardware.DECAY_UNITY - slack)
                           / (a_max * shrink[i]))
            if i > 0:
                gain_target = min(gain_target, unit * (state_limit * d_in / hardware.DECAY_UNITY
                                                       - slack)
                                  / (layer["row_sum"] * payload_max))
        else:
            # Largest gain g keeping ip_scale·max(z_peak, a_max) under the limit.
            gain_target = state_limit * d_ip / (hardware.DECAY_UNITY * max(peak, a_max) * shrink[i])
        if i == 0:
            # Any c is exact; the smallest leaves the most gain to input_scale (input resolution).
            c, e = 2, 0
            input_scale = gain_target * quantum / c
            gain = c * input_scale / quantum
        else:
            try:
                c, e = _best_multiplier(name, gain_target / unit, layer["c_max"])
            except MappingError as err:
                if payload_max == 1:
                    raise
                raise MappingError(f"{err}; graded spikes of {payload_max.bit_length()} bits "
                                   "raise the smallest gain P-fold: try fewer spike_bits") from None
            gain = c * 2 ** e * unit
        ip_scale = gain * hardware.DECAY_UNITY / d_ip      # i_ip units per unit of z
        # The half-step comparator's reconstruction settles at i_ip / (1 + d_fb) (module doc).
        state_scale = ip_scale * (1 / (1 + d_fb / hardware.DECAY_UNITY) if threshold == "half_step"
                                  else 1.0)
        w_fb = -round(a_max * state_scale * d_fb / (hardware.DECAY_UNITY * payload_max))
        if w_fb > -1 or w_fb < hardware.STATE_MIN:
            raise MappingError(f"layer {name}: feedback weight {w_fb} outside "
                               f"[{hardware.STATE_MIN}, -1]")
        bias_exact = gain * layer["b"]
        bias_mantissa, bias_exp = _bias_fixed(name, bias_exact)
        drive_max = round(gain * a_max) if activation_clamp == "drive" else None
        neuron = SigmaDeltaFixedParams(decay_in=d_in, decay_ip=d_ip, decay_v=hardware.DECAY_UNITY,
                                       decay_fb=d_fb, feedback_weight=w_fb,
                                       threshold=-w_fb // 2 if threshold == "half_step" else 0,
                                       drive_max=drive_max, payload_max=payload_max,
                                       decay_rounding=decay_rounding)
        weights = (c * layer["qW"]).astype(np.int32)
        recurrent = None if layer["qU"] is None else (c * layer["qU"]).astype(np.int32)
        mapped.append(LoihiLayer(name=name, weights=weights, weight_exp=e,
                                 bias_mantissa=bias_mantissa, bias_exp=bias_exp, neuron=neuron,
                                 state_scale=float(state_scale), recurrent_weights=recurrent,
                                 recurrent_weight_exp=e,
                                 recurrent_delay=0 if recurrent is None else recurrent_delay))
        scale = c * 2 ** e / quantum  # Loihi weight units (before the shift) per ANN weight unit
        bias_back = (bias_mantissa.astype(np.float64) * 2 ** bias_exp) / gain
        metadata_layers[name] = dict(
            weight_multiplier=c, weight_scale=scale,
            weight_error_max=float(np.abs(weights * 2 ** e / scale - layer["W"]).max()),
            recurrent_error_max=(None if recurrent is None else
                                 float(np.abs(recurrent * 2 ** e / scale - layer["U"]).max())),
            bias_error_max=float(np.abs(bias_back - layer["b"]).max(initial=0.0)),
            feedback_weight_error=float(abs(-w_fb - a_max * state_scale * d_fb
                                            / (hardware.DECAY_UNITY * payload_max))
                                        / state_scale),
            ip_scale=ip_scale, drive_peak=peak,
            estimated_state_max=(_state_bound(mapped[-1], i == 0) if activation_clamp == "drive"
                                 else float(ip_scale * max(peak, a_max))))
    # Readout: what c (snn doc) gains per step per activation unit of the last layer.
    last = mapped[-1]
    if readout_source == "decoded":
        multiplier, rate = 1, last.state_scale
    else:
        multiplier = READOUT_MULTIPLIER
        rate = last.state_scale * d_fb / (hardware.DECAY_UNITY * -last.neuron.feedback_weight)
    readout_bias = np.round(multiplier * readout["b"] * rate / quantum).astype(np.int64)
    loihi_readout = LoihiReadout(weights=(multiplier * q_out).astype(np.int32),
                                 bias=readout_bias, source=readout_source)
    metadata = dict(
        retention_ratio=config.retention_ratio, a_max=a_max,
        weight_frac_bits=config.weight_frac_bits,
        effective_retention_ratio=(1 - d_ip / hardware.DECAY_UNITY) ** k,
        tau_ip_snn_steps=-k / math.log(config.retention_ratio),
        quantization_step=a_max * d_fb / (hardware.DECAY_UNITY * payload_max),
        spike_bits=payload_max.bit_length(),   # P = 2^bits − 1
        decay_rounding=decay_rounding,
        readout=dict(multiplier=multiplier, gain_per_activation=rate,
                     bias_error_max=float(np.abs(readout_bias * quantum / (multiplier * rate)
                                                 - readout["b"]).max(initial=0.0))),
        headroom_bits_target=headroom_bits, activation_clamp=activation_clamp, threshold=threshold,
        layers=metadata_layers)
    return LoihiNetwork(layers=mapped, readout=loihi_readout, steps_per_ann_step=k,
                        input_scale=float(input_scale), averaging=config.averaging,
                        metadata=metadata)


def mapping_report(network: LoihiNetwork) -> pd.DataFrame:
    """One row per layer: sizes, weight/bias mantissa ranges and exponents, quantization errors
    (ANN units), scale, feedback weight, decays, saturation headroom (bits, calibrated when the
    mapping had calibration data, else the estimate) and Loihi 2 cores needed per layer
    (:func:`lprnn.core.conventions.loihi2_cores`; the network's total, readout included, is
    :func:`lprnn.snn.resources.cores_needed`)."""
    rows = []
    meta: Mapping[str, Any] = network.metadata.get("layers", {})
    for layer in network.layers:
        m = meta.get(layer.name, {})
        synapses = int(np.count_nonzero(layer.weights))
        if layer.recurrent_weights is not None:
            synapses += int(np.count_nonzero(layer.recurrent_weights))
        dense_synapses = layer.weights.size + (
            0 if layer.recurrent_weights is None else layer.recurrent_weights.size)
        cores = conventions.loihi2_cores(layer.n_neurons, dense_synapses)
        state_max = m.get("calibrated_state_max", m.get("estimated_state_max", math.nan))
        rec = layer.recurrent_weights
        rows.append(dict(
            layer=layer.name, neurons=layer.n_neurons, inputs=layer.n_inputs, synapses=synapses,
            weight_exp=layer.weight_exp,
            weight_min=int(layer.weights.min()), weight_max=int(layer.weights.max()),
            recurrent_min=None if rec is None else int(rec.min()),
            recurrent_max=None if rec is None else int(rec.max()),
            bias_exp=layer.bias_exp, bias_mantissa_min=int(layer.bias_mantissa.min()),
            bias_mantissa_max=int(layer.bias_mantissa.max()),
            state_scale=layer.state_scale, feedback_weight=layer.neuron.feedback_weight,
            decay_in=layer.neuron.decay_in, decay_ip=layer.neuron.decay_ip,
            decay_fb=layer.neuron.decay_fb,
            weight_error_max=m.get("weight_error_max", math.nan),
            recurrent_error_max=m.get("recurrent_error_max"),
            bias_error_max=m.get("bias_error_max", math.nan),
            state_max=state_max,
            headroom_bits=float(np.log2(hardware.STATE_MAX / state_max)) if state_max > 0 else math.inf,
            cores=cores, fits_one_core=cores == 1))
    return pd.DataFrame(rows).set_index("layer")
