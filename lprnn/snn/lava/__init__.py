"""The Loihi 2 backend in Lava: the ΣΔ low-pass neuron Process, the network builder, the runner.

- :mod:`~lprnn.snn.lava.formats`: what Lava's fixed-point Dense keeps exactly; the checks
  that refuse a network or inputs before anything starts (NumPy only, no Lava import);
- :mod:`~lprnn.snn.lava.procs.process`: the Processes (interfaces: ports and Vars);
- :mod:`~lprnn.snn.lava.procs.models`: their ``fixed_pt`` and ``floating_pt`` ProcessModels;
- :mod:`~lprnn.snn.lava.network`: :func:`build_graph`, LoihiNetwork → Lava processes;
- :mod:`~lprnn.snn.lava.runner`: :func:`run_on_lava`, which always stops the runtime.

Lava is imported only inside this package, and only when one of the Lava modules is used:
``import lprnn.snn.lava`` itself does not need Lava.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "run_on_lava": "runner", "run_graph": "runner", "LavaResult": "runner",
    "LavaProcessError": "runner", "build_graph": "network", "LavaGraph": "network",
    "SigmaDeltaLowPass": "procs.process", "GradedInput": "procs.process",
    "WindowReadout": "procs.process",
    "check_network": "formats", "encode_inputs": "formats", "dense_encoding": "formats",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_LAZY)
