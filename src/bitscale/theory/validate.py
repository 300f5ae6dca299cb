"""Exact engine against Monte Carlo on every configuration the exact engine supports.

The matrix is places x schemes x schedules: each of the six places quantized alone with the
``multiplicative`` and the ``additive`` model, under the ``constant`` schedule with batch 1 and the
``geometric`` schedule with batch 2 (so the batch terms are covered too), plus full precision
under both. A case passes when ``|exact - MC| <= 3 SE`` at every ``N`` of the grid. Each case also
reports its *power*: the largest ``|exact_q - exact_fp| / SE`` over the grid, i.e. how many standard
errors the quantizer's terms move the risk, so that a passing case is known to test those terms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bitscale.theory.exact import exact_risk
from bitscale.theory.montecarlo import montecarlo_risk
from bitscale.theory.problem import FULL_PRECISION, PLACES, Noise, Problem, Quantization

# Noise levels large enough that every quantizer moves the risk by many standard errors.
MATRIX_EPS = {
    "data": {"multiplicative": 0.2, "additive": 0.05},
    "label": {"multiplicative": 1.0, "additive": 2.0},
    "param": {"multiplicative": 1.0, "additive": 1.0},
    "activation": {"multiplicative": 1.0, "additive": 2.0},
    "grad": {"multiplicative": 1.0, "additive": 2.0},
    "weights": {"multiplicative": 0.003, "additive": 0.003},
}
SCHEDULES = (("constant", 1), ("geometric", 2))


@dataclass(frozen=True)
class ValidationCase:
    """One configuration of the matrix and its comparison.

    Attributes
    ----------
    place, scheme, schedule, batch, eps
        The configuration (``place == "none"`` for full precision).
    n : ndarray of int
    exact, mc, se : ndarray
        Exact risk, Monte Carlo mean and its standard error at each ``N``.
    max_z : float
        ``max_N |exact - MC| / SE``.
    power : float
        ``max_N |exact - exact_fp| / SE`` (0 for the full-precision case).
    """

    place: str
    scheme: str
    schedule: str
    batch: int
    eps: float
    n: np.ndarray
    exact: np.ndarray
    mc: np.ndarray
    se: np.ndarray
    max_z: float
    power: float

    @property
    def passed(self) -> bool:
        return self.max_z <= 3.0


def validation_matrix() -> list[tuple[str, str, float]]:
    """``(place, scheme, eps)`` of every quantized case, plus ``("none", "none", 0)``."""
    cases = [("none", "none", 0.0)]
    for place in PLACES:
        for scheme in ("multiplicative", "additive"):
            cases.append((place, scheme, MATRIX_EPS[place][scheme]))
    return cases


def validate(*, M: int = 8, n_grid=(16, 64, 256), seeds: int = 1500, a: float = 2.0,
             rng_seed: int = 0, progress=None) -> list[ValidationCase]:
    """Run the whole matrix; return one :class:`ValidationCase` per (case, schedule).

    Parameters
    ----------
    M : int
        Model size (``d = 10 M``); small, because Monte Carlo is the expensive side.
    n_grid : sequence of int
        Sample counts compared (multiples of 4).
    seeds : int
        Monte Carlo seeds per case.
    progress : callable, optional
        Called with the case's text after each case (for a progress bar).
    """
    out = []
    for schedule, batch in SCHEDULES:
        problem = Problem(a=a, M=M, d=10 * M, lr=0.25, sigma2=1.0, schedule=schedule,
                          batch=batch, seed=0)
        fp = exact_risk(problem, FULL_PRECISION, n_grid)
        for place, scheme, eps in validation_matrix():
            quant = (FULL_PRECISION if place == "none"
                     else Quantization(**{place: Noise(scheme, eps)}))
            ex = exact_risk(problem, quant, n_grid)
            mc = montecarlo_risk(problem, quant, n_grid, seeds=seeds, rng_seed=rng_seed)
            z = np.abs(ex.risk - mc.risk) / mc.se
            power = 0.0 if place == "none" else float(np.max(np.abs(ex.risk - fp.risk) / mc.se))
            out.append(ValidationCase(place=place, scheme=scheme, schedule=schedule, batch=batch,
                                      eps=eps, n=ex.n, exact=ex.risk, mc=mc.risk, se=mc.se,
                                      max_z=float(z.max()), power=power))
            if progress is not None:
                progress(f"{place}/{scheme}/{schedule}")
    return out
