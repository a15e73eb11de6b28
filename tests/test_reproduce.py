"""The reproduce runner: order, parameters, stop at the first failure, keep its executed copy."""

from __future__ import annotations

import json

import nbformat
import pytest

from lprnn import reproduce


def _notebook(path, *sources, parameters="quick = False\nfull = False"):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# tiny"), cell]
    nb.cells += [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def _logging_cell(log_file, fields: str) -> str:
    """A cell that appends ``dict(fields)`` as one JSON line to ``log_file``."""
    return (f"import json, time\nwith open({str(log_file)!r}, 'a') as f:\n"
            f"    f.write(json.dumps(dict({fields})) + '\\n')")


@pytest.mark.slow
def test_runs_in_order_passes_parameters_and_stops_at_failure(tmp_path):
    log_file = tmp_path / "log.jsonl"
    write = _logging_cell(log_file, "name=NAME, quick=quick, full=full")
    src = tmp_path / "notebooks"
    src.mkdir()
    good = _notebook(src / "01_good.ipynb", "NAME = 'good'", write)
    bad = _notebook(src / "02_bad.ipynb", "NAME = 'bad'", write, "raise ValueError('boom in cell')")
    never = _notebook(src / "03_never.ipynb", "NAME = 'never'", write)
    out = tmp_path / "executed"
    lines = []
    with pytest.raises(reproduce.NotebookFailed) as info:
        reproduce.run_notebooks([good, bad, never], quick=True, output_dir=out, log=lines.append)
    err = info.value
    assert err.notebook == bad and err.executed == out / "02_bad.ipynb"
    assert "ValueError: boom in cell" in str(err) and str(out / "02_bad.ipynb") in str(err)
    assert [r.notebook for r in err.completed] == [good]
    # the failing notebook's executed copy is kept, with the error in the failing cell
    executed = nbformat.read(out / "02_bad.ipynb", as_version=4)
    assert "boom in cell" in err.source
    failing = [c for c in executed.cells if c.get("execution_count") == err.execution_count]
    assert len(failing) == 1 and "boom in cell" in failing[0].source
    assert any(o.get("ename") == "ValueError" for o in failing[0].outputs)
    assert not (out / "03_never.ipynb").exists()
    ran = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert ran == [dict(name="good", quick=True, full=False), dict(name="bad", quick=True, full=False)]
    assert lines[1].startswith("[1/3] 01_good.ipynb") and "ok in" in lines[2]
    assert "FAILED" in lines[-1]
    # sources are never overwritten
    assert nbformat.read(good, as_version=4).cells[2].outputs == []


@pytest.mark.slow
def test_main_full_mode_and_exit_codes(tmp_path, capsys):
    src = tmp_path / "notebooks"
    src.mkdir()
    nb = _notebook(src / "01_ok.ipynb", "assert full and not quick")
    out = tmp_path / "executed"
    assert reproduce.main(["--full", "--no-readme", "--output-dir", str(out), str(nb)]) == 0
    assert (out / "01_ok.ipynb").is_file()
    assert reproduce.main(["--no-readme", "--output-dir", str(out), str(nb)]) == 1
    assert "AssertionError" in capsys.readouterr().err


def test_bad_arguments_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="at most one"):
        reproduce.notebook_parameters(quick=True, full=True)
    assert reproduce.notebook_parameters() == {}
    assert reproduce.notebook_parameters(full=True) == {"full": True}
    with pytest.raises(FileNotFoundError, match="missing.ipynb"):
        reproduce.run_notebooks([tmp_path / "missing.ipynb"], log=lambda _: None)
    (tmp_path / "x.py").write_text("")
    with pytest.raises(ValueError, match="expected a .ipynb"):
        reproduce.run_notebooks([tmp_path / "x.py"], log=lambda _: None)
    with pytest.raises(ValueError, match="no notebooks"):
        reproduce.run_notebooks([], log=lambda _: None)
    nb = _notebook(tmp_path / "01_a.ipynb", "pass")
    with pytest.raises(ValueError, match="source notebooks"):
        reproduce.run_notebooks([nb], output_dir=tmp_path, log=lambda _: None)
    assert reproduce.main(["--no-readme", str(tmp_path / "missing.ipynb")]) == 2
    with pytest.raises(SystemExit):
        reproduce.main(["--quick", "--full", str(nb)])


