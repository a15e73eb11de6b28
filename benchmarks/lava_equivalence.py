"""Full-size equivalence: Lava's fixed_pt Loihi 2 models against lprnn.snn.simulate.

Maps a paper-size 3-bit lpRNN (80-128-512-512-20), runs N full-length built-in test clips
through both, and compares every spike of every layer and the final integer logits. Also
prints the steps per second of each, measured in the same run.

    .venv/bin/python benchmarks/lava_equivalence.py                 # the authors' HD checkpoint
    .venv/bin/python benchmarks/lava_equivalence.py --recipe digits --size full --epochs 5
                                          # a paper-size network trained here (5 epochs)

The comparison is :func:`lprnn.experiments.lava_check`, the one notebook 04 runs; the
calibration clips are :func:`lprnn.experiments.calibration_inputs` of the digits recipe.
Exits non-zero when anything differs.
"""

from __future__ import annotations

import argparse
import sys

import torch

import lprnn.ann.recipes
import lprnn.datasets
import lprnn.snn
from lprnn import config
from lprnn.experiments import calibration_inputs, lava_check


def _model(args: argparse.Namespace):
    if args.recipe is None:
        import lprnn.ann.authors
        if config.authors_checkpoint() is None:
            sys.exit(f"the authors' checkpoint is not in {config.fixtures_dir()}; "
                     "pass --recipe digits --size full to use a model trained here")
        return lprnn.ann.authors.load_authors_checkpoint(), "authors' HD checkpoint"
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
    model, source = _model(args)
    recipe = lprnn.ann.recipes.get_recipe("digits", args.size)
    test = lprnn.datasets.load_dataset("digits", "test")
    network = lprnn.snn.map_network(model, args.steps_per_ann_step,
                                    calibration=calibration_inputs(recipe, args.size))
    x = test.features[: args.samples]
    sizes = [network.n_inputs] + [layer.n_neurons for layer in network.layers]
    print(f"{source}: {'-'.join(map(str, sizes))}-{network.readout.n_classes}, "
          f"k={network.steps_per_ann_step}, {len(x)} clips x {x.shape[1]} ANN steps")
    check = lava_check(network, x)
    for layer in network.layers:
        print(f"{layer.name:14s} spikes {int(check.lava.spikes[layer.name].sum()):9d}  "
              f"mismatches {check.mismatches[layer.name]}")
    print(f"logits equal: {check.logits_equal}")
    lava_speed = check.lava.n_steps / check.lava.seconds
    print(f"Lava fixed_pt {lava_speed:.0f} steps/s; simulator "
          f"{check.simulator_steps_per_second:.0f} steps/s (ratio "
          f"{check.simulator_steps_per_second / lava_speed:.1f}x)")
    print("EQUIVALENT" if check.equivalent else "DIFFERENT")
    return 0 if check.equivalent else 1


if __name__ == "__main__":
    sys.exit(main())
