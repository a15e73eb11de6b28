"""Run the notebooks in order with papermill: what ``make reproduce`` calls.

    python -m lprnn.reproduce [--quick | --full] notebooks/01_....ipynb ... notebooks/00_results.ipynb

Each notebook is executed with papermill's Python API on the current environment's
``python3`` kernel, from the ``notebooks/`` folder, into ``build/executed/<name>.ipynb``
(never over the source notebook). When the Free Spoken Digit Dataset is present
(:func:`fsdd_available`) and its recipes exist, the notebooks of :func:`speech_notebooks` run
again with ``recipe_name`` set to each of :data:`SPEECH_RECIPES`, into
``build/executed/<name>.<recipe>.ipynb``; otherwise a message says why they are skipped. ``--quick`` passes the papermill parameter ``quick=True``
(smoke sizes, seconds per notebook), ``--full`` passes ``full=True`` (paper-size runs); with
neither, each notebook's own defaults apply (the ``make reproduce`` size, or smoke mode when
``LPRNN_QUICK=1`` is set).

A progress line per notebook gives its wall time and the elapsed total. The run stops at the
first failing notebook: it prints the failing cell's error and keeps the executed copy (with
the traceback in it) for inspection. Numbers go to ``figures/results.csv`` through
:mod:`lprnn.results`, whose writes are atomic, so an interrupted run never leaves a
half-written table; after a fully successful run, the rows of the notebooks run that the run
did not record again are dropped as stale (:func:`lprnn.results.drop_stale`), and the README
results table is regenerated from the results table (:mod:`lprnn.readme_table`) if the run
wrote the repository's own ``figures/results.csv``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lprnn import config, results

KERNEL_NAME = "python3"
# The notebooks that take ``recipe_name``, and the recipes they are run again on (besides the
# notebooks' default, the built-in digits) when the real speech data is present.
RECIPE_NOTEBOOKS = ("02_train_lprnn.ipynb", "03_ann_to_snn.ipynb", "05_weight_precision.ipynb",
                    "06_baselines.ipynb")
SPEECH_RECIPES = ("fsdd", "fsdd_speakers")
# At the default size the speech reruns are the headline (training, and the mapping's accuracy)
# so that the reference run fits its time on 2 CPU cores; smoke and full runs take them all.
DEFAULT_SPEECH_NOTEBOOKS = ("02_train_lprnn.ipynb", "03_ann_to_snn.ipynb")
RESULTS_NOTEBOOK = "00_results.ipynb"


def fsdd_available() -> bool:
    """Whether the Free Spoken Digit Dataset is at hand: ``DATA/fsdd`` or ``../shared/datasets/fsdd``."""
    return any((root / "recordings").is_dir() for root in (
        config.data_dir() / "fsdd", config.REPO_ROOT.parent / "shared" / "datasets" / "fsdd"))


def extra_recipes(log: Callable[[str], None] = print) -> list[str]:
    """The recipes of :data:`SPEECH_RECIPES` to run :data:`RECIPE_NOTEBOOKS` on; empty (with a
    message saying why) when the data or the recipes are missing."""
    from lprnn.ann.recipes import recipe_names

    missing = [r for r in SPEECH_RECIPES if r not in recipe_names()]
    if missing:
        log(f"reproduce: skipping the real-speech runs: recipes {missing} are not defined")
        return []
    if not fsdd_available():
        log("reproduce: skipping the real-speech runs: the Free Spoken Digit Dataset is not in "
            f"{config.data_dir() / 'fsdd'} or ../shared/datasets/fsdd (see the README, Datasets)")
        return []
    return list(SPEECH_RECIPES)


@dataclass(frozen=True)
class NotebookJob:
    """One execution: a notebook, the extra papermill parameters, the executed copy's name."""

    notebook: Path
    parameters: dict
    executed_name: str


def speech_notebooks(quick: bool = False, full: bool = False) -> tuple[str, ...]:
    """The recipe notebooks rerun on the speech recipes: all of :data:`RECIPE_NOTEBOOKS` for
    smoke and full runs, :data:`DEFAULT_SPEECH_NOTEBOOKS` at the default size."""
    return RECIPE_NOTEBOOKS if quick or full else DEFAULT_SPEECH_NOTEBOOKS


