"""What every baseline classifier shares: its shape configuration and the stacked classifier
(the logit averaging is :func:`lprnn.core.conventions.average_logits`)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from lprnn.core.conventions import average_logits, check_averaging



@dataclass(frozen=True)
class BaselineConfig:
    """Shape of a baseline sequence classifier (Elman, LSTM, adaptive SRNN): stacked layers
    of ``hidden_sizes`` on ``n_inputs`` features, a readout over ``n_classes``, logits
    averaged like the lpRNN's."""

    n_inputs: int = 80
    hidden_sizes: tuple[int, ...] = (128,)
    n_classes: int = 20
    averaging: str = "second_half"

    def __post_init__(self) -> None:
        if not self.hidden_sizes or any(h < 1 for h in self.hidden_sizes):
            raise ValueError(f"hidden_sizes={self.hidden_sizes}: expected one or more positive sizes")
        check_averaging(self.averaging)


class StackedClassifier(nn.Module):
    """Stacked recurrent layers ``rnn_layers`` and a readout ``out`` (built by subclasses):
    ``model(x [B, T, F]) -> logits [B, C]`` averaged per ``config.averaging``, and ``trace(x)``
    with each layer's output ``"rnn_layers.i"`` [B, T, H] and the per-step ``"logits"``."""

    config: BaselineConfig
    rnn_layers: nn.ModuleList
    out: nn.Module

    def layer_output(self, layer: nn.Module, h: Tensor) -> Tensor:
        """The output sequence of one layer (subclasses unpack tuples, e.g. nn.LSTM's)."""
        return layer(h)

    def trace(self, x: Tensor) -> dict[str, Tensor]:
        if x.dim() != 3 or x.shape[2] != self.config.n_inputs:
            raise ValueError(f"input of shape {tuple(x.shape)}: expected [B, T, {self.config.n_inputs}]")
        out: dict[str, Tensor] = {}
        h = x
        for i, layer in enumerate(self.rnn_layers):
            h = out[f"rnn_layers.{i}"] = self.layer_output(layer, h)
        out["logits"] = self.out(h)
        return out

    def forward(self, x: Tensor) -> Tensor:
        return average_logits(self.trace(x)["logits"], self.config.averaging)
