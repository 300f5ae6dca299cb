"""Bit-exactness of formats.cast against ml_dtypes, torch's native dtypes, and the slow reference.

Inputs per format: every code's value, every midpoint between neighbouring values (including the
overflow midpoint above the largest finite value), one float32 ulp either side of each midpoint,
and a dense float32 sample (every 509th bit pattern of all 2^32: subnormals, overflow, ±0, ±Inf and
NaN payloads included). Comparison: identical float32 bit patterns, except that any NaN matches
any NaN.
"""

from __future__ import annotations

import functools

import ml_dtypes
import numpy as np
import pytest
import torch

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy casts of NaN/overflow

from bitscale import formats
from bitscale.formats.cast import cast_unchecked
from bitscale.formats.reference import grid, reference_round

ML_FLOATS = ["float8_e4m3fn", "float8_e4m3fnuz", "float8_e4m3b11fnuz", "float8_e5m2",
             "float8_e5m2fnuz", "float8_e3m4", "float8_e4m3", "float8_e8m0fnu", "float6_e2m3fn",
             "float6_e3m2fn", "float4_e2m1fn"]
ML_INTS = ["int2", "int4", "uint2", "uint4"]


@functools.lru_cache(maxsize=1)
def dense_sample() -> np.ndarray:
    bits = np.arange(0, 2**32, 509, dtype=np.uint64).astype(np.uint32)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan], dtype=np.float32)
    return np.concatenate([bits.view(np.float32), specials])


def all_codes(dtype) -> np.ndarray:
    nbits = np.dtype(dtype).itemsize * 8
    bits_used = {"float6": 6, "float4": 4}.get(np.dtype(dtype).name[:6], nbits)
    bits_used = 4 if np.dtype(dtype).name.startswith("float4") else bits_used
    return np.arange(2**bits_used, dtype=np.uint8).view(dtype).astype(np.float32)


def probes(values: np.ndarray, step_above_max: float) -> np.ndarray:
    """Every value, midpoint, and midpoint ± one float32 ulp (both signs)."""
    v = np.unique(np.abs(values[np.isfinite(values)]).astype(np.float64))
    v = np.append(v, v[-1] + step_above_max)
    mids = ((v[:-1] + v[1:]) / 2).astype(np.float32)
    assert np.all(mids.astype(np.float64) == (v[:-1] + v[1:]) / 2), "midpoints exact in float32"
    pts = np.concatenate([v.astype(np.float32), mids, np.nextafter(mids, np.float32(0)),
                          np.nextafter(mids, np.float32(np.inf))])
    return np.concatenate([pts, -pts])


def assert_same(got: np.ndarray, want: np.ndarray, x: np.ndarray, what: str) -> None:
    got = got.astype(np.float32)
    want = want.astype(np.float32)
    both_nan = np.isnan(got) & np.isnan(want)
    same = (got.view(np.uint32) == want.view(np.uint32)) | both_nan
    if not same.all():
        i = np.flatnonzero(~same)[:5]
        raise AssertionError(f"{what}: {(~same).sum()} mismatches, e.g. x={x[i]} got={got[i]} "
                             f"want={want[i]}")


def ours(x: np.ndarray, name: str, native: bool = True, saturate: bool = False) -> np.ndarray:
    """Our cast; ``native=False`` forces the emulation, else the fast paths where they apply."""
    fmt = formats.parse_format(name)
    return cast_unchecked(torch.from_numpy(x), fmt, saturate=saturate, use_native=native).numpy()


@pytest.mark.parametrize("name", ML_FLOATS)
@pytest.mark.parametrize("native", [True, False], ids=["fastpath", "emulated"])
def test_float_cast_matches_ml_dtypes(name, native):
    dt = getattr(ml_dtypes, name)
    fmt = formats.parse_format(name)
    assert fmt.max == float(ml_dtypes.finfo(dt).max)
    assert fmt.smallest_normal == float(ml_dtypes.finfo(dt).smallest_normal)
    assert fmt.smallest_subnormal == float(ml_dtypes.finfo(dt).smallest_subnormal)
    assert fmt.bits == ml_dtypes.finfo(dt).bits
    x = np.concatenate([all_codes(dt), probes(all_codes(dt), 2.0 ** (fmt.emax - fmt.man_bits)),
                        dense_sample()])
    with np.errstate(invalid="ignore"):
        want = x.astype(dt).astype(np.float32)
    got = ours(x, name, native)
    if not fmt.has_nan:
        # No NaN code: ml_dtypes writes ±0 for NaN; we keep NaN (documented in formats.cast).
        nan = np.isnan(x)
        assert np.isnan(got[nan]).all()
        x, got, want = x[~nan], got[~nan], want[~nan]
    assert_same(got, want, x, name)


@pytest.mark.parametrize("name", ML_FLOATS)
def test_decode_every_code_matches_ml_dtypes(name):
    dt = getattr(ml_dtypes, name)
    fmt = formats.parse_format(name)
    codes = np.arange(2**fmt.bits, dtype=np.uint8)
    want = codes.view(dt).astype(np.float32)
    got = formats.decode(torch.from_numpy(codes), formats.Scales(None), name).numpy()
    assert_same(got, want, codes, name)
    finite = ~np.isnan(want)
    back, _ = formats.encode(torch.from_numpy(want[finite]), name)
    assert np.array_equal(back.numpy(), codes[finite] if fmt.signed or True else codes[finite])


