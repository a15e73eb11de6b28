"""On-disk cache of precomputed features, keyed by everything that determines them.

The paper's data sets are decoded and put through their front end once; every later load (the
second epoch, the next notebook, the GPU benchmark) reads the cached tensors. A cache entry is

    <data_dir>/features/<dataset>/<sha256(key)[:16]>.pt      tensors (torch.save)
    <data_dir>/features/<dataset>/<sha256(key)[:16]>.json    the key, for humans

where ``key`` is a JSON-able mapping that holds the front-end parameters, the split and a
fingerprint of the source files (:func:`fingerprint_files`). Changing any of them gives a new
entry, so a stale cache is never read. Entries are written to a temporary file and renamed, so
an interrupted run leaves no half-written entry; an unreadable entry is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import torch

from lprnn import atomic, config

# Bump when a loader's feature computation changes in a way its key does not show.
CACHE_FORMAT = 1


def fingerprint_files(paths: Iterable[Path]) -> str:
    """sha256 over the names and sizes of ``paths`` (in order): identifies a file list cheaply."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(f"{Path(path).name}\0{Path(path).stat().st_size}\n".encode())
    return digest.hexdigest()


def cache_key_digest(key: Mapping[str, object]) -> str:
    """The hex digest that names the cache entry of ``key`` (JSON with sorted keys)."""
    try:
        text = json.dumps({"cache_format": CACHE_FORMAT, **key}, sort_keys=True)
    except TypeError as error:
        raise TypeError(f"feature cache key {dict(key)!r} is not JSON-serializable: {error}") \
            from None
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_path(dataset: str, key: Mapping[str, object]) -> Path:
    """Where the entry of ``key`` for ``dataset`` lives (it may not exist yet)."""
    if not dataset or "/" in dataset or dataset.startswith("."):
        raise ValueError(f"dataset name {dataset!r}: expected a plain folder name")
    return config.data_dir() / "features" / dataset / f"{cache_key_digest(key)}.pt"


def _load(path: Path) -> dict[str, torch.Tensor] | None:
    try:
        tensors = torch.load(path, weights_only=True)
    except Exception as error:  # any unreadable entry is recomputed, never fatal
        warnings.warn(f"feature cache {path} is unreadable ({error}); recomputing it",
                      stacklevel=3)
        return None
    if not isinstance(tensors, dict) or not all(isinstance(v, torch.Tensor)
                                                for v in tensors.values()):
        warnings.warn(f"feature cache {path} does not hold a dict of tensors; recomputing it",
                      stacklevel=3)
        return None
    return tensors


def _save(path: Path, tensors: dict[str, torch.Tensor], key: Mapping[str, object]) -> None:
    atomic.torch_save(tensors, path)
    path.with_suffix(".json").write_text(json.dumps(dict(key), sort_keys=True, indent=1) + "\n")


def cached_features(dataset: str, key: Mapping[str, object],
                    compute: Callable[[], dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The tensors of ``key``: read from the cache, or computed by ``compute()`` and stored."""
    path = cache_path(dataset, key)
    if path.is_file():
        tensors = _load(path)
        if tensors is not None:
            return tensors
    tensors = compute()
    _save(path, tensors, key)
    return tensors
