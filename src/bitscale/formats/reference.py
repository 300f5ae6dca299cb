"""A slow, obviously-correct reference for float rounding (round-to-nearest-even, float64 numpy).

It enumerates the format's finite non-negative values, finds the two neighbours of ``|x|`` by
binary search, and picks the nearer; a tie goes to the neighbour that is an even multiple of the
grid step at the lower neighbour (for M ≥ 1 that is IEEE's even mantissa; for M = 0 it means ties
go up to the larger power of two, except between 0 and the smallest value, where 0 wins). Beyond the largest finite value the
next value is the virtual code ``max_code + 1`` one top step higher, so the usual IEEE overflow
threshold ``max + step/2`` (with its tie rule) falls out. The fast path in
:mod:`bitscale.formats.cast` is tested against it on formats ml_dtypes does not have, and on
float64 inputs (ml_dtypes converts float64 through float32, which double-rounds).
"""

from __future__ import annotations

import numpy as np
import torch

from bitscale.formats.codes import decode_float
from bitscale.formats.types import FloatFormat, Special


def grid(fmt: FloatFormat) -> tuple[np.ndarray, np.ndarray]:
    """``(values, codes)``: every finite non-negative value of ``fmt`` (ascending) and its code."""
    n_mag = 2 ** (fmt.exp_bits + fmt.man_bits)
    codes = np.arange(n_mag, dtype=np.int64)
    vals = decode_float(torch.from_numpy(codes), fmt, torch.float64).numpy()
    keep = np.isfinite(vals)
    return vals[keep], codes[keep]


def reference_round(x: np.ndarray, fmt: FloatFormat, saturate: bool = False) -> np.ndarray:
    """Round float64 ``x`` to ``fmt`` by nearest-even (float64 result), the slow way."""
    if fmt.special is Special.FNU:
        raise ValueError("reference_round covers signed formats; e8m0fnu rounds ties away")
    x = np.asarray(x, dtype=np.float64)
    vals, codes = grid(fmt)
    top_step = np.ldexp(1.0, fmt.emax - fmt.man_bits)
    vals_ext = np.append(vals, vals[-1] + top_step)
    a = np.abs(x)
    a_safe = np.where(np.isfinite(a), a, 0.0)
    hi = np.clip(np.searchsorted(vals_ext, a_safe, side="left"), 1, len(vals_ext) - 1)
    lo = hi - 1
    v_lo, v_hi = vals_ext[lo], vals_ext[hi]
    d_lo, d_hi = a_safe - v_lo, v_hi - a_safe
    _, ex = np.frexp(v_lo)  # v_lo in [2^(ex-1), 2^ex)
    e_lo = np.where(v_lo > 0, np.maximum(ex - 1, fmt.emin), fmt.emin)
    step = np.ldexp(1.0, e_lo - fmt.man_bits)
    hi_even = np.mod(v_hi / step, 2) == 0
    pick_hi = (d_hi < d_lo) | ((d_hi == d_lo) & hi_even)
    pick_hi |= a_safe >= vals_ext[-1]
    r = np.where(pick_hi, v_hi, v_lo)
    over = (r > vals[-1]) | np.isinf(a)
    if saturate or fmt.special is Special.FINITE:
        r = np.where(over, vals[-1], r)
    elif fmt.special is Special.IEEE:
        r = np.where(over, np.inf, r)
    else:
        r = np.where(over, np.nan, r)
    out = np.where(np.signbit(x), -r, r)
    if fmt.special is Special.FNUZ:
        out = out + 0.0
    return np.where(np.isnan(x), np.nan, out)
