"""Elementwise rounding onto a format's grid (no scaling): :func:`cast`.

Float ExMy. For ``|x|`` in binade ``e = max(floor(log2|x|), emin)`` the grid step is
``q = 2^(e - M)``; the result is ``R(x / q) · q`` where ``R`` is the rounding rule applied to a real
number in units of the step. Both scalings are by powers of two built from the exponent bits, so
they are exact, and the only rounding is ``R`` itself: the result is exactly the format's rounding
of ``x`` (no double rounding) whenever the computation dtype holds the grid, which is checked
(float32 inputs are computed in float32 when the format's range allows, otherwise in float64;
float64 inputs in float64). The format's special values are then applied (see
:class:`~bitscale.formats.types.Special`).

Integers. ``R(x)`` clamped to ``[qmin, qmax]``; ``binary`` is ``sign(x)`` with ``sign(0) = +1``.

Rounding rules ``R`` (:data:`ROUNDINGS`): ``nearest`` (ties to even, the default: the tie goes
to the even multiple of the step, which is IEEE's even mantissa for M ≥ 1; for M = 0 formats it
means ties go up to the larger power of two, except between 0 and the smallest value), ``nearest_away``
(ties away from zero), ``toward_zero`` and ``stochastic``: ``floor(y) + [U < y - floor(y)]`` with
``U ~ Uniform[0, 1)`` drawn from ``generator``, so ``E[R(y)] = y`` (unbiased) up to the 2^-24
(float32) / 2^-53 (float64) granularity of ``U``.
"""

from __future__ import annotations

import torch

from bitscale.formats import fastpath
from bitscale.formats.types import FloatFormat, IntFormat, Special

ROUNDINGS = ("nearest", "nearest_away", "toward_zero", "stochastic")

FLOAT_DTYPES = (torch.float32, torch.float64, torch.bfloat16, torch.float16)

# Formats whose PyTorch dtype rounds float32 to nearest-even exactly like the emulation, used
# directly when the native overflow handling is also the format's (torch's e4m3fn cast saturates
# where ml_dtypes gives NaN); other M = 2 / M = 3 formats and the small formats go through
# bitscale.formats.fastpath. tests/formats/test_exact.py checks every path against ml_dtypes.
_NATIVE = {
    "e4m3fn": torch.float8_e4m3fn,
    "e5m2": torch.float8_e5m2,
    "e4m3fnuz": torch.float8_e4m3fnuz,
    "e5m2fnuz": torch.float8_e5m2fnuz,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}
# (name, saturate=False) pairs whose native overflow handling equals the format's convention.
_NATIVE_OVERFLOW_OK = {"e5m2", "e4m3fnuz", "e5m2fnuz", "bf16", "fp16"}

_INFO = {
    torch.float32: (torch.int32, 23, 127, 8),
    torch.float64: (torch.int64, 52, 1023, 11),
}


def check_rounding(rounding: str) -> str:
    """Validate a rounding name (boundary check)."""
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding {rounding!r} not recognised; expected one of {ROUNDINGS}")
    return rounding


def round_units(y: torch.Tensor, rounding: str, generator: torch.Generator | None) -> torch.Tensor:
    """Round ``y`` (a value in units of the grid step) to an integer by ``rounding``; same dtype."""
    if rounding == "nearest":
        return torch.round(y)
    if rounding == "toward_zero":
        return torch.trunc(y)
    if rounding == "nearest_away":
        t = torch.trunc(y)
        frac = y - t  # exact: y and t share the binade
        return t + torch.where(frac.abs() >= 0.5, torch.sign(frac), torch.zeros_like(frac))
    f = torch.floor(y)
    u = torch.rand(y.shape, dtype=y.dtype, device=y.device, generator=generator)
    return f + (u < (y - f)).to(y.dtype)


def _compute_dtype(x: torch.Tensor, fmt: FloatFormat) -> torch.dtype:
    """float32 when every grid step and threshold of ``fmt`` is a normal float32, else float64."""
    if x.dtype == torch.float64:
        return torch.float64
    # Steps 2^(e - M) and their inverses for e in [emin, emax + 1] must be normal float32 numbers.
    if fmt.emin - fmt.man_bits >= -126 and fmt.emax + 1 - fmt.man_bits <= 126:
        return torch.float32
    return torch.float64


def _round_float(x: torch.Tensor, fmt: FloatFormat, rounding: str, saturate: bool,
                 generator: torch.Generator | None) -> torch.Tensor:
    """Round to ``fmt`` in the computation dtype; returns a tensor of that dtype."""
    ct = _compute_dtype(x, fmt)
    it, p, b, ebits = _INFO[ct]
    xc = x.to(ct)
    # Exponent field of |x| in place, clamped to [emin, emax + 1]: the binade that sets the step.
    # Below emin the step is the subnormal one; at or above 2^(emax+1) (also Inf, NaN) any step
    # that keeps the value >= 2^(emax+1) gives the same overflow outcome.
    lo = (fmt.emin + b) << p
    hi = (fmt.emax + 1 + b) << p
    eb = (xc.view(it) & (((1 << ebits) - 1) << p)).clamp_(lo, hi)
    q_bits = eb - (fmt.man_bits << p)            # 2^(e - M)
    inv = (((2 * b) << p) - q_bits).view(ct)     # 2^(M - e): biased exponent 2b - (e - M + b)
    q = q_bits.view(ct)
    del eb
    y = round_units(xc * inv, rounding, generator).mul_(q)
    del inv, q, q_bits
    # Special values.
    mx = fmt.max
    if saturate or fmt.special is Special.FINITE:
        y = y.clamp_(-mx, mx)
    elif fmt.special is Special.IEEE:
        y = torch.where(y.abs() > mx, y * float("inf"), y)
    else:  # FN, FNUZ: overflow is NaN
        y = y.masked_fill_(y.abs() > mx, float("nan"))
    if fmt.special is Special.FNUZ:
        y = y.add_(0.0)  # -0 + 0 = +0: the format has no negative zero
    return y


