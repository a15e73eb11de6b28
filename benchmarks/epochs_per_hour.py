"""Training throughput of a recipe's network on a synthetic dataset of Heidelberg Digits' shape.

HD's training set is 8,156 clips × 187 frames × 80 log-mel bands. This trains the recipe's
model (default: ``hd`` at ``full`` size, the paper network with the authors' settings) for one
epoch on ``fraction`` of that many random sequences, with the package's own training loop
(:func:`lprnn.ann.train.train`), and extrapolates:

    epochs_per_hour = 3600 / (seconds · 8156 / n_train)

The validation pass of the epoch runs on one batch (negligible). Run on a GPU machine:

    python benchmarks/epochs_per_hour.py --device cuda --fraction 0.25
    python benchmarks/epochs_per_hour.py --device cuda --fraction 0.25 --amp

and on CPU, to check it works: ``python benchmarks/epochs_per_hour.py --fraction 0.01``.
"""

from __future__ import annotations

import argparse
import json
import platform

import torch

from lprnn.datasets import SequenceDataset
from lprnn.ann.model import LpRNNClassifier, ModelConfig
from lprnn.ann.recipes import SIZES, get_recipe, recipe_names
from lprnn.ann.train import TrainConfig, resolve_device, train

HD_TRAIN_SHAPE = (8156, 187, 80)


def synthetic_set(n: int, n_steps: int, n_features: int, n_classes: int,
                  seed: int) -> SequenceDataset:
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(n, n_steps, n_features, generator=generator)
    labels = torch.randint(0, n_classes, (n,), generator=generator)
    return SequenceDataset(features, labels, [str(c) for c in range(n_classes)], "synthetic")


def measure(recipe_name: str = "hd", size: str = "full", fraction: float = 0.05,
            device: str = "auto", amp: bool = False, progress: bool = True) -> dict[str, object]:
    """One timed epoch on ``fraction`` of HD's training-set size; the extrapolated rate."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction {fraction!r}: expected a number in (0, 1]")
    recipe = get_recipe(recipe_name, size)
    n_total, n_steps, _ = HD_TRAIN_SHAPE
    model_config = ModelConfig.from_dict(recipe.model)
    batch_size = recipe.train["batch_size"]
    n_train = max(batch_size, round(n_total * fraction))
    train_set = synthetic_set(n_train, n_steps, model_config.n_inputs, model_config.n_classes, 0)
    val_set = synthetic_set(batch_size, n_steps, model_config.n_inputs, model_config.n_classes, 1)
    config = TrainConfig.from_dict({**recipe.train, "epochs": 1, "lottery_rounds": 0,
                                    "device": device, "amp": amp})
    torch.manual_seed(config.seed)
    model = LpRNNClassifier(model_config)
    seconds = train(model, train_set, val_set, config, progress=progress).history[0]["seconds"]
    resolved = resolve_device(device)
    threads = torch.get_num_threads()
    name = (torch.cuda.get_device_name(resolved) if resolved.type == "cuda"
            else f"{platform.processor() or platform.machine()} ({threads} threads)")
    return dict(recipe=recipe_name, size=size, device=name, amp=amp, n_train=n_train,
                n_steps=n_steps, n_features=model_config.n_inputs, batch_size=batch_size,
                seconds=round(seconds, 3),
                epochs_per_hour=round(3600.0 / (seconds * n_total / n_train), 3))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="hd", choices=recipe_names())
    parser.add_argument("--size", default="full", choices=SIZES)
    parser.add_argument("--fraction", type=float, default=0.05,
                        help="fraction of HD's 8,156 training clips to time (default 0.05)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    parser.add_argument("--amp", action="store_true", help="bfloat16 autocast (CUDA only)")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.recipe, args.size, args.fraction, args.device, args.amp)))


if __name__ == "__main__":
    main()
