"""The FSDD sweep: candidate recipes, one row per trained model, the summary over seeds."""

from __future__ import annotations

import pytest

from lprnn.ann.recipes import get_recipe
from lprnn.ann.train import TrainConfig
from lprnn.experiments import fsdd_sweep


def test_candidate_recipes_change_only_what_they_name():
    base = get_recipe("fsdd_speakers")
    float_model = fsdd_sweep.candidate_recipe(base, fsdd_sweep.CANDIDATES["narrowband"],
                                              "float", 0)
    assert float_model.model == dict(base.model, weight_frac_bits=None)
    assert float_model.dataset_options == dict(protocol="speakers", frontend="narrowband")
    assert float_model.train == dict(base.train, epochs=20, float_epochs=0, time_stretch=0.0)
    # the authors' settings do not inherit the recipe's time stretch (nor its epochs)
    assert base.train["time_stretch"] > 0
    for protocol in ("fsdd", "fsdd_speakers"):
        authors = fsdd_sweep.candidate_recipe(get_recipe(protocol),
                                              fsdd_sweep.CANDIDATES["authors"], "3-bit", 0)
        assert TrainConfig.from_dict(authors.train).augmentation.active is False
        assert authors.train["epochs"] == 20 and authors.train["float_epochs"] == 0
    seeded = fsdd_sweep.candidate_recipe(base, {}, "3-bit", 2)
    assert seeded.train == dict(base.train, seed=2) and seeded.model == base.model
    assert fsdd_sweep.candidate_recipe(base, {}, "3-bit", 0) == base
    for overrides in fsdd_sweep.CANDIDATES.values():  # every candidate is a valid config
        TrainConfig.from_dict(fsdd_sweep.candidate_recipe(base, overrides, "3-bit", 0).train)
    with pytest.raises(ValueError, match="weights '2-bit'"):
        fsdd_sweep.candidate_recipe(base, {}, "2-bit", 0)
    with pytest.raises(ValueError, match=r"candidate overrides \['dataset'\]"):
        fsdd_sweep.candidate_recipe(base, {"dataset": {}}, "3-bit", 0)


def test_run_sweep_rows_and_summary(monkeypatch):
    trained = []

    def fake_load_or_train(recipe, progress):
        trained.append(recipe)
        bits = recipe.model["weight_frac_bits"]
        seed = recipe.train.get("seed", 0)
        test = 0.8 + 0.01 * seed - (0.05 if bits == 3 else 0.0)
        return None, dict(best_val_accuracy=test - 0.1, test_accuracy=test, best_epoch=3,
                          train_seconds=1.0, cached=False, checkpoint=f"/m/{len(trained)}.pt")

    monkeypatch.setattr(fsdd_sweep, "load_or_train", fake_load_or_train)
    frame = fsdd_sweep.run_sweep(["authors", "recipe"], seeds=(0, 2), threads=None)
    assert len(frame) == len(trained) == 8
    assert list(frame.columns[:5]) == ["candidate", "weights", "seed", "val_accuracy",
                                       "test_accuracy"]
    summary = fsdd_sweep.summarize(frame).set_index(["candidate", "weights"])
    assert summary.loc[("authors", "3-bit"), "test_mean"] == pytest.approx(0.76)
    assert summary.loc[("authors", "3-bit"), "test_std"] == pytest.approx(0.02 / 2 ** 0.5)
    assert summary.loc[("recipe", "float"), "seeds"] == 2
    assert summary.loc[("recipe", "3-bit"), "gap_3bit_minus_float"] == pytest.approx(-0.05)
    with pytest.raises(ValueError, match="unknown candidate 'magic'"):
        fsdd_sweep.run_sweep(["magic"])


def test_the_notebook_experiment_rows_and_its_skip_without_the_data(monkeypatch, capsys):
    def fake_load_or_train(recipe, progress):
        seed = recipe.train.get("seed", 0)
        return None, dict(best_val_accuracy=0.7, test_accuracy=0.8 + 0.02 * seed, best_epoch=1,
                          train_seconds=1.0, cached=True, checkpoint="/m/x.pt")

    monkeypatch.setattr(fsdd_sweep, "load_or_train", fake_load_or_train)
    monkeypatch.setattr(fsdd_sweep.fsdd, "available", lambda root=None: True)
    result = fsdd_sweep.fsdd_generalization(size="default", candidates=["recipe"], seeds=[0, 1],
                                            weights=["3-bit"])
    (row,) = result.rows
    assert row["model"] == "recipe 3-bit" and row["seeds"] == "0,1"
    assert row["value"] == pytest.approx(0.81) and row["std"] == pytest.approx(0.02 / 2 ** 0.5)
    monkeypatch.setattr(fsdd_sweep.fsdd, "available", lambda root=None: False)
    assert fsdd_sweep.fsdd_generalization(size="quick") is None
    assert "Free Spoken Digit Dataset is not in" in capsys.readouterr().out
    with pytest.raises(ValueError, match="run size 'tiny'"):
        fsdd_sweep.fsdd_generalization(size="tiny")
