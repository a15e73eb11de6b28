"""Shared files, written safely: atomic writes, locks for read-modify-write, writable targets.

An atomic write fills a temporary file beside the target and renames it over the target (one
atomic step on one file system), so a reader sees the old file or the new one, never half of
one, and an interrupted write keeps the old file (or none). A lock (the ``filelock``
package, ``<target>.lock`` beside the target) serializes read-modify-write cycles of files
that several processes share: the results table, the caches, the README table, the model
cache. :func:`check_writable` tests a write target before long work starts.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import filelock

# mkstemp creates files 0600; tables, caches and models are ordinary data for everyone to read.
FILE_MODE = 0o644


def write(path: Path, write_to: Callable[[Path], Any]) -> Path:
    """Call ``write_to(tmp)`` on a temporary path beside ``path``, then rename it to ``path``.

    The temporary name keeps ``path``'s suffix (``np.savez`` and ``h5py`` care about it).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix)
    os.close(fd)
    try:
        write_to(Path(tmp))
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: Path, text: str) -> Path:
    """Replace ``path``'s contents by ``text`` atomically."""
    return write(path, lambda tmp: tmp.write_text(text))


def torch_save(obj: Any, path: Path) -> Path:
    """``torch.save(obj, path)`` atomically."""
    import torch

    return write(path, lambda tmp: torch.save(obj, tmp))


def lock(path: Path, timeout: float = -1) -> filelock.FileLock:
    """The inter-process lock guarding ``path`` (``<path>.lock``); use as ``with lock(p):``.

    ``timeout`` in seconds (−1: wait as long as needed); the lock is re-entrant in a process.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return filelock.FileLock(str(path.with_name(path.name + ".lock")), timeout=timeout)


def check_writable(folder: Path, what: str) -> Path:
    """Create ``folder`` if needed and prove a file can be written in it; raise a clear error
    naming ``what`` (e.g. "models folder") and the folder otherwise. Call it before long work
    whose result goes there."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise PermissionError(f"{what} {folder} is not writable ({err.strerror}): "
                              "fix it before the work starts, its result would be lost") from None
    return folder
