"""The field's systems beside ours, each a real trained implementation on the same data.

- :mod:`lprnn.baselines.elman`: train-and-constrain Elman RNN (Diehl et al. 2016): 16-level
  weights and activations, fan-in 64, integrate-and-fire conversion with rate coding.
- :mod:`lprnn.baselines.srnn`: adaptive-LIF spiking RNN with learnable time constants and
  surrogate gradients (Yin, Corradi, Bohté 2020).
- :mod:`lprnn.baselines.lstm`: the float LSTM reference.
- :mod:`lprnn.baselines.slayer`: the SLAYER sigma-delta network of lava-dl (feed-forward: lava-dl
  has no recurrent sigma-delta block), exported with netx and checked in Lava; imports lava-dl
  inside its functions only, and is not re-exported here.
- :mod:`lprnn.baselines.tasks`: the adding and copying tasks of the lpRNN paper, on which the
  lpRNN is compared with the Elman RNN and the LSTM.
- :mod:`lprnn.baselines.conversions`: plain conversions of the trained lpRNN (rate-coded
  integrate-and-fire without self-feedback; the stock sigma-delta neuron), to isolate what the
  adaptive ΣΔ neuron buys.

All classifiers map ``x [B, T, F]`` to logits ``[B, C]`` averaged over time like the lpRNN's,
so :func:`lprnn.ann.train.train` and :func:`lprnn.ann.train.evaluate` train and score every one of them.
"""

from lprnn.baselines.common import BaselineConfig, average_logits
from lprnn.baselines.elman import (ElmanClassifier, SpikingResult, constrain,
                                   discretize_activations, discretize_weights, fan_in_mask,
                                   simulate_integrate_fire)
from lprnn.baselines.lstm import LSTMClassifier
from lprnn.baselines.srnn import AdaptiveSRNN, spiking_activity

__all__ = ["AdaptiveSRNN", "BaselineConfig", "compare_baselines", "ElmanClassifier", "LSTMClassifier",
           "SpikingResult", "average_logits", "constrain", "discretize_activations",
           "discretize_weights", "fan_in_mask", "simulate_integrate_fire", "spiking_activity"]


def compare_baselines(train_set, val_set, test_set, *, hidden_sizes: tuple[int, ...],
                      train_config, srnn_lr: float = 1e-2, finetune_epochs: int = 2,
                      ticks_per_step: int = 15, calibration_size: int = 256,
                      progress: bool = True) -> list[dict]:
    """Train and score every baseline on one dataset split (same data, same epochs budget).

    Elman (float, then train-and-constrain with ``finetune_epochs`` more epochs at lr/3, then
    IF-converted with ``ticks_per_step`` ticks per RNN step), LSTM and adaptive SRNN (Yin et al.'s
    lr ``srnn_lr``) each get ``train_config`` (:class:`lprnn.ann.train.TrainConfig`). One row per system:
    ``system``, ``test_accuracy``, ``spikes_per_sample`` (None for non-spiking ones),
    ``synaptic_ops_per_sample`` (multiply-accumulates for the float networks) and ``train_seconds``.
    """
    import dataclasses
    import time

    from lprnn.baselines.elman import synaptic_ops_per_step
    from lprnn.ann.train import evaluate, train

    shape = dict(n_inputs=train_set.n_features, hidden_sizes=tuple(hidden_sizes),
                 n_classes=train_set.n_classes)
    n_steps = test_set.n_steps
    rows = []

    def fit(model, config):
        start = time.perf_counter()
        train(model, train_set, val_set, config, progress=progress)
        return time.perf_counter() - start

    def dense_row(system, model, seconds):
        return dict(system=system, test_accuracy=evaluate(model, test_set).accuracy,
                    spikes_per_sample=None,
                    synaptic_ops_per_sample=float(synaptic_ops_per_step(model) * n_steps),
                    train_seconds=seconds)

    elman = ElmanClassifier(BaselineConfig(**shape))
    seconds = fit(elman, train_config)
    rows.append(dense_row("Elman RNN (float)", elman, seconds))
    constrained = constrain(elman, train_set.features[:calibration_size])
    seconds += fit(constrained, dataclasses.replace(train_config, epochs=finetune_epochs,
                                                    lr=train_config.lr / 3))
    rows.append(dense_row("Elman RNN (16 levels, fan-in 64)", constrained, seconds))
    spiking = simulate_integrate_fire(constrained, test_set.features, ticks_per_step, progress=progress)
    rows.append(dict(system="Elman RNN → IF (train-and-constrain)",
                     test_accuracy=float((spiking.predictions == test_set.labels).float().mean()),
                     spikes_per_sample=float(spiking.spikes_per_sample.mean()),
                     synaptic_ops_per_sample=float(spiking.synaptic_ops.mean()), train_seconds=seconds))
    lstm = LSTMClassifier(BaselineConfig(**shape))
    rows.append(dense_row("LSTM (float)", lstm, fit(lstm, train_config)))
    srnn = AdaptiveSRNN(BaselineConfig(**shape))
    seconds = fit(srnn, dataclasses.replace(train_config, lr=srnn_lr))
    activity = spiking_activity(srnn, test_set.features)
    rows.append(dict(system="adaptive SRNN (Yin et al.)",
                     test_accuracy=float((activity.predictions == test_set.labels).float().mean()),
                     spikes_per_sample=float(activity.spikes_per_sample.mean()),
                     synaptic_ops_per_sample=float(activity.synaptic_ops.mean()), train_seconds=seconds))
    return rows
