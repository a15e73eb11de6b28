"""Lost work: Ctrl-C mid-epoch keeps the best epoch on disk; bad devices and unwritable write
targets fail before any training or data loading."""

from __future__ import annotations

import pytest
import torch

from lprnn import atomic
from lprnn.__main__ import main
from lprnn.ann import train as train_module
from lprnn.ann.model import LpRNNClassifier, ModelConfig
from lprnn.ann.recipes import get_recipe
from lprnn.ann.train import TrainConfig, load_checkpoint, load_or_train, train
from lprnn.datasets import SequenceDataset


def _toy(split: str, n_features: int = 80) -> SequenceDataset:
    generator = torch.Generator().manual_seed({"train": 0, "val": 1, "test": 2}[split])
    labels = torch.arange(40) % 20
    features = torch.randn(40, 6, n_features, generator=generator) + labels[:, None, None] / 10
    return SequenceDataset(features, labels, [str(i) for i in range(20)], "digits")


class InterruptedModel(LpRNNClassifier):
    """Raises KeyboardInterrupt in the middle of a chosen training epoch (as Ctrl-C would)."""

    def __init__(self, config: ModelConfig, interrupt_at_batch: int):
        super().__init__(config)
        self.batches, self.interrupt_at_batch = 0, interrupt_at_batch

    def forward(self, x):
        if self.training:
            self.batches += 1
            if self.batches == self.interrupt_at_batch:
                raise KeyboardInterrupt
        return super().forward(x)


def test_ctrl_c_mid_epoch_keeps_the_best_validation_epoch_on_disk(tmp_path, monkeypatch):
    val_accuracies = []
    evaluate = train_module.evaluate

    def recording_evaluate(*args, **kwargs):
        result = evaluate(*args, **kwargs)
        val_accuracies.append(result.accuracy)
        return result

    monkeypatch.setattr(train_module, "evaluate", recording_evaluate)
    # batch_size 10 on 40 clips: 4 batches an epoch; batch 18 is in the middle of epoch 5
    model = InterruptedModel(ModelConfig(n_inputs=8, ff_size=6, rnn_sizes=(8,), n_classes=20),
                             interrupt_at_batch=18)
    config = TrainConfig(epochs=10, batch_size=10, lr=0.02, device="cpu")
    checkpoint = tmp_path / "run" / "best.pt"
    with pytest.raises(KeyboardInterrupt):
        train(model, _toy("train", 8), _toy("val", 8), config, progress=False,
              checkpoint=checkpoint)
    assert len(val_accuracies) == 4                      # epochs 1-4 finished
    kept, info = load_checkpoint(checkpoint)
    best = max(val_accuracies)
    assert info["partial"] is True
    assert info["best_epoch"] == 1 + val_accuracies.index(best)
    assert info["best_val_accuracy"] == best
    assert evaluate(kept, _toy("val", 8), device="cpu").accuracy == best
    assert not list(checkpoint.parent.glob(".best-*"))   # no temporary file left behind


@pytest.fixture
def toy_digits(tmp_path, monkeypatch):
    monkeypatch.setenv("LPRNN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr("lprnn.datasets.load_dataset", lambda name, split, **options: _toy(split))
    return tmp_path


def _recipe(**train_options):
    return get_recipe("digits", "quick").with_overrides(
        train=dict(dict(epochs=3, device="cpu"), **train_options))


def test_load_or_train_interrupted_keeps_the_partial_checkpoint_only(toy_digits, monkeypatch):
    evaluate, calls = train_module.evaluate, []

    def interrupt_in_third_validation(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(train_module, "evaluate", interrupt_in_third_validation)
    recipe = _recipe()
    final = train_module.checkpoint_path(recipe, _toy("train"))
    with pytest.warns(UserWarning, match="best epoch so far is kept in .*partial"):
        with pytest.raises(KeyboardInterrupt):
            load_or_train(recipe, progress=False)
    assert not final.exists()                            # never mistaken for a finished model
    _, info = load_checkpoint(train_module.partial_checkpoint_path(final))
    assert info["partial"] and info["best_epoch"] in (1, 2)
    monkeypatch.setattr(train_module, "evaluate", evaluate)
    _, info = load_or_train(recipe, progress=False)      # a new run trains and finishes
    assert not info["cached"] and final.is_file()
    assert not train_module.partial_checkpoint_path(final).exists()


def _no_data(*args, **kwargs):
    raise AssertionError("data was loaded before the bad option was refused")


def test_bad_device_is_refused_before_data_is_loaded(toy_digits, monkeypatch):
    monkeypatch.setattr("lprnn.datasets.load_dataset", _no_data)
    with pytest.raises(ValueError, match="device='tpu9'"):
        load_or_train(_recipe(device="tpu9"), progress=False)


def test_unwritable_models_folder_fails_before_training(tmp_path, monkeypatch):
    # A models folder nobody can write (even root cannot create a folder below a file);
    # config.models_dir() would already fail creating it, so it returns the bare path here.
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    monkeypatch.setattr("lprnn.datasets.load_dataset", _no_data)
    monkeypatch.setattr("lprnn.config.models_dir", lambda: blocker / "models")
    with pytest.raises(PermissionError,
                       match=f"models folder {blocker / 'models'} is not writable"):
        load_or_train(_recipe(), progress=False)


def test_unwritable_out_fails_before_training(toy_digits, monkeypatch, capsys):
    monkeypatch.setattr("lprnn.datasets.load_dataset", _no_data)
    blocker = toy_digits / "file"
    blocker.write_text("")
    argv = ["train", "--size", "quick", "--epochs", "1", "--device", "cpu",
            "--out", str(blocker / "model.pt")]
    assert main(argv) == 2
    assert f"--out folder {blocker} is not writable" in capsys.readouterr().err


def test_check_writable_creates_the_folder(tmp_path):
    assert atomic.check_writable(tmp_path / "a" / "b", "x").is_dir()


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_training_data_is_refused_before_the_first_epoch(bad):
    train_set = _toy("train", 8)
    train_set.features[3, 2, 1] = bad
    model = LpRNNClassifier(ModelConfig(n_inputs=8, ff_size=6, rnn_sizes=(8,), n_classes=20))
    with pytest.raises(ValueError, match="training set has 1 NaN/inf feature values"):
        train(model, train_set, _toy("val", 8), TrainConfig(epochs=1, device="cpu"),
              progress=False)
