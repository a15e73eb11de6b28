"""Paths and run sizes, in one place.

Every path the package, the notebooks and the benchmarks use comes from here. Each can be
moved with an environment variable (read at call time, so tests can redirect them):

- ``LPRNN_DATA_DIR``: generated and downloaded data, cached features, trained models
  (default ``<repo>/data``; never committed).
- ``LPRNN_FIGURES_DIR``: figures and ``results.csv`` written by notebooks
  (default ``<repo>/figures``; ``make test`` points it at ``build/test/figures``).
- ``LPRNN_FIXTURES_DIR``: the read-only shared fixtures (the authors' checkpoint),
  default ``<repo>/../shared/fixtures``.
- ``LPRNN_QUICK=1``: smoke mode, read by every notebook's ``parameters`` cell.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
AUTHORS_CHECKPOINT_NAME = "authors_hd_lprnn_3bit.pth"


def _dir(variable: str, default: Path) -> Path:
    value = os.environ.get(variable)
    return Path(value).expanduser().resolve() if value else default


def data_dir() -> Path:
    """Root of generated/downloaded data and trained models (created on demand)."""
    path = _dir("LPRNN_DATA_DIR", REPO_ROOT / "data")
    path.mkdir(parents=True, exist_ok=True)
    return path


def models_dir() -> Path:
    """Where trained checkpoints are cached, keyed by their configuration."""
    path = data_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def figures_dir() -> Path:
    """Where notebooks write figures and ``results.csv`` (created on demand)."""
    path = _dir("LPRNN_FIGURES_DIR", REPO_ROOT / "figures")
    path.mkdir(parents=True, exist_ok=True)
    return path


def results_csv() -> Path:
    return figures_dir() / "results.csv"


def fixtures_dir() -> Path:
    return _dir("LPRNN_FIXTURES_DIR", REPO_ROOT.parent / "shared" / "fixtures")


def authors_checkpoint() -> Path | None:
    """Path of the authors' released HD checkpoint, or None when it is not available."""
    path = fixtures_dir() / AUTHORS_CHECKPOINT_NAME
    return path if path.is_file() else None


def quick_mode() -> bool:
    """True in smoke mode (``LPRNN_QUICK=1``): notebooks run in seconds for tests."""
    value = os.environ.get("LPRNN_QUICK", "0").strip().lower()
    if value not in {"0", "1", "true", "false", ""}:
        raise ValueError(f"LPRNN_QUICK={value!r}: expected 0 or 1")
    return value in {"1", "true"}
