"""Temporal benchmark tasks of the lpRNN paper (Nair & Indiveri 2019): adding and copying.

Both generators are deterministic given ``seed`` and build the targets from the inputs they
draw, so the targets are correct by construction.

**Adding task** (Hochreiter & Schmidhuber 1997; Le et al. 2015). Each of the ``seq_len`` steps
carries two channels, a value drawn uniformly in [0, 1) and a marker bit. The sequence is cut
into ``n_marked`` equal segments and exactly one position per segment is marked (for two
markers: one in each half). The target, read at the last step, is the sum of the marked
values. Predicting the constant mean ``n_marked / 2`` gives an MSE of ``n_marked / 12``
(0.167 for two markers): a model has learned the task when its error is far below that.

**Copying task** (Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016). ``copy_length``
symbols from {1, …, n_symbols} are shown, then ``delay − 1`` blanks, a delimiter, and
``copy_length`` blanks; the target is blank (class 0) everywhere except the last
``copy_length`` steps, which must reproduce the symbols. Inputs are one-hot over
``n_symbols + 2`` channels (blank, the symbols, the delimiter); targets are classes in
{0, …, n_symbols}. A memoryless model that outputs blanks and then guesses symbols uniformly
gets a cross-entropy of ``copy_length · ln(n_symbols) / (delay + 2·copy_length)`` per step.

Models for the tasks (:func:`make_task_model`) emit one output per step, ``[B, T, n_outputs]``:
the lpRNN (:class:`lprnn.ann.model.LpRNNClassifier` with its readout applied at every step), the
Elman ReLU RNN and the LSTM of :mod:`lprnn.baselines`. :func:`train_task` is their training loop:
the classifiers' loop (:func:`lprnn.ann.train.train`) fits one label per sequence with cross-entropy,
whereas these tasks need a regression at the last step (adding) or a label per step (copying).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

TASKS = ("adding", "copying")
TASK_MODELS = ("lprnn", "elman", "lstm")


@dataclass
class TaskDataset(torch.utils.data.Dataset):
    """Inputs ``[N, T, F]`` float32 and targets: ``[N]`` float32 (adding) or ``[N, T]`` int64 (copying)."""

    inputs: Tensor
    targets: Tensor
    name: str

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.inputs[index], self.targets[index]

    @property
    def task(self) -> str:
        return self.name.split("-")[0]

    @property
    def n_features(self) -> int:
        return int(self.inputs.shape[2])

    @property
    def n_steps(self) -> int:
        return int(self.inputs.shape[1])


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}={value!r}: expected a positive integer")


def adding_task(n_samples: int, seq_len: int, *, n_marked: int = 2, seed: int = 0) -> TaskDataset:
    """The adding task: inputs ``[N, seq_len, 2]`` (value, marker), targets ``[N]`` = Σ marked values.

    One marker falls uniformly inside each of ``n_marked`` equal segments of the sequence.
    """
    _check_positive(n_samples=n_samples, seq_len=seq_len, n_marked=n_marked)
    if n_marked > seq_len:
        raise ValueError(f"n_marked={n_marked}: expected at most seq_len={seq_len} markers")
    generator = torch.Generator().manual_seed(seed)
    values = torch.rand(n_samples, seq_len, generator=generator)
    bounds = [seq_len * i // n_marked for i in range(n_marked + 1)]
    markers = torch.zeros(n_samples, seq_len)
    for start, stop in zip(bounds[:-1], bounds[1:]):
        positions = torch.randint(start, stop, (n_samples,), generator=generator)
        markers[torch.arange(n_samples), positions] = 1.0
    inputs = torch.stack([values, markers], dim=-1)
    targets = (values * markers).sum(dim=1)
    return TaskDataset(inputs, targets, f"adding-T{seq_len}")


def copying_task(n_samples: int, delay: int, *, copy_length: int = 10, n_symbols: int = 8,
                 seed: int = 0) -> TaskDataset:
    """The copying task: ``T = delay + 2·copy_length`` steps, one-hot inputs, per-step class targets."""
    _check_positive(n_samples=n_samples, delay=delay, copy_length=copy_length, n_symbols=n_symbols)
    generator = torch.Generator().manual_seed(seed)
    n_steps = delay + 2 * copy_length
    symbols = torch.randint(1, n_symbols + 1, (n_samples, copy_length), generator=generator)
    input_classes = torch.zeros(n_samples, n_steps, dtype=torch.int64)
    input_classes[:, :copy_length] = symbols
    input_classes[:, copy_length + delay - 1] = n_symbols + 1  # the delimiter: "start copying"
    targets = torch.zeros(n_samples, n_steps, dtype=torch.int64)
    targets[:, -copy_length:] = symbols
    inputs = nn.functional.one_hot(input_classes, n_symbols + 2).float()
    return TaskDataset(inputs, targets, f"copying-T{delay}")


def chance_loss(dataset: TaskDataset) -> float:
    """The loss of the best memoryless answer (see the module docstring): what learning must beat."""
    if dataset.task == "adding":
        n_marked = int(dataset.inputs[0, :, 1].sum().item())
        return n_marked / 12.0
    copy_length = int((dataset.targets[0] > 0).sum().item())
    n_symbols = dataset.n_features - 2
    return copy_length * math.log(n_symbols) / dataset.n_steps


class TaskModel(nn.Module):
    """A recurrent core ``x [B, T, F] -> h [B, T, H]`` under a linear readout applied at every step."""

    def __init__(self, core: nn.Module, hidden_size: int, n_outputs: int):
        super().__init__()
        self.core = core
        self.readout = nn.Linear(hidden_size, n_outputs)

    def forward(self, x: Tensor) -> Tensor:
        return self.readout(self.core(x))


class LpRNNTaskModel(nn.Module):
    """The paper's network (:class:`lprnn.ann.model.LpRNNClassifier`) with per-step outputs ``[B, T, n_outputs]``.

    Its readout is applied at every step instead of being averaged, so the same network regresses
    the adding task's sum at the last step and labels every step of the copying task; it stays an
    ``LpRNNClassifier`` underneath (:attr:`network`), so :func:`lprnn.snn.map_network` maps it.
    """

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network

    def forward(self, x: Tensor) -> Tensor:
        return self.network.trace(x)["logits"]


def make_task_model(kind: str, n_inputs: int, hidden_size: int, n_outputs: int, *,
                    ff_size: int = 16, retention_ratio: float = 0.8, a_max: float = 6.0,
                    weight_frac_bits: int | None = None, seed: int = 0) -> nn.Module:
    """A per-step model ``x [B, T, F] -> [B, T, n_outputs]``: ``kind`` in ("lprnn", "elman", "lstm").

    The lpRNN is the paper's network, lpLinear(``ff_size``) → lpRNN(``hidden_size``) → readout
    (``retention_ratio``, ``a_max`` and ``weight_frac_bits`` configure it only); Elman and LSTM are
    one recurrent layer of ``hidden_size`` units under a linear readout.
    """
    from lprnn.baselines.elman import ElmanLayer
    from lprnn.ann.model import LpRNNClassifier, ModelConfig
    _check_positive(n_inputs=n_inputs, hidden_size=hidden_size, n_outputs=n_outputs)
    torch.manual_seed(seed)
    if kind == "lprnn":
        return LpRNNTaskModel(LpRNNClassifier(ModelConfig(
            n_inputs=n_inputs, ff_size=ff_size, rnn_sizes=(hidden_size,), n_classes=n_outputs,
            retention_ratio=retention_ratio, a_max=a_max, weight_frac_bits=weight_frac_bits)))
    if kind == "elman":
        return TaskModel(ElmanLayer(n_inputs, hidden_size), hidden_size, n_outputs)
    if kind == "lstm":
        return TaskModel(_LSTMCore(n_inputs, hidden_size), hidden_size, n_outputs)
    raise ValueError(f"task model {kind!r}: expected one of {list(TASK_MODELS)}")


class _LSTMCore(nn.Module):
    def __init__(self, n_inputs: int, hidden_size: int):
        super().__init__()
        self.lstm = nn.LSTM(n_inputs, hidden_size, batch_first=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.lstm(x)[0]


def task_loss(outputs: Tensor, targets: Tensor, task: str) -> Tensor:
    """Adding: MSE of the last step's output; copying: cross-entropy over every step."""
    if task == "adding":
        return nn.functional.mse_loss(outputs[:, -1, 0], targets)
    if task == "copying":
        return nn.functional.cross_entropy(outputs.reshape(-1, outputs.shape[-1]), targets.reshape(-1))
    raise ValueError(f"task {task!r}: expected one of {list(TASKS)}")


