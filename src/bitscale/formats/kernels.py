"""Single-pass Numba kernels for the float32 CPU hot paths of :mod:`bitscale.formats`.

Each kernel reproduces, element by element and bit for bit, the torch computation it replaces
(the same IEEE float32 operations in the same order; Numba without ``fastmath`` keeps IEEE
semantics), but in one pass over memory instead of five to fifteen.

Saturating round-to-nearest-even onto an ExMy grid (``M`` mantissa bits, smallest normal exponent
``emin``, largest finite value ``mx``), for a float32 ``v``: NaN stays NaN; ``|v|`` is clamped to
``mx``; in the normal range the float32 bit pattern is rounded to ``M`` mantissa bits by adding
``2^(s-1) - 1 + lsb`` and masking the low ``s = 23 - M`` bits (exact RNE: a carry into the exponent
is the correct round-up to the next binade; the clamp keeps the result at most ``mx``); below
``2^emin`` the fixed subnormal step ``2^(emin - M)`` is applied by exact power-of-two scalings around
``rint`` (ties to even). The sign bit is copied back, so zeros keep their sign.
"""

from __future__ import annotations

import math

import numba
import numpy as np

_SIGN = np.int32(-2147483648)
_MAG = np.int32(0x7FFFFFFF)
_INF_BITS = np.int32(0x7F800000)


@numba.njit(inline="always")
def _rne(b, m_bits, emin, mx_bits, sub_up, sub_down, sub_lim):
    """Bits of the saturating RNE rounding of the float32 with bits ``b`` (see module docstring)."""
    mag = b & _MAG
    if mag > _INF_BITS:  # NaN
        return np.int32(b)
    if mag > mx_bits:
        mag = mx_bits
    if mag < sub_lim:  # below 2^emin: fixed step 2^(emin - M)
        a = np.int32(mag).view(np.float32)
        r = np.float32(np.float32(np.rint(a * sub_up)) * sub_down)
        return np.int32((b & _SIGN) | r.view(np.int32))
    s = 23 - m_bits
    lsb = (mag >> s) & 1
    mag = (mag + ((1 << (s - 1)) - 1) + lsb) & ~((1 << s) - 1)
    return np.int32((b & _SIGN) | np.int32(mag))


def like(out, x):
    """``out`` (contiguous) in the memory layout of ``x``: torch's elementwise ops keep the
    input's strides, and later matmuls sum in an order that depends on them, so the fused paths
    return what the unfused ones would (one extra copy, only for non-contiguous inputs)."""
    if out.stride() == x.stride():
        return out
    import torch

    r = torch.empty_like(x)
    return r.copy_(out)


def grid_params(man_bits: int, emin: int, mx: float):
    """Kernel parameters ``(M, emin, mx_bits, sub_up, sub_down, sub_lim)`` of a float grid."""
    mx_bits = int(np.array(mx, dtype=np.float32).view(np.int32))
    sub_up = np.float32(2.0 ** (man_bits - emin))
    sub_down = np.float32(2.0 ** (emin - man_bits))
    sub_lim = (emin + 127) << 23
    return np.int32(man_bits), np.int32(emin), np.int32(mx_bits), sub_up, sub_down, np.int32(sub_lim)


@numba.njit(parallel=True, cache=True)
def round_grid(xi, out, m_bits, emin, mx_bits, sub_up, sub_down, sub_lim):
    """``out[i]`` = bits of the saturating RNE rounding of float32 bits ``xi[i]`` (1-d int32)."""
    for i in numba.prange(xi.shape[0]):
        out[i] = _rne(xi[i], m_bits, emin, mx_bits, sub_up, sub_down, sub_lim)


@numba.njit(cache=True, inline="always")
def _mx_scale(row, emax_elem):
    """The shared power-of-two scale of one MX block (float32): ``amax = max |row|``,
    ``X = 2^clamp(floor(log2 amax) - emax_elem, -127, 127)``; ``2^-127`` for amax 0 and NaN
    when the block holds a NaN or ±Inf."""
    amax = np.float32(0.0)
    bad = False
    for j in range(row.shape[0]):
        a = abs(row[j])
        if not (a <= np.float32(3.4028234663852886e38)):
            bad = True
        elif a > amax:
            amax = a
    if bad:
        return np.float32(np.nan)
    if amax > 0:
        _, ex = math.frexp(np.float64(amax))
        return np.float32(math.ldexp(1.0, min(max(ex - 1 - emax_elem, -127), 127)))
    return np.float32(math.ldexp(1.0, -127))


