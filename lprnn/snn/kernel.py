"""The compiled path of :func:`lprnn.snn.simulate`: a fused, event-driven C kernel.

``kernel.c`` (next to this file) runs the whole fixed-point network for a batch, one sample at
a time: per SNN step and layer it adds only the weight rows of the neurons that spiked
(events; weights held as 8-bit mantissas times a power of two, as Loihi stores them), then
updates the four ΣΔ states of every neuron in one pass, in 32-bit integers (exact: see the
comment at the top of ``kernel.c``). It computes exactly what the pure-torch
path of :mod:`lprnn.snn.simulator` computes; the tests check both against an independent
NumPy oracle.

Built on first use with the system C compiler (``$CC``, else ``cc``/``gcc``;
``-O3 -march=native``) into ``$LPRNN_KERNEL_DIR`` (default ``~/.cache/lprnn/kernels``), keyed
by the source, the flags, the compiler and the CPU; later imports load the cached library with
:mod:`ctypes` (the call releases the GIL, so ``threads`` > 1 run chunks of the batch in
parallel). :func:`unsupported` says why a network or machine cannot use it; the simulator then
takes the pure-torch path (``backend="auto"``) or raises (``backend="kernel"``).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from lprnn.core import hardware
from lprnn.snn.network import LoihiNetwork

SOURCE = Path(__file__).with_name("kernel.c")
FLAGS = ("-O3", "-march=native", "-shared", "-fPIC", "-std=c99")
MAX_LAYERS = 16          # outputs_t in kernel.c
RING_MAX = 66            # recurrent_delay + 2 ≤ RING_MAX in kernel.c
MAX_INPUTS = 2 ** 23    # 128 · n_inputs · P < 2**31: W · s fits the kernel's int32 sums
DRIVE_LIMIT = 2 ** 30    # |bias| must stay below (kernel.c clips the synaptic input there)


class KernelUnavailable(RuntimeError):
    """No C compiler, or the kernel failed to build or load."""


class _Layer(ctypes.Structure):
    _fields_ = [("n_in", ctypes.c_int32), ("n_out", ctypes.c_int32),
                ("weights_t", ctypes.c_void_p), ("weight_exp", ctypes.c_int32),
                ("recurrent_t", ctypes.c_void_p), ("recurrent_exp", ctypes.c_int32),
                ("recurrent_delay", ctypes.c_int32), ("bias", ctypes.c_void_p),
                ("decay_in", ctypes.c_int32), ("decay_ip", ctypes.c_int32),
                ("decay_v", ctypes.c_int32), ("decay_fb", ctypes.c_int32),
                ("feedback_weight", ctypes.c_int32), ("threshold", ctypes.c_int32),
                ("drive_max", ctypes.c_int32), ("payload_max", ctypes.c_int32),
                ("decay_offset", ctypes.c_int32)]


class _Outputs(ctypes.Structure):
    _fields_ = [("window_sum", ctypes.c_void_p)] + [
        (name, ctypes.c_void_p * MAX_LAYERS) for name in (
            "counts", "saturated_steps", "state_max", "spike_record",
            "decoded_sum")]


def _cache_dir() -> Path:
    value = os.environ.get("LPRNN_KERNEL_DIR")
    return Path(value).expanduser() if value else Path.home() / ".cache" / "lprnn" / "kernels"


def _compiler() -> str:
    for candidate in (os.environ.get("CC"), "cc", "gcc"):
        if candidate and shutil.which(candidate):
            return candidate
    raise KernelUnavailable("no C compiler found ($CC, cc, gcc)")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "flags")):
                return line
    except OSError:
        pass
    return platform.processor()


@functools.lru_cache(maxsize=1)
def load() -> ctypes.CDLL:
    """The compiled kernel (built into the cache on first use); raises KernelUnavailable."""
    compiler = _compiler()
    try:
        version = subprocess.run([compiler, "--version"], capture_output=True, text=True,
                                 timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as err:
        raise KernelUnavailable(f"C compiler {compiler!r} does not run: {err}") from None
    source = SOURCE.read_bytes()
    key = hashlib.sha256(b"\0".join([source, " ".join(FLAGS).encode(), version.encode(),
                                     platform.machine().encode(), _cpu_model().encode()]))
    library = _cache_dir() / f"lprnn_kernel_{key.hexdigest()[:16]}.so"
    if not library.is_file():
        library.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=library.parent) as build:
            built = Path(build) / library.name
            run = subprocess.run([compiler, *FLAGS, "-o", str(built), str(SOURCE)],
                                 capture_output=True, text=True)
            if run.returncode != 0:
                raise KernelUnavailable(f"building {SOURCE.name} with {compiler} failed:\n"
                                        f"{run.stderr.strip()}")
            os.replace(built, library)   # atomic: concurrent builders each install a whole file
    try:
        kernel = ctypes.CDLL(str(library))
    except OSError as err:
        raise KernelUnavailable(f"cannot load {library}: {err}") from None
    kernel.lprnn_simulate.restype = ctypes.c_int
    kernel.lprnn_simulate.argtypes = [
        ctypes.c_int32, ctypes.POINTER(_Layer), ctypes.c_int32, ctypes.c_int32, ctypes.c_int32,
        ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32, ctypes.POINTER(_Outputs)]
    return kernel


def mantissas(weights: np.ndarray) -> tuple[np.ndarray, int] | None:
    """(m, g) with weights = m · 2**g, m int8 and g the largest such power; None if no g fits."""
    w = np.asarray(weights, dtype=np.int64)
    nonzero = w[w != 0]
    if nonzero.size == 0:
        return w.astype(np.int8), 0
    g = int(np.min(nonzero & -nonzero)).bit_length() - 1   # the lowest set bit of all
    m = w >> g
    if m.min() < np.iinfo(np.int8).min or m.max() > np.iinfo(np.int8).max:
        return None
    return m.astype(np.int8), g


def unsupported(network: LoihiNetwork) -> str | None:
    """Why ``network`` is outside what the kernel computes exactly (None: it is inside)."""
    if len(network.layers) > MAX_LAYERS:
        return f"{len(network.layers)} layers, the kernel takes at most {MAX_LAYERS}"
    previous_payload = 1   # the graded input: its drive is formed in 64 bits
    for layer in network.layers:
        matrices = [("weights", layer.weights)]
        if layer.recurrent_weights is not None:
            matrices.append(("recurrent_weights", layer.recurrent_weights))
        fan_in = max(layer.n_inputs * previous_payload,
                     layer.n_neurons * layer.neuron.payload_max
                     if layer.recurrent_weights is not None else 0)
        if fan_in >= MAX_INPUTS:
            return (f"layer {layer.name}: inputs times spike payload {fan_in}, at most "
                    f"{MAX_INPUTS - 1}")
        previous_payload = layer.neuron.payload_max
        for name, matrix in matrices:
            if mantissas(matrix) is None:
                return (f"layer {layer.name}: {name} are not 8-bit mantissas times a power "
                        "of two")
        if layer.recurrent_delay + 2 > RING_MAX:
            return f"layer {layer.name}: recurrent_delay {layer.recurrent_delay} > {RING_MAX - 2}"
        if np.abs(layer.bias).max(initial=0) >= DRIVE_LIMIT:
            return f"layer {layer.name}: |bias| reaches 2**30"
    return None


def simulate_batch(network: LoihiNetwork, x_int: np.ndarray, *, record: bool,
                   track_state_max: bool, threads: int) -> dict[str, object]:
    """Run the kernel on graded inputs x_int (int64 [B, T, F]) in ``threads`` chunks.

    Returns per layer (by name) ``counts`` [B, n], ``saturated_steps`` [B] (steps after which
    a state was at ±STATE_MAX), ``state_max`` [B] (when tracked), and with ``record``
    ``spikes`` [B, T·k, n] (bool; uint8 payloads for graded spikes) and ``decoded_sum`` int64 [B, T, n]; plus ``window_sum``
    [B, n_last] (the readout's source over the window), all NumPy arrays.
    """
    reason = unsupported(network)
    if reason is not None:
        raise ValueError(f"the kernel cannot simulate this network exactly: {reason}")
    kernel = load()
    layers, k = network.layers, network.steps_per_ann_step
    batch, n_ann, _ = x_int.shape
    n_steps = n_ann * k
    keep_alive = []

    def pointer(array: np.ndarray | None) -> int | None:
        if array is None:
            return None
        keep_alive.append(array)
        return array.ctypes.data

    structs = (_Layer * len(layers))()
    for s, layer in zip(structs, layers):
        p = layer.neuron
        s.n_in, s.n_out = layer.n_inputs, layer.n_neurons
        m, g = mantissas(layer.weights)
        s.weights_t, s.weight_exp = pointer(np.ascontiguousarray(m.T)), layer.weight_exp + g
        if layer.recurrent_weights is not None:
            m, g = mantissas(layer.recurrent_weights)
            s.recurrent_t = pointer(np.ascontiguousarray(m.T))
            s.recurrent_exp = layer.recurrent_weight_exp + g
        s.recurrent_delay = layer.recurrent_delay
        s.bias = pointer(np.ascontiguousarray(layer.bias, dtype=np.int32))
        unity = hardware.DECAY_UNITY
        s.decay_in, s.decay_ip = unity - p.decay_in, unity - p.decay_ip
        s.decay_v, s.decay_fb = unity - p.decay_v, unity - p.decay_fb
        s.feedback_weight, s.threshold = p.feedback_weight, p.threshold
        s.drive_max = -1 if p.drive_max is None else p.drive_max
        s.payload_max = p.payload_max
        s.decay_offset = hardware.DECAY_ROUNDING_OFFSETS[p.decay_rounding]

    names = [layer.name for layer in layers]
    sizes = [layer.n_neurons for layer in layers]
    result: dict[str, object] = dict(
        window_sum=np.zeros((batch, sizes[-1]), np.int64),
        counts={nm: np.zeros((batch, n), np.int64) for nm, n in zip(names, sizes)},
        saturated_steps={nm: np.zeros(batch, np.int64) for nm in names},
        state_max={nm: np.zeros(batch, np.int64) for nm in names} if track_state_max else None,
        spikes={layer.name: np.zeros((batch, n_steps, layer.n_neurons),
                                     np.bool_ if layer.neuron.payload_max == 1 else np.uint8)
                for layer in layers} if record else None,
        decoded_sum={nm: np.zeros((batch, n_ann, n), np.int64) for nm, n in zip(names, sizes)}
        if record else None)
    x32 = np.ascontiguousarray(x_int, dtype=np.int32)   # graded spikes are 24-bit
    window = network.window_start(n_ann)
    decoded_readout = int(network.readout.source == "decoded")

    def run(start: int, stop: int) -> int:
        out = _Outputs()
        out.window_sum = result["window_sum"][start:].ctypes.data
        for l, nm in enumerate(names):
            out.counts[l] = result["counts"][nm][start:].ctypes.data
            out.saturated_steps[l] = result["saturated_steps"][nm][start:].ctypes.data
            if track_state_max:
                out.state_max[l] = result["state_max"][nm][start:].ctypes.data
            if record:
                out.spike_record[l] = result["spikes"][nm][start:].ctypes.data
                out.decoded_sum[l] = result["decoded_sum"][nm][start:].ctypes.data
        return kernel.lprnn_simulate(len(layers), structs, stop - start, n_ann, k,
                                     x32[start:].ctypes.data, window, decoded_readout,
                                     ctypes.byref(out))

    bounds = np.linspace(0, batch, min(threads, batch) + 1).astype(int)
    chunks = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    if len(chunks) == 1:
        codes = [run(*chunks[0])]
    else:
        with ThreadPoolExecutor(len(chunks)) as pool:
            codes = list(pool.map(lambda c: run(*c), chunks))
    if any(code != 0 for code in codes):
        raise MemoryError("the simulation kernel could not allocate its buffers")
    return result
