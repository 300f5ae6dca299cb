"""`QuantConfig`: which tensors of a model are quantized, to which format, with which estimator.

A config is written either in full (``"w=int4:channel,a=e4m3fn:tensor,kv=int8:channel,est=denoise"``)
or in the short form used by the scaling-law literature (``"w4a8kv8"``); ``str(cfg)`` gives the
canonical string and ``QuantConfig.parse(str(cfg)) == cfg``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

ESTIMATORS = ("ste", "ste-clip", "denoise")
SPARSITIES = (None, "2:4")
UNQUANTIZED_BITS = 16  # what the laws use for a tensor left in (b)float16/float32

_SHORT = re.compile(r"^(?:w(?P<w>\d+|t))?(?:a(?P<a>\d+|t))?(?:kv(?P<kv>\d+|t))?$")
_KEYS = {"w": "weights", "a": "activations", "kv": "kv_cache", "est": "estimator",
         "lam": "denoise_lambda", "sparsity": "sparsity", "skip": "skip"}


def _short_spec(token: str, role: str) -> str:
    """Spec for one short-form token: ``"4"`` -> int4 at the role's granularity, ``"1"`` -> binary."""
    gran = "tensor" if role == "a" else "channel"
    if token == "t":
        return f"ternary:{gran}"
    bits = int(token)
    if bits == 1:
        return f"binary:{gran}"
    if not 2 <= bits <= 16:
        raise ValueError(f"short form {role}{bits}: bits must be 1 (binary), t (ternary) or 2..16; "
                         f"write the full spec instead, e.g. '{role}=int8:{gran}'")
    return f"int{bits}:{gran}"


def _spec_to_short(spec: str | None, role: str) -> str | None:
    """Inverse of :func:`_short_spec`, or None when ``spec`` has no short form."""
    if spec is None:
        return ""
    gran = "tensor" if role == "a" else "channel"
    m = re.fullmatch(rf"int(\d+):{gran}", spec)
    if m and 2 <= int(m.group(1)) <= 16:
        return f"{role}{m.group(1)}"
    if spec == f"binary:{gran}":
        return f"{role}1"
    if spec == f"ternary:{gran}":
        return f"{role}t"
    return None


def spec_bits(spec: str | None) -> float:
    """Bits per element of a formats spec (16 when ``spec`` is None: unquantized).

    Integers ``int<k>``/``uint<k>`` -> k, ``binary`` -> 1, ``ternary`` -> log2(3) ≈ 1.585,
    ``e<E>m<M>*`` -> 1 + E + M, MX / NVFP4 element widths, ``fp16``/``bf16`` -> 16.
    """
    if spec is None:
        return UNQUANTIZED_BITS
    name = spec.split(":")[0].lower()
    aliases = {"fp8_e4m3": 8, "fp8_e5m2": 8, "fp6_e2m3": 6, "fp6_e3m2": 6, "fp4": 4, "fp16": 16,
               "bf16": 16, "fp32": 32, "nvfp4": 4, "mxfp4": 4, "mxint8": 8, "binary": 1,
               "ternary": math.log2(3)}
    if name in aliases:
        return aliases[name]
    m = re.fullmatch(r"u?int(\d+)", name)
    if m:
        return int(m.group(1))
    m = re.fullmatch(r"(?:mx(?:fp\d+_)?)?e(\d+)m(\d+)\w*", name)
    if m:
        return 1 + int(m.group(1)) + int(m.group(2))
    raise ValueError(f"cannot tell the bit width of spec {spec!r}; expected int<k>, uint<k>, binary, "
                     f"ternary, e<E>m<M>…, fp16, bf16, mxfp*, nvfp4")


def _validate_spec(spec: str, role: str) -> None:
    from bitscale.nn.fakequant import parse_grid

    if parse_grid(spec) is not None:
        return
    try:
        from bitscale import formats
        parse = formats.parse_spec
    except (ImportError, AttributeError):  # formats not importable: fall back to the bit-width check
        spec_bits(spec)
        return
    try:
        parse(spec)
    except Exception as exc:  # formats' own message names the accepted forms
        raise ValueError(f"{role} spec {spec!r} is not a formats spec: {exc}") from exc


