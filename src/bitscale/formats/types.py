"""The number formats as small frozen dataclasses of primitive facts; everything else is derived.

Three element families and one block family:

* :class:`FloatFormat` -- sign, ``E`` exponent bits, ``M`` mantissa bits, a bias, and one of the
  special-value conventions of :class:`Special`. A value with exponent code ``c`` and mantissa
  ``m`` is ``(-1)^s · 2^(c - bias) · (1 + m / 2^M)`` for ``c >= 1`` and the subnormal
  ``(-1)^s · 2^(1 - bias) · (m / 2^M)`` for ``c = 0``.
* :class:`IntFormat` -- INT-k (two's complement, ``-2^(k-1) … 2^(k-1) - 1``), UINT-k
  (``0 … 2^k - 1``), ``binary`` {-1, +1} and ``ternary`` {-1, 0, +1}.
* :class:`BlockFormat` -- OCP MX (block of 32, E8M0 shared scale) and NVFP4 (block of 16, E4M3
  block scale on top of an FP32 tensor scale).

A :class:`QuantSpec` is a format plus how it is scaled (none / tensor / channel / group / block,
symmetric or affine, absmax or MSE-chosen clipping). Names and parsing live in
:mod:`bitscale.formats.registry`.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass


class Special(str, enum.Enum):
    """How a float format spends its top codes on special values.

    ``IEEE``: the top exponent code holds ±Inf (mantissa 0) and NaN (otherwise); overflow -> ±Inf.
    ``FN``: finite, one NaN pattern per sign (all exponent and mantissa bits set, as ``e4m3fn``);
    overflow -> NaN.
    ``FINITE``: every code is a finite number, no Inf, no NaN (``e2m1fn``, ``e2m3fn``, ``e3m2fn``);
    overflow and ±Inf saturate to ±max (as ml_dtypes does).
    ``FNUZ``: finite, the negative-zero code is the only NaN, so there is no -0 (``e4m3fnuz``,
    ``e5m2fnuz``); overflow -> NaN, -0 -> +0.
    ``FNU``: unsigned, finite, all-ones is NaN, no zero, no subnormals (``e8m0fnu``, the MX scale).
    """

    IEEE = "ieee"
    FN = "fn"
    FINITE = "finite"
    FNUZ = "fnuz"
    FNU = "fnu"


@dataclass(frozen=True)
class FloatFormat:
    """A floating-point ExMy element format.

    Attributes
    ----------
    name : str
        Canonical name (ml_dtypes spelling without the ``floatN_`` prefix, e.g. ``"e4m3fn"``).
    exp_bits : int
        ``E``, 1 … 8.
    man_bits : int
        ``M``, 0 … 23.
    bias : int
        Exponent bias (default ``2^(E-1) - 1``; ``2^(E-1)`` for the ``fnuz`` family).
    special : Special
        Special-value convention.
    """

    name: str
    exp_bits: int
    man_bits: int
    bias: int
    special: Special

    family = "float"

    @property
    def signed(self) -> bool:
        """Whether the format has a sign bit (all but ``e8m0fnu``)."""
        return self.special is not Special.FNU

    @property
    def bits(self) -> int:
        """Storage width: sign + E + M."""
        return int(self.signed) + self.exp_bits + self.man_bits

    @property
    def has_subnormals(self) -> bool:
        """Exponent code 0 encodes subnormals (and zero); false only for ``FNU``."""
        return self.special is not Special.FNU

    @property
    def emin(self) -> int:
        """Exponent of the smallest normal binade: ``1 - bias`` (``-bias`` without subnormals)."""
        return (1 if self.has_subnormals else 0) - self.bias

    @property
    def emax(self) -> int:
        """Exponent of the largest finite binade."""
        top = 2**self.exp_bits - 1
        if self.special is Special.IEEE:
            return top - 1 - self.bias
        if self.special is Special.FN and self.man_bits == 0:
            return top - 1 - self.bias  # the whole top binade is the NaN pattern
        if self.special is Special.FNU:
            return top - 1 - self.bias
        return top - self.bias

    @property
    def max(self) -> float:
        """Largest finite value."""
        frac = 2.0 - 2.0 ** (-self.man_bits)
        if self.special is Special.FN and self.man_bits > 0:
            frac -= 2.0 ** (-self.man_bits)  # the all-ones mantissa of the top binade is NaN
        if self.man_bits == 0:
            frac = 1.0
        return math.ldexp(frac, self.emax)

    @property
    def smallest_normal(self) -> float:
        """Smallest positive normal value ``2^emin``."""
        return math.ldexp(1.0, self.emin)

    @property
    def smallest_subnormal(self) -> float:
        """Smallest positive value: ``2^(emin - M)`` (``2^emin`` without subnormals)."""
        if not self.has_subnormals or self.man_bits == 0:
            return self.smallest_normal
        return math.ldexp(1.0, self.emin - self.man_bits)

    @property
    def eps(self) -> float:
        """Relative step ``2^-M``: the gap above 1 (numpy's ``finfo.eps``)."""
        return 2.0 ** (-self.man_bits)

    @property
    def has_inf(self) -> bool:
        return self.special is Special.IEEE

    @property
    def has_nan(self) -> bool:
        return self.special is not Special.FINITE

    @property
    def has_negative_zero(self) -> bool:
        return self.special in (Special.IEEE, Special.FN, Special.FINITE)

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class IntFormat:
    """An integer grid: INT-k, UINT-k, ``binary`` or ``ternary``.

    Attributes
    ----------
    name : str
        Canonical name: ``int<k>``, ``uint<k>``, ``binary``, ``ternary``.
    kind : {"int", "uint", "binary", "ternary"}
    bits : int
        Storage width (binary 1, ternary 2).
    """

    name: str
    kind: str
    bits: int

    family = "int"

    @property
    def qmin(self) -> int:
        """Smallest code (symmetric use)."""
        return {"int": -(2 ** (self.bits - 1)), "uint": 0, "binary": -1, "ternary": -1}[self.kind]

    @property
    def qmax(self) -> int:
        """Largest code."""
        return {"int": 2 ** (self.bits - 1) - 1, "uint": 2**self.bits - 1, "binary": 1,
                "ternary": 1}[self.kind]

    @property
    def levels(self) -> int:
        """Number of distinct codes (used by affine scaling: ``levels - 1`` steps)."""
        return {"binary": 2, "ternary": 3}.get(self.kind, 2**self.bits)

    @property
    def max(self) -> float:
        return float(self.qmax)

    @property
    def signed(self) -> bool:
        return self.kind != "uint"

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class BlockFormat:
    """A block-scaled format: elements of ``element`` share one scale per ``block`` along an axis.

    Attributes
    ----------
    name : str
        ``mxfp8_e4m3``, ``mxfp8_e5m2``, ``mxfp6_e2m3``, ``mxfp6_e3m2``, ``mxfp4``, ``mxint8``,
        ``nvfp4``.
    element : FloatFormat | IntFormat
        Element format (``mxint8``: INT8 codes with an implicit ``2^-6``, per OCP MX v1.0).
    block : int
        Block size along the axis (32 for MX, 16 for NVFP4).
    scale : FloatFormat
        Format of the block scale (``e8m0fnu`` for MX, ``e4m3fn`` for NVFP4).
    tensor_scale : bool
        Whether an FP32 per-tensor scale sits on top (NVFP4).
    """

    name: str
    element: FloatFormat | IntFormat
    block: int
    scale: FloatFormat
    tensor_scale: bool = False

    family = "block"

    @property
    def bits(self) -> float:
        """Element bits (the scale overhead ``scale.bits / block`` is in :attr:`bits_per_element`)."""
        return self.element.bits

    @property
    def bits_per_element(self) -> float:
        """Element bits plus the amortised block-scale bits."""
        return self.element.bits + self.scale.bits / self.block

    @property
    def emax_elem(self) -> int:
        """Exponent of the element's largest normal binade (0 for mxint8, OCP MX table 1)."""
        if isinstance(self.element, IntFormat):
            return 0
        return self.element.emax

    @property
    def max(self) -> float:
        """Largest element magnitude (in units of the block scale)."""
        if isinstance(self.element, IntFormat):
            return self.element.qmax * 2.0**-6
        return self.element.max

    def __str__(self) -> str:
        return self.name


Format = FloatFormat | IntFormat | BlockFormat

GRANULARITIES = ("none", "tensor", "channel", "group", "block")


@dataclass(frozen=True)
class QuantSpec:
    """A format and how values are scaled onto it.

    Attributes
    ----------
    format : Format
    granularity : {"none", "tensor", "channel", "group", "block"}
        ``none``: a raw cast onto the element grid. ``tensor``: one scale. ``channel``: one scale per
        index of every axis but ``axis`` (the scale is shared along ``axis``). ``group``: one scale
        per ``group_size`` consecutive elements along ``axis``. ``block``: the block format's own
        scaling.
    group_size : int
        Group size for ``group`` (0 otherwise).
    affine : bool
        Min/max scaling with an offset (integers only) instead of symmetric absmax.
    mse : bool
        Choose the clipping (the scale) per group to minimise the squared error, instead of absmax.
    """

    format: Format
    granularity: str
    group_size: int = 0
    affine: bool = False
    mse: bool = False

    def __str__(self) -> str:
        parts = [self.format.name]
        if self.granularity != default_granularity(self.format):
            parts.append(f"group{self.group_size}" if self.granularity == "group" else self.granularity)
        if self.affine:
            parts.append("affine")
        if self.mse:
            parts.append("mse")
        return ":".join(parts)


def default_granularity(fmt: Format) -> str:
    """``none`` for floats (a raw cast), ``tensor`` for integers, ``block`` for block formats."""
    return {"float": "none", "int": "tensor", "block": "block"}[fmt.family]
