"""Fast batched simulator of a mapped :class:`~lprnn.snn.network.LoihiNetwork` (integer-exact).

This is the reference the Lava backend must match spike for spike. Per SNN step ``n`` (timing
convention of ``docs/METHOD.md``; ``k = steps_per_ann_step``, ``x_int`` from
:func:`encode_input`), for each layer ``l`` in order, all from the *previous* step's spikes:

    a_l(n) = (W_l · s_{l−1}(n−1)) << e_W  +  (U_l · s_l(n−1−D_l)) << e_U    (s(m < 0) = 0)
    a_0(n) = (W_0 · x_int[(n−1) // k]) << e_W0  for n ≥ 1,  a_0(0) = 0      (graded input)
    s_l(n), state_l ← sigma_delta_step_fixed(a_l(n), bias_l, state_l, neuron_l)

``<< e`` is a left shift for e ≥ 0 and an arithmetic right shift (floor) by −e for e < 0;
``D_l`` is the layer's ``recurrent_delay`` (extra SNN steps on its recurrent synapses).
Readout: ``logits = W_ro · c + bias · N_w`` over the window (SNN steps
``n ≥ network.window_start(T)``, ``N_w`` of them), with ``c`` per last-layer neuron its spike
count (readout source ``"spike_counts"``) or ``Σ_n −i_fb(n)``, the sum of its reconstruction
after each step of the window (``"decoded"``); prediction = argmax (first maximum on ties).

Exactness of the matmuls: spikes are 0/1 (graded spikes: payloads 0…P, ``payload_max`` of the
sending layer) and weights integers, so ``W · s`` computed in float32 is exact as long as
every partial sum stays below 2**24; :func:`simulate` checks the bound (the largest row sum
of |W| times P) per connection and falls back to float64 (exact below
2**53) where it does not hold. The graded input drive ``W_0 · x_int`` is computed once per ANN
step in float64 with the same check. Everything else is int64 arithmetic in
:func:`lprnn.core.sigma_delta.sigma_delta_step_fixed`. That is the pure-torch path (any
device); on the CPU the default is the fused, event-driven C kernel of
:mod:`lprnn.snn.kernel`, which computes the same integers, faster (tests check both
against an independent NumPy oracle).

Counts returned per sample: spikes per neuron over the whole run (a graded spike counts
once, whatever its payload; a ``"spike_counts"`` readout sums the payloads), and synaptic
operations = Σ over emitted spikes of the neuron's fan-out (its non-zero outgoing synapses: to the next
layer, recurrent, and to the readout for the last layer) + Σ over SNN steps of the non-zero
graded input values times their fan-out into the first layer (the input is sent every step).
"""

from __future__ import annotations

import warnings
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from lprnn.core import conventions, hardware
from lprnn.core.sigma_delta import SigmaDeltaState, initial_state, sigma_delta_step_fixed
from lprnn.snn import kernel
from lprnn.core.threads import DEFAULT_THREADS, torch_threads
# READOUT_SOURCES is re-exported as lprnn.snn.READOUT_SOURCES.
from lprnn.snn.network import READOUT_SOURCES, LoihiLayer, LoihiNetwork, validate_network

FLOAT32_EXACT = 2 ** 24
FLOAT64_EXACT = 2 ** 53
BACKENDS = ("auto", "kernel", "torch")
WIDE_STATE_BITS = 48                      # states of the run that shows what saturation changed
WIDE_STATE_MAX = 2 ** (WIDE_STATE_BITS - 1) - 1


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
    spikes: dict[str, Tensor] | None = None   # per layer [B, N_snn, n]: bool, uint8 if graded
    decoded: dict[str, Tensor] | None = None  # per layer, float32 [B, T, n]: mean −i_fb /
    #                                           state_scale over each ANN step's k SNN steps
    saturated_steps: dict[str, Tensor] = field(default_factory=dict)  # per layer, int64 [B]:
    #                                           SNN steps after which a state was at ±STATE_MAX
    backend: str = "torch"                    # which path computed it: "kernel" or "torch"

    def headroom_bits(self) -> dict[str, float]:
        """Per layer, log2(STATE_MAX / largest |state|): bits left before 24-bit saturation."""
        if self.state_max is None:
            raise ValueError("no state maxima recorded: simulate with track_state_max=True")
        return {name: float(np.log2(hardware.STATE_MAX / max(value, 1)))
                for name, value in self.state_max.items()}


