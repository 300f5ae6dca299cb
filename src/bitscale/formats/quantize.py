"""Scaled (fake) quantization: :func:`quantize`, :func:`encode`, :func:`decode`.

Grouping. ``axis`` is the reduction axis: the tensor is viewed as rows of its ``axis`` and
``tensor`` -> one scale for everything, ``channel`` -> one scale per row (shared along ``axis``;
a Linear weight ``(out, in)`` with ``axis=-1`` gets one scale per output row), ``group<g>`` -> one
scale per ``g`` consecutive elements along ``axis`` (``g`` must divide its length), block formats
-> their own block size along ``axis``.

Scales (per group, ``qmax`` the largest code, ``max`` the largest finite float):

* INT-k symmetric: ``s = absmax / qmax`` with ``qmax = 2^(k-1) - 1``; codes
  ``clamp(R(x / s), -2^(k-1), 2^(k-1) - 1)``; value ``s · code``.
* UINT-k symmetric: ``s = absmax / (2^k - 1)``, codes ``clamp(R(x / s), 0, 2^k - 1)`` (negative
  values clip to 0).
* affine (integers): ``s = (max - min) / (L - 1)`` with ``L`` levels (``2^k``; binary 2),
  offset ``b = min``; codes ``clamp(R((x - b) / s), 0, L - 1)``; value ``s · code + b``.
* ``binary``: codes ``sign(x)`` in {-1, +1} (``sign(0) = +1``), ``s = mean |x|``: for fixed signs
  the L2-optimal scale ``argmin_s Σ (x_i - s·sign(x_i))²`` (XNOR-Net), equal to the mean absolute
  value.
* ``ternary``: ``s = mean |x|`` (the absmean scale of BitNet b1.58), codes ``clamp(R(x / s), -1, 1)``.
* floats: ``s = absmax / max``, value ``s · cast(x / s, saturate=True)``.
* ``:mse``: the absmax scale times the clipping ratio ``c`` in {1, 0.99, …, 0.30} (71 candidates)
  that minimises the group's squared error with nearest rounding.

A group whose scale would be 0 (all zeros) gets ``s = 1``, so it quantizes to zeros, never NaN
(``binary`` keeps ``s = 0``: its codes are signs, and ``0 · ±1 = 0``).
The statistics (absmax, min/max, mean |x|) ignore NaN and ±Inf elements; a NaN element stays NaN,
±Inf saturates to the extreme level. Arithmetic is in the input dtype; output dtype = input dtype.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bitscale.formats import fastpath
from bitscale.formats.block import (
    finite_absmax,
    mx_elements,
    mx_fused,
    mx_scale,
    nvfp4_elements,
    nvfp4_fused,
    nvfp4_scales,
)
from bitscale.formats.cast import cast_unchecked, check_rounding, check_tensor, round_units
from bitscale.formats.codes import (
    code_dtype,
    decode_float,
    encode_float,
    encode_int,
    int_range,
)
from bitscale.formats.registry import parse_spec
from bitscale.formats.types import BlockFormat, FloatFormat, IntFormat, QuantSpec

MSE_RATIOS = tuple(round(1.0 - 0.01 * i, 2) for i in range(71))


@dataclass(frozen=True)
class Scales:
    """The scale side of :func:`encode`: ``x ≈ decode(codes) · scale (+ offset) (· tensor_scale)``.

    Attributes
    ----------
    scale : torch.Tensor or None
        Per-group scales, same ndim as ``x`` with the ``axis`` dimension holding the number of
        groups along it (1 for ``tensor`` / ``channel``; every dim 1 for ``tensor``); None for a raw
        cast. MX: the E8M0 values; NVFP4: the E4M3 block-scale values.
    offset : torch.Tensor or None
        Affine offsets (``min`` of each group), same shape as ``scale``; None when symmetric.
    tensor_scale : torch.Tensor or None
        NVFP4's FP32 per-tensor scale (0-d); None otherwise.
    """

    scale: torch.Tensor | None
    offset: torch.Tensor | None = None
    tensor_scale: torch.Tensor | None = None


def _check(x, spec, axis: int, rounding: str) -> QuantSpec:
    check_tensor(x)
    check_rounding(rounding)
    q = parse_spec(spec)
    if q.granularity != "none" and x.dim() > 0 and not -x.dim() <= axis < x.dim():
        raise ValueError(f"axis {axis} out of range for a tensor of shape {tuple(x.shape)}")
    size = 1 if x.dim() == 0 else x.shape[axis]
    g = q.format.block if q.granularity == "block" else q.group_size
    if q.granularity in ("group", "block") and size % g:
        raise ValueError(f"spec {str(q)!r}: group size {g} does not divide axis {axis} of length "
                         f"{size} (shape {tuple(x.shape)}); pick a group that divides it, pad the "
                         "tensor, or use ':channel'")
    return q


def _view(x: torch.Tensor, q: QuantSpec, axis: int) -> tuple[torch.Tensor, torch.Size]:
    """``(xv, moved_shape)``: ``x`` with ``axis`` moved last, reshaped to ``(n_groups, group)``."""
    xm = x.movedim(axis, -1) if x.dim() else x.reshape(1)
    if q.granularity == "tensor":
        return xm.reshape(1, -1), xm.shape
    if q.granularity == "channel":
        return xm.reshape(-1, xm.shape[-1]), xm.shape
    g = q.format.block if q.granularity == "block" else q.group_size
    return xm.reshape(-1, g), xm.shape


def _unview(y: torch.Tensor, shape: torch.Size, x: torch.Tensor, axis: int) -> torch.Tensor:
    if x.dim() == 0:
        return y.reshape(())
    return y.reshape(shape).movedim(-1, axis)


def _scale_view(s: torch.Tensor, shape: torch.Size, x: torch.Tensor, axis: int,
                q: QuantSpec) -> torch.Tensor:
    """Per-group ``(n_groups, 1)`` scales reshaped to ``x``'s ndim (see :class:`Scales`)."""
    if x.dim() == 0:
        return s.reshape(())
    if q.granularity == "tensor":
        return s.reshape([1] * x.dim())
    n_along = 1 if q.granularity == "channel" else shape[-1] // (
        q.format.block if q.granularity == "block" else q.group_size)
    return s.reshape(*shape[:-1], n_along).movedim(-1, axis)


