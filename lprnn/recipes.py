"""Named training configurations: one place that says what "the trained model" of a notebook is.

A recipe names a dataset, the model configuration (keyword arguments of
:class:`lprnn.model.ModelConfig`) and the training configuration (keyword arguments of
:class:`lprnn.train.TrainConfig`), at three run sizes:

- ``quick``: smoke runs for tests (seconds);
- ``default``: what ``make reproduce`` runs on 2 CPU cores (minutes);
- ``full``: the authors' settings (paper-size network, 50 epochs; GPU recommended).

Notebooks 02–06 and ``python -m lprnn train --recipe NAME`` read the same recipe, so the model
notebook 02 trains is the one notebook 03 maps (it is cached under its configuration key).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

SIZES = ("quick", "default", "full")


@dataclass(frozen=True)
class Recipe:
    name: str
    dataset: str
    description: str
    model: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    dataset_options: dict[str, Any] = field(default_factory=dict)

    def with_overrides(self, *, model: dict[str, Any] | None = None,
                       train: dict[str, Any] | None = None,
                       dataset_options: dict[str, Any] | None = None) -> "Recipe":
        """A copy with some model/train/dataset options replaced."""
        return replace(self, model={**self.model, **(model or {})},
                       train={**self.train, **(train or {})},
                       dataset_options={**self.dataset_options, **(dataset_options or {})})


# The authors' HD training settings (PAPER.md): Adam 1e-3, ReduceLROnPlateau(0.5, 3),
# clipping norm 2 and value 2, batch 64, 50 epochs, best validation checkpoint.
_AUTHORS_HD_TRAIN = dict(epochs=50, batch_size=64, lr=1e-3, clip_norm=2.0, clip_value=2.0,
                         plateau_factor=0.5, plateau_patience=3)
_PAPER_NETWORK = dict(ff_size=128, rnn_sizes=(512, 512), retention_ratio=0.8, a_max=6.0,
                      weight_frac_bits=3)

_RECIPES: dict[tuple[str, str], Recipe] = {
    ("digits", "quick"): Recipe(
        "digits", "digits", "built-in spoken digits, smoke size",
        model=dict(_PAPER_NETWORK, ff_size=16, rnn_sizes=(32,)),
        train=dict(_AUTHORS_HD_TRAIN, epochs=1, batch_size=32),
        dataset_options=dict(quick=True)),
    ("digits", "default"): Recipe(
        "digits", "digits", "built-in spoken digits, reduced width for 2 CPU cores",
        model=dict(_PAPER_NETWORK, ff_size=64, rnn_sizes=(128, 128)),
        train=dict(_AUTHORS_HD_TRAIN, epochs=8)),
    ("digits", "full"): Recipe(
        "digits", "digits", "built-in spoken digits, paper network and settings",
        model=dict(_PAPER_NETWORK), train=dict(_AUTHORS_HD_TRAIN)),
}


def recipe_names() -> list[str]:
    return sorted({name for name, _ in _RECIPES})


def get_recipe(name: str = "digits", size: str = "default") -> Recipe:
    """The recipe ``name`` at run size ``size`` ("quick", "default" or "full")."""
    if size not in SIZES:
        raise ValueError(f"run size {size!r}: expected one of {list(SIZES)}")
    if (name, size) not in _RECIPES:
        raise ValueError(f"unknown recipe {name!r}: expected one of {recipe_names()}")
    return _RECIPES[(name, size)]


def run_size(quick: bool, full: bool) -> str:
    """The run size a notebook's ``quick``/``full`` parameters select (quick wins)."""
    return "quick" if quick else ("full" if full else "default")
