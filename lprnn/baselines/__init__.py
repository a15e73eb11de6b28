"""The field's systems beside ours, each a real trained implementation on the same data.

- :mod:`lprnn.baselines.elman`: train-and-constrain Elman RNN (Diehl et al. 2016): 16-level
  weights and activations, fan-in 64, integrate-and-fire conversion with rate coding.
- :mod:`lprnn.baselines.srnn`: adaptive-LIF spiking RNN with learnable time constants and
  surrogate gradients (Yin, Corradi, Bohté 2020).
- :mod:`lprnn.baselines.lstm`: the float LSTM reference.
- :mod:`lprnn.baselines.conversions`: plain conversions of the trained lpRNN (rate-coded
  integrate-and-fire without self-feedback; the stock sigma-delta neuron), to isolate what the
  adaptive ΣΔ neuron buys.

All classifiers map ``x [B, T, F]`` to logits ``[B, C]`` averaged over time like the lpRNN's,
so :func:`lprnn.train.train` and :func:`lprnn.train.evaluate` train and score every one of them.
"""

from lprnn.baselines.elman import (ElmanClassifier, ElmanConfig, SpikingResult, constrain,
                                   discretize_activations, discretize_weights, fan_in_mask,
                                   simulate_integrate_fire)
from lprnn.baselines.lstm import LSTMClassifier, LSTMConfig
from lprnn.baselines.srnn import AdaptiveSRNN, SRNNConfig, spiking_activity

__all__ = ["AdaptiveSRNN", "ElmanClassifier", "ElmanConfig", "LSTMClassifier", "LSTMConfig",
           "SRNNConfig", "SpikingResult", "constrain", "discretize_activations",
           "discretize_weights", "fan_in_mask", "simulate_integrate_fire", "spiking_activity"]