def plan(notebooks: Sequence[Path], recipes: Sequence[str],
         recipe_notebooks: Sequence[str] = RECIPE_NOTEBOOKS) -> list[NotebookJob]:
    """Every notebook as given; then each of ``recipe_notebooks`` among them again per recipe
    (``recipe_name=...``, executed as ``NN_topic.<recipe>.ipynb``); the results notebook
    last."""
    last = [p for p in notebooks if p.name == RESULTS_NOTEBOOK]
    first = [p for p in notebooks if p.name != RESULTS_NOTEBOOK]
    jobs = [NotebookJob(p, {}, p.name) for p in first]
    jobs += [NotebookJob(p, {"recipe_name": recipe}, f"{p.stem}.{recipe}.ipynb")
             for recipe in recipes for p in first if p.name in recipe_notebooks]
    return jobs + [NotebookJob(p, {}, p.name) for p in last]


def executed_dir() -> Path:
    """Where executed copies of the notebooks go (``build/executed``, git-ignored)."""
    return config.REPO_ROOT / "build" / "executed"


@dataclass(frozen=True)
class NotebookRun:
    """One executed notebook: where its executed copy is and how long it took."""

    notebook: Path
    executed: Path
    seconds: float


class NotebookFailed(RuntimeError):
    """A notebook raised: names the notebook, the failing cell and the kept executed copy."""

    def __init__(self, notebook: Path, executed: Path, execution_count: int | None,
                 source: str, error: str, completed: list[NotebookRun]):
        self.notebook, self.executed, self.error = notebook, executed, error
        self.execution_count, self.source, self.completed = execution_count, source, completed
        where = f"cell In [{execution_count}]" if execution_count else "a cell"
        super().__init__(f"{notebook.name} failed in {where}: {error}\n"
                         f"executed copy kept for inspection: {executed}")


def notebook_parameters(quick: bool = False, full: bool = False) -> dict[str, bool]:
    """Papermill parameters for a run size: ``{"quick": True}``, ``{"full": True}`` or ``{}``."""
    if quick and full:
        raise ValueError("quick=True and full=True together: expected at most one of "
                         "--quick (smoke sizes) and --full (paper sizes)")
    return {"quick": True} if quick else ({"full": True} if full else {})


def _check_notebooks(notebooks: Sequence[str | Path]) -> list[Path]:
    if not notebooks:
        raise ValueError("no notebooks given: expected one or more notebooks/NN_topic.ipynb")
    paths = []
    for notebook in notebooks:
        path = Path(notebook)
        if path.suffix != ".ipynb":
            raise ValueError(f"{notebook}: expected a .ipynb notebook")
        if not path.is_file():
            raise FileNotFoundError(f"notebook {path} not found")
        paths.append(path.resolve())
    return paths


