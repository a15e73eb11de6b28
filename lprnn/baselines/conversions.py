"""Plain conversions of a trained lpRNN to spikes: what the adaptive ΣΔ neuron is compared with.

Both take the *deployed* network (:meth:`lprnn.ann.model.LpRNNClassifier.effective_parameters`: the
quantized, masked weights) and change only the neuron, so the difference to the adaptive ΣΔ
mapping (:func:`lprnn.snn.map_network` + :func:`lprnn.snn.simulate`) is the neuron model.
They run in float (no Loihi integer rounding), which only favours them.

**Rate-coded integrate-and-fire without self-feedback** (:func:`simulate_rate_coded`): the ΣΔ
low-pass neuron with its feedback current removed and the membrane turned into a plain
integrate-and-fire unit (:func:`lprnn.core.integrate_fire.integrate_fire_step`, reset by
subtraction). With k SNN steps per ANN step (input held), the per-step retention
α_k = α^(1/k) (k sub-steps give the ANN's α), and a spike worth ``a_max`` for one step (so a
rate r decodes to r·a_max, and θ = a_max)::

    z(n)    = W x̂(n) + U ĥ(n) + b              x̂ = x[(n−1)//k] (first layer; 0 at n = 0)
                                               or a_max·s_below(n−1);
                                               ĥ = a_max·s_self(n−1)
    i_ip(n) = max(0, α_k i_ip(n−1) + (1 − α_k) z(n))    the unit's state, ReLU'd like the ΣΔ's
    v(n)    = v(n−1) + i_ip(n);  s(n) = [v ≥ a_max];  v ← v − a_max·s

The rate saturates at one spike per step (the clamp at a_max). The readout averages
``a_max·s`` of the last layer over the ANN's window. More steps per ANN step, more spikes,
less rate-coding noise: the spike budget is set by k.

**Stock sigma-delta neurons** (:func:`simulate_stock_sigma_delta`): Lava's ``lava.proc.sdn``
SigmaDelta neuron (lava-dl ``slayer`` sigma-delta blocks): Σ sums the graded input messages
(reconstructing the weighted presynaptic activations), an activation is applied, and Δ sends
the change of the activation as a graded spike when it reaches the threshold θ::

    Δ = act(t) − sent(t−1);  s = Δ·[|Δ| ≥ θ];  sent ← sent + s

(Lava's Delta keeps ``act − residue`` as ``sent``; the receivers' Σ holds exactly ``sent``.
Σ, ReLU and :func:`delta_encode` are tested equal to Lava's own ``SigmaDelta`` process,
``fixed_pt``, on the same integers; population A's ceiling a_max has no counterpart there.)
The stock neuron holds no low-pass state, so each lpRNN unit becomes two of them, updated once
per ANN step (lava-dl's graded-spike networks run at the ANN rate): population A with
activation ``clamp(z, 0, a_max)`` on z = W x̂ + U ĥ + b, and population B with a ReLU on
``(1 − α)·â + α·ĥ`` (an input synapse of weight 1 − α from its A neuron and a self-synapse of
weight α), which is the lpRNN's h. The lpLinear layer is the same with U = 0. θ sets the
budget: θ → 0 reproduces the ANN, larger θ sends fewer (graded, multi-bit) spikes.

Synaptic events (``synaptic_ops``) count every spike (and every non-zero input value) times
the number of non-zero weights it reaches.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from lprnn.baselines.elman import SpikingResult
from lprnn.core import conventions
from lprnn.core.integrate_fire import IntegrateFireParams, integrate_fire_step
from lprnn.core.integrate_fire import initial_state as if_initial_state


class _Layer(NamedTuple):
    name: str
    weight: Tensor            # [n_out, n_in]
    bias: Tensor              # [n_out]
    recurrent: Tensor | None  # [n_out, n_out]


def _deployed_layers(model: nn.Module) -> tuple[list[_Layer], Tensor, Tensor]:
    """(low-pass layers, readout weight, readout bias) of an LpRNNClassifier, as deployed."""
    if not hasattr(model, "effective_parameters") or not hasattr(model, "rnn_layers"):
        raise TypeError(f"model is a {type(model).__name__}: expected an lprnn.ann.model.LpRNNClassifier")
    p = model.effective_parameters()
    layers = [_Layer("lpff", p["lpff.linear.weight"], p["lpff.linear.bias"], None)]
    for i in range(len(model.rnn_layers)):
        layers.append(_Layer(f"rnn_layers.{i}", p[f"rnn_layers.{i}.linear.weight"],
                             p[f"rnn_layers.{i}.linear.bias"], p[f"rnn_layers.{i}.linear_hh.weight"]))
    return layers, p["out.linear.weight"], p["out.linear.bias"]


def _fan_outs(layers: list[_Layer], readout: Tensor) -> tuple[Tensor, list[Tensor]]:
    """Non-zero outgoing weights of each input channel and of each neuron of each layer."""
    fan_outs = conventions.layer_fan_outs([layer.weight for layer in layers],
                                          [layer.recurrent for layer in layers], readout)
    return conventions.fan_out(layers[0].weight).float(), [f.float() for f in fan_outs]


def _check_input(model: nn.Module, x: Tensor) -> None:
    n_inputs = model.config.n_inputs
    if x.dim() != 3 or x.shape[2] != n_inputs:
        raise ValueError(f"input of shape {tuple(x.shape)}: expected [B, T, {n_inputs}]")


def _batched(run, x: Tensor, batch_size: int, desc: str, progress: bool) -> SpikingResult:
    parts = [run(x[i:i + batch_size])
             for i in tqdm(range(0, len(x), batch_size), desc=desc, disable=not progress)]
    logits = torch.cat([p[0] for p in parts])
    counts = [torch.cat([p[1][i] for p in parts]) for i in range(len(parts[0][1]))]
    return SpikingResult(logits, logits.argmax(dim=1), counts, torch.cat([p[2] for p in parts]))


@torch.no_grad()
def simulate_rate_coded(model: nn.Module, x: Tensor, steps_per_ann_step: int = 10, *,
                        batch_size: int = 256, progress: bool = False) -> SpikingResult:
    """Run the trained lpRNN as rate-coded integrate-and-fire neurons (module docstring).

    Returns logits, predictions, spike counts per layer ("lpff", "rnn_layers.0", ... order)
    and synaptic events per sample.
    """
    if isinstance(steps_per_ann_step, bool) or not isinstance(steps_per_ann_step, int) or steps_per_ann_step < 1:
        raise ValueError(f"steps_per_ann_step={steps_per_ann_step!r}: expected a positive integer")
    layers, readout_w, readout_b = _deployed_layers(model)
    _check_input(model, x)
    config = model.config
    input_fan_out, fan_outs = _fan_outs(layers, readout_w)
    k, a_max = steps_per_ann_step, config.a_max
    retention = config.retention_ratio ** (1.0 / k)
    params = IntegrateFireParams(threshold=a_max)

    def run(batch: Tensor) -> tuple[Tensor, list[Tensor], Tensor]:
        n_batch, n_steps, _ = batch.shape
        states = [torch.zeros(n_batch, layer.weight.shape[0]) for layer in layers]
        membranes = [if_initial_state((n_batch, layer.weight.shape[0])) for layer in layers]
        spikes = [torch.zeros(n_batch, layer.weight.shape[0]) for layer in layers]
        counts = [torch.zeros_like(s) for s in spikes]
        window_sum = torch.zeros(n_batch, layers[-1].weight.shape[0])
        synaptic_ops = torch.zeros(n_batch)
        start = conventions.window_start(n_steps, config.averaging, k)
        input_drive = nn.functional.linear(batch, layers[0].weight, layers[0].bias)
        input_events = (batch != 0).float() @ input_fan_out
        no_input = torch.zeros_like(input_drive[:, 0])
        for n in range(n_steps * k):
            # the input is sent at every step (counted as sent, like the simulator's), and
            # arrives one step later
            synaptic_ops += input_events[:, n // k]
            held = conventions.held_input_step(n, k)
            previous = spikes
            spikes = []
            for i, layer in enumerate(layers):
                if i == 0:
                    # the bias drives the layer from the first step, as on Loihi
                    drive = input_drive[:, held] if held is not None else no_input + layers[0].bias
                else:
                    drive = nn.functional.linear(a_max * previous[i - 1], layer.weight, layer.bias)
                if layer.recurrent is not None:
                    drive = drive + (a_max * previous[i]) @ layer.recurrent.t()
                states[i] = torch.clamp_min(torch.lerp(drive, states[i], retention), 0.0)
                s, membranes[i] = integrate_fire_step(states[i], membranes[i], params)
                spikes.append(s)
                counts[i] += s
                synaptic_ops += s @ fan_outs[i]
            if n >= start:
                window_sum += a_max * spikes[-1]
        decoded = window_sum / (n_steps * k - start)
        return nn.functional.linear(decoded, readout_w, readout_b), counts, synaptic_ops

    return _batched(run, x, batch_size, f"rate-coded IF, k={k}", progress)


def delta_encode(value: Tensor, sent: Tensor, threshold: float) -> tuple[Tensor, Tensor]:
    """Lava's Delta: ``Δ = value − sent; s = Δ·[|Δ| ≥ θ]; sent ← sent + s``. Returns (s, sent)."""
    delta = value - sent
    spikes = torch.where(delta.abs() >= threshold, delta, torch.zeros_like(delta))
    return spikes, sent + spikes


