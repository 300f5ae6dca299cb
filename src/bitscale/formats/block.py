"""Block-scaled formats: OCP MX v1.0 and NVFP4.

Input is the grouped view ``xv`` of shape ``(n_blocks, block)`` (blocks run along the chosen axis).

MX (OCP Microscaling Formats v1.0, section 6.3). Per block, ``amax = max |x_i|`` and the shared
scale is the E8M0 power of two ``X = 2^(floor(log2 amax) - emax_elem)`` (clamped to the E8M0 range
``2^-127 … 2^127``; an all-zero block gets ``2^-127``), where ``emax_elem`` is the exponent of the
element format's largest normal binade (e4m3: 8, e5m2: 15, e2m3: 2, e3m2: 4, e2m1: 2, int8: 0).
Elements are ``cast(x_i / X)`` with round-to-nearest-even and saturation to ±max of the element
format; ``mxint8`` elements are INT8 two's complement codes with an implicit ``2^-6`` (values
``code / 64``, codes clamped to ``-128 … 127``). Decoded value: ``element · X``.

NVFP4 (NVIDIA). A per-tensor FP32 scale ``s_t = amax_tensor / (6 · 448)`` (the finite elements'
absmax; 1 when that is 0), a per-block (16) E4M3 scale ``s_b = e4m3(amax_block / 6 / s_t)`` (nearest
even, saturating), elements ``e2m1(x_i / (s_b · s_t))`` with saturation. Decoded value:
``element · s_b · s_t``. A block whose scale rounds to 0 decodes to zeros.

Non-finite inputs (our documented choice, following the MX encoding of a NaN scale): a block
holding a NaN or ±Inf gets a NaN scale, so every element of *that* block decodes to NaN; other
blocks, and the NVFP4 tensor scale (taken over finite elements only), are unaffected.
"""

from __future__ import annotations

import numpy as np
import torch

from bitscale.formats.cast import cast_unchecked
from bitscale.formats.types import BlockFormat, IntFormat


def mx_fused(xv: torch.Tensor, fmt: BlockFormat) -> torch.Tensor | None:
    """Decoded MX values ``element · X`` of a float32 CPU grouped view in one pass (the same
    float32 operations as :func:`mx_scale` / :func:`mx_elements` and the product, by the Numba
    kernels in :mod:`bitscale.formats.kernels`); None where that path does not apply."""
    if xv.dtype != torch.float32 or xv.device.type != "cpu":
        return None
    from bitscale.formats import kernels

    el = fmt.element
    xc = xv.detach().contiguous()
    out = torch.empty_like(xc)
    if isinstance(el, IntFormat):
        kernels.mx_int8(xc.numpy(), out.numpy())
        return kernels.like(out, xv)
    if not el.signed or el.man_bits > 22 or el.emin - el.man_bits < -126 or el.emax > 127:
        return None
    kernels.mx_float(xc.numpy(), out.numpy(), fmt.emax_elem,
                     *kernels.grid_params(el.man_bits, el.emin, el.max))
    return kernels.like(out, xv)


def nvfp4_fused(xv: torch.Tensor, x: torch.Tensor, fmt: BlockFormat) -> torch.Tensor | None:
    """Decoded NVFP4 values ``(element · s_b) · s_t`` of a float32 CPU grouped view in one pass
    (the operations of :func:`nvfp4_scales` / :func:`nvfp4_elements`); None where not applicable."""
    if xv.dtype != torch.float32 or xv.device.type != "cpu":
        return None
    from bitscale.formats import kernels

    s_t = (finite_absmax(x).to(torch.float32) / (fmt.element.max * fmt.scale.max))
    s_t = float(s_t) if float(s_t) > 0 else 1.0
    xc = xv.detach().contiguous()
    out = torch.empty_like(xc)
    sc, el = fmt.scale, fmt.element
    kernels.nvfp4(xc.numpy(), out.numpy(), np.float32(s_t), np.float32(el.max),
                  kernels.grid_params(sc.man_bits, sc.emin, sc.max),
                  kernels.grid_params(el.man_bits, el.emin, el.max))
    return kernels.like(out, xv)


def mx_scale(amax: torch.Tensor, fmt: BlockFormat) -> torch.Tensor:
    """E8M0 scale ``X`` per block (float64 values, exact), NaN where ``amax`` is not finite."""
    a = amax.to(torch.float64)
    _, ex = torch.frexp(a)  # a = m · 2^ex with m in [0.5, 1): floor(log2 a) = ex - 1
    shared = (ex - 1 - fmt.emax_elem).clamp_(-127, 127)
    shared = torch.where(a > 0, shared, torch.full_like(shared, -127))
    x = torch.pow(2.0, shared.to(torch.float64))
    return x.masked_fill_(~torch.isfinite(a), float("nan"))


def mx_elements(xv: torch.Tensor, scale: torch.Tensor, fmt: BlockFormat) -> torch.Tensor:
    """Element values (on the element grid, in ``xv.dtype``) of ``xv / scale``."""
    y = xv / scale.to(xv.dtype)
    if isinstance(fmt.element, IntFormat):
        return torch.round(y * 64).clamp_(-128, 127).div_(64)
    return cast_unchecked(y, fmt.element, "nearest", saturate=True)


def nvfp4_scales(xv: torch.Tensor, amax_tensor: torch.Tensor, fmt: BlockFormat
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(s_b, s_t)``: E4M3 block scales (float32, shape ``(n_blocks, 1)``) and the FP32 tensor
    scale (0-d float32)."""
    s_t = (amax_tensor.to(torch.float32) / (fmt.element.max * fmt.scale.max))
    s_t = torch.where(s_t > 0, s_t, torch.ones_like(s_t))
    amax = xv.abs().amax(dim=-1, keepdim=True).to(torch.float32)
    s_b = cast_unchecked(amax / fmt.element.max / s_t, fmt.scale, "nearest", saturate=True)
    return s_b.masked_fill_(~torch.isfinite(amax), float("nan")), s_t


def nvfp4_elements(xv: torch.Tensor, s_b: torch.Tensor, s_t: torch.Tensor,
                   fmt: BlockFormat) -> torch.Tensor:
    """E2M1 element values of ``xv / (s_b · s_t)``; zeros where ``s_b`` is 0."""
    s = (s_b * s_t).to(xv.dtype)
    y = xv / torch.where(s == 0, torch.ones_like(s), s)
    e = cast_unchecked(y, fmt.element, "nearest", saturate=True)
    return e.masked_fill_(s == 0, 0.0)


def finite_absmax(x: torch.Tensor) -> torch.Tensor:
    """``max |x|`` over the finite elements (0-d); 0 for an empty or all-non-finite tensor."""
    if x.numel() == 0:
        return torch.zeros((), dtype=x.dtype, device=x.device)
    # max(-min, max) is max |x| exactly without writing |x| out (a full pass at 2^24 elements);
    # + 0 turns a -0 (all-zero input) into the +0 that |x| gives.
    lo, hi = torch.aminmax(x)
    a = torch.maximum(-lo, hi).add_(0.0)
    if torch.isfinite(a):
        return a
    return torch.where(torch.isfinite(x), x.abs(), torch.zeros_like(x)).amax()
