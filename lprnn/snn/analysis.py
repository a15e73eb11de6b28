"""Where ANN and SNN differ: a rate model of the mapped network, per-layer lags, and a
decomposition of every disagreement.

**The rate model** (:func:`rate_model`) is what a mapped :class:`LoihiNetwork` computes with
no spike quantization: the same integer weights, biases, decays, clamps, timing and delays
(``docs/ARCHITECTURE.md``), in float64, with each neuron's ΣΔ comparator replaced by its
noise-free rate. Per layer l and SNN step n (``k`` steps per ANN step, ``D_l`` the recurrent
delay, ``β_x = 1 − d_x/4096``, ``ρ`` the spike payload per step, in [0, P] with P the
layer's ``payload_max``: 1 for binary spikes)::

    a_l(n)  = W_l 2^e · ρ_{l−1}(n−1) + U_l 2^e · ρ_l(n−1−D_l)     (a_0(n) = W_0 2^e x_int[(n−1)//k])
    i_in(n) = β_in · i_in(n−1) + a_l(n)
    u(n)    = clip(i_in(n) + bias, 0, drive_max)          (or i_in + bias, ReLU on i_ip below)
    i_ip(n) = max(0, β_ip · i_ip(n−1) + u(n))
    ρ(n)    = clip((i_ip(n) − r(n−1) − θ) / |w_fb| + 1/2, 0, P)        r = −i_fb
    r(n)    = β_fb · r(n−1) + |w_fb| · ρ(n)

The comparator ``s = [i_ip − r > θ]`` (``d_v = 4096``: the membrane keeps no memory) is a
rounding quantizer of ``(i_ip − r)/|w_fb|`` for θ = |w_fb|/2; the rate model takes the
quantizer's input itself, clipped to P per step (the rate ceiling, where a_max goes).
Readout as in the simulator: ``Σ_window r`` (decoded) or ``Σ_window ρ`` (spike counts) times
the readout weights plus ``bias · N_w``.

What the rate model shows (the exact discrete-time system the SNN implements). In ANN units
(``P = i_ip / ip_scale``; with the ideal ΣΔ the decoded value ``r / state_scale`` equals P to
O(d²)), every layer is

    P_l(n) = β P_l(n−1) + (1 − β) · clamp(W_l P_{l−1}(n−1) + U_l P_l(n−1−D_l) + b_l, 0, a_max)

with β^k = α: a low-pass at k times the ANN's rate whose input from the layer below moves
*during* the ANN step. The lpRNN instead jumps once per step with the layer below already at
its new value (``h_t^l`` uses ``h_t^{l−1}``): the first layer sampled at the end of each ANN
step equals the lpRNN exactly (its input is held), each deeper layer sees a smoothed, late
copy of the layer below and lags by a further fraction of an ANN step. That is the timing
difference :func:`layer_lags` measures and the lpRNN's ``timing="snn"`` option
(:mod:`lprnn.ann.model`) removes: trained with it, the ANN *is* this recurrence.

**Disagreements** (:func:`disagreement_table`): per clip, the ANN's, the rate model's and the
SNN's predictions, the ANN's logit margin (top-1 − top-2), 24-bit saturation and the time at
the rate ceiling, and a cause for every clip where the SNN and the ANN disagree:
``saturation`` (a state hit the 24-bit range), ``timing`` (the noise-free rate model already
disagrees with the ANN), ``readout`` (the rate model agrees only with a readout window shifted
by the last layer's lag), ``quantization`` (the rate model agrees, the spikes do not).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from lprnn.core import hardware
from lprnn.snn.network import LoihiNetwork
from lprnn.snn.simulator import SimulationResult, encode_input

CAUSES = ("saturation", "timing", "readout", "quantization")


@dataclass
class RateResult:
    """What :func:`rate_model` returns (float64, on the CPU)."""

    logits: Tensor | None                # [B, C], simulator's integer-logit units (None: spread
                                         # over a subset, lprnn.experiments.mapping_accuracy)
    predictions: Tensor                  # [B]
    decoded: dict[str, Tensor] | None    # per layer [B, T·k, n]: r / state_scale (ANN units)
    rates: dict[str, Tensor] | None      # per layer [B, T·k, n]: spikes per step ρ (record=True)
    saturated: dict[str, Tensor]         # per layer [B]: SNN steps with a state beyond 24 bits
    at_ceiling: dict[str, Tensor]        # per layer [B]: fraction of (step, unit) with ρ = P


def _shift(x: Tensor, exp: int) -> Tensor:
    return x * 2.0 ** exp


@torch.no_grad()
def rate_model(network: LoihiNetwork, x: Tensor, *, window_shift: int = 0, record: bool = False,
               batch_size: int = 64) -> RateResult:
    """The noise-free rate model of ``network`` on x [B, T, F] (module docstring).

    ``window_shift`` ≥ 0 moves the readout window that many SNN steps later: the run is
    extended by as many steps with the last input frame held, and the window is
    ``[window_start(T) + shift, T·k + shift)`` (same length; the traces then have
    ``T·k + shift`` steps). ``record`` keeps the per-step decoded values and rates
    (B·(T·k + shift)·Σn float64 values each).
    """
    chunks = [_rate_batch(network, x[i:i + batch_size], window_shift, record)
              for i in range(0, x.shape[0], batch_size)]
    names = [layer.name for layer in network.layers]

    def joined(field: str) -> dict[str, Tensor]:
        return {name: torch.cat([getattr(c, field)[name] for c in chunks]) for name in names}

    logits = torch.cat([c.logits for c in chunks])
    return RateResult(logits=logits, predictions=logits.argmax(dim=1),
                      decoded=joined("decoded") if record else None,
                      rates=joined("rates") if record else None,
                      saturated=joined("saturated"), at_ceiling=joined("at_ceiling"))


def _rate_batch(network: LoihiNetwork, x: Tensor, window_shift: int, record: bool) -> RateResult:
    k = network.steps_per_ann_step
    x_int = encode_input(network, x).double()
    batch, n_ann, _ = x_int.shape
    if isinstance(window_shift, bool) or not isinstance(window_shift, int) or window_shift < 0:
        raise ValueError(f"window_shift={window_shift!r}: expected an integer ≥ 0 (SNN steps)")
    n_steps = n_ann * k + window_shift
    window = network.window_start(n_ann) + window_shift
    frames = (torch.arange(1, n_steps) - 1).div(k, rounding_mode="floor").clamp_max(n_ann - 1)
    held = torch.zeros(batch, n_steps, x_int.shape[-1], dtype=torch.float64)
    held[:, 1:] = x_int[:, frames]              # x_int[(n − 1) // k] for n ≥ 1, then the last
    presynaptic = held
    decoded, rates, saturated, at_ceiling = {}, {}, {}, {}
    for index, layer in enumerate(network.layers):
        p = layer.neuron
        if p.decay_v != hardware.DECAY_UNITY:
            raise ValueError(f"layer {layer.name}: decay_v={p.decay_v}; the rate model needs "
                             f"a memoryless membrane (decay_v={hardware.DECAY_UNITY})")
        weights = torch.as_tensor(layer.weights, dtype=torch.float64)
        # Input synapses: one step of delay (the first layer's held input already carries it).
        feedforward = _shift(presynaptic @ weights.T, layer.weight_exp)
        if index > 0:
            feedforward = torch.cat([torch.zeros_like(feedforward[:, :1]), feedforward[:, :-1]], 1)
        recurrent = (None if layer.recurrent_weights is None else
                     _shift(torch.as_tensor(layer.recurrent_weights, dtype=torch.float64).T,
                            layer.recurrent_weight_exp))
        lag = 1 + layer.recurrent_delay
        bias = torch.as_tensor(layer.bias, dtype=torch.float64)
        keep_in, keep_ip, keep_fb = (1 - d / hardware.DECAY_UNITY
                                     for d in (p.decay_in, p.decay_ip, p.decay_fb))
        step = float(-p.feedback_weight)
        i_in = torch.zeros(batch, layer.n_neurons, dtype=torch.float64)
        i_ip, r = torch.zeros_like(i_in), torch.zeros_like(i_in)
        rho = torch.zeros(batch, n_steps, layer.n_neurons, dtype=torch.float64)
        recon = torch.zeros_like(rho)
        over = torch.zeros(batch, dtype=torch.int64)
        for n in range(n_steps):
            a = feedforward[:, n]
            if recurrent is not None and n >= lag:
                a = a + rho[:, n - lag] @ recurrent
            i_in = keep_in * i_in + a
            drive = i_in + bias
            if p.drive_max is not None:
                drive = drive.clamp(0.0, float(p.drive_max))
            i_ip = (keep_ip * i_ip + drive).clamp_min(0.0)
            over += ((i_in.abs() > hardware.STATE_MAX) | (i_ip > hardware.STATE_MAX)).any(1)
            rho[:, n] = ((i_ip - r - p.threshold) / step + 0.5).clamp(0.0, p.payload_max)
            r = keep_fb * r + step * rho[:, n]
            recon[:, n] = r
        if record:
            decoded[layer.name] = recon / layer.state_scale
            rates[layer.name] = rho
        saturated[layer.name] = over
        at_ceiling[layer.name] = (rho >= p.payload_max).double().mean(dim=(1, 2))
        presynaptic = rho
        last_recon = recon
    readout_w = torch.as_tensor(np.asarray(network.readout.weights), dtype=torch.float64)
    source = last_recon if network.readout.source == "decoded" else presynaptic
    readout_bias = torch.as_tensor(np.asarray(network.readout.bias), dtype=torch.float64)
    logits = source[:, window:].sum(dim=1) @ readout_w.T + readout_bias * (n_steps - window)
    return RateResult(logits=logits, predictions=logits.argmax(dim=1), decoded=decoded,
                      rates=rates, saturated=saturated, at_ceiling=at_ceiling)


def decoded_at_snn_steps(network: LoihiNetwork, result: SimulationResult) -> dict[str, Tensor]:
    """Per layer [B, T·k, n]: the SNN's reconstruction −i_fb / state_scale after every SNN step,
    rebuilt exactly from the recorded spikes (``simulate(..., record=True)``) with the
    fixed-point decay ``i_fb ← decay(i_fb, d_fb) + w_fb·s`` (with the layer's decay rounding)."""
    from lprnn.core.sigma_delta import decay_fixed, saturate

    if result.spikes is None:
        raise ValueError("the simulation result has no spikes: simulate with record=True")
    decoded = {}
    for layer in network.layers:
        spikes = result.spikes[layer.name]
        i_fb = torch.zeros(spikes.shape[0], spikes.shape[2], dtype=torch.int64)
        trace = torch.empty(spikes.shape, dtype=torch.float64)
        for n in range(spikes.shape[1]):
            i_fb = saturate(decay_fixed(i_fb, layer.neuron.decay_fb, layer.neuron.decay_rounding)
                            + layer.neuron.feedback_weight * spikes[:, n].to(torch.int64))
            trace[:, n] = -i_fb.double()
        decoded[layer.name] = trace / layer.state_scale
    return decoded


def layer_lags(ann_traces: dict[str, Tensor], decoded: dict[str, Tensor],
               steps_per_ann_step: int, max_lag_ann_steps: float = 3.0) -> pd.DataFrame:
    """Per layer, the shift L (SNN steps) that best aligns the decoded trace with the ANN's.

    ``decoded`` [B, T·k, n] at SNN resolution (:func:`rate_model` or
    :func:`decoded_at_snn_steps`). ``ann_traces`` [B, T, n] (``model.trace`` of the lpRNN): its
    h_t is the state at the end of ANN step t, compared with the decoded value after SNN step
    ``(t + 1)·k − 1 + L``; or [B, T·k, n] (``substep_trace`` of an SNN-timed lpRNN), compared
    step for step with the decoded value L steps later. L minimizes the mean squared
    difference over L in [0, max_lag·k]. Columns: lag (SNN steps), lag_ann_steps (L/k),
    rms_at_lag and rms_at_zero (ANN units), correlation at the lag.
    """
    k = steps_per_ann_step
    rows = []
    for name, trace in decoded.items():
        ann = ann_traces[name].double()
        n_ann = ann.shape[1]
        stride, offset = (1, 0) if n_ann == trace.shape[1] else (k, k - 1)
        best = None
        for lag in range(0, int(max_lag_ann_steps * k) + 1):
            steps = torch.arange(n_ann) * stride + offset + lag
            valid = steps < trace.shape[1]
            snn = trace[:, steps[valid]]
            rms = float(((snn - ann[:, valid]) ** 2).mean().sqrt())
            if lag == 0:
                rms_zero = rms
            if best is None or rms < best[1]:
                corr = float(torch.corrcoef(torch.stack([snn.flatten(),
                                                         ann[:, valid].flatten()]))[0, 1])
                best = (lag, rms, corr)
        rows.append(dict(layer=name, lag=best[0], lag_ann_steps=best[0] / k,
                         rms_at_lag=best[1], rms_at_zero=rms_zero, correlation=best[2]))
    return pd.DataFrame(rows).set_index("layer")


def logit_margin(logits: Tensor) -> Tensor:
    """Top-1 minus top-2 logit per row [B, C] → [B]."""
    top = logits.double().topk(2, dim=1).values
    return top[:, 0] - top[:, 1]


def disagreement_table(ann_logits: Tensor, snn: SimulationResult, rate: RateResult,
                       rate_shifted: RateResult | None = None) -> pd.DataFrame:
    """One row per clip: predictions of the ANN, the rate model (and the rate model with the
    readout window shifted by the last layer's lag), the SNN; the ANN's logit margin; SNN
    steps with a 24-bit state; fraction of (step, unit) at the rate ceiling; and ``cause``
    (one of :data:`CAUSES`, empty where ANN and SNN agree; module docstring)."""
    ann = ann_logits.argmax(dim=1)
    table = pd.DataFrame(dict(
        ann=ann.numpy(), rate=rate.predictions.numpy(), snn=snn.predictions.numpy(),
        margin=logit_margin(ann_logits).numpy(),
        saturated_steps=sum(v for v in rate.saturated.values()).numpy(),
        at_ceiling=torch.stack(list(rate.at_ceiling.values())).max(dim=0).values.numpy()))
    table["rate_shifted"] = (table["rate"] if rate_shifted is None
                             else rate_shifted.predictions.numpy())
    table["agree"] = table["ann"] == table["snn"]
    cause = np.full(len(table), "", dtype=object)
    disagree = ~table["agree"].to_numpy()
    timing = table["rate"].to_numpy() != table["ann"].to_numpy()
    readout = timing & (table["rate_shifted"].to_numpy() == table["ann"].to_numpy())
    cause[disagree] = "quantization"
    cause[disagree & timing] = "timing"
    cause[disagree & readout] = "readout"
    cause[disagree & (table["saturated_steps"].to_numpy() > 0)] = "saturation"
    table["cause"] = cause
    return table


def cause_counts(table: pd.DataFrame) -> pd.Series:
    """Number of disagreeing clips per cause (all of :data:`CAUSES`, zeros included)."""
    return table.loc[~table["agree"], "cause"].value_counts().reindex(list(CAUSES), fill_value=0)
