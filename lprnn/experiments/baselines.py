"""Notebook 06: the field's baselines trained on the same data, and the same trained lpRNN on
three neurons (baselines and conversions rows)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pandas as pd
import torch

from lprnn import baselines, snn
from lprnn.ann import train
from lprnn.baselines import conversions
from lprnn.datasets import load_dataset
from lprnn.experiments.common import (ExperimentResult, calibration_inputs, check_seeds,
                                      recipe_for, resolve, rows_from_table, splits)

# Every baseline's shape and budget per run size: the lpRNN's recurrent width and epochs. The
# SLAYER sigma-delta network gets fewer epochs at the default size (its part must stay near 90 s
# on one core; its system name says how many) and checks slayer_lava_samples test clips in Lava.
BASELINE_BUDGETS = {
    "quick": dict(hidden_size=16, epochs=1, finetune_epochs=1, batch_size=32, slayer_epochs=1,
                  slayer_lava_samples=2),
    "default": dict(hidden_size=128, epochs=20, finetune_epochs=1, batch_size=64,
                    slayer_epochs=12, slayer_lava_samples=8),
    "full": dict(hidden_size=512, epochs=50, finetune_epochs=5, batch_size=64, slayer_epochs=50,
                 slayer_lava_samples=10),
}
# Published numbers shown beside ours (different data, not measured here).
REPORTED = (dict(system="Diehl et al. 2016, TrueNorth (question classification)", test_accuracy=0.74),
            dict(system="Yin et al. 2020, adaptive SRNN (SHD)", test_accuracy=0.904))
SPIKING_METRICS = {"test_accuracy": True, "spikes_per_sample": False, "synaptic_ops_per_sample": False}
LAVA_METRICS = {"lava_max_abs_error": False, "lava_prediction_agreement": True}


def _train_config(size: str, hidden_size: int | None, epochs: int | None,
                  finetune_epochs: int | None) -> tuple[int, train.TrainConfig, int, dict]:
    """(hidden size, training config, constrained epochs, the SLAYER part's budget); an
    ``epochs`` the caller passes applies to the SLAYER network too."""
    chosen = dict(BASELINE_BUDGETS[size])
    chosen.update({k: v for k, v in dict(hidden_size=hidden_size, epochs=epochs,
                                         finetune_epochs=finetune_epochs,
                                         slayer_epochs=epochs).items() if v is not None})
    config = train.TrainConfig(epochs=chosen["epochs"], batch_size=chosen["batch_size"])
    slayer_budget = dict(epochs=chosen["slayer_epochs"], lava_samples=chosen["slayer_lava_samples"])
    return chosen["hidden_size"], config, chosen["finetune_epochs"], slayer_budget


def _slayer_line(data, hidden: int, config: train.TrainConfig, budget: dict, averaging: str,
                 seed: int) -> list[dict]:
    """The SLAYER sigma-delta row (:func:`lprnn.baselines.slayer.train_and_score`), or none
    when lava-dl is not installed."""
    try:
        import lava.lib.dl.slayer  # noqa: F401
    except ImportError as missing:
        print(f"skipping the SLAYER sigma-delta baseline: {missing}")
        return []
    from lprnn.baselines import slayer

    torch.manual_seed(seed)
    return [slayer.train_and_score(
        data["train"], data["val"], data["test"], hidden_sizes=(hidden,),
        train_config=dataclasses.replace(config, epochs=budget["epochs"], seed=seed),
        averaging=averaging, lava_samples=budget["lava_samples"])]


def _conversion_sweep(model, x, y, calibration, steps_sweep, stock_thresholds) -> list[dict]:
    lines = []
    for k in steps_sweep:
        # The paper's binary spikes, which count like the rate-coded IF neurons' spikes.
        mapped = snn.simulate(snn.map_network(model, k, calibration=calibration, spike_bits=1), x)
        spikes = sum(c.sum(dim=1) for c in mapped.spike_counts.values())
        lines.append(dict(system="lpRNN → adaptive ΣΔ", setting=f"k={k}",
                          accuracy=float((mapped.predictions == y).float().mean()),
                          spikes_per_sample=float(spikes.float().mean()),
                          synaptic_ops_per_sample=float(mapped.synaptic_ops.float().mean())))
        rate = conversions.simulate_rate_coded(model, x, k)
        lines.append(dict(system="lpRNN → rate-coded IF", setting=f"k={k}",
                          accuracy=float((rate.predictions == y).float().mean()),
                          spikes_per_sample=float(rate.spikes_per_sample.mean()),
                          synaptic_ops_per_sample=float(rate.synaptic_ops.mean())))
    for threshold in stock_thresholds:
        stock = conversions.simulate_stock_sigma_delta(model, x, threshold)
        lines.append(dict(system="lpRNN → stock sigma-delta", setting=f"θ={threshold}",
                          accuracy=float((stock.predictions == y).float().mean()),
                          spikes_per_sample=float(stock.spikes_per_sample.mean()),
                          synaptic_ops_per_sample=float(stock.synaptic_ops.mean())))
    with torch.no_grad():
        ann = float((model(x).argmax(dim=1) == y).float().mean())
    lines.append(dict(system="lpRNN 3-bit ANN (same clips)", setting="", accuracy=ann,
                      spikes_per_sample=float("nan"), synaptic_ops_per_sample=float("nan")))
    return lines


def baselines_and_conversions(recipe_name: str = "digits", size: str = "default",
                              seeds: Sequence[int] = (0,), hidden_size: int | None = None,
                              epochs: int | None = None, finetune_epochs: int | None = None,
                              srnn_lr: float = 1e-2, ticks_per_step: int = 15,
                              steps_sweep: Sequence[int] = (2, 4, 8),
                              stock_thresholds: Sequence[float] = (0.02, 0.1, 0.3, 1.0),
                              conversion_samples: int | None = None,
                              extra_datasets: Sequence[str] = ("hd", "shd")) -> ExperimentResult:
    """Every baseline (:func:`lprnn.baselines.compare_baselines`, and the SLAYER sigma-delta
    network of lava-dl exported with netx and checked in Lava,
    :func:`lprnn.baselines.slayer.train_and_score`, when lava-dl is installed) on a recipe's
    splits, and the
    recipe's 3-bit lpRNN converted three ways (adaptive ΣΔ at each k of ``steps_sweep``,
    rate-coded IF at the same k, stock sigma-delta at each threshold), per seed; the baselines
    again on each of ``extra_datasets`` whose data is present.

    Tables: ``baselines`` (per system and seed), ``conversions`` (per system, setting and
    seed), ``reported`` (published numbers beside ours), ``extra`` (other datasets).
    """
    seeds = check_seeds(seeds)
    hidden, config, finetune, slayer_budget = _train_config(size, hidden_size, epochs,
                                                            finetune_epochs)
    n = resolve(size, conversion_samples=conversion_samples).conversion_samples
    measured, converted = [], []
    for seed in seeds:
        recipe = recipe_for(recipe_name, size, seed)
        data = splits(recipe)
        model, info = train.load_or_train(recipe)
        torch.manual_seed(seed)
        lines = baselines.compare_baselines(data["train"], data["val"], data["test"],
                                            hidden_sizes=(hidden,), train_config=config,
                                            srnn_lr=srnn_lr, finetune_epochs=finetune,
                                            ticks_per_step=ticks_per_step)
        lines += _slayer_line(data, hidden, config, slayer_budget, model.config.averaging, seed)
        measured += [dict(line, seed=seed) for line in
                     [dict(system="lpRNN 3-bit (ANN)", test_accuracy=info["test_accuracy"],
                           spikes_per_sample=None, synaptic_ops_per_sample=None)] + lines]
        x, y = data["test"].features[:n], data["test"].labels[:n]
        converted += [dict(line, seed=seed) for line in _conversion_sweep(
            model.eval(), x, y, calibration_inputs(recipe, size), steps_sweep, stock_thresholds)]
    tables = dict(baselines=pd.DataFrame(measured), conversions=pd.DataFrame(converted),
                  reported=pd.DataFrame(REPORTED))
    n_test = len(data["test"])
    spiking = tables["baselines"][tables["baselines"].system != "lpRNN 3-bit (ANN)"]
    rows = rows_from_table("baselines", recipe.name, spiking, "system", SPIKING_METRICS,
                           seeds=seeds, size=size, n_clips={"test_accuracy": n_test})
    if "lava_clips" in spiking:
        checked = spiking.dropna(subset=["lava_clips"])
        rows += rows_from_table("baselines", recipe.name, checked, "system", LAVA_METRICS,
                                seeds=seeds, size=size,
                                n_clips={m: int(checked.lava_clips.iloc[0]) for m in LAVA_METRICS})
    labelled = tables["conversions"].assign(
        label=[f"{s} ({t})" if t else s for s, t in zip(tables["conversions"].system,
                                                          tables["conversions"].setting)])
    rows += rows_from_table("conversions", recipe.name, labelled, "label",
                            {"accuracy": True, "spikes_per_sample": False,
                             "synaptic_ops_per_sample": False},
                            seeds=seeds, size=size, n_clips={"accuracy": len(y)})
    extra = []
    for name in extra_datasets:
        try:
            other = {s: load_dataset(name, s, quick=size == "quick") for s in ("train", "val", "test")}
        except FileNotFoundError as missing:
            print(f"skipping {name}: {missing}")
            continue
        extra += [dict(line, dataset=name) for line in baselines.compare_baselines(
            other["train"], other["val"], other["test"], hidden_sizes=(hidden,),
            train_config=config, srnn_lr=srnn_lr, finetune_epochs=finetune,
            ticks_per_step=ticks_per_step)]
        table = pd.DataFrame([e for e in extra if e["dataset"] == name])
        rows += rows_from_table("baselines", name, table, "system", {"test_accuracy": True},
                                seeds=(0,), size=size,
                                n_clips={"test_accuracy": len(other["test"])})
    tables["extra"] = pd.DataFrame(extra)
    return ExperimentResult(tables, rows)
