"""What makes the 3-bit lpRNN hold on speakers it never heard: a sweep over training settings.

Each candidate is a set of overrides of an FSDD recipe (``fsdd_speakers`` by default: train on
four speakers, choose the epoch on lucas, test on theo). Every candidate is trained with float
and with 3-bit weights for each seed through :func:`lprnn.ann.train.load_or_train`, so a
finished run is cached and a rerun (or the notebook) only reads checkpoints. Candidates are
compared on the **validation** speaker; the test speaker is reported, never used to choose.

    frame = run_sweep(["authors", "float_pretrain"], seeds=(0,))   # screen on one seed
    summary = summarize(frame)                                  # mean ± std over seeds
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
import torch

from lprnn.ann.recipes import Recipe, get_recipe
from lprnn.ann.train import load_or_train
from lprnn.datasets import fsdd
from lprnn.experiments.common import ExperimentResult, budget

# The FSDD recipes' defaults are this sweep's winners on validation (mean over float and 3-bit
# weights and three seeds; the validation speaker for `fsdd_speakers`, validation clips for
# `fsdd`): float pre-training ("float_pretrain": 10 float epochs, then 20 quantized) with a time
# stretch of the training batches of ±20 % ("stretch20"; for `fsdd` with twice as many epochs,
# "stretch20_longer"). "authors" is the authors' HD settings for 20 epochs (as the digits
# recipe); "recipe_ema" is the recipe with an exponential moving average of the weights
# (TrainConfig.ema_decay); every other candidate changes one thing of "authors", or
# ("stretch…") adds a time stretch to "float_pretrain". Epoch counts are meant for the default
# size. Values: keyword arguments of Recipe.with_overrides.
_AUTHORS = dict(epochs=20, float_epochs=0, time_stretch=0.0)
_FLOAT_PRETRAIN = dict(_AUTHORS, float_epochs=10)
CANDIDATES: dict[str, dict[str, dict[str, Any]]] = {
    "recipe": {},
    "recipe_ema": dict(train=dict(ema_decay=0.99)),   # the recipe, the weight average kept
    "authors": dict(train=dict(_AUTHORS)),
    "longer": dict(train=dict(_AUTHORS, epochs=30)),
    "epochs50": dict(train=dict(_AUTHORS, epochs=50)),
    "float_pretrain": dict(train=_FLOAT_PRETRAIN),
    **{f"stretch{round(100 * r)}": dict(train=dict(_FLOAT_PRETRAIN, time_stretch=r))
       for r in (0.2, 0.3, 0.4)},
    **{f"stretch{round(100 * r)}_longer": dict(train=dict(_FLOAT_PRETRAIN, epochs=40,
                                                          float_epochs=20, time_stretch=r))
       for r in (0.2, 0.3)},
    "lr3e-3": dict(train=dict(_AUTHORS, lr=3e-3)),
    "batch32": dict(train=dict(_AUTHORS, batch_size=32)),
    "lottery": dict(train=dict(_AUTHORS, lottery_rounds=1)),
    "augment": dict(train=dict(_AUTHORS, freq_warp=0.1, time_mask=20, freq_mask=10)),
    "warp": dict(train=dict(_AUTHORS, freq_warp=0.1)),
    "narrowband": dict(train=dict(_AUTHORS), dataset_options=dict(frontend="narrowband")),
    "band_norm": dict(train=dict(_AUTHORS), dataset_options=dict(band_norm=True)),
}
WEIGHTS = {"float": None, "3-bit": 3}


def candidate_recipe(base: Recipe, overrides: dict[str, dict[str, Any]], weights: str,
                     seed: int) -> Recipe:
    """``base`` with a candidate's overrides, the weight format ``weights`` and ``seed``."""
    if weights not in WEIGHTS:
        raise ValueError(f"weights {weights!r}: expected one of {list(WEIGHTS)}")
    unknown = sorted(set(overrides) - {"model", "train", "dataset_options"})
    if unknown:
        raise ValueError(f"candidate overrides {unknown}: expected model, train or "
                         "dataset_options")
    # The seed is only written when it differs from the recipe's, so that seed 0 shares its
    # checkpoint with `python -m lprnn train --recipe NAME`.
    seeded = {} if seed == base.train.get("seed", 0) else {"seed": seed}
    return base.with_overrides(
        model={**overrides.get("model", {}), "weight_frac_bits": WEIGHTS[weights]},
        train={**overrides.get("train", {}), **seeded},
        dataset_options=overrides.get("dataset_options"))


