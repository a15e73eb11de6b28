"""Energy and latency estimates: counted operations times published per-operation energies.

Everything here is an **estimate**. The counts are exact (synaptic operations and spikes from
the bit-exact simulator :func:`lprnn.snn.simulate`, which Lava reproduces spike for spike;
multiply-accumulates of the dense ANN from the layer shapes); the per-operation energies come
from the literature and carry their citations in :data:`FIGURES`. A figure computed here from
published numbers (rather than read off a table) has ``derived=True`` and says how.

Loihi (SNN), per inference of ``n`` ANN steps with ``k`` SNN steps each:

    E_SNN = N_synops · E_synop + N_neurons · n · k · E_neuron_update + N_spikes · E_spike

(every ΣΔ neuron is updated at every SNN step: its four states decay, so it is never idle).
A graded spike (``spike_bits`` > 1 in :func:`lprnn.snn.map_network`) counts as one spike and
one synaptic operation per synapse it reaches, whatever its payload: no published figure
prices the payload, so estimates for graded networks rest on that assumption. The energy
experiments therefore map with :data:`PRICED_MAPPING`: the binary spikes and truncated decays
of the paper and of Loihi 1, whose per-operation energies these are, not the mapper's Loihi 2
defaults (graded spikes, decays rounded to nearest).
Microcontroller / GPU (ANN), with MAC = multiply-accumulate of the dense network:

    MACs per ANN step = Σ_layers (n_in · n_out + n_out² [recurrent]) + n_last · n_classes
    E_ANN = n · MACs per ANN step · E_MAC

Where the seed's ≥ 500× comes from (:func:`reconciliation_table`). Nair & Indiveri (2019)
estimate it for *in-memory* (mixed-signal) neuromorphic chips, in which the weights are not
fetched and a neuron is a continuous-time circuit: energy is spent per synaptic event, not per
neuron and time step. The ratio against the dense Cortex-M4 factors into three assumptions,

    E_M4 / E_SNN = (E_MAC / E_synop) · (N_MAC / N_synop) · (E_synaptic / E_SNN),

the per-operation energies, the activity (synaptic events per dense MAC: with k SNN steps a
ΣΔ neuron sends k·h/a_max spikes per frame, and the held graded input is re-sent k times),
and the synaptic share of the chip's energy (1 on a chip that charges nothing per neuron
update or spike). The table gives each factor for our count, with the neuron and spike terms
removed (the in-memory assumption), and the energy per synaptic event at which the ratio would
reach the seed's figure (:func:`break_even_synaptic_op`). The seed's own per-operation
energies, activity and network are not restated here (we have not verified them), so its 500×
is shown as reported (:data:`REPORTED_CLAIMS`), not recomputed.

Loihi 2: Intel publishes no per-operation energy table for Loihi 2 (its technology brief gives
resources and speed, :data:`lprnn.core.hardware.LOIHI2_SOURCE`); :data:`LOIHI2` therefore
re-uses the Loihi 1 figures and says so in its label.

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

# map_network options of the networks whose energy is estimated (module doc): Loihi 1's
# binary spike and truncating decays, and the paper's readout when the input ends.
PRICED_MAPPING = dict(spike_bits=1, decay_rounding="truncate", readout_latency=0)
# Every energy figure in a table of this module carries this basis: none is a measurement.
ESTIMATE_LABEL = "estimate from counted operations x published per-operation energies"


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
    # the SNN also runs its readout latency (lprnn.core.conventions.extend_input)
    snn_steps = (n_ann_steps + network.readout_latency) * network.steps_per_ann_step
    simulated = getattr(result, "n_snn_steps", snn_steps)
    if simulated != snn_steps:
        raise ValueError(f"result ran {simulated} SNN steps, expected {snn_steps} "
                         f"((n_ann_steps={n_ann_steps} + readout latency "
                         f"{network.readout_latency}) x k={network.steps_per_ann_step})")
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
    table["basis"] = ESTIMATE_LABEL
    return table.drop(columns="energy_J")


def figures_table() -> pd.DataFrame:
    """Every per-operation figure used here, with its source and whether it is derived."""
    return pd.DataFrame([dict(name=f.name, value=f.value, unit=f.unit, derived=f.derived,
                              source=f.source, note=f.note) for f in FIGURES])


def claims_table() -> pd.DataFrame:
    """The seed papers' reported energy claims (reported, not measured here)."""
    return pd.DataFrame([dict(source=c.source, claim=c.claim, value=c.value, unit=c.unit)
                         for c in REPORTED_CLAIMS])


# -- where the energy goes, and the seed's ≥ 500× reconciled ------------------------------------


@dataclass(frozen=True)
class ChipFigures:
    """Per-operation energies (J) of a neuromorphic chip, as one set of assumptions."""

    label: str
    synaptic_op: float
    neuron_update: float
    spike: float
    source: str


LOIHI1 = ChipFigures("Loihi (Davies et al. 2018 per-operation figures)",
                     LOIHI_SYNAPTIC_OP.value, LOIHI_NEURON_UPDATE.value,
                     LOIHI_SPIKE_WITHIN_TILE.value, _DAVIES_2018)
LOIHI2 = ChipFigures("Loihi 2 (no per-operation energies published: Loihi 1 figures used)",
                     LOIHI_SYNAPTIC_OP.value, LOIHI_NEURON_UPDATE.value,
                     LOIHI_SPIKE_WITHIN_TILE.value,
                     _DAVIES_2018 + "; Loihi 2 per-operation energies are not published")
EVENT_DRIVEN = ChipFigures(
    "event-driven chip: Loihi's energy per synaptic op, neurons and spikes free (the seed's "
    "in-memory assumption)", LOIHI_SYNAPTIC_OP.value, 0.0, 0.0,
    _DAVIES_2018 + " (synaptic op only); neuron and spike terms set to 0 by assumption")


def chip_energy(activity: SnnActivity, chip: ChipFigures) -> dict[str, float]:
    """:func:`loihi_energy` with ``chip``'s per-operation figures (J, by term and total)."""
    return loihi_energy(activity, synaptic_op=chip.synaptic_op,
                        neuron_update=chip.neuron_update, spike=chip.spike)


def break_even_synaptic_op(activity: SnnActivity, reference_energy: float, ratio: float, *,
                           neuron_update: float = 0.0, spike: float = 0.0) -> float:
    """Energy per synaptic op (J) at which ``reference_energy / E_SNN`` equals ``ratio``:

        E_synop* = (reference_energy / ratio − N_neurons·n·k · E_neuron − N_spikes · E_spike) / N_synops

    Negative when the neuron and spike terms alone exceed ``reference_energy / ratio`` (no
    synaptic-op energy reaches the ratio).
    """
    _check_count("reference_energy", reference_energy)
    if not ratio > 0:
        raise ValueError(f"ratio={ratio!r}: expected a positive energy ratio")
    if not activity.synaptic_ops > 0:
        raise ValueError("activity has no synaptic operations: no break-even energy exists")
    rest = activity.neuron_updates * neuron_update + activity.spikes * spike
    return (reference_energy / ratio - rest) / activity.synaptic_ops


