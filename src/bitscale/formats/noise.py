"""Noise profile of a format on data: multiplicative or additive?

The theory models quantization as ``Q(u) = u + ξ`` with either multiplicative noise
``Var[ξ | u] = ε_mul · u²`` (floating point: the step grows with the binade) or additive noise
``Var[ξ | u] = ε_add`` (integers: one step ``Δ`` everywhere). A real format is in between;
:func:`noise_profile` measures ``ξ = Q(u) - u`` on samples, bins the samples by ``|u|`` into
octaves ``[2^k, 2^(k+1))`` (each bin spans one whole binade of any float grid, so the sawtooth of
the error inside a binade averages out; bins with fewer than ``min_count`` samples are dropped),
and fits per bin

    m_k = mean_k ξ²  ≈  ε_mul · mean_k u²  +  ε_add,        ε_mul, ε_add ≥ 0,

by non-negative least squares weighted by the bin counts (so the fit approximates the regression
of ``ξ²`` on ``u²`` over the samples: the noise power where the data lives; relative weights
would let the few tiny-|u| samples that flush to 0 dominate). ``mean_k ξ²`` is the conditional second moment: the conditional variance plus the
squared conditional bias, which is negligible for nearest rounding. Expected values: a float ExMy
in its normal range has ``ξ`` uniform on a step ``2^(e-M)`` for ``u`` in ``[2^e, 2^(e+1))``, so
``ε_mul`` lies between ``2^(-2M)/48`` and ``2^(-2M)/12``; for data log-uniform over whole
binades it is ``(2 ln 2 / 3) · 2^(-2M)/12 ≈ 0.462 · 2^(-2M)/12`` (``E[u^2]`` over a binade
``[1, 2)`` is ``3 / (2 ln 2)``; stochastic rounding doubles it, see :mod:`bitscale.theory.bits`);
an integer grid of step ``Δ`` gives
``ε_add ≈ Δ² / 12`` (magnitudes below ``Δ/2`` round to 0, an error of ``-u``, which the fit sees as
a small multiplicative part).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from bitscale.formats.cast import check_tensor


@dataclass(frozen=True)
class NoiseBin:
    """One magnitude bin: ``lo ≤ |u| ≤ hi``, ``count`` samples, the means of ``u²`` and ``ξ²``."""

    lo: float
    hi: float
    count: int
    mean_u2: float
    mean_err2: float


@dataclass(frozen=True)
class NoiseProfile:
    """Fitted ``E[ξ² | u] ≈ eps_mul · u² + eps_add`` of a format on data.

    Attributes
    ----------
    spec : str
        Canonical spec that was measured.
    eps_mul : float
        Multiplicative coefficient (dimensionless, relative variance).
    eps_add : float
        Additive coefficient (units of ``u²``).
    r2 : float
        ``1 - Σ_k n_k (m_k - fit_k)² / Σ_k n_k m_k²``: the uncentred, count-weighted R² of the fit
        over bins (1 is a perfect fit). Uncentred because a purely additive profile is flat, where
        the centred R² is undefined.
    dominant : {"multiplicative", "additive"}
        Which term carries more of the mean noise power ``eps_mul · E[u²]`` vs ``eps_add``.
    share_mul : float
        ``eps_mul · E[u²] / (eps_mul · E[u²] + eps_add)``.
    mse : float
        ``E[ξ²]`` over all finite samples.
    bins : tuple of NoiseBin
    """

    spec: str
    eps_mul: float
    eps_add: float
    r2: float
    dominant: str
    share_mul: float
    mse: float
    bins: tuple[NoiseBin, ...]


def _fit(u2: np.ndarray, m: np.ndarray, w: np.ndarray) -> tuple[float, float, float]:
    """Non-negative weighted least squares of ``m ≈ a·u2 + b`` with weights ``w``."""
    sw = np.sqrt(w)
    candidates = []
    A = np.stack([u2, np.ones_like(u2)], axis=1) * sw[:, None]
    coef, *_ = np.linalg.lstsq(A, m * sw, rcond=None)
    if coef[0] >= 0 and coef[1] >= 0:
        candidates.append((coef[0], coef[1]))
    a = float(np.sum(w * u2 * m) / np.sum(w * u2 * u2)) if np.any(u2 > 0) else 0.0
    candidates.append((max(a, 0.0), 0.0))
    candidates.append((0.0, float(np.sum(w * m) / np.sum(w))))

    def sse(c):
        return float(np.sum(w * (m - c[0] * u2 - c[1]) ** 2))

    a, b = min(candidates, key=sse)
    r2 = 1.0 - sse((a, b)) / float(np.sum(w * m * m))
    return float(a), float(b), float(r2)


def noise_profile(spec, samples: torch.Tensor, axis: int = -1, min_count: int = 64,
                  rounding: str = "nearest", generator: torch.Generator | None = None
                  ) -> NoiseProfile:
    """Measure and decompose the quantization noise of ``spec`` on ``samples``.

    Parameters
    ----------
    spec : str or QuantSpec
        Any :func:`~bitscale.formats.quantize` spec (``"e4m3fn"``, ``"int8:tensor"`` …).
    samples : torch.Tensor
        Data ``u`` (floating, any shape); quantized as a whole with :func:`quantize` along ``axis``.
    min_count : int
        Octave bins with fewer samples are left out of the fit (at least 2 bins must remain).
    rounding : str
        Rounding rule; the default is the format's own, round-to-nearest-even.

    Returns
    -------
    NoiseProfile
    """
    from bitscale.formats.quantize import _check, _quantize

    check_tensor(samples)
    q = _check(samples, spec, axis, rounding)
    u = samples.detach()
    y = _quantize(u, q, axis, rounding, generator)
    uu = u.reshape(-1).to(torch.float64).cpu().numpy()
    ee = (y.reshape(-1).to(torch.float64).cpu().numpy() - uu)
    keep = np.isfinite(uu) & np.isfinite(ee) & (uu != 0)
    uu, ee = uu[keep], ee[keep]
    a = np.abs(uu)
    _, octave = np.frexp(a)  # a in [2^(octave-1), 2^octave)
    out = []
    for k in np.unique(octave):
        idx = octave == k
        n = int(idx.sum())
        if n >= min_count:
            out.append(NoiseBin(float(np.ldexp(1.0, int(k) - 1)), float(np.ldexp(1.0, int(k))), n,
                                float(np.mean(uu[idx] ** 2)), float(np.mean(ee[idx] ** 2))))
    if len(out) < 2 or any(b.mean_err2 == 0 for b in out) and len(
            [b for b in out if b.mean_err2 > 0]) < 2:
        raise ValueError(f"noise_profile needs at least 2 octaves of |u| with >= {min_count} "
                         f"samples and nonzero error; got {len(out)} from {uu.size} finite nonzero "
                         "samples. Pass more (or more spread) samples, or lower min_count")
    out = [b for b in out if b.mean_err2 > 0]
    u2 = np.array([b.mean_u2 for b in out])
    m = np.array([b.mean_err2 for b in out])
    eps_mul, eps_add, r2 = _fit(u2, m, np.array([b.count for b in out], dtype=float))
    mean_u2 = float(np.mean(uu**2))
    total = eps_mul * mean_u2 + eps_add
    share = eps_mul * mean_u2 / total if total > 0 else 0.0
    return NoiseProfile(spec=str(q), eps_mul=eps_mul, eps_add=eps_add, r2=r2,
                        dominant="multiplicative" if share >= 0.5 else "additive",
                        share_mul=float(share), mse=float(np.mean(ee**2)), bins=tuple(out))
