"""Notebook 02: the lpRNN trained with float and with k-bit weights (the training rows)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from lprnn.ann import train
from lprnn.ann.recipes import Recipe
from lprnn.experiments.common import (ExperimentResult, check_seeds, recipe_for, rows_from_table,
                                      splits)


def model_names(weight_bits: int) -> dict[str, str]:
    return {"float": "lpRNN float", "quantized": f"lpRNN {weight_bits}-bit"}


def recipes_to_train(recipe_name: str = "digits", size: str = "default",
                     seeds: Sequence[int] | None = None, weight_bits: int = 3,
                     epochs: int | None = None) -> list[tuple[int, str, Recipe]]:
    """(seed, kind, recipe) of every model :func:`train_lprnn` trains, in its order: per seed
    (None: :func:`lprnn.experiments.common.seeds_for`), the float model then the
    ``weight_bits``-bit one. ``python -m lprnn.reproduce`` trains them first, in parallel."""
    jobs = []
    for seed in check_seeds(seeds, recipe_name, size):
        quantized = recipe_for(recipe_name, size, seed,
                               **({} if epochs is None else {"epochs": epochs}))
        quantized = quantized.with_overrides(model={"weight_frac_bits": weight_bits})
        jobs.append((seed, "float", quantized.with_overrides(model={"weight_frac_bits": None})))
        jobs.append((seed, "quantized", quantized))
    return jobs


def train_lprnn(recipe_name: str = "digits", size: str = "default",
                seeds: Sequence[int] | None = None, weight_bits: int = 3,
                epochs: int | None = None) -> ExperimentResult:
    """Train (or load) the float and the ``weight_bits``-bit lpRNN of a recipe, per seed
    (None: :func:`lprnn.experiments.common.seeds_for`, three on the real-speech recipes).

    Tables: ``summary`` (one line per model and seed: accuracies, training time, zero
    weights), ``history`` (per epoch), ``confusion`` (the first seed's quantized model on the
    test split, true class down, predicted across).
    """
    seeds = check_seeds(seeds, recipe_name, size)
    names = model_names(weight_bits)
    summary, history, confusion = [], [], None
    for seed, kind, recipe in recipes_to_train(recipe_name, size, seeds, weight_bits, epochs):
        model, info = train.load_or_train(recipe)
        summary.append(dict(model=names[kind], seed=seed, test_accuracy=info["test_accuracy"],
                            val_accuracy=info["best_val_accuracy"],
                            best_epoch=info["best_epoch"], train_seconds=info["train_seconds"],
                            zero_weight_fraction=model.zero_weight_fraction()))
        history += [dict(h, model=names[kind], seed=seed) for h in info["history"]]
        if kind == "quantized" and confusion is None:
            test = splits(recipe, ["test"])["test"]
            evaluation = train.evaluate(model, test)
            confusion = pd.DataFrame(
                train.confusion_matrix(evaluation.predictions, evaluation.labels,
                                       test.n_classes).numpy())
            n_test = len(test)
    summary_table = pd.DataFrame(summary)
    rows = rows_from_table("train", recipe.name, summary_table, "model",
                           {"test_accuracy": True, "val_accuracy": False, "train_seconds": False,
                            "zero_weight_fraction": False},
                           seeds=seeds, size=size, n_clips={"test_accuracy": n_test})
    return ExperimentResult(dict(summary=summary_table, history=pd.DataFrame(history),
                                 confusion=confusion), rows)
