"""The adding-task lpRNN on ΣΔ spikes: its ANN/SNN error split into timing and quantization."""

from __future__ import annotations

import math

import torch

from lprnn.baselines import tasks
from lprnn.experiments.temporal import adding_on_spikes


def test_the_adding_error_splits_into_timing_and_a_quantization_that_falls_with_k():
    train_set, eval_set = tasks.adding_task(256, 16, seed=0), tasks.adding_task(64, 16, seed=1)
    model = tasks.make_task_model("lprnn", train_set.n_features, 16, 1, weight_frac_bits=3)
    tasks.train_task(model, train_set, eval_set, steps=40, lr=1e-2, progress=False)
    coarse, _ = adding_on_spikes(model, train_set, eval_set, 2)
    fine, outputs = adding_on_spikes(model, train_set, eval_set, 16)
    quantization = "quantization part: SNN-timed-ANN-vs-SNN MSE"
    timing = "timing part: ANN-vs-SNN-timed-ANN MSE"
    assert fine[quantization] < coarse[quantization]
    # RMS differences obey the triangle inequality: ANN→SNN ≤ ANN→timed ANN + timed ANN→SNN
    for metrics in (coarse, fine):
        assert math.sqrt(metrics["ANN-vs-SNN MSE"]) <= (
            math.sqrt(metrics[timing]) + math.sqrt(metrics[quantization]) + 1e-9)
    target = eval_set.targets[:len(outputs)]
    assert math.isclose(fine["SNN-timed ANN MSE"],
                        float(((torch.as_tensor(outputs.snn_timed_ann.values) - target) ** 2).mean()),
                        rel_tol=1e-5)
