"""Named training configurations: one place that says what "the trained model" of a notebook is.

A recipe names a dataset, the model configuration (keyword arguments of
:class:`lprnn.ann.model.ModelConfig`) and the training configuration (keyword arguments of
:class:`lprnn.ann.train.TrainConfig`), at three run sizes:

- ``quick``: smoke runs for tests (seconds);
- ``default``: what ``make reproduce`` runs on 2 CPU cores (minutes) for the built-in
  ``digits``; for the paper's datasets, the paper network for fewer epochs;
- ``full``: the authors' settings (paper-size network, 50 epochs; GPU recommended).

Recipes: ``digits`` (the built-in set, the default everywhere); real human speech from the Free
Spoken Digit Dataset, ``fsdd`` (its official split: recording index 0-4 is the test set) and
``fsdd_speakers`` (speaker held out: test theo, validation lucas); and the paper's experiments
``hd`` (Heidelberg Digits audio), ``gsc12``/``gsc35`` (Speech Commands v0.02, 12 and 35
classes), ``gsc_v1`` (v0.01, 12 classes), and the spike data sets ``shd``/``ssc``. The dataset
each one names is loaded with :func:`lprnn.datasets.load_dataset` (see the README, "Running on the paper's datasets").

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

    def with_overrides(self, *, dataset: str | None = None,
                       model: dict[str, Any] | None = None,
                       train: dict[str, Any] | None = None,
                       dataset_options: dict[str, Any] | None = None) -> "Recipe":
        """A copy with some model/train/dataset options replaced.

        ``dataset``: train the recipe's network on another registered dataset
        (:func:`lprnn.datasets.register_dataset`). The old dataset's options are dropped
        except ``quick``, and so are the model's ``n_inputs``/``n_classes`` (they come from
        the new data) unless ``model`` sets them; ``dataset_options`` then apply on top.
        """
        recipe_model, recipe_options = self.model, self.dataset_options
        if dataset is not None and dataset != self.dataset:
            from lprnn.datasets import dataset_names
            if dataset not in dataset_names():
                raise ValueError(f"dataset {dataset!r}: expected a registered dataset, one of "
                                 f"{dataset_names()}")
            recipe_model = {k: v for k, v in self.model.items()
                            if k not in ("n_inputs", "n_classes")}
            recipe_options = {k: v for k, v in self.dataset_options.items() if k == "quick"}
        return replace(self, dataset=dataset or self.dataset,
                       model={**recipe_model, **(model or {})},
                       train={**self.train, **(train or {})},
                       dataset_options={**recipe_options, **(dataset_options or {})})


# The authors' HD training settings (``docs/METHOD.md``, *Training*): Adam 1e-3, ReduceLROnPlateau(0.5, 3),
# clipping norm 2 and value 2, batch 64, 50 epochs, best validation checkpoint.
_AUTHORS_HD_TRAIN = dict(epochs=50, batch_size=64, lr=1e-3, clip_norm=2.0, clip_value=2.0,
                         plateau_factor=0.5, plateau_patience=3)

# The authors' Speech Commands settings differ only in batch size (128), clipping (norm 1 and
# value 1), 40 Kaldi fbank inputs and logits averaged over all steps.
_AUTHORS_GSC_TRAIN = dict(_AUTHORS_HD_TRAIN, batch_size=128, clip_norm=1.0, clip_value=1.0)
_PAPER_NETWORK = dict(ff_size=128, rnn_sizes=(512, 512), retention_ratio=0.8, a_max=6.0,
                      weight_frac_bits=3)
_SMOKE_NETWORK = dict(_PAPER_NETWORK, ff_size=16, rnn_sizes=(32,))
# Epochs of the default run size on the paper's datasets (hours on CPU, minutes on a GPU);
# the full size is the authors' 50 epochs plus one lottery-ticket round, as their HD checkpoint.
_DEFAULT_EPOCHS = 10
_LOTTERY_ROUNDS = 1

_DIGITS_DEFAULT_NETWORK = dict(_PAPER_NETWORK, ff_size=64, rnn_sizes=(128, 128))

_RECIPES: dict[tuple[str, str], Recipe] = {
    ("digits", "quick"): Recipe(
        "digits", "digits", "built-in spoken digits, smoke size",
        model=dict(_SMOKE_NETWORK),
        train=dict(_AUTHORS_HD_TRAIN, epochs=1, batch_size=32),
        dataset_options=dict(quick=True)),
    ("digits", "default"): Recipe(
        "digits", "digits", "built-in spoken digits, reduced width for 2 CPU cores",
        model=dict(_DIGITS_DEFAULT_NETWORK),
        train=dict(_AUTHORS_HD_TRAIN, epochs=20)),
    ("digits", "full"): Recipe(
        "digits", "digits", "built-in spoken digits, paper network and settings",
        model=dict(_PAPER_NETWORK), train=dict(_AUTHORS_HD_TRAIN)),
}


def _paper_recipes(name: str, dataset: str, what: str, model: dict[str, Any],
                   train: dict[str, Any]) -> dict[tuple[str, str], Recipe]:
    """A paper experiment at the three run sizes: smoke, fewer epochs, the authors' settings."""
    return {
        (name, "quick"): Recipe(
            name, dataset, f"{what}, smoke size (a few clips)",
            model=dict(model, **_SMOKE_NETWORK),
            train=dict(train, epochs=1, batch_size=32), dataset_options=dict(quick=True)),
        (name, "default"): Recipe(
            name, dataset, f"{what}, paper network, {_DEFAULT_EPOCHS} epochs",
            model=dict(model, **_PAPER_NETWORK), train=dict(train, epochs=_DEFAULT_EPOCHS)),
        (name, "full"): Recipe(
            name, dataset, f"{what}, paper network and the authors' settings",
            model=dict(model, **_PAPER_NETWORK),
            train=dict(train, lottery_rounds=_LOTTERY_ROUNDS)),
    }


