"""Train-and-constrain Elman RNN (Diehl, Zarrella, Cassidy, Pedroni, Neftci 2016, TrueNorth).

The recipe of the paper, on our data and budget:

1. **Train** an Elman RNN with ReLU units by BPTT (float)::

       z_t = W x_t + U h_{t−1} + b,    h_t = max(0, z_t)

   with the readout ``logits_t = W_out h_t + b_out`` averaged over time like the lpRNN's
   (second half or all steps), and the lpRNN's initialization (Xavier-uniform input weights,
   orthogonal recurrent weights, zero biases: the identity start of the IRNN diverged on our
   data at the shared learning rate).
2. **Constrain** (:func:`constrain`): per layer, calibrate an activation ceiling ``a_max`` (a high
   percentile of the trained activations on training data), limit every neuron's **fan-in to 64**
   by keeping its 64 largest-magnitude incoming weights (input and recurrent counted together,
   the rest masked to zero: a TrueNorth neuron listens to at most 64 axons in this budget), and
   discretize **weights and activations to 16 levels**: weights to ``k·Δ``, k ∈ {−8, …, 7}
   (4-bit two's complement, Δ = max|w| / 7 per matrix), activations to
   ``round(clamp(h, 0, a_max) · 15 / a_max) · a_max / 15``. The constrained network is then
   fine-tuned with these constraints in the forward pass (straight-through gradients).
3. **Convert** (:func:`simulate_integrate_fire`) to integrate-and-fire neurons with rate coding:
   each RNN step becomes ``ticks_per_step`` ticks (15: one per non-zero activation level); a
   spike stands for ``a_max / ticks_per_step`` of activation; see that function for the exact
   tick equations.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from lprnn.baselines.common import BaselineConfig, StackedClassifier, average_logits
from lprnn.core.conventions import fan_out, layer_fan_outs
from lprnn.core.integrate_fire import IntegrateFireParams, initial_state, integrate_fire_step

WEIGHT_LEVELS = 16
ACTIVATION_LEVELS = 16
FAN_IN_LIMIT = 64
class _StraightThrough(torch.autograd.Function):
    """Forward: a rounding function's value; backward: the identity (straight-through estimator)."""

    @staticmethod
    def forward(ctx, x: Tensor, rounded: Tensor) -> Tensor:  # noqa: ARG004
        return rounded

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # noqa: ARG004
        return grad, None


def discretize_weights(weight: Tensor, levels: int = WEIGHT_LEVELS) -> Tensor:
    """``w → k·Δ``, k ∈ {−levels/2, …, levels/2 − 1}, Δ = max|w| / (levels/2 − 1); straight-through.

    For 16 levels: the 4-bit two's-complement integers k ∈ {−8, …, 7} times one step per matrix.
    """
    if levels < 4 or levels % 2:
        raise ValueError(f"levels={levels}: expected an even number of weight levels >= 4")
    half = levels // 2
    step = weight.detach().abs().max().clamp_min(torch.finfo(weight.dtype).tiny) / (half - 1)
    rounded = torch.clamp(torch.round(weight.detach() / step), -half, half - 1) * step
    return _StraightThrough.apply(weight, rounded)


def discretize_activations(h: Tensor, a_max: float | Tensor, levels: int = ACTIVATION_LEVELS) -> Tensor:
    """``h → round(clamp(h, 0, a_max)·(levels−1)/a_max)·a_max/(levels−1)``; straight-through in range."""
    if levels < 2:
        raise ValueError(f"levels={levels}: expected at least 2 activation levels")
    clipped = torch.minimum(h, torch.as_tensor(a_max, dtype=h.dtype, device=h.device))
    step = a_max / (levels - 1)
    return _StraightThrough.apply(clipped, torch.round(clipped.detach() / step) * step)


def fan_in_mask(weights: Tensor, limit: int = FAN_IN_LIMIT) -> Tensor:
    """Boolean mask ``[n_out, n_in]`` keeping each row's ``limit`` largest-magnitude entries."""
    if limit < 1:
        raise ValueError(f"fan-in limit {limit}: expected a positive integer")
    if weights.shape[1] <= limit:
        return torch.ones_like(weights, dtype=torch.bool)
    keep = weights.abs().topk(limit, dim=1).indices
    return torch.zeros_like(weights, dtype=torch.bool).scatter_(1, keep, True)


