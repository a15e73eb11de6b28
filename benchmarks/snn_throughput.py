"""SNN throughput: the fast simulator (lprnn.snn) against a Brian2 reference of the same equations.

    python benchmarks/snn_throughput.py                        # whole test set, whole Brian2 sample
    python benchmarks/snn_throughput.py --test-samples 100 --brian2-ann-steps 20   # quicker

Network: the paper-size lpRNN (80-128-512-512-20, 3-bit weights) mapped by
:func:`lprnn.snn.map_network` with ``k`` SNN steps per ANN step: the authors' released HD
checkpoint when it is in the shared fixtures (realistic spike rates), else an untrained
``LpRNNClassifier(ModelConfig(n_classes=20))`` (``--untrained`` forces it). Inputs: the
built-in digits test set (``lprnn.datasets.load_dataset("digits", "test")``).

What is measured, on the same network and the same inputs:

1. Equivalence: the Brian2 reference (``tests/oracles/brian2_reference.py``, numpy code
   generation as the authors used) and the fast simulator must emit the same spikes, step for
   step, for every neuron: on a tiny random network (whole run, negative exponents, θ > 0,
   leaky v) and on the benchmark network for the steps Brian2 simulates.
2. Brian2: one sample (test sample 0), the whole sequence or its first ``--brian2-ann-steps``
   ANN steps; its per-sample time is the measured time per SNN step (after a first step that
   includes code generation) times the SNN steps of a whole sample. (A truncated run covers the
   quiet start of the clip, with fewer spikes than the rest: it underestimates Brian2's time.)
3. Fast simulator: the whole test set in batches of ``--batch-size`` (its samples/s and the
   test-set time), and one sample alone (batch 1), the like-for-like comparison with Brian2.

Printed: samples/s of both, in wall time and per CPU-second of this process (the fair measure
on a shared machine: other jobs inflate wall times, not CPU times), their ratios (batched and
batch 1), the test-set time and SNN accuracy. Torch uses ``--threads`` CPU threads.

"""

from __future__ import annotations

import argparse
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
from lprnn.datasets import load_dataset  # noqa: E402
from lprnn.snn import map_network  # noqa: E402
from lprnn.ann.authors import load_authors_checkpoint  # noqa: E402
from lprnn.ann.model import LpRNNClassifier, ModelConfig  # noqa: E402
from lprnn.snn.network import (LoihiLayer, LoihiNetwork, LoihiReadout,  # noqa: E402
                           SigmaDeltaFixedParams)


