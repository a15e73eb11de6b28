"""Writes that never leave a half-written file: write a temporary file beside the target, then
rename it over the target (an atomic step on one file system)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch


def torch_save(obj: Any, path: Path) -> Path:
    """``torch.save(obj, path)`` atomically: an interrupted save keeps the old file (or none)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