def run_notebooks(notebooks: Sequence[str | Path], *, quick: bool = False, full: bool = False,
                  output_dir: str | Path | None = None, kernel_name: str = KERNEL_NAME,
                  recipes: Sequence[str] = (),
                  log: Callable[[str], None] = print) -> list[NotebookRun]:
    """Execute ``notebooks`` in the given order, and those of :data:`RECIPE_NOTEBOOKS` again on
    each of ``recipes`` (:func:`plan`); stop at the first failure.

    Returns one :class:`NotebookRun` per notebook. Raises :class:`NotebookFailed` (with the
    failing cell's error and the path of the kept executed copy) when a notebook raises;
    the notebooks after it are not run.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    paths = _check_notebooks(notebooks)
    jobs = plan(paths, recipes, speech_notebooks(quick, full))
    parameters = notebook_parameters(quick, full)
    out = Path(output_dir) if output_dir is not None else executed_dir()
    out.mkdir(parents=True, exist_ok=True)
    if any(out.resolve() == p.parent for p in paths):
        raise ValueError(f"output_dir {out} holds the source notebooks: executed copies "
                         "must go elsewhere (default build/executed)")
    size = "quick" if quick else ("full" if full else "notebook defaults")
    log(f"reproduce: {len(jobs)} notebook runs ({size}) -> {out}")
    runs: list[NotebookRun] = []
    start = time.perf_counter()
    for i, job in enumerate(jobs, 1):
        path, executed = job.notebook, out / job.executed_name
        label = executed.name
        log(f"[{i}/{len(jobs)}] {label} ...")
        t0 = time.perf_counter()
        try:
            papermill.execute_notebook(
                str(path), str(executed), parameters={**parameters, **job.parameters},
                kernel_name=kernel_name,
                cwd=str(path.parent), progress_bar=False, log_output=False)
        except PapermillExecutionError as err:
            seconds = time.perf_counter() - t0
            log(f"[{i}/{len(jobs)}] {label} FAILED after {seconds:.1f} s "
                f"(elapsed {time.perf_counter() - start:.1f} s)")
            raise NotebookFailed(path, executed, err.exec_count, err.source,
                                 f"{err.ename}: {err.evalue}", runs) from None
        seconds = time.perf_counter() - t0
        runs.append(NotebookRun(path, executed, seconds))
        log(f"[{i}/{len(jobs)}] {label} ok in {seconds:.1f} s "
            f"(elapsed {time.perf_counter() - start:.1f} s)")
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lprnn.reproduce",
        description="Execute notebooks in order with papermill (executed copies in build/executed).")
    parser.add_argument("notebooks", nargs="+", help="notebooks to run, in order")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smoke sizes (papermill quick=True)")
    size.add_argument("--full", action="store_true", help="paper sizes (papermill full=True)")
    parser.add_argument("--output-dir", type=Path, default=None,
                        help="where executed copies go (default build/executed)")
    parser.add_argument("--digits-only", action="store_true",
                        help="skip the real-speech runs (recipes fsdd, fsdd_speakers)")
    parser.add_argument("--no-readme", action="store_true",
                        help="do not regenerate the README results table afterwards")
    args = parser.parse_args(argv)
    # Rows this run records are noted under its id; after a fully successful run the rows of
    # its notebooks that it did not record again are stale and dropped (lprnn.results).
    run_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
    previous_run_id = os.environ.get(results.RUN_ID_ENV)
    os.environ[results.RUN_ID_ENV] = run_id
    try:
        recipes = [] if args.digits_only else extra_recipes()
        runs = run_notebooks(args.notebooks, quick=args.quick, full=args.full,
                             output_dir=args.output_dir, recipes=recipes)
    except (NotebookFailed, ValueError, FileNotFoundError) as err:
        results.run_keys_path(run_id).unlink(missing_ok=True)
        print(f"reproduce: stopped. {err}" if isinstance(err, NotebookFailed)
              else f"reproduce: {err}", file=sys.stderr)
        return 1 if isinstance(err, NotebookFailed) else 2
    finally:
        if previous_run_id is None:
            os.environ.pop(results.RUN_ID_ENV, None)
        else:
            os.environ[results.RUN_ID_ENV] = previous_run_id
    rerun = speech_notebooks(args.quick, args.full) if recipes else ()
    dropped = results.drop_stale(run_id, [Path(n).name for n in args.notebooks],
                                 spare=[(nb, r) for nb in RECIPE_NOTEBOOKS for r in SPEECH_RECIPES
                                        if nb not in rerun])
    print(f"reproduce: {len(runs)} notebooks ok in {sum(r.seconds for r in runs):.1f} s; "
          f"results in {config.results_csv()} ({len(dropped)} stale rows dropped)")
    if not args.no_readme:
        _update_readme_table()
    return 0


def _update_readme_table() -> None:
    """Regenerate the README table when this run wrote the repository's own results table."""
    from lprnn import readme_table

    if config.results_csv() != readme_table.repository_results_csv():
        print(f"reproduce: README table left as is (results went to {config.results_csv()}, "
              f"not {readme_table.repository_results_csv()})")
        return
    changed = readme_table.write_readme()
    print(f"reproduce: README results table {'updated' if changed else 'already up to date'}")


if __name__ == "__main__":
    sys.exit(main())
