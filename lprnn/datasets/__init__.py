"""Sequence datasets: ``load_dataset(name, split)`` and the :class:`SequenceDataset` they return.

Every dataset is a fixed-length sequence classification set: ``features [N, T, F]`` float32
(time first, features last), ``labels [N]`` int64; ``ds[i] -> (features[i], int(labels[i]))``.

Registry. :data:`LOADERS` maps a dataset name to its loader, a function

    loader(split: str, *, root: Path | None, download: bool, quick: bool, **options)
        -> SequenceDataset

Your own data: :func:`register_dataset` adds a loader under a new name, e.g. a folder or CSV
manifest of recordings through the package's front ends
(``register_dataset("mywords", lprnn.datasets.audio.audio_loader("/data/mywords.csv"))``), or
``load_dataset("audio", split, root=FOLDER_OR_CSV)`` without registering.

To add a built-in dataset ``NAME``: write ``lprnn/datasets/NAME.py`` with a function
``load(split, *, root: Path, download, quick, progress=True, **options) -> SequenceDataset``
(it may import :class:`SequenceDataset` from here) and add ``"NAME": _module_loader("NAME")`` to
:data:`LOADERS` (``_module_loader(module, function, folder=..., **preset_options)`` for variants
of one module, e.g. ``gsc35``). Modules are imported on first use, so a dataset's optional
dependencies are only needed when it is loaded. :func:`load_dataset` checks the name and the
split; the entry resolves ``root=None`` to ``lprnn.config.data_dir() / folder``; the module's
``load`` checks its own options and raises ``ValueError`` listing the known ones.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.data import Dataset

from lprnn import config

SPLITS = ("train", "val", "test")


class SequenceDataset(Dataset):
    """Fixed-length labelled sequences held in memory.

    ``features`` float32 ``[N, T, F]``, ``labels`` int64 ``[N]`` in ``range(len(classes))``.
    """

    def __init__(self, features: torch.Tensor, labels: torch.Tensor, classes: list[str],
                 name: str) -> None:
        if not isinstance(features, torch.Tensor) or features.dim() != 3:
            raise ValueError(f"features: expected a [N, T, F] tensor, got "
                             f"{getattr(features, 'shape', type(features).__name__)}")
        if not isinstance(labels, torch.Tensor) or labels.shape != features.shape[:1]:
            raise ValueError(f"labels: expected a [{features.shape[0]}] tensor, got "
                             f"{getattr(labels, 'shape', type(labels).__name__)}")
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= len(classes)):
            raise ValueError(f"labels span [{int(labels.min())}, {int(labels.max())}]: expected "
                             f"values in [0, {len(classes) - 1}] for {len(classes)} classes")
        self.features = features.to(torch.float32)
        self.labels = labels.to(torch.int64)
        self.classes = list(classes)
        self.name = name

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.features[index], int(self.labels[index])

    @property
    def n_features(self) -> int:
        return int(self.features.shape[2])

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def n_steps(self) -> int:
        return int(self.features.shape[1])

    def __repr__(self) -> str:
        return (f"SequenceDataset(name={self.name!r}, n={len(self)}, n_steps={self.n_steps}, "
                f"n_features={self.n_features}, n_classes={self.n_classes})")


Loader = Callable[..., SequenceDataset]


def _module_loader(module_name: str, function: str = "load", folder: str | None = None,
                   resolve_root: bool = True, **preset: object) -> Loader:
    """A registry entry: ``lprnn.datasets.<module_name>.<function>``, imported on first call.

    ``root=None`` becomes ``lprnn.config.data_dir() / folder`` (default: the module name), so
    entries that share data (``gsc`` and ``gsc35``) share one folder; with
    ``resolve_root=False`` the module's own function resolves ``root=None`` (``fsdd`` also
    looks in the shared folder). ``preset`` options are passed first and can be overridden by
    the caller's.
    """

    def load(split: str, *, root: Path | None, **kwargs: object) -> SequenceDataset:
        module = importlib.import_module(f"lprnn.datasets.{module_name}")
        if root is None and resolve_root:
            root = config.data_dir() / (folder or module_name)
        return getattr(module, function)(split, root=root, **{**preset, **kwargs})

    load.__name__ = f"load_{module_name}"
    return load


LOADERS: dict[str, Loader] = {
    "digits": _module_loader("digits"),
    "fsdd": _module_loader("fsdd", resolve_root=False),
    "audio": _module_loader("audio", resolve_root=False),
    "hd": _module_loader("hd"),
    "gsc": _module_loader("gsc"),
    "gsc35": _module_loader("gsc", folder="gsc", task=35),
    "gsc_v1": _module_loader("gsc", folder="gsc", version="v0.01"),
    "shd": _module_loader("shd"),
    "ssc": _module_loader("shd", "load_ssc", folder="ssc"),
}


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def register_dataset(name: str, loader: Loader, *, replace: bool = False) -> None:
    """Make ``load_dataset(name, ...)`` (and recipes, and ``python -m lprnn train --dataset``)
    call ``loader(split, *, root, download, quick, **options) -> SequenceDataset``.

    ``name`` is also the folder of its feature cache: letters, digits, ``_``, ``.`` and ``-``.
    An existing name is refused unless ``replace=True``.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"dataset name {name!r}: expected letters, digits, '_', '.' or '-' "
                         "(it names a cache folder)")
    if not callable(loader):
        raise TypeError(f"loader {loader!r}: expected a function "
                        "loader(split, *, root, download, quick, **options) -> SequenceDataset")
    if name in LOADERS and not replace:
        raise ValueError(f"dataset {name!r} is already registered: pass replace=True to "
                         "replace it")
    LOADERS[name] = loader


def dataset_names() -> list[str]:
    return sorted(LOADERS)


def load_dataset(name: str = "digits", split: str = "train", *, root: str | Path | None = None,
                 download: bool = False, quick: bool = False, **options: object) -> SequenceDataset:
    """The ``split`` ("train", "val" or "test") of dataset ``name``.

    ``root``: where the dataset is kept or generated (default ``lprnn.config.data_dir()/<folder>``,
    the folder being the dataset's name except for ``gsc35``/``gsc_v1``, which share ``gsc``);
    ``download``: allow fetching data that is not there yet (datasets that need it);
    ``quick``: the dataset's small smoke-test version; ``options``: dataset-specific settings
    (e.g. ``progress=False``; each loader lists its own and rejects unknown ones).
    """
    if name not in LOADERS:
        raise ValueError(f"unknown dataset {name!r}: expected one of {dataset_names()}")
    if split not in SPLITS:
        raise ValueError(f"split {split!r}: expected one of {list(SPLITS)}")
    root = Path(root).expanduser() if root is not None else None
    return LOADERS[name](split, root=root, download=bool(download), quick=bool(quick), **options)
