"""Run a LoihiNetwork in Lava (CPU simulation of Loihi 2) and always clean up.

:func:`run_on_lava` runs all samples back to back in one Lava runtime (one gap step between
samples resets every state; see :mod:`lprnn.snn.lava.procs.process`), one ``RunSteps`` per
sample so a progress bar moves and an interrupt lands between samples. Whatever happens, the
runtime is stopped, its worker processes are joined and its shared memory is released:

- an exception raised inside a Lava process is re-raised here as :class:`LavaProcessError`
  carrying the worker's real traceback (Lava itself only says "1 Exception(s) occurred");
- ``KeyboardInterrupt`` stops the runtime and propagates;
- spike files live in a temporary directory that is removed after they are read.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

# imports Lava with the fork start method forced (see lprnn.snn.lava.procs)
import lprnn.snn.lava.procs  # noqa: F401, I001
import numpy as np
import torch
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from tqdm.auto import tqdm

from lprnn.snn.lava.formats import encode_inputs
from lprnn.snn.lava.network import NUMERICS, LavaGraph, build_graph
from lprnn.snn.network import LoihiNetwork


_POLL_SECONDS = 0.002


class LavaProcessError(RuntimeError):
    """An exception inside a Lava worker process; the message holds its traceback."""


@dataclass
class LavaResult:
    """What one Lava run produced (shapes as :class:`lprnn.snn.SimulationResult`)."""

    logits: np.ndarray              # [N, C]: int64 (fixed_pt) or float64 (floating_pt)
    spikes: dict[str, np.ndarray] | None  # per layer name, bool [N, T·k, n] (record_spikes)
    numeric: str
    n_steps: int                    # Lava steps run (T·k + 1 per sample)
    seconds: float                  # wall time of the steps (without build and start-up)

    @property
    def predictions(self) -> np.ndarray:
        return self.logits.argmax(axis=1)

    @property
    def steps_per_second(self) -> float:
        return self.n_steps / self.seconds


def _worker_errors(runtime, join: bool) -> list[str]:
    """Tracebacks of the Lava worker processes that raised (``join``: wait for all to end)."""
    errors = []
    for actor in runtime._messaging_infrastructure.actors:
        if join:
            actor.join()
        if actor.exception:
            _, trace = actor.exception
            errors.append(trace)
    return errors


def _run_steps(runtime, root, n_steps: int) -> None:
    """Run n_steps, polling the workers: Lava's own blocking wait hangs forever when a process
    that others wait on (a neuron, a Dense) dies, because its peers block on its channels."""
    root.run(condition=RunSteps(num_steps=n_steps, blocking=False))
    while not all(port.probe() for port in runtime.service_to_runtime):
        errors = _worker_errors(runtime, join=False)
        if errors:
            raise LavaProcessError(
                f"{len(errors)} Lava process(es) failed; first traceback:\n{errors[0]}")
        time.sleep(_POLL_SECONDS)
    try:
        runtime.wait()
    except RuntimeError as err:
        errors = _worker_errors(runtime, join=True)
        if not errors:
            raise
        raise LavaProcessError(
            f"{len(errors)} Lava process(es) failed; first traceback:\n{errors[0]}") from err


def _shutdown(runtime, workers_failed: bool) -> None:
    """Stop the runtime; after a worker error only release processes and shared memory.

    After a worker error Lava's runtime services have already exited, so the normal stop
    handshake would wait forever; the workers are joined and the shared memory released.
    """
    if runtime is None:
        return
    try:
        if not workers_failed and runtime._is_started:
            runtime.stop()
            return
    finally:
        for actor in runtime._messaging_infrastructure.actors:
            if not actor._is_done:
                if actor.is_alive():
                    actor.terminate()
                actor.join()
    runtime._is_started = runtime._is_running = False
    runtime._messaging_infrastructure.stop()
    runtime._watchdog_manager.stop()


def run_graph(graph: LavaGraph, *, progress: bool = False,
              on_sample: Callable[[int], None] | None = None) -> tuple[np.ndarray, float]:
    """Run a built graph for all its samples; returns (readout logits [N, C], seconds stepping).

    Stops the runtime in every case. ``on_sample(i)`` is called after sample i (progress
    hooks, tests of interruption).
    """
    select_tag = graph.numeric
    config = Loihi2SimCfg(select_tag=select_tag)
    root = graph.source
    runtime = None
    workers_failed = False
    try:
        root.create_runtime(run_cfg=config)
        runtime = root.runtime
        start = time.perf_counter()
        samples = range(graph.n_samples)
        for sample in tqdm(samples, desc=f"Lava {select_tag}", unit="sample",
                           disable=not progress):
            try:
                _run_steps(runtime, root, graph.sample_steps + graph.gap_steps)
            except LavaProcessError:
                workers_failed = True
                raise
            if on_sample is not None:
                on_sample(sample)
        seconds = time.perf_counter() - start
        return np.asarray(graph.readout.logits.get()), seconds
    finally:
        _shutdown(runtime, workers_failed)


def run_on_lava(network: LoihiNetwork, inputs: torch.Tensor | np.ndarray, *,
                numeric: str = "fixed_pt", record_spikes: bool = True,
                progress: bool = False) -> LavaResult:
    """Run ``inputs`` [N, T, F] (features, as for the simulator) through ``network`` in Lava.

    ``numeric="fixed_pt"`` (Loihi2SimCfg(select_tag="fixed_pt")) is bit-exact Loihi arithmetic
    and must equal :func:`lprnn.snn.simulate` spike for spike; ``"floating_pt"`` runs the same
    graph in float (Dense weights W·2**exp, unrounded inputs x·input_scale). The network and
    the inputs are checked before any process starts (:mod:`lprnn.snn.lava.formats`).
    """
    if numeric not in NUMERICS:
        raise ValueError(f"numeric={numeric!r}: expected one of {list(NUMERICS)}")
    x_int = encode_inputs(network, inputs)
    if numeric == "fixed_pt":
        data = x_int
    else:
        data = torch.as_tensor(inputs).double().numpy() * network.input_scale
    with tempfile.TemporaryDirectory(prefix="lprnn-lava-") as spike_dir:
        graph = build_graph(network, data, numeric=numeric,
                            spike_dir=spike_dir if record_spikes else None)
        logits, seconds = run_graph(graph, progress=progress)
        spikes = None
        if record_spikes:
            spikes = {layer.name: np.array(np.load(path, mmap_mode="r"))
                      for layer, path in zip(network.layers, graph.spike_files)}
    if numeric == "fixed_pt":
        logits = logits.astype(np.int64)
    return LavaResult(logits=logits, spikes=spikes, numeric=numeric,
                      n_steps=graph.n_steps, seconds=seconds)
