"""Resources and activity of a mapped network on Loihi 2 (no Lava needed).

Resources (:func:`resource_report`), per layer: neurons, synapses (dense, as Lava's ``Dense``
stores them, and non-zero), the weight width the mantissas actually need, synaptic memory at
8 bits (how :mod:`lprnn.snn.lava` configures ``Dense``: ``num_weight_bits=8``), neuron-state
memory (four 24-bit states per neuron), and the number of neuron cores needed against the
published Loihi 2 limits in :mod:`lprnn.core.hardware` (``LOIHI2_*``, with their source):

    cores = max(⌈neurons / 8192⌉, ⌈synapses / 937 500⌉, ⌈(synapse bytes + state bytes) / 192 KiB⌉)

This is an *estimate* from per-core limits, layer by layer (layers do not share cores); Intel's
Loihi 2 compiler is not public and may place differently. The readout row is the integer
readout (one accumulator per class) and is counted like a layer.

Activity (:func:`activity_report`), per inference: spikes per layer, spikes per neuron per SNN
step, and synaptic operations received by each layer, counted as the simulator counts them: one
operation per presynaptic event and non-zero synapse,

    ops into layer l = Σ_j events_j(l − 1) · nnz(W_l[:, j]) + Σ_j spikes_j(l) · nnz(U_l[:, j])

where the events into layer 1 are the non-zero graded input payloads, sent every SNN step
(k per ANN step), and the readout receives the last layer's spikes. Counts come from the simulator
(:func:`lprnn.snn.simulate`), which Lava's ``fixed_pt`` run reproduces spike for spike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from lprnn import snn
from lprnn.core import conventions, hardware
from lprnn.snn.network import LoihiNetwork

STATE_BYTES_PER_NEURON = conventions.STATE_BYTES_PER_NEURON   # i_in, i_ip, v, i_fb
SYNAPSE_BYTES = conventions.SYNAPSE_BYTES                     # dense 8-bit weights


def weight_bits(weights: np.ndarray) -> int:
    """Bits a weight matrix needs on Loihi 2 (1–8, two's complement for a mixed-sign matrix)
    once the trailing zero bits common to all weights are moved into the exponent."""
    w = np.asarray(weights).astype(np.int64)
    nonzero = w[w != 0]
    if nonzero.size == 0:
        return 1
    common = int(np.bitwise_or.reduce(np.abs(nonzero)))
    shift = (common & -common).bit_length() - 1
    largest, smallest = int(nonzero.max()) >> shift, int(nonzero.min()) >> shift
    if smallest < 0 < largest:
        return 1 + max(largest.bit_length(), (-smallest - 1).bit_length())
    return max(abs(largest), abs(smallest)).bit_length()


def _cores(neurons: int, synapses: int) -> tuple[int, int]:
    memory = synapses * SYNAPSE_BYTES + neurons * STATE_BYTES_PER_NEURON
    return memory, conventions.loihi2_cores(neurons, synapses)


def resource_report(network: LoihiNetwork) -> pd.DataFrame:
    """One row per layer plus the readout and a total (module docstring for the columns)."""
    rows = []
    for layer in network.layers:
        matrices = [layer.weights] + ([layer.recurrent_weights]
                                      if layer.recurrent_weights is not None else [])
        synapses = sum(int(m.size) for m in matrices)
        memory, cores = _cores(layer.n_neurons, synapses)
        rows.append(dict(layer=layer.name, neurons=layer.n_neurons, synapses=synapses,
                         nonzero_synapses=sum(int(np.count_nonzero(m)) for m in matrices),
                         weight_bits=max(weight_bits(m) for m in matrices),
                         synaptic_memory_bytes=synapses * SYNAPSE_BYTES,
                         state_memory_bytes=layer.n_neurons * STATE_BYTES_PER_NEURON,
                         memory_bytes=memory, cores=cores))
    readout = network.readout.weights
    memory, cores = _cores(network.readout.n_classes, int(readout.size))
    rows.append(dict(layer="readout", neurons=network.readout.n_classes,
                     synapses=int(readout.size), nonzero_synapses=int(np.count_nonzero(readout)),
                     weight_bits=weight_bits(readout),
                     synaptic_memory_bytes=int(readout.size) * SYNAPSE_BYTES,
                     state_memory_bytes=network.readout.n_classes * STATE_BYTES_PER_NEURON,
                     memory_bytes=memory, cores=cores))
    table = pd.DataFrame(rows)
    total = table.drop(columns=["layer", "weight_bits"]).sum().to_dict()
    total.update(layer="total", weight_bits=int(table["weight_bits"].max()))
    return pd.concat([table, pd.DataFrame([total])], ignore_index=True)[list(rows[0])]


def cores_needed(network: LoihiNetwork) -> int:
    """Estimated Loihi 2 neuron cores for the whole network (see :func:`resource_report`)."""
    return int(resource_report(network)["cores"].iloc[-1])


def fits_one_chip(network: LoihiNetwork) -> bool:
    """Whether the estimate fits one Loihi 2 chip (128 neuron cores)."""
    return cores_needed(network) <= hardware.LOIHI2_CORES_PER_CHIP


def _as_array(x: torch.Tensor | np.ndarray) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def fan_out(weights: np.ndarray) -> np.ndarray:
    """Non-zero outgoing synapses of each presynaptic neuron (:func:`conventions.fan_out`)."""
    return conventions.fan_out(np.asarray(weights)).astype(np.int64)


def activity_report(network: LoihiNetwork,
                    spike_counts: Mapping[str, torch.Tensor | np.ndarray]
                    | Sequence[torch.Tensor | np.ndarray],
                    inputs: torch.Tensor) -> pd.DataFrame:
    """Mean activity per inference, one row per layer plus the readout and a total.

    ``spike_counts``: per layer (in order, or keyed by layer name), spikes per sample and
    neuron [B, n] over the whole run (``SimulationResult.spike_counts``); ``inputs`` are the
    features [B, T, F] of the same run. The total of ``synaptic_ops_per_inference`` equals the
    mean of ``SimulationResult.synaptic_ops``.
    """
    if isinstance(spike_counts, Mapping):
        missing = [layer.name for layer in network.layers if layer.name not in spike_counts]
        if missing:
            raise ValueError(f"spike counts missing for layers {missing}")
        spike_counts = [spike_counts[layer.name] for layer in network.layers]
    counts = [_as_array(c).astype(np.int64) for c in spike_counts]
    if len(counts) != len(network.layers):
        raise ValueError(f"{len(counts)} spike-count arrays, expected one per layer "
                         f"({len(network.layers)})")
    for layer, c in zip(network.layers, counts):
        if c.ndim != 2 or c.shape[1] != layer.n_neurons:
            raise ValueError(f"layer {layer.name!r}: spike counts of shape {c.shape}, "
                             f"expected [B, {layer.n_neurons}]")
    x_int = _as_array(snn.encode_input(network, inputs))
    if x_int.shape[0] != counts[0].shape[0]:
        raise ValueError(f"{x_int.shape[0]} input samples but spike counts for "
                         f"{counts[0].shape[0]}")
    k = network.steps_per_ann_step
    snn_steps = x_int.shape[1] * k
    input_events = k * (x_int != 0).sum(axis=1)                       # [B, F]
    rows = []
    for i, layer in enumerate(network.layers):
        presynaptic = input_events if i == 0 else counts[i - 1]
        ops = presynaptic @ fan_out(layer.weights)
        if layer.recurrent_weights is not None:
            ops = ops + counts[i] @ fan_out(layer.recurrent_weights)
        spikes = counts[i].sum(axis=1)
        rows.append(dict(layer=layer.name, neurons=layer.n_neurons,
                         spikes_per_inference=float(spikes.mean()),
                         spikes_per_neuron_per_step=float(spikes.mean())
                         / (layer.n_neurons * snn_steps),
                         synaptic_ops_per_inference=float(ops.mean())))
    rows.append(dict(layer="readout", neurons=network.readout.n_classes,
                     spikes_per_inference=0.0, spikes_per_neuron_per_step=0.0,
                     synaptic_ops_per_inference=float(
                         (counts[-1] @ fan_out(network.readout.weights)).mean())))
    table = pd.DataFrame(rows)
    n_neurons = sum(layer.n_neurons for layer in network.layers)
    total_spikes = float(table["spikes_per_inference"].sum())
    rows.append(dict(layer="total", neurons=int(table["neurons"].sum()),
                     spikes_per_inference=total_spikes,
                     spikes_per_neuron_per_step=total_spikes / (n_neurons * snn_steps),
                     synaptic_ops_per_inference=float(table["synaptic_ops_per_inference"].sum())))
    return pd.DataFrame(rows)
