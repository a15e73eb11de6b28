"""Notebook 07: the adding and copying tasks (Nair & Indiveri 2019), lpRNN against Elman and
LSTM, and the adding-task lpRNN on adaptive ΣΔ spikes (temporal-task rows)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import torch

from lprnn import snn
from lprnn.ann.model import with_timing
from lprnn.baselines import tasks
from lprnn.experiments.common import (ExperimentResult, check_seeds, resolve, rows_from_table,
                                      spike_label)
from lprnn.snn.mapper import DEFAULT_SPIKE_BITS


@dataclass(frozen=True)
class TaskBudget:
    adding_lengths: tuple[int, ...]
    copy_delay: int
    hidden_size: int
    train_steps: int
    n_train: int


TASK_BUDGETS = {
    "quick": TaskBudget((20,), 8, 8, 10, 200),
    "default": TaskBudget((50,), 20, 32, 1500, 2000),
    "full": TaskBudget((200, 400), 100, 128, 5000, 20_000),
}
N_EVAL = 512           # evaluation sequences per task
N_SNN = 128            # adding-task sequences run through the SNN
N_CALIBRATION = 64     # training sequences that calibrate the mapping
CHANCE_MODEL = "memoryless predictor (chance level)"
SPIKING_METRICS = ("ANN MSE", "SNN MSE", "ANN-vs-SNN MSE", "SNN-timed ANN MSE",
                   "timing part: ANN-vs-SNN-timed-ANN MSE",
                   "quantization part: SNN-timed-ANN-vs-SNN MSE", "spikes per sample")


def _learn(train_set, eval_set, n_outputs, hidden_size, train_steps, learning_rate,
           retention_ratio, weight_frac_bits):
    curves, models = {}, {}
    for kind in tasks.TASK_MODELS:
        models[kind] = tasks.make_task_model(
            kind, train_set.n_features, hidden_size, n_outputs, retention_ratio=retention_ratio,
            weight_frac_bits=weight_frac_bits if kind == "lprnn" else None)
        curves[kind] = pd.DataFrame(tasks.train_task(models[kind], train_set, eval_set,
                                                     steps=train_steps, lr=learning_rate,
                                                     eval_every=max(train_steps // 10, 1)))
    return curves, models


@torch.no_grad()
def adding_on_spikes(model: tasks.LpRNNTaskModel, train_set, eval_set,
                     steps_per_ann_step: int) -> tuple[dict[str, float], pd.DataFrame]:
    """The adding-task lpRNN mapped to ΣΔ neurons: its output is the readout applied to the
    last step's decoded state (−i_fb of the last layer, averaged over that ANN step's k SNN
    steps). Returns the MSEs and spikes, and the ANN/SNN outputs per sequence.

    The ANN/SNN error splits in two, through the same weights run with the SNN's timing
    (:func:`lprnn.ann.model.with_timing`, the SNN's rate limit, read out the same way):

    - timing: ANN vs SNN-timed ANN (the SNN integrates at k times the ANN's rate, one SNN
      step of delay per layer, and its last decoded state averages the last ANN step);
    - ΣΔ quantization: SNN-timed ANN vs SNN (spikes instead of rates; falls as k grows).
    """
    network = model.network.eval()
    x, target = eval_set.inputs[:N_SNN], eval_set.targets[:N_SNN]
    # read at the last step, as the task's output is: no readout latency
    mapped = snn.map_network(network, steps_per_ann_step, readout_latency=0,
                             calibration=train_set.inputs[:N_CALIBRATION])
    sim = snn.simulate(mapped, x, record=True)
    readout = network.effective_parameters()
    last_state = sim.decoded[f"rnn_layers.{len(network.rnn_layers) - 1}"][:, -1]
    snn_output = last_state @ readout["out.linear.weight"][0] + readout["out.linear.bias"][0]
    ann_output = model(x)[:, -1, 0]
    timed = tasks.LpRNNTaskModel(with_timing(network, "snn", steps_per_ann_step,
                                             readout_latency=0))
    timed_output = timed(x)[:, -1, 0]
    spikes = sum(c.sum(dim=1) for c in sim.spike_counts.values()).float()

    def mse(a: torch.Tensor, b: torch.Tensor) -> float:
        return float(((a - b) ** 2).mean())

    metrics = {"ANN MSE": mse(ann_output, target), "SNN MSE": mse(snn_output, target),
               "ANN-vs-SNN MSE": mse(snn_output, ann_output),
               "SNN-timed ANN MSE": mse(timed_output, target),
               "timing part: ANN-vs-SNN-timed-ANN MSE": mse(timed_output, ann_output),
               "quantization part: SNN-timed-ANN-vs-SNN MSE": mse(snn_output, timed_output),
               "spikes per sample": float(spikes.mean())}
    return metrics, pd.DataFrame(dict(ann=ann_output.numpy(), snn_timed_ann=timed_output.numpy(),
                                      snn=snn_output.numpy()))


def temporal_tasks(size: str = "default", seeds: Sequence[int] = (0,),
                   adding_lengths: Sequence[int] | None = None, copy_delay: int | None = None,
                   copy_length: int = 5, hidden_size: int | None = None,
                   train_steps: int | None = None, n_train: int | None = None,
                   learning_rate: float = 3e-3, retention_ratio: float = 0.8,
                   weight_frac_bits: int = 3,
                   steps_per_ann_step: int | None = None,
                   spike_steps_factors: Sequence[int] = (1, 4),
                   include_copying: bool = False) -> ExperimentResult:
    """Each model of :data:`lprnn.baselines.tasks.TASK_MODELS` trained on the adding task (each
    length) and, with ``include_copying``, the copying task, per seed (None: :data:`TASK_BUDGETS` of the run size), and
    the first adding task's lpRNN run on ΣΔ spikes at k and at each multiple of k in
    ``spike_steps_factors`` (its error split into timing and ΣΔ quantization,
    :func:`adding_on_spikes`). The copying task is left out by default: within these budgets
    every model (the LSTM too) stays at its chance level, so its rows would report nothing
    learned; included, its rows stand beside the chance level.

    Tables: ``curves`` (task, model, seed, step, eval loss/accuracy), ``chance`` (memoryless
    loss per task), ``spiking`` (per seed: MSEs and spikes of the mapped lpRNN), ``outputs``
    (first seed: ANN and SNN output per sequence).
    """
    seeds = check_seeds(seeds)
    defaults = TASK_BUDGETS[size]
    chosen = {name: getattr(defaults, name) if value is None else value for name, value in dict(
        adding_lengths=adding_lengths, copy_delay=copy_delay, hidden_size=hidden_size,
        train_steps=train_steps, n_train=n_train).items()}
    k = resolve(size, steps_per_ann_step=steps_per_ann_step).steps_per_ann_step
    curves, chance, spiking, outputs = [], {}, [], None
    for seed in seeds:
        torch.manual_seed(seed)
        experiments = [(tasks.adding_task(chosen["n_train"], length, seed=2 * seed),
                        tasks.adding_task(N_EVAL, length, seed=2 * seed + 1), 1)
                       for length in chosen["adding_lengths"]]
        if include_copying:
            copy_train = tasks.copying_task(chosen["n_train"], chosen["copy_delay"],
                                            copy_length=copy_length, seed=2 * seed)
            experiments.append((copy_train, tasks.copying_task(N_EVAL, chosen["copy_delay"],
                                                               copy_length=copy_length,
                                                               seed=2 * seed + 1),
                                copy_train.n_features - 1))
        for index, (train_set, eval_set, n_outputs) in enumerate(experiments):
            task_curves, models = _learn(train_set, eval_set, n_outputs, chosen["hidden_size"],
                                         chosen["train_steps"], learning_rate, retention_ratio,
                                         weight_frac_bits)
            chance[train_set.name] = tasks.chance_loss(eval_set)
            curves += [curve.assign(task=train_set.name, model=kind, seed=seed)
                       for kind, curve in task_curves.items()]
            if index == 0:
                for factor in spike_steps_factors:
                    metrics, out = adding_on_spikes(models["lprnn"], train_set, eval_set,
                                                    factor * k)
                    spiking.append(dict(task=train_set.name, seed=seed,
                                        model=f"lpRNN → ΣΔ (k={factor * k})"
                                              f"{spike_label(DEFAULT_SPIKE_BITS)}",
                                        **metrics))
                    outputs = out if outputs is None else outputs
    curves_table = pd.concat(curves, ignore_index=True)
    final = curves_table.sort_values("step").groupby(["task", "model", "seed"]).tail(1)
    rows = []
    for task, group in final.groupby("task", sort=False):
        metrics = {"eval_loss": False}
        if "eval_accuracy" in group and group["eval_accuracy"].notna().any():
            metrics["copy_accuracy"] = False
        rows += rows_from_table("temporal_tasks", task,
                                group.rename(columns={"eval_accuracy": "copy_accuracy"}),
                                "model", metrics, seeds=seeds, size=size)
    # The level learning must beat, beside each task's rows: the best memoryless answer's loss
    # and, for copying, the accuracy of guessing the symbols (lprnn.baselines.tasks).
    for task, loss in chance.items():
        level = dict(model=CHANCE_MODEL, eval_loss=loss)
        if task.startswith("copying"):
            level["copy_accuracy"] = 1.0 / (copy_train.n_features - 2)
        rows += rows_from_table("temporal_tasks", task, pd.DataFrame([level]), "model",
                                {name: False for name in level if name != "model"},
                                seeds=seeds, size=size)
    spiking_table = pd.DataFrame(spiking)
    for task, group in spiking_table.groupby("task"):
        rows += rows_from_table("temporal_tasks", task, group, "model",
                                {metric: False for metric in SPIKING_METRICS}, seeds=seeds,
                                size=size, n_clips={m: N_SNN for m in SPIKING_METRICS})
    return ExperimentResult(dict(curves=curves_table, spiking=spiking_table, outputs=outputs,
                                 chance=pd.Series(chance, name="chance_loss").to_frame()), rows)
