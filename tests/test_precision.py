"""Notebook 05's fine-tuning: quantized epochs from the trained float model, nothing else."""

from __future__ import annotations

import pytest

from lprnn.experiments import precision


class _Stop(Exception):
    pass


def test_finetuning_runs_no_float_pretraining_again(monkeypatch):
    recipe_for = precision.recipe_for
    # a recipe with float pre-training, as the real-speech recipes have
    monkeypatch.setattr(precision, "recipe_for", lambda name, size, seed=0: recipe_for(
        name, size, seed, float_epochs=2))
    seen = []
    original = precision.train.train

    def spy(model, train_set, val_set, config, progress=True, **kwargs):
        if model.config.weight_frac_bits is None:   # the float model itself, trained first
            return original(model, train_set, val_set, config, progress, **kwargs)
        seen.append(config)
        raise _Stop

    monkeypatch.setattr(precision.train, "train", spy)
    with pytest.raises(_Stop):
        precision.weight_precision("digits", "quick", frac_bits=(3,))
    (config,) = seen
    assert config.float_epochs == 0
    assert config.epochs == precision.FINETUNE_EPOCHS["quick"]
