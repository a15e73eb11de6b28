"""Notebook 08: energy and latency of the mapped network, estimated from counted operations
(energy rows), the input sent only when it changes, and the accuracy–energy frontier.

:func:`energy` is the notebook's one experiment: :func:`platform_energy` (the mapped network
against the ANN on other processors, and energy over k), then
:func:`lprnn.experiments.energy_frontier.input_coding_and_reconciliation` and
:func:`lprnn.experiments.energy_frontier.energy_frontier`, their tables and rows together."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from lprnn import snn
from lprnn.experiments import energy_frontier
from lprnn.experiments.ann_to_snn import trained_and_mapped
from lprnn.experiments.common import (ExperimentResult, calibration_inputs, check_seeds,
                                      resolve, rows_from_table)
from lprnn.snn import energy as estimates

LOIHI = "SNN on Loihi (ΣΔ neurons)"


def energy(recipe_name: str = "digits", size: str = "default", seeds: Sequence[int] = (0,),
           steps_per_ann_step: int | None = None, energy_samples: int | None = None,
           sweep_steps: Sequence[int] = (4, 8, 16),
           frontier_recipes: Sequence[str] | None = None, hop_length: int = 256,
           sample_rate: int = 48_000) -> ExperimentResult:
    """Notebook 08: every table and row of :func:`platform_energy`,
    :func:`~lprnn.experiments.energy_frontier.input_coding_and_reconciliation` (the recipe's
    mapped network with the graded and the ΣΔ-encoded input) and
    :func:`~lprnn.experiments.energy_frontier.energy_frontier` (on ``frontier_recipes``; None:
    :func:`~lprnn.experiments.energy_frontier.frontier_recipes` of ``recipe_name``)."""
    parts = [platform_energy(recipe_name, size, seeds, steps_per_ann_step, energy_samples,
                             sweep_steps, hop_length, sample_rate),
             energy_frontier.input_coding_and_reconciliation(recipe_name, size, seeds,
                                                             steps_per_ann_step, energy_samples),
             energy_frontier.energy_frontier(frontier_recipes, size, seeds,
                                             recipe_name=recipe_name)]
    tables = {name: table for part in parts for name, table in part.tables.items()}
    if len(tables) != sum(len(part.tables) for part in parts):
        raise RuntimeError("notebook 08's experiments name a table alike")
    return ExperimentResult(tables, [row for part in parts for row in part.rows])


def platform_energy(recipe_name: str = "digits", size: str = "default",
                    seeds: Sequence[int] = (0,), steps_per_ann_step: int | None = None,
                    energy_samples: int | None = None, sweep_steps: Sequence[int] = (4, 8, 16),
                    hop_length: int = 256, sample_rate: int = 48_000) -> ExperimentResult:
    """Energy per inference of the mapped 3-bit lpRNN on Loihi against the ANN elsewhere,
    latency per ANN step, and energy and accuracy over k, per seed (one ANN step is one frame
    hop of ``hop_length`` samples at ``sample_rate``).

    Tables: ``platforms`` (first seed, :func:`lprnn.snn.energy.energy_table`), ``terms``
    (Loihi energy by term), ``summary`` (per seed), ``sweep`` (per seed and k), ``figures`` and
    ``claims`` (published per-operation figures and the seed papers' claims).
    """
    seeds = check_seeds(seeds)
    b = resolve(size, steps_per_ann_step=steps_per_ann_step, energy_samples=energy_samples)
    k, frame_seconds = b.steps_per_ann_step, hop_length / sample_rate
    summary, sweep, tables = [], [], {}
    for seed in seeds:
        recipe, model, network, test = trained_and_mapped(
            recipe_name, size, seed, k, **estimates.PRICED_MAPPING)
        x, y = test.features[:b.energy_samples], test.labels[:b.energy_samples]
        for steps in sorted(set(sweep_steps) | {k}):
            mapped = network if steps == k else snn.map_network(
                model, steps, calibration=calibration_inputs(recipe, size),
                **estimates.PRICED_MAPPING)
            result = snn.simulate(mapped, x)
            activity = estimates.snn_activity(mapped, result, test.n_steps)
            accuracy = (result.predictions == y).double().mean().item()
            sweep.append(dict(k=steps, seed=seed, accuracy=accuracy,
                              energy_uJ=estimates.loihi_energy(activity)["total"] * 1e6,
                              synaptic_ops=activity.synaptic_ops))
            if steps != k:
                continue
            table = estimates.energy_table(mapped, activity, test.n_steps, frame_seconds)
            platform = table.set_index("platform")
            summary.append(dict(
                model=LOIHI, seed=seed,
                ratio_cortex_m4_dense_to_loihi=platform.loc["ANN on ARM Cortex-M4 (dense)", "ratio_to_loihi"],
                ratio_cortex_m4_sparse_to_loihi=platform.loc[
                    "ANN on ARM Cortex-M4 (zero weights skipped)", "ratio_to_loihi"],
                synaptic_ops_per_inference=activity.synaptic_ops,
                spike_synaptic_ops_per_inference=activity.spike_synaptic_ops,
                spikes_per_inference=activity.spikes, neuron_updates=activity.neuron_updates,
                dense_macs_per_inference=estimates.ann_macs_per_step(mapped) * test.n_steps,
                latency_ms_per_ann_step_real_time=1e3 * estimates.latency_per_ann_step(k, frame_seconds / k),
                latency_ms_per_ann_step_authors_step=1e3 * estimates.latency_per_ann_step(
                    k, estimates.AUTHORS_SNN_STEP.value),
                snn_accuracy_subset=accuracy))
            per_platform = table.assign(seed=seed)
            tables.setdefault("platforms", per_platform)
            tables.setdefault("terms", pd.Series({name: value * 1e6 for name, value in
                                                  estimates.loihi_energy(activity).items()},
                                                 name="energy_uJ").to_frame())
            tables["per_seed_platforms"] = pd.concat(
                [tables.get("per_seed_platforms", pd.DataFrame()), per_platform])
    tables.update(summary=pd.DataFrame(summary), sweep=pd.DataFrame(sweep),
                  figures=estimates.figures_table(), claims=estimates.claims_table())
    rows = rows_from_table("energy", recipe.name, tables.pop("per_seed_platforms"), "platform",
                           {"energy_uJ": False, "power_uW_real_time": False},
                           seeds=seeds, size=size)
    rows += rows_from_table("energy", recipe.name, tables["summary"], "model",
                            {"ratio_cortex_m4_dense_to_loihi": False,
                             "ratio_cortex_m4_sparse_to_loihi": False,
                             "synaptic_ops_per_inference": False, "spikes_per_inference": False,
                             "snn_accuracy_subset": True},
                            seeds=seeds, size=size,
                            n_clips={"snn_accuracy_subset": len(y)})
    return ExperimentResult(tables, rows)