def reconciliation_table(network: LoihiNetwork, activities: Mapping[str, SnnActivity],
                         n_ann_steps: int, *, target_ratio: float = 500.0,
                         chips: Sequence[ChipFigures] = (LOIHI1, LOIHI2, EVENT_DRIVEN)
                         ) -> pd.DataFrame:
    """The ANN on a Cortex-M4 (dense and skipping zero weights) against the SNN, per input coding
    (``activities``: label → :class:`SnnActivity` of the same network with that input) and per
    set of chip figures, with the energy per synaptic op that would reach ``target_ratio``
    (dense M4) with the row's other terms. Energies in µJ per inference, all estimates.

    The dense ratio factors into three named assumptions, one column each:

        E_M4 / E_SNN = (E_MAC / E_synop) · (N_MAC / N_synop) · (E_synaptic / E_SNN)

    the per-operation energies, the activity (synaptic ops per dense MAC), and the share of
    the SNN's energy that is synaptic (1 when neuron updates and spikes are free)."""
    _check_steps(n_ann_steps)
    macs = n_ann_steps * ann_macs_per_step(network)
    dense = mac_energy(macs, CORTEX_M4_MAC.value)
    sparse = mac_energy(n_ann_steps * ann_macs_per_step(network, skip_zero_weights=True),
                        CORTEX_M4_MAC.value)
    rows = []
    for coding, activity in activities.items():
        for chip in chips:
            terms = chip_energy(activity, chip)
            needed = break_even_synaptic_op(activity, dense, target_ratio,
                                            neuron_update=chip.neuron_update, spike=chip.spike)
            rows.append(dict(
                input_coding=coding, chip=chip.label, synaptic_ops=activity.synaptic_ops,
                neuron_updates=float(activity.neuron_updates), spikes=activity.spikes,
                snn_synaptic_uJ=terms["synaptic"] * 1e6, snn_neuron_uJ=terms["neuron"] * 1e6,
                snn_spike_uJ=terms["spike"] * 1e6, snn_uJ=terms["total"] * 1e6,
                m4_dense_uJ=dense * 1e6, m4_sparse_uJ=sparse * 1e6,
                ratio_m4_dense=dense / terms["total"], ratio_m4_sparse=sparse / terms["total"],
                # ratio_m4_dense = mac_per_synaptic_op_energy × macs_per_synaptic_op × synaptic_share
                mac_per_synaptic_op_energy=CORTEX_M4_MAC.value / chip.synaptic_op,
                macs_per_synaptic_op=macs / activity.synaptic_ops,
                synaptic_share=terms["synaptic"] / terms["total"],
                synaptic_op_pJ_for_target=needed * 1e12 if needed > 0 else float("nan"),
                basis=ESTIMATE_LABEL, source=chip.source))
    return pd.DataFrame(rows)


def layer_energy(network: LoihiNetwork, result, n_ann_steps: int,
                 chip: ChipFigures = LOIHI1) -> pd.DataFrame:
    """Per layer (and the graded input), mean operations and energy per inference (µJ,
    estimate) by term, and which term dominates: a layer is charged its neurons' updates, its
    spikes and the synaptic ops its spikes cause downstream (fan-out of :func:`fan_out`); the
    graded input row holds the synaptic ops of the input sent into the first layer."""
    activity = snn_activity(network, result, n_ann_steps)
    counts = result.spike_counts
    per_layer = list(counts.values()) if isinstance(counts, Mapping) else list(counts)
    rows = []
    for layer, c, fan in zip(network.layers, per_layer, fan_out(network)):
        c = torch.as_tensor(c, dtype=torch.float64)
        spikes = float(c.sum(-1).mean())
        synops = float((c @ torch.as_tensor(fan, dtype=torch.float64)).mean())
        rows.append(dict(source=layer.name, neurons=layer.n_neurons,
                         neuron_updates=float(layer.n_neurons * activity.snn_steps),
                         spikes=spikes, synaptic_ops=synops))
    rows.append(dict(source="graded input", neurons=0, neuron_updates=0.0, spikes=0.0,
                     synaptic_ops=activity.input_synaptic_ops))
    table = pd.DataFrame(rows)
    table["neuron_uJ"] = table["neuron_updates"] * chip.neuron_update * 1e6
    table["synaptic_uJ"] = table["synaptic_ops"] * chip.synaptic_op * 1e6
    table["spike_uJ"] = table["spikes"] * chip.spike * 1e6
    terms = ["neuron_uJ", "synaptic_uJ", "spike_uJ"]
    table["total_uJ"] = table[terms].sum(axis=1)
    table["dominant"] = table[terms].idxmax(axis=1).str.removesuffix("_uJ")
    table["basis"] = ESTIMATE_LABEL
    return table
