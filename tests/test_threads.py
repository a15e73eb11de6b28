"""The thread policy: training and the CLI take ``threads``, use it, and restore the caller's."""

from __future__ import annotations

import pytest
import torch

from lprnn.__main__ import main
from lprnn.ann.model import LpRNNClassifier
from lprnn.ann.train import TrainConfig, recipe_key, train
from lprnn.ann.recipes import get_recipe
from lprnn.core.threads import DEFAULT_THREADS, torch_threads
from tests.test_cli import toy_digits  # noqa: F401  (fixture)
from tests.test_train import CONFIG, toy_dataset


class _CountingThreads(LpRNNClassifier):
    """Records the torch thread count at every forward pass."""

    seen: list[int] = []

    def forward(self, x):
        self.seen.append(torch.get_num_threads())
        return super().forward(x)


def test_training_runs_with_its_threads_and_restores_the_callers():
    before = torch.get_num_threads()
    wanted = before + 1
    model = _CountingThreads(CONFIG)
    train(model, toy_dataset(32, 0), toy_dataset(16, 1),
          TrainConfig(epochs=1, batch_size=16, device="cpu", threads=wanted), progress=False)
    assert model.seen and set(model.seen) == {wanted}
    assert torch.get_num_threads() == before
    assert TrainConfig().threads == DEFAULT_THREADS == 1


@pytest.mark.parametrize("bad", [0, -2, 1.5, True])
def test_bad_thread_counts(bad):
    with pytest.raises(ValueError, match=f"threads={bad!r}: expected a positive integer"):
        TrainConfig(threads=bad)
    with pytest.raises(ValueError, match=f"threads={bad!r}: expected a positive integer"):
        with torch_threads(bad):
            pass


def test_threads_restored_after_an_error():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError, match="inside"):
        with torch_threads(before + 1):
            raise RuntimeError("inside")
    assert torch.get_num_threads() == before


def test_threads_do_not_change_the_cache_key():
    recipe = get_recipe("digits", "quick")
    assert recipe_key(recipe) == recipe_key(recipe.with_overrides(train={"threads": 2}))


def test_cli_threads(toy_digits, capsys):  # noqa: F811
    argv = ["train", "--size", "quick", "--epochs", "1", "--device", "cpu"]
    assert main(argv + ["--threads", "0"]) == 2
    assert "threads=0: expected a positive integer" in capsys.readouterr().err
    assert main(argv + ["--threads", "2"]) == 0
    assert "'threads': 2" in capsys.readouterr().out
