"""Fixed-point quantization of weights and biases, with a straight-through estimator.

A :class:`FixedPointFormat` with ``int_bits`` integer and ``frac_bits`` fractional bits (plus
sign) represents the multiples of 2^-frac_bits in [−2^int_bits, 2^int_bits − 2^-frac_bits].
The paper's "3-bit weights" are ``FixedPointFormat(int_bits=1, frac_bits=3)``: multiples of 1/8.

Forward (``docs/METHOD.md``, *Fixed point*: clamp to the integer range, multiply by 2^frac_bits, round, divide)::

    q(x) = round(clamp(x, lo, hi) · 2^f) / 2^f

Backward (straight-through): the rounding passes gradients unchanged, the clamp keeps its own
gradient (zero outside [lo, hi]). :func:`to_mantissa` exports the exact integers m with
q(x) = m · 2^-frac_bits, which the ANN→SNN mapper scales onto Loihi.

Lottery-ticket masks (the authors' training): :func:`zero_weight_mask` marks the weights that
survive quantization (quantize to a non-zero value); :mod:`lprnn.ann.train` masks the others,
rewinds to the initial weights and retrains.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

FRAC_BITS_RANGE = (1, 16)
INT_BITS_RANGE = (0, 15)


@dataclass(frozen=True)
class FixedPointFormat:
    """Signed fixed point: step 2^-frac_bits, range [−2^int_bits, 2^int_bits − 2^-frac_bits]."""

    int_bits: int = 1
    frac_bits: int = 3

    def __post_init__(self) -> None:
        for name, (lo, hi) in (("int_bits", INT_BITS_RANGE), ("frac_bits", FRAC_BITS_RANGE)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise ValueError(f"FixedPointFormat.{name}={value!r}: expected an integer "
                                 f"in [{lo}, {hi}]")

    @property
    def step(self) -> float:
        return 2.0 ** -self.frac_bits

    @property
    def min_value(self) -> float:
        return -(2.0 ** self.int_bits)

    @property
    def max_value(self) -> float:
        return 2.0 ** self.int_bits - self.step


def quantize(x: Tensor, fmt: FixedPointFormat) -> Tensor:
    """round(clamp(x, lo, hi) · 2^f) / 2^f, with a straight-through gradient for the rounding."""
    clamped = torch.clamp(x, fmt.min_value, fmt.max_value)
    scale = 2.0 ** fmt.frac_bits
    rounded = torch.round(clamped * scale) / scale
    return clamped + (rounded - clamped).detach()


def to_mantissa(x: Tensor, fmt: FixedPointFormat) -> Tensor:
    """The integers m (int64) with quantize(x, fmt) = m · 2^-frac_bits exactly."""
    scale = 2.0 ** fmt.frac_bits
    return torch.round(torch.clamp(x.detach(), fmt.min_value, fmt.max_value) * scale).to(torch.int64)


def zero_weight_mask(weight: Tensor, fmt: FixedPointFormat | None) -> Tensor:
    """Lottery-ticket mask: True where ``weight`` quantizes to a non-zero value (float: ≠ 0)."""
    deployed = weight.detach() if fmt is None else to_mantissa(weight, fmt)
    return deployed != 0
