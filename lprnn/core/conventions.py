"""The conventions every path shares: input timing, the readout window, operation counts, cores.

The ANN (:mod:`lprnn.ann.model`), the baselines (:mod:`lprnn.baselines`), the fixed-point
simulator (:mod:`lprnn.snn.simulator`), the Lava backend (:mod:`lprnn.snn.lava`) and the Brian2
oracle (``tests/oracles/brian2_reference.py``) all take these from here; ``docs/METHOD.md``
("Timing") derives them.

**Input timing.** With ``k`` SNN steps per ANN step, every synapse delays by one SNN step: layer
``l`` at step ``n`` sees the spikes its inputs emitted at ``n − 1``. The graded input is the
output of a "layer −1" that holds ANN step ``t`` for SNN steps ``t·k … t·k + k − 1``, so the
first layer receives

    x_int[(n − 1) // k]   at SNN step n ≥ 1,   nothing at n = 0      (:func:`held_input_step`)

**Readout window.** Logits are averaged over the ANN steps ``t ≥ T // 2`` (``"second_half"``,
Heidelberg Digits) or over all of them (``"all"``, Speech Commands); in SNN steps the window
starts at ``(T // 2) · k`` (:func:`window_start`).

**Readout latency.** Each mapped layer follows the one below a fraction of an ANN step late
(it integrates its input as it moves; the lpRNN sees each step's final value), so the SNN's
logits lag the lpRNN's by about 0.7 ANN steps per recurrent layer. With a readout latency of
m ANN steps, the SNN (and the lpRNN run with the SNN's timing) keeps running m more ANN steps
on the clip's last frame held, and the window is taken over the T + m steps
(:func:`extend_input`): the readout waits for the pipeline, as a streaming system would read
its decision a few frames after the word.

**Synaptic operations.** One operation per presynaptic event and non-zero synapse it reaches.
A neuron's fan-out (:func:`layer_fan_outs`) is its non-zero outgoing synapses: to the next
layer (the readout for the last layer) plus its own layer's recurrent synapses.

**Cores.** One Loihi 2 core estimate per layer from the published per-core limits
(:mod:`lprnn.core.hardware`), the readout counted like a layer (:func:`loihi2_cores`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeVar

import torch
from torch import Tensor

from lprnn.core import hardware

AVERAGING = ("second_half", "all")
# Bytes per neuron for its four 24-bit states (i_in, i_ip, v, i_fb) and per dense 8-bit synapse.
STATE_BYTES_PER_NEURON = 4 * hardware.STATE_BITS // 8
SYNAPSE_BYTES = hardware.WEIGHT_MANTISSA_BITS // 8

Matrix = TypeVar("Matrix")   # a numpy array or a torch tensor [n_out, n_in]


def check_averaging(averaging: str) -> None:
    """ValueError unless ``averaging`` is one of :data:`AVERAGING`."""
    if averaging not in AVERAGING:
        raise ValueError(f"averaging={averaging!r}: expected one of {list(AVERAGING)}")


def window_start(n_ann_steps: int, averaging: str, steps_per_ann_step: int = 1) -> int:
    """First step of the readout window: ``(T // 2) · k`` for "second_half", 0 for "all"
    (``k = 1`` gives ANN steps)."""
    check_averaging(averaging)
    return (n_ann_steps // 2) * steps_per_ann_step if averaging == "second_half" else 0


def average_logits(step_logits: Tensor, averaging: str) -> Tensor:
    """Per-step logits ``[B, T, C]`` averaged over the readout window → ``[B, C]``."""
    return step_logits[:, window_start(step_logits.shape[1], averaging):].mean(dim=1)


def check_readout_latency(readout_latency: object, name: str = "readout_latency") -> int:
    """``readout_latency`` if it is an integer ≥ 0 (ANN steps); else ValueError naming it."""
    if isinstance(readout_latency, bool) or not isinstance(readout_latency, int) \
            or readout_latency < 0:
        raise ValueError(f"{name}={readout_latency!r}: expected an integer ≥ 0 (ANN steps)")
    return readout_latency


def extend_input(x: Tensor, readout_latency: int) -> Tensor:
    """``x [B, T, F]`` with its last frame held ``readout_latency`` more steps: ``[B, T + m, F]``."""
    if check_readout_latency(readout_latency) == 0:
        return x
    return torch.cat([x, x[:, -1:].expand(-1, readout_latency, -1)], dim=1)


def held_input_step(n: int, steps_per_ann_step: int) -> int | None:
    """The ANN step whose input the first layer receives at SNN step ``n``: ``(n − 1) // k``,
    or None at ``n = 0`` (the input's one-step synaptic delay)."""
    return (n - 1) // steps_per_ann_step if n > 0 else None


def fan_out(weights: Matrix) -> Matrix:
    """Non-zero outgoing synapses of each presynaptic neuron of a ``[n_out, n_in]`` matrix
    (int64, same library as ``weights``)."""
    return (weights != 0).sum(0)


def layer_fan_outs(feedforward: Sequence[Matrix], recurrent: Sequence[Matrix | None],
                   readout: Matrix) -> list[Matrix]:
    """Per layer ``l``, each neuron's fan-out: ``nnz`` of its column of ``feedforward[l + 1]``
    (``readout`` for the last layer) plus of its own ``recurrent[l]`` (when not None)."""
    if len(feedforward) != len(recurrent):
        raise ValueError(f"{len(feedforward)} feed-forward and {len(recurrent)} recurrent "
                         "matrices: expected one of each per layer")
    downstream = list(feedforward[1:]) + [readout]
    return [fan_out(after) + (fan_out(own) if own is not None else 0)
            for after, own in zip(downstream, recurrent)]


def loihi2_cores(neurons: int, synapses: int) -> int:
    """Loihi 2 neuron cores for one layer of ``neurons`` with ``synapses`` dense 8-bit synapses:

        max(⌈neurons / 8192⌉, ⌈synapses / 937 500⌉, ⌈(synapse bytes + state bytes) / 192 KiB⌉, 1)
    """
    memory = synapses * SYNAPSE_BYTES + neurons * STATE_BYTES_PER_NEURON
    return max(math.ceil(neurons / hardware.LOIHI2_NEURONS_PER_CORE),
               math.ceil(synapses / hardware.LOIHI2_SYNAPSES_PER_CORE),
               math.ceil(memory / hardware.LOIHI2_MEMORY_PER_CORE_BYTES), 1)
