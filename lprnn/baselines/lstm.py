"""LSTM classifier: the float, non-spiking reference the paper compares with.

Stacked ``torch.nn.LSTM`` layers (the standard gates of Hochreiter & Schmidhuber 1997 with a
forget gate) on the same input, under a linear readout whose per-step logits are averaged over
time exactly like the lpRNN's (second half or all steps), trained with the same loop.
"""

from __future__ import annotations


from torch import Tensor, nn

from lprnn.baselines.common import BaselineConfig, average_logits




class LSTMClassifier(nn.Module):
    """``model(x [B, T, F]) -> logits [B, C]``; ``trace(x)`` gives per-layer states and per-step logits."""

    def __init__(self, config: BaselineConfig = BaselineConfig()):
        super().__init__()
        self.config = config
        sizes = (config.n_inputs, *config.hidden_sizes)
        self.rnn_layers = nn.ModuleList(nn.LSTM(n, h, batch_first=True)
                                        for n, h in zip(sizes[:-1], sizes[1:]))
        self.out = nn.Linear(sizes[-1], config.n_classes)

    def trace(self, x: Tensor) -> dict[str, Tensor]:
        """Per-layer hidden states ``"rnn_layers.i"`` [B, T, H] and per-step ``"logits"`` [B, T, C]."""
        if x.dim() != 3 or x.shape[2] != self.config.n_inputs:
            raise ValueError(f"input of shape {tuple(x.shape)}: expected [B, T, {self.config.n_inputs}]")
        out: dict[str, Tensor] = {}
        h = x
        for i, layer in enumerate(self.rnn_layers):
            h = out[f"rnn_layers.{i}"] = layer(h)[0]
        out["logits"] = self.out(h)
        return out

    def forward(self, x: Tensor) -> Tensor:
        return average_logits(self.trace(x)["logits"], self.config.averaging)
