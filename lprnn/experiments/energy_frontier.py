"""The accuracy–energy frontier of the mapped SNN: what fewer steps, a coarser code and fewer
spikes cost in accuracy.

Every point is one mapped network of one trained model, run through the bit-exact simulator
(:func:`lprnn.snn.simulate`) on the same test clips; its energy per inference is an **estimate**
from the counted operations times Loihi's published per-operation energies
(:mod:`lprnn.snn.energy`), set against the dense ANN on an ARM Cortex-M4. The knobs:

- ``k``, SNN steps per ANN step: the spikes per frame of a ΣΔ neuron are ``k · h / a_max`` and
  every neuron is updated k times per frame, so energy grows about linearly with k, while the
  code gets coarser as k shrinks;
- the comparator threshold of the mapper (``"half_step"`` or the paper's ``"zero"``);
- the input coding: the held graded input re-sent every SNN step, or ΣΔ-encoded spikes
  (:func:`lprnn.snn.input_coding.sigma_delta_input`, with the encoder's reconstruction time
  constant ``encoder_time_constant`` in ANN steps, which sets its quantization step);
- the weight bits: the trained 3-bit model's latent weights re-quantized to ``weight_bits``
  fractional bits after training (no retraining; the ANN is re-evaluated at those bits and the
  agreement is against it).

A point is on the Pareto front when no other point has lower or equal energy and higher or
equal SNN accuracy, one of them strictly.

Two experiments, parts of notebook 08's (:func:`lprnn.experiments.energy`):
:func:`energy_frontier` (the frontier per recipe of :func:`frontier_recipes`, and whether a
point reaches 50× the dense Cortex-M4 within one point of the ANN's accuracy) and
:func:`input_coding_and_reconciliation` (the graded against the ΣΔ-encoded input at the
notebook's k, and the seed's ≥ 500× reconciled, :func:`lprnn.snn.energy.reconciliation_table`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from lprnn.ann.model import LpRNNClassifier
from lprnn.ann.train import load_or_train
from lprnn.datasets import fsdd
from lprnn.experiments.ann_to_snn import trained_and_mapped
from lprnn.experiments.common import (ExperimentResult, calibration_inputs, check_seeds,
                                      recipe_for, resolve, rows_from_table, splits, summary_row)
from lprnn.snn import energy, map_network, simulate
from lprnn.snn.input_coding import sigma_delta_input

INPUT_CODINGS = ("graded", "sigma_delta")
EXPERIMENT = "energy_frontier"


@dataclass(frozen=True)
class FrontierPoint:
    """One setting of the knobs (module docstring)."""

    steps_per_ann_step: int
    input_coding: str = "graded"
    threshold: str = "half_step"
    weight_bits: int = 3
    encoder_time_constant: float = 2.0   # ANN steps; used by input_coding="sigma_delta" only

    def __post_init__(self) -> None:
        if self.input_coding not in INPUT_CODINGS:
            raise ValueError(f"input_coding={self.input_coding!r}: expected one of "
                             f"{list(INPUT_CODINGS)}")
        if isinstance(self.weight_bits, bool) or not isinstance(self.weight_bits, int) \
                or self.weight_bits < 1:
            raise ValueError(f"weight_bits={self.weight_bits!r}: expected a positive integer "
                             "number of fractional bits")

    @property
    def label(self) -> str:
        coding = ("graded" if self.input_coding == "graded"
                  else f"ΣΔ τ={self.encoder_time_constant:g}")
        return f"k={self.steps_per_ann_step}, {coding}, θ={self.threshold}, {self.weight_bits}-bit"


def default_points(steps: Sequence[int] = (1, 2, 3, 4, 6, 8, 10)) -> list[FrontierPoint]:
    """k × input coding at the mapper's defaults, plus one-knob variations: the paper's
    threshold (k = 2, 4, 10), 2 weight bits (k = 2, 10) and two other encoder time constants
    (0.5 and 1 ANN steps; k = 2, 4). No point above 3 bits: the deployed 3-bit weights are
    already exact on a finer grid, and the latent weights re-quantized to 4 bits are not a
    trained 4-bit model (on 64 digits test clips the ANN fell from 72 % to 41 %)."""
    points = [FrontierPoint(k, coding) for k in steps for coding in INPUT_CODINGS]
    points += [FrontierPoint(k, "graded", threshold="zero") for k in (2, 4, 10)]
    points += [FrontierPoint(k, coding, weight_bits=2) for k in (2, 10) for coding in INPUT_CODINGS]
    points += [FrontierPoint(k, "sigma_delta", encoder_time_constant=tau)
               for k in (2, 4) for tau in (0.5, 1.0)]
    return list(dict.fromkeys(points))


def requantized(model: LpRNNClassifier, weight_bits: int) -> LpRNNClassifier:
    """The same latent weights with ``weight_bits`` fractional bits (post-training); ``model``
    itself when its format already has them."""
    if model.config.weight_frac_bits == weight_bits:
        return model
    variant = LpRNNClassifier(replace(model.config, weight_frac_bits=weight_bits))
    variant.load_state_dict(model.state_dict(), strict=True)
    return variant.eval()


def pareto_front(energy_per_inference: Sequence[float], accuracy: Sequence[float]) -> np.ndarray:
    """True for each point that no other point dominates (energy ≤ and accuracy ≥, one strict)."""
    e = np.asarray(energy_per_inference, dtype=np.float64)
    a = np.asarray(accuracy, dtype=np.float64)
    if e.shape != a.shape or e.ndim != 1:
        raise ValueError(f"energy {e.shape} and accuracy {a.shape}: expected two equal 1-D arrays")
    dominated = ((e[None, :] <= e[:, None]) & (a[None, :] >= a[:, None])
                 & ((e[None, :] < e[:, None]) | (a[None, :] > a[:, None])))
    return ~dominated.any(axis=1)


@torch.no_grad()
def _ann_predictions(model: LpRNNClassifier, x: torch.Tensor) -> torch.Tensor:
    return torch.cat([model(x[i:i + 256]).argmax(dim=1) for i in range(0, x.shape[0], 256)])


def measure_point(model: LpRNNClassifier, point: FrontierPoint, x: torch.Tensor,
                  labels: torch.Tensor, calibration: torch.Tensor, *,
                  chip: energy.ChipFigures = energy.LOIHI1) -> dict[str, Any]:
    """Map, encode and simulate one point; accuracies, agreement, counts and the energy
    estimate per inference (µJ) by term, against the Cortex-M4 (dense and zero-skipping)."""
    variant = requantized(model, point.weight_bits)
    ann = _ann_predictions(variant, x)
    network = map_network(variant, steps_per_ann_step=point.steps_per_ann_step,
                          calibration=calibration, threshold=point.threshold,
                          **energy.PRICED_MAPPING)
    if point.input_coding == "sigma_delta":
        network = sigma_delta_input(network, input_bound=float(calibration.abs().max()),
                                    feedback_time_constant=point.encoder_time_constant)
    result = simulate(network, x)
    n_steps = int(x.shape[1])
    activity = energy.snn_activity(network, result, n_steps)
    terms = energy.chip_energy(activity, chip)
    dense = energy.mac_energy(n_steps * energy.ann_macs_per_step(network), energy.CORTEX_M4_MAC.value)
    sparse = energy.mac_energy(n_steps * energy.ann_macs_per_step(network, skip_zero_weights=True),
                               energy.CORTEX_M4_MAC.value)
    uj = {f"{name}_uJ": value * 1e6 for name, value in terms.items()}
    dominant = max(("synaptic", "neuron", "spike"), key=terms.__getitem__)
    coding = network.metadata.get("input_coding", {})
    return dict(
        asdict(point), label=point.label,
        ann_accuracy=float((ann == labels).double().mean()),
        snn_accuracy=float((result.predictions == labels).double().mean()),
        agreement=float((ann == result.predictions).double().mean()),
        snn_correct=int((result.predictions == labels).sum()), n_clips=int(labels.shape[0]),
        synaptic_ops=activity.synaptic_ops, input_synaptic_ops=activity.input_synaptic_ops,
        spikes=activity.spikes, neuron_updates=float(activity.neuron_updates),
        energy_uJ=uj.pop("total_uJ"), synaptic_uJ=uj["synaptic_uJ"], neuron_uJ=uj["neuron_uJ"],
        spike_uJ=uj["spike_uJ"], dominant=dominant,
        neuron_fraction=terms["neuron"] / terms["total"],
        m4_dense_uJ=dense * 1e6, m4_sparse_uJ=sparse * 1e6,
        ratio_m4_dense=dense / terms["total"], ratio_m4_sparse=sparse / terms["total"],
        # the best ratio any synaptic-op count could give: neuron updates alone
        ratio_m4_dense_neuron_ceiling=dense / terms["neuron"],
        input_quantization_step=coding.get("quantization_step", float("nan")),
        basis=energy.ESTIMATE_LABEL, chip=chip.label)


def frontier(model: LpRNNClassifier, x: torch.Tensor, labels: torch.Tensor,
             calibration: torch.Tensor, points: Sequence[FrontierPoint] | None = None, *,
             progress: bool = False) -> pd.DataFrame:
    """One row per point (:func:`measure_point`), with the reference ANN's accuracy (the model
    as trained), the drop from it, the chance level (one over the classes) and the Pareto flag
    over (energy, SNN accuracy)."""
    if labels.shape != x.shape[:1]:
        raise ValueError(f"labels have shape {tuple(labels.shape)}: expected [{x.shape[0]}]")
    points = default_points() if points is None else list(points)
    if not points:
        raise ValueError("points is empty: expected at least one FrontierPoint")
    rows = []
    for i, point in enumerate(points):
        if progress:
            print(f"[{i + 1}/{len(points)}] {point.label}", flush=True)
        rows.append(measure_point(model, point, x, labels, calibration))
    table = pd.DataFrame(rows)
    reference = float((_ann_predictions(model.eval(), x) == labels).double().mean())
    table["reference_ann_accuracy"] = reference
    table["accuracy_drop"] = reference - table["snn_accuracy"]
    table["chance"] = 1.0 / model.config.n_classes
    table["pareto"] = pareto_front(table["energy_uJ"], table["snn_accuracy"])
    return table


def target_point(table: pd.DataFrame, *, min_ratio: float = 50.0,
                 max_accuracy_drop: float = 0.01) -> dict[str, Any]:
    """Whether a point reaches ``min_ratio`` × the dense Cortex-M4 within ``max_accuracy_drop``
    of the reference ANN's accuracy; with the measured quantities that decide it: the best
    ratio among points within the accuracy margin, the best accuracy among points at the
    ratio, and the largest neuron-update ceiling on the ratio (over all points)."""
    accurate = table[table["accuracy_drop"] <= max_accuracy_drop + 1e-12]
    efficient = table[table["ratio_m4_dense"] >= min_ratio]
    both = accurate[accurate["ratio_m4_dense"] >= min_ratio]
    return dict(
        found=not both.empty,
        points=both["label"].tolist(),
        best_ratio_within_margin=float(accurate["ratio_m4_dense"].max()) if not accurate.empty else float("nan"),
        best_accuracy_at_ratio=float(efficient["snn_accuracy"].max()) if not efficient.empty else float("nan"),
        reference_ann_accuracy=float(table["reference_ann_accuracy"].iloc[0]),
        largest_neuron_ceiling=float(table["ratio_m4_dense_neuron_ceiling"].max()),
        min_ratio=min_ratio, max_accuracy_drop=max_accuracy_drop)


QUICK_POINTS = (FrontierPoint(2), FrontierPoint(2, "sigma_delta"))
QUICK_SAMPLES = 4
FRONTIER_SPEECH_RECIPE = "fsdd_speakers"
NEAR_CHANCE = 2.0   # a front point below this many times the chance level is labelled so


def frontier_recipes(recipe_name: str = "digits") -> list[str]:
    """The recipes notebook 08 draws the frontier on: its own recipe; for the built-in digits
    (its default) the speaker-held-out real speech first, when the Free Spoken Digit Dataset is
    at hand (:func:`lprnn.datasets.fsdd.available`). Each recipe's frontier depends on that
    recipe alone, so ``recipe_name="fsdd_speakers"`` regenerates the speech rows of a digits
    run without the digits model (at the paper size: without training it)."""
    if recipe_name != "digits":
        return [recipe_name]
    return [FRONTIER_SPEECH_RECIPE, "digits"] if fsdd.available() else ["digits"]


def energy_frontier(recipe_names: Sequence[str] | None = None, size: str = "default",
                    seeds: Sequence[int] = (0,), frontier_samples: int | None = None,
                    points: Sequence[FrontierPoint] | None = None, min_ratio: float = 50.0,
                    max_accuracy_drop: float = 0.01,
                    recipe_name: str = "digits") -> ExperimentResult:
    """The frontier per recipe of ``recipe_names`` (None: :func:`frontier_recipes` of the
    notebook's ``recipe_name``), on its trained model per seed mapped with the common
    calibration set, on its first ``frontier_samples`` test clips (the whole test set unless
    given; 4 clips and two points at the quick size), and the search for a point at ``min_ratio`` × the dense Cortex-M4 within
    ``max_accuracy_drop`` of the ANN.

    Tables: ``frontier`` (every point, recipe and seed; :func:`frontier`) and ``target`` (per
    recipe and seed, :func:`target_point`). Rows: the points on the Pareto front of each
    recipe and seed: SNN accuracy (Wilson interval over the clips), agreement, the energy
    estimate and its ratios to the Cortex-M4.
    """
    seeds = check_seeds(seeds)
    recipe_names = frontier_recipes(recipe_name) if recipe_names is None else list(recipe_names)
    if size == "quick":
        points = QUICK_POINTS if points is None else points
        frontier_samples = QUICK_SAMPLES if frontier_samples is None else frontier_samples
    tables, targets, rows = [], [], []
    for name in recipe_names:
        for seed in seeds:
            recipe = recipe_for(name, size, seed)
            model, _ = load_or_train(recipe)
            test = splits(recipe, ["test"])["test"]
            x, labels = test.features[:frontier_samples], test.labels[:frontier_samples]
            table = frontier(model.eval(), x, labels, calibration_inputs(recipe, size), points)
            table.insert(0, "seed", seed)
            table.insert(0, "recipe", name)
            tables.append(table)
            targets.append(dict(recipe=name, seed=seed, **target_point(
                table, min_ratio=min_ratio, max_accuracy_drop=max_accuracy_drop)))
            rows += _front_rows(table, name, seed, size)
    return ExperimentResult(dict(frontier=pd.concat(tables, ignore_index=True),
                                 target=pd.DataFrame(targets)), rows)


def _front_rows(table: pd.DataFrame, recipe_name: str, seed: int, size: str) -> list[dict[str, Any]]:
    """Result rows for the Pareto points of one recipe and seed; a point whose SNN accuracy is
    below :data:`NEAR_CHANCE` times the chance level says so in its model label (the cheapest
    point is on the front whatever its accuracy)."""
    rows = []
    for point in table[table["pareto"]].itertuples():
        common = dict(seeds=[seed], size=size, n_clips=int(point.n_clips))
        model = f"lpRNN → SNN | {point.label}"
        if point.snn_accuracy < NEAR_CHANCE * point.chance:
            model += f" (near chance: chance level {point.chance:.3g})"
        for metric, proportion in (("snn_accuracy", True), ("agreement", True),
                                   ("energy_uJ", False), ("ratio_m4_dense", False),
                                   ("ratio_m4_sparse", False), ("neuron_fraction", False)):
            name = f"{metric}_estimate" if metric.startswith(("energy", "ratio")) else metric
            rows.append(summary_row(EXPERIMENT, recipe_name, model, name,
                                    [float(getattr(point, metric))], proportion=proportion,
                                    **common))
    return rows


def input_coding_and_reconciliation(recipe_name: str = "digits", size: str = "default",
                                    seeds: Sequence[int] = (0,),
                                    steps_per_ann_step: int | None = None,
                                    energy_samples: int | None = None,
                                    encoder_time_constants: Sequence[float] = (2.0,),
                                    target_ratio: float = 500.0) -> ExperimentResult:
    """The mapped network (as notebook 08's energy table) with the graded input and with the
    input ΣΔ-encoded (one network per encoder τ_fb), on the first ``energy_samples`` test
    clips, and the seed's ``target_ratio`` reconciled (:func:`lprnn.snn.energy.reconciliation_table`).

    Tables: ``input_coding`` (per seed and coding: accuracy, agreement with the ANN, counts,
    energy estimate, ratios to the Cortex-M4), ``reconciliation`` and ``layers``
    (:func:`lprnn.snn.energy.layer_energy`, per coding) for the first seed. Rows: per coding,
    SNN accuracy, agreement, energy estimate and the ratios; per coding and chip assumption,
    the dense ratio and the energy per synaptic op that would reach ``target_ratio``.
    """
    seeds = check_seeds(seeds)
    b = resolve(size, steps_per_ann_step=steps_per_ann_step, energy_samples=energy_samples)
    codings, tables = [], {}
    for seed in seeds:
        recipe, model, network, test = trained_and_mapped(recipe_name, size, seed,
                                                          b.steps_per_ann_step,
                                                          **energy.PRICED_MAPPING)
        x, labels = test.features[:b.energy_samples], test.labels[:b.energy_samples]
        ann = _ann_predictions(model.eval(), x)
        bound = float(calibration_inputs(recipe, size).abs().max())
        networks = {"graded input": network}
        for tau in encoder_time_constants:
            networks[f"ΣΔ-encoded input (τ_fb = {tau:g} ANN steps)"] = sigma_delta_input(
                network, input_bound=bound, feedback_time_constant=tau)
        activities, layers = {}, []
        for coding, mapped in networks.items():
            result = simulate(mapped, x)
            activity = energy.snn_activity(mapped, result, int(x.shape[1]))
            activities[coding] = activity
            layers.append(energy.layer_energy(mapped, result, int(x.shape[1])).assign(
                input_coding=coding))
            codings.append(dict(
                input_coding=coding, seed=seed, n_clips=int(labels.shape[0]),
                snn_accuracy=float((result.predictions == labels).double().mean()),
                ann_accuracy=float((ann == labels).double().mean()),
                agreement=float((result.predictions == ann).double().mean()),
                synaptic_ops=activity.synaptic_ops, input_synaptic_ops=activity.input_synaptic_ops,
                spikes=activity.spikes, neuron_updates=float(activity.neuron_updates),
                energy_uJ=energy.loihi_energy(activity)["total"] * 1e6,
                input_quantization_step=mapped.metadata.get("input_coding", {}).get(
                    "quantization_step", float("nan")),
                basis=energy.ESTIMATE_LABEL))
        if "reconciliation" not in tables:
            tables["reconciliation"] = energy.reconciliation_table(
                network, activities, int(x.shape[1]), target_ratio=target_ratio)
            tables["layers"] = pd.concat(layers, ignore_index=True)
    table = pd.DataFrame(codings)
    reconciliation = tables["reconciliation"]
    ratios = reconciliation[reconciliation["chip"] == energy.LOIHI1.label].set_index("input_coding")
    table["ratio_m4_dense_estimate"] = table["input_coding"].map(ratios["m4_dense_uJ"]) / table["energy_uJ"]
    table["ratio_m4_sparse_estimate"] = table["input_coding"].map(ratios["m4_sparse_uJ"]) / table["energy_uJ"]
    tables["input_coding"] = table
    rows = rows_from_table("energy_input_coding", recipe_name, table, "input_coding",
                           {"snn_accuracy": True, "agreement": True, "energy_uJ": False,
                            "ratio_m4_dense_estimate": False, "ratio_m4_sparse_estimate": False,
                            "input_synaptic_ops": False},
                           seeds=seeds, size=size,
                           n_clips={"snn_accuracy": len(labels), "agreement": len(labels)})
    reconciled = reconciliation.assign(
        model=reconciliation["input_coding"] + " | " + reconciliation["chip"]).rename(columns=dict(
            ratio_m4_dense="ratio_m4_dense_estimate", ratio_m4_sparse="ratio_m4_sparse_estimate",
            synaptic_op_pJ_for_target=f"synaptic_op_pJ_for_{target_ratio:g}x_estimate"))
    rows += rows_from_table("energy_reconciliation", recipe_name, reconciled, "model",
                            {"ratio_m4_dense_estimate": False, "ratio_m4_sparse_estimate": False,
                             f"synaptic_op_pJ_for_{target_ratio:g}x_estimate": False},
                            seeds=seeds[:1], size=size)
    return ExperimentResult(tables, rows)


def plot_frontier(table: pd.DataFrame, *, min_ratio: float = 50.0):
    """Accuracy against the energy estimate per inference, one panel per recipe (its first
    seed; ``table`` as :func:`energy_frontier`'s ``frontier``); the Pareto front joined,
    markers by input coding, colour by k, and the energy at ``min_ratio`` × the dense M4."""
    names = list(dict.fromkeys(table["recipe"]))
    fig, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 4.2), squeeze=False)
    for ax, name in zip(axes[0], names):
        part = table[table["recipe"] == name]
        part = part[part["seed"] == part["seed"].iloc[0]]
        for coding, marker in (("graded", "o"), ("sigma_delta", "s")):
            points = part[part["input_coding"] == coding]
            ax.scatter(points["energy_uJ"], points["snn_accuracy"], marker=marker, alpha=0.7,
                       c=np.log2(points["steps_per_ann_step"]), cmap="viridis", vmin=0,
                       vmax=np.log2(table["steps_per_ann_step"].max()),
                       label="graded input" if coding == "graded" else "ΣΔ-encoded input")
        front = part[part["pareto"]].sort_values("energy_uJ")
        ax.plot(front["energy_uJ"], front["snn_accuracy"], "k-", lw=1, label="Pareto front")
        ax.axhline(part["reference_ann_accuracy"].iloc[0], color="C3", ls="--", lw=1,
                   label="ANN (3-bit)")
        ax.axvline(part["m4_dense_uJ"].iloc[0] / min_ratio, color="C1", ls=":", lw=1,
                   label=f"{min_ratio:g}x below the dense Cortex-M4")
        ax.set_xscale("log")
        ax.set_xlabel("energy per inference on Loihi (µJ, estimate from counted operations)")
        ax.set_ylabel(f"SNN accuracy ({int(part['n_clips'].iloc[0])} test clips)")
        ax.set_title(f"{name} (colour: log2 k)")
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig
