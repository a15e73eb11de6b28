"""The Lava Processes (process.py) and their ProcessModels (models.py).

They live in a package of their own because Lava's compiler discovers ProcessModels by
executing every module next to a Process's module as a stand-alone file.

Importing this package imports Lava safely: Lava's multiprocessing module calls
``multiprocessing.set_start_method("fork")`` at import, which raises "context has already been
set" when anything (a data loader, Jupyter) chose a start method first. Lava needs ``fork``
and sets it in any case, so the call is made with ``force=True``.
"""

from __future__ import annotations

import multiprocessing


def _import_lava_runtime() -> None:
    set_start_method = multiprocessing.set_start_method

    def forced(method: str | None, force: bool = False) -> None:
        set_start_method(method, force=True)

    multiprocessing.set_start_method = forced
    try:
        import lava.magma.runtime.message_infrastructure.multiprocessing  # noqa: F401
    finally:
        multiprocessing.set_start_method = set_start_method


_import_lava_runtime()
