"""The training fast path equals `formats.quantize` bit for bit on every grid it accepts."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from bitscale import formats
from bitscale.nn import fake_quantize, parse_grid
from bitscale.nn.fakequant import quantize

GRID_SPECS = ["int2:channel", "int3:channel", "int4:channel", "int8:tensor", "int8:channel",
              "int4:group8", "int4:group8:affine", "int8:channel:affine", "uint4:channel",
              "int2:tensor:affine", "binary:channel", "binary:tensor", "binary:channel:affine",
              "ternary:channel", "ternary:group4", "int16:channel", "int5:channel:symmetric"]


@pytest.mark.parametrize("spec", GRID_SPECS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fast_path_is_bit_exact_with_formats(spec, dtype):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 5, 16, generator=g, dtype=dtype) * torch.logspace(-3, 3, 16, dtype=dtype)
    x[0, 0] = 0.0  # an all-zero group: scale 1, zeros out
    grid = parse_grid(spec)
    assert grid is not None
    torch.testing.assert_close(fake_quantize(x, grid), formats.quantize(x, spec, axis=-1),
                               rtol=0, atol=0)


@given(st.lists(st.floats(-1e4, 1e4, allow_nan=False, width=32), min_size=8, max_size=64),
       st.sampled_from(GRID_SPECS))
def test_fast_path_matches_formats_on_arbitrary_data(values, spec):
    n = len(values) // 8 * 8
    x = torch.tensor(values[:n], dtype=torch.float32).reshape(-1, 8)  # groups of 4/8 divide 8
    torch.testing.assert_close(fake_quantize(x, parse_grid(spec)),
                               formats.quantize(x, spec, axis=-1), rtol=0, atol=0)


def test_other_formats_are_delegated_to_formats():
    assert parse_grid("e4m3fn:tensor") is None and parse_grid("mxfp4") is None
    assert parse_grid("int4:channel:mse") is None  # MSE clipping lives in formats only
    x = torch.randn(4, 32)
    for spec in ("e4m3fn:tensor", "mxfp4", "int4:channel:mse"):
        torch.testing.assert_close(quantize(x, spec), formats.quantize(x, spec), rtol=0, atol=0)


def test_bad_grid_specs_raise():
    with pytest.raises(ValueError, match="int1"):
        parse_grid("int1:channel")
    with pytest.raises(ValueError, match="does not divide"):
        fake_quantize(torch.randn(3, 10), parse_grid("int4:group4"))
