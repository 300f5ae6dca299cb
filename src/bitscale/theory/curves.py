"""The result of either engine: an excess-risk curve over a grid of sample counts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RiskCurve:
    """Expected excess risk ``E[R(v_N)] - sigma^2`` at each ``N`` of a grid.

    Attributes
    ----------
    engine : {"exact", "montecarlo"}
    n : ndarray of int, shape (K,)
        Samples seen (``N = T * B``).
    risk : ndarray, shape (K,)
        Mean excess risk (exact expectation, or the Monte Carlo mean over seeds).
    se : ndarray, shape (K,)
        Standard error of ``risk`` (zeros for the exact engine).
    seeds : int
        Monte Carlo seeds (0 for the exact engine).
    lr : float
        Initial step actually used.
    samples : ndarray, shape (K, R), optional
        Per-seed excess risks (Monte Carlo only), for paired comparisons between runs that share
        ``rng_seed`` (common random numbers).
    """

    engine: str
    n: np.ndarray
    risk: np.ndarray
    se: np.ndarray
    seeds: int
    lr: float
    samples: np.ndarray | None = None
