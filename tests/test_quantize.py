"""Fixed-point quantizer: values, straight-through gradient, integer export, formats."""

from __future__ import annotations

import pytest
import torch

from lprnn.ann.quantize import FixedPointFormat, quantize, to_mantissa, zero_weight_mask

THREE_BIT = FixedPointFormat(int_bits=1, frac_bits=3)


def test_format_range_and_step():
    assert (THREE_BIT.min_value, THREE_BIT.max_value, THREE_BIT.step) == (-2.0, 1.875, 0.125)
    fmt = FixedPointFormat(int_bits=0, frac_bits=1)
    assert (fmt.min_value, fmt.max_value, fmt.step) == (-1.0, 0.5, 0.5)


def test_quantize_values():
    x = torch.tensor([0.06, 0.07, -0.3, 0.49, 5.0, -5.0, 1.875])
    expected = torch.tensor([0.0, 0.125, -0.25, 0.5, 1.875, -2.0, 1.875])
    assert torch.equal(quantize(x, THREE_BIT), expected)


def test_straight_through_gradient():
    x = torch.tensor([0.06, -0.3, 1.7, 5.0, -5.0], requires_grad=True)
    quantize(x, THREE_BIT).sum().backward()
    # rounding passes the gradient, the clamp blocks it outside [−2, 1.875]
    assert torch.equal(x.grad, torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0]))


def test_mantissa_is_exact():
    torch.manual_seed(0)
    x = torch.randn(1000) * 0.7
    for fmt in (THREE_BIT, FixedPointFormat(2, 5), FixedPointFormat(0, 16)):
        mantissa = to_mantissa(x, fmt)
        assert mantissa.dtype == torch.int64
        assert torch.equal(mantissa.double() * 2.0 ** -fmt.frac_bits, quantize(x, fmt).double())
        assert int(mantissa.min()) >= -(2 ** (fmt.int_bits + fmt.frac_bits))
        assert int(mantissa.max()) <= 2 ** (fmt.int_bits + fmt.frac_bits) - 1


def test_zero_weight_mask():
    w = torch.tensor([0.0, 0.05, 0.07, -0.2])
    assert zero_weight_mask(w, THREE_BIT).tolist() == [False, False, True, True]
    assert zero_weight_mask(w, None).tolist() == [False, True, True, True]


@pytest.mark.parametrize("int_bits, frac_bits, match", [
    (1, 0, "frac_bits=0"), (1, 17, "frac_bits=17"), (-1, 3, "int_bits=-1"),
    (16, 3, "int_bits=16"), (1, 3.0, "frac_bits=3.0"), (1, True, "frac_bits=True")])
def test_bad_formats_are_rejected(int_bits, frac_bits, match):
    with pytest.raises(ValueError, match=match):
        FixedPointFormat(int_bits=int_bits, frac_bits=frac_bits)
