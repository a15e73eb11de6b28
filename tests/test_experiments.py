"""The experiments layer: notebook parameters, budgets, result rows, and every notebook wired
to its experiments function."""

from __future__ import annotations

import inspect
import math
import re
import types

import nbformat
import pytest

from lprnn import config, experiments
from lprnn.experiments import common

NOTEBOOKS = sorted((config.REPO_ROOT / "notebooks").glob("0[1-9]_*.ipynb"))
CALL = re.compile(r"lprnn\.experiments\.(\w+)\(\*\*lprnn\.experiments\.notebook_parameters\(\s*"
                  r"globals\(\), lprnn\.experiments\.(\w+)\)\)")


def test_unknown_parameter_is_named_with_the_valid_ones():
    namespace = dict(quick=True, full=False, recipe_nme="fsdd", _private=1, types=types,
                     In=[], helper=lambda: None)
    with pytest.raises(ValueError, match=r"unknown notebook parameter\(s\) \['recipe_nme'\]") as err:
        experiments.check_parameters(namespace, ["quick", "full", "recipe_name"])
    assert "['full', 'quick', 'recipe_name']" in str(err.value)
    assert experiments.check_parameters(dict(quick=True, types=types), ["quick"]) == {"quick": True}


def test_notebook_parameters_become_the_call_and_the_run_size():
    def experiment(recipe_name="digits", size="default", seeds=(0,), steps_per_ann_step=None):
        pass

    kwargs = experiments.notebook_parameters(
        dict(quick=True, full=False, recipe_name="x", steps_per_ann_step=7), experiment)
    assert kwargs == dict(recipe_name="x", steps_per_ann_step=7, size="quick")
    assert experiments.notebook_parameters(dict(quick=False, full=True), experiment)["size"] == "full"
    with pytest.raises(ValueError, match="size"):
        experiments.notebook_parameters(dict(quick=False, size="full"), experiment)
    with pytest.raises(ValueError, match="frontier_recipes"):
        experiments.notebook_parameters(dict(quick=False, frontier_recipes=None), experiment)


def test_smoke_mode_never_overrides_a_passed_value():
    quick = common.resolve("quick", steps_per_ann_step=10, test_samples=None, lava_samples=5)
    assert quick.steps_per_ann_step == 10 and quick.lava_samples == 5
    assert quick.test_samples == experiments.budget("quick").test_samples
    assert common.resolve("default", steps_per_ann_step=None).steps_per_ann_step == 10
    with pytest.raises(ValueError, match="run size 'huge'"):
        experiments.budget("huge")


def test_one_seed_proportion_gets_its_wilson_interval():
    row = common.summary_row("e", "d", "m", "accuracy", [0.9], seeds=(0,), size="default",
                             n_clips=100, proportion=True)
    z = 1.959963984540054
    p, n = 0.9, 100
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert row["value"] == 0.9 and row["seeds"] == "0" and row["n_clips"] == 100
    assert row["ci_low"] == pytest.approx(centre - half) and row["ci_high"] == pytest.approx(centre + half)


