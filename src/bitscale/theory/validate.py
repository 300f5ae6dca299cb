"""Exact engine against Monte Carlo on every configuration the exact engine supports.

The matrix is places x schemes x schedules: each of the six places quantized alone with the
``multiplicative`` and the ``additive`` model, under the ``constant`` schedule with batch 1 and the
``geometric`` schedule with batch 2 (so the batch terms are covered too), plus full precision
under both. A case passes when ``|exact - MC| <= 3 SE`` at every ``N`` of the grid. Each case also
reports its *power*: the largest ``|exact_q - exact_fp| / SE`` over the grid, i.e. how many standard
errors the quantizer's terms move the risk, so that a passing case is known to test those terms.

A second block checks the two read-outs of theory.md on top of the training recursion: the
averaged iterates (``iterate = "average"`` and ``"tail"``, power = how far averaging moves the
risk from the last iterate) and the quantized-inference test risk (``test = "quantized"`` for the
forward-pass places ``data``, ``param``, ``activation``, power = how far it moves the risk from the
clean test).
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
    iterate, test
        The read-out (:attr:`Problem.iterate`, :attr:`Problem.test`).
    n : ndarray of int
    exact, mc, se : ndarray
        Exact risk, Monte Carlo mean and its standard error at each ``N``.
    max_z : float
        ``max_N |exact - MC| / SE``.
    power : float
        ``max_N |exact - exact_ref| / SE``: ``exact_ref`` is full precision for the training
        matrix (0 for the full-precision case), the last iterate for averaging cases and the
        clean test for quantized-inference cases.
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
    iterate: str = "last"
    test: str = "clean"

    @property
    def passed(self) -> bool:
        return self.max_z <= 3.0


def validation_matrix() -> list[tuple[str, str, float, str, str]]:
    """``(place, scheme, eps, iterate, test)`` of every case.

    The training matrix (last iterate, clean test): full precision plus each place with each
    scheme. The read-out block: full precision and a few training quantizers under ``average``
    and ``tail``; the forward-pass places with each scheme under a quantized test, for the last
    and the averaged iterate.
    """
    cases = [("none", "none", 0.0, "last", "clean")]
    for place in PLACES:
        for scheme in ("multiplicative", "additive"):
            cases.append((place, scheme, MATRIX_EPS[place][scheme], "last", "clean"))
    for iterate in ("average", "tail"):
        cases.append(("none", "none", 0.0, iterate, "clean"))
        for place, scheme in (("data", "additive"), ("data", "multiplicative"),
                              ("grad", "multiplicative"), ("weights", "additive")):
            cases.append((place, scheme, MATRIX_EPS[place][scheme], iterate, "clean"))
    for iterate in ("last", "average"):
        for place in ("data", "param", "activation"):
            for scheme in ("multiplicative", "additive"):
                cases.append((place, scheme, MATRIX_EPS[place][scheme], iterate, "quantized"))
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
        base = Problem(a=a, M=M, d=10 * M, lr=0.25, sigma2=1.0, schedule=schedule,
                       batch=batch, seed=0)
        fp = exact_risk(base, FULL_PRECISION, n_grid)
        for place, scheme, eps, iterate, test in validation_matrix():
            problem = base.with_(iterate=iterate, test=test)
            quant = (FULL_PRECISION if place == "none"
                     else Quantization(**{place: Noise(scheme, eps)}))
            ex = exact_risk(problem, quant, n_grid)
            mc = montecarlo_risk(problem, quant, n_grid, seeds=seeds, rng_seed=rng_seed)
            z = np.abs(ex.risk - mc.risk) / mc.se
            if iterate == "last" and test == "clean":
                ref = None if place == "none" else fp.risk
            elif test == "quantized":
                ref = exact_risk(problem.with_(test="clean"), quant, n_grid).risk
            else:
                ref = exact_risk(problem.with_(iterate="last"), quant, n_grid).risk
            power = 0.0 if ref is None else float(np.max(np.abs(ex.risk - ref) / mc.se))
            out.append(ValidationCase(place=place, scheme=scheme, schedule=schedule, batch=batch,
                                      eps=eps, n=ex.n, exact=ex.risk, mc=mc.risk, se=mc.se,
                                      max_z=float(z.max()), power=power, iterate=iterate,
                                      test=test))
            if progress is not None:
                progress(f"{place}/{scheme}/{schedule}/{iterate}/{test}")
    return out
