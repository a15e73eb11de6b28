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

With ``--workers N`` (default: 2, or the number of cores if fewer) the run uses N processes
on N cores, each with one torch thread (``OMP_NUM_THREADS=1`` unless set, the thread policy of
:mod:`lprnn.core.threads`): first every model notebook 02 trains
(:func:`lprnn.experiments.training.recipes_to_train`, cached by
:func:`lprnn.ann.train.load_or_train`) is trained, N at a time; then the notebooks run N at a
time, the longest first (:data:`LONGEST_FIRST`), starting as soon as the last models leave a
worker free, and the results notebook last, alone; each
kernel's own messages go to ``<name>.kernel.log`` beside its executed copy. Models that two
notebooks need are trained once (a lock per checkpoint). ``--workers 1`` runs
everything in order in one process.

A progress line per notebook gives its wall time and the elapsed total. The run stops at the
first failing notebook (with several workers: no new notebook starts, the running ones
finish): it prints the failing cell's error and keeps the executed copy (with the traceback in
it) for inspection. Numbers go to ``figures/results.csv`` through
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
TRAINING_NOTEBOOK = "02_train_lprnn.ipynb"
# With several workers, the notebooks start in this order (the longest first, measured in the
# reference run), then the others in plan order.
LONGEST_FIRST = ("06_baselines", "03_ann_to_snn", "08_energy", "07_temporal_tasks",
                 "09_fsdd_generalization", "05_weight_precision", "04_loihi_lava")


def default_workers() -> int:
    """2 worker processes, or fewer on a machine with fewer cores."""
    return max(1, min(2, os.cpu_count() or 1))


def fsdd_available() -> bool:
    """Whether the Free Spoken Digit Dataset is at hand: ``DATA/fsdd`` or ``../shared/datasets/fsdd``
    (:func:`lprnn.datasets.fsdd.available`)."""
    from lprnn.datasets import fsdd

    return fsdd.available()


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


def run_size(quick: bool = False, full: bool = False) -> str:
    """The run size the notebooks will use: ``quick``/``full``, else their own default (smoke
    when ``LPRNN_QUICK=1`` is set, :func:`lprnn.config.quick_mode`)."""
    from lprnn.ann.recipes import run_size as size_of

    return size_of(quick or config.quick_mode(), full)


def models_to_train(jobs: Sequence[NotebookJob], size: str) -> list:
    """The recipes of every model the training notebook's jobs among ``jobs`` train
    (:func:`lprnn.experiments.training.recipes_to_train` with the notebook's defaults), the
    float models first: a k-bit model then finds its float pre-training, which it shares with
    the float model of its seed (:func:`lprnn.ann.train.pretraining_path`), already done
    instead of waiting for it on another worker."""
    from lprnn.experiments.training import recipes_to_train

    recipes = []
    for job in jobs:
        if job.notebook.name == TRAINING_NOTEBOOK:
            name = job.parameters.get("recipe_name", "digits")
            recipes += [recipe for _, _, recipe in recipes_to_train(name, size)]
    return sorted(recipes, key=lambda recipe: recipe.model.get("weight_frac_bits") is not None)


def _train_model(recipe) -> tuple[float, bool]:
    """Worker: train (or load) one recipe's model; (training seconds, whether it was cached)."""
    from lprnn.ann.train import load_or_train

    _, info = load_or_train(recipe, progress=False)
    return float(info["train_seconds"]), bool(info["cached"])


