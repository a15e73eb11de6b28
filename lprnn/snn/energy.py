"""Energy and latency estimates: counted operations times published per-operation energies.

Everything here is an **estimate**. The counts are exact (synaptic operations and spikes from
the bit-exact simulator :func:`lprnn.snn.simulate`, which Lava reproduces spike for spike;
multiply-accumulates of the dense ANN from the layer shapes); the per-operation energies come
from the literature and carry their citations in :data:`FIGURES`. A figure computed here from
published numbers (rather than read off a table) has ``derived=True`` and says how.

Loihi (SNN), per inference of ``n`` ANN steps with ``k`` SNN steps each:

    E_SNN = N_synops · E_synop + N_neurons · n · k · E_neuron_update + N_spikes · E_spike

(every ΣΔ neuron is updated at every SNN step: its four states decay, so it is never idle).
Microcontroller / GPU (ANN), with MAC = multiply-accumulate of the dense network:

    MACs per ANN step = Σ_layers (n_in · n_out + n_out² [recurrent]) + n_last · n_classes
    E_ANN = n · MACs per ANN step · E_MAC

Latency per ANN step = k · t_step for a chip time step t_step. The authors ran Loihi in real
time: t_step = T_ANN / k (T_ANN = one frame hop, 256 / 48 kHz = 5.33 ms for HD-like audio),
so the latency per ANN step is one frame whatever k is; the chip's own speed only bounds how
small t_step can be.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from lprnn.core import conventions
from lprnn.snn.network import LoihiNetwork


@dataclass(frozen=True)
class PublishedFigure:
    """A per-operation figure with its source; ``value`` in SI units (J, s, W)."""

    name: str
    value: float
    unit: str
    source: str
    derived: bool = False
    note: str = ""


_DAVIES_2018 = ("Davies et al. 2018, 'Loihi: A Neuromorphic Manycore Processor with On-Chip "
                "Learning', IEEE Micro 38(1):82-99, doi:10.1109/MM.2018.112130359, table of "
                "Loihi energy/performance figures (pre-silicon estimates at 0.75 V)")

LOIHI_SYNAPTIC_OP = PublishedFigure(
    "Loihi energy per synaptic spike op", 23.6e-12, "J", _DAVIES_2018,
    note="listed as a minimum ('min'); Loihi 2 has no published per-operation table")
LOIHI_NEURON_UPDATE = PublishedFigure(
    "Loihi energy per neuron update (active)", 81e-12, "J", _DAVIES_2018,
    note="52 pJ for an inactive neuron; a ΣΔ neuron's states decay every step, so 'active' is used")
LOIHI_NEURON_UPDATE_INACTIVE = PublishedFigure(
    "Loihi energy per neuron update (inactive)", 52e-12, "J", _DAVIES_2018)
LOIHI_SPIKE_WITHIN_TILE = PublishedFigure(
    "Loihi energy per spike sent within a tile", 1.7e-12, "J", _DAVIES_2018,
    note="spikes between tiles add 3.0-4.0 pJ per hop (placement-dependent, not counted)")

_STM32L4_CURRENT_PER_HZ = 100e-6 / 1e6   # A per Hz: 100 µA/MHz
_STM32L4_SUPPLY_VOLTS = 3.0
CORTEX_M4_MAC = PublishedFigure(
    "ARM Cortex-M4 energy per MAC (STM32L4, 1 MAC per cycle)",
    _STM32L4_CURRENT_PER_HZ * _STM32L4_SUPPLY_VOLTS, "J",
    "STMicroelectronics, STM32L4 (Cortex-M4F) power controller training (STM32L47x/48x): "
    "Run mode 100 µA/MHz at 26 MHz (120 µA/MHz at 80 MHz)",
    derived=True,
    note="derived here: 100 µA/MHz x 3.0 V = 300 pJ per clock cycle, with one multiply-"
         "accumulate per cycle (the Cortex-M4 MLA/SMLAD instructions are single-cycle; loads "
         "of weights and activations are not counted, so this is optimistic for the MCU)")

_HOROWITZ_2014 = ("Horowitz 2014, 'Computing's energy problem (and what we can do about it)', "
                  "ISSCC 2014, doi:10.1109/ISSCC.2014.6757323 (45 nm)")
FP32_MAC_ARITHMETIC_45NM = PublishedFigure(
    "fp32 multiply + add, arithmetic only (45 nm)", 3.7e-12 + 0.9e-12, "J", _HOROWITZ_2014,
    derived=True,
    note="derived here: 3.7 pJ fp32 multiply + 0.9 pJ fp32 add; excludes memory access "
         "(10-20 pJ per 32-bit SRAM read in the same table), a lower bound for any digital MAC")

_A100_WATTS, _A100_FP32_FLOPS = 400.0, 19.5e12
GPU_A100_MAC = PublishedFigure(
    "NVIDIA A100 energy per fp32 MAC at peak throughput", 2 * _A100_WATTS / _A100_FP32_FLOPS, "J",
    "NVIDIA A100 Tensor Core GPU datasheet (SXM4): 400 W max TDP, 19.5 TFLOPS peak FP32",
    derived=True,
    note="derived here: 400 W / 19.5 TFLOP/s x 2 FLOP per MAC = 41 pJ; a batch-1 RNN runs "
         "far below peak, so this is a lower bound for the GPU")

AUTHORS_SNN_STEP = PublishedFigure(
    "SNN time step the authors used on Loihi", 0.56e-3, "s",
    "Boeshertz et al. 2024, ICONS, arXiv:2407.13534 (T_SNN = 0.56 ms with T_ANN = 1/187 s)")

FIGURES: tuple[PublishedFigure, ...] = (
    LOIHI_SYNAPTIC_OP, LOIHI_NEURON_UPDATE, LOIHI_NEURON_UPDATE_INACTIVE, LOIHI_SPIKE_WITHIN_TILE,
    CORTEX_M4_MAC, FP32_MAC_ARITHMETIC_45NM, GPU_A100_MAC, AUTHORS_SNN_STEP)


@dataclass(frozen=True)
class ReportedClaim:
    """A number a seed paper reports (not measured or recomputed here)."""

    source: str
    claim: str
    value: float
    unit: str


REPORTED_CLAIMS: tuple[ReportedClaim, ...] = (
    ReportedClaim("Nair & Indiveri 2019, arXiv:1905.10692",
                  "estimated energy-efficiency gain of lpRNN on neuromorphic chips vs ARM Cortex-M4 "
                  "(at least)", 500.0, "x"),
    ReportedClaim("Diehl et al. 2016, ICRC, arXiv:1601.04187",
                  "Elman RNN (train-and-constrain) on IBM TrueNorth, question classification "
                  "(74% accuracy): power", 17e-6, "W"),
    ReportedClaim("Yin, Corradi, Bohté 2020, ICONS, arXiv:2005.11633",
                  "estimated energy advantage of adaptive spiking RNNs over classical RNNs "
                  "(more than)", 100.0, "x"),
)


@dataclass(frozen=True)
class SnnActivity:
    """Operations of one inference on the chip (means over the samples simulated).

    ``synaptic_ops`` is the simulator's total; ``spike_synaptic_ops`` the part driven by the
    neurons' spikes (Σ spikes x fan-out); the rest is the graded input, which the simulator
    sends into the first layer at every SNN step.
    """

    synaptic_ops: float
    spike_synaptic_ops: float
    spikes: float
    neuron_updates: int   # neurons x SNN steps
    snn_steps: int

    @property
    def input_synaptic_ops(self) -> float:
        return self.synaptic_ops - self.spike_synaptic_ops


def fan_out(network: LoihiNetwork) -> list[np.ndarray]:
    """Per layer, each neuron's number of non-zero outgoing synapses.

    To the next layer, its own layer's recurrent synapses, and the readout for the last layer
    (the synapses a spike of that neuron activates).
    """
    return [np.asarray(f, dtype=np.int64) for f in conventions.layer_fan_outs(
        [layer.weights for layer in network.layers],
        [layer.recurrent_weights for layer in network.layers], network.readout.weights)]


def _check_count(name: str, value: float) -> None:
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name}={value!r}: expected a finite count >= 0")


def _check_steps(n_ann_steps: int) -> None:
    if not isinstance(n_ann_steps, (int, np.integer)) or n_ann_steps < 1:
        raise ValueError(f"n_ann_steps={n_ann_steps!r}: expected a positive integer")


def _mean(x: torch.Tensor | np.ndarray | float) -> float:
    return float(torch.as_tensor(x, dtype=torch.float64).mean())


def snn_activity(network: LoihiNetwork, result, n_ann_steps: int) -> SnnActivity:
    """Mean synaptic operations and spikes per inference from a :func:`lprnn.snn.simulate` result.

    ``result.synaptic_ops`` holds the synaptic operations per sample (as the simulator counts
    them) and ``result.spike_counts`` the spikes per layer, each ``[B, n]`` (a sequence in layer
    order or a mapping keyed by layer name).
    """
    _check_steps(n_ann_steps)
    counts = result.spike_counts
    layers: Sequence = list(counts.values()) if isinstance(counts, Mapping) else list(counts)
    if len(layers) != len(network.layers):
        raise ValueError(f"result has spike counts for {len(layers)} layers, "
                         f"expected {len(network.layers)} (one per network layer)")
    layers = [torch.as_tensor(c, dtype=torch.float64) for c in layers]
    spikes = sum(float(c.sum(-1).mean()) for c in layers)
    spike_ops = sum(float((c @ torch.as_tensor(f, dtype=torch.float64)).mean())
                    for c, f in zip(layers, fan_out(network)))
    snn_steps = n_ann_steps * network.steps_per_ann_step
    simulated = getattr(result, "n_snn_steps", snn_steps)
    if simulated != snn_steps:
        raise ValueError(f"result ran {simulated} SNN steps, expected {snn_steps} "
                         f"(n_ann_steps={n_ann_steps} x k={network.steps_per_ann_step})")
    neurons = sum(layer.n_neurons for layer in network.layers)
    return SnnActivity(synaptic_ops=_mean(result.synaptic_ops), spike_synaptic_ops=spike_ops,
                       spikes=spikes, neuron_updates=neurons * snn_steps, snn_steps=snn_steps)


def ann_macs_per_step(network: LoihiNetwork, *, skip_zero_weights: bool = False) -> int:
    """Multiply-accumulates of the ANN for one step (feed-forward, recurrent and readout).

    With ``skip_zero_weights`` only non-zero weights count (a sparse kernel that skips the
    zeros of the quantized weights); otherwise the dense count.
    """
    def macs(w: np.ndarray) -> int:
        return int(np.count_nonzero(w)) if skip_zero_weights else int(w.size)

    total = macs(network.readout.weights)
    for layer in network.layers:
        total += macs(layer.weights)
        if layer.recurrent_weights is not None:
            total += macs(layer.recurrent_weights)
    return total


def loihi_energy(activity: SnnActivity, *, synaptic_op: float = LOIHI_SYNAPTIC_OP.value,
                 neuron_update: float = LOIHI_NEURON_UPDATE.value,
                 spike: float = LOIHI_SPIKE_WITHIN_TILE.value) -> dict[str, float]:
    """Energy per inference on Loihi (J), by term and in total."""
    for name, value in (("synaptic_ops", activity.synaptic_ops), ("spikes", activity.spikes),
                        ("neuron_updates", activity.neuron_updates)):
        _check_count(name, value)
    terms = dict(synaptic=activity.synaptic_ops * synaptic_op,
                 neuron=activity.neuron_updates * neuron_update,
                 spike=activity.spikes * spike)
    return {**terms, "total": sum(terms.values())}


def mac_energy(macs: float, energy_per_mac: float) -> float:
    """Energy (J) of ``macs`` multiply-accumulates at ``energy_per_mac`` joules each."""
    _check_count("macs", macs)
    _check_count("energy_per_mac", energy_per_mac)
    return macs * energy_per_mac


def latency_per_ann_step(steps_per_ann_step: int, snn_step_seconds: float) -> float:
    """Seconds the chip needs for one ANN step: k SNN steps of ``snn_step_seconds`` each."""
    if not isinstance(steps_per_ann_step, (int, np.integer)) or steps_per_ann_step < 1:
        raise ValueError(f"steps_per_ann_step={steps_per_ann_step!r}: expected a positive integer")
    if not np.isfinite(snn_step_seconds) or snn_step_seconds <= 0:
        raise ValueError(f"snn_step_seconds={snn_step_seconds!r}: expected a positive duration")
    return steps_per_ann_step * snn_step_seconds


def energy_table(network: LoihiNetwork, activity: SnnActivity, n_ann_steps: int,
                 ann_step_seconds: float) -> pd.DataFrame:
    """Energy per inference and mean power (real time) of the SNN on Loihi and the ANN elsewhere.

    One row per platform: operations per inference, energy per operation, energy per inference
    (µJ), mean power when run in real time (n_ann_steps frames of ``ann_step_seconds``, µW),
    and the ratio of each platform's energy to Loihi's.
    """
    _check_steps(n_ann_steps)
    if not np.isfinite(ann_step_seconds) or ann_step_seconds <= 0:
        raise ValueError(f"ann_step_seconds={ann_step_seconds!r}: expected a positive duration")
    loihi = loihi_energy(activity)
    dense = n_ann_steps * ann_macs_per_step(network)
    sparse = n_ann_steps * ann_macs_per_step(network, skip_zero_weights=True)
    rows = [dict(platform="SNN on Loihi (ΣΔ neurons)", operations=activity.synaptic_ops,
                 operation="synaptic ops (+ neuron updates, spikes)",
                 energy_per_op_pJ=LOIHI_SYNAPTIC_OP.value * 1e12, energy_J=loihi["total"],
                 source=LOIHI_SYNAPTIC_OP.source)]
    for label, macs, figure in (
            ("ANN on ARM Cortex-M4 (dense)", dense, CORTEX_M4_MAC),
            ("ANN on ARM Cortex-M4 (zero weights skipped)", sparse, CORTEX_M4_MAC),
            ("ANN on NVIDIA A100 (dense, peak)", dense, GPU_A100_MAC),
            ("ANN, fp32 arithmetic only at 45 nm (dense)", dense, FP32_MAC_ARITHMETIC_45NM)):
        rows.append(dict(platform=label, operations=float(macs), operation="MACs",
                         energy_per_op_pJ=figure.value * 1e12,
                         energy_J=mac_energy(macs, figure.value), source=figure.source))
    table = pd.DataFrame(rows)
    seconds = n_ann_steps * ann_step_seconds
    table["energy_uJ"] = table["energy_J"] * 1e6
    table["power_uW_real_time"] = table["energy_J"] / seconds * 1e6
    table["ratio_to_loihi"] = table["energy_J"] / loihi["total"]
    return table.drop(columns="energy_J")


def figures_table() -> pd.DataFrame:
    """Every per-operation figure used here, with its source and whether it is derived."""
    return pd.DataFrame([dict(name=f.name, value=f.value, unit=f.unit, derived=f.derived,
                              source=f.source, note=f.note) for f in FIGURES])


def claims_table() -> pd.DataFrame:
    """The seed papers' reported energy claims (reported, not measured here)."""
    return pd.DataFrame([dict(source=c.source, claim=c.claim, value=c.value, unit=c.unit)
                         for c in REPORTED_CLAIMS])
