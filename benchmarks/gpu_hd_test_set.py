"""GPU timing of an HD-size run: the whole test set in the simulator, and one training epoch.

    PYTHONPATH=. python benchmarks/gpu_hd_test_set.py                 # on a CUDA machine
    PYTHONPATH=. python benchmarks/gpu_hd_test_set.py --device cpu --clips 4 --train-clips 64

Prints one JSON line. Needs torch and numpy only (no Lava, no dataset, no compiler; if
``tqdm`` is missing a silent stand-in is used), so it runs on a bare GPU machine from a copy
of the repository.

What it measures, on data of Heidelberg Digits' shape (random values: speed does not depend on
them on the GPU, whose matmuls are dense):

1. Simulator: ``--clips`` (2,264, HD's test set) clips of 187 ANN steps × k = 10 SNN steps
   through the paper network 80-128-512-512-20 (random integers within Loihi's ranges, ΣΔ
   neurons as the mapper sets them), ``lprnn.snn.simulate(device=...)``, all clips in one
   batch by default; seconds after a warm-up call. Exactness: the first ``--check-clips``
   clips are also simulated on the CPU by the other path (the C kernel for a CUDA run, pure
   torch for a CPU one); logits, spike counts and synaptic operations must be equal
   (``exact_vs_cpu``; the exit status is 1 otherwise).
2. Training: one epoch of the HD recipe's settings (``lprnn.ann.recipes.get_recipe("hd",
   "full")``: batch 64, Adam, clipping) on ``--train-clips`` (8,156, HD's training set) random
   clips of the same shape, validated on the test-set clips; seconds of the epoch.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import sys
import time
import types

import numpy as np
import torch

if importlib.util.find_spec("tqdm") is None:   # a bare machine: progress bars become no-ops
    def _no_bar(iterable=None, *args, **kwargs):
        class _Bar(list):
            def set_postfix(self, *a, **k) -> None:
                pass
        return _Bar(iterable if iterable is not None else [])
    _auto = types.ModuleType("tqdm.auto")
    _auto.tqdm = _no_bar
    sys.modules["tqdm"] = types.ModuleType("tqdm")
    sys.modules["tqdm.auto"] = _auto

from lprnn.ann.model import LpRNNClassifier, ModelConfig  # noqa: E402
from lprnn.ann.recipes import get_recipe  # noqa: E402
from lprnn.ann.train import TrainConfig, train  # noqa: E402
from lprnn.snn import simulate  # noqa: E402
from lprnn.snn.network import (LoihiLayer, LoihiNetwork, LoihiReadout,  # noqa: E402
                               SigmaDeltaFixedParams)

HD_TEST_CLIPS, HD_TRAIN_CLIPS, HD_ANN_STEPS, HD_FEATURES, HD_CLASSES = 2264, 8156, 187, 80, 20
PAPER_SIZES = (HD_FEATURES, 128, 512, 512, HD_CLASSES)


class _Clips:
    """Features [N, T, F] and labels [N]: what lprnn's training loop slices directly."""

    def __init__(self, features: torch.Tensor, labels: torch.Tensor):
        self.features, self.labels = features, labels

    def __len__(self) -> int:
        return len(self.labels)


