"""From bit widths to noise levels: the ``eps`` of a stochastically rounded grid.

The theory (theory.md) models a quantizer as an unbiased noise ``Q(u) = u + n`` of level ``eps``:
``multiplicative`` (``Cov[n | u] = eps u u^T``, float-like) or ``additive``
(``Cov[n | u] = eps I``, int-like). This module gives a quantizer by its *bits* instead, for
stochastic rounding (SR), the unbiased rounding the theory assumes. SR of a value at fractional
position ``p`` in a step of width ``h`` (``u = lo + p h``) lands on ``lo + h`` with probability
``p``, so ``E[n | u] = 0`` and ``E[n^2 | u] = h^2 p (1 - p) = (u - lo)(lo + h - u)``.

``additive``, ``bits = b``
    The symmetric integer grid ``int<b>`` of :mod:`bitscale.formats` with a per-tensor absmax
    scale equal to ``scale``: ``qmax = 2^(b-1) - 1`` levels each side cover ``[-scale, scale]``,
    step ``Delta = scale / qmax``. For ``p`` uniform on ``[0, 1)`` (exactly so for ``u`` uniform on
    ``[-scale, scale]``, whose ends are grid points) ``E[p (1 - p)] = 1/6``, so

        eps = Delta^2 / 6 = scale^2 / (6 (2^(b-1) - 1)^2)        (units of u^2).

``multiplicative``, ``bits = m`` (mantissa / fraction bits of a float ``ExMy`` in its normal range)
    In the binade ``[2^e, 2^(e+1))`` the step is ``2^(e-m)``. ``eps`` is the regression
    coefficient ``E[n^2] / E[u^2]`` (the definition of
    :func:`bitscale.formats.noise_profile`'s ``eps_mul``) for ``u`` log-uniform over whole binades.
    Every binade scales ``E[n^2]`` and ``E[u^2]`` by the same ``2^(2e)``, so ``eps`` is the ratio on
    one binade, ``v`` log-uniform on ``[1, 2)`` (density ``1 / (v ln 2)``), steps
    ``[a_j, a_j + h)``, ``a_j = 1 + j h``, ``h = 2^-m``, ``j = 0 … 2^m - 1``:

        E[v^2]  = int_1^2 v^2 / (v ln 2) dv = 3 / (2 ln 2)                       (≈ 2.164),
        E[n^2]  = (1 / ln 2) sum_j int_{a_j}^{a_j+h} (v - a_j)(a_j + h - v) / v dv
                = (1 / ln 2) sum_j a_j^2 g(h / a_j),   g(t) = t + t^2/2 - (1 + t) ln(1 + t),
        eps(m)  = E[n^2] / E[v^2] = (2/3) sum_j a_j^2 g(h / a_j)                 (exact),
                = (ln 2 / 9) h^2 - h^4 / 720 + O(h^6).

    The leading term is the often-quoted ``(h^2 / 6) / E[v^2]``, which takes ``p`` uniform inside
    each step; under the ``1/v`` density it is not, and the exact value is lower by a relative
    ``h^2 / (80 ln 2)`` (0.45 % at ``m = 1``, 0.11 % at ``m = 2``). The expansion's second term
    comes from expanding ``1/v`` about each step's midpoint ``c``: the odd terms cancel and
    ``int_0^1 (p(1-p) - 1/6)(p - 1/2)^2 dp = -1/180`` gives ``-(h^4/180) int_1^2 v^-3 dv
    = -h^4 / 480`` in ``ln 2 · E[n^2]``. ``eps`` does not depend on ``scale`` (a float grid is
    scale-free), nor on the exponent bits as long as the data stay in the normal range.

Exact constants: ``eps(0) = (2/3)(3/2 - 2 ln 2) ≈ 0.0758`` (a power-of-two grid),
``eps(m) ≈ 0.07702 · 4^-m`` after that.
"""

from __future__ import annotations

import math
from functools import lru_cache
from numbers import Integral, Real

import numpy as np

MODELS = ("multiplicative", "additive")
"""Noise models with a bits -> eps bridge."""