@torch.no_grad()
def simulate_stock_sigma_delta(model: nn.Module, x: Tensor, threshold: float, *,
                               batch_size: int = 256, progress: bool = False) -> SpikingResult:
    """Run the trained lpRNN on stock sigma-delta neurons with delta threshold θ (module docstring).

    Spike counts per layer count the graded spikes of both populations (A and B) of each layer.
    """
    if not threshold >= 0:
        raise ValueError(f"threshold={threshold}: expected a delta threshold >= 0")
    layers, readout_w, readout_b = _deployed_layers(model)
    _check_input(model, x)
    config = model.config
    alpha, a_max = config.retention_ratio, config.a_max
    input_fan_out, fan_outs = _fan_outs(layers, readout_w)

    def run(batch: Tensor) -> tuple[Tensor, list[Tensor], Tensor]:
        n_batch, n_steps, _ = batch.shape
        sent_a = [torch.zeros(n_batch, layer.weight.shape[0]) for layer in layers]
        sent_h = [torch.zeros_like(s) for s in sent_a]
        counts = [torch.zeros_like(s) for s in sent_a]
        synaptic_ops = (batch != 0).float().sum(dim=1) @ input_fan_out
        # one update per ANN step (graded spikes at the ANN rate): no SNN-step delay to model
        start = conventions.window_start(n_steps, config.averaging)
        input_drive = nn.functional.linear(batch, layers[0].weight, layers[0].bias)
        window_sum = torch.zeros_like(sent_h[-1])
        for t in range(n_steps):
            for i, layer in enumerate(layers):
                z = input_drive[:, t] if i == 0 else nn.functional.linear(sent_h[i - 1], layer.weight, layer.bias)
                if layer.recurrent is not None:
                    z = z + sent_h[i] @ layer.recurrent.t()
                spikes_a, sent_a[i] = delta_encode(torch.clamp(z, 0.0, a_max), sent_a[i], threshold)
                h = torch.clamp_min((1 - alpha) * sent_a[i] + alpha * sent_h[i], 0.0)
                spikes_h, sent_h[i] = delta_encode(h, sent_h[i], threshold)
                events_a, events_h = (spikes_a != 0).float(), (spikes_h != 0).float()
                counts[i] += events_a + events_h
                # an A spike reaches its B neuron; a B spike reaches itself, U and the next layer
                synaptic_ops += events_a.sum(dim=1) + events_h @ (fan_outs[i] + 1)
            if t >= start:
                window_sum += sent_h[-1]
        decoded = window_sum / (n_steps - start)
        return nn.functional.linear(decoded, readout_w, readout_b), counts, synaptic_ops

    return _batched(run, x, batch_size, f"stock sigma-delta, θ={threshold:g}", progress)
