"""Sampled sketches and the quantities both engines need (theory.md, "Data and model").

Sketch of size ``M``: ``S_M = G[:M] / sqrt(M)`` with ``G`` an ``M_max x d`` matrix of i.i.d.
standard normals drawn from ``numpy.random.default_rng(seed)``; sizes are nested, so the risk
surface is smooth in ``M`` (one sketch per seed, not an average over sketches).

Given ``S``, the sketched feature ``z = S x`` is ``N(0, Sigma)``, ``Sigma = S H S^T`` with
eigen-decomposition ``Sigma = U diag(mu) U^T``. The best sketched predictor is
``v* = Sigma^-1 S H w*`` and the residual ``r = y - <v*, z>`` is independent of ``z`` with variance
``sigma^2 + Approx``, ``Approx = w*^T H w* - w*^T H S^T Sigma^-1 S H w*``. Averaging over the prior
``w* ~ N(0, Pi)``, ``Pi = diag(i^(-b))``:

* ``q_k = E[(U^T v*)_k^2] = (U^T W U)_kk / mu_k^2`` with ``W = S H Pi H S^T``;
* ``E[Approx] = tr(H Pi) - sum_k (U^T W U)_kk / mu_k``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np


def single_thread_blas():
    """Context manager limiting BLAS to one thread (threadpoolctl, when installed).

    The matrices here are small (M <= ~1000): OpenBLAS's worker threads cost more than they
    give, and on a busy 2-core machine their spin-waiting made a 512 x 512 ``eigh`` 30x slower.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - only a speed difference
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


@dataclass(frozen=True)
class Instance:
    """One sketched problem of size ``M``: everything about ``(S, H, prior)`` the engines use.

    Attributes
    ----------
    mu : ndarray, shape (M,)
        Eigenvalues of ``Sigma`` (ascending).
    U : ndarray, shape (M, M)
        Eigenvectors (columns) of ``Sigma``.
    q : ndarray, shape (M,)
        ``E[(U^T v*)_k^2]`` over the prior.
    approx : float
        ``E[Approx(M)]`` over the prior (the full-precision approximation error).
    sketch : ndarray, shape (M, d)
        ``S`` itself (the Monte Carlo engine draws ``w*`` per seed through it).
    h : ndarray, shape (d,)
        ``lambda_i = i^(-a)``.
    prior : ndarray, shape (d,)
        ``pi_i = i^(-b)``.
    """

    mu: np.ndarray
    U: np.ndarray
    q: np.ndarray
    approx: float
    sketch: np.ndarray
    h: np.ndarray
    prior: np.ndarray

    @property
    def M(self) -> int:
        return int(self.mu.shape[0])

    @property
    def trace(self) -> float:
        """``tr(Sigma)``."""
        return float(self.mu.sum())

    def sample_targets(self, rng: np.random.Generator, seeds: int
                       ) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``w* ~ N(0, Pi)`` per seed; return ``v*`` (seeds, M) and ``Approx`` (seeds,)."""
        xi = rng.standard_normal((seeds, self.h.shape[0]))
        w = xi * np.sqrt(self.prior)                       # (R, d)
        hw = w * self.h                                    # H w*, (R, d)
        s_hw = hw @ self.sketch.T                          # S H w*, (R, M)
        coef = (s_hw @ self.U) / self.mu                   # U^T Sigma^-1 S H w*, (R, M)
        vstar = coef @ self.U.T                            # Sigma^-1 S H w*, (R, M)
        approx = np.einsum("rd,rd->r", w, hw) - np.einsum("rm,rm->r", s_hw, vstar)
        return vstar, np.maximum(approx, 0.0)


_FAMILIES: dict = {}


def _family(a: float, b: float, d: int, seed: int, m_max: int):
    # Nested sizes: the largest family computed so far serves every smaller M.
    key = (a, b, d, seed)
    cached = _FAMILIES.get(key)
    if cached is not None and cached[0].shape[0] >= m_max:
        return cached
    if len(_FAMILIES) >= 8:
        _FAMILIES.pop(next(iter(_FAMILIES)))
    _FAMILIES[key] = _build_family(a, b, d, seed, m_max)
    return _FAMILIES[key]


def _build_family(a: float, b: float, d: int, seed: int, m_max: int):
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((m_max, d))                    # rows nested in m_max
    i = np.arange(1, d + 1, dtype=np.float64)
    lam = i ** (-a)
    prior = i ** (-b)
    sigma = (g * lam) @ g.T                                # G H G^T
    w = (g * (lam * lam * prior)) @ g.T                    # G H Pi H G^T
    return g, lam, prior, sigma, w


def _round_up(m: int) -> int:
    # Cache families at power-of-two sizes so that a sweep over M reuses one Gram matrix.
    return 1 << max(0, int(m - 1).bit_length())


def instance(a: float, M: int, d: int, b: float = 0.0, seed: int = 0) -> Instance:
    """The sketched problem of size ``M`` (nested in every larger size with the same seed, d).

    Cost: one ``M' x d`` Gram matrix per ``(a, b, d, seed)`` and power-of-two ``M' >= M``
    (cached), then an ``M x M`` eigen-decomposition.
    """
    with single_thread_blas():
        g, lam, prior, sigma_full, w_full = _family(float(a), float(b), int(d), int(seed),
                                                    _round_up(M))
        sigma = sigma_full[:M, :M] / M
        w = w_full[:M, :M] / M
        mu, U = np.linalg.eigh(sigma)
    uwu = np.einsum("ik,ij,jk->k", U, w, U)                # diag(U^T W U)
    q = uwu / mu**2
    approx = float(np.sum(lam * prior) - np.sum(uwu / mu))
    return Instance(mu=mu, U=U, q=q, approx=max(approx, 0.0), sketch=g[:M] / np.sqrt(M),
                    h=lam, prior=prior)


def problem_instance(problem) -> Instance:
    """:func:`instance` for a :class:`~bitscale.theory.problem.Problem`."""
    return instance(problem.a, problem.M, problem.d, problem.b, problem.seed)