def run_sweep(candidates: Iterable[str] | dict[str, dict[str, dict[str, Any]]] = ("recipe",),
              *, recipe_name: str = "fsdd_speakers", size: str = "default",
              seeds: Sequence[int] = (0,), weights: Sequence[str] = ("float", "3-bit"),
              threads: int | None = 1, progress: bool = False) -> pd.DataFrame:
    """Train (or load) every candidate × weight format × seed; one row per model.

    ``candidates``: names of :data:`CANDIDATES` or a mapping name → overrides. ``threads``:
    torch's thread count while training (1 keeps runs comparable on a shared machine; None
    leaves it). Columns: candidate, weights, seed, val_accuracy, test_accuracy, best_epoch,
    train_seconds, cached, recipe_key (the checkpoint file name).
    """
    chosen = (dict(candidates) if isinstance(candidates, dict)
              else {name: _known(name) for name in candidates})
    base = get_recipe(recipe_name, size)
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    rows = []
    try:
        for name, overrides in chosen.items():
            for weight_format in weights:
                for seed in seeds:
                    recipe = candidate_recipe(base, overrides, weight_format, seed)
                    _, info = load_or_train(recipe, progress=progress)
                    rows.append(dict(candidate=name, weights=weight_format, seed=seed,
                                     val_accuracy=info["best_val_accuracy"],
                                     test_accuracy=info["test_accuracy"],
                                     best_epoch=info["best_epoch"],
                                     train_seconds=info["train_seconds"],
                                     cached=info["cached"],
                                     checkpoint=str(info["checkpoint"]).rsplit("/", 1)[-1]))
    finally:
        torch.set_num_threads(previous_threads)
    return pd.DataFrame(rows)


def _known(name: str) -> dict[str, dict[str, Any]]:
    if name not in CANDIDATES:
        raise ValueError(f"unknown candidate {name!r}: expected one of {sorted(CANDIDATES)}")
    return CANDIDATES[name]


def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation (over seeds) of the validation and test accuracies per
    candidate and weight format, with the 3-bit − float test gap per candidate."""
    grouped = frame.groupby(["candidate", "weights"], sort=False)
    summary = grouped.agg(val_mean=("val_accuracy", "mean"), val_std=("val_accuracy", "std"),
                          test_mean=("test_accuracy", "mean"),
                          test_std=("test_accuracy", "std"),
                          seeds=("seed", "count")).reset_index()
    tests = summary.pivot(index="candidate", columns="weights", values="test_mean")
    if {"float", "3-bit"} <= set(tests.columns):
        gap = (tests["3-bit"] - tests["float"]).rename("gap_3bit_minus_float")
        summary = summary.merge(gap, left_on="candidate", right_index=True, how="left")
    return summary


# Per run size, what notebook 09 sweeps unless told: (candidates, seeds, weight formats). The
# reference run compares the authors' plain settings, float pre-training alone and the recipe
# (float pre-training and the time stretch), 3-bit, one seed.
NOTEBOOK_DEFAULTS = {
    "quick": (("authors", "recipe"), (0,), ("3-bit",)),
    "default": (("authors", "float_pretrain", "recipe"), (0,), ("3-bit",)),
    "full": (tuple(CANDIDATES), (0, 1, 2), ("float", "3-bit")),
}


def fsdd_generalization(recipe_name: str = "fsdd_speakers", size: str = "default",
                   candidates: Sequence[str] | None = None, seeds: Sequence[int] | None = None,
                   weights: Sequence[str] | None = None) -> ExperimentResult | None:
    """Notebook 09: :func:`run_sweep` over ``candidates`` × ``weights`` × ``seeds`` (None: the
    run size's :data:`NOTEBOOK_DEFAULTS`) and its :func:`summarize`, with one ``fsdd_sweep``
    row of test accuracy per candidate and weight format. None, with a message saying where
    the data is expected, when the Free Spoken Digit Dataset is not at hand."""
    budget(size)
    if not fsdd.available():
        print(f"skipped: the Free Spoken Digit Dataset is not in {fsdd.resolve_root(None)} "
              f"or {fsdd.shared_root()} (see the README, Datasets)")
        return None
    defaults = NOTEBOOK_DEFAULTS[size]
    candidates, seeds, weights = (tuple(given) if given is not None else default for given, default
                                  in zip((candidates, seeds, weights), defaults))
    frame = run_sweep(candidates, recipe_name=recipe_name, size=size, seeds=seeds,
                      weights=weights)
    summary = summarize(frame)
    rows = [dict(experiment="fsdd_sweep", dataset=recipe_name,
                 model=f"{row.candidate} {row.weights}", metric="test_accuracy",
                 value=row.test_mean, std=row.test_std if len(seeds) > 1 else None,
                 seeds=",".join(map(str, seeds)), run_size=size)
            for row in summary.itertuples()]
    return ExperimentResult(dict(sweep=frame, summary=summary), rows)
