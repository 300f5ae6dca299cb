"""Format names: the built-in formats, their aliases, and the spec grammar.

Grammar of a spec: ``FORMAT[:GRANULARITY][:affine|:symmetric][:mse]`` where GRANULARITY is
``none``, ``tensor``, ``channel`` or ``group<g>``; block formats (``mxfp4`` …, ``nvfp4``) take no
granularity.

FORMAT is a built-in name or alias (:data:`BUILTIN`, :data:`ALIASES`), or a general float
``e<E>m<M>[b<bias>][fn|fnuz]`` (1 ≤ E ≤ 8, 0 ≤ M ≤ 23), ``int<k>`` / ``uint<k>`` (1 ≤ k ≤ 16),
``binary`` or ``ternary``. A plain ``e<E>m<M>`` is IEEE-like (Inf and NaN in the top binade);
``fn`` means finite -- with one NaN pattern when the format has 8 bits or more (``e4m3fn``), and no
NaN at all below 8 bits (``e2m1fn``, ``e2m3fn``, ``e3m2fn``), following ml_dtypes and OCP;
``fnuz`` means finite with the negative-zero code as the only NaN and a default bias of
``2^(E-1)``.
"""

from __future__ import annotations

import difflib
import re
from functools import lru_cache

from bitscale.formats.types import (
    BlockFormat,
    FloatFormat,
    Format,
    IntFormat,
    QuantSpec,
    Special,
    default_granularity,
)

_FLOAT_RE = re.compile(r"^e(?P<e>\d+)m(?P<m>\d+)(?:b(?P<b>-?\d+))?(?P<suffix>fnuz|fnu|fn)?$")
_INT_RE = re.compile(r"^(?P<kind>u?int)(?P<k>\d+)$")

# Canonical names that are not of the e<E>m<M> form, mapped to their ExMy spelling.
_NAMED_FLOATS = {"fp16": "e5m10", "bf16": "e8m7", "fp32": "e8m23"}
_EXMY_TO_NAMED = {v: k for k, v in _NAMED_FLOATS.items()}

ALIASES = {
    "fp8_e4m3": "e4m3fn", "fp8_e5m2": "e5m2", "fp6_e2m3": "e2m3fn", "fp6_e3m2": "e3m2fn",
    "fp4": "e2m1fn", "fp4_e2m1": "e2m1fn", "e8m0": "e8m0fnu", "float16": "fp16", "half": "fp16",
    "bfloat16": "bf16", "float32": "fp32", "mxfp8": "mxfp8_e4m3", "mxfp6": "mxfp6_e2m3",
}
"""Alternative spellings (OCP names and common ones) -> canonical name."""

FLOAT_NAMES = ("e4m3fn", "e4m3fnuz", "e4m3b11fnuz", "e4m3", "e5m2", "e5m2fnuz", "e3m4", "e8m0fnu",
               "e2m3fn", "e3m2fn", "e2m1fn", "fp16", "bf16", "fp32")
INT_NAMES = ("int2", "int3", "int4", "int8", "int16", "uint2", "uint4", "uint8", "binary", "ternary")
BLOCK_NAMES = ("mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e2m3", "mxfp6_e3m2", "mxfp4", "mxint8", "nvfp4")
BUILTIN = FLOAT_NAMES + INT_NAMES + BLOCK_NAMES
"""Names listed by ``bitscale formats`` (any other e<E>m<M>… / int<k> parses too)."""

_ACCEPTED = ("accepted: a built-in name (" + ", ".join(BUILTIN) + "), an alias (" +
             ", ".join(ALIASES) + "), e<E>m<M>[b<bias>][fn|fnuz] with 1<=E<=8 and 0<=M<=23, "
             "int<k> or uint<k> with 1<=k<=16")


def _float_format(e: int, m: int, bias: int | None, suffix: str | None, raw: str) -> FloatFormat:
    if not 1 <= e <= 8:
        raise ValueError(f"format {raw!r}: exponent bits E={e} out of range; expected 1 <= E <= 8")
    if not 0 <= m <= 23:
        raise ValueError(f"format {raw!r}: mantissa bits M={m} out of range; expected 0 <= M <= 23")
    if suffix == "fnu":
        if (e, m) != (8, 0):
            raise ValueError(f"format {raw!r}: the unsigned 'fnu' convention exists only as "
                             "e8m0fnu (the MX scale); use e<E>m<M>fn for a finite signed format")
        special = Special.FNU
    elif suffix == "fnuz":
        special = Special.FNUZ
    elif suffix == "fn":
        special = Special.FN if 1 + e + m >= 8 else Special.FINITE
    else:
        if e < 2:
            raise ValueError(f"format {raw!r}: an IEEE-like format (Inf/NaN in the top binade) "
                             f"needs E >= 2; use 'e{e}m{m}fn' for a finite one")
        special = Special.IEEE
    default_bias = 2 ** (e - 1) if special is Special.FNUZ else 2 ** (e - 1) - 1
    if bias is None:
        bias = default_bias
    name = f"e{e}m{m}" + (f"b{bias}" if bias != default_bias else "") + (suffix or "")
    name = _EXMY_TO_NAMED.get(name, name)
    return FloatFormat(name=name, exp_bits=e, man_bits=m, bias=bias, special=special)


