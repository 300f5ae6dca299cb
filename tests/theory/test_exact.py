"""The exact engine: compiled kernel vs numpy reference vs theory.md's p_k recursion."""

from __future__ import annotations

import numpy as np
import pytest

from bitscale.theory import FULL_PRECISION, Noise, Problem, Quantization, exact_risk, instance
from bitscale.theory import plateau
from bitscale.theory.schedule import step_sizes

CONFIGS = [
    FULL_PRECISION,
    Quantization(data=Noise("additive", 0.02), grad=Noise("multiplicative", 0.3)),
    Quantization(data=Noise("multiplicative", 0.1), param=Noise("additive", 0.1),
                 label=Noise("multiplicative", 0.2)),
    Quantization(activation=Noise("additive", 0.3), weights=Noise("multiplicative", 0.001),
                 label=Noise("additive", 0.5)),
    Quantization(param=Noise("multiplicative", 0.3), weights=Noise("additive", 1e-4),
                 grad=Noise("additive", 0.2)),
]


@pytest.mark.parametrize("quant", CONFIGS, ids=lambda q: q.label_text)
@pytest.mark.parametrize("schedule, batch", [("constant", 1), ("geometric", 3)])
def test_kernel_matches_numpy_reference(quant, schedule, batch):
    p = Problem(a=1.5, M=12, d=120, lr=0.15, schedule=schedule, batch=batch, seed=2)
    n = [batch * 5, batch * 40, batch * 300]
    fast = exact_risk(p, quant, n).risk
    slow = exact_risk(p, quant, n, backend="numpy").risk
    np.testing.assert_allclose(fast, slow, rtol=1e-10)


def test_full_precision_is_theory_md_recursion():
    """p_k <- (1 - g mu_k)^2 p_k + (g^2/B)(mu_k^2 p_k + mu_k sum_j mu_j p_j + mu_k s^2)."""
    p = Problem(a=2.0, M=10, d=100, lr=0.3, sigma2=0.5, batch=2, schedule="geometric")
    inst = instance(p.a, p.M, p.d)
    mu, pk = inst.mu, inst.q.copy()          # v_0 = 0: p_k = E[(v*_k)^2]
    s2 = p.sigma2 + inst.approx
    T = 200
    for g in step_sizes(p.lr, p.schedule, T):
        pk = (1 - g * mu) ** 2 * pk + (g * g / p.batch) * (mu**2 * pk + mu * (mu @ pk) + mu * s2)
    expected = inst.approx + mu @ pk
    got = exact_risk(p, FULL_PRECISION, [T * p.batch], inst=inst).risk[0]
    assert got == pytest.approx(expected, rel=1e-12)


def test_risk_tends_to_the_ridge_plateau():
    p = Problem(a=2.0, M=32, d=320, lr=0.2, sigma2=0.1)
    inst = instance(p.a, p.M, p.d)
    for quant in (Quantization(data=Noise("additive", 0.01)),
                  Quantization(data=Noise("multiplicative", 0.1))):
        r = exact_risk(p, quant, [2**20], inst=inst).risk[0]
        floor = plateau(inst, p, quant)
        assert floor < r < floor * 1.05


def test_non_commuting_noise_is_refused_with_the_alternative():
    p = Problem(M=8, d=80)
    with pytest.raises(ValueError, match="Monte Carlo"):
        exact_risk(p, Quantization(data=Noise("multiplicative-elementwise", 0.1)), [8])
    with pytest.raises(ValueError, match="Monte Carlo"):
        exact_risk(p, Quantization.single("data", "format", spec="int8:channel"), [8])


def test_noise_that_makes_sgd_diverge_is_refused():
    p = Problem(a=2.0, M=256, d=2560, lr=0.25)
    with pytest.raises(ValueError, match="effective trace"):
        exact_risk(p, Quantization(data=Noise("additive", 0.05)), [256])


def test_bad_n_grid():
    p = Problem(M=8, d=80, batch=4)
    for grid in ([6, 8], [8, 4], []):
        with pytest.raises(ValueError, match="multiples of the batch"):
            exact_risk(p, FULL_PRECISION, grid)
