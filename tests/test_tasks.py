"""Adding and copying task generators (targets correct by construction) and the task models."""

from __future__ import annotations

import math

import pytest
import torch

from lprnn.baselines import tasks


def test_adding_targets_are_the_sum_of_marked_values():
    data = tasks.adding_task(50, 40, seed=3)
    assert data.inputs.shape == (50, 40, 2) and data.targets.shape == (50,)
    values, markers = data.inputs[..., 0], data.inputs[..., 1]
    assert torch.equal(markers.sum(dim=1), torch.full((50,), 2.0))
    # one marker in each half
    assert torch.equal(markers[:, :20].sum(dim=1), torch.ones(50))
    for i in range(50):
        marked = values[i][markers[i] == 1]
        assert data.targets[i].item() == pytest.approx(marked.sum().item(), abs=1e-6)
    assert ((values >= 0) & (values < 1)).all()


def test_adding_is_deterministic_per_seed_and_supports_more_markers():
    assert torch.equal(tasks.adding_task(5, 30, seed=1).inputs, tasks.adding_task(5, 30, seed=1).inputs)
    assert not torch.equal(tasks.adding_task(5, 30, seed=1).inputs, tasks.adding_task(5, 30, seed=2).inputs)
    data = tasks.adding_task(8, 30, n_marked=3)
    assert torch.equal(data.inputs[..., 1].sum(dim=1), torch.full((8,), 3.0))
    assert tasks.chance_loss(data) == pytest.approx(3 / 12)


def test_copying_targets_reproduce_the_symbols_after_the_delimiter():
    data = tasks.copying_task(20, delay=15, copy_length=4, n_symbols=6, seed=0)
    n_steps = 15 + 2 * 4
    assert data.inputs.shape == (20, n_steps, 8) and data.targets.shape == (20, n_steps)
    assert torch.equal(data.inputs.sum(dim=2), torch.ones(20, n_steps))  # one-hot
    classes = data.inputs.argmax(dim=2)
    symbols = classes[:, :4]
    assert ((symbols >= 1) & (symbols <= 6)).all()
    assert torch.equal(classes[:, 4 + 15 - 1], torch.full((20,), 7))  # the delimiter
    assert torch.equal(data.targets[:, -4:], symbols)
    assert torch.equal(data.targets[:, :-4], torch.zeros(20, n_steps - 4, dtype=torch.int64))
    assert tasks.chance_loss(data) == pytest.approx(4 * math.log(6) / n_steps)


@pytest.mark.parametrize("bad", [dict(n_samples=0, seq_len=10), dict(n_samples=3, seq_len=-1),
                                 dict(n_samples=3, seq_len=2, n_marked=3)])
def test_adding_rejects_bad_sizes(bad):
    with pytest.raises(ValueError, match="expected"):
        tasks.adding_task(**bad)


def test_copying_rejects_bad_sizes():
    with pytest.raises(ValueError, match="delay=0"):
        tasks.copying_task(3, delay=0)


@pytest.mark.parametrize("kind", tasks.TASK_MODELS)
def test_task_models_emit_one_output_per_step_and_train(kind):
    model = tasks.make_task_model(kind, 2, 8, 1, ff_size=4)
    x = torch.rand(3, 12, 2)
    out = model(x)
    assert out.shape == (3, 12, 1)
    train, val = tasks.adding_task(16, 12, seed=0), tasks.adding_task(8, 12, seed=1)
    curve = tasks.train_task(model, train, val, steps=3, batch_size=4, eval_every=2, progress=False)
    assert [row["step"] for row in curve] == [2, 3]
    assert all(math.isfinite(row["eval_loss"]) for row in curve)


def test_copying_evaluation_scores_only_the_copied_symbols():
    data = tasks.copying_task(4, delay=5, copy_length=3, n_symbols=4)

    class Oracle(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.one_hot(data.targets, 5).float() * 10

    metrics = tasks.evaluate_task(Oracle(), data)
    assert metrics["accuracy"] == 1.0


def test_unknown_model_and_task_are_rejected():
    with pytest.raises(ValueError, match="expected one of"):
        tasks.make_task_model("gru", 2, 8, 1)
    with pytest.raises(ValueError, match="expected one of"):
        tasks.task_loss(torch.zeros(1, 2, 1), torch.zeros(1), "sorting")
    with pytest.raises(ValueError, match="eval set"):
        tasks.train_task(tasks.make_task_model("lstm", 2, 4, 1), tasks.adding_task(4, 5),
                         tasks.copying_task(4, 5), steps=1, progress=False)