def test_plan_runs_recipe_notebooks_again_per_recipe_and_results_last(tmp_path):
    names = ["01_sigma_delta_neuron.ipynb", "02_train_lprnn.ipynb", "04_loihi_lava.ipynb",
             "06_baselines.ipynb", "00_results.ipynb"]
    paths = [tmp_path / n for n in names]
    jobs = reproduce.plan(paths, ["fake_a", "fake_b"])
    assert [j.executed_name for j in jobs] == [
        "01_sigma_delta_neuron.ipynb", "02_train_lprnn.ipynb", "04_loihi_lava.ipynb",
        "06_baselines.ipynb", "02_train_lprnn.fake_a.ipynb", "06_baselines.fake_a.ipynb",
        "02_train_lprnn.fake_b.ipynb", "06_baselines.fake_b.ipynb", "00_results.ipynb"]
    assert jobs[4].parameters == {"recipe_name": "fake_a"} and jobs[0].parameters == {}
    assert [j.executed_name for j in reproduce.plan(paths, [])] == names[:4] + names[4:]


def test_the_default_size_reruns_the_headline_notebooks_only(tmp_path):
    names = ["02_train_lprnn.ipynb", "03_ann_to_snn.ipynb", "05_weight_precision.ipynb",
             "06_baselines.ipynb"]
    paths = [tmp_path / n for n in names]
    assert reproduce.speech_notebooks(quick=True) == reproduce.speech_notebooks(full=True) \
        == reproduce.RECIPE_NOTEBOOKS
    jobs = reproduce.plan(paths, ["fake"], reproduce.speech_notebooks())
    assert [j.executed_name for j in jobs][4:] == ["02_train_lprnn.fake.ipynb",
                                                   "03_ann_to_snn.fake.ipynb"]


def test_extra_recipes_skip_with_a_message(monkeypatch):
    lines = []
    monkeypatch.setattr(reproduce, "SPEECH_RECIPES", ("no_such_recipe",))
    assert reproduce.extra_recipes(lines.append) == []
    assert "no_such_recipe" in lines[-1] and "not defined" in lines[-1]
    monkeypatch.setattr(reproduce, "SPEECH_RECIPES", ("digits",))
    monkeypatch.setattr(reproduce, "fsdd_available", lambda: False)
    assert reproduce.extra_recipes(lines.append) == []
    assert "Free Spoken Digit Dataset" in lines[-1]
    monkeypatch.setattr(reproduce, "fsdd_available", lambda: True)
    assert reproduce.extra_recipes(lines.append) == ["digits"]


@pytest.mark.slow
def test_recipe_runs_get_their_parameter_and_their_own_copy(tmp_path, monkeypatch):
    src = tmp_path / "notebooks"
    src.mkdir()
    nb = _notebook(src / "02_train_lprnn.ipynb", "print(recipe_name)",
                   parameters='quick = False\nfull = False\nrecipe_name = "digits"')
    out = tmp_path / "executed"
    runs = reproduce.run_notebooks([nb], quick=True, output_dir=out, recipes=["fake"],
                                   log=lambda _: None)
    assert [r.executed.name for r in runs] == ["02_train_lprnn.ipynb", "02_train_lprnn.fake.ipynb"]
    executed = nbformat.read(out / "02_train_lprnn.fake.ipynb", as_version=4)
    assert any("fake" in o.get("text", "") for c in executed.cells for o in c.get("outputs", []))


def test_several_workers_start_the_longest_first_and_the_results_notebook_last(tmp_path):
    names = ["00_results.ipynb", "01_sigma_delta_neuron.ipynb", "02_train_lprnn.ipynb",
             "03_ann_to_snn.ipynb", "06_baselines.ipynb"]
    jobs = reproduce.plan([tmp_path / n for n in names[1:] + names[:1]], ["fake"],
                          reproduce.speech_notebooks())
    order = [j.executed_name for j in reproduce.schedule(jobs)]
    assert order[:3] == ["06_baselines.ipynb", "03_ann_to_snn.ipynb", "03_ann_to_snn.fake.ipynb"]
    assert order[-1] == "00_results.ipynb" and sorted(order) == sorted(j.executed_name for j in jobs)


def test_the_models_trained_first_are_the_training_notebooks(tmp_path):
    from lprnn.experiments.training import recipes_to_train

    jobs = reproduce.plan([tmp_path / "02_train_lprnn.ipynb", tmp_path / "03_ann_to_snn.ipynb"],
                          ["fsdd_speakers"], reproduce.speech_notebooks())
    recipes = reproduce.models_to_train(jobs, "default")
    # digits: seed 0; the real-speech recipe: three seeds; the float models first
    assert [(r.name, r.train.get("seed", 0), r.model["weight_frac_bits"]) for r in recipes] == [
        (name, seed, bits) for bits in (None, 3)
        for name, seed in [("digits", 0), ("fsdd_speakers", 0), ("fsdd_speakers", 1),
                           ("fsdd_speakers", 2)]]
    assert sorted(map(repr, recipes[1:4] + recipes[5:])) == sorted(
        repr(r) for _, _, r in recipes_to_train("fsdd_speakers", "default"))