def _round_e8m0(x: torch.Tensor, saturate: bool) -> torch.Tensor:
    """``e8m0fnu``: powers of two 2^-127 … 2^127, ties away from zero (as ml_dtypes), values below
    2^-127 go to 2^-127 (float32 inputs in (2^-127, 2^-126) to 2^-126, as ml_dtypes), and zero, negatives, Inf, NaN and overflow (≥ 1.5·2^127) go to NaN; with
    ``saturate`` overflow and +Inf go to 2^127."""
    xc = x.to(torch.float64)
    m, ex = torch.frexp(xc)  # x = m · 2^ex, m in [0.5, 1): exact
    e = torch.where(m >= 0.75, ex, ex - 1).clamp_(-127, 128).to(torch.float64)
    y = torch.exp2(e)
    y = y.masked_fill_(e > 127, 2.0**127 if saturate else float("nan"))
    # ml_dtypes rounds every input in (2^-127, 2^-126) up to 2^-126 (float32-subnormal handling,
    # also for float64 inputs); match it.
    y = torch.where((xc > 2.0**-127) & (xc < 2.0**-126), 2.0**-126, y)
    bad = ~(xc > 0)  # zero, negatives, NaN
    if saturate:
        y = y.masked_fill_(torch.isposinf(xc), 2.0**127)
    else:
        bad |= torch.isinf(xc)
    return y.masked_fill_(bad, float("nan"))


def _round_int(x: torch.Tensor, fmt: IntFormat, rounding: str,
               generator: torch.Generator | None) -> torch.Tensor:
    if fmt.kind == "binary":
        return torch.where(x >= 0, 1.0, -1.0).to(x.dtype).masked_fill_(torch.isnan(x), float("nan"))
    # + 0.0 turns -0 into +0: an integer grid has one zero.
    return round_units(x, rounding, generator).clamp_(fmt.qmin, fmt.qmax).add_(0.0)


def cast_unchecked(x: torch.Tensor, fmt: FloatFormat | IntFormat, rounding: str = "nearest",
                   saturate: bool = False, generator: torch.Generator | None = None,
                   use_native: bool = True) -> torch.Tensor:
    """:func:`cast` without argument checks (internal hot path); output dtype is ``x.dtype``.

    ``use_native=False`` forces the bit-manipulation emulation (the tests compare both paths)."""
    if isinstance(fmt, IntFormat):
        return _round_int(x, fmt, rounding, generator)
    if fmt.special is Special.FNU:
        return _round_e8m0(x, saturate).to(x.dtype)
    if rounding == "nearest" and use_native and x.dtype in fastpath.FAST_DTYPES:
        native = _NATIVE.get(fmt.name)
        if native is not None and not saturate and fmt.name in _NATIVE_OVERFLOW_OK:
            return x.to(native).to(x.dtype)
        if fastpath.lut_fits(fmt):
            return fastpath.round_lut(x, fmt)
        if fastpath.native_fits(fmt):
            return fastpath.round_native(x, fmt, saturate)
    return _round_float(x, fmt, rounding, saturate, generator).to(x.dtype)


def cast(x: torch.Tensor, fmt, rounding: str = "nearest", saturate: bool = False,
         generator: torch.Generator | None = None) -> torch.Tensor:
    """Round every element of ``x`` to the grid of ``fmt`` (no scaling).

    Parameters
    ----------
    x : torch.Tensor
        Any shape, dtype float32, float64, bfloat16 or float16, any device.
    fmt : str or Format
        An element format (``"e4m3fn"``, ``"int4"``, ``"binary"`` …); block formats need
        :func:`~bitscale.formats.quantize`.
    rounding : {"nearest", "nearest_away", "toward_zero", "stochastic"}
        ``nearest`` is round-to-nearest, ties to even.
    saturate : bool
        False: values beyond the largest finite value and ±Inf follow the format's convention
        exactly as ml_dtypes does (IEEE-like -> ±Inf, ``fn``/``fnuz`` -> NaN, the 4/6-bit ``fn``
        formats -> ±max). True: clamp to ±max. NaN stays NaN in every format (for the 4/6-bit
        formats, which have no NaN code, ml_dtypes writes ±0 instead; we keep NaN visible).
        Integers always clamp to ``[qmin, qmax]``.
    generator : torch.Generator, optional
        Source of the uniforms for ``rounding="stochastic"``.

    Returns
    -------
    torch.Tensor
        Same shape and dtype as ``x``: the format's value of each element, exactly (for formats
        whose values the input dtype can hold; otherwise rounded once more to the input dtype).
    """
    from bitscale.formats.registry import parse_format

    check_tensor(x)
    check_rounding(rounding)
    f = parse_format(fmt) if isinstance(fmt, str) else fmt
    if f.family == "block":
        raise ValueError(f"cast: {f.name!r} is a block format and needs a scale; use "
                         f"formats.quantize(x, {f.name!r}, axis=...)")
    return cast_unchecked(x, f, rounding, saturate, generator)


def check_tensor(x) -> None:
    """Validate a tensor argument at the public boundary."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"expected a torch.Tensor, got {type(x).__name__}; wrap it with "
                         "torch.as_tensor(x, dtype=torch.float32)")
    if x.dtype not in FLOAT_DTYPES:
        raise ValueError(f"expected a floating tensor (float32, float64, bfloat16 or float16), "
                         f"got dtype {x.dtype}; convert with x.float()")