@numba.njit(parallel=True, cache=True)
def mx_float(x, out, emax_elem, m_bits, emin, mx_bits, sub_up, sub_down, sub_lim):
    """MX fake quantization of ``x`` (float32, shape ``(n_blocks, block)``) into ``out``.

    Per block: ``amax = max |x|`` (NaN if any NaN), ``X = 2^clamp(floor(log2 amax) - emax_elem,
    -127, 127)`` (``2^-127`` for amax 0, NaN for non-finite amax) as float32, and
    ``out = round(x / X) · X`` with float32 division and product.
    """
    for r in numba.prange(x.shape[0]):
        row = x[r]
        scale = _mx_scale(row, emax_elem)
        for j in range(row.shape[0]):
            y = row[j] / scale
            e = np.int32(_rne(np.float32(y).view(np.int32), m_bits, emin, mx_bits, sub_up,
                              sub_down, sub_lim)).view(np.float32)
            out[r, j] = e * scale


@numba.njit(parallel=True, cache=True)
def mx_int8(x, out):
    """``mxint8`` fake quantization (as :func:`mx_float`, elements ``clamp(rint(64 y), -128, 127)/64``)."""
    for r in numba.prange(x.shape[0]):
        row = x[r]
        scale = _mx_scale(row, 0)
        for j in range(row.shape[0]):
            y = row[j] / scale
            c = np.float32(np.rint(y * np.float32(64.0)))
            if c < -128:
                c = np.float32(-128.0)
            elif c > 127:
                c = np.float32(127.0)
            out[r, j] = (c / np.float32(64.0)) * scale


@numba.njit(parallel=True, cache=True)
def nvfp4(x, out, s_t, emax_div, sb_params, el_params):
    """NVFP4 fake quantization (see :mod:`bitscale.formats.block`), float32 throughout:
    ``s_b = e4m3_sat((amax / 6) / s_t)`` (NaN for non-finite amax), ``s = s_b · s_t``,
    ``out = (e2m1_sat(x / s) · s_b) · s_t`` (0 where ``s == 0``)."""
    m1, e1, mx1, up1, dn1, lim1 = sb_params
    m2, e2, mx2, up2, dn2, lim2 = el_params
    for r in numba.prange(x.shape[0]):
        row = x[r]
        amax = np.float32(0.0)
        nan = False
        for j in range(row.shape[0]):
            a = abs(row[j])
            if a != a:
                nan = True
            elif a > amax:
                amax = a
        if nan or amax == np.float32(np.inf):
            s_b = np.float32(np.nan)
        else:
            t = (amax / emax_div) / s_t
            s_b = np.int32(_rne(np.float32(t).view(np.int32), m1, e1, mx1, up1, dn1,
                                lim1)).view(np.float32)
        s = s_b * s_t
        for j in range(row.shape[0]):
            if s == 0:
                out[r, j] = (np.float32(0.0) * s_b) * s_t
                continue
            y = row[j] / s
            e = np.int32(_rne(np.float32(y).view(np.int32), m2, e2, mx2, up2, dn2,
                              lim2)).view(np.float32)
            out[r, j] = (e * s_b) * s_t


@numba.njit(parallel=True, cache=True)
def int_scaled(x, out, affine, den, cmin, cmax):
    """Absmax (``s = max(-min, max) / den``) or affine (``s = (max - min) / den``, ``b = min``)
    integer fake quantization per row of ``x`` (float32 ``(n_groups, group)``), nearest-even:
    ``out = clamp(rint((x - b) / s), cmin, cmax) · s (+ b)``. The statistics are over the row,
    or, when it holds a NaN / ±Inf, over the row with those replaced by 0; ``s <= 0`` becomes 1."""
    for r in numba.prange(x.shape[0]):
        row = x[r]
        lo = np.float32(np.inf)
        hi = np.float32(-np.inf)
        bad = False
        for j in range(row.shape[0]):
            v = row[j]
            if not (abs(v) <= np.float32(3.4028234663852886e38)):
                bad = True
            else:
                if v < lo:
                    lo = v
                if v > hi:
                    hi = v
        if bad:
            lo = min(lo, np.float32(0.0))
            hi = max(hi, np.float32(0.0))
        if affine:
            s = np.float32(hi - lo) / den
            b = lo
        else:
            s = max(-lo, hi) / den
            b = np.float32(0.0)
        if not (s > 0):
            s = np.float32(1.0)
        for j in range(row.shape[0]):
            f = (row[j] - b) / s if affine else row[j] / s
            c = np.float32(np.rint(f))
            if c < cmin:
                c = cmin
            elif c > cmax:
                c = cmax
            out[r, j] = c * s + b if affine else c * s


