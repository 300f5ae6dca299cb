"""Scaled fake quantization: the documented scale rules, axes, encode/decode, non-finite inputs."""

from __future__ import annotations

import itertools

import pytest
import torch

from bitscale import formats

SPECS = ["int8:tensor", "int4:channel", "int4:group16", "int4:group16:affine", "uint4:channel",
         "int3:channel:affine", "binary:channel", "binary:tensor:affine", "ternary:channel",
         "e4m3fn:tensor", "e2m1fn:group32", "e5m2:channel", "int4:channel:mse",
         "e4m3fn:channel:mse", "e4m3fn", "int8", "mxfp4", "mxfp8_e5m2", "mxint8", "nvfp4",
         "mxfp6_e2m3"]


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_int_symmetric_channel_rule():
    w = randn(5, 64)
    s = w.abs().amax(dim=-1, keepdim=True) / 7
    want = torch.round(w / s).clamp(-8, 7) * s
    assert torch.equal(formats.quantize(w, "int4:channel", axis=-1), want)
    # axis 0: one scale per column
    s0 = w.abs().amax(dim=0, keepdim=True) / 7
    assert torch.equal(formats.quantize(w, "int4:channel", axis=0), torch.round(w / s0) * s0)


def test_affine_group_rule():
    w = randn(3, 256)
    v = w.reshape(3, 2, 128)
    lo, hi = v.amin(-1, keepdim=True), v.amax(-1, keepdim=True)
    s = (hi - lo) / 15
    want = (torch.round((v - lo) / s).clamp(0, 15) * s + lo).reshape(3, 256)
    assert torch.equal(formats.quantize(w, "int4:group128:affine"), want)


def test_binary_and_ternary_scales():
    w = randn(4, 32)
    s = w.abs().mean(-1, keepdim=True)
    assert torch.equal(formats.quantize(w, "binary:channel"), torch.where(w >= 0, 1.0, -1.0) * s)
    assert torch.equal(formats.quantize(w, "ternary:channel"),
                       torch.round(w / s).clamp(-1, 1) * s)
    # mean|x| is the L2-optimal scale for fixed signs: no other scale does better
    signs = torch.where(w >= 0, 1.0, -1.0)
    err = ((w - signs * s) ** 2).sum()
    for f in (0.9, 0.99, 1.01, 1.1):
        assert err < ((w - signs * s * f) ** 2).sum()


def test_float_tensor_scale_rule():
    x = randn(1000) * 50
    s = x.abs().max() / 448
    want = formats.cast(x / s, "e4m3fn", saturate=True) * s
    assert torch.equal(formats.quantize(x, "e4m3fn:tensor"), want)


def test_mse_never_worse_than_absmax():
    x = randn(16, 128) ** 3  # heavy tails: clipping helps
    for base in ("int4:channel", "int3:group32", "e2m1fn:channel"):
        e_abs = (formats.quantize(x, base) - x).square().sum(-1)
        e_mse = (formats.quantize(x, base + ":mse") - x).square().sum(-1)
        assert (e_mse <= e_abs).all()
        assert (e_mse < e_abs).any()


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_encode_decode_equals_quantize(spec, dtype):
    x = (randn(4, 3, 64) * 3).to(dtype)
    for axis in (-1, 1):
        if axis == 1 and (":group" in spec or formats.parse_spec(spec).granularity == "block"):
            x_ax = randn(4, 64, 5).to(dtype)
        else:
            x_ax = x
        y = formats.quantize(x_ax, spec, axis=axis)
        assert y.dtype == dtype and y.shape == x_ax.shape
        codes, scales = formats.encode(x_ax, spec, axis=axis)
        assert codes.shape == x_ax.shape and not codes.is_floating_point()
        assert torch.equal(formats.decode(codes, scales, spec, dtype=dtype), y), (spec, axis)


def test_zero_groups_are_safe():
    x = torch.zeros(4, 64)
    x[0] = randn(64)
    for spec in SPECS:
        assert torch.equal(formats.quantize(torch.zeros(4, 64), spec), torch.zeros(4, 64)), spec
        y = formats.quantize(x, spec)
        assert not torch.isnan(y).any(), spec
        q = formats.parse_spec(spec)
        if not (q.affine and q.granularity == "tensor"):  # there the zeros share row 0's group
            assert torch.equal(y[1:], torch.zeros(3, 64)), spec


