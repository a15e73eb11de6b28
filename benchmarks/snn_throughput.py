"""SNN throughput: lprnn.snn.simulate against the Brian2 reference and Lava fixed_pt, same clips.

    python benchmarks/snn_throughput.py                     # 60 clips, Brian2 whole clip 0
    python benchmarks/snn_throughput.py --clips 20 --brian2-ann-steps 40 --lava-ann-steps 10

Network: the paper-size lpRNN (80-128-512-512-20) mapped by
:func:`lprnn.snn.map_network` with ``k`` SNN steps per ANN step and binary spikes (the Brian2
reference models the paper's binary neuron; ``map_network``'s default sends graded spikes):
the authors' released HD checkpoint when it is in the shared fixtures (realistic spike
rates), else an untrained
``LpRNNClassifier(ModelConfig(n_classes=20))`` (``--untrained`` forces it). Clips: the built-in
digits test set, each made ``--ann-steps`` long (187, an HD clip's length, by default) by
appending the following clips' frames, so that activity stays that of real speech throughout.

Measured in one run, on the same network and clips:

1. Equivalence: Brian2 (``tests/oracles/brian2_reference.py``, numpy code generation as the
   authors used) and Lava ``fixed_pt`` (``lprnn.snn.lava.run_on_lava``) must emit the
   simulator's spikes, step for step, for every neuron (and Brian2 on a tiny random network
   too: whole run, negative exponents, θ > 0, leaky v, recurrent delay).
2. Brian2: clip 0, whole or its first ``--brian2-ann-steps`` ANN steps; Lava: clip 0, its first
   ``--lava-ann-steps`` ANN steps, and half as many. Both are extrapolated per SNN step to a
   whole clip: Brian2's time per step after the first (code generation left out); Lava's wall
   time of the steps of the longer run, and its CPU time (parent and worker processes) as the
   difference between the two runs per extra step, so that build and start-up cancel. Leaving
   those out favours Brian2 and Lava.
3. The simulator: ``--clips`` clips, ``--repeats`` times (median), at 1 thread and at the
   default thread policy (``lprnn.snn.simulator.DEFAULT_THREADS``), and with ``--threads N``
   also at N threads.

Printed: samples/s in wall time and per CPU-second (other jobs on a shared machine inflate wall
times, not CPU times), and the ratios simulator / Brian2 and simulator / Lava.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

# The Brian2 oracle is a test oracle: tests/oracles/brian2_reference.py, imported from the
# repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.oracles.brian2_reference import simulate_brian2  # noqa: E402

from lprnn import config, snn  # noqa: E402
from lprnn.ann.authors import load_authors_checkpoint  # noqa: E402
from lprnn.ann.model import LpRNNClassifier, ModelConfig  # noqa: E402
from lprnn.datasets import load_dataset  # noqa: E402
from lprnn.snn import map_network  # noqa: E402
from lprnn.snn.network import (LoihiLayer, LoihiNetwork, LoihiReadout,  # noqa: E402
                               SigmaDeltaFixedParams)
from lprnn.snn.simulator import DEFAULT_THREADS  # noqa: E402


def tiny_network(readout_source: str, seed: int = 0,
                 decay_rounding: str = "truncate") -> LoihiNetwork:
    """A 4-6-5-3 random integer network exercising what the mapper may not use: negative
    weight exponents, θ > 0, a leaky membrane, with and without the drive clamp; and a
    recurrent delay, as the mapper sets; decays rounded as ``decay_rounding``."""
    rng = np.random.default_rng(seed)

    def weights(n_out: int, n_in: int) -> np.ndarray:
        return (rng.integers(-40, 41, (n_out, n_in)) * 2).astype(np.int32)

    comparator = SigmaDeltaFixedParams(decay_in=410, decay_ip=91, decay_v=4096, decay_fb=410,
                                       feedback_weight=-3000, threshold=0, drive_max=20000,
                                       decay_rounding=decay_rounding)
    leaky = SigmaDeltaFixedParams(decay_in=300, decay_ip=200, decay_v=1000, decay_fb=300,
                                  feedback_weight=-2000, threshold=50,
                                  decay_rounding=decay_rounding)
    layers = [LoihiLayer("lpff", weights(6, 4), 3, rng.integers(-50, 50, 6).astype(np.int32), 2,
                         comparator, 100.0),
              LoihiLayer("rnn_layers.0", weights(5, 6), 4,
                         rng.integers(-50, 50, 5).astype(np.int32), 1, leaky, 100.0,
                         recurrent_weights=weights(5, 5), recurrent_weight_exp=-1,
                         recurrent_delay=2)]
    return LoihiNetwork(layers, LoihiReadout(weights(3, 5), rng.integers(-5, 5, 3),
                                             source=readout_source),
                        steps_per_ann_step=4, input_scale=64.0)


def spike_mismatches(network: LoihiNetwork, x: torch.Tensor, n_snn_steps: int | None = None
                     ) -> tuple[dict[str, int], dict[str, int], object]:
    """Per layer: spikes differing between Brian2 and the fast simulator, and spikes emitted."""
    fast = snn.simulate(network, x.unsqueeze(0), record=True)
    reference = simulate_brian2(network, x, n_snn_steps=n_snn_steps)
    steps = reference.n_snn_steps
    differ = {name: int((fast.spikes[name][0, :steps].numpy() != spikes).sum())
              for name, spikes in reference.spikes.items()}
    emitted = {name: int(spikes.sum()) for name, spikes in reference.spikes.items()}
    if n_snn_steps is None and not np.array_equal(fast.logits[0].numpy(), reference.logits):
        differ["logits"] = 1
    return differ, emitted, reference


def _cpu_seconds_with_children() -> float:
    """CPU seconds of this process and of its finished child processes (Lava's workers)."""
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                         resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def clips_of_length(features: torch.Tensor, n_clips: int, n_ann: int) -> torch.Tensor:
    """``n_clips`` clips of ``n_ann`` ANN steps: clip i, then clips i+1, i+2, … appended."""
    stream = features.reshape(-1, features.shape[-1])
    length = features.shape[1]
    if stream.shape[0] < (n_clips - 1) * length + n_ann:
        raise ValueError(f"{features.shape[0]} clips of {length} steps cannot make {n_clips} "
                         f"clips of {n_ann} steps")
    return torch.stack([stream[i * length:i * length + n_ann] for i in range(n_clips)])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps-per-ann-step", "-k", type=int, default=10)
    parser.add_argument("--ann-steps", type=int, default=187,
                        help="ANN steps per clip (187: an HD clip)")
    parser.add_argument("--clips", type=int, default=60, help="clips for the simulator")
    parser.add_argument("--batch-size", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3,
                        help="simulator runs per thread setting (the median is reported)")
    parser.add_argument("--threads", type=int, default=0,
                        help="also measure the simulator with this many threads (0: no)")
    parser.add_argument("--brian2-ann-steps", type=int, default=0,
                        help="ANN steps of clip 0 run in Brian2 (0: the whole clip)")
    parser.add_argument("--lava-ann-steps", type=int, default=20,
                        help="ANN steps of clip 0 run in Lava (0: no Lava)")
    parser.add_argument("--calibration-samples", type=int, default=32)
    parser.add_argument("--untrained", action="store_true",
                        help="map an untrained paper-size network even if the authors' one exists")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    k = args.steps_per_ann_step

    for source in ("spike_counts", "decoded"):
        differ, _, _ = spike_mismatches(tiny_network(source), torch.randn(
            12, 4, generator=torch.Generator().manual_seed(0)))
        print(f"tiny network ({source} readout), Brian2 vs simulator, differing spikes "
              f"(and logits): {differ}")

    test = load_dataset("digits", "test")
    x = clips_of_length(test.features, args.clips, args.ann_steps)
    if config.authors_checkpoint() is not None and not args.untrained:
        model, which = load_authors_checkpoint(), "authors' HD checkpoint (trained)"
    else:
        torch.manual_seed(0)
        model, which = LpRNNClassifier(ModelConfig(n_classes=20)), "untrained (seed 0)"
    model.eval()
    network = map_network(model, k, calibration=test.features[:args.calibration_samples],
                          spike_bits=1)
    sizes = "-".join(str(n) for n in [network.n_inputs] + [l.n_neurons for l in network.layers]
                     + [network.readout.n_classes])
    n_ann = x.shape[1]
    clip_steps = n_ann * k
    print(f"network {sizes}, {which}, k={k}: {clip_steps} SNN steps per clip ({n_ann} ANN "
          f"steps); {x.shape[0]} clips")

    brian2_steps = None if args.brian2_ann_steps == 0 else min(args.brian2_ann_steps, n_ann) * k
    differ, emitted, reference = spike_mismatches(network, x[0], brian2_steps)
    print(f"Brian2 vs simulator, clip 0, {reference.n_snn_steps} SNN steps: differing spikes "
          f"{differ} of {emitted} emitted", flush=True)
    per_step = reference.run_seconds / (reference.n_snn_steps - 1)
    per_step_cpu = reference.run_cpu_seconds / (reference.n_snn_steps - 1)
    brian2_wall, brian2_cpu = per_step * clip_steps, per_step_cpu * clip_steps
    print(f"Brian2 (numpy): {1e3 * per_step:.3f} ms per SNN step (after code generation, "
          f"{reference.warmup_seconds:.2f} s) → {brian2_wall:.2f} s wall, {brian2_cpu:.2f} s CPU "
          "per clip", flush=True)

    lava_wall = lava_cpu = None
    if args.lava_ann_steps > 0:
        from lprnn.snn.lava import run_on_lava
        runs = []
        for ann_steps in (max(args.lava_ann_steps // 2, 1), args.lava_ann_steps):
            short = x[:1, :min(ann_steps, n_ann)]
            cpu_before = _cpu_seconds_with_children()
            lava = run_on_lava(network, short)
            cpu = _cpu_seconds_with_children() - cpu_before
            ours = snn.simulate(network, short, record=True)
            differ = {name: int((ours.spikes[name].numpy() != lava.spikes[name]).sum())
                      for name in lava.spikes}
            differ["logits"] = int(not np.array_equal(ours.logits.numpy(), lava.logits))
            emitted = {name: int(spikes.sum()) for name, spikes in lava.spikes.items()}
            print(f"Lava fixed_pt vs simulator, clip 0, {short.shape[1] * k} SNN steps: "
                  f"differing spikes (and logits) {differ} of {emitted} emitted; "
                  f"{lava.n_steps} steps in {lava.seconds:.2f} s wall (run only), "
                  f"{cpu:.2f} s CPU (all processes, build and start-up included)", flush=True)
            runs.append((lava.n_steps, lava.seconds, cpu))
        (steps_a, _, cpu_a), (steps_b, wall_b, cpu_b) = runs
        lava_wall = wall_b / steps_b * (clip_steps + 1)          # one gap step per clip
        lava_cpu = (cpu_b - cpu_a) / (steps_b - steps_a) * (clip_steps + 1)
        print(f"Lava fixed_pt: {steps_b / wall_b:.1f} steps/s wall → {lava_wall:.1f} s wall per "
              f"clip; marginal CPU {1e3 * (cpu_b - cpu_a) / (steps_b - steps_a):.1f} ms per step "
              f"(difference of the two runs: build and start-up cancel) → {lava_cpu:.1f} s CPU "
              "per clip (extrapolated per step)", flush=True)

    settings = {"1 thread": 1, f"default policy ({DEFAULT_THREADS} thread"
                f"{'s' if DEFAULT_THREADS > 1 else ''})": DEFAULT_THREADS}
    if args.threads:
        settings[f"{args.threads} threads"] = args.threads
    measured = {}
    for label, threads in settings.items():
        walls, cpus = [], []
        for _ in range(args.repeats):
            started, started_cpu = time.perf_counter(), time.process_time()
            result = snn.simulate(network, x, batch_size=args.batch_size, threads=threads)
            walls.append(time.perf_counter() - started)
            cpus.append(time.process_time() - started_cpu)
        measured[label] = (statistics.median(walls), statistics.median(cpus))
        spikes = sum(int(c.sum()) for c in result.spike_counts.values())
        print(f"simulator ({result.backend}), {label}: {x.shape[0]} clips in "
              f"{[round(w, 3) for w in walls]} s wall, {[round(c, 3) for c in cpus]} s CPU; "
              f"{spikes / x.shape[0] / clip_steps / sum(l.n_neurons for l in network.layers):.3f} "
              "spikes per neuron and step", flush=True)

    n = x.shape[0]
    print(f"\nsamples/s (clips of {clip_steps} SNN steps)   wall   per CPU-second")
    for label, (wall, cpu) in measured.items():
        print(f"  simulator, {label:24s} {n / wall:9.2f}   {n / cpu:9.2f}")
    print(f"  Brian2 (numpy)                       {1 / brian2_wall:9.4f}   {1 / brian2_cpu:9.4f}")
    if lava_wall is not None:
        print(f"  Lava fixed_pt                        {1 / lava_wall:9.4f}   {1 / lava_cpu:9.4f}")
    for label, (wall, cpu) in measured.items():
        line = (f"ratio simulator ({label}) / Brian2: {brian2_wall * n / wall:.0f}x wall, "
                f"{brian2_cpu * n / cpu:.0f}x CPU")
        if lava_wall is not None:
            line += (f"; / Lava: {lava_wall * n / wall:.0f}x wall, "
                     f"{lava_cpu * n / cpu:.0f}x CPU")
        print(line)


if __name__ == "__main__":
    main()