@dataclass(frozen=True)
class QuantConfig:
    """What to quantize in a model and how.

    Parameters
    ----------
    weights, activations, kv_cache : str or None
        A :mod:`bitscale.formats` spec for the weights of every ``nn.Linear`` (scales per output
        channel when the spec says ``channel``), the inputs of those layers, and the keys/values
        seen by attention. None leaves that tensor in full precision.
    estimator : {"ste", "ste-clip", "denoise"}
        Gradient estimator for the rounding: straight-through (identity), straight-through with the
        gradient zeroed where the quantizer clips, or the denoising estimator of Ye et al.
    denoise_lambda : float
        Ridge λ of the denoising dequantizer ``s_g = <q, x> / (<q, q> + λ)``.
    sparsity : None or "2:4"
        Semi-structured sparsity applied to the weights before they are quantized.
    skip : tuple of str
        Module names (fully-qualified, or a glob such as ``"*.lm_head"``) left in full precision.
    """

    weights: str | None = None
    activations: str | None = None
    kv_cache: str | None = None
    estimator: str = "ste"
    denoise_lambda: float = 0.01
    sparsity: str | None = None
    skip: tuple[str, ...] = field(default=("lm_head",))

    def __post_init__(self) -> None:
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"estimator {self.estimator!r} is not one of {ESTIMATORS}")
        if self.sparsity not in SPARSITIES:
            raise ValueError(f"sparsity {self.sparsity!r} is not one of {SPARSITIES}")
        if not (isinstance(self.denoise_lambda, (int, float)) and self.denoise_lambda >= 0):
            raise ValueError(f"denoise_lambda must be a float >= 0, got {self.denoise_lambda!r}")
        if isinstance(self.skip, str) or not all(isinstance(s, str) for s in self.skip):
            raise ValueError(f"skip must be a tuple of module names, got {self.skip!r}; "
                             f"write skip=('lm_head',) not skip='lm_head'")
        object.__setattr__(self, "skip", tuple(self.skip))
        object.__setattr__(self, "denoise_lambda", float(self.denoise_lambda))
        for role, spec in (("weights", self.weights), ("activations", self.activations),
                           ("kv_cache", self.kv_cache)):
            if spec is not None:
                _validate_spec(spec, role)

    # ------------------------------------------------------------------ strings
    @classmethod
    def parse(cls, text: "str | QuantConfig | None") -> "QuantConfig":
        """Parse ``"w4a8kv8"``, ``"fp32"``/``"none"``, or the full ``key=value`` form.

        Keys of the full form: ``w``, ``a``, ``kv`` (formats specs), ``est``, ``lam``,
        ``sparsity``, ``skip`` (names joined by ``|``). The first comma-separated part may be a
        short form: ``"w2a8,est=denoise,sparsity=2:4"``.
        """
        if text is None or isinstance(text, QuantConfig):
            return text if text is not None else cls()
        if not isinstance(text, str):
            raise ValueError(f"QuantConfig.parse expects a string, got {type(text).__name__}")
        kwargs: dict = {}
        for i, part in enumerate(p.strip() for p in text.strip().split(",")):
            if not part:
                continue
            if "=" not in part:
                low = part.lower()
                if i != 0:
                    raise ValueError(f"{part!r} in {text!r}: only the first part may be a short "
                                     f"form like 'w4a8kv8'; write key=value after it")
                if low in ("fp32", "none", "float", "fp"):
                    continue
                m = _SHORT.fullmatch(low)
                if m is None or not any(m.groupdict().values()):
                    raise ValueError(f"cannot parse {part!r}: expected a short form "
                                     f"'w<bits>a<bits>kv<bits>' (e.g. 'w4a8kv8', 'w1a1'), 'fp32', "
                                     f"or key=value pairs such as 'w=int4:channel,est=denoise'")
                for role, tok in m.groupdict().items():
                    if tok is not None:
                        kwargs[_KEYS[role]] = _short_spec(tok, role)
                continue
            key, value = (s.strip() for s in part.split("=", 1))
            if key not in _KEYS:
                raise ValueError(f"unknown key {key!r} in {text!r}; expected one of {sorted(_KEYS)}")
            name = _KEYS[key]
            if name == "denoise_lambda":
                kwargs[name] = float(value)
            elif name == "skip":
                kwargs[name] = tuple(s for s in value.split("|") if s)
            else:
                kwargs[name] = None if value.lower() in ("none", "") else value
        return cls(**kwargs)

    def __str__(self) -> str:
        shorts = [_spec_to_short(s, r) for s, r in ((self.weights, "w"), (self.activations, "a"),
                                                   (self.kv_cache, "kv"))]
        parts: list[str] = []
        if all(s is not None for s in shorts):
            head = "".join(shorts)  # type: ignore[arg-type]
            parts.append(head or "fp32")
        else:
            for key, spec in (("w", self.weights), ("a", self.activations), ("kv", self.kv_cache)):
                if spec is not None:
                    parts.append(f"{key}={spec}")
        if self.estimator != "ste":
            parts.append(f"est={self.estimator}")
        if self.denoise_lambda != 0.01:
            parts.append(f"lam={self.denoise_lambda!r}")
        if self.sparsity is not None:
            parts.append(f"sparsity={self.sparsity}")
        if self.skip != ("lm_head",):
            parts.append(f"skip={'|'.join(self.skip)}")
        return ",".join(parts) if parts else "fp32"

    # ------------------------------------------------------------------ derived
    @property
    def bits(self) -> dict[str, float]:
        """``{"w": P_w, "a": P_a, "kv": P_kv}``: bits per element, 16 where unquantized."""
        return {"w": spec_bits(self.weights), "a": spec_bits(self.activations),
                "kv": spec_bits(self.kv_cache)}

    @property
    def is_float(self) -> bool:
        """True when nothing is quantized and there is no sparsity."""
        return self.weights is None and self.activations is None and self.kv_cache is None \
            and self.sparsity is None