def test_several_seeds_get_mean_spread_and_t_interval():
    row = common.summary_row("e", "d", "m", "accuracy", [0.8, 0.9, 1.0], seeds=(0, 1, 2),
                             size="default", n_clips=100, proportion=True)
    half = 4.302652729911275 * 0.1 / math.sqrt(3)   # t(0.975, 2 dof) · s / √n
    assert row["value"] == pytest.approx(0.9) and row["std"] == pytest.approx(0.1)
    # a proportion's interval is clipped to [0, 1]; another number's is not
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((0.9 - half, 1.0))
    assert row["seeds"] == "0,1,2"
    other = common.summary_row("e", "d", "m", "loss", [0.8, 0.9, 1.0], seeds=(0, 1, 2),
                               size="default")
    assert (other["ci_low"], other["ci_high"]) == pytest.approx((0.9 - half, 0.9 + half))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_parameters_are_its_experiments_arguments(notebook):
    """papermill reads exactly the experiment's arguments (plus quick/full) from the parameters
    cell, and the notebook makes one call of that experiment."""
    papermill = pytest.importorskip("papermill")
    nb = nbformat.read(notebook, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    calls = CALL.findall(code)
    assert len(calls) == 1 and calls[0][0] == calls[0][1], calls
    function = getattr(experiments, calls[0][0])
    expected = {n for n in inspect.signature(function).parameters if n != "size"} | {"quick", "full"}
    declared = set(papermill.inspect_notebook(str(notebook)))
    assert declared <= expected, declared - expected
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assigned = {line.split("=")[0].strip() for line in cell.source.splitlines()
                if "=" in line and not line.startswith(("#", " "))}
    assert assigned == declared
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")


@pytest.mark.slow
def test_sigma_delta_encoding_returns_tables_and_rows():
    result = experiments.sigma_delta_encoding(size="quick", steps_sweep=(2,), threshold_sweep=(0.0,))
    assert list(result.tables["by_steps"].k) == [2, 2]
    assert {r["metric"] for r in result.rows} >= {"rmse_k2", "spikes_per_s_k2", "rmse_theta0_k10"}
    assert all({"experiment", "dataset", "model", "metric", "value"} <= set(r) for r in result.rows)


@pytest.mark.slow
def test_a_misspelt_papermill_parameter_fails_the_notebook(tmp_path):
    papermill = pytest.importorskip("papermill")
    nb = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell("quick = False\nfull = False\nrecipe_name = \"digits\"")
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [parameters, nbformat.v4.new_code_cell(
        "import lprnn.experiments\n"
        "lprnn.experiments.check_parameters(globals(), ['quick', 'full', 'recipe_name'])")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    source = tmp_path / "typo.ipynb"
    nbformat.write(nb, source)
    with pytest.raises(papermill.PapermillExecutionError, match=r"\['recipe_nam'\]"):
        papermill.execute_notebook(str(source), str(tmp_path / "out.ipynb"),
                                   parameters={"recipe_nam": "fsdd"}, progress_bar=False,
                                   kernel_name="python3", cwd=str(tmp_path))
    papermill.execute_notebook(str(source), str(tmp_path / "ok.ipynb"), progress_bar=False,
                               parameters={"recipe_name": "fsdd"}, kernel_name="python3",
                               cwd=str(tmp_path))


def test_the_real_speech_recipes_get_three_seeds_others_one():
    from lprnn.experiments.common import check_seeds, seeds_for

    assert seeds_for("fsdd_speakers", "default") == seeds_for("fsdd", "full") == (0, 1, 2)
    assert seeds_for("fsdd_speakers", "quick") == seeds_for("digits", "default") == (0,)
    assert check_seeds(None, "fsdd", "default") == (0, 1, 2)
    assert check_seeds([3, 4]) == (3, 4)
    with pytest.raises(ValueError, match="seeds=None needs a recipe_name"):
        check_seeds(None)
    with pytest.raises(ValueError, match="run size 'medium'"):
        seeds_for("fsdd", "medium")


def test_each_run_of_a_recipe_notebook_keeps_its_own_figure(tmp_path, monkeypatch):
    from lprnn.experiments import figure_path

    monkeypatch.setenv("LPRNN_FIGURES_DIR", str(tmp_path))
    assert figure_path("02_training_curves") == tmp_path / "02_training_curves.png"
    assert figure_path("02_training_curves", "fsdd_speakers").name == \
        "02_training_curves.fsdd_speakers.png"
    assert figure_path("02_training_curves", "fsdd_speakers", full=True).name == \
        "02_training_curves.fsdd_speakers.full.png"
    assert figure_path("03_x", quick=True, full=True).name == "03_x.quick.png"
    with pytest.raises(ValueError, match="unknown recipe 'nope'"):
        figure_path("02_training_curves", "nope")
