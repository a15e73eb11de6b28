"""Run a LoihiNetwork in Lava (CPU simulation of Loihi 2) and always clean up.

:func:`run_on_lava` runs all samples back to back in one Lava runtime (one gap step between
samples resets every state; see :mod:`lprnn.snn.lava.procs.process`), one ``RunSteps`` per
sample so a progress bar moves and an interrupt lands between samples. Whatever happens, the
runtime is stopped, its worker processes are joined and its shared memory is released:

- an exception raised inside a Lava process is re-raised here as :class:`LavaProcessError`
  carrying the worker's real traceback (Lava itself only says "1 Exception(s) occurred");
- signals are handled by this (the parent) process alone: Lava's workers are forked with
  SIGINT and SIGTERM ignored, so a Ctrl-C in a terminal, which signals the whole process
  group, no longer kills them under the runtime (whose stop handshake would then wait
  forever). SIGINT raises ``KeyboardInterrupt`` here; SIGTERM, while its handler is the default
  one, raises ``SystemExit(128 + SIGTERM)``. Either stops the runtime (a handshake of at
  most ``STOP_SECONDS``, then SIGKILL for workers that did not end) and propagates; signals
  that arrive while the runtime starts or stops are held and re-raised when it is done;
- spike files live in a temporary directory that is removed after they are read.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

# imports Lava with the fork start method forced (see lprnn.snn.lava.procs)
import lprnn.snn.lava.procs  # noqa: F401, I001
import numpy as np
import torch
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.magma.runtime.mgmt_token_enums import MGMT_COMMAND, MGMT_RESPONSE, enum_equal
from tqdm.auto import tqdm

from lprnn.snn.lava.formats import encode_inputs
from lprnn.snn.lava.network import NUMERICS, LavaGraph, build_graph
from lprnn.snn.network import LoihiNetwork


_POLL_SECONDS = 0.002
# Longest wait for Lava's stop handshake (runtime services acknowledge STOP), and then for
# the workers to exit before those still alive are killed.
STOP_SECONDS = 3.0
_HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# Set while Lava forks its workers: a forked child then ignores the handled signals.
_forking_workers = threading.Event()


def _ignore_signals_in_worker() -> None:
    if _forking_workers.is_set():
        for signum in _HANDLED_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)


os.register_at_fork(after_in_child=_ignore_signals_in_worker)


class LavaProcessError(RuntimeError):
    """An exception inside a Lava worker process; the message holds its traceback."""


@dataclass
class LavaResult:
    """What one Lava run produced (shapes as :class:`lprnn.snn.SimulationResult`)."""

    logits: np.ndarray              # [N, C]: int64 (fixed_pt) or float64 (floating_pt)
    spikes: dict[str, np.ndarray] | None  # per layer name [N, T·k, n]: bool, uint8 payloads if graded
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


def _stop_services(runtime) -> bool:
    """Lava's stop handshake (``Runtime.stop``) with a deadline; True if every service ended.

    A service may first answer a run that was in flight (DONE) before it acknowledges STOP.
    """
    for port in runtime.runtime_to_service:
        port.send(MGMT_COMMAND.STOP)
    deadline = time.monotonic() + STOP_SECONDS
    for port in runtime.service_to_runtime:
        while True:
            while not port.probe():
                if time.monotonic() > deadline:
                    return False
                time.sleep(_POLL_SECONDS)
            if enum_equal(port.recv(), MGMT_RESPONSE.TERMINATED):
                break
    return True


def _end_workers(runtime) -> None:
    """Join every worker, killing (SIGKILL) those still alive after STOP_SECONDS."""
    deadline = time.monotonic() + STOP_SECONDS
    for actor in runtime._messaging_infrastructure.actors:
        if actor._is_done:
            continue
        multiprocessing.Process.join(actor, timeout=max(0.0, deadline - time.monotonic()))
        if actor.is_alive():
            actor.kill()
        actor.join()


def _shutdown(runtime, workers_failed: bool) -> None:
    """Stop the runtime, end its workers and release its shared memory, in bounded time.

    The stop handshake is tried only while every worker is alive and none failed (after a
    worker error or death, Lava's services cannot answer and ``Runtime.stop`` would wait for
    forever); then the workers are joined or killed and the shared memory manager shut down.
    """
    if runtime is None or not hasattr(runtime, "_messaging_infrastructure"):
        return      # nothing was started
    actors = runtime._messaging_infrastructure.actors
    try:
        if not workers_failed and runtime._is_started and all(a.is_alive() for a in actors):
            _stop_services(runtime)
    finally:
        _end_workers(runtime)
        runtime._is_started = runtime._is_running = False
        runtime._messaging_infrastructure.stop()
        runtime._watchdog_manager.stop()


def _terminate(signum: int, frame) -> None:
    raise SystemExit(128 + signum)


@contextmanager
def _signals_handled() -> Iterator[None]:
    """While running: SIGTERM raises SystemExit (if its handler was the default one)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        if previous == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, previous)


@contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM for the duration, then re-raise the first one that came.

    Guards the runtime's start (the workers are forked in it) and its stop, so neither is
    left half done; both take bounded time.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {signum: signal.signal(signum, lambda signum, frame: received.append(signum))
                for signum in _HANDLED_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if received:
            signal.raise_signal(received[0])


def run_graph(graph: LavaGraph, *, progress: bool = False,
              on_sample: Callable[[int], None] | None = None) -> tuple[np.ndarray, float]:
    """Run a built graph for all its samples; returns (readout logits [N, C], seconds stepping).

    Stops the runtime in every case. ``on_sample(i)`` is called after sample i (progress
    hooks, tests of interruption).
    """
    root = graph.source
    runtime = None
    workers_failed = False
    with _signals_handled():
        try:
            with _signals_held():
                _forking_workers.set()
                try:
                    root.create_runtime(run_cfg=Loihi2SimCfg(select_tag=graph.numeric))
                finally:
                    _forking_workers.clear()
                    runtime = root.runtime
            return _run_samples(graph, runtime, progress, on_sample)
        except LavaProcessError:
            workers_failed = True
            raise
        finally:
            with _signals_held():
                _shutdown(runtime, workers_failed)


def _run_samples(graph: LavaGraph, runtime, progress: bool,
                 on_sample: Callable[[int], None] | None) -> tuple[np.ndarray, float]:
    """Step through every sample; returns (readout logits [N, C], seconds stepping)."""
    start = time.perf_counter()
    samples = range(graph.n_samples)
    for sample in tqdm(samples, desc=f"Lava {graph.numeric}", unit="sample",
                       disable=not progress):
        _run_steps(runtime, graph.source, graph.sample_steps + graph.gap_steps)
        if on_sample is not None:
            on_sample(sample)
    seconds = time.perf_counter() - start
    return np.asarray(graph.readout.logits.get()), seconds


def run_on_lava(network: LoihiNetwork, inputs: torch.Tensor | np.ndarray, *,
                numeric: str = "fixed_pt", record_spikes: bool = True,
                progress: bool = False,
                on_sample: Callable[[int], None] | None = None) -> LavaResult:
    """Run ``inputs`` [N, T, F] (features, as for the simulator) through ``network`` in Lava.

    ``numeric="fixed_pt"`` (Loihi2SimCfg(select_tag="fixed_pt")) is Loihi 2 integer arithmetic
    as Lava models it and equals :func:`lprnn.snn.simulate` spike for spike (the tests compare
    the two independent implementations); the logits are computed host-side (see
    :class:`~lprnn.snn.lava.procs.process.WindowReadout`). ``"floating_pt"`` runs the same
    graph in float (Dense weights W·2**exp, unrounded inputs x·input_scale). The network and
    the inputs are checked before any process starts (:mod:`lprnn.snn.lava.formats`).
    ``on_sample(i)`` is called after sample i (see :func:`run_graph`).
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
        logits, seconds = run_graph(graph, progress=progress, on_sample=on_sample)
        spikes = None
        if record_spikes:
            spikes = {layer.name: np.array(np.load(path, mmap_mode="r"))
                      for layer, path in zip(network.layers, graph.spike_files)}
    if numeric == "fixed_pt":
        logits = logits.astype(np.int64)
    return LavaResult(logits=logits, spikes=spikes, numeric=numeric,
                      n_steps=graph.n_steps, seconds=seconds)
