"""The accuracy–energy frontier: Pareto flags, post-training re-quantization, one tiny sweep."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from lprnn.ann.model import LpRNNClassifier, ModelConfig
from lprnn.datasets import fsdd
from lprnn.experiments import energy_frontier as ef
from lprnn.snn import energy


def test_pareto_front_by_hand():
    # (energy, accuracy): b dominates d (cheaper and as accurate); a, b, c trade off; e ties b
    energies = [1.0, 2.0, 4.0, 3.0, 2.0]
    accuracy = [0.5, 0.8, 0.9, 0.8, 0.8]
    assert ef.pareto_front(energies, accuracy).tolist() == [True, True, True, False, True]
    with pytest.raises(ValueError, match="equal 1-D"):
        ef.pareto_front([1.0], [0.5, 0.6])


def test_points_and_requantization():
    points = ef.default_points()
    assert len(points) == len(set(points))
    assert {p.input_coding for p in points} == set(ef.INPUT_CODINGS)
    assert {p.weight_bits for p in points} == {2, 3}
    with pytest.raises(ValueError, match="input_coding='spikes'"):
        ef.FrontierPoint(4, "spikes")
    torch.manual_seed(0)
    model = LpRNNClassifier(ModelConfig(n_inputs=4, ff_size=5, rnn_sizes=(6,), n_classes=3))
    assert ef.requantized(model, 3) is model
    coarse = ef.requantized(model, 2)
    weights = coarse.effective_parameters()["lpff.linear.weight"]
    torch.testing.assert_close(weights * 4, torch.round(weights * 4))   # multiples of 1/4
    latent = model.lpff.linear.weight.detach()
    torch.testing.assert_close(weights, torch.round(torch.clamp(latent, -2, 2 - 0.25) * 4) / 4)


def test_tiny_frontier_and_target():
    torch.manual_seed(0)
    model = LpRNNClassifier(ModelConfig(n_inputs=4, ff_size=6, rnn_sizes=(8,), n_classes=3)).eval()
    x, labels = torch.randn(6, 12, 4), torch.randint(0, 3, (6,))
    points = [ef.FrontierPoint(2), ef.FrontierPoint(6), ef.FrontierPoint(6, "sigma_delta",
                                                                         encoder_time_constant=1.0)]
    table = ef.frontier(model, x, labels, x, points)
    assert len(table) == 3 and table["pareto"].any() and (table["chance"] == 1 / 3).all()
    assert set(table["basis"]) == {energy.ESTIMATE_LABEL}
    # energy terms add up; the dense-M4 ratio is the M4 energy over the total
    np.testing.assert_allclose(table[["synaptic_uJ", "neuron_uJ", "spike_uJ"]].sum(axis=1),
                               table["energy_uJ"])
    np.testing.assert_allclose(table["ratio_m4_dense"], table["m4_dense_uJ"] / table["energy_uJ"])
    # more SNN steps, more neuron updates: 3x the steps, 3x the updates
    assert table.loc[1, "neuron_updates"] == 3 * table.loc[0, "neuron_updates"]
    assert table.loc[2, "input_synaptic_ops"] < table.loc[1, "input_synaptic_ops"]
    found = ef.target_point(table, min_ratio=0.0, max_accuracy_drop=1.0)
    assert found["found"] and len(found["points"]) == 3
    none = ef.target_point(table, min_ratio=1e9)
    assert not none["found"] and np.isnan(none["best_accuracy_at_ratio"])


def test_frontier_prices_binary_spikes_whatever_the_mapper_default(monkeypatch):
    """The per-operation energies are Loihi 1's, whose spikes are binary: every frontier point
    maps with energy.PRICED_MAPPING (binary spikes, truncated decays), not the mapper's Loihi 2
    defaults."""
    mapped = []

    def spy(*args, **kwargs):
        network = ef_map_network(*args, **kwargs)
        mapped.append((network.spike_bits, network.metadata["decay_rounding"]))
        return network

    ef_map_network = ef.map_network
    monkeypatch.setattr(ef, "map_network", spy)
    torch.manual_seed(0)
    model = LpRNNClassifier(ModelConfig(n_inputs=4, ff_size=6, rnn_sizes=(8,), n_classes=3)).eval()
    x, labels = torch.randn(4, 8, 4), torch.randint(0, 3, (4,))
    ef.frontier(model, x, labels, x, [ef.FrontierPoint(2), ef.FrontierPoint(4, "sigma_delta")])
    assert mapped == [(1, "truncate")] * 2
    default = ef_map_network(model, 2, calibration=x)                # the mapper's defaults
    assert (default.spike_bits, default.metadata["decay_rounding"]) == (3, "nearest")


def test_rows_for_pareto_points_and_figure():
    table = pd.DataFrame(dict(
        recipe="digits", seed=0, label=["a", "b"], pareto=[True, False],
        snn_accuracy=[0.75, 0.5], n_clips=[4, 4], agreement=[1.0, 0.5], energy_uJ=[1.0, 2.0],
        ratio_m4_dense=[10.0, 5.0], ratio_m4_sparse=[5.0, 2.5], neuron_fraction=[0.1, 0.2],
        input_coding=["graded", "sigma_delta"], steps_per_ann_step=[2, 4],
        reference_ann_accuracy=0.8, m4_dense_uJ=20.0, chance=0.05))
    rows = ef._front_rows(table, "digits", seed=0, size="quick")
    assert {r["model"] for r in rows} == {"lpRNN → SNN | a"}
    near = ef._front_rows(table.assign(snn_accuracy=[0.075, 0.5]), "digits", 0, "quick")
    assert {r["model"] for r in near} == {"lpRNN → SNN | a (near chance: chance level 0.05)"}
    accuracy = next(r for r in rows if r["metric"] == "snn_accuracy")
    assert accuracy["ci_low"] < 0.75 < accuracy["ci_high"] and accuracy["n_clips"] == 4
    assert accuracy["dataset"] == "digits" and accuracy["run_size"] == "quick"
    assert {r["metric"] for r in rows} >= {"energy_uJ_estimate", "ratio_m4_dense_estimate"}
    fig = ef.plot_frontier(table)
    assert len(fig.axes) == 1


@pytest.mark.slow
def test_experiments_return_tables_and_rows():
    result = ef.energy_frontier(("digits",), size="quick")
    assert len(result.tables["frontier"]) == len(ef.QUICK_POINTS)
    assert list(result.tables["target"].recipe) == ["digits"]
    assert result.rows and all(r["dataset"] == "digits" and r["run_size"] == "quick"
                               and r["n_clips"] == ef.QUICK_SAMPLES for r in result.rows)
    coded = ef.input_coding_and_reconciliation("digits", size="quick")
    assert len(coded.tables["input_coding"]) == 2
    assert set(coded.tables["reconciliation"]["chip"]) == {
        energy.LOIHI1.label, energy.LOIHI2.label, energy.EVENT_DRIVEN.label}
    assert {r["experiment"] for r in coded.rows} == {"energy_input_coding", "energy_reconciliation"}
    assert all(r["metric"].endswith("_estimate") for r in coded.rows
               if r["experiment"] == "energy_reconciliation")


def test_frontier_recipes_follow_the_notebook_recipe(monkeypatch):
    monkeypatch.setattr(fsdd, "available", lambda: True)
    assert ef.frontier_recipes() == ["fsdd_speakers", "digits"]
    assert ef.frontier_recipes("fsdd_speakers") == ["fsdd_speakers"]
    monkeypatch.setattr(fsdd, "available", lambda: False)
    assert ef.frontier_recipes("digits") == ["digits"]

    class FirstRecipe(Exception):
        pass

    def first_recipe(name, *args):
        raise FirstRecipe(name)

    monkeypatch.setattr(ef, "recipe_for", first_recipe)   # the frontier's default starts here
    with pytest.raises(FirstRecipe, match="^fsdd$"):
        ef.energy_frontier(size="quick", recipe_name="fsdd")


@pytest.mark.slow
@pytest.mark.skipif(not fsdd.available(), reason="the Free Spoken Digit Dataset is not at hand")
def test_a_recipe_frontier_does_not_depend_on_the_others():
    """The README regenerates a recipe's frontier rows from a run on that recipe alone."""
    alone = ef.energy_frontier(["digits"], size="quick")
    with_another = ef.energy_frontier(["fsdd_speakers", "digits"], size="quick")
    assert [r for r in with_another.rows if r["dataset"] == "digits"] == alone.rows
    assert any(r["dataset"] == "fsdd_speakers" for r in with_another.rows)
