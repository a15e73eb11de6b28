"""The lava-dl SLAYER sigma-delta baseline: it trains, its counts match a hand count, its netx
export reproduces it in Lava, and a bad input is refused."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("lava.lib.dl.slayer", reason="lava-dl is an optional extra")

from lprnn.ann.train import TrainConfig, train  # noqa: E402
from lprnn.baselines import slayer  # noqa: E402
from lprnn.datasets import SequenceDataset  # noqa: E402


def _tiny(n_inputs: int = 2, hidden: int = 2, n_classes: int = 2, **options) -> slayer.SlayerSigmaDelta:
    torch.manual_seed(0)
    return slayer.SlayerSigmaDelta(slayer.SlayerConfig(n_inputs=n_inputs, hidden_sizes=(hidden,),
                                                       n_classes=n_classes, **options))


def _two_class_problem(n: int = 32, steps: int = 12, features: int = 4) -> SequenceDataset:
    """Class 0: a step up on feature 0; class 1: on feature 1."""
    labels = torch.arange(n) % 2
    x = torch.zeros(n, steps, features)
    x[labels == 0, 3:, 0] = 1.0
    x[labels == 1, 3:, 1] = 1.0
    return SequenceDataset(x, labels, ["up on 0", "up on 1"], "two-class")


def test_training_lowers_the_loss_on_a_tiny_problem():
    data = _two_class_problem()
    model = _tiny(n_inputs=4, hidden=8)
    result = train(model, data, data, TrainConfig(epochs=6, batch_size=8, lr=1e-2), progress=False)
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < losses[0]
    assert model(data.features).shape == (len(data), 2)


def test_spike_and_synop_counts_match_a_hand_count():
    model = _tiny()
    with torch.no_grad():   # values on lava-dl's 8-bit grid (steps of 1/32)
        model.blocks[1].synapse.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]).reshape(2, 2, 1, 1, 1))
        model.blocks[2].synapse.weight.copy_(torch.tensor([[1.0, 1.0], [0.0, 1.0]]).reshape(2, 2, 1, 1, 1))
    x = torch.zeros(1, 12, 2)
    x[0, 3:, 0] = 1.0           # one change: one input event
    x[0, 5:8, 1] = 0.5          # up at 5, down at 8: two input events
    counted = slayer.activity(model, x)
    # Identity first layer with ReLU: the hidden neurons copy the input's changes (3 events).
    # Fan-outs: input → 1 each; hidden 0 → 1 (column [1, 0]), hidden 1 → 2 (column [1, 1]).
    assert counted.layer_spikes["input"].tolist() == [3.0]
    assert counted.layer_spikes["dense.0"].tolist() == [3.0]
    assert counted.spikes_per_sample.tolist() == [6.0]
    assert counted.synaptic_ops.tolist() == [3 * 1 + 1 * 1 + 2 * 2]


def test_lava_run_of_the_netx_export_reproduces_lava_dl():
    data = _two_class_problem(n=2, steps=10)
    model = _tiny(n_inputs=4, hidden=6, n_classes=3)
    slayer.snap_thresholds(model)
    check = slayer.check_on_lava(model, data.features + 0.3 * torch.rand_like(data.features))
    assert check.max_abs_error == 0.0
    assert check.prediction_agreement == 1.0
    assert check.lava_logits.shape == (2, 3)


def test_a_wrong_input_shape_is_refused_naming_it():
    model = _tiny(n_inputs=4)
    with pytest.raises(ValueError, match=r"input of shape \(2, 5, 3\): expected a tensor \[B, T, 4\]"):
        model(torch.zeros(2, 5, 3))
    with pytest.raises(ValueError, match="threshold=0.0"):
        slayer.SlayerConfig(threshold=0.0)