def _finite(xv: torch.Tensor) -> torch.Tensor:
    return torch.where(torch.isfinite(xv), xv, torch.zeros_like(xv))


def _int_scale(xv: torch.Tensor, fmt: IntFormat, affine: bool
               ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-group ``(s, b)``, shape ``(n_groups, 1)``; see the module docstring."""
    def stats(v):
        if affine:
            lo, hi = torch.aminmax(v, dim=-1, keepdim=True)
            return (hi - lo) / (fmt.levels - 1), lo
        if fmt.kind in ("binary", "ternary"):
            return v.abs().mean(dim=-1, keepdim=True), None
        lo, hi = torch.aminmax(v, dim=-1, keepdim=True)
        return torch.maximum(-lo, hi) / fmt.qmax, None

    s, b = stats(xv)
    if not bool(torch.isfinite(s).all()):  # a NaN/Inf in some group: recompute on finite values
        s2, b2 = stats(_finite(xv))
        bad = ~torch.isfinite(s)
        s = torch.where(bad, s2, s)
        b = None if b is None else torch.where(bad, b2, b)
    if fmt.kind == "binary" and not affine:
        return s, None  # codes sign(x) need no division; an all-zero group keeps s = 0
    return torch.where(s > 0, s, torch.ones_like(s)), b


def _int_codes(xv, s, b, fmt: IntFormat, affine: bool, rounding, generator) -> torch.Tensor:
    if fmt.kind == "binary" and not affine:
        c = torch.where(xv >= 0, 1.0, -1.0).to(xv.dtype)
        return c.masked_fill_(torch.isnan(xv), float("nan"))
    f = (xv - b if b is not None else xv) / s
    lo, hi = int_range(fmt, affine)
    return round_units(f, rounding, generator).clamp_(lo, hi)


def _absmax(xv: torch.Tensor) -> torch.Tensor:
    """``max |x|`` per row of ``xv``, shape ``(n_groups, 1)`` (NaN if the row holds a NaN).

    A single row (``tensor`` granularity) is reduced as ``max(-min, max)``: the same value (max
    and negation are exact), but without materialising ``|x|``, which costs a full write pass."""
    if xv.shape[0] == 1 and xv.shape[1] > 0:
        lo, hi = torch.aminmax(xv)
        return torch.maximum(-lo, hi).add_(0.0).reshape(1, 1)  # + 0: -0 -> +0, as |x| gives
    return xv.abs().amax(dim=-1, keepdim=True)


def _float_scale(xv: torch.Tensor, fmt: FloatFormat) -> torch.Tensor:
    a = _absmax(xv)
    if not bool(torch.isfinite(a).all()):
        a = torch.where(torch.isfinite(a), a, _finite(xv).abs().amax(dim=-1, keepdim=True))
    s = a / fmt.max
    return torch.where(s > 0, s, torch.ones_like(s))


def _fq_scaled(xv, q: QuantSpec, rounding, generator, ratio=None):
    """Fake-quantize the grouped view with scaled element formats; returns (y, s, b, codes)."""
    fmt = q.format
    if isinstance(fmt, IntFormat):
        s, b = _int_scale(xv, fmt, q.affine)
        if ratio is not None:
            s = s * ratio
        c = _int_codes(xv, s, b, fmt, q.affine, rounding, generator)
        y = c * s
        return (y + b if b is not None else y), s, b, c
    s = _float_scale(xv, fmt)
    if ratio is not None:
        s = s * ratio
    c = cast_unchecked(xv / s, fmt, rounding, saturate=True, generator=generator)
    return c * s, s, None, c


def _fq_mse(xv, q: QuantSpec, rounding, generator):
    """MSE-chosen clipping: best ratio per group (chosen with nearest rounding), then ``rounding``."""
    best_err, best_ratio = None, None
    xf = _finite(xv)
    for r in MSE_RATIOS:
        y, *_ = _fq_scaled(xf, q, "nearest", None, ratio=r)
        err = (y - xf).square().sum(dim=-1, keepdim=True)
        if best_err is None:
            best_err, best_ratio = err, torch.full_like(err, r)
        else:
            better = err < best_err
            best_err = torch.where(better, err, best_err)
            best_ratio = torch.where(better, torch.full_like(err, r), best_ratio)
    return _fq_scaled(xv, q, rounding, generator, ratio=best_ratio)


def _blocks(xv, x, fmt: BlockFormat):
    """``(elements, scale, tensor_scale)`` of a block format on the grouped view."""
    if fmt.tensor_scale:
        s_b, s_t = nvfp4_scales(xv, finite_absmax(x), fmt)
        return nvfp4_elements(xv, s_b, s_t, fmt), s_b, s_t
    scale = mx_scale(xv.abs().amax(dim=-1, keepdim=True), fmt)
    return mx_elements(xv, scale, fmt), scale, None


def _int_fused(xv, q: QuantSpec):
    """Nearest-even absmax / affine integer fake quantization of a float32 CPU grouped view in
    one pass (:func:`bitscale.formats.kernels.int_scaled`, the operations of :func:`_int_scale`,
    :func:`_int_codes` and the product); None where it does not apply (mean-scaled binary /
    ternary, wide integers whose code range float32 does not hold exactly, other dtypes)."""
    fmt = q.format
    if (not isinstance(fmt, IntFormat) or xv.dtype != torch.float32
            or xv.device.type != "cpu" or fmt.bits > 16
            or (not q.affine and fmt.kind in ("binary", "ternary"))):
        return None
    import numpy as np

    from bitscale.formats import kernels

    den = fmt.levels - 1 if q.affine else fmt.qmax
    lo, hi = int_range(fmt, q.affine)
    xc = xv.detach().contiguous()
    out = torch.empty_like(xc)
    kernels.int_scaled(xc.numpy(), out.numpy(), bool(q.affine), np.float32(den), np.float32(lo),
                       np.float32(hi))
    return kernels.like(out, xv)


def _mean_fused(xv, q: QuantSpec):
    """Nearest-even fake quantization of a float32 CPU grouped view to the mean-scaled
    ``binary`` / ``ternary`` integers: the scale (:func:`_int_scale`, a torch reduction whose
    summation order is torch's) in torch, then codes and product in one pass
    (:func:`bitscale.formats.kernels.mean_scaled`); None where it does not apply (see
    :func:`bitscale.formats.fastpath.kernel_applies`)."""
    fmt = q.format
    if (not isinstance(fmt, IntFormat) or fmt.kind not in ("binary", "ternary") or q.affine
            or not fastpath.kernel_applies(xv)):
        return None
    from bitscale.formats import kernels

    s, _ = _int_scale(xv, fmt, False)
    xc = xv.detach().contiguous()
    out = torch.empty_like(xc)
    kernels.mean_scaled(xc.reshape(-1).numpy(), out.reshape(-1).numpy(),
                        s.detach().reshape(-1).contiguous().numpy(), max(xc.shape[-1], 1),
                        fmt.kind == "ternary")
    return kernels.like(out, xv)


def _float_fused(xv, q: QuantSpec):
    """Nearest-even scaled float fake quantization of a float32 CPU grouped view, the scale
    (:func:`_float_scale`) in torch and ``cast(x / s, saturate=True) · s`` in one pass
    (:func:`bitscale.formats.fastpath.scaled_round`); None where it does not apply (other dtypes
    and devices, autograd, formats the kernel does not cover)."""
    fmt = q.format
    if (not isinstance(fmt, FloatFormat) or not fastpath.kernel_applies(xv)
            or not fastpath.kernel_fits(fmt)):
        return None
    return fastpath.scaled_round(xv, _float_scale(xv, fmt), fmt)


def _blocks_fused(xv, x, fmt: BlockFormat):
    """Decoded block-format values in one pass where a fused kernel applies, else None."""
    return nvfp4_fused(xv, x, fmt) if fmt.tensor_scale else mx_fused(xv, fmt)


def quantize(x: torch.Tensor, spec, axis: int = -1, rounding: str = "nearest",
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Fake-quantize ``x``: quantize to ``spec`` and dequantize, ``Q(x) = s · code (+ b)``.

    Parameters
    ----------
    x : torch.Tensor
        float32, float64, bfloat16 or float16; any shape and device.
    spec : str or QuantSpec
        ``FORMAT[:tensor|:channel|:group<g>|:none][:affine|:symmetric][:mse]`` (see
        :mod:`bitscale.formats.registry`). Without a granularity: a raw cast for float formats,
        per-tensor absmax for integers, the format's own blocks for MX / NVFP4.
    axis : int
        Reduction axis: scales are shared along it (module docstring).
    rounding : {"nearest", "nearest_away", "toward_zero", "stochastic"}
        Rounding of the scaled values onto the grid (block formats always round to nearest even,
        as the MX spec prescribes).
    generator : torch.Generator, optional
        For ``rounding="stochastic"``.

    Returns
    -------
    torch.Tensor
        Same shape and dtype as ``x``.

    Raises
    ------
    ValueError
        Non-floating tensor, bad spec, axis out of range, group size not dividing the axis.
    """
    q = _check(x, spec, axis, rounding)
    return _quantize(x, q, axis, rounding, generator)


def _quantize(x, q: QuantSpec, axis, rounding, generator):
    if x.numel() == 0:
        return x.clone()
    if q.granularity == "none":
        return cast_unchecked(x, q.format, rounding, saturate=False, generator=generator)
    xv, shape = _view(x, q, axis)
    if q.granularity == "block" and (y := _blocks_fused(xv, x, q.format)) is not None:
        pass
    elif q.granularity == "block":
        e, s, s_t = _blocks(xv, x, q.format)
        y = e * s.to(xv.dtype)
        if s_t is not None:
            y = y * s_t.to(xv.dtype)
    elif not q.mse and rounding == "nearest" and (y := _int_fused(xv, q)) is not None:
        pass
    elif not q.mse and rounding == "nearest" and (y := _float_fused(xv, q)) is not None:
        pass
    elif not q.mse and rounding == "nearest" and (y := _mean_fused(xv, q)) is not None:
        pass
    elif q.mse:
        y = _fq_mse(xv, q, rounding, generator)[0]
    else:
        y = _fq_scaled(xv, q, rounding, generator)[0]
    return _unview(y, shape, x, axis)


def encode(x: torch.Tensor, spec, axis: int = -1, rounding: str = "nearest",
           generator: torch.Generator | None = None) -> tuple[torch.Tensor, Scales]:
    """Quantize ``x`` to integer codes and scales, for storage or deployment.

    Returns
    -------
    codes : torch.Tensor
        Same shape as ``x``. Integers: the integer codes (``int8`` / ``uint8`` / ``int16`` /
        ``int32``, the smallest that holds the range; affine codes are ``0 … L-1``). Float
        formats and MX / NVFP4 float elements: the format's bit patterns (``uint8`` up to 8 bits,
        else ``int32``). ``mxint8``: the INT8 codes (value ``code / 64``).
    scales : Scales
        See :class:`Scales`. ``decode(codes, scales, spec)`` equals ``quantize(x, spec, axis)``.

    Raises
    ------
    ValueError
        As :func:`quantize`, and for NaN in a format with no NaN code (integers, e2m1fn …).
    """
    q = _check(x, spec, axis, rounding)
    fmt = q.format
    if q.granularity == "none":
        v = cast_unchecked(x, fmt, rounding, saturate=False, generator=generator)
        if isinstance(fmt, IntFormat):
            return encode_int(v, fmt.qmin, fmt.qmax), Scales(None)
        return encode_float(v, fmt), Scales(None)
    if x.numel() == 0:
        raise ValueError("encode: empty tensor; there is nothing to scale")
    xv, shape = _view(x, q, axis)
    t_scale = None
    if q.granularity == "block":
        e, s, t_scale = _blocks(xv, x, fmt)
        b = None
        e = e.nan_to_num(0.0)  # a NaN block keeps its NaN in the scale (the MX convention)
        if isinstance(fmt.element, IntFormat):
            c = torch.round(e * 64).to(torch.int8)
        else:
            c = encode_float(e, fmt.element)
        s = s.to(torch.float32)
    else:
        _, s, b, e = (_fq_mse if q.mse else _fq_scaled)(xv, q, rounding, generator)
        if isinstance(fmt, IntFormat):
            if fmt.kind == "binary" and not q.affine:
                c = encode_int(e, -1, 1)
            else:
                c = encode_int(e, *int_range(fmt, q.affine))
        else:
            c = encode_float(e, fmt)
    codes = _unview(c, shape, x, axis)
    return codes, Scales(_scale_view(s, shape, x, axis, q),
                         None if b is None else _scale_view(b, shape, x, axis, q), t_scale)


def _expand(s: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Repeat per-group scales along the one axis where their length differs from the codes'."""
    if s.dim() == 0 or s.shape == like.shape:
        return s
    for d in range(like.dim()):
        if s.shape[d] not in (1, like.shape[d]):
            return s.repeat_interleave(like.shape[d] // s.shape[d], dim=d)
    return s


def decode(codes: torch.Tensor, scales: Scales, spec, dtype: torch.dtype = torch.float32
           ) -> torch.Tensor:
    """Values of ``codes`` under ``scales`` (the inverse of :func:`encode`), in ``dtype``.

    ``value = element(code) · scale (+ offset) (· tensor_scale)``, with ``element`` the integer
    code, the float format's value of a bit pattern, or ``code / 64`` for ``mxint8``.
    """
    q = parse_spec(spec)
    fmt = q.format
    if isinstance(fmt, BlockFormat):
        if isinstance(fmt.element, IntFormat):
            e = codes.to(dtype) / 64
        else:
            e = decode_float(codes, fmt.element, dtype)
    elif isinstance(fmt, FloatFormat):
        e = decode_float(codes, fmt, dtype)
    else:
        e = codes.to(dtype)
    if scales.scale is None:
        return e
    y = e * _expand(scales.scale.to(dtype), e)
    if scales.offset is not None:
        y = y + _expand(scales.offset.to(dtype), e)
    if scales.tensor_scale is not None:
        y = y * scales.tensor_scale.to(dtype)
    return y


__all__ = ["Scales", "quantize", "encode", "decode", "code_dtype"]
