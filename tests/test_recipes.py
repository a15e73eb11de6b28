"""Recipes: the authors' settings per paper experiment, at every run size."""

from __future__ import annotations

import pytest

from lprnn.ann.model import ModelConfig
from lprnn.ann.recipes import SIZES, get_recipe, recipe_names, run_size

PAPER = ("hd", "gsc12", "gsc35", "gsc_v1", "shd", "ssc")


def test_names() -> None:
    assert recipe_names() == sorted(["digits", "fsdd", "fsdd_speakers", *PAPER])


@pytest.mark.parametrize("name", recipe_names())
@pytest.mark.parametrize("size", SIZES)
def test_every_recipe_builds_a_model_config(name: str, size: str) -> None:
    recipe = get_recipe(name, size)
    assert recipe.name == name
    ModelConfig.from_dict(recipe.model)  # every model option is a real one
    assert recipe.train["epochs"] >= 1


def test_authors_settings_at_full_size() -> None:
    hd = get_recipe("hd", "full")
    assert hd.dataset == "hd"
    assert hd.model == dict(n_inputs=80, n_classes=20, averaging="second_half", ff_size=128,
                            rnn_sizes=(512, 512), retention_ratio=0.8, a_max=6.0,
                            weight_frac_bits=3)
    assert hd.train == dict(epochs=50, batch_size=64, lr=1e-3, clip_norm=2.0, clip_value=2.0,
                            plateau_factor=0.5, plateau_patience=3, lottery_rounds=1)
    for name, dataset, n_classes in (("gsc12", "gsc", 12), ("gsc35", "gsc35", 35),
                                     ("gsc_v1", "gsc_v1", 12)):
        recipe = get_recipe(name, "full")
        assert recipe.dataset == dataset
        assert (recipe.model["n_inputs"], recipe.model["n_classes"]) == (40, n_classes)
        assert recipe.model["averaging"] == "all"
        assert (recipe.train["batch_size"], recipe.train["clip_norm"],
                recipe.train["clip_value"], recipe.train["epochs"]) == (128, 1.0, 1.0, 50)
    assert get_recipe("shd", "full").model["n_inputs"] == 700
    assert get_recipe("ssc", "full").model["n_classes"] == 35


def test_smaller_sizes_keep_the_task() -> None:
    for name in PAPER:
        full, default, quick = (get_recipe(name, s) for s in ("full", "default", "quick"))
        for key in ("n_inputs", "n_classes", "averaging"):
            assert quick.model[key] == default.model[key] == full.model[key]
        assert default.model == full.model and default.train["epochs"] < full.train["epochs"]
        assert quick.dataset_options == {"quick": True}
        assert quick.train["epochs"] == 1


def test_digits_recipes_unchanged() -> None:
    assert get_recipe().name == "digits"
    assert get_recipe("digits", "default").model["rnn_sizes"] == (128, 128)
    assert get_recipe("digits", "quick").dataset_options == {"quick": True}


def test_bad_names() -> None:
    with pytest.raises(ValueError, match="unknown recipe 'gsc'"):
        get_recipe("gsc", "full")
    with pytest.raises(ValueError, match="run size 'huge'"):
        get_recipe("hd", "huge")
    assert run_size(True, True) == "quick" and run_size(False, True) == "full"
