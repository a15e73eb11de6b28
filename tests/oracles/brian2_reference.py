"""A Brian2 reference simulator of a mapped LoihiNetwork: the same integer update, in Brian2.

The authors simulated their spiking network with Brian2; this is the same kind of simulation
of *our* mapped network, used by ``benchmarks/snn_throughput.py`` as the speed baseline of the
fast simulator (:func:`lprnn.snn.simulate`). Benchmark-only dependency: ``brian2`` (the
``bench`` extra). Code generation target ``numpy``, as the authors used.

The fixed-point ΣΔ step of :mod:`lprnn.core.sigma_delta` is written as Brian2 abstract
code over float64 state variables that hold integers; every operation is exact in float64
(|states| < 2**24, decay products < 2**36, weight sums < 2**53):

    decay(x, d) = sign(x) · floor((|x| · (4096 − d) + h) / 4096)  (= sign(x)·((|x|·(4096−d) + h) >> 12))
                  h = 0 for decay_rounding "truncate", 2048 for "nearest"
    a     = floor(A_ff · 2**e_W) + floor(A_rec · 2**e_U)          (<< e, or >> −e = floor)
    i_in  = clip(decay(i_in, d_in) + a, −MAX, MAX)
    u     = i_in + bias                 (clip(i_in + bias, 0, drive_max) when drive_max is set)
    i_ip  = clip(decay(i_ip, d_ip) + u, 0, MAX)
    v     = clip(decay(v, d_v) + i_ip + i_fb, 0, MAX)
    i_fb  = decay(i_fb, d_fb)                                      ("start" slot, every step)
    s     = v > θ                                                  ("thresholds" slot)
    v = 0;  i_fb = clip(i_fb + w_fb, −MAX, MAX)  where s           ("resets" slot)

(``sat(decay(i_fb) + w_fb·s)`` split in two: decay never leaves the range, so it is the same.)
``A_ff`` and ``A_rec`` are integer accumulators: the synapses of step n−1 add their weight
(``on_pre: A_ff_post += w``, graded input synapses ``+= w · x_pre``) in the "synapses" slot,
and the neuron update of step n reads and clears them: the one-step delay of every connection
of docs/METHOD.md. The input is a group of ``n_inputs`` graded sources holding
``x_int[n // k]`` (a ``TimedArray``), firing whenever non-zero; through that delay the first layer
sees ``x_int[(n − 1) // k]`` (``lprnn.core.conventions.held_input_step``). Only non-zero weights become
synapses (Brian2 is event driven; zero weights change nothing).

Readout, as :func:`lprnn.snn.simulate`: ``W_ro · c + bias · N_w`` over the window, with ``c`` the
last layer's spike counts (``readout.source == "spike_counts"``) or the sum of its −i_fb after
each step of the window (``"decoded"``; a ``StateMonitor`` in the "end" slot, after resets).

Timing: wall time and CPU time of this process (``time.process_time``); on a shared machine the
CPU time is the fairer measure.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import brian2
import numpy as np
import torch

from lprnn.core import hardware
from lprnn.snn.network import LoihiNetwork
from lprnn.snn import encode_input

brian2.prefs.codegen.target = "numpy"

_DECAY = "sign({x}) * floor((abs({x}) * ({unity} - {d}) + half) / {unity})"

_NEURON_MODEL = """
i_in : 1
i_ip : 1
v : 1
i_fb : 1
A_ff : 1
A_rec : 1
bias : 1 (constant)
"""


@dataclass
class Brian2Result:
    """Spikes of one sample, per layer (bool [n_steps, n]), the logits and the run time."""

    spikes: dict[str, np.ndarray]
    logits: np.ndarray        # int64 [C]; over the simulated steps only
    n_snn_steps: int
    build_seconds: float      # constructing the Brian2 objects
    warmup_seconds: float     # the first SNN step (code generation included)
    run_seconds: float        # the remaining n_snn_steps − 1 steps, wall time
    run_cpu_seconds: float    # the same, CPU time of this process


def _update_code(clamp_drive: bool) -> str:
    def decay(x: str, d: str) -> str:
        return _DECAY.format(x=x, d=d, unity=hardware.DECAY_UNITY)
    drive = "clip(i_in + bias, 0, drive_max)" if clamp_drive else "i_in + bias"
    return "\n".join([
        "a_step = floor(A_ff * scale_ff) + floor(A_rec * scale_rec)",
        "A_ff = 0",
        "A_rec = 0",
        f"i_in = clip({decay('i_in', 'd_in')} + a_step, -state_max, state_max)",
        f"i_ip = clip({decay('i_ip', 'd_ip')} + {drive}, 0, state_max)",
        f"v = clip({decay('v', 'd_v')} + i_ip + i_fb, 0, state_max)",
        f"i_fb = {decay('i_fb', 'd_fb')}",
    ])


def _connect(source, target, weights: np.ndarray, on_pre: str, name: str,
             delay_steps: int = 0) -> brian2.Synapses:
    """Synapses for the non-zero weights; ``delay_steps`` extra steps on top of the one step
    every connection has (a spike at step n is read by the target's update at n + 1 + D)."""
    post, pre = np.nonzero(weights)
    synapses = brian2.Synapses(source, target, model="w : 1 (constant)", on_pre=on_pre, name=name)
    synapses.connect(i=pre, j=post)
    synapses.w = weights[post, pre].astype(np.float64)
    if delay_steps:
        synapses.delay = delay_steps * brian2.defaultclock.dt
    return synapses


def simulate_brian2(network: LoihiNetwork, x: torch.Tensor, *, n_snn_steps: int | None = None
                    ) -> Brian2Result:
    """Run one sample ``x`` [T, F] (features as fed to the ANN) through Brian2.

    ``n_snn_steps`` truncates the run (default: all T·k steps); the logits then count the
    window steps that were simulated.
    """
    if x.dim() != 2:
        raise ValueError(f"x has shape {tuple(x.shape)}: expected one sample [T, F]")
    k = network.steps_per_ann_step
    x_int = encode_input(network, x.unsqueeze(0))[0].numpy().astype(np.float64)   # [T, F]
    total = x_int.shape[0] * k
    n_steps = total if n_snn_steps is None else n_snn_steps
    if not 1 <= n_steps <= total:
        raise ValueError(f"n_snn_steps={n_snn_steps}: expected 1 ≤ n ≤ T·k = {total}")

    started = time.perf_counter()
    brian2.start_scope()
    dt = brian2.defaultclock.dt
    held = brian2.TimedArray(np.repeat(x_int, k, axis=0)[:n_steps], dt=dt)
    source = brian2.NeuronGroup(network.n_inputs, "x = held(t, i) : 1", threshold="x != 0",
                                reset="", namespace={"held": held}, name="graded_input")
    objects: list = [source]
    groups, monitors = [], []
    for index, layer in enumerate(network.layers):
        p = layer.neuron
        namespace = dict(d_in=p.decay_in, d_ip=p.decay_ip, d_v=p.decay_v, d_fb=p.decay_fb,
                         half=hardware.DECAY_UNITY // 2 if p.decay_rounding == "nearest" else 0,
                         w_fb=float(p.feedback_weight), theta=float(p.threshold),
                         state_max=float(hardware.STATE_MAX),
                         drive_max=float(p.drive_max if p.drive_max is not None else 0),
                         scale_ff=2.0 ** layer.weight_exp,
                         scale_rec=2.0 ** layer.recurrent_weight_exp)
        group = brian2.NeuronGroup(layer.n_neurons, _NEURON_MODEL, threshold="v > theta",
                                   reset="v = 0\ni_fb = clip(i_fb + w_fb, -state_max, state_max)",
                                   namespace=namespace, name=f"layer{index}")
        group.bias = layer.bias.astype(np.float64)
        group.run_regularly(_update_code(p.drive_max is not None), when="start",
                            name=f"layer{index}_update")
        previous = source if index == 0 else groups[-1]
        on_pre = "A_ff_post += w * x_pre" if index == 0 else "A_ff_post += w"
        objects.append(_connect(previous, group, np.asarray(layer.weights), on_pre,
                                f"ff{index}"))
        if layer.recurrent_weights is not None:
            objects.append(_connect(group, group, np.asarray(layer.recurrent_weights),
                                    "A_rec_post += w", f"rec{index}", layer.recurrent_delay))
        monitor = brian2.SpikeMonitor(group, name=f"spikes{index}")
        groups.append(group)
        monitors.append(monitor)
    if network.readout.source == "decoded":
        feedback = brian2.StateMonitor(groups[-1], "i_fb", record=True, when="end",
                                      name="feedback_monitor")
        objects.append(feedback)
    elif network.readout.source != "spike_counts":
        raise ValueError(f"readout source {network.readout.source!r}: expected 'spike_counts' "
                         "or 'decoded'")
    net = brian2.Network(objects + groups + monitors)
    build_seconds = time.perf_counter() - started

    started = time.perf_counter()
    net.run(dt)
    warmup_seconds = time.perf_counter() - started
    started, started_cpu = time.perf_counter(), time.process_time()
    net.run((n_steps - 1) * dt)
    run_seconds = time.perf_counter() - started
    run_cpu_seconds = time.process_time() - started_cpu

    spikes = {}
    for layer, monitor in zip(network.layers, monitors):
        raster = np.zeros((n_steps, layer.n_neurons), dtype=bool)
        steps = np.round(np.asarray(monitor.t / dt)).astype(np.int64)
        raster[steps, np.asarray(monitor.i)] = True
        spikes[layer.name] = raster
    window = network.window_start(x_int.shape[0])
    if network.readout.source == "decoded":
        counts = -np.rint(np.asarray(feedback.i_fb)[:, window:]).astype(np.int64).sum(axis=1)
    else:
        counts = spikes[network.layers[-1].name][window:].sum(axis=0).astype(np.int64)
    logits = (np.asarray(network.readout.weights, dtype=np.int64) @ counts
              + np.asarray(network.readout.bias, dtype=np.int64) * max(n_steps - window, 0))
    return Brian2Result(spikes, logits, n_steps, build_seconds, warmup_seconds, run_seconds,
                        run_cpu_seconds)
