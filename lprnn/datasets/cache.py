"""On-disk cache of precomputed features, keyed by everything that determines them.

The paper's data sets are decoded and put through their front end once; every later load (the
second epoch, the next notebook, the GPU benchmark) reads the cached tensors. A cache entry is

    <data_dir>/features/<dataset>/<sha256(key)[:16]>.pt      tensors (torch.save)
    <data_dir>/features/<dataset>/<sha256(key)[:16]>.json    the key and each tensor's dtype
                                                             and shape

where ``key`` is a JSON-able mapping that holds the front-end parameters, the split and a
fingerprint of the source files (:func:`fingerprint_files`). Changing any of them gives a new
entry, so a stale cache is never read. Entries are written atomically (:mod:`lprnn.atomic`),
the ``.json`` last, under a lock, so parallel runs compute an entry once and an interrupted run
leaves no half-written entry. An entry is read only when it matches its ``.json`` as a whole
(same key, same tensor names, dtypes and shapes); a corrupt, truncated, foreign or incomplete
entry is recomputed with a warning naming the file and the field.
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


def _describe(tensors: Mapping[str, torch.Tensor]) -> dict[str, dict[str, object]]:
    return {name: {"dtype": str(t.dtype), "shape": list(t.shape)} for name, t in tensors.items()}


def _check_entry(path: Path, key: Mapping[str, object]) -> dict[str, torch.Tensor]:
    """The tensors of an entry; ValueError naming the file and the field unless it is whole."""
    record_path = path.with_suffix(".json")
    try:
        record = json.loads(record_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"feature cache record {record_path}: not readable JSON ({err})") from None
    plain_key = json.loads(json.dumps(dict(key)))
    # Records written before the tensors were described hold the key alone: such an entry is
    # read if it holds a dict of tensors, and its record is rewritten in the current form.
    first_form = record == plain_key
    if not first_form and (not isinstance(record, dict) or record.get("key") != plain_key):
        raise ValueError(f"feature cache record {record_path}: field 'key' is not this entry's key")
    expected = None if first_form else record.get("tensors")
    if not first_form and not isinstance(expected, dict):
        raise ValueError(f"feature cache record {record_path}: field 'tensors' missing")
    try:
        tensors = torch.load(path, weights_only=True)
    except Exception as err:  # torch raises several types for truncated or foreign files
        raise ValueError(f"feature cache {path}: unreadable ({type(err).__name__}: "
                         f"{str(err)[:200]})") from None
    if not isinstance(tensors, dict) or not all(isinstance(v, torch.Tensor)
                                                for v in tensors.values()):
        raise ValueError(f"feature cache {path}: does not hold a dict of tensors")
    have = _describe(tensors)
    if first_form:
        _save_record(path, tensors, key)
        return tensors
    for name in sorted(set(expected) | set(have)):
        if have.get(name) != expected.get(name):
            raise ValueError(f"feature cache {path}: tensor {name!r} is {have.get(name)}, its "
                             f"record says {expected.get(name)}")
    return tensors


def _save(path: Path, tensors: dict[str, torch.Tensor], key: Mapping[str, object]) -> None:
    atomic.torch_save(tensors, path)
    _save_record(path, tensors, key)


def _save_record(path: Path, tensors: dict[str, torch.Tensor], key: Mapping[str, object]) -> None:
    record = {"key": dict(key), "tensors": _describe(tensors)}
    atomic.write_text(path.with_suffix(".json"),
                      json.dumps(record, sort_keys=True, indent=1) + "\n")


def cached_features(dataset: str, key: Mapping[str, object],
                    compute: Callable[[], dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The tensors of ``key``: read from the cache, or computed by ``compute()`` and stored."""
    path = cache_path(dataset, key)
    with atomic.lock(path):
        if path.is_file():
            try:
                return _check_entry(path, key)
            except ValueError as err:
                warnings.warn(f"{err}; recomputing it", stacklevel=2)
        tensors = compute()
        _save(path, tensors, key)
        return tensors