def tiny_network(readout_source: str, seed: int = 0) -> LoihiNetwork:
    """A 4-6-5-3 random integer network exercising what the mapper may not use: negative
    weight exponents, θ > 0, a leaky membrane, with and without the drive clamp; and a
    recurrent delay, as the mapper sets."""
    rng = np.random.default_rng(seed)

    def weights(n_out: int, n_in: int) -> np.ndarray:
        return (rng.integers(-40, 41, (n_out, n_in)) * 2).astype(np.int32)

    comparator = SigmaDeltaFixedParams(decay_in=410, decay_ip=91, decay_v=4096, decay_fb=410,
                                       feedback_weight=-3000, threshold=0, drive_max=20000)
    leaky = SigmaDeltaFixedParams(decay_in=300, decay_ip=200, decay_v=1000, decay_fb=300,
                                  feedback_weight=-2000, threshold=50)
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps-per-ann-step", "-k", type=int, default=10)
    parser.add_argument("--brian2-ann-steps", type=int, default=0,
                        help="ANN steps of test sample 0 run in Brian2 (0: the whole sequence)")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--test-samples", type=int, default=0,
                        help="test samples for the fast simulator (0: the whole test set)")
    parser.add_argument("--calibration-samples", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1 measured fastest per CPU-second on 2 shared cores)")
    parser.add_argument("--untrained", action="store_true",
                        help="map an untrained paper-size network even if the authors' one exists")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    k = args.steps_per_ann_step

    for source in ("spike_counts", "decoded"):
        differ, _, _ = spike_mismatches(tiny_network(source), torch.randn(
            12, 4, generator=torch.Generator().manual_seed(0)))
        print(f"tiny network ({source} readout), Brian2 vs fast simulator, differing spikes "
              f"(and logits): {differ}")

    test = load_dataset("digits", "test")
    x = test.features if args.test_samples == 0 else test.features[:args.test_samples]
    labels = test.labels[:x.shape[0]]
    if config.authors_checkpoint() is not None and not args.untrained:
        model, which = load_authors_checkpoint(), "authors' HD checkpoint (trained)"
    else:
        torch.manual_seed(0)
        model, which = LpRNNClassifier(ModelConfig(n_classes=20)), "untrained (seed 0)"
    model.eval()
    network = map_network(model, k, calibration=test.features[:args.calibration_samples])
    sizes = "-".join(str(n) for n in [network.n_inputs] + [l.n_neurons for l in network.layers]
                     + [network.readout.n_classes])
    n_ann = x.shape[1]
    total_steps = n_ann * k
    print(f"network {sizes}, {which}, k={k}: {total_steps} SNN steps per sample "
          f"({n_ann} ANN steps); test set {tuple(x.shape)}; torch threads {args.threads}")

    brian2_steps = None if args.brian2_ann_steps == 0 else min(args.brian2_ann_steps, n_ann) * k
    differ, emitted, reference = spike_mismatches(network, x[0], brian2_steps)
    print(f"Brian2 vs fast simulator on test sample 0, {reference.n_snn_steps} SNN steps: "
          f"differing spikes {differ} of {emitted} emitted", flush=True)
    scale = total_steps / (reference.n_snn_steps - 1)
    brian2_wall, brian2_cpu = reference.run_seconds * scale, reference.run_cpu_seconds * scale
    print(f"Brian2 (numpy): build {reference.build_seconds:.2f} s, first step (code generation) "
          f"{reference.warmup_seconds:.2f} s, then {1e3 * reference.run_seconds / (reference.n_snn_steps - 1):.2f} "
          f"ms per SNN step → {brian2_wall:.2f} s wall, {brian2_cpu:.2f} s CPU per sample", flush=True)

    def timed(samples: torch.Tensor, batch_size: int) -> tuple[snn.SimulationResult, float, float]:
        started, started_cpu = time.perf_counter(), time.process_time()
        result = snn.simulate(network, samples, batch_size=batch_size, progress=True)
        return result, time.perf_counter() - started, time.process_time() - started_cpu

    _, single_wall, single_cpu = timed(x[:1], 1)
    print(f"fast simulator, one sample alone: {single_wall:.2f} s wall, {single_cpu:.2f} s CPU",
          flush=True)
    result, test_wall, test_cpu = timed(x, args.batch_size)
    accuracy = float((result.predictions == labels).float().mean())
    n = x.shape[0]
    print(f"fast simulator: {n} samples in {test_wall:.1f} s wall, {test_cpu:.1f} s CPU "
          f"(batch {args.batch_size}), SNN accuracy {100 * accuracy:.2f}%")
    print("samples/s                  wall      per CPU-second")
    print(f"  fast (batched)       {n / test_wall:9.3f}   {n / test_cpu:9.3f}")
    print(f"  fast (batch 1)       {1 / single_wall:9.3f}   {1 / single_cpu:9.3f}")
    print(f"  Brian2 (numpy)       {1 / brian2_wall:9.3f}   {1 / brian2_cpu:9.3f}")
    print(f"ratio fast/Brian2: batched {brian2_wall * n / test_wall:.1f}x wall, "
          f"{brian2_cpu * n / test_cpu:.1f}x CPU; batch 1 {brian2_wall / single_wall:.1f}x wall, "
          f"{brian2_cpu / single_cpu:.1f}x CPU")
    print(f"test-set time (fast, {n} samples, {args.threads} threads): {test_wall:.1f} s wall")


if __name__ == "__main__":
    main()