def _execute(notebook: str, executed: str, parameters: dict, kernel_name: str,
             kernel_log: str | None = None) -> dict:
    """Worker: execute one notebook with papermill; its seconds, and the failing cell's error
    (``exec_count``, ``source``, ``error``) when a cell raised. ``kernel_log``: a file that
    takes the kernel's own stderr (its start-up and shutdown messages) instead of the
    terminal, so that parallel runs keep the progress lines readable."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    t0 = time.perf_counter()
    saved = None
    if kernel_log is not None:   # the kernel inherits this process's stderr (fd 2)
        saved = os.dup(2)
        with open(kernel_log, "w") as log:
            os.dup2(log.fileno(), 2)
    try:
        papermill.execute_notebook(notebook, executed, parameters=parameters,
                                   kernel_name=kernel_name, cwd=str(Path(notebook).parent),
                                   progress_bar=False, log_output=False)
    except PapermillExecutionError as err:
        return dict(seconds=time.perf_counter() - t0, exec_count=err.exec_count,
                    source=err.source, error=f"{err.ename}: {err.evalue}")
    finally:
        if saved is not None:
            os.dup2(saved, 2)
            os.close(saved)
    return dict(seconds=time.perf_counter() - t0)


def _pool(workers: int):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn: a fresh interpreter per worker (torch and ZeroMQ do not survive fork)
    return ProcessPoolExecutor(max_workers=workers,
                               mp_context=multiprocessing.get_context("spawn"))


def _model_line(recipe, seconds: float, cached: bool) -> str:
    """What a progress line says of one model of the training phase."""
    return (f"{recipe.name} seed {recipe.train.get('seed', 0)}, weight bits "
            f"{recipe.model.get('weight_frac_bits')}: "
            f"{'cached' if cached else f'trained in {seconds:.1f} s'}")


def schedule(jobs: Sequence[NotebookJob]) -> list[NotebookJob]:
    """The order in which several workers start ``jobs``: :data:`LONGEST_FIRST`, then the
    others in plan order, the results notebook last."""
    rank = {stem: i for i, stem in enumerate(LONGEST_FIRST)}
    last = [j for j in jobs if j.notebook.name == RESULTS_NOTEBOOK]
    first = [j for j in jobs if j.notebook.name != RESULTS_NOTEBOOK]
    return sorted(first, key=lambda j: rank.get(j.notebook.stem, len(rank))) + last


def run_notebooks(notebooks: Sequence[str | Path], *, quick: bool = False, full: bool = False,
                  output_dir: str | Path | None = None, kernel_name: str = KERNEL_NAME,
                  recipes: Sequence[str] = (), workers: int = 1,
                  log: Callable[[str], None] = print) -> list[NotebookRun]:
    """Execute ``notebooks`` in the given order, and those of :data:`RECIPE_NOTEBOOKS` again on
    each of ``recipes`` (:func:`plan`); stop at the first failure. With ``workers`` > 1, the
    training notebook's models (:func:`models_to_train`) are trained first and then the
    notebooks run, ``workers`` at a time in :func:`schedule` order, in one pool (module
    docstring).

    Returns one :class:`NotebookRun` per notebook, in the order they finished. Raises
    :class:`NotebookFailed` (with the failing cell's error and the path of the kept executed
    copy) when a notebook raises; no notebook starts after it.
    """
    from concurrent.futures import FIRST_COMPLETED, wait

    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers={workers!r}: expected a positive integer")
    paths = _check_notebooks(notebooks)
    jobs = plan(paths, recipes, speech_notebooks(quick, full))
    parameters = notebook_parameters(quick, full)
    out = Path(output_dir) if output_dir is not None else executed_dir()
    out.mkdir(parents=True, exist_ok=True)
    if any(out.resolve() == p.parent for p in paths):
        raise ValueError(f"output_dir {out} holds the source notebooks: executed copies "
                         "must go elsewhere (default build/executed)")
    size = "quick" if quick else ("full" if full else "notebook defaults")
    log(f"reproduce: {len(jobs)} notebook runs ({size}, {workers} worker"
        f"{'s' if workers > 1 else ''}) -> {out}")
    start = time.perf_counter()
    models = models_to_train(jobs, run_size(quick, full)) if workers > 1 else []
    if workers > 1:
        jobs = schedule(jobs)
        if models:
            log(f"reproduce: training {len(models)} models (or loading them), then the "
                f"notebooks, {workers} at a time")
    numbered = {job.executed_name: i for i, job in enumerate(jobs, 1)}
    runs: list[NotebookRun] = []

    def finished(job: NotebookJob, outcome: dict) -> None:
        i, executed = numbered[job.executed_name], out / job.executed_name
        elapsed = f"(elapsed {time.perf_counter() - start:.1f} s)"
        if "error" in outcome:
            log(f"[{i}/{len(jobs)}] {executed.name} FAILED after {outcome['seconds']:.1f} s "
                f"{elapsed}")
            raise NotebookFailed(job.notebook, executed, outcome["exec_count"],
                                 outcome["source"], outcome["error"], runs)
        runs.append(NotebookRun(job.notebook, executed, outcome["seconds"]))
        log(f"[{i}/{len(jobs)}] {executed.name} ok in {outcome['seconds']:.1f} s {elapsed}")

    def arguments(job: NotebookJob) -> tuple:
        log(f"[{numbered[job.executed_name]}/{len(jobs)}] {job.executed_name} ...")
        return (str(job.notebook), str(out / job.executed_name),
                {**parameters, **job.parameters}, kernel_name)

    if workers == 1:
        for job in jobs:
            finished(job, _execute(*arguments(job)))
        return runs
    last = [j for j in jobs if j.notebook.name == RESULTS_NOTEBOOK]
    # The models first, then the notebooks, in one pool: a worker that the last models leave
    # free starts a notebook (one whose model is still training waits for it on the
    # checkpoint's lock, as it would for the training phase to end).
    waiting: list = models + [j for j in jobs if j.notebook.name != RESULTS_NOTEBOOK]
    trained = 0
    failure: NotebookFailed | None = None
    with _pool(workers) as pool:
        running = {}
        while waiting or running:
            while waiting and len(running) < workers and failure is None:
                job = waiting.pop(0)
                if not isinstance(job, NotebookJob):
                    running[pool.submit(_train_model, job)] = job
                    continue
                kernel_log = str(out / f"{Path(job.executed_name).stem}.kernel.log")
                running[pool.submit(_execute, *arguments(job), kernel_log)] = job
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                job = running.pop(future)
                if not isinstance(job, NotebookJob):
                    trained += 1
                    log(f"[model {trained}/{len(models)}] {_model_line(job, *future.result())} "
                        f"(elapsed {time.perf_counter() - start:.1f} s)")
                    continue
                try:
                    finished(job, future.result())
                except NotebookFailed as err:
                    failure = failure or err
    if failure is not None:
        raise failure
    for job in last:
        finished(job, _execute(*arguments(job)))
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
    parser.add_argument("--workers", type=int, default=default_workers(),
                        help="processes (one core and one torch thread each) that train the "
                             "models and run the notebooks (default %(default)s)")
    parser.add_argument("--no-readme", action="store_true",
                        help="do not regenerate the README results table afterwards")
    args = parser.parse_args(argv)
    # Rows this run records are noted under its id; after a fully successful run the rows of
    # its notebooks that it did not record again are stale and dropped (lprnn.results).
    run_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
    previous_run_id = os.environ.get(results.RUN_ID_ENV)
    os.environ[results.RUN_ID_ENV] = run_id
    if args.workers > 1:   # one thread per worker: two threads per core are many times slower
        for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(variable, "1")
    start = time.perf_counter()
    try:
        recipes = [] if args.digits_only else extra_recipes()
        runs = run_notebooks(args.notebooks, quick=args.quick, full=args.full,
                             output_dir=args.output_dir, recipes=recipes,
                             workers=args.workers)
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
    # A run that recorded no row has nothing to replace, so nothing is stale.
    dropped = results.drop_stale(run_id, [Path(n).name for n in args.notebooks],
                                 spare=[(nb, r) for nb in RECIPE_NOTEBOOKS for r in SPEECH_RECIPES
                                        if nb not in rerun],
                                 run_size=run_size(args.quick, args.full)) \
        if results.run_keys_path(run_id).is_file() else []
    print(f"reproduce: {len(runs)} notebooks ok in {time.perf_counter() - start:.1f} s wall "
          f"({sum(r.seconds for r in runs):.1f} s of notebook runs, {args.workers} workers); "
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
