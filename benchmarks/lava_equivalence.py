"""Full-size equivalence: Lava's fixed_pt Loihi 2 models against lprnn.snn.simulate.

Maps a paper-size 3-bit lpRNN (80-128-512-512-20), runs N full-length built-in test clips
through both, and compares every spike of every layer and the final integer logits. Also
prints the steps per second of each, measured in the same run.

    .venv/bin/python benchmarks/lava_equivalence.py                 # the authors' HD checkpoint
    .venv/bin/python benchmarks/lava_equivalence.py --recipe digits --size full --epochs 5
                                          # a paper-size network trained here (5 epochs)

Exits non-zero when anything differs.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

import lprnn.datasets
import lprnn.snn.mapper
import lprnn.snn
from lprnn import config


def _model(args: argparse.Namespace):
    if args.recipe is None:
        import lprnn.ann.authors
        if config.authors_checkpoint() is None:
            sys.exit(f"the authors' checkpoint is not in {config.fixtures_dir()}; "
                     "pass --recipe digits --size full to use a model trained here")
        return lprnn.ann.authors.load_authors_checkpoint(), "authors' HD checkpoint"
    import lprnn.ann.recipes
    import lprnn.ann.train
    recipe = lprnn.ann.recipes.get_recipe(args.recipe, args.size)
    if args.epochs is not None:
        recipe = recipe.with_overrides(train={"epochs": args.epochs})
    model, info = lprnn.ann.train.load_or_train(recipe)
    return model, (f"recipe {args.recipe} ({args.size}, {recipe.train['epochs']} epochs, "
                   f"ANN test accuracy {info['test_accuracy']:.3f})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--samples", type=int, default=10)
    parser.add_argument("-k", "--steps-per-ann-step", type=int, default=10)
    parser.add_argument("--recipe", default=None, help="a recipe name (default: authors' checkpoint)")
    parser.add_argument("--size", default="full", choices=["quick", "default", "full"])
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    from lprnn.snn.lava import run_on_lava

    model, source = _model(args)
    test = lprnn.datasets.load_dataset("digits", "test")
    val = lprnn.datasets.load_dataset("digits", "val")
    network = lprnn.snn.map_network(model, args.steps_per_ann_step, calibration=val.features[:32])
    x = test.features[: args.samples]
    sizes = [network.n_inputs] + [layer.n_neurons for layer in network.layers]
    print(f"{source}: {'-'.join(map(str, sizes))}-{network.readout.n_classes}, "
          f"k={network.steps_per_ann_step}, {len(x)} clips x {x.shape[1]} ANN steps")

    start = time.perf_counter()
    reference = lprnn.snn.simulate(network, x, record=True)
    simulator_seconds = time.perf_counter() - start
    lava = run_on_lava(network, x, progress=True)

    mismatches = 0
    for layer in network.layers:
        ours, theirs = reference.spikes[layer.name].numpy(), lava.spikes[layer.name]
        differ = int((ours != theirs).sum())
        mismatches += differ
        print(f"{layer.name:14s} spikes {int(theirs.sum()):9d}  mismatches {differ}")
    logits_equal = np.array_equal(lava.logits, reference.logits.numpy())
    print(f"logits equal: {logits_equal}")
    simulator_steps = reference.n_snn_steps * len(x)
    print(f"Lava fixed_pt {lava.n_steps / lava.seconds:.0f} steps/s; simulator "
          f"{simulator_steps / simulator_seconds:.0f} steps/s (ratio "
          f"{(simulator_steps / simulator_seconds) / (lava.n_steps / lava.seconds):.1f}x)")
    equivalent = mismatches == 0 and logits_equal
    print("EQUIVALENT" if equivalent else "DIFFERENT")
    return 0 if equivalent else 1


if __name__ == "__main__":
    sys.exit(main())
