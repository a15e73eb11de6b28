"""LSTM classifier: the float, non-spiking reference the paper compares with.

Stacked ``torch.nn.LSTM`` layers (the standard gates of Hochreiter & Schmidhuber 1997 with a
forget gate) on the same input, under a linear readout whose per-step logits are averaged over
time exactly like the lpRNN's (second half or all steps), trained with the same loop.
"""

from __future__ import annotations

from torch import Tensor, nn

from lprnn.baselines.common import BaselineConfig, StackedClassifier


class LSTMClassifier(StackedClassifier):
    """``model(x [B, T, F]) -> logits [B, C]``; ``trace(x)`` gives per-layer states and per-step logits."""

    def __init__(self, config: BaselineConfig = BaselineConfig()):
        super().__init__()
        self.config = config
        sizes = (config.n_inputs, *config.hidden_sizes)
        self.rnn_layers = nn.ModuleList(nn.LSTM(n, h, batch_first=True)
                                        for n, h in zip(sizes[:-1], sizes[1:]))
        self.out = nn.Linear(sizes[-1], config.n_classes)

    def layer_output(self, layer: nn.Module, h: Tensor) -> Tensor:
        return layer(h)[0]   # nn.LSTM returns (output, (h_n, c_n))
