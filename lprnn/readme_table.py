"""The README's results table, and the headline tables of notebook 00, from ``figures/results.csv``.

    python -m lprnn.readme_table           rewrite the table between the markers in README.md
    python -m lprnn.readme_table --check   exit 1 when README.md and the results table disagree

The table sits between ``<!-- results-table:start -->`` and ``<!-- results-table:end -->``;
nothing else in the README is touched. The README shows the headline metrics of each experiment
(:data:`HEADLINE`; every number stays in ``figures/results.csv`` and notebook 00): one row per
(experiment, dataset, model, run size) naming the notebook that produced it and the papermill
command that regenerates it. Each value carries its spread over seeds and its 95 % interval when the CSV has
them (``0.861 ± 0.01 [0.84, 0.88]`` over three seeds, ``0.861 [0.83, 0.89]`` for one seed's
Wilson interval), and each row its provenance: run size, seeds,
evaluation clips and commit (``default · seeds 0,1,2 · 600 clips · abc1234``). Values are copied
verbatim from the CSV, so the check is an exact comparison.

:func:`notebook_tables` and :func:`figure_index` give notebook ``00_results`` the same rows as
one table per notebook (models down, metrics across) and the list of figures with the notebook
that wrote each one.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from lprnn import atomic, config, results
from lprnn.reproduce import RECIPE_NOTEBOOKS, SPEECH_RECIPES

START_MARKER = "<!-- results-table:start -->"
END_MARKER = "<!-- results-table:end -->"
HEADER = ("Notebook", "Experiment", "Dataset", "Model", "Results", "Provenance", "Regenerate with")

# The metrics the README shows per experiment (None: all of them); other experiments are left
# to notebook 00 and figures/results.csv.
HEADLINE: dict[str, tuple[str, ...] | None] = {
    "sigma_delta_encoding": ("rmse_k8", "rmse_k16", "spikes_per_s_k8"),
    "train": ("test_accuracy", "val_accuracy", "zero_weight_fraction", "train_seconds"),
    "ann_to_snn": ("ann_accuracy", "snn_accuracy", "agreement", "mean_decoded_correlation",
                   "spikes_per_sample", "synaptic_ops_per_sample"),
    "ann_to_snn_authors_checkpoint": ("ann_accuracy", "snn_accuracy", "agreement"),
    "mapping_accuracy": ("ann_accuracy", "snn_accuracy", "agreement",
                         "agreement_below_median_margin", "abs_accuracy_gap_points"),
    "mapping_accuracy_authors_checkpoint": ("agreement", "agreement_below_median_margin",
                                            "ann_accuracy"),
    "lava_fixed_pt": None,
    "weight_precision": ("ann_accuracy", "snn_accuracy", "agreement", "zero_weight_fraction"),
    "baselines": ("test_accuracy", "spikes_per_sample", "synaptic_ops_per_sample"),
    "conversions": ("accuracy", "spikes_per_sample", "synaptic_ops_per_sample"),
    "temporal_tasks": None,
    "energy": ("energy_uJ", "ratio_cortex_m4_dense_to_loihi", "ratio_cortex_m4_sparse_to_loihi"),
    "energy_input_coding": ("snn_accuracy", "agreement", "energy_uJ", "ratio_m4_dense_estimate"),
    "energy_reconciliation": ("ratio_m4_dense_estimate", "synaptic_op_pJ_for_500x_estimate"),
    "energy_frontier": ("snn_accuracy", "agreement", "energy_uJ_estimate",
                        "ratio_m4_dense_estimate"),
    "fsdd_sweep": ("test_accuracy",),
}
# Real human speech (lprnn.reproduce.SPEECH_RECIPES, and datasets named after them) leads the
# table; a recipe notebook's row of a speech recipe is regenerated with that recipe_name, and so
# is notebook 08's (its digits run draws the speech frontier too, and the recipe's own run
# gives the same rows without the digits model: energy_frontier.frontier_recipes).
SPEECH_DATASET_PREFIX = "fsdd"
RECIPE_COMMAND_NOTEBOOKS = (*RECIPE_NOTEBOOKS, "08_energy.ipynb")


def repository_readme() -> Path:
    return config.REPO_ROOT / "README.md"


def repository_results_csv() -> Path:
    """The committed results table ``<repo>/figures/results.csv`` (ignores LPRNN_FIGURES_DIR)."""
    return config.REPO_ROOT / "figures" / "results.csv"


def papermill_command(notebook: str, dataset: str = "", run_size: str = "default") -> str:
    """The command that regenerates one notebook's row (with ``-p recipe_name`` for the
    real-speech rows of :data:`RECIPE_COMMAND_NOTEBOOKS`, including those whose dataset is
    labelled, e.g. ``fsdd (out of domain: ...)``, and ``-p full True`` or ``-p quick True`` for
    the rows of those run sizes)."""
    if run_size not in results.RUN_SIZES:
        raise ValueError(f"run_size={run_size!r}: expected one of {list(results.RUN_SIZES)}")
    recipe = dataset.split(" (", 1)[0]
    stem = notebook.removesuffix(".ipynb")
    suffix = "" if run_size == "default" else f".{run_size}"
    size_option = "" if run_size == "default" else f" -p {run_size} True"
    if notebook in RECIPE_COMMAND_NOTEBOOKS and recipe in SPEECH_RECIPES:
        return (f"papermill notebooks/{notebook} build/executed/{stem}.{recipe}{suffix}.ipynb "
                f"-p recipe_name {recipe}{size_option}")
    return f"papermill notebooks/{notebook} build/executed/{stem}{suffix}.ipynb{size_option}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _interval(bound: str) -> str:
    return f"{float(bound):.3g}"


def shown_value(row: dict[str, str]) -> str:
    """A value as the README shows it: with its spread over seeds (``± std``) and its 95 %
    interval (``[low, high]``), each when recorded."""
    shown = row["value"]
    if row.get("std"):
        shown += f" ± {_interval(row['std'])}"
    if row.get("ci_low") and row.get("ci_high"):
        shown += f" [{_interval(row['ci_low'])}, {_interval(row['ci_high'])}]"
    return shown


def provenance(row: dict[str, str]) -> str:
    """Run size, seeds, clips and short commit of a row ("not recorded" for old rows)."""
    commit = row.get("commit", "")
    short = commit[:7] + ("-dirty" if commit.endswith("-dirty") else "") \
        if commit and commit != results.UNKNOWN_COMMIT else commit
    parts = [row.get("run_size", ""), f"seeds {row['seeds']}" if row.get("seeds") else "",
             f"{row['n_clips']} clips" if row.get("n_clips") else "", short]
    return " · ".join(p for p in parts if p) or "not recorded"


def render_table(rows: Sequence[dict[str, str]]) -> str:
    """Markdown table of the headline results (:data:`HEADLINE`): one row per (experiment,
    dataset, model), its metrics as ``metric = value [ci_low, ci_high]`` in the order HEADLINE
    lists them, and the distinct provenances of those metrics."""
    if not rows:
        return ("_No results yet: run `make reproduce` to fill `figures/results.csv`, "
                "then `python -m lprnn.readme_table`._")
    groups: dict[tuple[str, ...], dict[str, dict[str, str]]] = {}
    for r in rows:
        if r["experiment"] not in HEADLINE:
            continue
        wanted = HEADLINE[r["experiment"]]
        if wanted is None or r["metric"] in wanted:
            key = (r["notebook"], r["experiment"], r["dataset"], r["model"],
                   r.get("run_size") or "default")
            groups.setdefault(key, {})[r["metric"]] = r
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]

    def speech_first(item):
        notebook, experiment, dataset, model, run_size = item[0]
        return (not dataset.startswith(SPEECH_DATASET_PREFIX), notebook, experiment, dataset,
                model, run_size)

    for (notebook, experiment, dataset, model, run_size), metrics in sorted(groups.items(),
                                                                           key=speech_first):
        order = [m for m in HEADLINE[experiment] or sorted(metrics) if m in metrics]
        shown = "; ".join(f"{m} = {shown_value(metrics[m])}" for m in order)
        origins = "; ".join(dict.fromkeys(provenance(metrics[m]) for m in order))
        cells = [f"[{notebook}](notebooks/{notebook})", experiment, dataset, model, shown,
                 origins, f"`{papermill_command(notebook, dataset, run_size)}`"]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def results_frame(rows: Sequence[dict[str, str]]) -> pd.DataFrame:
    """Results rows as a DataFrame with numeric values where a value parses as a number."""
    frame = pd.DataFrame(list(rows), columns=list(results.COLUMNS))
    frame["run_size"] = frame["run_size"].fillna("")
    numeric = pd.to_numeric(frame["value"], errors="coerce")
    frame["value"] = numeric.where(numeric.notna(), frame["value"]).astype(object)
    return frame


def notebook_tables(rows: Sequence[dict[str, str]]) -> dict[str, pd.DataFrame]:
    """One table per notebook: (experiment, dataset, model, run size) down, metrics across."""
    frame = results_frame(rows)
    return {notebook: part.pivot_table(index=["experiment", "dataset", "model", "run_size"],
                                       columns="metric", values="value", aggfunc="first")
            for notebook, part in frame.groupby("notebook", sort=True)}


def accuracy_overview(rows: Sequence[dict[str, str]]) -> pd.DataFrame:
    """Every accuracy-like metric (name containing "accuracy" or "agreement") in one table."""
    frame = results_frame(rows)
    keep = frame["metric"].str.contains("accuracy|agreement", regex=True)
    return frame[keep].pivot_table(index=["dataset", "model", "run_size"],
                                   columns=["notebook", "metric"],
                                   values="value", aggfunc="first")


def figure_index(figures: Path | None = None, notebooks: Path | None = None) -> pd.DataFrame:
    """The PNG figures with the notebook that wrote each (by their ``NN_`` prefix)."""
    figures = figures or config.figures_dir()
    notebooks = notebooks or config.REPO_ROOT / "notebooks"
    by_prefix = {nb.name[:3]: nb.name for nb in sorted(notebooks.glob("[0-9][0-9]_*.ipynb"))}
    return pd.DataFrame([dict(figure=png.name, notebook=by_prefix.get(png.name[:3], "unknown"),
                              path=str(png)) for png in sorted(figures.glob("*.png"))],
                        columns=["figure", "notebook", "path"])


def _marker_span(readme_text: str, where: str) -> tuple[int, int]:
    start, end = readme_text.find(START_MARKER), readme_text.find(END_MARKER)
    if start < 0 or end < 0 or end < start:
        raise ValueError(f"{where}: expected the markers {START_MARKER} and then {END_MARKER}")
    if readme_text.count(START_MARKER) > 1 or readme_text.count(END_MARKER) > 1:
        raise ValueError(f"{where}: the results-table markers must appear exactly once each")
    return start + len(START_MARKER), end


def table_in_readme(readme_text: str, where: str = "README.md") -> str:
    """The text between the markers, stripped."""
    start, end = _marker_span(readme_text, where)
    return readme_text[start:end].strip()


def with_table(readme_text: str, table: str, where: str = "README.md") -> str:
    """``readme_text`` with the text between the markers replaced by ``table``."""
    start, end = _marker_span(readme_text, where)
    return readme_text[:start] + "\n" + table + "\n" + readme_text[end:]


def _read(readme: Path | None, csv: Path | None) -> tuple[Path, str, str]:
    readme = readme or repository_readme()
    if not readme.is_file():
        raise FileNotFoundError(f"README {readme} not found")
    table = render_table(results.read_results(csv or repository_results_csv()))
    return readme, readme.read_text(), table


def check_readme(readme: Path | None = None, csv: Path | None = None) -> bool:
    """True when the README's table is exactly the one the results table renders to."""
    readme, text, table = _read(readme, csv)
    return table_in_readme(text, str(readme)) == table


def write_readme(readme: Path | None = None, csv: Path | None = None) -> bool:
    """Regenerate the README's table (atomically); returns whether the file changed."""
    with atomic.lock(readme or repository_readme()):
        readme, text, table = _read(readme, csv)
        new = with_table(text, table, str(readme))
        if new == text:
            return False
        atomic.write_text(readme, new)
        return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lprnn.readme_table", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true",
                        help="only compare; exit 1 when the README table is stale")
    parser.add_argument("--readme", type=Path, default=None, help="default: <repo>/README.md")
    parser.add_argument("--csv", type=Path, default=None,
                        help="default: <repo>/figures/results.csv")
    args = parser.parse_args(argv)
    try:
        if args.check:
            if check_readme(args.readme, args.csv):
                print("README results table is up to date")
                return 0
            print("README results table differs from the results CSV: "
                  "run `python -m lprnn.readme_table`", file=sys.stderr)
            return 1
        changed = write_readme(args.readme, args.csv)
    except (ValueError, FileNotFoundError) as err:
        print(f"readme_table: {err}", file=sys.stderr)
        return 2
    print("README results table " + ("updated" if changed else "already up to date"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
