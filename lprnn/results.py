"""The results table ``figures/results.csv``: one row per reported number.

Columns: experiment, dataset, model, metric, value, notebook, and the optional std (spread over
seeds), ci_low/ci_high (95 % interval), seeds, n_clips, run_size and commit (filled in here). A row is identified by
(experiment, dataset, model, metric); recording it again replaces the old value, so
re-running a notebook updates its numbers instead of appending duplicates. Every write
goes to a temporary file that is then renamed over the table, so an interrupted run
never leaves a half-written CSV and never loses rows already written.
"""

from __future__ import annotations

import csv
import math
import os
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from lprnn import config

COLUMNS = ("experiment", "dataset", "model", "metric", "value", "std", "ci_low", "ci_high",
           "seeds", "n_clips", "run_size", "commit", "notebook")
KEY = COLUMNS[:4]
# Columns a row may leave out (written blank); ``commit`` is filled in by :func:`record`.
OPTIONAL = ("std", "ci_low", "ci_high", "seeds", "n_clips", "run_size", "commit")


def read_results(path: Path | None = None) -> list[dict[str, str]]:
    """All rows of the results table (empty when it does not exist yet)."""
    path = path or config.results_csv()
    if not path.exists():
        return []
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None:
            return []
        required = [c for c in COLUMNS if c not in OPTIONAL]
        if not set(required) <= set(reader.fieldnames) <= set(COLUMNS):
            raise ValueError(f"{path}: columns {reader.fieldnames}, expected {list(COLUMNS)}")
        return [{c: row.get(c) or "" for c in COLUMNS} for row in reader]


def _format(value: float | int | str) -> str:
    if isinstance(value, bool) or isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return str(value)
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"refusing to record non-finite value {value}")
    return f"{value:.6g}"


def record(rows: Iterable[Mapping[str, object]], path: Path | None = None) -> Path:
    """Insert or replace rows (dicts with the six columns) atomically; returns the path."""
    path = path or config.results_csv()
    commit = _commit()
    new = []
    for row in rows:
        row = {**{c: "" for c in OPTIONAL}, "commit": commit, **row}
        missing = [c for c in COLUMNS if c not in row]
        extra = [c for c in row if c not in COLUMNS]
        if missing or extra:
            raise ValueError(f"result row {dict(row)}: missing {missing}, unknown {extra}; "
                             f"expected columns {list(COLUMNS)}")
        new.append({c: (_format(row[c]) if c in _NUMERIC and row[c] not in ("", None)
                        else ("" if row[c] is None else str(row[c]))) for c in COLUMNS})
    table = {tuple(r[k] for k in KEY): r for r in read_results(path)}
    for r in new:
        table[tuple(r[k] for k in KEY)] = r
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".results-", suffix=".csv")
    try:
        with os.fdopen(fd, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(sorted(table.values(), key=lambda r: tuple(r[k] for k in KEY)))
        os.chmod(tmp, 0o644)   # mkstemp makes it private; the table is for everyone to read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def record_one(experiment: str, dataset: str, model: str, metric: str,
               value: float | int | str, notebook: str, path: Path | None = None,
               **optional: object) -> Path:
    """Record a single number (see :func:`record`); ``optional``: the OPTIONAL columns."""
    return record([dict(experiment=experiment, dataset=dataset, model=model, metric=metric,
                        value=value, notebook=notebook, **optional)], path)


_NUMERIC = ("value", "std", "ci_low", "ci_high")


def _commit() -> str:
    """The repository's current commit (short), or "" outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=config.REPO_ROOT,
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""
