"""The results table ``figures/results.csv``: one row per reported number, with its provenance.

Columns (:data:`COLUMNS`):

- ``experiment, dataset, model, metric``: what the number is; these four and ``run_size``
  identify a row (:data:`KEY`), and recording it again replaces the old row, so re-running a
  notebook updates its numbers instead of appending duplicates, while a full-size run sits
  beside the default one;
- ``value``; ``std`` (its spread over seeds), ``ci_low``/``ci_high`` (its 95 % interval, see
  :mod:`lprnn.stats`); ``seeds`` (e.g. "0,1,2"), ``n_clips`` (evaluation clips) and
  ``run_size`` ("quick", "default" or "full"): blank when not given;
- ``commit``: filled in by :func:`record` itself: ``git rev-parse HEAD`` of the repository,
  with "-dirty" when tracked files outside ``figures/`` have uncommitted changes, or
  "unknown" outside a git checkout;
- ``notebook``: the notebook that produced it.

Every read-modify-write holds an inter-process lock (:func:`lprnn.atomic.lock`) and writes
atomically, so parallel notebook runs keep every row and an interrupted run never leaves a
half-written table. A table of the older six-column format (no provenance) is read with the
new columns blank and upgraded on the next write; a truncated or foreign table is refused with
the line and the field.

Stale rows: a reference run (:mod:`lprnn.reproduce`) sets ``LPRNN_RUN_ID`` (:data:`RUN_ID_ENV`);
:func:`record` then also notes each row's key in a file beside the table, and
:func:`drop_stale` at the end of the run removes the rows of the notebooks it ran, at its run
size, that it did not record again.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import numbers
import os
import subprocess
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path

from lprnn import atomic, config

REQUIRED = ("experiment", "dataset", "model", "metric", "value", "notebook")
OPTIONAL = ("std", "ci_low", "ci_high", "seeds", "n_clips", "run_size")
COLUMNS = ("experiment", "dataset", "model", "metric", "value", *OPTIONAL, "commit", "notebook")
LEGACY_COLUMNS = REQUIRED   # the format before provenance: no std ... commit
KEY = (*COLUMNS[:4], "run_size")
RUN_SIZES = ("quick", "default", "full")
RUN_ID_ENV = "LPRNN_RUN_ID"
UNKNOWN_COMMIT = "unknown"


def _table_error(path: Path, line: int, message: str) -> ValueError:
    return ValueError(f"results table {path}, line {line}: {message}")


def read_results(path: Path | None = None) -> list[dict[str, str]]:
    """All rows of the results table as dicts of :data:`COLUMNS` (empty when it does not exist).

    Raises ValueError naming the file, the line and the field for a foreign header, a row with
    too few or too many fields, or a truncated last row (no line end).
    """
    path = Path(path or config.results_csv())
    if not path.exists():
        return []
    text = path.read_text()
    if not text:
        return []
    lines = list(csv.reader(io.StringIO(text, newline="")))
    header = tuple(lines[0])
    if header not in (COLUMNS, LEGACY_COLUMNS):
        raise _table_error(path, 1, f"columns {list(header)}, expected {list(COLUMNS)} "
                           f"(or the older {list(LEGACY_COLUMNS)})")
    rows = []
    for number, fields in enumerate(lines[1:], start=2):
        if len(fields) != len(header):
            field = (f"field {header[len(fields)]!r} missing" if len(fields) < len(header)
                     else f"{len(fields) - len(header)} extra fields")
            raise _table_error(path, number, f"{len(fields)} fields, expected {len(header)} "
                               f"({field}: a truncated or foreign row)")
        row = dict.fromkeys(COLUMNS, "") | dict(zip(header, fields))
        for name in REQUIRED:
            if not row[name]:
                raise _table_error(path, number, f"field {name!r} is empty")
        rows.append(row)
    if not text.endswith("\n"):
        raise _table_error(path, len(lines), "the last row has no line end: the table was "
                           "truncated (restore it from git or re-run its notebook)")
    return rows


def _format_number(value: object, name: str) -> str:
    if isinstance(value, bool) or isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return str(value)
    number = float(value)  # type: ignore[arg-type]
    if not math.isfinite(number):
        raise ValueError(f"result field {name}: refusing to record non-finite value {number}")
    return f"{number:.6g}"


def _format_seeds(seeds: object) -> str:
    if isinstance(seeds, str):
        return seeds
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        return str(seeds)
    if isinstance(seeds, Iterable):
        return ",".join(str(int(s)) for s in seeds)
    raise ValueError(f"result field seeds={seeds!r}: expected an int, a list of ints or '0,1,2'")


def _format_row(row: Mapping[str, object], commit: str) -> dict[str, str]:
    missing = [c for c in REQUIRED if c not in row]
    extra = [c for c in row if c not in REQUIRED + OPTIONAL]
    if missing or extra:
        raise ValueError(f"result row {dict(row)}: missing {missing}, unknown {extra}; expected "
                         f"the fields {list(REQUIRED)} and optionally {list(OPTIONAL)} "
                         "(commit is filled in by record)")
    # An optional field given as None or "" is missing (rows built from tables carry "").
    row = {c: v for c, v in row.items() if c in REQUIRED or not (v is None or v == "")}
    out = {c: str(row[c]) for c in REQUIRED}
    out["value"] = _format_number(row["value"], "value")
    for name in ("std", "ci_low", "ci_high"):
        value = row.get(name)
        out[name] = "" if value is None else _format_number(value, name)
    seeds = row.get("seeds")
    out["seeds"] = "" if seeds is None else _format_seeds(seeds)
    n_clips = row.get("n_clips")
    if n_clips is not None and (isinstance(n_clips, bool)
                                or not isinstance(n_clips, numbers.Integral) or n_clips < 1):
        raise ValueError(f"result field n_clips={n_clips!r}: expected a positive integer")
    out["n_clips"] = "" if n_clips is None else str(int(n_clips))
    run_size = row.get("run_size")
    if run_size is not None and run_size not in RUN_SIZES:
        raise ValueError(f"result field run_size={run_size!r}: expected one of {list(RUN_SIZES)}")
    out["run_size"] = run_size or ""
    out["commit"] = commit
    for name, text in out.items():
        if "\n" in text or "\r" in text:
            raise ValueError(f"result field {name}={text!r}: line breaks are not allowed")
    return {c: out[c] for c in COLUMNS}


@functools.lru_cache(maxsize=None)
def _commit_of(repo: Path) -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                              check=True, timeout=30).stdout.strip()
    try:
        head = git("rev-parse", "HEAD")
        # Outputs (figures/, the results table itself) do not make the code dirty.
        changes = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!figures")
    except (OSError, subprocess.SubprocessError):
        return UNKNOWN_COMMIT
    return head + ("-dirty" if changes else "")


def current_commit() -> str:
    """The repository's commit ("<sha>", "<sha>-dirty" or "unknown"), computed once a process."""
    return _commit_of(config.REPO_ROOT)