@dataclass
class LayerConstraints:
    """The TrueNorth constraints of one Elman layer (set by :func:`constrain`)."""

    a_max: float
    input_mask: Tensor       # bool [H, n_in]
    recurrent_mask: Tensor   # bool [H, H]
    weight_levels: int = WEIGHT_LEVELS
    activation_levels: int = ACTIVATION_LEVELS


class ElmanLayer(nn.Module):
    """``h_t = max(0, W x_t + U h_{t−1} + b)``; ``W x_t + b`` for all steps in one matmul.

    With :attr:`constraints` set, the forward pass uses masked, 16-level weights and 16-level
    activations (see the module docstring).
    """

    def __init__(self, n_inputs: int, hidden_size: int):
        super().__init__()
        self.linear = nn.Linear(n_inputs, hidden_size)
        self.linear_hh = nn.Linear(hidden_size, hidden_size, bias=False)
        nn.init.xavier_uniform_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        nn.init.orthogonal_(self.linear_hh.weight)
        self.constraints: LayerConstraints | None = None

    def effective_weights(self) -> tuple[Tensor, Tensor, Tensor]:
        """(W, U, b) as the forward pass uses them (masked and discretized when constrained)."""
        w, u, b = self.linear.weight, self.linear_hh.weight, self.linear.bias
        c = self.constraints
        if c is None:
            return w, u, b
        return (discretize_weights(w * c.input_mask, c.weight_levels),
                discretize_weights(u * c.recurrent_mask, c.weight_levels), b)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 3:
            raise ValueError(f"ElmanLayer input of shape {tuple(x.shape)}: expected [B, T, F]")
        w, u, b = self.effective_weights()
        c = self.constraints
        return _ElmanScan.apply(nn.functional.linear(x, w, b), u,
                                None if c is None else c.a_max,
                                None if c is None else c.activation_levels)


class _ElmanScan(torch.autograd.Function):
    """``h_t = q(max(0, drive_t + U h_{t−1}))`` from h_{−1} = 0, with BPTT written out.

    q is the identity (float) or the 16-level activation discretizer (constrained; straight-
    through inside [0, a_max]). Backward, with m_t = [z_t > 0] (and [z_t < a_max] when
    constrained) and G_t = ∂L/∂h_t accumulated from the future::

        G_t = ∂L/∂h_t (direct) + (∂L/∂z_{t+1}) U,   ∂L/∂z_t = m_t G_t,   ∂L/∂U = Σ_t (∂L/∂z_t)ᵀ h_{t−1}
    """

    @staticmethod
    def forward(ctx, drive: Tensor, recurrent: Tensor, a_max: float | None,
                levels: int | None) -> Tensor:
        drive_tm = drive.detach().transpose(0, 1).contiguous()
        u_t = recurrent.detach().t()
        states = torch.empty_like(drive_tm)
        in_range = torch.empty(drive_tm.shape, dtype=torch.bool)
        h = drive_tm.new_zeros(drive_tm.shape[1:])
        for t in range(drive_tm.shape[0]):
            z = torch.addmm(drive_tm[t], h, u_t)
            in_range[t] = (z > 0) if a_max is None else (z > 0) & (z < a_max)
            h = torch.relu(z)
            if a_max is not None:
                h = discretize_activations(h, a_max, levels)
            states[t] = h
        ctx.save_for_backward(states, in_range, recurrent)
        return states.transpose(0, 1)

    @staticmethod
    def backward(ctx, grad_states: Tensor) -> tuple[Tensor, Tensor, None, None]:
        states, in_range, recurrent = ctx.saved_tensors
        grad_tm = grad_states.transpose(0, 1).contiguous()
        grad_drive = torch.empty_like(grad_tm)
        carried = torch.zeros_like(grad_tm[0])
        weight = recurrent.detach()
        for t in range(grad_tm.shape[0] - 1, -1, -1):
            grad_drive[t] = (carried + grad_tm[t]) * in_range[t]
            carried = grad_drive[t] @ weight
        previous = torch.cat([torch.zeros_like(states[:1]), states[:-1]])
        grad_recurrent = torch.einsum("tbi,tbj->ij", grad_drive, previous)
        return grad_drive.transpose(0, 1), grad_recurrent, None, None