@pytest.mark.parametrize("spec", ["int8:tensor", "int4:channel", "int4:group16:affine",
                                  "ternary:channel", "binary:channel", "e4m3fn:tensor"])
def test_nonfinite_input_keeps_scale(spec):
    x = randn(4, 64)
    xb = x.clone()
    xb[0, 3], xb[0, 7], xb[0, 9] = float("nan"), float("inf"), -float("inf")
    y = formats.quantize(xb, spec)
    assert torch.isnan(y[0, 3])
    assert torch.isfinite(y[0, 7]) and y[0, 7] > 0 and y[0, 9] < 0  # saturated to the top level
    clean = x.clone()
    clean[0, 3] = clean[0, 7] = clean[0, 9] = 0.0
    keep = torch.ones_like(x, dtype=torch.bool)
    keep[0, [3, 7, 9]] = False
    assert torch.equal(y[keep], formats.quantize(clean, spec)[keep])


def test_nn_fakequant_compatibility():
    """The nn part's fast path documents the same conventions; where it exists, agree bit for bit."""
    fq = pytest.importorskip("bitscale.nn.fakequant")
    x = randn(8, 256)
    for spec in ("int4:channel", "int8:tensor", "int4:group128:affine", "uint4:channel",
                 "binary:channel", "ternary:channel", "binary:tensor:affine"):
        grid = fq.parse_grid(spec)
        assert torch.equal(fq.fake_quantize(x, grid), formats.quantize(x, spec)), spec


def test_stochastic_is_seeded():
    x = randn(1000)
    for spec in ("e4m3fn:tensor", "int4:channel", "e2m1fn"):
        a = formats.quantize(x, spec, rounding="stochastic", generator=torch.Generator().manual_seed(3))
        b = formats.quantize(x, spec, rounding="stochastic", generator=torch.Generator().manual_seed(3))
        c = formats.quantize(x, spec, rounding="stochastic", generator=torch.Generator().manual_seed(4))
        assert torch.equal(a, b) and not torch.equal(a, c)


def test_rounding_modes_on_ties():
    x = torch.tensor([0.5, 1.5, 2.5, -0.5, -2.5, 2.4, -2.6])
    assert formats.cast(x, "int8").tolist() == [0, 2, 2, -0.0, -2, 2, -3]
    assert formats.cast(x, "int8", rounding="nearest_away").tolist() == [1, 2, 3, -1, -3, 2, -3]
    assert formats.cast(x, "int8", rounding="toward_zero").tolist() == [0, 1, 2, 0, -2, 2, -2]
    # e2m1 grid 0, .5, 1, 1.5, 2, 3, 4, 6: 2.5 ties (2 | 3), 5 ties (4 | 6)
    y = torch.tensor([2.5, 5.0, 0.25, 1.25])
    assert formats.cast(y, "e2m1fn").tolist() == [2.0, 4.0, 0.0, 1.0]
    assert formats.cast(y, "e2m1fn", rounding="nearest_away").tolist() == [3.0, 6.0, 0.5, 1.5]
    assert formats.cast(y, "e2m1fn", rounding="toward_zero").tolist() == [2.0, 4.0, 0.0, 1.0]


def test_parse_round_trip():
    names = list(formats.BUILTIN) + list(formats.ALIASES) + ["e3m3fn", "e5m4b10fnuz", "int7",
                                                             "uint12", "float8_e4m3fn"]
    for name in names:
        fmt = formats.parse(name)
        assert formats.parse(str(fmt)) == fmt
    assert str(formats.parse("fp8_e4m3")) == "e4m3fn"
    assert str(formats.parse("fp4")) == "e2m1fn"
    assert str(formats.parse("e4m3b7fn")) == "e4m3fn"
    for opts in itertools.product(["", ":tensor", ":channel", ":group64"], ["", ":affine"],
                                  ["", ":mse"]):
        spec = "INT4" + "".join(opts)
        q = formats.parse_spec(spec)
        assert formats.parse_spec(str(q)) == q
    assert str(formats.parse("int4:group128:affine")) == "int4:group128:affine"
    assert str(formats.parse("int4:tensor")) == "int4"
    assert str(formats.parse("e4m3fn:none")) == "e4m3fn"
