"""Adaptive spiking RNN (Yin, Corradi, Bohté 2020): recurrent adaptive-LIF neurons, surrogate gradients.

Per recurrent layer, one step with input ``x_t``, spikes ``s`` and per-neuron learnable time
constants τ_m (membrane) and τ_adp (adaptation), as in the authors' code (dt = 1, R_m = 1)::

    α = exp(−1/τ_m),  ρ = exp(−1/τ_adp)
    b ← ρ b + (1 − ρ) s_{t−1}                       adaptation trace
    B = b_0 + β b                                   adaptive threshold (b_0 = 0.01, β = 1.8)
    u ← α u + (1 − α) (W x_t + U s_{t−1} + c) − B s_{t−1}    membrane, soft reset by B
    s_t = H(u − B)

The Heaviside's gradient is the authors' multi-Gaussian surrogate (γ = 0.5, σ = 0.5, scale 6,
height 0.15). The readout is a non-spiking leaky integrator with its own learnable τ,
``o ← α_o o + (1 − α_o) W_out s``, whose states are averaged over time like the lpRNN's logits
(the authors sum softmax outputs over time; averaging membrane logits under cross-entropy is the
form our shared training loop takes). Initialisation as in the authors' SHD code: Xavier input
weights, orthogonal recurrent weights, τ_m ~ N(20, 5), τ_adp ~ N(200, 5), τ_out ~ N(20, 5).

Why plain torch and not lava-dl's ``slayer.neuron.alif``: slayer's adaptive LIF adapts its
threshold through a separate refractory/threshold state with shared 12-bit decays, not Yin's
(b, B) dynamics with per-neuron learnable τ_m and τ_adp, and its CPU path (no CUDA here) is a
Python fixed-point loop that is slower than this one; reproducing the authors' model faithfully
mattered more than a netx export for this comparison.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from lprnn.baselines.common import BaselineConfig, StackedClassifier, average_logits
from lprnn.baselines.elman import SpikingResult
from lprnn.core.conventions import fan_out, layer_fan_outs

THRESHOLD_BASELINE = 0.01   # b_0
ADAPTATION_STRENGTH = 1.8   # β
SURROGATE_GAMMA, SURROGATE_WIDTH, SURROGATE_SCALE, SURROGATE_HEIGHT = 0.5, 0.5, 6.0, 0.15


def _gaussian(x: Tensor, mu: float, sigma: float) -> Tensor:
    return torch.exp(-((x - mu) ** 2) / (2 * sigma ** 2)) / (math.sqrt(2 * math.pi) * sigma)


class _MultiGaussianSpike(torch.autograd.Function):
    """H(x) forward; the multi-Gaussian surrogate derivative backward (Yin et al. 2021)."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        w, s, h = SURROGATE_WIDTH, SURROGATE_SCALE, SURROGATE_HEIGHT
        surrogate = (_gaussian(x, 0.0, w) * (1 + h) - _gaussian(x, w, s * w) * h
                     - _gaussian(x, -w, s * w) * h)
        return grad * surrogate * SURROGATE_GAMMA


spike_function = _MultiGaussianSpike.apply


class AdaptiveLIFState(NamedTuple):
    u: Tensor  # membrane
    b: Tensor  # adaptation trace
    s: Tensor  # spikes of the previous step


class AdaptiveLIFDecays(NamedTuple):
    alpha: Tensor     # exp(−1/τ_m), per neuron
    rho: Tensor       # exp(−1/τ_adp), per neuron
    alpha_in: Tensor  # 1 − α
    rho_in: Tensor    # 1 − ρ


def adaptive_lif_decays(tau_m: Tensor, tau_adp: Tensor) -> AdaptiveLIFDecays:
    """The per-step decays of the time constants τ_m and τ_adp (in steps): computed once per
    sequence, as they do not change within it."""
    alpha, rho = torch.exp(-1.0 / tau_m), torch.exp(-1.0 / tau_adp)
    return AdaptiveLIFDecays(alpha, rho, 1 - alpha, 1 - rho)


def adaptive_lif_step(drive: Tensor, state: AdaptiveLIFState,
                      decays: AdaptiveLIFDecays) -> tuple[Tensor, AdaptiveLIFState]:
    """One step of the adaptive LIF neuron (equations in the module docstring).

    ``drive`` = W x_t + U s_{t−1} + c. Returns (spikes, new state).
    """
    b = decays.rho * state.b + decays.rho_in * state.s
    threshold = THRESHOLD_BASELINE + ADAPTATION_STRENGTH * b
    u = decays.alpha * state.u + decays.alpha_in * drive - threshold * state.s
    s = spike_function(u - threshold)
    return s, AdaptiveLIFState(u, b, s)