# Elements per parallel chunk of the flat kernels below: large enough that scheduling costs
# nothing next to the memory traffic, small enough that two threads split 2^24 elements evenly.
_CHUNK = 1 << 16


@numba.njit(parallel=True, cache=True)
def cast_grid(xi, out, over_bits, over_tie, over_mode, no_neg_zero, m_bits, emin, mx_bits, sub_up,
              sub_down, sub_lim):
    """Non-saturating nearest-even cast (1-d int32 float32 bits ``xi`` into ``out``): the
    saturating rounding of :func:`_rne`, then overflow by the format's convention. A magnitude
    ``> over_bits`` (``>=`` when ``over_tie``; ±Inf included) gives NaN (``over_mode`` 1) or the
    signed infinity (``over_mode`` 2); ``over_mode`` 0 saturates. ``no_neg_zero`` turns -0 into +0
    (the ``fnuz`` formats have no negative zero). NaN stays NaN."""
    n = xi.shape[0]
    for c in numba.prange((n + _CHUNK - 1) // _CHUNK):
        for i in range(c * _CHUNK, min(c * _CHUNK + _CHUNK, n)):
            b = xi[i]
            mag = b & _MAG
            if over_mode != 0 and mag <= _INF_BITS and (
                    mag > over_bits or (over_tie and mag == over_bits)):
                if over_mode == 1:
                    out[i] = np.int32(0x7FC00000)
                else:
                    out[i] = np.int32((b & _SIGN) | _INF_BITS)
                continue
            r = _rne(b, m_bits, emin, mx_bits, sub_up, sub_down, sub_lim)
            if no_neg_zero and r == _SIGN:
                r = np.int32(0)
            out[i] = r


@numba.njit(parallel=True, cache=True)
def scaled_grid(x, out, s, group, no_neg_zero, m_bits, emin, mx_bits, sub_up, sub_down, sub_lim):
    """Scaled float fake quantization of the flat float32 ``x`` into ``out``, element ``i`` in
    group ``i // group`` with scale ``s[i // group]`` (float32): ``out = q(x / s) · s``, ``q`` the
    saturating nearest-even rounding of :func:`_rne` (-0 -> +0 with ``no_neg_zero``), with float32
    division and product."""
    n = x.shape[0]
    for c in numba.prange((n + _CHUNK - 1) // _CHUNK):
        lo = c * _CHUNK
        g = lo // group
        nxt = (g + 1) * group  # first index of the next group: advance by comparison, not division
        sc = s[g]
        for i in range(lo, min(lo + _CHUNK, n)):
            if i == nxt:
                g += 1
                nxt += group
                sc = s[g]
            y = np.float32(x[i] / sc)
            r = _rne(y.view(np.int32), m_bits, emin, mx_bits, sub_up, sub_down, sub_lim)
            if no_neg_zero and r == _SIGN:
                r = np.int32(0)
            out[i] = np.int32(r).view(np.float32) * sc


@numba.njit(parallel=True, cache=True)
def mean_scaled(x, out, s, group, ternary):
    """Codes times scale for the mean-scaled ``binary`` / ``ternary`` integers, flat float32 ``x``
    into ``out``, element ``i`` with scale ``sc = s[i // group]``: ternary
    ``clamp(rint(x / sc), -1, 1) · sc``, binary ``sc`` where ``x >= 0`` and ``-sc`` below (the
    product ``sign · sc``, so ``-0`` for ``sc = 0``); NaN stays NaN. float32 throughout."""
    n = x.shape[0]
    for c in numba.prange((n + _CHUNK - 1) // _CHUNK):
        lo = c * _CHUNK
        g = lo // group
        nxt = (g + 1) * group
        sc = s[g]
        for i in range(lo, min(lo + _CHUNK, n)):
            if i == nxt:
                g += 1
                nxt += group
                sc = s[g]
            v = x[i]
            if ternary:
                # Python's min / max return their first argument unless the second is strictly
                # smaller / larger, so NaN and the sign of zero pass through, as in torch.clamp.
                k = np.float32(np.rint(np.float32(v / sc)))
                k = min(max(k, np.float32(-1.0)), np.float32(1.0))
                out[i] = k * sc
            elif v != v:
                out[i] = v
            else:
                out[i] = sc if v >= 0 else -sc
