"""What every baseline classifier shares: its shape configuration and the logit averaging."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

AVERAGING = ("second_half", "all")


def check_averaging(averaging: str) -> None:
    if averaging not in AVERAGING:
        raise ValueError(f"averaging={averaging!r}: expected one of {list(AVERAGING)}")


def average_logits(logits: Tensor, averaging: str) -> Tensor:
    """Mean of per-step logits ``[B, T, C]`` over ``t >= T // 2`` ("second_half") or all steps."""
    check_averaging(averaging)
    start = logits.shape[1] // 2 if averaging == "second_half" else 0
    return logits[:, start:].mean(dim=1)


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
