"""Fast batched simulator of a mapped :class:`~lprnn.snn.network.LoihiNetwork` (integer-exact).

This is the reference the Lava backend must match spike for spike. Per SNN step ``n`` (timing
convention of ``docs/METHOD.md``; ``k = steps_per_ann_step``, ``x_int`` from
:func:`encode_input`), for each layer ``l`` in order, all from the *previous* step's spikes:

    a_l(n) = (W_l · s_{l−1}(n−1)) << e_W  +  (U_l · s_l(n−1−D_l)) << e_U    (s(m < 0) = 0)
    a_0(n) = (W_0 · x_int[(n−1) // k]) << e_W0  for n ≥ 1,  a_0(0) = 0      (graded input;
                                          lprnn.core.conventions.held_input_step)
    s_l(n), state_l ← sigma_delta_step_fixed(a_l(n), bias_l, state_l, neuron_l)

``<< e`` is a left shift for e ≥ 0 and an arithmetic right shift (floor) by −e for e < 0;
``D_l`` is the layer's ``recurrent_delay`` (extra SNN steps on its recurrent synapses).
Readout: ``logits = W_ro · c + bias · N_w`` over the window (SNN steps
``n ≥ network.window_start(T)``, ``N_w`` of them), with ``c`` per last-layer neuron its spike
count (readout source ``"spike_counts"``) or ``Σ_n −i_fb(n)``, the sum of its reconstruction
after each step of the window (``"decoded"``); prediction = argmax (first maximum on ties).

Exactness of the matmuls: spikes are 0/1 and weights integers, so ``W · s`` computed in
float32 is exact as long as every partial sum stays below 2**24; :func:`simulate` checks the
bound (the largest row sum of |W|) per connection and falls back to float64 (exact below
2**53) where it does not hold. The graded input drive ``W_0 · x_int`` is computed once per ANN
step in float64 with the same check. Everything else is int64 arithmetic in
:func:`lprnn.core.sigma_delta.sigma_delta_step_fixed`.

Counts returned per sample: spikes per neuron over the whole run, and synaptic operations =
Σ over emitted spikes of the neuron's fan-out (its non-zero outgoing synapses: to the next
layer, recurrent, and to the readout for the last layer) + Σ over SNN steps of the non-zero
graded input values times their fan-out into the first layer (the input is sent every step).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from lprnn.core import conventions, hardware
from lprnn.core.sigma_delta import SigmaDeltaState, initial_state, sigma_delta_step_fixed
# READOUT_SOURCES is re-exported as lprnn.snn.READOUT_SOURCES.
from lprnn.snn.network import READOUT_SOURCES, LoihiLayer, LoihiNetwork, validate_network

FLOAT32_EXACT = 2 ** 24
FLOAT64_EXACT = 2 ** 53


@dataclass
class SimulationResult:
    """What :func:`simulate` returns; ``spikes``/``decoded`` only when ``record=True``."""

    logits: Tensor                    # int64 [B, C]
    predictions: Tensor               # int64 [B]
    spike_counts: dict[str, Tensor]   # per layer, int64 [B, n]: spikes over the whole run
    synaptic_ops: Tensor              # int64 [B]: synaptic operations per sample (module doc)
    n_snn_steps: int
    state_max: dict[str, int] | None = None   # per layer, largest |state| of the four (when
    #                                           simulate(track_state_max=True))
    spikes: dict[str, Tensor] | None = None   # per layer, bool [B, N_snn, n]
    decoded: dict[str, Tensor] | None = None  # per layer, float32 [B, T, n]: mean −i_fb /
    #                                           state_scale over each ANN step's k SNN steps

    def headroom_bits(self) -> dict[str, float]:
        """Per layer, log2(STATE_MAX / largest |state|): bits left before 24-bit saturation."""
        if self.state_max is None:
            raise ValueError("no state maxima recorded: simulate with track_state_max=True")
        return {name: float(np.log2(hardware.STATE_MAX / max(value, 1)))
                for name, value in self.state_max.items()}


def encode_input(network: LoihiNetwork, x: Tensor) -> Tensor:
    """Graded input spikes x_int = round(x · input_scale) (round half to even), int64 [B, T, F].

    Raises ValueError if x is not [B, T, n_inputs] or a value does not fit a graded spike.
    """
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise TypeError(f"input is {type(x).__name__} {getattr(x, 'dtype', '')}: expected a "
                        f"float tensor [batch, time, {network.n_inputs}]")
    if x.dim() != 3 or x.shape[-1] != network.n_inputs or x.shape[1] < 1:
        raise ValueError(f"input has shape {tuple(x.shape)}: expected [batch, time, "
                         f"{network.n_inputs}] with at least one step")
    x_int = torch.round(x.double() * network.input_scale).to(torch.int64)
    limit = 2 ** (hardware.GRADED_SPIKE_BITS - 1) - 1
    peak = int(x_int.abs().max())
    if peak > limit:
        raise ValueError(f"input value {float(x.abs().max()):.4g} × input_scale "
                         f"{network.input_scale:.4g} = {peak} exceeds the {hardware.GRADED_SPIKE_BITS}"
                         f"-bit graded spike range ±{limit}")
    return x_int


def state_max(network: LoihiNetwork, x: Tensor, progress: bool = False) -> dict[str, int]:
    """Per layer, the largest |state| of its neurons over a simulation of ``x``: what
    :func:`lprnn.snn.map_network` checks its scales against."""
    return simulate(network, x, track_state_max=True, progress=progress).state_max


def _shift(x: Tensor, exp: int) -> Tensor:
    return x << exp if exp >= 0 else x >> -exp


class _Connection:
    """A weight matrix applied to 0/1 spikes, exactly (float32 when the bound allows)."""

    def __init__(self, weights: np.ndarray, exp: int, device: torch.device):
        w = np.asarray(weights, dtype=np.int64)
        bound = int(np.abs(w).sum(axis=1).max()) if w.size else 0
        if bound >= FLOAT64_EXACT:
            raise ValueError(f"weight row sum {bound} ≥ 2**53: spike matmul cannot be exact")
        dtype = torch.float32 if bound < FLOAT32_EXACT else torch.float64
        self.weight_t = torch.as_tensor(w.T, dtype=dtype, device=device)  # [n_in, n_out]
        self.exp = exp
        self.fan_out = torch.as_tensor(conventions.fan_out(w), dtype=torch.int64, device=device)

    def __call__(self, spikes: Tensor) -> Tensor:
        product = spikes.to(self.weight_t.dtype) @ self.weight_t
        return _shift(product.to(torch.int64), self.exp)




@torch.no_grad()
def simulate(network: LoihiNetwork, x: Tensor, *, record: bool = False,
             device: str | torch.device = "cpu", batch_size: int = 1024,
             track_state_max: bool = False, progress: bool = False) -> SimulationResult:
    """Run the fixed-point SNN on x [B, T, F] (features as fed to the ANN); see module doc.

    ``batch_size`` samples are simulated at once (memory: about 4·B·(Σ n) int64 states, plus
    with ``record`` B·T·k·n bools of spikes per layer). ``track_state_max`` also returns
    the largest |state| per layer (saturation headroom; costs about a third more time).
    Results are on the CPU.
    """
    validate_network(network)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r}: expected a positive integer")
    x_int = encode_input(network, x)
    device = torch.device(device)
    chunks = [_simulate_batch(network, x_int[i:i + batch_size], record, track_state_max,
                              device, progress)
              for i in range(0, x_int.shape[0], batch_size)]
    names = [layer.name for layer in network.layers]
    logits = torch.cat([c["logits"] for c in chunks])
    return SimulationResult(
        logits=logits, predictions=logits.argmax(dim=1),
        spike_counts={n: torch.cat([c["counts"][n] for c in chunks]) for n in names},
        synaptic_ops=torch.cat([c["synaptic_ops"] for c in chunks]),
        state_max=({n: max(c["state_max"][n] for c in chunks) for n in names}
                   if track_state_max else None),
        n_snn_steps=x_int.shape[1] * network.steps_per_ann_step,
        spikes={n: torch.cat([c["spikes"][n] for c in chunks]) for n in names} if record else None,
        decoded={n: torch.cat([c["decoded"][n] for c in chunks]) for n in names} if record else None)


def _simulate_batch(network: LoihiNetwork, x_int: Tensor, record: bool, track_state_max: bool,
                    device: torch.device, progress: bool) -> dict:
    layers: list[LoihiLayer] = network.layers
    k = network.steps_per_ann_step
    batch, n_ann, _ = x_int.shape
    n_steps = n_ann * k
    window = network.window_start(n_ann)
    x_int = x_int.to(device)

    first = np.asarray(layers[0].weights, dtype=np.int64)
    input_bound = int(np.abs(first).sum(axis=1).max()) * int(x_int.abs().max())
    if input_bound >= FLOAT64_EXACT:
        raise ValueError(f"input drive bound {input_bound} ≥ 2**53: cannot be exact")
    input_drive = _shift((x_int.double() @ torch.as_tensor(first.T, dtype=torch.float64,
                                                           device=device)).to(torch.int64),
                         layers[0].weight_exp)                       # [B, T, n0]
    connections = [_Connection(layer.weights, layer.weight_exp, device) for layer in layers]
    recurrent = [_Connection(layer.recurrent_weights, layer.recurrent_weight_exp, device)
                 if layer.recurrent_weights is not None else None for layer in layers]
    biases = [torch.as_tensor(layer.bias, dtype=torch.int64, device=device) for layer in layers]
    readout_w = torch.as_tensor(np.asarray(network.readout.weights, dtype=np.int64), device=device)

    states: list[SigmaDeltaState] = [initial_state((batch, layer.n_neurons), torch.int64, device)
                                     for layer in layers]
    spikes = [torch.zeros(batch, layer.n_neurons, dtype=torch.bool, device=device)
              for layer in layers]
    counts = [torch.zeros(batch, layer.n_neurons, dtype=torch.int64, device=device)
              for layer in layers]
    readout_source = network.readout.source
    window_counts = torch.zeros(batch, layers[-1].n_neurons, dtype=torch.int64, device=device)
    state_max = [torch.zeros(batch, layer.n_neurons, dtype=torch.int64, device=device)
                 for layer in layers]
    if record:
        spike_record = [torch.zeros(batch, n_steps, layer.n_neurons, dtype=torch.bool,
                                    device=device) for layer in layers]
        decoded_sum = [torch.zeros(batch, n_ann, layer.n_neurons, dtype=torch.int64,
                                   device=device) for layer in layers]

    zero_input = torch.zeros(batch, layers[0].n_neurons, dtype=torch.int64, device=device)
    # Spikes s_l(n−1−D_l) for the recurrent input: a queue holding the last D_l + 1 steps.
    recurrent_history = [deque([spikes[l]] * (layer.recurrent_delay + 1),
                               maxlen=layer.recurrent_delay + 1) for l, layer in enumerate(layers)]
    for n in tqdm(range(n_steps), desc="SNN steps", disable=not progress, leave=False):
        new_spikes = []
        for l, layer in enumerate(layers):
            if l == 0:
                held = conventions.held_input_step(n, k)
                a = input_drive[:, held] if held is not None else zero_input
            else:
                a = connections[l](spikes[l - 1])
            if recurrent[l] is not None:
                a = a + recurrent[l](recurrent_history[l][0])
            s, states[l] = sigma_delta_step_fixed(a, biases[l], states[l], layer.neuron)
            new_spikes.append(s)
            if track_state_max:
                for value in states[l]:
                    torch.maximum(state_max[l], value.abs(), out=state_max[l])
            if record:
                spike_record[l][:, n] = s
                decoded_sum[l][:, n // k] -= states[l].i_fb
        spikes = new_spikes
        for l in range(len(layers)):
            counts[l] += spikes[l]
            recurrent_history[l].append(spikes[l])
        if n >= window:
            window_counts += spikes[-1] if readout_source == "spike_counts" else -states[-1].i_fb

    n_window = n_steps - window
    readout_bias = torch.as_tensor(np.asarray(network.readout.bias, dtype=np.int64), device=device)
    logits = window_counts @ readout_w.T + readout_bias * n_window
    fan_outs = conventions.layer_fan_outs(
        [torch.as_tensor(np.asarray(layer.weights, dtype=np.int64), device=device) for layer in layers],
        [None if layer.recurrent_weights is None else
         torch.as_tensor(np.asarray(layer.recurrent_weights, dtype=np.int64), device=device)
         for layer in layers], readout_w)
    synaptic_ops = k * ((x_int != 0).to(torch.int64) @ connections[0].fan_out).sum(dim=1)
    for l in range(len(layers)):
        synaptic_ops += counts[l] @ fan_outs[l]
    names = [layer.name for layer in layers]
    result = dict(logits=logits.cpu(), synaptic_ops=synaptic_ops.cpu(),
                  counts={nm: c.cpu() for nm, c in zip(names, counts)},
                  state_max={nm: int(m.max()) for nm, m in zip(names, state_max)})
    if record:
        result["spikes"] = {nm: s.cpu() for nm, s in zip(names, spike_record)}
        result["decoded"] = {nm: (d.double() / (k * layer.state_scale)).float().cpu()
                             for nm, d, layer in zip(names, decoded_sum, layers)}
    return result


@dataclass
class Comparison:
    """ANN versus SNN on one set of inputs (see :func:`compare_with_ann`)."""

    ann_accuracy: float
    snn_accuracy: float
    agreement: float                  # fraction of samples with the same prediction
    spikes_per_sample: float          # all layers, whole run
    synaptic_ops_per_sample: float
    ann_predictions: Tensor
    snn: SimulationResult

    def as_dict(self) -> dict[str, float]:
        return dict(ann_accuracy=self.ann_accuracy, snn_accuracy=self.snn_accuracy,
                    agreement=self.agreement, spikes_per_sample=self.spikes_per_sample,
                    synaptic_ops_per_sample=self.synaptic_ops_per_sample)


@torch.no_grad()
def compare_with_ann(model: torch.nn.Module, network: LoihiNetwork, x: Tensor, labels: Tensor,
                     *, record: bool = False, batch_size: int = 1024,
                     progress: bool = False) -> Comparison:
    """Accuracies of the ANN ``model`` and of its mapped ``network`` on x [B, T, F] with
    ``labels`` [B], their prediction agreement, and the SNN's spikes and synaptic operations."""
    if labels.shape != x.shape[:1]:
        raise ValueError(f"labels have shape {tuple(labels.shape)}: expected [{x.shape[0]}]")
    model.eval()
    ann = torch.cat([model(x[i:i + 256]).argmax(dim=1) for i in range(0, x.shape[0], 256)])
    snn = simulate(network, x, record=record, batch_size=batch_size, progress=progress)
    spikes = sum(counts.sum(dim=1) for counts in snn.spike_counts.values())
    return Comparison(
        ann_accuracy=float((ann == labels).float().mean()),
        snn_accuracy=float((snn.predictions == labels).float().mean()),
        agreement=float((ann == snn.predictions).float().mean()),
        spikes_per_sample=float(spikes.double().mean()),
        synaptic_ops_per_sample=float(snn.synaptic_ops.double().mean()),
        ann_predictions=ann, snn=snn)


@torch.no_grad()
def decoded_correlation(model: torch.nn.Module, x: Tensor,
                        result: SimulationResult) -> dict[str, float]:
    """Per layer, the Pearson correlation over all samples, steps and units between the ANN's
    activations ``model.trace(x)`` and the SNN's decoded ones (``result`` from
    ``simulate(network, x, record=True)``)."""
    if result.decoded is None:
        raise ValueError("the simulation result has no decoded activations: "
                         "simulate with record=True")
    trace = model.eval().trace(x)
    correlations = {}
    for name, decoded in result.decoded.items():
        pair = torch.stack([trace[name].flatten().double(), decoded.flatten().double()])
        correlations[name] = float(torch.corrcoef(pair)[0, 1])
    return correlations