@torch.no_grad()
def evaluate_task(model: nn.Module, dataset: TaskDataset, batch_size: int = 256) -> dict[str, float]:
    """Loss on ``dataset`` (and, for copying, the accuracy on the copied symbols)."""
    model.eval()
    total, correct, copied = 0.0, 0, 0
    for start in range(0, len(dataset), batch_size):
        x = dataset.inputs[start:start + batch_size]
        y = dataset.targets[start:start + batch_size]
        outputs = model(x)
        total += task_loss(outputs, y, dataset.task).item() * len(x)
        if dataset.task == "copying":
            to_copy = y > 0
            correct += int((outputs.argmax(-1)[to_copy] == y[to_copy]).sum())
            copied += int(to_copy.sum())
    metrics = {"loss": total / len(dataset)}
    if dataset.task == "copying":
        metrics["accuracy"] = correct / copied
    return metrics


def train_task(model: nn.Module, train_set: TaskDataset, eval_set: TaskDataset, *, steps: int,
               batch_size: int = 64, lr: float = 1e-3, clip_norm: float = 1.0,
               eval_every: int = 25, seed: int = 0, progress: bool = True) -> list[dict[str, float]]:
    """Adam on random minibatches of ``train_set`` for ``steps`` updates; returns the learning curve.

    Every ``eval_every`` steps (and at the end) a row ``{step, train_loss, eval_loss[, eval_accuracy],
    seconds}`` is appended, ``train_loss`` being the mean over the steps since the last row.
    """
    _check_positive(steps=steps, batch_size=batch_size, eval_every=eval_every)
    if train_set.task != eval_set.task:
        raise ValueError(f"train set is {train_set.name!r} but eval set is {eval_set.name!r}")
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    curve, running, start = [], [], time.perf_counter()
    for step in tqdm(range(1, steps + 1), desc=f"{train_set.name}", disable=not progress):
        model.train()
        index = torch.randint(0, len(train_set), (batch_size,), generator=generator)
        loss = task_loss(model(train_set.inputs[index]), train_set.targets[index], train_set.task)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        optimizer.step()
        running.append(loss.item())
        if step % eval_every == 0 or step == steps:
            metrics = evaluate_task(model, eval_set)
            row = {"step": step, "train_loss": sum(running) / len(running),
                   "eval_loss": metrics["loss"], "seconds": time.perf_counter() - start}
            if "accuracy" in metrics:
                row["eval_accuracy"] = metrics["accuracy"]
            curve.append(row)
            running = []
    return curve