def paper_network(k: int, seed: int = 0) -> LoihiNetwork:
    """80-128-512-512-20 with random 3-bit-like integer weights (even, within Lava's
    [−256, 254]), recurrent hidden layers and ΣΔ neurons with the mapper's kind of decays."""
    rng = np.random.default_rng(seed)

    def weights(n_out: int, n_in: int) -> np.ndarray:
        return (rng.integers(-4, 4, (n_out, n_in)) * 32).astype(np.int32)

    neuron = SigmaDeltaFixedParams(decay_in=410, decay_ip=91, decay_v=4096, decay_fb=91,
                                   feedback_weight=-4000, threshold=2000, drive_max=180_000)
    sizes = PAPER_SIZES
    layers = [LoihiLayer("lpff", weights(sizes[1], sizes[0]), -2,
                         rng.integers(-500, 500, sizes[1]).astype(np.int32), 3, neuron, 1000.0)]
    for i, (n_in, n_out) in enumerate(zip(sizes[1:3], sizes[2:4])):
        layers.append(LoihiLayer(f"rnn_layers.{i}", weights(n_out, n_in), 0,
                                 rng.integers(-500, 500, n_out).astype(np.int32), 3, neuron,
                                 1000.0, recurrent_weights=weights(n_out, n_out),
                                 recurrent_weight_exp=-1, recurrent_delay=1))
    readout = LoihiReadout(weights(sizes[-1], sizes[-2]), rng.integers(-50, 50, sizes[-1]),
                           source="decoded")
    return LoihiNetwork(layers, readout, steps_per_ann_step=k, input_scale=256.0)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--clips", type=int, default=HD_TEST_CLIPS)
    parser.add_argument("--batch-size", type=int, default=HD_TEST_CLIPS)
    parser.add_argument("--check-clips", type=int, default=8)
    parser.add_argument("--train-clips", type=int, default=HD_TRAIN_CLIPS)
    parser.add_argument("-k", "--steps-per-ann-step", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (CPU device)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    generator = torch.Generator().manual_seed(0)
    # Log-mel-like features: non-negative, a few units large.
    test_x = torch.rand(args.clips, HD_ANN_STEPS, HD_FEATURES, generator=generator) * 3
    test_y = torch.randint(0, HD_CLASSES, (args.clips,), generator=generator)
    network = paper_network(args.steps_per_ann_step)

    options = dict(device=device, batch_size=args.batch_size, threads=args.threads,
                   allow_saturation=True)
    simulate(network, test_x[:2], **options)           # warm-up: CUDA context, kernels
    _synchronize(device)
    started = time.perf_counter()
    result = simulate(network, test_x, **options)
    _synchronize(device)
    simulate_seconds = time.perf_counter() - started
    check = test_x[:args.check_clips]
    # The independent side: the CPU kernel for a CUDA run, the pure-torch path for a CPU one.
    on_cpu = simulate(network, check, threads=args.threads, allow_saturation=True,
                      backend="torch" if result.backend == "kernel" else "auto")
    exact = (torch.equal(on_cpu.logits, result.logits[:len(check)])
             and torch.equal(on_cpu.synaptic_ops, result.synaptic_ops[:len(check)])
             and all(torch.equal(on_cpu.spike_counts[n], result.spike_counts[n][:len(check)])
                     for n in on_cpu.spike_counts))
    spikes = sum(int(c.sum()) for c in result.spike_counts.values())

    recipe = get_recipe("hd", "full")
    train_x = torch.rand(args.train_clips, HD_ANN_STEPS, HD_FEATURES, generator=generator) * 3
    train_y = torch.randint(0, HD_CLASSES, (args.train_clips,), generator=generator)
    torch.manual_seed(0)
    model = LpRNNClassifier(ModelConfig(**{**dict(n_inputs=HD_FEATURES, n_classes=HD_CLASSES),
                                           **recipe.model}))
    config = TrainConfig.from_dict({**recipe.train, "epochs": 1, "lottery_rounds": 0,
                                    "device": str(device), "threads": args.threads})
    _synchronize(device)
    started = time.perf_counter()
    history = train(model, _Clips(train_x, train_y), _Clips(test_x, test_y), config,
                    progress=False).history
    _synchronize(device)
    train_seconds = time.perf_counter() - started

    print(json.dumps(dict(
        device=str(device), device_name=(torch.cuda.get_device_name(device)
                                         if device.type == "cuda" else platform.processor()),
        torch=torch.__version__, python=platform.python_version(),
        network="-".join(map(str, PAPER_SIZES)), k=args.steps_per_ann_step,
        ann_steps=HD_ANN_STEPS, clips=args.clips, batch_size=args.batch_size,
        simulator_backend=result.backend, simulate_seconds=round(simulate_seconds, 3),
        simulate_clips_per_second=round(args.clips / simulate_seconds, 2),
        spikes_per_neuron_and_step=round(spikes / (args.clips * result.n_snn_steps
                                                   * sum(PAPER_SIZES[1:-1])), 4),
        saturated_clips=int(sum((s > 0) for s in result.saturated_steps.values()).gt(0).sum()),
        exact_vs_cpu=bool(exact), check_clips=len(check),
        train_clips=args.train_clips, train_batch_size=config.batch_size,
        train_epoch_seconds=round(train_seconds, 3),
        train_epoch_wall_seconds_in_history=round(history[0]["seconds"], 3))))
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