def test_workers_must_be_a_positive_integer(tmp_path):
    nb = _notebook(tmp_path / "01_x.ipynb")
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match=rf"workers={bad!r}: expected a positive integer"):
            reproduce.run_notebooks([nb], output_dir=tmp_path / "out", workers=bad,
                                    log=lambda _: None)


@pytest.mark.slow
def test_two_workers_run_every_notebook_once_results_last_and_stop_at_a_failure(tmp_path):
    log_file = tmp_path / "log.jsonl"
    write = _logging_cell(log_file, "name=NAME, t=time.time()")
    src = tmp_path / "notebooks"
    src.mkdir()
    notebooks = [_notebook(src / f"0{i}_n{i}.ipynb", f"NAME = 'n{i}'", "import time; time.sleep(1)",
                           write) for i in (1, 2, 3)]
    notebooks.append(_notebook(src / "00_results.ipynb", "NAME = 'results'", write))
    runs = reproduce.run_notebooks(notebooks, quick=True, output_dir=tmp_path / "out",
                                   workers=2, log=lambda _: None)
    ran = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert sorted(r["name"] for r in ran) == ["n1", "n2", "n3", "results"]
    assert ran[-1]["name"] == "results" and runs[-1].notebook.name == "00_results.ipynb"
    assert len(runs) == 4
    # a failure: the running notebook finishes, no other starts, the results notebook never runs
    log_file.unlink()
    bad = _notebook(src / "01_bad.ipynb", "NAME = 'bad'", write, "raise ValueError('boom')")
    # "slow" outlasts "bad" whatever the kernels' start-up times: it waits for bad's log line,
    # then long enough for the runner to collect bad's failure before its slot frees
    wait_for_bad = (f"import json, pathlib, time\nlog = pathlib.Path({str(log_file)!r})\n"
                    "while not (log.exists() and 'bad' in log.read_text()):\n"
                    "    time.sleep(0.1)\ntime.sleep(10)")
    slow = _notebook(src / "02_slow.ipynb", "NAME = 'slow'", wait_for_bad, write)
    never = _notebook(src / "03_never.ipynb", "NAME = 'never'", write)
    with pytest.raises(reproduce.NotebookFailed, match="ValueError: boom") as info:
        reproduce.run_notebooks([bad, slow, never, notebooks[-1]], quick=True,
                                output_dir=tmp_path / "out2", workers=2, log=lambda _: None)
    assert info.value.notebook == bad
    ran = sorted(json.loads(line)["name"] for line in log_file.read_text().splitlines())
    assert ran == ["bad", "slow"]


@pytest.mark.slow
def test_two_workers_train_the_models_once_in_the_pool_the_notebooks_use(tmp_path, monkeypatch):
    monkeypatch.setenv("LPRNN_DATA_DIR", str(tmp_path / "data"))
    log_file = tmp_path / "log.jsonl"
    src = tmp_path / "notebooks"
    src.mkdir()
    uses_models = ("from lprnn.ann.train import load_or_train\n"
                   "from lprnn.experiments.training import recipes_to_train\n"
                   "CACHED = [load_or_train(r, progress=False)[1]['cached']\n"
                   "          for _, _, r in recipes_to_train('digits', 'quick')]")
    notebooks = [_notebook(src / "02_train_lprnn.ipynb", "NAME = 'train'", uses_models,
                           _logging_cell(log_file, "name=NAME, cached=CACHED")),
                 _notebook(src / "03_other.ipynb", "NAME = 'other'", uses_models,
                           _logging_cell(log_file, "name=NAME, cached=CACHED"))]
    lines = []
    runs = reproduce.run_notebooks(notebooks, quick=True, output_dir=tmp_path / "out",
                                   workers=2, log=lines.append)
    trained = [line for line in lines if line.startswith("[model ")]
    assert len(trained) == 2 and all("digits seed 0" in line and "trained in" in line
                                     for line in trained)
    assert len(list((tmp_path / "data" / "models").glob("*.pt"))) == 2
    # every notebook found both models trained (waiting for one still in training if need be)
    ran = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert sorted(r["name"] for r in ran) == ["other", "train"] and len(runs) == 2
    assert all(r["cached"] == [True, True] for r in ran)