def _block_format(name: str) -> BlockFormat:
    if name == "nvfp4":
        return BlockFormat(name, parse_format("e2m1fn"), 16, parse_format("e4m3fn"), True)
    if name == "mxint8":
        return BlockFormat(name, parse_format("int8"), 32, parse_format("e8m0fnu"))
    elem = {"mxfp8_e4m3": "e4m3fn", "mxfp8_e5m2": "e5m2", "mxfp6_e2m3": "e2m3fn",
            "mxfp6_e3m2": "e3m2fn", "mxfp4": "e2m1fn"}[name]
    return BlockFormat(name, parse_format(elem), 32, parse_format("e8m0fnu"))


def _unknown(raw: str) -> ValueError:
    names = list(BUILTIN) + list(ALIASES)
    close = difflib.get_close_matches(raw, names, n=3, cutoff=0.5)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return ValueError(f"unknown format {raw!r}.{hint} ({_ACCEPTED})")


@lru_cache(maxsize=512)
def parse_format(name: str) -> Format:
    """The :data:`Format` named ``name`` (no scaling suffix); raises ValueError otherwise."""
    if not isinstance(name, str):
        raise ValueError(f"a format name must be a string, got {type(name).__name__}")
    raw = name
    key = name.strip().lower()
    for prefix in ("float8_", "float6_", "float4_"):  # ml_dtypes spellings
        if key.startswith(prefix):
            key = key[len(prefix):]
    key = ALIASES.get(key, key)
    key = _NAMED_FLOATS.get(key, key)
    if key in BLOCK_NAMES:
        return _block_format(key)
    if key in ("binary", "ternary"):
        return IntFormat(key, key, 1 if key == "binary" else 2)
    m = _INT_RE.match(key)
    if m:
        k = int(m.group("k"))
        if not 1 <= k <= 16:
            raise ValueError(f"format {raw!r}: integer width k={k} out of range; expected "
                             "1 <= k <= 16")
        return IntFormat(f"{m.group('kind')}{k}", m.group("kind"), k)
    m = _FLOAT_RE.match(key)
    if m:
        bias = int(m.group("b")) if m.group("b") is not None else None
        return _float_format(int(m.group("e")), int(m.group("m")), bias, m.group("suffix"), raw)
    raise _unknown(raw)


@lru_cache(maxsize=512)
def parse_spec(spec: str | QuantSpec) -> QuantSpec:
    """Parse ``FORMAT[:GRANULARITY][:affine|:symmetric][:mse]`` into a :class:`QuantSpec`.

    Raises
    ------
    ValueError
        On an unknown format or option, a granularity on a block format, ``affine`` on a float
        or ternary format, or a symmetric INT-1 scale (it has no positive level).
    """
    if isinstance(spec, QuantSpec):
        return spec
    if isinstance(spec, (FloatFormat, IntFormat, BlockFormat)):
        return QuantSpec(spec, default_granularity(spec))
    if not isinstance(spec, str):
        raise ValueError(f"a spec must be a string such as 'int4:channel', got "
                         f"{type(spec).__name__}")
    parts = [p.strip().lower() for p in spec.split(":")]
    fmt = parse_format(parts[0])
    granularity, group, affine, mse = default_granularity(fmt), 0, False, False
    for opt in parts[1:]:
        if opt in ("none", "tensor", "channel"):
            granularity = opt
        elif re.fullmatch(r"group\d+", opt):
            group = int(opt[5:])
            if group < 1:
                raise ValueError(f"spec {spec!r}: group size must be >= 1, got {group}")
            granularity = "group"
        elif opt == "affine":
            affine = True
        elif opt in ("symmetric", "absmax"):
            affine = False
        elif opt == "mse":
            mse = True
        else:
            raise ValueError(f"spec {spec!r}: unknown option {opt!r}; expected "
                             "FORMAT[:tensor|:channel|:group<g>|:none][:affine|:symmetric][:mse]")
    if fmt.family == "block" and len(parts) > 1:
        raise ValueError(f"spec {spec!r}: block format {fmt.name!r} has its own block scaling "
                         f"and takes no options; write just {fmt.name!r}")
    if affine and fmt.family == "float":
        raise ValueError(f"spec {spec!r}: ':affine' applies to integer formats; float formats "
                         "are scaled symmetrically (drop ':affine')")
    if affine and fmt.family == "int" and fmt.kind == "ternary":
        raise ValueError(f"spec {spec!r}: ternary is symmetric by definition; drop ':affine'")
    if affine and granularity == "none":
        raise ValueError(f"spec {spec!r}: ':affine' needs a scale; add ':tensor', ':channel' or "
                         "':group<g>'")
    if mse and granularity == "none":
        raise ValueError(f"spec {spec!r}: ':mse' chooses a scale; add ':tensor', ':channel' or "
                         "':group<g>'")
    if (fmt.family == "int" and fmt.kind == "int" and fmt.bits == 1 and not affine
            and granularity != "none"):
        raise ValueError(f"spec {spec!r}: symmetric INT-1 has no positive level to scale onto; "
                         "use 'binary' or 'int1:…:affine'")
    return QuantSpec(fmt, granularity, group, affine, mse)


def parse(spec: str) -> Format | QuantSpec:
    """Parse a format name or a full quantization spec.

    A bare name (``"e4m3fn"``, ``"int4"``, ``"mxfp4"``) gives its :data:`Format`; a name with
    options (``"int4:group128:affine"``) gives a :class:`QuantSpec`. ``str()`` of either is the
    canonical spelling, and ``parse(str(parse(s))) == parse(s)``. Use :func:`parse_spec` to always
    get a :class:`QuantSpec`.

    Raises
    ------
    ValueError
        Unknown names (with "did you mean" suggestions), E/M/k out of range, bad options.
    """
    if isinstance(spec, str) and ":" not in spec:
        return parse_format(spec)
    return parse_spec(spec)