def encode_input(network: LoihiNetwork, x: Tensor) -> Tensor:
    """Graded input spikes x_int = round(x · input_scale) (round half to even), int64
    [B, T + m, F]: the last frame is held m = ``network.readout_latency`` more ANN steps
    (:func:`lprnn.core.conventions.extend_input`).

    Raises ValueError if x is not [B, T, n_inputs], holds NaN or ±inf, or a value does not fit
    a graded spike.
    """
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise TypeError(f"input is {type(x).__name__} {getattr(x, 'dtype', '')}: expected a "
                        f"float tensor [batch, time, {network.n_inputs}]")
    if x.dim() != 3 or x.shape[-1] != network.n_inputs or x.shape[1] < 1:
        raise ValueError(f"input has shape {tuple(x.shape)}: expected [batch, time, "
                         f"{network.n_inputs}] with at least one step")
    finite = torch.isfinite(x)
    if not finite.all():
        where = tuple(int(i) for i in (~finite).nonzero()[0])
        raise ValueError(f"input has {int((~finite).sum())} non-finite values (the first, "
                         f"{float(x[where])}, at [batch, time, feature] = {list(where)}): "
                         "expected finite features")
    x = conventions.extend_input(x, network.readout_latency)
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
    :func:`lprnn.snn.map_network` checks its scales against (saturation is what it measures,
    so it is allowed here)."""
    return simulate(network, x, track_state_max=True, progress=progress,
                    allow_saturation=True).state_max


def _shift(x: Tensor, exp: int) -> Tensor:
    return x << exp if exp >= 0 else x >> -exp


class _Connection:
    """A weight matrix applied to spike payloads 0…payload_max, exactly (float32 when the
    bound allows)."""

    def __init__(self, weights: np.ndarray, exp: int, device: torch.device,
                 allow_float32: bool = True, payload_max: int = 1):
        w = np.asarray(weights, dtype=np.int64)
        bound = int(np.abs(w).sum(axis=1).max()) * payload_max if w.size else 0
        if bound >= FLOAT64_EXACT:
            raise ValueError(f"weight row sum {bound} ≥ 2**53: spike matmul cannot be exact")
        dtype = torch.float32 if bound < FLOAT32_EXACT and allow_float32 else torch.float64
        self.weight_t = torch.as_tensor(w.T, dtype=dtype, device=device)  # [n_in, n_out]
        self.exp = exp
        self.fan_out = torch.as_tensor(conventions.fan_out(w), dtype=torch.int64, device=device)

    def __call__(self, spikes: Tensor) -> Tensor:
        product = spikes.to(self.weight_t.dtype) @ self.weight_t
        return _shift(product.to(torch.int64), self.exp)


class SaturationError(ValueError):
    """Saturation of a 24-bit state changed a prediction (see :func:`simulate`)."""


def _resolve_backend(network: LoihiNetwork, backend: str, device: torch.device) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r}: expected one of {list(BACKENDS)}")
    if backend == "torch" or (backend == "auto" and device.type != "cpu"):
        return "torch"
    if device.type != "cpu":
        raise ValueError(f"backend='kernel' runs on the CPU, not on device {device}: use "
                         "backend='torch' (or 'auto') there")
    reason = kernel.unsupported(network)
    if reason is None:
        try:
            kernel.load()
        except kernel.KernelUnavailable as err:
            reason = str(err)
    if reason is None:
        return "kernel"
    if backend == "kernel":
        raise ValueError(f"backend='kernel' is not available: {reason}")
    return "torch"


@torch.no_grad()
def simulate(network: LoihiNetwork, x: Tensor, *, record: bool = False,
             device: str | torch.device = "cpu", batch_size: int = 1024,
             track_state_max: bool = False, progress: bool = False, backend: str = "auto",
             threads: int = DEFAULT_THREADS, allow_saturation: bool = False) -> SimulationResult:
    """Run the fixed-point SNN on x [B, T, F] (features as fed to the ANN); see module doc.

    ``batch_size`` samples are simulated at once (memory: about 4·B·(Σ n) int64 states, plus
    with ``record`` B·T·k·n bools of spikes per layer). ``track_state_max`` also returns
    the largest |state| per layer (saturation headroom). Results are on the CPU.

    ``backend``: ``"kernel"``, the fused event-driven C kernel (:mod:`lprnn.snn.kernel`, CPU
    only), ``"torch"``, the pure-torch path (any device; on CUDA its matmuls are float64, so
    exact), or ``"auto"``: the kernel on the CPU when a C compiler is present and the network
    is within its exact range, else torch. Both compute the same integers.
    ``threads``: CPU threads (torch threads, or kernel chunks of the batch run in parallel);
    the caller's torch thread count is restored afterwards (default: :mod:`lprnn.core.threads`).

    Saturation: a layer saturates at a step when, after it, one of its states is at
    ±``STATE_MAX``; ``result.saturated_steps`` counts such steps per layer and sample, and a
    warning names the layers and step counts. Unless ``allow_saturation``, the saturated
    samples are then simulated again with 48-bit states, and if that changes a prediction a
    :class:`SaturationError` names the layers, step counts and samples.
    """
    validate_network(network)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r}: expected a positive integer")
    x_int = encode_input(network, x)
    device = torch.device(device)
    chosen = _resolve_backend(network, backend, device)
    with torch_threads(threads):
        chunks = [_simulate_chunk(network, x_int[i:i + batch_size], record, track_state_max,
                                  device, progress, chosen, threads)
                  for i in range(0, x_int.shape[0], batch_size)]
        names = [layer.name for layer in network.layers]
        logits = torch.cat([c["logits"] for c in chunks])
        result = SimulationResult(
            logits=logits, predictions=logits.argmax(dim=1),
            spike_counts={n: torch.cat([c["counts"][n] for c in chunks]) for n in names},
            synaptic_ops=torch.cat([c["synaptic_ops"] for c in chunks]),
            state_max=({n: max(c["state_max"][n] for c in chunks) for n in names}
                       if track_state_max else None),
            n_snn_steps=x_int.shape[1] * network.steps_per_ann_step,
            spikes=({n: torch.cat([c["spikes"][n] for c in chunks]) for n in names}
                    if record else None),
            decoded=({n: torch.cat([c["decoded"][n] for c in chunks]) for n in names}
                     if record else None),
            saturated_steps={n: torch.cat([c["saturated_steps"][n] for c in chunks])
                             for n in names},
            backend=chosen)
        _check_saturation(network, x_int, result, device, allow_saturation)
    return result


def _check_saturation(network: LoihiNetwork, x_int: Tensor, result: SimulationResult,
                      device: torch.device, allow_saturation: bool) -> None:
    """Warn about saturation; raise SaturationError if it changed a prediction (not allowed)."""
    saturated = torch.zeros(x_int.shape[0], dtype=torch.bool)
    for steps in result.saturated_steps.values():
        saturated |= steps > 0
    if not saturated.any():
        return
    layers = ", ".join(f"{name}: up to {int(steps.max())} of {result.n_snn_steps} steps"
                       for name, steps in result.saturated_steps.items() if steps.any())
    if allow_saturation:
        warnings.warn(f"24-bit state saturation in {int(saturated.sum())} of {x_int.shape[0]} "
                      f"samples ({layers}), allowed", stacklevel=4)
        return
    samples = saturated.nonzero().flatten()
    wide = _simulate_torch(network, x_int[samples].to(device), False, False, device, False,
                           state_limit=WIDE_STATE_MAX)
    wide_predictions = _finish(network, x_int[samples].to(device), wide)["logits"].argmax(dim=1)
    changed = samples[wide_predictions != result.predictions[samples]]
    message = (f"24-bit state saturation in {int(saturated.sum())} of {x_int.shape[0]} samples "
               f"({layers}); with {WIDE_STATE_BITS}-bit states {len(changed)} predictions differ")
    if len(changed):
        raise SaturationError(f"{message} (samples {changed[:10].tolist()}"
                              f"{' …' if len(changed) > 10 else ''}): scale the network down "
                              "(map_network with calibration data or more headroom_bits), or "
                              "pass allow_saturation=True")
    warnings.warn(message, stacklevel=4)


def _simulate_chunk(network: LoihiNetwork, x_int: Tensor, record: bool, track_state_max: bool,
                    device: torch.device, progress: bool, backend: str, threads: int) -> dict:
    if backend == "kernel":
        raw = kernel.simulate_batch(network, x_int.numpy(), record=record,
                                    track_state_max=track_state_max, threads=threads)
        raw = _as_tensors(raw)
    else:
        raw = _simulate_torch(network, x_int.to(device), record, track_state_max, device,
                              progress)
    return _finish(network, x_int.to(device), raw)


def _as_tensors(value):
    if isinstance(value, dict):
        return {key: _as_tensors(item) for key, item in value.items()}
    return None if value is None else torch.from_numpy(value)


def _finish(network: LoihiNetwork, x_int: Tensor, raw: dict) -> dict:
    """Logits, synaptic operations and decoded activations from a backend's raw integers."""
    layers, k = network.layers, network.steps_per_ann_step
    device = x_int.device
    n_window = x_int.shape[1] * k - network.window_start(x_int.shape[1])
    readout_w = torch.as_tensor(np.asarray(network.readout.weights, dtype=np.int64), device=device)
    readout_bias = torch.as_tensor(np.asarray(network.readout.bias, dtype=np.int64), device=device)
    logits = raw["window_sum"].to(device) @ readout_w.T + readout_bias * n_window
    fan_outs = _fan_outs(network, device)
    synaptic_ops = k * ((x_int != 0).to(torch.int64) @ fan_outs[0]).sum(dim=1)
    for l, layer in enumerate(layers):
        synaptic_ops += raw["counts"][layer.name].to(device) @ fan_outs[l + 1]
    result = dict(logits=logits.cpu(), synaptic_ops=synaptic_ops.cpu(),
                  counts={nm: c.cpu() for nm, c in raw["counts"].items()},
                  saturated_steps={nm: c.cpu() for nm, c in raw["saturated_steps"].items()},
                  state_max=({nm: int(m.max()) for nm, m in raw["state_max"].items()}
                             if raw["state_max"] is not None else None))
    if raw["spikes"] is not None:
        result["spikes"] = {nm: s.cpu() for nm, s in raw["spikes"].items()}
        result["decoded"] = {layer.name: (raw["decoded_sum"][layer.name].double()
                                          / (k * layer.state_scale)).float().cpu()
                             for layer in layers}
    return result


