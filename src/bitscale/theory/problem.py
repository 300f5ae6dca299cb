"""The problem and its quantization: two frozen, validated configs (theory.md, "Data and model").

A :class:`Problem` fixes the regression task and the optimiser:

* covariates ``x ~ N(0, H)``, ``H = diag(i^(-a))``, ``i = 1 … d``, ``a > 1``;
* target ``w* ~ N(0, diag(i^(-b)))`` (``b = 0``: the isotropic prior), label
  ``y = <w*, x> + xi``, ``xi ~ N(0, sigma2)``;
* sketch ``S`` (``M x d``, i.i.d. ``N(0, 1/M)``), model ``<v, S x>``;
* one pass of mini-batch SGD over ``N`` fresh samples, batch ``B``, initial step ``lr`` with a
  ``constant`` or ``geometric`` schedule (:mod:`bitscale.theory.schedule`).

A :class:`Quantization` says, for each of the six places of theory.md (``data``, ``label``,
``param``, ``activation``, ``grad``, ``weights``), which :class:`Noise` model acts there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import numpy as np

PLACES = ("data", "label", "param", "activation", "grad", "weights")
"""The six places where quantization can enter, in the order a step meets them."""

IDEAL_MODELS = ("multiplicative", "multiplicative-elementwise", "additive")
"""The idealised noise models; ``format`` is the fourth model (a real number format)."""

SCHEDULES = ("constant", "geometric")

ITERATES = ("last", "average", "tail")
"""What SGD returns: the last iterate, the average of all ``T`` iterates ``v_1 … v_T``
(Polyak-Ruppert), or the tail average of the last ``ceil(T/2)`` iterates."""

TESTS = ("clean", "quantized")
"""How test risk is measured: on clean features with the learned ``v`` in full precision, or with
the training quantizers of the forward pass (``data``, ``param``, ``activation``) applied at
inference too."""


def spectrum_trace(a: float, d: int) -> float:
    """``tr(H) = sum_{i=1}^{d} i^(-a)``, the expected ``tr(Sigma)`` of a sketched problem."""
    return float(np.sum(np.arange(1, d + 1, dtype=np.float64) ** (-a)))


@dataclass(frozen=True)
class Problem:
    """Sketched linear regression trained by one-pass SGD (theory.md).

    Parameters
    ----------
    a : float
        Spectrum exponent, ``lambda_i = i^(-a)``; must exceed 1.
    M : int
        Model size (rows of the sketch), ``1 <= M <= d``.
    d : int
        Ambient dimension; ``d >= 10 M`` is enough to stand for ``d = infinity``.
    b : float
        Prior exponent, ``w* ~ N(0, diag(i^(-b)))``; 0 is the isotropic prior.
    sigma2 : float
        Label-noise variance ``sigma^2 >= 0``.
    batch : int
        Mini-batch size ``B``.
    lr : float
        Initial step ``gamma``; ``gamma * tr(H) < 1`` is required (``tr(H)`` is ``E tr(Sigma)``;
        the engines re-check against the sampled ``Sigma``).
    schedule : {"constant", "geometric"}
        ``geometric``: ``gamma`` halved at each of ``ceil(log2 T)`` equal phases of the ``T = N/B``
        steps, last iterate returned.
    seed : int
        Seed of the sketch ``S`` (one sketch per seed; sizes are nested: the sketch of size ``M``
        is the first ``M`` rows of the sketch of any larger size with the same seed and ``d``).
    iterate : {"last", "average", "tail"}
        The returned predictor: ``v_T``, the average ``(1/T) sum_{t=1}^{T} v_t`` or the tail average
        over ``t > T - ceil(T/2)`` (:data:`ITERATES`).
    test : {"clean", "quantized"}
        ``clean``: ``R(v) = E(y - <v, z>)^2`` (the model deployed in full precision);
        ``quantized``: ``E(y - Q_a(<Q_p(v), Q_d(z)>))^2``, the training quantizers of the forward pass
        applied at inference (label, grad and weights quantizers do not act at inference).
    """

    a: float = 2.0
    M: int = 64
    d: int = 2048
    b: float = 0.0
    sigma2: float = 1.0
    batch: int = 1
    lr: float = 0.25
    schedule: str = "geometric"
    seed: int = 0
    iterate: str = "last"
    test: str = "clean"

    def __post_init__(self) -> None:
        if not (isinstance(self.a, (int, float)) and self.a > 1):
            raise ValueError(f"Problem.a = {self.a!r}: the spectrum i^(-a) needs a > 1 to have a "
                             "finite trace. Use a > 1 (the papers' examples use a = 2).")
        if not (isinstance(self.M, (int, np.integer)) and self.M >= 1):
            raise ValueError(f"Problem.M = {self.M!r}: expected a positive integer model size.")
        if not (isinstance(self.d, (int, np.integer)) and self.d >= 1):
            raise ValueError(f"Problem.d = {self.d!r}: expected a positive integer dimension.")
        if self.M > self.d:
            raise ValueError(f"Problem.M = {self.M} exceeds d = {self.d}: the sketch S (M x d) "
                             f"must compress. Use d >= M (d >= 10*M = {10 * self.M} stands for "
                             "d = infinity).")
        if not math.isfinite(self.b) or self.b < 0:
            raise ValueError(f"Problem.b = {self.b!r}: expected a prior exponent b >= 0 "
                             "(0 is the isotropic prior).")
        if not (math.isfinite(self.sigma2) and self.sigma2 >= 0):
            raise ValueError(f"Problem.sigma2 = {self.sigma2!r}: expected a variance >= 0.")
        if not (isinstance(self.batch, (int, np.integer)) and self.batch >= 1):
            raise ValueError(f"Problem.batch = {self.batch!r}: expected a positive integer.")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"Problem.schedule = {self.schedule!r}: expected one of {SCHEDULES}.")
        if self.iterate not in ITERATES:
            raise ValueError(f"Problem.iterate = {self.iterate!r}: expected one of {ITERATES} "
                             "(last iterate, average of all iterates, average of the last half).")
        if self.test not in TESTS:
            raise ValueError(f"Problem.test = {self.test!r}: expected one of {TESTS} (clean "
                             "features, or the forward-pass quantizers applied at inference).")
        trace = spectrum_trace(self.a, self.d)
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"Problem.lr = {self.lr!r}: expected a positive step size.")
        if self.lr * trace >= 1:
            raise ValueError(
                f"Problem.lr = {self.lr} diverges: gamma * tr(Sigma) = {self.lr * trace:.3f} >= 1 "
                f"(tr(Sigma) ~ tr(H) = {trace:.4f} for a = {self.a}, d = {self.d}). "
                f"Use lr < {1 / trace:.4f}, e.g. lr = {0.5 / trace:.4f}.")

    def with_(self, **changes) -> "Problem":
        """A copy with ``changes`` applied (validated again)."""
        return replace(self, **changes)


@dataclass(frozen=True)
class Noise:
    """One quantizer: an unbiased noise model ``Q(u) = u + n``, ``E[n | u] = 0``.

    Parameters
    ----------
    model : {"multiplicative", "multiplicative-elementwise", "additive", "format"}
        ``multiplicative``: ``Q(u) = u (1 + sqrt(eps) xi)``, one standard normal ``xi`` per vector,
        so ``Cov[n | u] = eps u u^T``. ``multiplicative-elementwise``: one ``xi`` per coordinate,
        ``Cov[n | u] = eps diag(u * u)``. ``additive``: ``n ~ N(0, eps I)``. ``format``: a real
        number format of :mod:`bitscale.formats` with stochastic rounding (Monte Carlo only).
    eps : float
        Noise level ``eps >= 0`` of the idealised models (0 for ``format``).
    spec : str, optional
        Format spec (``"e4m3fn:channel"``, ``"int8:channel"``, ...) when ``model == "format"``.
    bits : int, optional
        Give the idealised model by its bits instead of ``eps``
        (:func:`bitscale.theory.bits.eps_from_bits`, stochastic rounding): ``additive``: an
        ``int<bits>`` grid over ``[-scale, scale]``, ``eps = (scale / (2^(bits-1) - 1))^2 / 6``;
        ``multiplicative`` (and ``-elementwise``): ``bits`` mantissa bits,
        ``eps ~= (ln 2 / 9) 4^(-bits)``. ``eps`` is then derived and must be left at 0.
    scale : float
        Range of the ``additive`` integer grid, in the units of the quantized quantity.
    """

    model: str
    eps: float = 0.0
    spec: str | None = None
    bits: int | None = None
    scale: float = 1.0

    def __post_init__(self) -> None:
        if self.model not in (*IDEAL_MODELS, "format"):
            raise ValueError(f"Noise.model = {self.model!r}: expected one of "
                             f"{(*IDEAL_MODELS, 'format')}.")
        if self.model == "format":
            if not self.spec:
                raise ValueError("Noise(model='format') needs spec=, e.g. 'e4m3fn:channel'.")
            if self.bits is not None:
                raise ValueError("Noise(model='format') takes its bits from the spec; drop bits=.")
        else:
            if self.spec is not None:
                raise ValueError(f"Noise.spec = {self.spec!r} is only for model='format'.")
            if self.bits is not None:
                if self.eps != 0.0:
                    raise ValueError(f"Noise(eps={self.eps!r}, bits={self.bits!r}): give eps or "
                                     "bits, not both (bits derive eps).")
                from bitscale.theory.bits import eps_from_bits

                base = "additive" if self.model == "additive" else "multiplicative"
                object.__setattr__(self, "eps", eps_from_bits(base, self.bits, scale=self.scale))
            if not (math.isfinite(self.eps) and self.eps >= 0):
                raise ValueError(f"Noise.eps = {self.eps!r} for {self.model!r}: a noise variance "
                                 "cannot be negative. Use eps >= 0.")

    @classmethod
    def parse(cls, text: str) -> "Noise":
        """``"additive:0.01"``, ``"multiplicative:0.1"``, ``"additive:8bit"``,
        ``"additive:8bit:scale=4"``, ``"multiplicative:3bit"`` or ``"format:e4m3fn:channel"``."""
        model, _, rest = text.partition(":")
        if model == "format":
            return cls("format", spec=rest)
        level, _, opt = rest.partition(":")
        bits, scale, eps = None, 1.0, 0.0
        try:
            if level.endswith("bit"):
                bits = int(level[:-3])
                if opt:
                    key, _, val = opt.partition("=")
                    if key != "scale":
                        raise ValueError
                    scale = float(val)
            elif opt:
                raise ValueError
            else:
                eps = float(level)
        except ValueError:
            raise ValueError(f"Noise {text!r}: expected 'MODEL:EPS' (e.g. 'additive:0.01'), "
                             "'MODEL:<B>bit[:scale=S]' (e.g. 'additive:8bit:scale=4') or "
                             "'format:SPEC' (e.g. 'format:int8:channel').") from None
        return cls(model, eps, bits=bits, scale=scale)

    @property
    def commutes(self) -> bool:
        """True when ``Cov[n | u]`` commutes with every covariance (exact engine applies)."""
        return self.model in ("multiplicative", "additive")

    @property
    def label(self) -> str:
        """Short text: ``additive eps=0.01``, ``additive 8bit eps=1.03e-05`` or the format spec."""
        if self.model == "format":
            return self.spec
        bits = "" if self.bits is None else f" {self.bits}bit"
        return f"{self.model}{bits} eps={self.eps:.3g}"


@dataclass(frozen=True)
class Quantization:
    """Which noise acts at each of the six places (``None``: full precision there).

    Examples
    --------
    >>> Quantization(data=Noise("additive", 0.01))
    >>> Quantization.single("grad", "multiplicative", 0.1)
    """

    data: Noise | None = None
    label: Noise | None = None
    param: Noise | None = None
    activation: Noise | None = None
    grad: Noise | None = None
    weights: Noise | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and not isinstance(value, Noise):
                raise TypeError(f"Quantization.{f.name} = {value!r}: expected a Noise or None "
                                "(e.g. Noise('additive', 0.01) or Noise.parse('additive:0.01')).")

    @classmethod
    def single(cls, place: str, model: str, eps: float = 0.0, spec: str | None = None,
               **noise) -> "Quantization":
        """Quantization at one place only; ``noise`` passes ``bits`` / ``scale`` to :class:`Noise`."""
        if place not in PLACES:
            raise ValueError(f"place = {place!r}: expected one of {PLACES}.")
        return cls(**{place: Noise(model, eps, spec, **noise)})

    def items(self) -> list[tuple[str, Noise]]:
        """The quantized places and their noise, in :data:`PLACES` order."""
        return [(p, getattr(self, p)) for p in PLACES if getattr(self, p) is not None]

    @property
    def exact(self) -> bool:
        """True when every quantizer commutes with Sigma, so the exact engine applies."""
        return all(n.commutes for _, n in self.items())

    @property
    def label_text(self) -> str:
        """``data:additive eps=0.01`` style text (``none`` for full precision)."""
        return ", ".join(f"{p}:{n.label}" for p, n in self.items()) or "none"


FULL_PRECISION = Quantization()
