"""What every experiment shares: its result, its budgets per run size, the trained model per
seed, the one calibration set, result rows with their uncertainty, and the notebook parameters.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from lprnn import config, results, stats
from lprnn.ann import recipes
from lprnn.ann.recipes import Recipe
from lprnn.datasets import Dataset, load_dataset


@dataclass
class ExperimentResult:
    """Tables (pandas DataFrames, by name) and result rows for :func:`lprnn.results.record`."""

    tables: dict[str, pd.DataFrame]
    rows: list[dict[str, Any]] = field(default_factory=list)

    def record(self, notebook: str) -> Path:
        """Write the rows to the results table, each marked as coming from ``notebook``."""
        return results.record([{**row, "notebook": notebook} for row in self.rows])

    def rows_table(self) -> pd.DataFrame:
        """The rows as a table with every column of the results table but commit/notebook."""
        return pd.DataFrame(self.rows).reindex(
            columns=[c for c in results.COLUMNS if c not in ("commit", "notebook")])


def spike_label(spike_bits: int) -> str:
    """What the model label of an SNN row adds for a mapping with ``spike_bits``: nothing for
    the paper's binary spikes, ", b-bit graded spikes" otherwise (so that a row's label says
    which spikes it measured, whatever the mapper's default)."""
    return "" if spike_bits == 1 else f", {spike_bits}-bit graded spikes"


@dataclass(frozen=True)
class Budget:
    """How many clips each measurement uses at one run size (None: the whole split)."""

    calibration_samples: int = 32      # validation clips that set and check the integer scales
    test_samples: int | None = None    # test clips through the SNN (ANN → SNN, precision)
    sweep_samples: int = 200           # test clips per point of a mapping sweep
    trace_samples: int = 32            # clips for the layer-by-layer correlations
    authors_samples: int = 200         # test clips for the authors' checkpoint
    lava_samples: int = 8              # test clips run in Lava and compared spike for spike
    energy_samples: int = 128          # test clips whose activity the energy estimate uses
    conversion_samples: int | None = None   # test clips per spiking conversion
    steps_per_ann_step: int = 10       # k, as the authors (T_SNN ≈ T_ANN / 9.5)


BUDGETS: dict[str, Budget] = {
    "quick": Budget(calibration_samples=4, test_samples=8, sweep_samples=4, trace_samples=4,
                    authors_samples=2, lava_samples=2, energy_samples=4, conversion_samples=20,
                    steps_per_ann_step=2),
    "default": Budget(),
    "full": Budget(lava_samples=10),
}


def budget(size: str) -> Budget:
    """The budget of run size ``size`` ("quick", "default" or "full")."""
    if size not in BUDGETS:
        raise ValueError(f"run size {size!r}: expected one of {list(BUDGETS)}")
    return BUDGETS[size]


def resolve(size: str, **values: Any) -> types.SimpleNamespace:
    """``values`` with every None replaced by the run size's budget of that name: a value the
    caller passed is never overridden."""
    base = budget(size)
    return types.SimpleNamespace(**{name: getattr(base, name) if value is None else value
                                    for name, value in values.items()})


def recipe_for(recipe_name: str, size: str, seed: int = 0, **train: Any) -> Recipe:
    """The recipe ``recipe_name`` at ``size`` with training seed ``seed`` (and ``train``
    overrides). The seed is written only when it differs from the recipe's, so that seed 0
    is the model ``python -m lprnn train --recipe NAME`` trains (one checkpoint, one key)."""
    recipe = recipes.get_recipe(recipe_name, size)
    seeded = {} if seed == recipe.train.get("seed", 0) else {"seed": seed}
    return recipe.with_overrides(train={**seeded, **train})


def splits(recipe: Recipe, names: Iterable[str] = ("train", "val", "test")) -> dict[str, Dataset]:
    return {name: load_dataset(recipe.dataset, name, **recipe.dataset_options) for name in names}


def calibration_inputs(recipe: Recipe, size: str, samples: int | None = None) -> torch.Tensor:
    """The clips every mapping of ``recipe`` is calibrated on: the first ``samples`` (the run
    size's budget by default) of the validation split. One set, so that every notebook maps
    the same network."""
    n = resolve(size, calibration_samples=samples).calibration_samples
    return load_dataset(recipe.dataset, "val", **recipe.dataset_options).features[:n]


# The real-speech recipes are the headline: their training and mapping rows are the mean and
# spread over three training seeds (one seed in smoke runs); other recipes use seed 0.
HEADLINE_RECIPES = ("fsdd", "fsdd_speakers")
HEADLINE_SEEDS = (0, 1, 2)


def seeds_for(recipe_name: str, size: str) -> tuple[int, ...]:
    """The training seeds of ``recipe_name``'s headline rows at run size ``size``:
    :data:`HEADLINE_SEEDS` for the :data:`HEADLINE_RECIPES` (but one in smoke runs), else (0,)."""
    budget(size)
    return HEADLINE_SEEDS if recipe_name in HEADLINE_RECIPES and size != "quick" else (0,)


