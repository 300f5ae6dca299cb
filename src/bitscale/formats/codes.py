"""Bit patterns of float formats: value <-> code, for :func:`~bitscale.formats.encode`.

A float code is ``sign << (E + M) | exponent << M | mantissa`` (no sign bit for ``e8m0fnu``);
NaN is written as the format's canonical NaN pattern (IEEE: top exponent with the top mantissa bit,
``fn`` / ``fnu``: exponent and mantissa all ones, ``fnuz``: the negative-zero pattern ``1 << (E + M)``).
"""

from __future__ import annotations

import torch

from bitscale.formats.types import FloatFormat, IntFormat, Special


def code_dtype(lo: int, hi: int) -> torch.dtype:
    """Smallest integer dtype holding every code in ``[lo, hi]``."""
    if lo >= 0 and hi <= 255:
        return torch.uint8
    for dt in (torch.int8, torch.int16, torch.int32):
        info = torch.iinfo(dt)
        if info.min <= lo and hi <= info.max:
            return dt
    return torch.int64


def float_code_dtype(fmt: FloatFormat) -> torch.dtype:
    return code_dtype(0, 2**fmt.bits - 1)


def nan_code(fmt: FloatFormat) -> int:
    e, m = fmt.exp_bits, fmt.man_bits
    if fmt.special is Special.IEEE:
        return ((2**e - 1) << m) | (1 << (m - 1) if m else 0)
    if fmt.special is Special.FNUZ:
        return 1 << (e + m)
    if fmt.special is Special.FINITE:
        raise ValueError(f"format {fmt.name!r} has no NaN code; NaN inputs cannot be encoded "
                         "(remove or replace them first)")
    return (1 << (e + m)) - 1  # FN, FNU: exponent and mantissa all ones, sign 0


def encode_float(v: torch.Tensor, fmt: FloatFormat) -> torch.Tensor:
    """Codes of values ``v`` that already lie on the grid of ``fmt`` (as :func:`cast` returns)."""
    e_bits, m_bits = fmt.exp_bits, fmt.man_bits
    vd = v.to(torch.float64)
    a = vd.abs()
    mant, ex = torch.frexp(a)  # a = mant · 2^ex, mant in [0.5, 1)
    e = (ex - 1).clamp_(min=fmt.emin)
    frac = a / torch.exp2(e.to(torch.float64))  # in [1, 2) normal, [0, 1) subnormal
    normal = a >= fmt.smallest_normal
    m = torch.where(normal, frac - 1, frac) * 2**m_bits
    ecode = torch.where(normal, e + fmt.bias, torch.zeros_like(e))
    if not fmt.has_subnormals:  # e8m0fnu: every code is a normal power of two
        ecode = e + fmt.bias
    code = (ecode.to(torch.int64) << m_bits) | m.round().to(torch.int64)
    if fmt.signed:
        code = code | (torch.signbit(vd).to(torch.int64) << (e_bits + m_bits))
    if fmt.special is Special.FNUZ:
        code = torch.where(a == 0, torch.zeros_like(code), code)
    if fmt.special is Special.IEEE:
        inf = ((2**e_bits - 1) << m_bits) | (torch.signbit(vd).to(torch.int64) << (e_bits + m_bits))
        code = torch.where(torch.isinf(vd), inf, code)
    nan = torch.isnan(vd)
    if bool(nan.any()):
        code = code.masked_fill(nan, nan_code(fmt))
    return code.to(float_code_dtype(fmt))


def decode_float(c: torch.Tensor, fmt: FloatFormat, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Values of codes ``c`` (any integer dtype) in ``dtype``."""
    e_bits, m_bits = fmt.exp_bits, fmt.man_bits
    ci = c.to(torch.int64) & (2**fmt.bits - 1)
    m = (ci & (2**m_bits - 1)).to(torch.float64)
    ecode = (ci >> m_bits) & (2**e_bits - 1)
    if fmt.has_subnormals:
        sub = ecode == 0
        e = torch.where(sub, torch.full_like(ecode, fmt.emin), ecode - fmt.bias).to(torch.float64)
        sig = torch.where(sub, m / 2**m_bits, 1 + m / 2**m_bits)
    else:
        e = (ecode - fmt.bias).to(torch.float64)
        sig = 1 + m / 2**m_bits
    v = sig * torch.exp2(e)
    if fmt.signed:
        neg = ((ci >> (e_bits + m_bits)) & 1).bool()
        v = torch.where(neg, -v, v)
    top = ecode == 2**e_bits - 1
    if fmt.special is Special.IEEE:
        v = torch.where(top & (m == 0), v.sign() * float("inf"), v)
        v = v.masked_fill(top & (m != 0), float("nan"))
    elif fmt.special in (Special.FN, Special.FNU):
        v = v.masked_fill(top & (m == 2**m_bits - 1), float("nan"))
    elif fmt.special is Special.FNUZ:
        v = v.masked_fill(ci == (1 << (e_bits + m_bits)), float("nan"))
    return v.to(dtype)


def encode_int(v: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
    """Integer codes of grid values ``v`` (already rounded and clamped to ``[lo, hi]``)."""
    if bool(torch.isnan(v).any()):
        raise ValueError("NaN inputs cannot be encoded as integer codes (remove or replace them "
                         "first, or use formats.quantize, which keeps NaN)")
    return v.to(code_dtype(lo, hi))


def int_range(fmt: IntFormat, affine: bool) -> tuple[int, int]:
    """Code range of an integer format: ``[0, levels - 1]`` when affine, else ``[qmin, qmax]``."""
    return (0, fmt.levels - 1) if affine else (fmt.qmin, fmt.qmax)
