"""Bad input: clear ValueErrors naming the problem and the accepted forms."""

from __future__ import annotations

import pytest
import torch

from bitscale import formats


@pytest.mark.parametrize("spec,match", [
    ("e4m3fm", "Did you mean 'e4m3fn'"),
    ("mxfp5", "Did you mean"),
    ("ternery", "Did you mean 'ternary'"),
    ("e9m2", "E=9 out of range"),
    ("e0m3fn", "E=0 out of range"),
    ("e4m24", "M=24 out of range"),
    ("int17", "k=17 out of range"),
    ("uint0", "k=0 out of range"),
    ("e1m3", "needs E >= 2"),
    ("e4m3fnu", "only as e8m0fnu"),
    ("int4:foo", "unknown option 'foo'"),
    ("int4:group0", "group size must be >= 1"),
    ("mxfp4:channel", "takes no options"),
    ("e4m3fn:tensor:affine", "applies to integer formats"),
    ("ternary:channel:affine", "symmetric by definition"),
    ("int4:affine:none", "needs a scale"),
    ("int1:channel", "INT-1"),
])
def test_bad_specs(spec, match):
    with pytest.raises(ValueError, match=match):
        formats.parse_spec(spec)
    with pytest.raises(ValueError):
        formats.quantize(torch.ones(4, 32), spec)


def test_group_must_divide_axis():
    with pytest.raises(ValueError, match="group size 64 does not divide axis -1 of length 100"):
        formats.quantize(torch.ones(4, 100), "int4:group64")
    with pytest.raises(ValueError, match="does not divide"):
        formats.quantize(torch.ones(4, 48), "mxfp4")
    with pytest.raises(ValueError, match="does not divide"):
        formats.encode(torch.ones(4, 48), "nvfp4", axis=0)
    formats.quantize(torch.ones(32, 48), "mxfp4", axis=0)  # fine along the other axis


@pytest.mark.parametrize("x", [torch.arange(4), torch.ones(4, dtype=torch.int8),
                               torch.ones(4, dtype=torch.bool), [1.0, 2.0]])
def test_non_floating_input(x):
    with pytest.raises(ValueError, match="floating tensor|torch.Tensor"):
        formats.quantize(x, "int4")
    with pytest.raises(ValueError, match="floating tensor|torch.Tensor"):
        formats.cast(x, "e4m3fn")


def test_bad_rounding_and_axis():
    with pytest.raises(ValueError, match="rounding 'up' not recognised"):
        formats.cast(torch.ones(3), "e4m3fn", rounding="up")
    with pytest.raises(ValueError, match="axis 2 out of range"):
        formats.quantize(torch.ones(3, 4), "int4:channel", axis=2)
    with pytest.raises(ValueError, match="block format"):
        formats.cast(torch.ones(32), "mxfp4")


def test_empty_tensors():
    for spec in ("e4m3fn", "int4:channel", "int4:group8", "mxfp4", "nvfp4", "e4m3fn:tensor"):
        for shape in ((0,), (0, 32), (3, 0)):
            if shape == (3, 0) and formats.parse_spec(spec).granularity in ("group", "block"):
                pass  # 0 is divisible by any group: still fine
            y = formats.quantize(torch.empty(shape), spec)
            assert y.shape == shape and y.dtype == torch.float32
    assert formats.cast(torch.empty(0, dtype=torch.float64), "e2m1fn").dtype == torch.float64


def test_nan_cannot_be_encoded_without_a_nan_code():
    x = torch.tensor([1.0, float("nan")])
    with pytest.raises(ValueError, match="NaN"):
        formats.encode(x, "int8")
    with pytest.raises(ValueError, match="no NaN code"):
        formats.encode(x, "e2m1fn")
    codes, _ = formats.encode(x, "e4m3fn")
    assert codes.tolist() == [0x38, 0x7F]


def test_nan_and_inf_follow_the_format():
    x = torch.tensor([float("nan"), float("inf"), -float("inf"), 1e6])
    assert formats.cast(x, "e5m2").tolist()[1:] == [float("inf"), -float("inf"), float("inf")]
    assert torch.isnan(formats.cast(x, "e4m3fn")).all()
    assert formats.cast(x, "e4m3fn", saturate=True).tolist()[1:] == [448.0, -448.0, 448.0]
    assert formats.cast(x, "e2m1fn").tolist()[1:] == [6.0, -6.0, 6.0]
    assert formats.cast(x, "int4").tolist()[1:] == [7.0, -8.0, 7.0]
