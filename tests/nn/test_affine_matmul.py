"""The affine shortcut (integer matmul + rank-1 corrections) equals dequantize-then-matmul."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bitscale import formats
from bitscale.nn import (AffineOperand, affine_linear, affine_matmul, dequantize_matmul,
                         quantize_rows)


def _int_operand(rows, k, bits, g, dtype=torch.float64):
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1)
    codes = torch.randint(lo, hi, (rows, k), generator=g, dtype=torch.int8)
    scale = torch.randint(1, 9, (rows, 1), generator=g).to(dtype)      # integer scales
    offset = torch.randint(-50, 50, (rows, 1), generator=g).to(dtype)  # integer zero-point terms
    return AffineOperand(codes, scale, offset)


@pytest.mark.parametrize("m, k, n", [(3, 5, 4), (32, 64, 24), (64, 256, 128)])
@pytest.mark.parametrize("bits", [2, 4, 8])
def test_exact_on_integer_codes_in_float64(m, k, n, bits):
    g = torch.Generator().manual_seed(m * k + bits)
    a, w = _int_operand(m, k, bits, g), _int_operand(n, k, bits, g)
    fast = affine_matmul(a, w)
    naive = dequantize_matmul(a, w)
    assert fast.dtype == torch.float64
    torch.testing.assert_close(fast, naive, rtol=0, atol=0)
    # and both equal the exact integer product
    exact = ((a.codes.long() * a.scale.long() + a.offset.long())
             @ (w.codes.long() * w.scale.long() + w.offset.long()).t())
    assert torch.equal(fast, exact.to(torch.float64))


@pytest.mark.parametrize("m, k, n", [(17, 64, 32), (128, 512, 256), (7, 24, 9)])
@pytest.mark.parametrize("bits_a, bits_w", [(8, 8), (8, 4), (4, 2)])
def test_float32_relative_error_below_1e_5(m, k, n, bits_a, bits_w):
    g = torch.Generator().manual_seed(k + n)
    x = torch.randn(m, k, generator=g) + 0.5  # shifted: the zero points matter
    wt = torch.randn(n, k, generator=g) * 0.1
    a, w = quantize_rows(x, bits_a), quantize_rows(wt, bits_w)
    fast = affine_matmul(a, w)
    truth = dequantize_matmul(AffineOperand(a.codes, a.scale.double(), a.offset.double()),
                              AffineOperand(w.codes, w.scale.double(), w.offset.double()))
    naive = dequantize_matmul(a, w)
    rel = (fast.double() - truth).norm() / truth.norm()
    assert rel < 1e-5
    assert (fast.double() - naive.double()).norm() / naive.double().norm() < 1e-5


def test_quantize_rows_is_formats_affine_per_channel():
    x = torch.randn(10, 48, generator=torch.Generator().manual_seed(3))
    for bits in (2, 4, 8, 12):
        op = quantize_rows(x, bits)
        torch.testing.assert_close(op.dequantize(), formats.quantize(x, f"int{bits}:channel:affine"),
                                   rtol=1e-6, atol=1e-6)


def test_affine_linear_is_linear_of_affine_fake_quantized_operands():
    g = torch.Generator().manual_seed(4)
    x, w = torch.randn(2, 9, 64, generator=g), torch.randn(32, 64, generator=g)
    y = affine_linear(x, w, 8, 4)
    ref = F.linear(formats.quantize(x, "int8:channel:affine"), formats.quantize(w, "int4:channel:affine"))
    assert y.shape == (2, 9, 32)
    assert (y - ref).norm() / ref.norm() < 1e-5


def test_shape_mismatch_raises():
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="inner dimensions"):
        affine_matmul(_int_operand(3, 8, 4, g), _int_operand(3, 16, 4, g))