def check_seeds(seeds: Sequence[int] | None, recipe_name: str | None = None,
                size: str | None = None) -> tuple[int, ...]:
    """``seeds`` as a tuple of integers (ValueError naming a bad value); None: the recipe's
    :func:`seeds_for` (``recipe_name`` and ``size`` needed)."""
    if seeds is None:
        if recipe_name is None or size is None:
            raise ValueError("seeds=None needs a recipe_name and a size to choose the seeds")
        return seeds_for(recipe_name, size)
    seeds = tuple(seeds)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) for s in seeds):
        raise ValueError(f"seeds={seeds!r}: expected a non-empty tuple of integers")
    return seeds


def summary_row(experiment: str, dataset: str, model: str, metric: str,
                values: Sequence[float], *, seeds: Sequence[int], size: str,
                n_clips: int | None = None, proportion: bool = False) -> dict[str, Any]:
    """One result row for a number measured once per seed: the mean, the spread over seeds,
    and a 95 % interval (over seeds, the t-interval of the mean, clipped to [0, 1] for a
    ``proportion``; for one seed and a ``proportion`` over ``n_clips``, its Wilson
    interval)."""
    values = [float(v) for v in values]
    row: dict[str, Any] = dict(experiment=experiment, dataset=dataset, model=model,
                               metric=metric, seeds=",".join(map(str, seeds)), run_size=size,
                               n_clips="" if n_clips is None else n_clips)
    if len(values) == 1 and proportion and n_clips:
        low, high = stats.wilson_interval(round(values[0] * n_clips), n_clips)
        return dict(row, value=values[0], std="", ci_low=low, ci_high=high)
    summary = stats.seed_summary(values)
    if len(values) == 1:
        return dict(row, value=summary.mean, std="", ci_low="", ci_high="")
    low, high = summary.ci_low, summary.ci_high
    if proportion:
        low, high = max(low, 0.0), min(high, 1.0)
    return dict(row, value=summary.mean, std=summary.std, ci_low=low, ci_high=high)


def rows_from_table(experiment: str, dataset: str, table: pd.DataFrame, model_column: str,
                    metrics: Mapping[str, bool], *, seeds: Sequence[int], size: str,
                    n_clips: Mapping[str, int | None] | None = None) -> list[dict[str, Any]]:
    """Rows per ``model_column`` value and metric of a per-seed table (one line per model and
    seed); ``metrics`` maps each metric to whether it is a proportion of clips. ``dataset`` is
    the recipe's name where a recipe was used (``fsdd`` and ``fsdd_speakers`` share a dataset
    but not a split)."""
    rows = []
    for model, group in table.groupby(model_column, sort=False):
        for metric, proportion in metrics.items():
            values = group[metric].dropna()
            if values.empty:
                continue
            rows.append(summary_row(experiment, dataset, str(model), metric, values.tolist(),
                                    seeds=seeds, size=size, proportion=proportion,
                                    n_clips=(n_clips or {}).get(metric)))
    return rows


# -- notebook parameters ------------------------------------------------------------------
_IPYTHON_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}


def check_parameters(namespace: Mapping[str, Any], valid: Iterable[str]) -> dict[str, Any]:
    """The notebook's parameters from its ``globals()``: every public, non-module name.

    Raises ValueError naming any parameter that is not in ``valid`` (a misspelt papermill
    ``-p`` lands in the notebook as an unknown global) and listing the valid ones.
    """
    valid = list(valid)
    found = {name: value for name, value in namespace.items()
             if not name.startswith("_") and name not in _IPYTHON_NAMES
             and not isinstance(value, types.ModuleType) and not callable(value)}
    unknown = sorted(set(found) - set(valid))
    if unknown:
        raise ValueError(f"unknown notebook parameter(s) {unknown}: expected some of {sorted(valid)}")
    return found


def figure_path(name: str, recipe_name: str = "digits", *, quick: bool = False,
                full: bool = False) -> Path:
    """Where a recipe notebook saves its figure ``name``: ``<figures>/<name>.png`` for its
    digits run at the default size, ``<figures>/<name>.<recipe>[.<size>].png`` otherwise, so
    that each run of one notebook (``make reproduce`` runs 02, 03, 05 and 06 on several
    recipes) keeps its own figure."""
    size = recipes.run_size(quick, full)
    recipes.get_recipe(recipe_name, size)   # a clear error for an unknown recipe
    parts = [name, *([recipe_name] if recipe_name != "digits" else []),
             *([size] if size != "default" else [])]
    return config.figures_dir() / f"{'.'.join(parts)}.png"


def notebook_parameters(namespace: Mapping[str, Any], experiment: Callable) -> dict[str, Any]:
    """Keyword arguments of ``experiment`` from a notebook's parameters (:func:`check_parameters`
    against the experiment's arguments plus ``quick``/``full``, which become ``size``)."""
    arguments = [name for name in inspect.signature(experiment).parameters if name != "size"]
    found = check_parameters(namespace, arguments + ["quick", "full"])
    kwargs = {name: value for name, value in found.items() if name in arguments}
    if "size" in inspect.signature(experiment).parameters:
        kwargs["size"] = recipes.run_size(bool(found.get("quick", False)),
                                          bool(found.get("full", False)))
    return kwargs


__all__ = ["BUDGETS", "Budget", "ExperimentResult", "HEADLINE_RECIPES", "HEADLINE_SEEDS",
           "budget", "calibration_inputs", "check_parameters", "check_seeds", "figure_path",
           "notebook_parameters", "recipe_for", "resolve", "rows_from_table", "seeds_for",
           "splits", "summary_row"]