ADDITIVE_BITS = (2, 53)
"""Accepted integer widths ``b``: ``int1`` has ``qmax = 0`` (no symmetric grid), and beyond 53 the
step ``scale / qmax`` is finer than float64 resolves around ``scale``."""

MANTISSA_BITS = (0, 52)
"""Accepted mantissa widths ``m``: 0 is a power-of-two grid (like ``e8m0``), 52 is float64's."""

# The expansion drops a relative O(h^4) = 2^(-4m); from this m on that is below float64's
# resolution 2^-53, so the expansion equals the exact sum (and avoids summing 2^m terms).
_EXPANSION_FROM = -(-(np.finfo(np.float64).nmant + 1) // 4)

# g(t) by its series below this t (the closed form cancels catastrophically for small t),
# by the closed form above; at t = 1/4 the series' terms fall by 4x each, 40 terms reach 1e-17.
_SERIES_BELOW = 0.25
_SERIES_TERMS = 40


def _check_model(model) -> str:
    if model not in MODELS:
        hint = (" 'multiplicative-elementwise' has the same per-coordinate eps as "
                "'multiplicative': pass 'multiplicative'." if model == "multiplicative-elementwise"
                else "")
        raise ValueError(f"model = {model!r}: expected 'multiplicative' (float-like, "
                         "Cov[n|u] = eps u u^T, bits = mantissa bits) or 'additive' (int-like, "
                         f"Cov[n|u] = eps I, bits = integer width).{hint}")
    return model


def _check_scale(scale) -> float:
    if isinstance(scale, bool) or not isinstance(scale, Real) or not (
            math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale = {scale!r}: expected a finite positive number, the per-tensor "
                         "absmax the integer grid covers ([-scale, scale]); e.g. scale=1.0.")
    return float(scale)


def _check_bits(model: str, bits) -> int:
    lo, hi = ADDITIVE_BITS if model == "additive" else MANTISSA_BITS
    what = "integer width" if model == "additive" else "number of mantissa (fraction) bits"
    if isinstance(bits, bool) or not isinstance(bits, Integral):
        raise ValueError(f"bits = {bits!r} ({type(bits).__name__}): expected an int, the "
                         f"{what}; pass an integer in [{lo}, {hi}] (for a real-valued width "
                         "use bits_from_eps the other way round).")
    b = int(bits)
    if not lo <= b <= hi:
        why = (" int1 has qmax = 2^0 - 1 = 0 levels each side, so no symmetric grid; use "
               "bits >= 2 (int2 = {-1, 0, 1})." if model == "additive" and b == 1 else "")
        raise ValueError(f"bits = {b} for {model!r}: expected the {what} in [{lo}, {hi}].{why}")
    return b


def _check_eps(eps) -> float:
    if isinstance(eps, bool) or not isinstance(eps, Real) or not (
            math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps = {eps!r}: expected a finite noise level eps > 0 (eps = 0 is full "
                         "precision, which no finite bit width reaches).")
    return float(eps)


def _g(t: np.ndarray) -> np.ndarray:
    """``g(t) = t + t^2/2 - (1 + t) ln(1 + t) = sum_{k>=3} (-1)^(k+1) t^k / (k (k-1))``."""
    k = np.arange(3, 3 + _SERIES_TERMS, dtype=np.float64)
    coef = (-1.0) ** (k + 1) / (k * (k - 1))
    series = (t[:, None] ** k[None, :] * coef[None, :]).sum(axis=1)
    closed = t + t * t / 2 - (1 + t) * np.log1p(t)
    return np.where(t < _SERIES_BELOW, series, closed)


@lru_cache(maxsize=None)
def _eps_mul(m: int) -> float:
    """Exact multiplicative ``eps(m)`` (module docstring), by the sum or, from
    ``_EXPANSION_FROM`` on, by its two-term expansion (equal there to float64 rounding)."""
    h = 2.0 ** -m
    if m >= _EXPANSION_FROM:
        return math.log(2) / 9 * h * h - h ** 4 / 720
    a = 1.0 + h * np.arange(2 ** m, dtype=np.float64)
    return float(2.0 / 3.0 * np.sum(a * a * _g(h / a)))


def eps_from_bits(model: str, bits: int, *, scale: float = 1.0) -> float:
    """Noise level ``eps`` of a stochastically rounded grid with ``bits`` bits.

    ``additive``: ``eps = Delta^2 / 6``, ``Delta = scale / (2^(bits-1) - 1)`` (units of ``u^2``;
    the ``int<bits>`` grid with per-tensor absmax ``scale``).
    ``multiplicative``: ``eps = E[n^2] / E[u^2] = (2/3) sum_j a_j^2 g(h / a_j)`` with
    ``h = 2^-bits``, ``a_j = 1 + j h`` (dimensionless; ``≈ (ln 2 / 9) 4^-bits``), for ``u``
    log-uniform over whole binades of the normal range (module docstring for the derivation).

    Parameters
    ----------
    model : {"multiplicative", "additive"}
    bits : int
        ``additive``: integer width ``b`` in ``[2, 53]``. ``multiplicative``: mantissa (fraction)
        bits ``m`` in ``[0, 52]`` (``e4m3fn`` has 3, ``e5m2`` 2, ``bf16`` 7).
    scale : float
        ``additive``: the absmax the grid covers, ``[-scale, scale]``. ``multiplicative``: checked
        but without effect (a float grid is scale-free).

    Returns
    -------
    float
        ``eps > 0``.

    Raises
    ------
    ValueError
        Unknown model, ``bits`` not an int or out of range, ``scale`` not finite and positive.
    """
    model = _check_model(model)
    b = _check_bits(model, bits)
    s = _check_scale(scale)
    if model == "additive":
        step = s / (2 ** (b - 1) - 1)
        return step * step / 6
    return _eps_mul(b)


def bits_from_eps(model: str, eps: float, *, scale: float = 1.0) -> float:
    """Real-valued bit width whose grid has noise level ``eps`` (inverse of
    :func:`eps_from_bits`; equal to it at every integer width in range).

    ``additive``: the exact inverse of ``eps = scale^2 / (6 (2^(b-1) - 1)^2)`` for real ``b > 1``,
    ``b = 1 + log2(1 + scale / sqrt(6 eps))``.
    ``multiplicative``: ``log2 eps(m)`` interpolated linearly between the integer widths
    ``m = 0 … 52`` (it falls by 2 per bit to within 1 %); beyond them, extrapolated from the
    nearest end with the asymptotic slope ``-2`` per bit, so ``eps > eps(0) ≈ 0.0758`` (coarser
    than a power-of-two grid, like theory.md's ``eps = 0.1``) gives a negative width.

    Parameters
    ----------
    model : {"multiplicative", "additive"}
    eps : float
        Noise level ``> 0`` (additive: units of ``u^2``; multiplicative: dimensionless).
    scale : float
        As in :func:`eps_from_bits`.

    Returns
    -------
    float
        Bits: integer width (additive, ``> 1``) or mantissa bits (multiplicative).

    Raises
    ------
    ValueError
        Unknown model, ``eps`` not finite and positive, ``scale`` not finite and positive.
    """
    model = _check_model(model)
    e = _check_eps(eps)
    s = _check_scale(scale)
    if model == "additive":
        return 1.0 + math.log2(1.0 + s / math.sqrt(6.0 * e))
    lo, hi = MANTISSA_BITS
    ms = np.arange(lo, hi + 1)
    logs = np.log2([_eps_mul(int(m)) for m in ms])  # decreasing in m
    y = math.log2(e)
    if y >= logs[0]:
        return float(lo + (logs[0] - y) / 2)
    if y <= logs[-1]:
        return float(hi + (logs[-1] - y) / 2)
    j = int(np.searchsorted(-logs, -y, side="right")) - 1  # logs[j] >= y > logs[j + 1]
    return float(ms[j] + (logs[j] - y) / (logs[j] - logs[j + 1]))


__all__ = ["ADDITIVE_BITS", "MANTISSA_BITS", "MODELS", "bits_from_eps", "eps_from_bits"]
