"""Training loop, evaluation, lottery rounds, checkpoints and load_or_train (tiny toy data)."""

from __future__ import annotations

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook
from torch.utils.data import TensorDataset

from lprnn.datasets import SequenceDataset
from lprnn.ann.model import LpRNNClassifier, ModelConfig
from lprnn.ann.recipes import Recipe
from lprnn.ann.train import (TrainConfig, checkpoint_path, confusion_matrix, evaluate, load_checkpoint, load_or_train,
                         pretraining_path, recipe_key, save_checkpoint, train)

CONFIG = ModelConfig(n_inputs=4, ff_size=8, rnn_sizes=(8,), n_classes=2)
FAST = TrainConfig(epochs=6, batch_size=32, lr=2e-2, device="cpu")


def toy_dataset(n: int, seed: int) -> SequenceDataset:
    """Class = sign of the mean of channel 0 in the second half of a 10-step sequence."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=generator)
    features = torch.randn(n, 10, 4, generator=generator) * 0.5
    features[:, 5:, 0] += 1.5 * (2 * labels[:, None].float() - 1)
    return SequenceDataset(features, labels, ["neg", "pos"], "toy")


def _model(config: ModelConfig = CONFIG, seed: int = 0) -> LpRNNClassifier:
    torch.manual_seed(seed)
    return LpRNNClassifier(config)


def test_training_learns_and_keeps_the_best_epoch():
    model = _model()
    val = toy_dataset(48, 1)
    result = train(model, toy_dataset(96, 0), val, FAST, progress=False)
    assert len(result.history) == FAST.epochs
    assert set(result.history[0]) == {"round", "epoch", "train_loss", "train_accuracy",
                                      "val_accuracy", "lr", "seconds"}
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.best_val_accuracy >= 0.9
    assert result.best_val_accuracy == max(h["val_accuracy"] for h in result.history)
    assert result.history[result.best_epoch - 1]["val_accuracy"] == result.best_val_accuracy
    assert evaluate(model, val, device="cpu").accuracy == result.best_val_accuracy


def test_training_is_deterministic():
    runs = []
    for _ in range(2):
        model = _model()
        result = train(model, toy_dataset(64, 0), toy_dataset(32, 1),
                       TrainConfig(epochs=2, batch_size=16, device="cpu"), progress=False)
        runs.append(([h["train_loss"] for h in result.history], model.state_dict()))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(runs[0][1][k], runs[1][1][k]) for k in runs[0][1])


def test_lottery_round_masks_zero_weights_and_rewinds():
    model = _model()
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    config = TrainConfig(epochs=2, batch_size=16, lr=1e-2, device="cpu", lottery_rounds=1)
    result = train(model, toy_dataset(64, 0), toy_dataset(32, 1), config, progress=False)
    assert [h["round"] for h in result.history] == [0, 0, 1, 1]
    assert [h["epoch"] for h in result.history] == [1, 2, 3, 4]
    assert result.best_epoch in (3, 4)
    masks = {name: layer.weight_mask for name, layer in model.quantized_layers().items()}
    assert all(mask is not None for mask in masks.values())
    assert sum(int((~m).sum()) for m in masks.values()) > 0
    for name, layer in model.quantized_layers().items():
        # pruned weights were rewound to zero and never updated again
        assert float((layer.weight * ~masks[name]).abs().sum()) == 0
        assert float((model.effective_parameters()[f"{name}.weight"] * ~masks[name]).abs().sum()) == 0
    assert "lpff.linear.weight_mask" in model.state_dict()
    assert not torch.equal(initial["lpff.linear.weight"], model.lpff.linear.weight)


def test_confusion_matrix():
    counts = confusion_matrix(torch.tensor([0, 1, 1, 2, 0]), torch.tensor([0, 1, 2, 2, 2]), 3)
    assert counts.tolist() == [[1, 0, 0], [0, 1, 0], [1, 1, 1]]
    with pytest.raises(ValueError, match="expected the same shape"):
        confusion_matrix(torch.zeros(2), torch.zeros(3), 3)


def test_generic_dataset_goes_through_a_dataloader():
    data = toy_dataset(32, 0)
    generic = TensorDataset(data.features, data.labels)
    model = _model()
    assert evaluate(model, generic, batch_size=8, device="cpu").accuracy == \
        evaluate(model, data, batch_size=8, device="cpu").accuracy
    train(model, generic, generic, TrainConfig(epochs=1, batch_size=8, device="cpu"),
          progress=False)


def test_amp_on_cpu_warns():
    with pytest.warns(UserWarning, match="amp=True is ignored on cpu"):
        train(_model(), toy_dataset(16, 0), toy_dataset(16, 1),
              TrainConfig(epochs=1, batch_size=16, device="cpu", amp=True), progress=False)


def test_bad_training_input():
    with pytest.raises(ValueError, match=r"unknown training option\(s\) \['epoch'\]"):
        TrainConfig.from_dict({"epoch": 3})
    with pytest.raises(ValueError, match="TrainConfig.epochs=0"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="TrainConfig.lr=-1"):
        TrainConfig(lr=-1)
    with pytest.raises(ValueError, match="device='gpu0'"):
        TrainConfig(device="gpu0")
    with pytest.raises(ValueError, match=r"training labels span \[0, 1\].*n_classes=1"):
        train(_model(ModelConfig(n_inputs=4, ff_size=4, rnn_sizes=(), n_classes=1)),
              toy_dataset(8, 0), toy_dataset(8, 1), FAST, progress=False)
    with pytest.raises(TypeError, match="config is a dict"):
        train(_model(), toy_dataset(8, 0), toy_dataset(8, 1), {"epochs": 1}, progress=False)
    with pytest.raises(TypeError, match="lottery_rounds=1 needs an LpRNNClassifier"):
        train(torch.nn.Linear(4, 2), toy_dataset(8, 0), toy_dataset(8, 1),
              TrainConfig(lottery_rounds=1), progress=False)
    with pytest.raises(ValueError, match="validation set is empty"):
        train(_model(), toy_dataset(8, 0), toy_dataset(0, 1), FAST, progress=False)


# -- checkpoints ----------------------------------------------------------------------------

def test_checkpoint_round_trip_with_masks(tmp_path):
    model = _model()
    model.set_weight_masks(model.zero_weight_masks())
    path = save_checkpoint(tmp_path / "m.pt", model, test_accuracy=0.5, history=[{"a": 1.0}])
    raw = torch.load(path, weights_only=True)  # plain tensors and strings only
    assert raw["format"] == "lprnn-checkpoint-v1"
    loaded, info = load_checkpoint(path)
    assert info == {"test_accuracy": 0.5, "history": [{"a": 1.0}]}
    assert loaded.config == model.config
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())
    x = torch.randn(2, 5, 4)
    assert torch.equal(loaded(x), model.eval()(x))


def test_checkpoint_info_must_be_json(tmp_path):
    with pytest.raises(TypeError, match="JSON-serializable"):
        save_checkpoint(tmp_path / "m.pt", _model(), tensor=torch.zeros(1))


def test_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt not found"):
        load_checkpoint(tmp_path / "nope.pt")


def test_corrupt_checkpoint(tmp_path):
    path = tmp_path / "bad.pt"
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="bad.pt is corrupt"):
        load_checkpoint(path)
    good = save_checkpoint(tmp_path / "good.pt", _model())
    path.write_bytes(good.read_bytes()[:200])  # truncated
    with pytest.raises(ValueError, match="corrupt"):
        load_checkpoint(path)


def test_plain_state_dict_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "plain.pt"
    torch.save(_model().state_dict(), path)
    with pytest.raises(ValueError, match="from_state_dict"):
        load_checkpoint(path)


def test_checkpoint_of_another_architecture(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", _model())
    with pytest.raises(ValueError, match=r"has rnn_sizes=\(8,\): expected \(512, 512\)"):
        load_checkpoint(path, expected={"rnn_sizes": (512, 512)})
    payload = torch.load(path, weights_only=True)
    payload["state_dict"]["lpff.linear.weight"] = torch.zeros(3, 4)
    torch.save(payload, path)
    with pytest.raises(ValueError, match="do not fit its architecture"):
        load_checkpoint(path)


# -- load_or_train ----------------------------------------------------------------------------

def test_load_or_train_trains_once_then_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("LPRNN_DATA_DIR", str(tmp_path))
    calls = []

    def fake_load_dataset(name, split, **options):
        calls.append((name, split, options))
        return toy_dataset(48, {"train": 0, "val": 1, "test": 2}[split])

    monkeypatch.setattr("lprnn.datasets.load_dataset", fake_load_dataset)
    recipe = Recipe("toy", "toy", "toy task", model=dict(ff_size=8, rnn_sizes=(8,)),
                    train=dict(epochs=2, batch_size=16, device="cpu"),
                    dataset_options=dict(quick=True))
    model, info = load_or_train(recipe, progress=False)
    assert calls == [("toy", s, {"quick": True}) for s in ("train", "val", "test")]
    train_set = fake_load_dataset("toy", "train")
    calls.pop()
    assert info["cached"] is False and info["checkpoint"] == str(checkpoint_path(recipe, train_set))
    assert checkpoint_path(recipe, train_set).parent == tmp_path / "models"
    assert set(info) >= {"recipe", "test_accuracy", "best_val_accuracy", "best_epoch", "history",
                         "train_seconds"}
    assert model.config.n_inputs == 4 and model.config.n_classes == 2
    again, info_again = load_or_train(recipe, progress=False)
    assert len(calls) == 6 and info_again["cached"] is True
    assert info_again["test_accuracy"] == info["test_accuracy"]
    x = torch.randn(2, 10, 4)
    assert torch.equal(again(x), model(x))
    assert recipe_key(recipe.with_overrides(train={"device": "auto"})) == recipe_key(recipe)
    assert recipe_key(recipe.with_overrides(train={"seed": 1})) != recipe_key(recipe)
    # a regenerated dataset never reuses the model trained on the old one
    assert checkpoint_path(recipe, toy_dataset(48, 5)) != checkpoint_path(recipe, train_set)
    with pytest.raises(ValueError, match="sets n_classes=5, but dataset 'toy' has 2"):
        load_or_train(recipe.with_overrides(model={"n_classes": 5}), progress=False)
    with pytest.raises(ValueError, match=r"unknown model option\(s\) \['size'\]"):
        load_or_train(recipe.with_overrides(model={"size": 5}), progress=False)


def test_ema_keeps_the_average_of_the_weights_at_the_best_epoch():
    """Independent of the AveragedModel inside train(): the weights after every optimizer step
    are recorded by a hook and averaged here, w̄ ← γ w̄ + (1 − γ) w, from the first step."""
    decay, after_step = 0.7, []
    model = _model()
    hook = register_optimizer_step_post_hook(
        lambda *_: after_step.append({n: p.detach().clone() for n, p in model.named_parameters()}))
    try:
        result = train(model, toy_dataset(64, 0), toy_dataset(32, 1),
                       TrainConfig(epochs=4, batch_size=16, lr=3e-2, ema_decay=decay,
                                   device="cpu"), progress=False)
    finally:
        hook.remove()
    assert len(after_step) == 16
    average = dict(after_step[0])
    for step, weights in enumerate(after_step[1:], 2):
        average = {n: decay * average[n] + (1 - decay) * w for n, w in weights.items()}
        if step == 4 * result.best_epoch:
            break
    kept = dict(model.named_parameters())
    for name, value in average.items():
        torch.testing.assert_close(kept[name].detach(), value)
    assert not torch.equal(kept["lpff.linear.weight"].detach(), after_step[-1]["lpff.linear.weight"])
    with pytest.raises(ValueError, match=r"ema_decay=1\.0: expected a value in \[0, 1\)"):
        TrainConfig(ema_decay=1.0)


def test_float_and_3bit_models_share_their_float_pretraining_exactly(tmp_path, monkeypatch):
    """The 3-bit model trained after the float one (its float epochs read from the shared
    file) equals the 3-bit model trained alone, tensor for tensor."""
    monkeypatch.setenv("LPRNN_DATA_DIR", str(tmp_path))
    monkeypatch.setattr("lprnn.datasets.load_dataset", lambda name, split, **options:
                        toy_dataset(48, {"train": 0, "val": 1, "test": 2}[split]))
    options = dict(epochs=2, float_epochs=2, batch_size=16, device="cpu")
    model = dict(ff_size=8, rnn_sizes=(8,))
    float_recipe = Recipe("toy", "toy", "toy", model=dict(model, weight_frac_bits=None),
                          train=options)
    quantized = Recipe("toy", "toy", "toy", model=dict(model, weight_frac_bits=3), train=options)
    train_set = toy_dataset(48, 0)
    shared = pretraining_path(quantized, train_set)
    assert shared == pretraining_path(float_recipe, train_set) != pretraining_path(
        quantized.with_overrides(train=dict(lr=5e-3)), train_set)
    from lprnn.ann import train as training
    runs = []
    pretrain = training._pretrain_float
    monkeypatch.setattr(training, "_pretrain_float",
                        lambda *args, **kwargs: runs.append(1) or pretrain(*args, **kwargs))
    load_or_train(float_recipe, progress=False)
    assert shared.is_file() and len(runs) == 1
    trained, info = load_or_train(quantized, progress=False)
    assert len(runs) == 1   # read, not run again
    torch.manual_seed(0)
    alone = LpRNNClassifier(ModelConfig(n_inputs=4, n_classes=2, **model))
    train(alone, train_set, toy_dataset(48, 1), TrainConfig(**options), progress=False)
    for name, value in alone.state_dict().items():
        assert torch.equal(trained.state_dict()[name], value), name
    assert [h["round"] for h in info["history"]] == [-1, -1, 0, 0]


def test_a_corrupt_pretraining_file_is_named_with_what_to_do(tmp_path):
    path = tmp_path / "pre.pt"
    path.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match=r"pre\.pt is corrupt .*delete it to train it again"):
        train(_model(), toy_dataset(32, 0), toy_dataset(16, 1),
              TrainConfig(epochs=1, float_epochs=1, batch_size=16, device="cpu"),
              progress=False, pretraining=path)