def _fan_outs(network: LoihiNetwork, device: torch.device) -> list[Tensor]:
    """Non-zero outgoing synapses per input, then per neuron of each layer
    (:func:`lprnn.core.conventions.layer_fan_outs`)."""
    layers = network.layers
    fans = [conventions.fan_out(layers[0].weights)] + conventions.layer_fan_outs(
        [layer.weights for layer in layers], [layer.recurrent_weights for layer in layers],
        network.readout.weights)
    return [torch.as_tensor(np.asarray(f), dtype=torch.int64, device=device) for f in fans]


def _simulate_torch(network: LoihiNetwork, x_int: Tensor, record: bool, track_state_max: bool,
                    device: torch.device, progress: bool, state_limit: int = hardware.STATE_MAX
                    ) -> dict:
    """The pure-torch path: the raw integers of one chunk (what :func:`_finish` consumes)."""
    layers: list[LoihiLayer] = network.layers
    k = network.steps_per_ann_step
    batch, n_ann, _ = x_int.shape
    n_steps = n_ann * k
    window = network.window_start(n_ann)
    # On CUDA, float32 matmuls may run in TF32 (10-bit mantissa): float64 is exact everywhere.
    exact_float = device.type == "cpu"

    first = np.asarray(layers[0].weights, dtype=np.int64)
    input_bound = int(np.abs(first).sum(axis=1).max()) * int(x_int.abs().max())
    if input_bound >= FLOAT64_EXACT:
        raise ValueError(f"input drive bound {input_bound} ≥ 2**53: cannot be exact")
    input_drive = _shift((x_int.double() @ torch.as_tensor(first.T, dtype=torch.float64,
                                                           device=device)).to(torch.int64),
                         layers[0].weight_exp)                       # [B, T, n0]
    connections = [_Connection(layer.weights, layer.weight_exp, device, exact_float,
                               layers[l - 1].neuron.payload_max if l else 1)
                   for l, layer in enumerate(layers)]
    recurrent = [_Connection(layer.recurrent_weights, layer.recurrent_weight_exp, device,
                             exact_float, layer.neuron.payload_max)
                 if layer.recurrent_weights is not None else None for layer in layers]
    biases = [torch.as_tensor(layer.bias, dtype=torch.int64, device=device) for layer in layers]

    states: list[SigmaDeltaState] = [initial_state((batch, layer.n_neurons), torch.int64, device)
                                     for layer in layers]
    spikes = [torch.zeros(batch, layer.n_neurons, dtype=torch.bool, device=device)
              for layer in layers]
    counts = [torch.zeros(batch, layer.n_neurons, dtype=torch.int64, device=device)
              for layer in layers]
    saturated_steps = [torch.zeros(batch, dtype=torch.int64, device=device) for _ in layers]
    readout_source = network.readout.source
    window_sum = torch.zeros(batch, layers[-1].n_neurons, dtype=torch.int64, device=device)
    state_max = [torch.zeros(batch, layer.n_neurons, dtype=torch.int64, device=device)
                 for layer in layers]
    if record:
        spike_record = [torch.zeros(batch, n_steps, layer.n_neurons, device=device,
                                    dtype=torch.bool if layer.neuron.payload_max == 1
                                    else torch.uint8) for layer in layers]
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
            s, states[l] = sigma_delta_step_fixed(a, biases[l], states[l], layer.neuron,
                                                  state_max=state_limit)
            new_spikes.append(s)
            at_limit = torch.zeros(s.shape, dtype=torch.bool, device=device)
            for value in states[l]:
                at_limit |= value.abs() == state_limit
            saturated_steps[l] += at_limit.any(dim=1)
            if track_state_max:
                for value in states[l]:
                    torch.maximum(state_max[l], value.abs(), out=state_max[l])
            if record:
                spike_record[l][:, n] = s
                decoded_sum[l][:, n // k] -= states[l].i_fb
        spikes = new_spikes
        for l in range(len(layers)):
            counts[l] += spikes[l] > 0
            recurrent_history[l].append(spikes[l])
        if n >= window:
            window_sum += spikes[-1] if readout_source == "spike_counts" else -states[-1].i_fb

    names = [layer.name for layer in layers]
    return dict(window_sum=window_sum, counts=dict(zip(names, counts)),
                saturated_steps=dict(zip(names, saturated_steps)),
                state_max=dict(zip(names, state_max)) if track_state_max else None,
                spikes=dict(zip(names, spike_record)) if record else None,
                decoded_sum=dict(zip(names, decoded_sum)) if record else None)


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
    ``simulate(network, x, record=True)``), over the ANN's steps (the SNN's readout latency
    adds steps that the paper's lpRNN does not run)."""
    if result.decoded is None:
        raise ValueError("the simulation result has no decoded activations: "
                         "simulate with record=True")
    trace = model.eval().trace(x)
    correlations = {}
    for name, decoded in result.decoded.items():
        steps = trace[name].shape[1]
        pair = torch.stack([trace[name].flatten().double(),
                            decoded[:, :steps].flatten().double()])
        correlations[name] = float(torch.corrcoef(pair)[0, 1])
    return correlations
