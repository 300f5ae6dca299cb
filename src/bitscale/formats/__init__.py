"""bitscale.formats: bit-exact emulation of the number formats we study.

Formats are small frozen objects parsed from strings (``parse("e4m3fn")``); ``str()`` gives the
canonical name. Element formats: floating point ExMy (1 ≤ E ≤ 8, 0 ≤ M ≤ 23) with the IEEE, ``fn``,
``fnuz`` and ``fnu`` special-value conventions, INT-k / UINT-k (1 ≤ k ≤ 16), ``binary`` and
``ternary``. Block formats: OCP MX (``mxfp8_e4m3``, ``mxfp8_e5m2``, ``mxfp6_e2m3``, ``mxfp6_e3m2``,
``mxfp4``, ``mxint8``) and ``nvfp4``.

* :func:`cast` rounds elementwise onto a format's grid (no scaling), exactly as ml_dtypes does for
  round-to-nearest-even (tested bit for bit).
* :func:`quantize` fake-quantizes with scaling (``"int4:group128:affine"``, ``"e4m3fn:tensor"``,
  ``"mxfp4"``); :func:`encode` / :func:`decode` split it into integer codes and scales.
* :func:`noise_profile` fits ``Var[Q(u) - u | u] ≈ eps_mul · u² + eps_add`` on data: the bridge
  to the theory's multiplicative and additive noise models.
"""

from bitscale.formats.cast import ROUNDINGS, cast
from bitscale.formats.describe import FormatInfo, describe
from bitscale.formats.noise import NoiseProfile, noise_profile
from bitscale.formats.quantize import Scales, decode, encode, quantize
from bitscale.formats.registry import (
    ALIASES,
    BLOCK_NAMES,
    BUILTIN,
    FLOAT_NAMES,
    INT_NAMES,
    parse,
    parse_format,
    parse_spec,
)
from bitscale.formats.types import (
    BlockFormat,
    FloatFormat,
    Format,
    IntFormat,
    QuantSpec,
    Special,
)

__all__ = [
    "ALIASES", "BLOCK_NAMES", "BUILTIN", "FLOAT_NAMES", "INT_NAMES", "ROUNDINGS",
    "BlockFormat", "FloatFormat", "Format", "FormatInfo", "IntFormat", "NoiseProfile", "QuantSpec", "Scales",
    "Special", "cast", "decode", "describe", "encode", "noise_profile", "parse", "parse_format", "parse_spec",
    "quantize",
]
