"""Notebook 03: the trained k-bit lpRNN mapped onto adaptive ΣΔ neurons and simulated (ANN → SNN
rows, the accuracy of the mapping at several k with the paper's lpRNN and with the SNN's timing,
the mapping sweep, the authors' checkpoint)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from lprnn import config, snn
from lprnn.ann import train
from lprnn.datasets import load_dataset
from lprnn.experiments.common import (ExperimentResult, calibration_inputs, check_seeds,
                                      recipe_for, resolve, rows_from_table, spike_label, splits,
                                      summary_row)
from lprnn.experiments import mapping_accuracy
from lprnn.snn import mapper, resources

# Mapping variants of the sweep beside the k sweep: label → map_network options.
VARIANTS: dict[str, dict[str, Any]] = {
    "θ = 0 (paper)": dict(threshold="zero"),
    "spike-count readout": dict(readout="spike_counts"),
    "no recurrent delay": dict(recurrent_delay=0),
    "truncated decays (Loihi 1)": dict(decay_rounding="truncate"),
    "no readout latency": dict(readout_latency=0),
    "paper's neuron": dict(threshold="zero", activation_clamp="state", readout="spike_counts",
                           recurrent_delay=0, spike_bits=1, decay_rounding="truncate",
                           readout_latency=0),
}
PROPORTIONS = {"ann_accuracy": True, "snn_accuracy": True, "agreement": True,
               "spikes_per_sample": False, "synaptic_ops_per_sample": False}
# Metrics of lprnn.experiments.mapping_accuracy.summary_rows that are proportions of clips.
ACCURACY_PROPORTIONS = ("ann_accuracy", "snn_accuracy", "agreement",
                        "agreement_below_median_margin", "agreement_above_median_margin")
OUT_OF_DOMAIN = "out of domain: trained on Heidelberg Digits"


def trained_and_mapped(recipe_name: str, size: str, seed: int, steps_per_ann_step: int,
                       **options: Any):
    """(recipe, trained model, its mapped network, test split) for one seed."""
    recipe = recipe_for(recipe_name, size, seed)
    model, _ = train.load_or_train(recipe)
    network = snn.map_network(model, steps_per_ann_step,
                              calibration=calibration_inputs(recipe, size), **options)
    return recipe, model, network, splits(recipe, ["test"])["test"]


def _traces(model, network, x: torch.Tensor, units: int = 3) -> tuple[dict[str, float], pd.DataFrame]:
    """Per layer the ANN-vs-decoded-SNN correlation, and the traces of clip 0's most active
    ``units`` units (long table: layer, unit, step, ann, snn)."""
    traced = snn.simulate(network, x, record=True)
    correlation = snn.decoded_correlation(model, x, traced)
    with torch.no_grad():
        ann = model.trace(x)
    lines = []
    for name in correlation:
        a, s = ann[name][0], traced.decoded[name][0]
        for unit in a.mean(0).argsort(descending=True)[:units].tolist():
            lines += [dict(layer=name, unit=unit, step=t, ann=float(a[t, unit]),
                           snn=float(s[t, unit])) for t in range(a.shape[0])]
    return correlation, pd.DataFrame(lines)


def accuracy_rows(experiment: str, frame: pd.DataFrame, *, seeds: Sequence[int],
                  size: str) -> list[dict[str, Any]]:
    """Result rows of :func:`lprnn.experiments.mapping_accuracy.run` frames stacked over seeds
    (column ``seed``): per model and metric, the mean over seeds with its spread and interval
    (one seed: the Wilson interval of a proportion over its own clips)."""
    rows = []
    for (dataset, model, metric), group in frame.groupby(["dataset", "model", "metric"],
                                                         sort=False):
        rows.append(summary_row(experiment, dataset, model, metric, group["value"].tolist(),
                                seeds=seeds, size=size, n_clips=int(group["n_clips"].iloc[0]),
                                proportion=metric in ACCURACY_PROPORTIONS))
    return rows


def ann_to_snn(recipe_name: str = "digits", size: str = "default",
               seeds: Sequence[int] | None = None,
               steps_per_ann_step: int | None = None, sweep_steps: Sequence[int] = (2, 4, 8, 16),
               accuracy_steps: Sequence[int] = (5, 10, 20),
               accuracy_spike_bits: Sequence[int] = (1, 3),
               test_samples: int | None = None, sweep_samples: int | None = None,
               trace_samples: int | None = None,
               authors_samples: int | None = None) -> ExperimentResult:
    """The 3-bit lpRNN of a recipe against its ΣΔ mapping, per seed (None: three on the
    real-speech recipes, :func:`lprnn.experiments.common.seeds_for`; other None: the run
    size's budget, :data:`lprnn.experiments.common.BUDGETS`).

    Tables: ``mapping`` (report of the first seed's network), ``comparison`` (per seed: ANN and
    SNN accuracy, agreement, spikes, synaptic operations and the mean decoded correlation on
    the test clips), ``accuracy`` (per seed and k in ``accuracy_steps``: the paper's lpRNN and
    the same weights run with the SNN's timing against the SNN, agreement with its interval,
    by margin, and at k the cause of every disagreement; with binary spikes and with the
    graded spikes of ``accuracy_spike_bits``; :mod:`lprnn.experiments.mapping_accuracy`),
    ``lags`` (first seed: per layer, the decoded SNN's lag behind the ANN), ``traces``
    (first seed, clip 0), ``sweep`` (per seed and mapping: k sweep and :data:`VARIANTS`) and
    ``authors`` (the authors' checkpoint, when available; on the real-speech recipes also its
    agreement on FSDD's official test split with the authors' front end, out of domain).
    """
    seeds = check_seeds(seeds, recipe_name, size)
    b = resolve(size, steps_per_ann_step=steps_per_ann_step, test_samples=test_samples,
                sweep_samples=sweep_samples, trace_samples=trace_samples,
                authors_samples=authors_samples)
    k = b.steps_per_ann_step
    quick = size == "quick"
    accuracy_steps = (k,) if quick else tuple(accuracy_steps)
    comparison, sweep, accuracy, tables = [], [], [], {}
    for seed in seeds:
        recipe, model, network, test = trained_and_mapped(recipe_name, size, seed, k)
        correlation, traces = _traces(model, network, test.features[:b.trace_samples])
        if "mapping" not in tables:
            tables.update(mapping=mapper.mapping_report(network), traces=traces)
        x, y = test.features[:b.test_samples], test.labels[:b.test_samples]
        accuracy.append(mapping_accuracy.run(model, x, y, dataset=recipe.name,
                                             steps=accuracy_steps,
                                             spike_bits=accuracy_spike_bits,
                                             with_rate_model=not quick,
                                             rate_model_steps=_attributed(k, accuracy_steps)
                                             ).assign(seed=seed))
        if "lags" not in tables:
            tables["lags"] = mapping_accuracy.lag_table(
                model, network, test.features[:b.trace_samples]).reset_index()
        result = snn.compare_with_ann(model, network, x, y, progress=True).as_dict()
        comparison.append(dict(model=f"lpRNN 3-bit {size}, k={k}{spike_label(network.spike_bits)}",
                               seed=seed, **result,
                               mean_decoded_correlation=float(np.mean(list(correlation.values())))))
        variants = {f"k = {s}": (s, {}) for s in sweep_steps}
        variants.update({f"k = {k}, {label}": (k, options) for label, options in VARIANTS.items()})
        calibration = calibration_inputs(recipe, size)
        xs, ys = test.features[:b.sweep_samples], test.labels[:b.sweep_samples]
        for label, (steps, options) in variants.items():
            mapped = snn.map_network(model, steps, calibration=calibration, **options)
            sweep.append(dict(model=f"lpRNN 3-bit {size}, {label}{spike_label(mapped.spike_bits)}",
                              setting=label, k=steps,
                              seed=seed, **snn.compare_with_ann(model, mapped, xs, ys).as_dict()))
    tables.update(comparison=pd.DataFrame(comparison), sweep=pd.DataFrame(sweep),
                  accuracy=pd.concat(accuracy, ignore_index=True))
    n_test = len(x)
    rows = rows_from_table("ann_to_snn", recipe.name, tables["comparison"], "model",
                           {**PROPORTIONS, "mean_decoded_correlation": False}, seeds=seeds,
                           size=size, n_clips={m: n_test for m in PROPORTIONS})
    rows += rows_from_table("ann_to_snn_sweep", recipe.name, tables["sweep"], "model",
                            {m: PROPORTIONS[m] for m in ("agreement", "snn_accuracy",
                                                         "synaptic_ops_per_sample")},
                            seeds=seeds, size=size, n_clips={m: len(xs) for m in PROPORTIONS})
    rows += accuracy_rows("mapping_accuracy", tables["accuracy"], seeds=seeds, size=size)
    authors = authors_checkpoint(recipe, size, k, b.authors_samples)
    if authors is not None:
        tables["authors"] = authors
        rows += rows_from_table("ann_to_snn_authors_checkpoint", recipe.name, authors, "model",
                                PROPORTIONS, seeds=(0,), size=size,
                                n_clips={m: b.authors_samples for m in PROPORTIONS})
        if recipe.name == "fsdd":   # once: fsdd_speakers shares the data, not the split
            on_fsdd = authors_on_fsdd(size, steps=accuracy_steps,
                                      spike_bits=accuracy_spike_bits,
                                      rate_model_steps=_attributed(k, accuracy_steps))
            tables["authors_fsdd"] = on_fsdd
            rows += accuracy_rows("mapping_accuracy_authors_checkpoint", on_fsdd, seeds=(0,),
                                  size=size)
    return ExperimentResult(tables, rows)


def _attributed(k: int, steps: Sequence[int]) -> tuple[int, ...]:
    """The k of ``steps`` at which the rate model attributes disagreements: the headline k."""
    return (k,) if k in steps else ()


def authors_on_fsdd(size: str, steps: Sequence[int] = (5, 10, 20),
                    spike_bits: Sequence[int] = (1,),
                    rate_model_steps: Sequence[int] | None = (10,)) -> pd.DataFrame:
    """The authors' HD checkpoint on FSDD's official test split through the authors' own front
    end, with their label convention (English digit d → class 10 + d): how exactly its mapping
    reproduces it (:func:`lprnn.experiments.mapping_accuracy.run`). Out of domain (trained on
    HD, 48 kHz studio speech), so only the agreement means anything, not the accuracy; the
    dataset column says so."""
    from lprnn.ann.authors import load_authors_checkpoint

    test = load_dataset("fsdd", "test", protocol="official", labels="hd", frontend="authors",
                        quick=size == "quick")
    frame = mapping_accuracy.run(load_authors_checkpoint(), test.features, test.labels,
                                 dataset=f"fsdd ({OUT_OF_DOMAIN})", steps=steps,
                                 spike_bits=spike_bits, with_rate_model=size != "quick",
                                 rate_model_steps=rate_model_steps)
    return frame.assign(seed=0, model="authors' HD " + frame["model"])


def authors_checkpoint(recipe, size: str, steps_per_ann_step: int,
                       n_samples: int) -> pd.DataFrame | None:
    """The authors' released HD lpRNN mapped and compared on ``recipe``'s test clips; None
    when the checkpoint is not in :func:`lprnn.config.fixtures_dir`."""
    if config.authors_checkpoint() is None:
        return None
    from lprnn.ann.authors import load_authors_checkpoint

    authors = load_authors_checkpoint()
    test = splits(recipe, ["test"])["test"]
    network = snn.map_network(authors, steps_per_ann_step,
                              calibration=calibration_inputs(recipe, size))
    result = snn.compare_with_ann(authors, network, test.features[:n_samples],
                                  test.labels[:n_samples]).as_dict()
    return pd.DataFrame([dict(model=f"authors' HD lpRNN, k={steps_per_ann_step}"
                                    f"{spike_label(network.spike_bits)}", **result,
                              loihi2_cores_estimated=resources.cores_needed(network))])


__all__ = ["VARIANTS", "accuracy_rows", "ann_to_snn", "authors_checkpoint", "authors_on_fsdd",
           "trained_and_mapped"]