@pytest.mark.parametrize("name", ML_INTS)
def test_int_grid_matches_ml_dtypes(name):
    """ml_dtypes' float->int4 conversion truncates and wraps (C semantics), so the oracle is its
    value range: our cast is round-half-even then clamp onto exactly iinfo's range."""
    info = ml_dtypes.iinfo(getattr(ml_dtypes, name))
    fmt = formats.parse_format(name)
    assert (fmt.qmin, fmt.qmax) == (info.min, info.max)
    codes = np.arange(info.min, info.max + 1, dtype=np.float32)
    assert np.array_equal(ours(codes, name), codes)
    x = dense_sample()
    x = np.concatenate([x, codes + 0.5, codes - 0.5, np.nextafter(codes + 0.5, 0)])
    with np.errstate(invalid="ignore"):
        want = np.clip(np.rint(x), info.min, info.max)
        want = np.where(np.isnan(x), np.nan, want.astype(getattr(ml_dtypes, name)).astype(np.float32))
    assert_same(ours(x, name), want, x, name)


TORCH_NATIVE = [("e4m3fn", torch.float8_e4m3fn, True), ("e5m2", torch.float8_e5m2, False),
                ("e4m3fnuz", torch.float8_e4m3fnuz, False),
                ("e5m2fnuz", torch.float8_e5m2fnuz, False), ("bf16", torch.bfloat16, False),
                ("fp16", torch.float16, False)]


@pytest.mark.parametrize("name,dtype,saturate", TORCH_NATIVE, ids=[t[0] for t in TORCH_NATIVE])
def test_emulation_matches_torch_native(name, dtype, saturate):
    """torch's own casts against the bit-manipulation emulation (no fast path). torch's e4m3fn
    cast saturates on overflow, so it is compared with saturate=True."""
    fmt = formats.parse_format(name)
    if fmt.bits <= 8:
        vals = torch.arange(256, dtype=torch.uint8).view(dtype).float().numpy()
    else:
        vals = np.concatenate([np.arange(0, 2**16, 7, dtype=np.uint16),
                               np.array([0x7BFF, 0x7F7F, 0x0001, 0x0400, 0x0080], np.uint16)])
        vals = torch.from_numpy(vals.view(np.int16)).view(dtype).float().numpy()
    x = np.concatenate([probes(vals, 2.0 ** (fmt.emax - fmt.man_bits)), dense_sample()])
    want = torch.from_numpy(x).to(dtype).float().numpy()
    got = ours(x, name, native=False, saturate=saturate)
    assert_same(got, want, x, f"{name} vs torch.{dtype}")


REFERENCE_FORMATS = ["e3m3fn", "e5m4", "e2m2fn", "e1m2fn", "e4m3b9fnuz", "e3m1", "e6m1fn", "e5m0",
                     "e3m3", "e3m2fnuz", "e2m2", "e4m2b3fn", "e1m1fn"]


@pytest.mark.parametrize("name", REFERENCE_FORMATS + ["e4m3fn", "e5m2", "e2m1fn"])
def test_float_cast_matches_reference(name):
    """Formats ml_dtypes lacks, in float32 (both paths) and float64, against the slow reference."""
    fmt = formats.parse_format(name)
    vals, _ = grid(fmt)
    x32 = np.concatenate([probes(vals, 2.0 ** (fmt.emax - fmt.man_bits)), dense_sample()[::7]])
    want32 = reference_round(x32.astype(np.float64), fmt)
    assert_same(ours(x32, name, native=False), want32, x32, f"{name} float32")
    assert_same(ours(x32, name, native=True), want32, x32, f"{name} float32 fast path")
    for sat in (True, False):
        assert_same(ours(x32, name, native=True, saturate=sat),
                    ours(x32, name, native=False, saturate=sat), x32, f"{name} paths sat={sat}")
    rng = np.random.default_rng(0)
    x64 = np.concatenate([x32.astype(np.float64),
                          rng.standard_normal(20000) * vals[-1] / 2,
                          # just off the midpoints by far less than a float32 ulp
                          probes(vals, 2.0 ** (fmt.emax - fmt.man_bits)).astype(np.float64)
                          * (1 + np.float64(2.0**-40))])
    got = formats.cast(torch.from_numpy(x64), name).numpy()
    want = reference_round(x64, fmt)
    same = (got == want) & (np.signbit(got) == np.signbit(want)) | (np.isnan(got) & np.isnan(want))
    assert same.all(), f"{name} float64: {x64[~same][:5]} {got[~same][:5]} {want[~same][:5]}"


def test_bfloat16_input_output_dtype():
    x = torch.randn(1000, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    for name in ("e4m3fn", "e2m1fn", "e5m2", "int4"):
        y = formats.cast(x, name)
        assert y.dtype == torch.bfloat16
        assert torch.equal(y.float(), formats.cast(x.float(), name))
