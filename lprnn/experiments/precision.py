"""Notebook 05: how many fractional weight bits the exact mapping needs (weight-precision rows)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pandas as pd
import torch

from lprnn import snn
from lprnn.ann import train
from lprnn.ann.model import LpRNNClassifier
from lprnn.experiments.common import (ExperimentResult, calibration_inputs, check_seeds,
                                      recipe_for, resolve, rows_from_table, spike_label,
                                      splits)
from lprnn.snn.mapper import DEFAULT_SPIKE_BITS

# Quantization-aware fine-tuning epochs per setting, per run size.
FINETUNE_EPOCHS = {"quick": 1, "default": 1, "full": 10}


def weight_precision(recipe_name: str = "digits", size: str = "default",
                     seeds: Sequence[int] = (0,),
                     frac_bits: Sequence[int | None] = (1, 2, 3, 4, 6, 8, None),
                     finetune_epochs: int | None = None, steps_per_ann_step: int | None = None,
                     test_samples: int | None = None) -> ExperimentResult:
    """The float lpRNN of a recipe fine-tuned at each number of fractional weight bits
    (``None``: float), evaluated, mapped (when it can be) and simulated, per seed.

    Table ``precision``: one line per setting and seed (ANN accuracy on the test split, SNN
    accuracy and agreement on ``test_samples`` clips, zero weights, mapping exact/rejected).
    """
    seeds = check_seeds(seeds)
    b = resolve(size, steps_per_ann_step=steps_per_ann_step, test_samples=test_samples)
    epochs = FINETUNE_EPOCHS[size] if finetune_epochs is None else finetune_epochs
    lines = []
    for seed in seeds:
        base = recipe_for(recipe_name, size, seed)
        float_model, _ = train.load_or_train(base.with_overrides(model={"weight_frac_bits": None}))
        data = splits(base)
        # Fine-tuning starts from the trained float model: no float pre-training again.
        finetune = train.TrainConfig.from_dict({**base.train, "epochs": epochs,
                                                "float_epochs": 0})
        calibration = calibration_inputs(base, size)
        x, y = data["test"].features[:b.test_samples], data["test"].labels[:b.test_samples]
        for bits in frac_bits:
            model = float_model
            if bits is not None:
                torch.manual_seed(finetune.seed)
                model = LpRNNClassifier(replace(float_model.config, weight_frac_bits=bits))
                model.load_state_dict(float_model.state_dict())
                train.train(model, data["train"], data["val"], finetune, progress=False)
            ann = train.evaluate(model, data["test"])
            line = dict(model=f"lpRNN {'float' if bits is None else f'{bits}-bit'}"
                              f"{spike_label(DEFAULT_SPIKE_BITS)}",
                        frac_bits=bits, seed=seed, ann_accuracy=ann.accuracy,
                        zero_weight_fraction=model.zero_weight_fraction(),
                        snn_accuracy=float("nan"), agreement=float("nan"), mapping="exact")
            try:
                network = snn.map_network(model, b.steps_per_ann_step, calibration=calibration)
            except ValueError as err:
                line["mapping"] = f"rejected: {err}"
            else:
                sim = snn.simulate(network, x)
                line["snn_accuracy"] = (sim.predictions == y).double().mean().item()
                line["agreement"] = (sim.predictions == ann.predictions[:len(y)]).double().mean().item()
            lines.append(line)
    table = pd.DataFrame(lines)
    table["mapped"] = (table["mapping"] == "exact").astype(int)
    rows = rows_from_table("weight_precision", base.name, table, "model",
                           {"ann_accuracy": True, "snn_accuracy": True, "agreement": True,
                            "zero_weight_fraction": False, "mapped": False},
                           seeds=seeds, size=size,
                           n_clips={"ann_accuracy": len(data["test"]), "snn_accuracy": len(y),
                                    "agreement": len(y)})
    return ExperimentResult(dict(precision=table), rows)
