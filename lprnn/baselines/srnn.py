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


def _surrogate(v: Tensor) -> Tensor:
    """The multi-Gaussian surrogate of dH/dv (Yin et al. 2021), times γ."""
    w, s, h = SURROGATE_WIDTH, SURROGATE_SCALE, SURROGATE_HEIGHT
    return SURROGATE_GAMMA * (_gaussian(v, 0.0, w) * (1 + h) - _gaussian(v, w, s * w) * h
                              - _gaussian(v, -w, s * w) * h)


class _AdaptiveLIFScan(torch.autograd.Function):
    """The recurrent adaptive-LIF layer over a whole sequence, with its gradient written out.

    Forward, for t = 0 … T−1 with s_{−1} = 0, u_{−1} = 0, b_{−1} = b_0 (module docstring)::

        d_t = x_t + U s_{t−1}
        b_t = ρ b_{t−1} + (1 − ρ) s_{t−1},   θ_t = b_0 + β b_t
        u_t = α u_{t−1} + (1 − α) d_t − θ_t s_{t−1},   v_t = u_t − θ_t,   s_t = H(v_t)

    Backward, t = T−1 … 0, with ḡ the gradients from step t+1 (zero at T−1) and σ the
    surrogate::

        ∂s_t = g_t + U^T ∂d_{t+1} + (1 − ρ) ∂b_{t+1} − θ_{t+1} ∂u_{t+1}
        ∂v_t = σ(v_t) ∂s_t
        ∂u_t = ∂v_t + α ∂u_{t+1}
        ∂b_t = β (−∂v_t − s_{t−1} ∂u_t) + ρ ∂b_{t+1}
        ∂d_t = (1 − α) ∂u_t                        (= ∂x_t)

    and, summed over t and the batch: ∂U = Σ ∂d_t s_{t−1}^T, ∂α = Σ (u_{t−1} − d_t) ∂u_t,
    ∂ρ = Σ (b_{t−1} − s_{t−1}) ∂b_t. Only the matrix product U^T ∂d_{t+1} has to run step by
    step; the per-step autograd graph of a plain loop is what this replaces.
    """

    @staticmethod
    def forward(ctx, x: Tensor, weight_hh: Tensor, alpha: Tensor, rho: Tensor) -> Tensor:
        n_batch, n_steps, hidden = x.shape
        x = x.transpose(0, 1)
        drive, trace, potential = torch.empty_like(x), torch.empty_like(x), torch.empty_like(x)
        spikes = x.new_zeros(n_steps + 1, n_batch, hidden)  # spikes[t + 1] = s_t
        u = x.new_zeros(n_batch, hidden)
        b = x.new_full((n_batch, hidden), THRESHOLD_BASELINE)
        alpha_in, rho_in = 1 - alpha, 1 - rho
        for t in range(n_steps):
            s_prev = spikes[t]
            d = torch.addmm(x[t], s_prev, weight_hh.t(), out=drive[t])
            b = torch.addcmul(rho * b, rho_in, s_prev, out=trace[t])
            threshold = THRESHOLD_BASELINE + ADAPTATION_STRENGTH * b
            u = alpha * u + alpha_in * d - threshold * s_prev
            torch.sub(u, threshold, out=potential[t])
            torch.gt(potential[t], 0, out=spikes[t + 1])
        ctx.save_for_backward(weight_hh, alpha, rho, drive, trace, potential, spikes)
        return spikes[1:].transpose(0, 1)

    @staticmethod
    def backward(ctx, grad_spikes: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        weight_hh, alpha, rho, drive, trace, potential, spikes = ctx.saved_tensors
        grad_spikes = grad_spikes.transpose(0, 1)
        n_steps = grad_spikes.shape[0]
        threshold = THRESHOLD_BASELINE + ADAPTATION_STRENGTH * trace
        surrogate = _surrogate(potential)
        grad_u_all, grad_b_all = torch.empty_like(drive), torch.empty_like(drive)
        alpha_in, rho_in = 1 - alpha, 1 - rho
        grad_u = grad_b = None   # ∂u_{t+1}, ∂b_{t+1}: none after the last step
        for t in range(n_steps - 1, -1, -1):
            grad_s = grad_spikes[t] if grad_u is None else (
                grad_spikes[t] + (grad_u * alpha_in) @ weight_hh + rho_in * grad_b
                - threshold[t + 1] * grad_u)
            grad_v = surrogate[t] * grad_s
            grad_u = grad_v if grad_u is None else grad_v + alpha * grad_u
            grad_b_here = -ADAPTATION_STRENGTH * (grad_v + spikes[t] * grad_u)
            grad_b = grad_b_here if grad_b is None else grad_b_here + rho * grad_b
            grad_u_all[t], grad_b_all[t] = grad_u, grad_b
        grad_drive = alpha_in * grad_u_all
        s_prev = spikes[:-1]
        grad_weight = grad_drive.flatten(0, 1).t() @ s_prev.flatten(0, 1)
        # u_{t−1}: u_t = v_t + θ_t, shifted by one step (u_{−1} = 0)
        u_prev = torch.cat([torch.zeros_like(potential[:1]), (potential + threshold)[:-1]])
        b_prev = torch.cat([torch.full_like(trace[:1], THRESHOLD_BASELINE), trace[:-1]])
        grad_alpha = ((u_prev - drive) * grad_u_all).sum(dim=(0, 1))
        grad_rho = ((b_prev - s_prev) * grad_b_all).sum(dim=(0, 1))
        return grad_drive.transpose(0, 1), grad_weight, grad_alpha, grad_rho


def adaptive_lif_scan(x: Tensor, weight_hh: Tensor, tau_m: Tensor, tau_adp: Tensor) -> Tensor:
    """Spikes ``[B, T, H]`` of the recurrent adaptive-LIF layer driven by ``x = W x_t + c``
    ``[B, T, H]``, with recurrent weights ``U [H, H]`` and time constants τ_m, τ_adp ``[H]`` (in
    steps): α = exp(−1/τ_m), ρ = exp(−1/τ_adp) (equations in :class:`_AdaptiveLIFScan`)."""
    return _AdaptiveLIFScan.apply(x, weight_hh, torch.exp(-1.0 / tau_m), torch.exp(-1.0 / tau_adp))


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
        return adaptive_lif_scan(self.linear(x), self.linear_hh.weight, self.tau_m, self.tau_adp)


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