class AdaptiveLIFLayer(nn.Module):
    """Recurrent adaptive-LIF layer: ``x [B, T, F] -> spikes [B, T, H]``."""

    def __init__(self, n_inputs: int, hidden_size: int):
        super().__init__()
        self.linear = nn.Linear(n_inputs, hidden_size)
        self.linear_hh = nn.Linear(hidden_size, hidden_size, bias=False)
        nn.init.xavier_uniform_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        nn.init.orthogonal_(self.linear_hh.weight)
        self.tau_m = nn.Parameter(torch.normal(20.0, 5.0, (hidden_size,)).clamp_min(1.0))
        self.tau_adp = nn.Parameter(torch.normal(200.0, 5.0, (hidden_size,)))

    def forward(self, x: Tensor) -> Tensor:
        drive = self.linear(x)
        n_batch, n_steps, hidden = drive.shape
        zeros = drive.new_zeros(n_batch, hidden)
        state = AdaptiveLIFState(u=zeros, b=zeros + THRESHOLD_BASELINE, s=zeros)
        decays = adaptive_lif_decays(self.tau_m, self.tau_adp)
        spikes = []
        for t in range(n_steps):
            s, state = adaptive_lif_step(drive[:, t] + self.linear_hh(state.s), state, decays)
            spikes.append(s)
        return torch.stack(spikes, dim=1)


class LeakyReadout(nn.Module):
    """Non-spiking leaky integrator: ``o ← α_o o + (1 − α_o)(W_out s + c)``, α_o = exp(−1/τ_out)."""

    def __init__(self, n_inputs: int, n_outputs: int):
        super().__init__()
        self.linear = nn.Linear(n_inputs, n_outputs)
        self.tau = nn.Parameter(torch.normal(20.0, 5.0, (n_outputs,)).clamp_min(1.0))

    def forward(self, spikes: Tensor) -> Tensor:
        alpha = torch.exp(-1.0 / self.tau)
        drive = (1 - alpha) * self.linear(spikes)
        o = drive.new_zeros(drive.shape[0], drive.shape[2])
        outputs = []
        for t in range(drive.shape[1]):
            o = torch.addcmul(drive[:, t], alpha, o)
            outputs.append(o)
        return torch.stack(outputs, dim=1)


class AdaptiveSRNN(StackedClassifier):
    """Stacked recurrent adaptive-LIF layers and a leaky readout; ``model(x) -> logits [B, C]``."""

    def __init__(self, config: BaselineConfig = BaselineConfig()):
        super().__init__()
        self.config = config
        sizes = (config.n_inputs, *config.hidden_sizes)
        self.rnn_layers = nn.ModuleList(AdaptiveLIFLayer(n, h) for n, h in zip(sizes[:-1], sizes[1:]))
        self.out = LeakyReadout(sizes[-1], config.n_classes)


@torch.no_grad()
def spiking_activity(model: AdaptiveSRNN, x: Tensor, *, batch_size: int = 256,
                     progress: bool = False) -> SpikingResult:
    """Logits, spike counts per layer and synaptic events per sample of the SRNN on ``x``.

    Synaptic events: every spike times its non-zero outgoing weights (recurrent, next layer or
    readout) plus every non-zero input value times the input's non-zero outgoing weights.
    """
    model.eval()
    layers = model.rnn_layers
    input_fan_out = fan_out(layers[0].linear.weight).float()
    fan_outs = [f.float() for f in layer_fan_outs([layer.linear.weight for layer in layers],
                                                  [layer.linear_hh.weight for layer in layers],
                                                  model.out.linear.weight)]
    logits, counts, ops = [], [[] for _ in layers], []
    for start in tqdm(range(0, len(x), batch_size), desc="SRNN activity", disable=not progress):
        batch = x[start:start + batch_size]
        trace = model.trace(batch)
        logits.append(average_logits(trace["logits"], model.config.averaging))
        batch_ops = (batch != 0).float().sum(dim=1) @ input_fan_out
        for i in range(len(layers)):
            c = trace[f"rnn_layers.{i}"].sum(dim=1)
            counts[i].append(c)
            batch_ops = batch_ops + c @ fan_outs[i]
        ops.append(batch_ops)
    logits_all = torch.cat(logits)
    return SpikingResult(logits_all, logits_all.argmax(dim=1), [torch.cat(c) for c in counts], torch.cat(ops))
