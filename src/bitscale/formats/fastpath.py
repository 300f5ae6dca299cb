"""Fast paths for round-to-nearest-even casts (float32 / bfloat16 / float16 inputs).

Both give exactly the result of the bit-manipulation emulation in :mod:`bitscale.formats.cast`
(``tests/formats/test_exact.py`` runs every ml_dtypes format and the reference formats through
both and compares them bit for bit with ml_dtypes / the slow reference).

* Native: PyTorch's float8 casts round to nearest even. A format with the same mantissa width as
  a native dtype (M = 3: ``float8_e4m3fn``; M = 2: ``float8_e5m2``) is the native grid scaled by
  ``2^(emin_native - emin)``: its subnormals line up with the native ones, so
  ``native(x · 2^k) · 2^-k`` is exact as long as the format's range fits inside the native one.
  The input is clamped to ±max first (torch's e4m3fn saturates and e5m2 overflows to Inf, neither
  is the format's convention), and overflow is re-applied afterwards from ``|x|`` against the
  format's rounding threshold ``max + step/2`` (the tie overflows when ``max``'s mantissa is odd).
* Lookup: for formats of at most 6 bits the signed grid has at most 63 values; ``bucketize``
  against the midpoints (a tie that rounds up gets its boundary moved one float below the
  midpoint) and a gather give nearest-even with saturation in two passes.
* Kernel: for float32 CPU tensors both of the above, and the scaled casts of
  :func:`bitscale.formats.quantize`, run as one-pass Numba kernels
  (:mod:`bitscale.formats.kernels`) that apply the same rounding, clamp and overflow rules
  element by element (``tests/formats/test_fused.py`` checks them bit for bit against the torch
  paths). The torch paths are five to seven full passes with a 64 MiB temporary each at 2^24
  elements, and torch's float8 -> float32 conversion alone costs about two ``clone()``s.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from bitscale.formats.types import FloatFormat, Special

NATIVE_BY_M = {3: (torch.float8_e4m3fn, -6, 448.0), 2: (torch.float8_e5m2, -14, 57344.0)}
FAST_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


def native_fits(fmt: FloatFormat) -> bool:
    """Whether ``fmt`` can be rounded through a native float8 dtype (see module docstring)."""
    entry = NATIVE_BY_M.get(fmt.man_bits)
    if entry is None or not fmt.signed:
        return False
    _, emin_n, max_n = entry
    return fmt.max * 2.0 ** (emin_n - fmt.emin) <= max_n and fmt.emin - emin_n <= 100


def _overflow_threshold(fmt: FloatFormat) -> tuple[float, bool]:
    """``(thr, tie_overflows)``: |x| > thr (or == thr when the tie overflows) exceeds the format."""
    thr = fmt.max + 2.0 ** (fmt.emax - fmt.man_bits) / 2
    max_mantissa_odd = not (fmt.special is Special.FN and fmt.man_bits > 0)
    return thr, max_mantissa_odd


def kernel_applies(x: torch.Tensor) -> bool:
    """Whether ``x`` can go through the Numba kernels: float32 on the CPU, and not recording
    autograd (the torch paths keep their graph, e.g. the identity gradient of the float8 round
    trip; the kernels would silently detach it)."""
    return (x.dtype == torch.float32 and x.device.type == "cpu"
            and not (x.requires_grad and torch.is_grad_enabled()))


def kernel_fits(fmt: FloatFormat) -> bool:
    """Whether the one-pass float32 kernels of :mod:`bitscale.formats.kernels` round onto ``fmt``
    exactly: a signed grid of the native or lookup kind whose steps ``2^(e - M)`` and their
    inverses, ``e`` in ``[emin, emax + 1]``, are normal float32 numbers (the condition under which
    :mod:`bitscale.formats.cast` computes in float32)."""
    return ((native_fits(fmt) or lut_fits(fmt)) and fmt.special is not Special.FNU
            and fmt.emin - fmt.man_bits >= -126 and fmt.emax + 1 - fmt.man_bits <= 126)


def _grid_params(fmt: FloatFormat):
    from bitscale.formats import kernels

    return kernels.grid_params(fmt.man_bits, fmt.emin, fmt.max)


def _cast_kernel(x: torch.Tensor, fmt: FloatFormat, saturate: bool) -> torch.Tensor:
    """:func:`round_native` of a float32 CPU tensor in one pass (:func:`kernels.cast_grid`)."""
    from bitscale.formats import kernels

    mode = 0
    if not saturate and fmt.special is not Special.FINITE:
        mode = 2 if fmt.special is Special.IEEE else 1
    thr, tie = _overflow_threshold(fmt)
    thr32 = np.float32(thr)
    assert float(thr32) == thr, "overflow threshold exact in float32"
    xc = x.detach().contiguous()
    out = torch.empty_like(xc)
    kernels.cast_grid(xc.view(torch.int32).reshape(-1).numpy(),
                      out.view(torch.int32).reshape(-1).numpy(), np.int32(thr32.view(np.int32)),
                      tie, np.int32(mode), fmt.special is Special.FNUZ, *_grid_params(fmt))
    return kernels.like(out, x)


def scaled_round(xv: torch.Tensor, s: torch.Tensor, fmt: FloatFormat) -> torch.Tensor:
    """``cast(xv / s, fmt, saturate=True) · s`` for a float32 CPU ``xv`` of shape
    ``(n_groups, group)`` and float32 scales ``s`` of shape ``(n_groups, 1)``, in one pass
    (:func:`bitscale.formats.kernels.scaled_grid`); ``fmt`` must satisfy :func:`kernel_fits`."""
    from bitscale.formats import kernels

    xc = xv.detach().contiguous()
    out = torch.empty_like(xc)
    sc = s.detach().reshape(-1).contiguous()
    kernels.scaled_grid(xc.reshape(-1).numpy(), out.reshape(-1).numpy(), sc.numpy(),
                        max(xc.shape[-1], 1), fmt.special is Special.FNUZ, *_grid_params(fmt))
    return kernels.like(out, xv)


def round_native(x: torch.Tensor, fmt: FloatFormat, saturate: bool) -> torch.Tensor:
    """Nearest-even cast of ``x`` to ``fmt`` through a native float8 dtype (``x.dtype`` out).

    float32 CPU tensors take the one-pass kernel instead (the same rounding and overflow rules;
    the native round trip plus clamp and overflow mask costs five to seven passes)."""
    if kernel_applies(x) and kernel_fits(fmt):
        return _cast_kernel(x, fmt, saturate)
    return round_native_torch(x, fmt, saturate)


def round_native_torch(x: torch.Tensor, fmt: FloatFormat, saturate: bool) -> torch.Tensor:
    """:func:`round_native` in torch operations (any dtype and device)."""
    native, emin_n, _ = NATIVE_BY_M[fmt.man_bits]
    k = emin_n - fmt.emin
    mx = fmt.max * 2.0**k
    xs = x * 2.0**k if k else x
    xs = xs.clamp_(-mx, mx) if k else xs.clamp(-mx, mx)
    y = xs.to(native).to(x.dtype)
    if k:
        y = y.mul_(2.0**-k)
    if not saturate and fmt.special is not Special.FINITE:
        thr, tie = _overflow_threshold(fmt)
        a = x.abs()
        over = a >= thr if tie else a > thr
        if fmt.special is Special.IEEE:
            y = torch.where(over, x * float("inf"), y)
        else:
            y = y.masked_fill_(over, float("nan"))
    if fmt.special is Special.FNUZ:
        y = y.add_(0.0)
    return y


@lru_cache(maxsize=64)
def _lut(fmt: FloatFormat, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """``(boundaries, values)`` of the signed grid of ``fmt`` in ``dtype`` (CPU)."""
    from bitscale.formats.reference import grid, reference_round

    vals, _ = grid(fmt)
    signed = np.concatenate([-vals[:0:-1], vals])  # one zero
    mids = (signed[:-1] + signed[1:]) / 2
    np_dtype = {torch.float32: np.float32, torch.bfloat16: np.float32,
                torch.float16: np.float32}[dtype]
    m = mids.astype(np_dtype)
    assert np.all(m.astype(np.float64) == mids)
    ups = reference_round(mids, fmt, saturate=True) == signed[1:]
    bounds = np.where(ups, np.nextafter(m, np_dtype(-np.inf)), m)
    return torch.from_numpy(bounds.copy()), torch.from_numpy(signed.astype(np_dtype))


def round_grid(x: torch.Tensor, man_bits: int, emin: int, mx: float) -> torch.Tensor:
    """Saturating nearest-even rounding of a float32 CPU tensor onto the ExMy grid with
    ``man_bits`` mantissa bits, smallest normal exponent ``emin`` and largest value ``mx``, in one
    pass (:func:`bitscale.formats.kernels.round_grid`); NaN stays NaN, zeros keep their sign."""
    from bitscale.formats import kernels

    xc = x.detach().contiguous()
    out = torch.empty_like(xc)
    kernels.round_grid(xc.view(torch.int32).reshape(-1).numpy(),
                       out.view(torch.int32).reshape(-1).numpy(),
                       *kernels.grid_params(man_bits, emin, mx))
    return kernels.like(out, x)


def lut_fits(fmt: FloatFormat) -> bool:
    return fmt.bits <= 6 and fmt.signed and fmt.special is Special.FINITE


def round_lut(x: torch.Tensor, fmt: FloatFormat, exact_specials: bool = True) -> torch.Tensor:
    """Nearest-even, saturating cast of ``x`` to a small ``fmt`` by table lookup.

    With ``exact_specials`` NaN stays NaN and zeros keep the sign of ``x`` (as :func:`cast`
    promises); without, NaN maps to an arbitrary grid value and zeros are +0 (callers that
    multiply by a NaN block scale anyway, and do not care about the sign of zero, skip two passes).
    """
    xc = x if x.dtype == torch.float32 else x.float()
    if exact_specials and xc.device.type == "cpu":
        return round_grid(xc, fmt.man_bits, fmt.emin, fmt.max).to(x.dtype)
    bounds, vals = _lut(fmt, torch.float32)
    bounds, vals = bounds.to(x.device), vals.to(x.device)
    idx = torch.bucketize(xc, bounds, out_int32=True)
    y = vals.index_select(0, idx.reshape(-1)).reshape(idx.shape)
    if exact_specials:
        y = torch.copysign(y, xc, out=y)
        y = y.masked_fill_(torch.isnan(xc), float("nan"))
    return y.to(x.dtype)
