"""Training, evaluation and checkpoints of :class:`lprnn.ann.model.LpRNNClassifier`.

The authors' recipe (``docs/METHOD.md``, *Training*): cross-entropy on the time-averaged logits, Adam, gradient
clipping (by norm, then by value), ReduceLROnPlateau on the validation accuracy, and the
epoch with the best validation accuracy kept. Optional lottery-ticket rounds: after a round,
the weights that quantize to zero are masked, the model is rewound to its initial weights
and trained again (masked weights get zero gradient because the forward uses weight · mask);
the model returned is the best epoch of the last round. Optional float pre-training
(``float_epochs``): that many epochs with float weights first (history round −1); quantized
training and lottery rewinds start from its best epoch. Optional feature augmentation
(``time_stretch``, ``freq_warp``, ``time_mask``, ``freq_mask``; :mod:`lprnn.ann.augment`) of
every training batch.
Optional weight average (``ema_decay`` = γ > 0, ``torch.optim.swa_utils.AveragedModel``):
after every optimizer step w̄ ← γ w̄ + (1 − γ) w, restarted each round; w̄ (quantized in the
forward pass like w) is what is validated, and the best epoch's w̄ is what is kept.

Determinism: ``seed`` seeds the weight init (in :func:`load_or_train`) and the batch order.
``amp=True`` runs the input projections under ``torch.autocast(bfloat16)`` on CUDA only;
weights are quantized in float32 before the matmul (3-bit values are exact in bfloat16) and
the recurrence stays float32. On CPU ``amp`` is ignored with a warning.

Checkpoints are ``torch.save`` dicts of tensors and JSON strings (format, model config,
info) that load with ``torch.load(weights_only=True)``: nothing is unpickled; a truncated,
foreign or incomplete file is refused naming the file and the field. They are written
atomically; while :func:`load_or_train` trains, the best epoch so far is kept in a
``.partial.pt`` file beside the final one, so Ctrl-C mid-epoch loses at most the epochs since
then. The float pre-training is kept too (:func:`pretraining_path`), and the models of a
recipe that differ only in their weight format (float and 3-bit, one seed) share it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import time
import warnings
from contextlib import nullcontext
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, NamedTuple

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from lprnn import atomic
from lprnn import config as paths
from lprnn.ann.augment import FeatureAugmentation
from lprnn.ann.model import LpRNNClassifier, ModelConfig
from lprnn.core.threads import DEFAULT_THREADS, check_threads, torch_threads

CHECKPOINT_FORMAT = "lprnn-checkpoint-v1"
FLOAT_ROUND = -1  # the "round" of float pre-training epochs in a history


@dataclass(frozen=True)
class TrainConfig:
    """Optimizer and loop settings (defaults: the authors' HD settings)."""

    epochs: int = 50
    batch_size: int = 64
    lr: float = 1e-3
    clip_norm: float = 2.0
    clip_value: float = 2.0
    plateau_factor: float = 0.5
    plateau_patience: int = 3
    seed: int = 0
    device: str = "auto"
    lottery_rounds: int = 0
    num_workers: int = 0
    amp: bool = False
    # Feature augmentation of the training batches (lprnn.ann.augment; 0 = off).
    freq_warp: float = 0.0
    time_mask: int = 0
    freq_mask: int = 0
    time_stretch: float = 0.0
    # Epochs trained with float weights before the quantized epochs (0 = quantized throughout).
    float_epochs: int = 0
    # Exponential moving average of the weights (0 = off): the model validated and kept.
    ema_decay: float = 0.0
    threads: int = DEFAULT_THREADS   # torch CPU threads while training (lprnn.core.threads)

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"TrainConfig.{name}={value!r}: expected a positive integer")
        for name in ("lottery_rounds", "num_workers", "plateau_patience", "seed",
                     "float_epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"TrainConfig.{name}={value!r}: expected an integer ≥ 0")
        check_threads(self.threads)
        for name in ("lr", "clip_norm", "clip_value"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"TrainConfig.{name}={value!r}: expected a positive number")
        if not (isinstance(self.ema_decay, (int, float)) and 0.0 <= self.ema_decay < 1.0):
            raise ValueError(f"TrainConfig.ema_decay={self.ema_decay!r}: expected a value in "
                             "[0, 1) (0: no weight average)")
        if not 0.0 < self.plateau_factor < 1.0:
            raise ValueError(f"TrainConfig.plateau_factor={self.plateau_factor!r}: "
                             "expected a value in (0, 1)")
        resolve_device(self.device)
        self.augmentation.check()

    @property
    def augmentation(self) -> FeatureAugmentation:
        return FeatureAugmentation(self.freq_warp, self.time_mask, self.freq_mask,
                                   self.time_stretch)

    @classmethod
    def from_dict(cls, options: Mapping[str, Any]) -> "TrainConfig":
        """Build from keyword options, naming any unknown option and the known ones."""
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ValueError(f"unknown training option(s) {unknown}: expected some of {known}")
        return cls(**options)


class TrainResult(NamedTuple):
    history: list[dict[str, float]]  # per epoch: round, epoch, train_loss, train_accuracy, val_accuracy, lr, seconds
    best_val_accuracy: float
    best_epoch: int                  # the "epoch" (1-based, counted over all rounds) kept


class EvalResult(NamedTuple):
    accuracy: float
    predictions: Tensor  # int64 [N]
    labels: Tensor       # int64 [N]


def resolve_device(device: str | torch.device) -> torch.device:
    """"auto" → CUDA when available, else CPU; otherwise the named device (validated)."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device={device!r}: expected 'auto', 'cpu' or 'cuda[:N]'") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r}: CUDA is not available on this machine "
                         "(use 'cpu' or 'auto')")
    return resolved


def _check_dataset(dataset: Dataset, n_classes: int, what: str) -> None:
    if len(dataset) == 0:
        raise ValueError(f"{what} set is empty: expected at least one sequence")
    features = getattr(dataset, "features", None)
    if isinstance(features, Tensor) and features.is_floating_point() \
            and not torch.isfinite(features).all():
        raise ValueError(f"{what} set has {int((~torch.isfinite(features)).sum())} NaN/inf "
                         "feature values: expected finite features")
    labels = getattr(dataset, "labels", None)
    if labels is not None and (int(labels.min()) < 0 or int(labels.max()) >= n_classes):
        raise ValueError(f"{what} labels span [{int(labels.min())}, {int(labels.max())}]: "
                         f"expected classes in [0, {n_classes - 1}] (model n_classes={n_classes})")


def _batches(dataset: Dataset, batch_size: int, *, shuffle: bool,
             generator: torch.Generator | None = None,
             num_workers: int = 0) -> Iterator[tuple[Tensor, Tensor]]:
    """Batches (x [B, T, F], y [B]); slices the tensors of a SequenceDataset directly."""
    features, labels = getattr(dataset, "features", None), getattr(dataset, "labels", None)
    if isinstance(features, Tensor) and isinstance(labels, Tensor):
        order = (torch.randperm(len(labels), generator=generator) if shuffle
                 else torch.arange(len(labels)))
        for start in range(0, len(order), batch_size):
            index = order[start:start + batch_size]
            yield features[index], labels[index]
    else:
        yield from DataLoader(dataset, batch_size=batch_size, shuffle=shuffle,
                              generator=generator, num_workers=num_workers)


def _autocast(device: torch.device, amp: bool):
    if amp and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return nullcontext()


@torch.no_grad()
def evaluate(model: LpRNNClassifier, dataset: Dataset, batch_size: int = 256,
             device: str | torch.device = "auto") -> EvalResult:
    """Accuracy, predictions and labels of ``model`` on ``dataset`` (model is set to eval)."""
    device = resolve_device(device)
    _check_dataset(dataset, model.config.n_classes, "evaluation")
    model.to(device).eval()
    predictions, labels = [], []
    for x, y in _batches(dataset, batch_size, shuffle=False):
        predictions.append(model(x.to(device)).argmax(dim=1).cpu())
        labels.append(torch.as_tensor(y))
    predictions_t, labels_t = torch.cat(predictions), torch.cat(labels).long()
    accuracy = float((predictions_t == labels_t).float().mean())
    return EvalResult(accuracy, predictions_t, labels_t)


def confusion_matrix(predictions: Tensor, labels: Tensor, n_classes: int) -> Tensor:
    """Counts [n_classes, n_classes] (int64): row = true class, column = predicted class."""
    if predictions.shape != labels.shape:
        raise ValueError(f"predictions {tuple(predictions.shape)} and labels "
                         f"{tuple(labels.shape)}: expected the same shape")
    flat = labels.long() * n_classes + predictions.long()
    return torch.bincount(flat, minlength=n_classes ** 2).reshape(n_classes, n_classes)


def _train_round(model: LpRNNClassifier, train_set: Dataset, val_set: Dataset,
                 config: TrainConfig, device: torch.device, generator: torch.Generator,
                 lottery_round: int, first_epoch: int, progress: bool,
                 on_best: Callable[[int, float], None] | None = None,
                 ) -> tuple[list[dict[str, float]], dict[str, Tensor], int, float]:
    """One round of training; returns (history, best state dict, best epoch, best accuracy).

    ``on_best(epoch, val_accuracy)`` is called while the model holds each new best epoch."""
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="max", factor=config.plateau_factor, patience=config.plateau_patience)
    loss_fn = nn.CrossEntropyLoss()
    augment_batch = getattr(train_set, "augment_batch", None)   # training-time augmentation
    augmentation = config.augmentation
    # With ema_decay: the average is validated and kept (and the best epoch is its state).
    average = (None if not config.ema_decay else torch.optim.swa_utils.AveragedModel(
        model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(config.ema_decay)))
    kept = model if average is None else average.module
    history: list[dict[str, float]] = []
    best_state, best_epoch, best_accuracy = None, first_epoch, -1.0
    desc = ("train (float)" if lottery_round == FLOAT_ROUND else
            "train" if config.lottery_rounds == 0 else f"train (round {lottery_round})")
    epochs = tqdm(range(first_epoch, first_epoch + config.epochs), desc=desc, disable=not progress,
                  unit="epoch")
    for epoch in epochs:
        start = time.perf_counter()
        model.train()
        total_loss, correct, seen = 0.0, 0, 0
        for x, y in _batches(train_set, config.batch_size, shuffle=True, generator=generator,
                             num_workers=config.num_workers):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if augment_batch is not None:   # e.g. Speech Commands' frequency masking
                x = augment_batch(x)
            if augmentation.active:
                x = augmentation(x)
            with _autocast(device, config.amp):
                logits = model(x)
            loss = loss_fn(logits.float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)
            nn.utils.clip_grad_value_(model.parameters(), config.clip_value)
            optimizer.step()
            if average is not None:
                average.update_parameters(model)
            total_loss += float(loss) * len(y)
            correct += int((logits.argmax(dim=1) == y).sum())
            seen += len(y)
        val_accuracy = evaluate(kept, val_set, device=device).accuracy
        scheduler.step(val_accuracy)
        record = dict(round=lottery_round, epoch=epoch + 1, train_loss=total_loss / seen,
                      train_accuracy=correct / seen, val_accuracy=val_accuracy,
                      lr=optimizer.param_groups[0]["lr"], seconds=time.perf_counter() - start)
        history.append(record)
        if val_accuracy > best_accuracy:
            best_accuracy, best_epoch = val_accuracy, epoch + 1
            best_state = copy.deepcopy(kept.state_dict())
            if on_best is not None and average is None:
                on_best(best_epoch, best_accuracy)
            elif on_best is not None:   # on_best saves the model: let it hold the average
                _holding(model, best_state, lambda: on_best(best_epoch, best_accuracy))
        epochs.set_postfix(loss=f"{record['train_loss']:.3f}", val=f"{val_accuracy:.3f}")
    return history, best_state, best_epoch, best_accuracy


def _holding(model: nn.Module, state: dict[str, Tensor], action: Callable[[], None]) -> None:
    """Run ``action`` while ``model`` holds ``state`` (e.g. the weight average), then give
    it back its own weights."""
    own = copy.deepcopy(model.state_dict())
    model.load_state_dict(state)
    try:
        action()
    finally:
        model.load_state_dict(own)


def _pretrain_float(model: LpRNNClassifier, train_set: Dataset, val_set: Dataset,
                    config: TrainConfig, device: torch.device, generator: torch.Generator,
                    progress: bool) -> list[dict[str, float]]:
    """``config.float_epochs`` epochs with the weight quantization switched off; the model
    keeps its best float epoch, from which quantized training (and lottery rewinds) start."""
    if not isinstance(model, LpRNNClassifier):
        raise TypeError(f"float_epochs={config.float_epochs} needs an LpRNNClassifier, got a "
                        f"{type(model).__name__}")
    layers = model.quantized_layers()
    formats = {name: layer.fmt for name, layer in layers.items()}
    for layer in layers.values():
        layer.fmt = None
    try:
        history, best_state, _, _ = _train_round(
            model, train_set, val_set, replace(config, epochs=config.float_epochs), device,
            generator, FLOAT_ROUND, 0, progress)
    finally:
        for name, layer in layers.items():
            layer.fmt = formats[name]
    model.load_state_dict(best_state)
    return history


def train(model: LpRNNClassifier, train_set: Dataset, val_set: Dataset,
          config: TrainConfig | None = None, progress: bool = True, *,
          checkpoint: str | Path | None = None,
          pretraining: str | Path | None = None) -> TrainResult:
    """Train ``model`` in place (module docstring); it ends holding its best epoch's weights.

    ``model``: an LpRNNClassifier, or any classifier module ``x [B, T, F] -> logits [B, C]``
    with ``model.config.n_classes`` (the baselines); lottery rounds need an LpRNNClassifier.
    ``checkpoint``: a path (LpRNNClassifier only) checked writable before training and
    rewritten atomically at every new best validation epoch (info: ``partial=True``,
    ``best_epoch``, ``best_val_accuracy``), so an interrupted run (Ctrl-C mid-epoch) leaves
    the last good epoch on disk.
    ``pretraining``: a file for the outcome of the float pre-training (``float_epochs``): its
    best state, its history and the random generators' states after it. When the file exists
    the pre-training is read from it instead of run, and the training goes on exactly as if it
    had run (the float and the 3-bit models of one seed share it: their float epochs are the
    same computation); otherwise it is run and written. The caller names the file after
    everything the float epochs depend on (:func:`load_or_train` does).
    Runs with ``config.threads`` torch CPU threads and restores the caller's count.
    """
    config = config or TrainConfig()
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config is a {type(config).__name__}: expected a TrainConfig "
                        "(use TrainConfig.from_dict for a dict of options)")
    with torch_threads(config.threads):
        return _train(model, train_set, val_set, config, progress, checkpoint, pretraining)


PRETRAINING_FORMAT = "lprnn-float-pretraining-v1"


def _load_torch_file(path: Path, what: str, remedy: str = "") -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU; a truncated or foreign file raises
    ValueError naming ``what`` and the path (and ``remedy``)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for truncated/garbage files
        raise ValueError(f"{what} {path} is corrupt or not a torch file "
                         f"({type(err).__name__}: {str(err)[:200]}){remedy}") from None


def _shared_pretraining(path: Path, model: LpRNNClassifier, train_set: Dataset,
                        val_set: Dataset, config: TrainConfig, device: torch.device,
                        generator: torch.Generator, progress: bool) -> list[dict[str, float]]:
    """:func:`_pretrain_float`, or its outcome read from ``path`` (written when absent)."""
    with atomic.lock(path):
        if path.is_file():
            payload = _load_torch_file(path, "float pre-training file",
                                       "; delete it to train it again")
            if not isinstance(payload, dict) or payload.get("format") != PRETRAINING_FORMAT:
                raise ValueError(f"{path}: not a float pre-training file (expected format "
                                 f"{PRETRAINING_FORMAT!r}): delete it to train it again")
            model.load_state_dict(payload["state_dict"])
            generator.set_state(payload["generator"])
            torch.set_rng_state(payload["torch_rng"])
            return json.loads(payload["history"])
        history = _pretrain_float(model, train_set, val_set, config, device, generator, progress)
        atomic.torch_save({"format": PRETRAINING_FORMAT, "history": json.dumps(history),
                           "state_dict": {k: v.detach().cpu()
                                          for k, v in model.state_dict().items()},
                           "generator": generator.get_state(),
                           "torch_rng": torch.get_rng_state()}, path)
        return history


def _train(model: LpRNNClassifier, train_set: Dataset, val_set: Dataset, config: TrainConfig,
           progress: bool, checkpoint: str | Path | None,
           pretraining: str | Path | None = None) -> TrainResult:
    if config.lottery_rounds and not isinstance(model, LpRNNClassifier):
        raise TypeError(f"lottery_rounds={config.lottery_rounds} needs an LpRNNClassifier, "
                        f"got a {type(model).__name__}")
    for dataset, what in ((train_set, "training"), (val_set, "validation")):
        _check_dataset(dataset, model.config.n_classes, what)
    device = resolve_device(config.device)
    if config.amp and device.type != "cuda":
        warnings.warn(f"amp=True is ignored on {device.type}: bfloat16 autocast is used on "
                      "CUDA only", stacklevel=2)
    on_best = None
    if checkpoint is not None:
        checkpoint = Path(checkpoint)
        atomic.check_writable(checkpoint.parent, "checkpoint folder")

        def on_best(epoch: int, accuracy: float) -> None:
            save_checkpoint(checkpoint, model, partial=True, best_epoch=epoch,
                            best_val_accuracy=accuracy)
    model.to(device)
    generator = torch.Generator().manual_seed(config.seed)
    history: list[dict[str, float]] = []
    if config.float_epochs and pretraining is not None:
        history = _shared_pretraining(Path(pretraining), model, train_set, val_set, config,
                                      device, generator, progress)
    elif config.float_epochs:
        history = _pretrain_float(model, train_set, val_set, config, device, generator, progress)
    initial_state = copy.deepcopy(model.state_dict())
    for lottery_round in range(config.lottery_rounds + 1):
        if lottery_round > 0:
            masks = model.zero_weight_masks()
            model.load_state_dict(initial_state, strict=False)
            model.set_weight_masks(masks)
            with torch.no_grad():
                for name, layer in model.quantized_layers().items():
                    layer.weight.mul_(masks[name])
        round_history, best_state, best_epoch, best_accuracy = _train_round(
            model, train_set, val_set, config, device, generator, lottery_round,
            len(history), progress, on_best)
        history += round_history
        model.load_state_dict(best_state)
    return TrainResult(history, best_accuracy, best_epoch)


# -- checkpoints ----------------------------------------------------------------------------

def save_checkpoint(path: str | Path, model: LpRNNClassifier, **info: Any) -> Path:
    """Write the model's tensors, its config and ``info`` (JSON-serializable) atomically."""
    path = Path(path)
    try:
        info_json = json.dumps(info)
    except TypeError as err:
        raise TypeError(f"checkpoint info must be JSON-serializable: {err}") from None
    payload = {"format": CHECKPOINT_FORMAT, "config": json.dumps(model.config.to_dict()),
               "info": info_json,
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    return atomic.torch_save(payload, path)


def load_checkpoint(path: str | Path, *,
                    expected: Mapping[str, Any] | None = None) -> tuple[LpRNNClassifier, dict]:
    """(model on CPU, info) from a :func:`save_checkpoint` file, loaded with weights_only=True.

    ``expected``: model options the checkpoint must have (e.g. ``{"rnn_sizes": (512, 512)}``);
    a mismatch raises ValueError naming the option.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found")
    payload = _load_torch_file(path, "checkpoint")
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        hint = (" (a plain state dict: use lprnn.ann.model.from_state_dict)"
                if isinstance(payload, dict) and "state_dict" not in payload else "")
        raise ValueError(f"checkpoint {path}: expected an {CHECKPOINT_FORMAT!r} file written by "
                         f"lprnn.ann.train.save_checkpoint{hint}")
    for name, kind in (("config", str), ("info", str), ("state_dict", dict)):
        if not isinstance(payload.get(name), kind):
            raise ValueError(f"checkpoint {path}: field {name!r} is missing or not a "
                             f"{kind.__name__} (an incomplete or foreign file)")
    try:
        options, info = json.loads(payload["config"]), json.loads(payload["info"])
    except json.JSONDecodeError as err:
        raise ValueError(f"checkpoint {path}: field 'config' or 'info' is not JSON ({err})") \
            from None
    if not isinstance(options, dict) or not isinstance(info, dict):
        raise ValueError(f"checkpoint {path}: fields 'config' and 'info' must be JSON objects")
    try:
        model_config = ModelConfig.from_dict(options)
    except (TypeError, ValueError) as err:
        raise ValueError(f"checkpoint {path}: field 'config': {err}") from None
    for name, value in (expected or {}).items():
        have = getattr(model_config, name, None) if name in options else None
        if _normalized(have) != _normalized(value):
            raise ValueError(f"checkpoint {path} has {name}={have!r}: expected {value!r}")
    model = LpRNNClassifier(model_config)
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as err:
        raise ValueError(f"checkpoint {path}: its tensors do not fit its architecture "
                         f"{model_config}: {str(err)[:300]}") from None
    return model.eval(), info


def _normalized(value: Any) -> Any:
    return list(value) if isinstance(value, (tuple, list)) else value


# -- recipes --------------------------------------------------------------------------------

# Training options that do not change what is trained, left out of the cache key.
_NOT_IN_KEY = ("device", "num_workers", "threads")


def recipe_key(recipe: Any) -> str:
    """12 hex digits identifying a recipe's name, dataset, options, model and training
    (except the device, the number of data-loading workers and of CPU threads)."""
    train = {k: v for k, v in recipe.train.items() if k not in _NOT_IN_KEY}
    spec = dict(name=recipe.name, dataset=recipe.dataset, dataset_options=recipe.dataset_options,
                model=recipe.model, train=train)
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=list).encode()).hexdigest()[:12]


def data_fingerprint(dataset: Dataset) -> str:
    """12 hex digits identifying a dataset's contents (its labels and a strided sample of its
    features), so that a regenerated dataset never reuses a model trained on the old one."""
    digest = hashlib.sha256(dataset.labels.numpy().tobytes())
    digest.update(dataset.features[:, ::5, ::4].contiguous().numpy().tobytes())
    return digest.hexdigest()[:12]


def checkpoint_path(recipe: Any, train_set: Dataset) -> Path:
    """Where :func:`load_or_train` caches the model of ``recipe`` trained on ``train_set``."""
    return paths.models_dir() / f"{recipe.name}-{recipe_key(recipe)}-{data_fingerprint(train_set)}.pt"


def pretraining_path(recipe: Any, train_set: Dataset) -> Path:
    """Where :func:`load_or_train` keeps the float pre-training of ``recipe``: keyed without
    the weight format and the options that act only after it (epochs, lottery rounds), so
    that the float and the k-bit models of one seed share it."""
    shared = replace(recipe, model={k: v for k, v in recipe.model.items()
                                    if k not in ("weight_frac_bits", "weight_int_bits")},
                     train={k: v for k, v in recipe.train.items()
                            if k not in ("epochs", "lottery_rounds")})
    return (paths.models_dir() / "pretraining" /
            f"{recipe.name}-{recipe_key(shared)}-{data_fingerprint(train_set)}.pt")


def load_or_train(recipe: Any, *, progress: bool = True) -> tuple[LpRNNClassifier, dict]:
    """The trained model of a :class:`lprnn.ann.recipes.Recipe`: loaded from its cached checkpoint,
    or trained (train split, best epoch by the val split), tested and cached. The model is
    returned on the CPU in eval mode.

    info: recipe, test_accuracy, best_val_accuracy, best_epoch, history, train_seconds,
    checkpoint (path) and cached (whether it was loaded).
    """
    from lprnn.datasets import load_dataset

    # Options (the device among them) and the models folder are checked before any long work.
    train_config = TrainConfig.from_dict(recipe.train)
    atomic.check_writable(paths.models_dir(), "models folder")
    splits = {split: load_dataset(recipe.dataset, split, **recipe.dataset_options)
              for split in ("train", "val", "test")}
    path = checkpoint_path(recipe, splits["train"])
    with atomic.lock(path):   # parallel runs of one recipe train it once
        if path.is_file():
            model, info = load_checkpoint(path, expected=recipe.model)
            return model, dict(info, checkpoint=str(path), cached=True)
        return _train_and_save(recipe, train_config, splits, path, progress)


def partial_checkpoint_path(path: Path) -> Path:
    """Where :func:`load_or_train` keeps the best epoch so far while it trains ``path``."""
    return path.with_name(f"{path.stem}.partial{path.suffix}")


def _train_and_save(recipe: Any, train_config: TrainConfig, splits: dict[str, Dataset],
                    path: Path, progress: bool) -> tuple[LpRNNClassifier, dict]:
    data_sizes = dict(n_inputs=splits["train"].n_features, n_classes=splits["train"].n_classes)
    for name, value in data_sizes.items():
        if name in recipe.model and recipe.model[name] != value:
            raise ValueError(f"recipe {recipe.name!r} sets {name}={recipe.model[name]}, but "
                             f"dataset {recipe.dataset!r} has {value}")
    torch.manual_seed(train_config.seed)
    model = LpRNNClassifier(ModelConfig.from_dict({**recipe.model, **data_sizes}))
    start = time.perf_counter()
    partial = partial_checkpoint_path(path)
    try:
        shared = pretraining_path(recipe, splits["train"])
        shared.parent.mkdir(parents=True, exist_ok=True)
        result = train(model, splits["train"], splits["val"], train_config, progress=progress,
                       checkpoint=partial, pretraining=shared)
    except KeyboardInterrupt:
        if partial.is_file():
            warnings.warn(f"training interrupted: the best epoch so far is kept in {partial} "
                          "(load it with lprnn.ann.train.load_checkpoint)", stacklevel=3)
        raise
    train_seconds = time.perf_counter() - start
    test = evaluate(model, splits["test"], device=train_config.device)
    info = dict(recipe=asdict(recipe), test_accuracy=test.accuracy,
                best_val_accuracy=result.best_val_accuracy, best_epoch=result.best_epoch,
                history=result.history, train_seconds=train_seconds)
    save_checkpoint(path, model.cpu(), **info)
    partial.unlink(missing_ok=True)
    return model.eval(), dict(info, checkpoint=str(path), cached=False)