def _key(row: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(row[k] for k in KEY)


def _write(path: Path, rows: Iterable[Mapping[str, str]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(sorted(rows, key=_key))
    atomic.write_text(path, buffer.getvalue())


def run_keys_path(run_id: str, path: Path | None = None) -> Path:
    """The file beside the table that lists the keys recorded by run ``run_id``."""
    if not run_id or any(c in run_id for c in "/\\\0") or run_id.startswith("."):
        raise ValueError(f"run id {run_id!r}: expected a plain name (letters, digits, - and _)")
    path = Path(path or config.results_csv())
    return path.with_name(f".{path.stem}-run-{run_id}.keys")


def record(rows: Iterable[Mapping[str, object]], path: Path | None = None) -> Path:
    """Insert or replace rows (see the module docstring for the fields); returns the path."""
    path = Path(path or config.results_csv())
    new = [_format_row(row, current_commit()) for row in rows]
    run_id = os.environ.get(RUN_ID_ENV)
    with atomic.lock(path):
        table = {_key(r): r for r in read_results(path)}
        table.update({_key(r): r for r in new})
        _write(path, table.values())
        if run_id:
            with run_keys_path(run_id, path).open("a") as keys:
                keys.writelines(json.dumps(list(_key(r))) + "\n" for r in new)
    return path


def record_one(experiment: str, dataset: str, model: str, metric: str,
               value: float | int | str, notebook: str, path: Path | None = None, *,
               std: float | None = None, ci_low: float | None = None,
               ci_high: float | None = None, seeds: int | str | Sequence[int] | None = None,
               n_clips: int | None = None, run_size: str | None = None) -> Path:
    """Record a single number (see :func:`record`)."""
    return record([dict(experiment=experiment, dataset=dataset, model=model, metric=metric,
                        value=value, notebook=notebook, std=std, ci_low=ci_low,
                        ci_high=ci_high, seeds=seeds, n_clips=n_clips, run_size=run_size)],
                  path)


def drop_stale(run_id: str, notebooks: Collection[str], path: Path | None = None, *,
               spare: Collection[tuple[str, str]] = (),
               run_size: str | None = None) -> list[dict[str, str]]:
    """Remove the rows of ``notebooks`` (file names, e.g. "03_ann_to_snn.ipynb") that run
    ``run_id`` did not record; returns the dropped rows. Call it after a fully successful run.
    Rows whose (notebook, dataset) is in ``spare`` (what the run skipped, e.g. a notebook's
    real-speech rerun when the data is absent) are kept, and so are, when ``run_size`` is
    given, the rows of the other run sizes (a default run keeps the full-size rows; a row
    without a run size counts as any). Raises FileNotFoundError, dropping nothing, when the
    run recorded no rows (its key file is consumed by the first call)."""
    if run_size is not None and run_size not in RUN_SIZES:
        raise ValueError(f"run_size={run_size!r}: expected one of {list(RUN_SIZES)}")
    path = Path(path or config.results_csv())
    keys_path = run_keys_path(run_id, path)
    notebooks = {Path(n).name for n in notebooks}
    with atomic.lock(path):
        if not keys_path.is_file():
            raise FileNotFoundError(
                f"run {run_id!r} has no record of its rows ({keys_path} is missing: the run "
                f"recorded nothing under this id, or drop_stale already consumed it): nothing "
                f"dropped from {path}")
        recorded = {tuple(json.loads(line)) for line in keys_path.read_text().splitlines()
                    if line.strip()}
        rows = read_results(path)
        spare = set(spare)
        keep = [r for r in rows if r["notebook"] not in notebooks or _key(r) in recorded
                or (r["notebook"], r["dataset"]) in spare
                or (run_size is not None and r["run_size"] not in ("", run_size))]
        dropped = [r for r in rows if r not in keep]
        if dropped:
            _write(path, keep)
        keys_path.unlink(missing_ok=True)
    return dropped
