"""Command line: ``python -m lprnn SUBCOMMAND ...`` (also installed as ``lprnn``).

    python -m lprnn --help
    python -m lprnn train --recipe digits                  # train (or load the cached model)
    python -m lprnn train --recipe hd --size full --device cuda --out hd.pt
    python -m lprnn train --recipe fsdd_speakers                  # real speech, unseen speaker
    python -m lprnn train --dataset fsdd --data-dir DIR      # a registered dataset, data in DIR
    python -m lprnn train --dataset recordings.csv           # your own audio (folder or CSV)
    python -m lprnn train --recipe fsdd_speakers --dataset-option fold=2   # LOSO fold 2

A subcommand is one entry of :data:`SUBCOMMANDS`: a help line, a function adding its
arguments to a parser, and a function running it on the parsed arguments (returns the exit
status). Errors in the user's input (ValueError, FileNotFoundError, TypeError) are printed as
one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import NamedTuple


class Subcommand(NamedTuple):
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def _weight_bits(value: str) -> int | None:
    """``--weight-bits``: fractional bits (an integer) or "float"."""
    if value == "float":
        return None
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r}: expected a number of fractional bits (e.g. 3) or 'float'") from None


def _dataset_option(text: str) -> tuple[str, object]:
    """``--dataset-option KEY=VALUE``: VALUE as JSON (3, true, ["theo"]) or else as text."""
    key, separator, value = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"{text!r}: expected KEY=VALUE (e.g. fold=3)")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _add_train_arguments(parser: argparse.ArgumentParser) -> None:
    from lprnn.ann.recipes import SIZES, recipe_names
    parser.add_argument("--recipe", default="digits", choices=recipe_names(),
                        help="named training configuration (lprnn/recipes.py); default digits")
    parser.add_argument("--size", default="default", choices=SIZES,
                        help="run size: quick (smoke), default (2 CPU cores), full (paper)")
    parser.add_argument("--epochs", type=int, help="override the recipe's number of epochs")
    parser.add_argument("--weight-bits", type=_weight_bits, default=argparse.SUPPRESS,
                        metavar="K|float", help="fractional weight bits (3 = the paper's 3-bit "
                        "weights) or 'float'; default: the recipe's")
    parser.add_argument("--seed", type=int, help="override the recipe's seed")
    parser.add_argument("--device", help="auto, cpu or cuda[:N] (default: the recipe's, auto)")
    parser.add_argument("--dataset", metavar="NAME|PATH",
                        help="train the recipe's network on another dataset: a registered name "
                        "(e.g. fsdd) or a folder <split>/<label>/*.wav or a CSV manifest "
                        "path,label,speaker,split (lprnn.datasets.audio)")
    parser.add_argument("--dataset-root", metavar="PATH",
                        help="where the dataset's files are (default: the dataset's own "
                        "lookup, usually DATA_DIR/NAME)")
    parser.add_argument("--threads", type=int,
                        help="torch CPU threads while training (default 1: fastest on a "
                             "loaded machine)")
    parser.add_argument("--dataset-option", action="append", default=[], type=_dataset_option,
                        metavar="KEY=VALUE", help="a dataset option (repeatable; VALUE read as "
                        "JSON when it parses, else as text), e.g. fold=3 or frontend=narrowband")
    parser.add_argument("--data-dir", help="data and model cache directory (LPRNN_DATA_DIR)")
    parser.add_argument("--out", help="also write the trained checkpoint to this path")


def _dataset_choice(args: argparse.Namespace) -> tuple[str | None, dict[str, object]]:
    """(dataset name, dataset options) of ``--dataset``, ``--dataset-root`` and
    ``--dataset-option``: a ``--dataset`` path (one
    with a separator or a ``.csv`` suffix, or an existing folder) is the generic ``audio``
    dataset rooted there."""
    from lprnn.datasets import dataset_names

    options = dict(args.dataset_option)
    if args.dataset_root:
        options["root"] = args.dataset_root
    name = args.dataset
    if name is None or name in dataset_names():
        return name, options
    if os.sep in name or name.endswith(".csv") or os.path.isdir(name):
        return "audio", {**options, "root": os.path.abspath(os.path.expanduser(name))}
    raise ValueError(f"--dataset {name!r}: expected a registered dataset ({dataset_names()}) "
                     "or the path of an audio folder or CSV manifest")


def _run_train(args: argparse.Namespace) -> int:
    if args.data_dir:
        os.environ["LPRNN_DATA_DIR"] = args.data_dir
    from pathlib import Path

    from lprnn import atomic
    from lprnn.ann.recipes import get_recipe
    from lprnn.ann.train import load_or_train, save_checkpoint

    if args.out:   # before training: an unwritable --out would lose the trained model
        atomic.check_writable(Path(args.out).absolute().parent, "--out folder")

    model_options = {}
    if hasattr(args, "weight_bits"):
        model_options["weight_frac_bits"] = args.weight_bits
    train_options = {name: getattr(args, name) for name in ("epochs", "seed", "device", "threads")
                     if getattr(args, name) is not None}
    dataset, dataset_options = _dataset_choice(args)
    recipe = get_recipe(args.recipe, args.size).with_overrides(
        dataset=dataset, model=model_options, train=train_options,
        dataset_options=dataset_options)
    print(f"recipe {recipe.name} ({args.size}): {recipe.description}\n"
          f"  model {recipe.model}\n  train {recipe.train}")
    model, info = load_or_train(recipe)
    source = "loaded cached" if info["cached"] else "trained and saved"
    print(f"{source} {info['checkpoint']}\n"
          f"best validation accuracy {info['best_val_accuracy']:.4f} (epoch {info['best_epoch']}), "
          f"test accuracy {info['test_accuracy']:.4f}, "
          f"{model.zero_weight_fraction():.1%} of deployed weights are zero")
    if args.out:
        saved = {k: v for k, v in info.items() if k not in ("checkpoint", "cached")}
        print(f"wrote {save_checkpoint(args.out, model, **saved)}")
    return 0


SUBCOMMANDS: dict[str, Subcommand] = {
    "train": Subcommand("train a recipe's lpRNN (or load its cached checkpoint) and test it",
                        _add_train_arguments, _run_train),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lprnn", description="lpRNNs with k-bit weights mapped to adaptive ΣΔ neurons "
        "(Boeshertz et al., ICONS 2024).")
    subparsers = parser.add_subparsers(dest="command", metavar="SUBCOMMAND", required=True)
    for name, command in SUBCOMMANDS.items():
        sub = subparsers.add_parser(name, help=command.help, description=command.help)
        command.add_arguments(sub)
        sub.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError, PermissionError, TypeError) as err:
        print(f"lprnn {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
