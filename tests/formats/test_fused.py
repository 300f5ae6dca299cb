"""The one-pass float32 kernels against the torch code paths they replace, bit for bit.

* raw casts through :func:`fastpath.round_native` (kernel for float32 CPU) against
  :func:`fastpath.round_native_torch` (clamp, native float8 round trip, overflow mask);
* scaled float fake quantization (:func:`quantize._float_fused`) against the unfused
  :func:`quantize._fq_scaled` (torch division, cast, product);
* mean-scaled binary / ternary (:func:`quantize._mean_fused`) against :func:`quantize._fq_scaled`.

Inputs: the dense float32 sample of ``test_exact`` (every 509th bit pattern: subnormals,
overflow, ±0, ±Inf, NaN payloads), every code value, midpoint and midpoint ± 1 ulp of the format,
and Gaussian data with planted zeros, ±0 rows, NaN and ±Inf, with several group sizes. Comparison:
identical float32 bit patterns, any NaN matching any NaN.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from bitscale import formats
from bitscale.formats import fastpath
from bitscale.formats.reference import grid
from bitscale.formats.registry import parse_spec

from .test_exact import REFERENCE_FORMATS, ML_FLOATS, assert_same, dense_sample, probes

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

Q = sys.modules["bitscale.formats.quantize"]  # the module (formats.quantize is the function)

FLOAT_NAMES = [n.removeprefix("float8_").removeprefix("float6_").removeprefix("float4_")
               for n in ML_FLOATS] + REFERENCE_FORMATS
KERNEL_FORMATS = [n for n in FLOAT_NAMES if fastpath.kernel_fits(formats.parse_format(n))]


def test_kernel_covers_the_benchmarked_formats():
    for name in ("e4m3fn", "e5m2", "e4m3", "e2m1fn", "e3m2fn", "e2m3fn"):
        assert name in KERNEL_FORMATS, name
    # Formats the kernel must leave to the other paths: e8m0 (no sign, powers of two), M = 4.
    assert "e8m0fnu" not in KERNEL_FORMATS and "e3m4" not in KERNEL_FORMATS


def format_inputs(name: str, stride: int = 1) -> np.ndarray:
    fmt = formats.parse_format(name)
    vals, _ = grid(fmt)
    return np.concatenate([probes(vals, 2.0 ** (fmt.emax - fmt.man_bits)),
                           dense_sample()[::stride]])


@pytest.mark.parametrize("name", [n for n in KERNEL_FORMATS
                                  if fastpath.native_fits(formats.parse_format(n))])
@pytest.mark.parametrize("saturate", [False, True], ids=["overflow", "saturate"])
def test_cast_kernel_matches_torch_round_native(name, saturate):
    fmt = formats.parse_format(name)
    x = format_inputs(name)
    got = fastpath.round_native(torch.from_numpy(x), fmt, saturate).numpy()
    want = fastpath.round_native_torch(torch.from_numpy(x), fmt, saturate).numpy()
    assert_same(got, want, x, f"{name} saturate={saturate}")


def planted(shape, seed: int) -> torch.Tensor:
    """Gaussian data at several magnitudes with zeros, -0, NaN, ±Inf and an all -0 row."""
    g = torch.Generator().manual_seed(seed)
    mag = torch.randint(-20, 20, (shape[0],) + (1,) * (len(shape) - 1), generator=g)
    x = torch.randn(shape, generator=g) * torch.exp2(mag.float())
    flat = x.view(-1)
    idx = torch.randperm(flat.numel(), generator=g)[:40]
    flat[idx[:10]] = 0.0
    flat[idx[10:20]] = -0.0
    flat[idx[20:27]] = float("nan")
    flat[idx[27:33]] = float("inf")
    flat[idx[33:40]] = -float("inf")
    x[1] = -0.0
    return x


def unfused(x: torch.Tensor, spec: str, axis: int) -> torch.Tensor:
    q = parse_spec(spec)
    xv, shape = Q._view(x, q, axis)
    return Q._unview(Q._fq_scaled(xv, q, "nearest", None)[0], shape, x, axis)


def _specs(names, grans):
    return [f"{n}:{g}" for n in names for g in grans]


SCALED = _specs(KERNEL_FORMATS, ("tensor", "channel", "group16"))
MEAN = _specs(("binary", "ternary"), ("tensor", "channel", "group16", "group48"))


@pytest.mark.parametrize("spec", SCALED + MEAN)
def test_fused_quantize_matches_unfused(spec):
    for seed, (shape, axis) in enumerate([((6, 96), -1), ((96, 6), 0), ((4, 48, 3), 1)]):
        x = planted(shape, seed)
        got = formats.quantize(x, spec, axis=axis)
        want = unfused(x, spec, axis)
        assert got.stride() == want.stride(), spec
        assert_same(got.numpy().ravel(), want.numpy().ravel(), x.numpy().ravel(), spec)
        # Values landing exactly on the grid's ties after scaling: every probe of the format
        # (or ±0.5 steps for ternary), scaled by the group's absmax / mean so the scale is known.
        xf = torch.from_numpy(format_inputs(spec.split(":")[0], stride=13)
                              if not spec.startswith(("binary", "ternary"))
                              else np.concatenate([np.arange(-8, 8.5, 0.5, dtype=np.float32),
                                                   dense_sample()[::97]]))
        xf = xf[: xf.numel() // 48 * 48].reshape(-1, 48)
        got, want = formats.quantize(xf, spec), unfused(xf, spec, -1)
        assert_same(got.numpy().ravel(), want.numpy().ravel(), xf.numpy().ravel(), spec)


def test_fused_paths_are_taken():
    """The kernels actually run for float32 CPU (a None would silently fall back)."""
    x = planted((4, 32), 0)
    for spec in ("e4m3fn:tensor", "e2m1fn:channel", "e5m2:group16"):
        q = parse_spec(spec)
        assert Q._float_fused(Q._view(x, q, -1)[0], q) is not None, spec
    for spec in ("binary:channel", "ternary:tensor"):
        q = parse_spec(spec)
        assert Q._mean_fused(Q._view(x, q, -1)[0], q) is not None, spec
    assert Q._float_fused(x.double(), parse_spec("e4m3fn:tensor")) is None
    assert Q._mean_fused(x, parse_spec("int4:channel:affine")) is None


def test_autograd_keeps_the_torch_paths():
    """With autograd recording, the kernels step aside so the graph stays as it was."""
    x = planted((4, 32), 1).requires_grad_()
    assert formats.quantize(x, "e4m3fn:tensor").grad_fn is not None
    assert formats.cast(x, "e4m3fn").grad_fn is not None
    assert formats.quantize(x, "ternary:channel").grad_fn is not None
    with torch.no_grad():
        assert Q._float_fused(x, parse_spec("e4m3fn:tensor")) is not None


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
def test_absmax_without_abs_pass(dtype):
    """``max(-min, max)`` (the tensor-scale reductions) equals ``|x|.amax()`` bit for bit,
    including +0 for all-zero input and the finite-only fallback."""
    from bitscale.formats.block import finite_absmax

    cases = [planted((5, 16), s).to(dtype) for s in range(4)]
    cases += [torch.zeros(4, dtype=dtype), -torch.zeros(4, dtype=dtype),
              torch.tensor([0.0, -0.0, -3.0, 2.0], dtype=dtype), torch.tensor(-7.0, dtype=dtype),
              torch.tensor([float("inf"), -float("nan")], dtype=dtype)]
    for x in cases:
        fin = torch.where(torch.isfinite(x), x.abs(), torch.zeros_like(x))
        want = fin.amax()
        got = finite_absmax(x)
        assert got.dtype == want.dtype and torch.equal(got.float().view(torch.int32),
                                                       want.float().view(torch.int32)), x
        xv = x.reshape(1, -1)
        got = Q._absmax(xv)
        want = xv.abs().amax(dim=-1, keepdim=True)
        assert got.shape == want.shape
        assert torch.equal(got.float().nan_to_num(9.0).view(torch.int32),
                           want.float().nan_to_num(9.0).view(torch.int32)), x