class ElmanClassifier(StackedClassifier):
    """Stacked Elman ReLU layers and a linear readout; ``model(x [B, T, F]) -> logits [B, C]``."""

    def __init__(self, config: BaselineConfig = BaselineConfig()):
        super().__init__()
        self.config = config
        sizes = (config.n_inputs, *config.hidden_sizes)
        self.rnn_layers = nn.ModuleList(ElmanLayer(n, h) for n, h in zip(sizes[:-1], sizes[1:]))
        self.out = nn.Linear(sizes[-1], config.n_classes)

    @property
    def constrained(self) -> bool:
        return all(layer.constraints is not None for layer in self.rnn_layers)


@torch.no_grad()
def calibrate_activation_ceiling(model: ElmanClassifier, x: Tensor, percentile: float = 99.9) -> list[float]:
    """Per layer, the ``percentile`` of the float model's positive activations on ``x``."""
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile={percentile}: expected a value in (0, 100]")
    trace = model.trace(x)
    ceilings = []
    for i in range(len(model.rnn_layers)):
        h = trace[f"rnn_layers.{i}"]
        positive = h[h > 0]
        if positive.numel() == 0:
            raise ValueError(f"layer {i} is silent on the calibration data: cannot set a_max")
        ceilings.append(float(torch.quantile(positive[:1_000_000].float(), percentile / 100)))
    return ceilings


def constrain(model: ElmanClassifier, calibration: Tensor, *, fan_in: int = FAN_IN_LIMIT,
              weight_levels: int = WEIGHT_LEVELS, activation_levels: int = ACTIVATION_LEVELS,
              percentile: float = 99.9) -> ElmanClassifier:
    """A constrained copy of a trained float model (fine-tune it afterwards with the usual loop).

    The fan-in mask of each layer is chosen once from the trained weights (the ``fan_in``
    largest |w| over the concatenated input and recurrent weights of each neuron) and then
    stays fixed; the readout is not spiking and is left unconstrained.
    """
    if model.constrained:
        raise ValueError("model is already constrained: pass the float model")
    ceilings = calibrate_activation_ceiling(model, calibration, percentile)
    constrained = copy.deepcopy(model)
    for layer, a_max in zip(constrained.rnn_layers, ceilings):
        w, u = layer.linear.weight.detach(), layer.linear_hh.weight.detach()
        mask = fan_in_mask(torch.cat([w, u], dim=1), fan_in)
        layer.constraints = LayerConstraints(a_max=a_max, input_mask=mask[:, :w.shape[1]],
                                             recurrent_mask=mask[:, w.shape[1]:],
                                             weight_levels=weight_levels,
                                             activation_levels=activation_levels)
    return constrained


class SpikingResult(NamedTuple):
    """Outcome of a spiking simulation of a batch.

    ``spike_counts``: per layer, spikes per neuron over the whole sequence [B, n];
    ``synaptic_ops``: per sample, the synaptic events (every spike or non-zero input times its
    number of non-zero outgoing weights) [B].
    """

    logits: Tensor
    predictions: Tensor
    spike_counts: list[Tensor]
    synaptic_ops: Tensor

    @property
    def spikes_per_sample(self) -> Tensor:
        return sum(c.sum(dim=1) for c in self.spike_counts)