_HD_MODEL = dict(n_inputs=80, n_classes=20, averaging="second_half")
_SHD_CHANNELS = 700
_PAPER_EXPERIMENTS = (
        ("hd", "hd", "Heidelberg Digits (audio), 80 log-mel bands", _HD_MODEL,
         _AUTHORS_HD_TRAIN),
        ("gsc12", "gsc", "Speech Commands v0.02, 12 classes (10 words, silence, unknown)",
         dict(n_inputs=40, n_classes=12, averaging="all"), _AUTHORS_GSC_TRAIN),
        ("gsc35", "gsc35", "Speech Commands v0.02, 35 words",
         dict(n_inputs=40, n_classes=35, averaging="all"), _AUTHORS_GSC_TRAIN),
        ("gsc_v1", "gsc_v1", "Speech Commands v0.01, 12 classes (10 words, silence, unknown)",
         dict(n_inputs=40, n_classes=12, averaging="all"), _AUTHORS_GSC_TRAIN),
        ("shd", "shd", "Spiking Heidelberg Digits, low-pass filtered spike counts",
         dict(_HD_MODEL, n_inputs=_SHD_CHANNELS), _AUTHORS_HD_TRAIN),
        ("ssc", "ssc", "Spiking Speech Commands (35 words), low-pass filtered spike counts",
         dict(n_inputs=_SHD_CHANNELS, n_classes=35, averaging="second_half"),
         _AUTHORS_HD_TRAIN))
_RECIPES.update({key: recipe for experiment in _PAPER_EXPERIMENTS
                 for key, recipe in _paper_recipes(*experiment).items()})


# FSDD: 10 English digits, 80 HD log-mel bands at 48 kHz, HD's averaging. Training: the
# authors' HD settings with float pre-training (10 float epochs, then 20 quantized) and, at the
# default size, a time stretch of the training batches (TrainConfig.time_stretch: speaking rate
# varied by up to ±20 %), `fsdd` (official split) with twice as many epochs: per protocol, the
# best mean validation accuracy (float and 3-bit, three seeds) of the sweep in
# lprnn.experiments.fsdd_sweep (notebook 09) among settings that fit the reference run. At the
# paper size (full), `fsdd` trains with the same ±20 % stretch at 10 + 20 epochs (twice the
# epochs would take 25–40 min per seed on one core); `fsdd_speakers` without it, as its
# recorded rows were trained.
_FSDD_MODEL = dict(n_inputs=80, n_classes=10, averaging="second_half")
_FSDD_PRETRAINED = dict(_AUTHORS_HD_TRAIN, epochs=20, float_epochs=10)
_FSDD_STRETCHED = dict(_FSDD_PRETRAINED, time_stretch=0.2)
_FSDD_PROTOCOLS = (
    ("fsdd", "FSDD (real speech), official split (index 0-4 test, 5-9 validation)",
     dict(protocol="official"), dict(_FSDD_STRETCHED, epochs=40, float_epochs=20),
     _FSDD_STRETCHED),
    ("fsdd_speakers", "FSDD (real speech), unseen speaker (test theo, validation lucas)",
     dict(protocol="speakers"), dict(_FSDD_STRETCHED), _FSDD_PRETRAINED))


def _fsdd_recipes(name: str, what: str, options: dict[str, Any], default_train: dict[str, Any],
                  full_train: dict[str, Any]) -> dict[tuple[str, str], Recipe]:
    """An FSDD protocol at the three sizes: smoke, the digits default network, the paper's.

    The full size trains the paper network with float pre-training (10 float epochs, then 20
    quantized; ``full_train``): 15–24 s per epoch on one core depending on the machine, 5–12 min
    per model, where the authors' HD schedule (50 epochs and a lottery round) would take
    25–40 min per model.
    """
    return {
        (name, "quick"): Recipe(
            name, "fsdd", f"{what}, smoke size", model=dict(_FSDD_MODEL, **_SMOKE_NETWORK),
            train=dict(_AUTHORS_HD_TRAIN, epochs=1, batch_size=32),
            dataset_options=dict(options, quick=True)),
        (name, "default"): Recipe(
            name, "fsdd", f"{what}, reduced width for 2 CPU cores",
            model=dict(_FSDD_MODEL, **_DIGITS_DEFAULT_NETWORK), train=dict(default_train),
            dataset_options=dict(options)),
        (name, "full"): Recipe(
            name, "fsdd", f"{what}, paper network (80-128-512-512), float pre-training",
            model=dict(_FSDD_MODEL, **_PAPER_NETWORK), train=dict(full_train),
            dataset_options=dict(options)),
    }


_RECIPES.update({key: recipe for protocol in _FSDD_PROTOCOLS
                 for key, recipe in _fsdd_recipes(*protocol).items()})


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
