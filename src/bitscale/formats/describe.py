"""One-format summaries for the ``bitscale formats`` command: :func:`describe`."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from bitscale.formats.noise import noise_profile
from bitscale.formats.registry import ALIASES, parse_spec
from bitscale.formats.types import BlockFormat, FloatFormat, IntFormat, QuantSpec


@dataclass(frozen=True)
class FormatInfo:
    """The facts of one format and its measured noise on N(0, 1) data.

    Attributes
    ----------
    spec : str
        Canonical spec described.
    family : {"float", "int", "block"}
    bits : float
        Bits per element (block formats include the amortised scale bits).
    max_finite, smallest_normal, smallest_subnormal : float
        Of the element grid (unscaled). Integers: ``qmax``, 1, 1 (``nan`` for binary/ternary's
        normal/subnormal, which have no such notion).
    relative_step : float
        Floats: ``2^-M`` (the gap above 1). Integers and MX-int: one step relative to the largest
        level, ``1 / qmax``.
    special : str
        Special-value convention (floats) or code range (integers) in words.
    measured_spec : str
        The spec measured: per-tensor absmax scaling (``FORMAT:tensor``) or the block format's own.
    eps_mul, eps_add : float
        :func:`~bitscale.formats.noise_profile` of ``measured_spec`` on ``samples`` N(0, 1) draws
        (their absolute values for unsigned formats), seed 0.
    dominant : str
    aliases : tuple of str
    """

    spec: str
    family: str
    bits: float
    max_finite: float
    smallest_normal: float
    smallest_subnormal: float
    relative_step: float
    special: str
    measured_spec: str
    eps_mul: float
    eps_add: float
    dominant: str
    aliases: tuple[str, ...]


def _element_facts(fmt) -> tuple[float, float, float, float, str]:
    if isinstance(fmt, FloatFormat):
        return (fmt.max, fmt.smallest_normal, fmt.smallest_subnormal, fmt.eps,
                f"{fmt.special.value} (E={fmt.exp_bits}, M={fmt.man_bits}, bias={fmt.bias})")
    if fmt.kind in ("binary", "ternary"):
        codes = "{-1, +1}" if fmt.kind == "binary" else "{-1, 0, +1}"
        return 1.0, math.nan, math.nan, 1.0, f"codes {codes}, always scaled"
    return (float(fmt.qmax), 1.0, 1.0, 1.0 / fmt.qmax,
            f"codes {fmt.qmin} … {fmt.qmax}")


def describe(spec, samples: int = 2**16, seed: int = 0) -> FormatInfo:
    """Facts and measured noise of ``spec`` (a name or full spec).

    The noise is measured with per-tensor absmax scaling for element formats (the spec's own
    scaling when it names one) and the format's own blocks for MX / NVFP4.
    """
    q = parse_spec(spec)
    fmt = q.format
    if isinstance(fmt, BlockFormat):
        mx, sn, ss, step, special = _element_facts(fmt.element)
        if isinstance(fmt.element, IntFormat):
            mx, sn, ss, step = fmt.max, 2.0**-6, 2.0**-6, 1.0 / fmt.element.qmax
        special = (f"{fmt.element.name} elements, block {fmt.block}, {fmt.scale.name} scale"
                   + (" + FP32 tensor scale" if fmt.tensor_scale else ""))
        bits = fmt.bits_per_element
        measured = q
    else:
        mx, sn, ss, step, special = _element_facts(fmt)
        bits = fmt.bits
        measured = q if q.granularity != "none" else QuantSpec(fmt, "tensor")
    u = torch.randn(samples, generator=torch.Generator().manual_seed(seed))
    if not fmt_signed(fmt):
        u = u.abs()
    prof = noise_profile(measured, u)
    aliases = tuple(a for a, c in ALIASES.items() if c == fmt.name)
    return FormatInfo(str(q), fmt.family, float(bits), float(mx), float(sn), float(ss),
                      float(step), special, str(measured), prof.eps_mul, prof.eps_add,
                      prof.dominant, aliases)


def fmt_signed(fmt) -> bool:
    """Whether the element grid has negative values (uint and e8m0fnu do not)."""
    if isinstance(fmt, BlockFormat):
        return True
    return fmt.signed