@torch.no_grad()
def simulate_integrate_fire(model: ElmanClassifier, x: Tensor, ticks_per_step: int = ACTIVATION_LEVELS - 1,
                            *, batch_size: int = 256, progress: bool = False) -> SpikingResult:
    """Run a constrained Elman model as integrate-and-fire neurons with rate coding.

    RNN step t becomes ticks k = 0 … K−1 (K = ``ticks_per_step``). A spike of layer l stands for
    ``a_l / K`` of activation (``a_l`` = the layer's a_max), so with threshold θ_l = a_l the input
    current of a layer-l neuron at tick k is

        a(t, k) = W x̂_t + b + W_l (a_{l−1} s_{l−1}(t, k)) + U (a_l s_l(t−1, k))

    (the first layer's ``W x_t + b`` is an analog current computed once per RNN step; deeper
    layers get ``W_l``-weighted spikes of the layer below in the same tick, and the recurrent
    spikes of tick k of the previous RNN step). Summed over the K ticks, that is K·z_t of the
    constrained ANN, so the IF neuron (:func:`lprnn.core.integrate_fire.integrate_fire_step`,
    reset by subtraction) fires ≈ K·clamp(z_t, 0, a_l)/a_l times: the 16-level activation. At each
    RNN step boundary the membrane is clipped to [0, θ]: a negative debt is dropped (the ReLU)
    and so is the excess of a saturated neuron (the clamp). The readout is the constrained one on
    the decoded activations ``a_l · count / K``, averaged like the ANN's logits.
    """
    if not model.constrained:
        raise ValueError("simulate_integrate_fire needs a constrained model (see constrain())")
    if ticks_per_step < 1:
        raise ValueError(f"ticks_per_step={ticks_per_step}: expected a positive integer")
    if x.dim() != 3 or x.shape[2] != model.config.n_inputs:
        raise ValueError(f"input of shape {tuple(x.shape)}: expected [B, T, {model.config.n_inputs}]")
    parts = [_simulate_batch(model, x[i:i + batch_size], ticks_per_step)
             for i in tqdm(range(0, len(x), batch_size), desc="IF simulation", disable=not progress)]
    logits = torch.cat([p[0] for p in parts])
    counts = [torch.cat([p[1][i] for p in parts]) for i in range(len(model.rnn_layers))]
    return SpikingResult(logits, logits.argmax(dim=1), counts, torch.cat([p[2] for p in parts]))


def _simulate_batch(model: ElmanClassifier, x: Tensor, ticks: int) -> tuple[Tensor, list[Tensor], Tensor]:
    layers = model.rnn_layers
    weights = [layer.effective_weights() for layer in layers]
    ceilings = [layer.constraints.a_max for layer in layers]
    n_batch, n_steps, _ = x.shape
    input_fan_out = fan_out(weights[0][0]).float()
    spike_fan_out = [f.float() for f in layer_fan_outs([w for w, _, _ in weights],
                                                       [u for _, u, _ in weights], model.out.weight)]
    states = [initial_state((n_batch, w.shape[0])) for w, _, _ in weights]
    previous = [torch.zeros(ticks, n_batch, w.shape[0]) for w, _, _ in weights]
    counts = [torch.zeros(n_batch, w.shape[0]) for w, _, _ in weights]
    synaptic_ops = torch.zeros(n_batch)
    input_current = nn.functional.linear(x, weights[0][0], weights[0][2])
    logits = []
    for t in range(n_steps):
        synaptic_ops += (x[:, t] != 0).float() @ input_fan_out
        current_spikes = [torch.zeros_like(p) for p in previous]
        # spikes reach the next layer within the same tick: the ticks discretize one Elman
        # step's activation (Diehl et al.'s conversion), they are not SNN steps with synapses
        for k in range(ticks):
            below = None
            for i, ((w, u, b), a_max) in enumerate(zip(weights, ceilings)):
                current = input_current[:, t] if i == 0 else (ceilings[i - 1] * below) @ w.t() + b
                current = current + (a_max * previous[i][k]) @ u.t()
                spikes, states[i] = integrate_fire_step(current, states[i], IntegrateFireParams(a_max))
                current_spikes[i][k] = spikes
                below = spikes
        step_counts = []
        for i, a_max in enumerate(ceilings):
            states[i] = states[i]._replace(v=states[i].v.clamp(0.0, a_max))
            step_count = current_spikes[i].sum(dim=0)
            counts[i] += step_count
            synaptic_ops += step_count @ spike_fan_out[i]
            step_counts.append(step_count)
        previous = current_spikes
        logits.append(model.out(ceilings[-1] * step_counts[-1] / ticks))
    return average_logits(torch.stack(logits, dim=1), model.config.averaging), counts, synaptic_ops


def synaptic_ops_per_step(model: nn.Module) -> int:
    """Multiply-accumulates of one float forward step (all dense weights): the ANN's cost."""
    return sum(p.numel() for name, p in model.named_parameters() if p.dim() == 2)


__all__ = ["ElmanClassifier", "ElmanLayer", "LayerConstraints", "SpikingResult",
           "calibrate_activation_ceiling", "constrain", "discretize_activations",
           "discretize_weights", "fan_in_mask", "simulate_integrate_fire", "synaptic_ops_per_step"]
