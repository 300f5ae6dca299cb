"""The exact engine: compiled kernel vs numpy reference vs theory.md's p_k recursion."""

from __future__ import annotations

import numpy as np
import pytest

from bitscale.theory import FULL_PRECISION, Noise, Problem, Quantization, exact_risk, instance
from bitscale.theory import plateau
from bitscale.theory.exact import plateau_split
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


@pytest.mark.parametrize("iterate", ["last", "average", "tail"])
@pytest.mark.parametrize("test", ["clean", "quantized"])
@pytest.mark.parametrize("schedule", ["constant", "geometric"])
def test_readouts_kernel_matches_numpy_reference(iterate, test, schedule):
    quant = Quantization(data=Noise("multiplicative", 0.1), param=Noise("additive", 0.1),
                         activation=Noise("multiplicative", 0.2), weights=Noise("additive", 1e-4))
    p = Problem(a=1.5, M=12, d=120, lr=0.15, schedule=schedule, batch=2, seed=2,
                iterate=iterate, test=test)
    n = [2 * 5, 2 * 40, 2 * 301]
    np.testing.assert_allclose(exact_risk(p, quant, n).risk,
                               exact_risk(p, quant, n, backend="numpy").risk, rtol=1e-10)


def test_averaging_a_constant_step_removes_the_variance_floor():
    """Constant step: the last iterate stalls at a variance floor ~ gamma sigma^2 tr(Sigma); the
    Polyak-Ruppert average keeps falling (Bach & Moulines 2013)."""
    p = Problem(a=2.0, M=16, d=160, lr=0.2, sigma2=1.0, schedule="constant")
    n = [2**12, 2**14, 2**16]
    approx = instance(p.a, p.M, p.d).approx                  # the N -> infinity limit
    last = exact_risk(p, FULL_PRECISION, n).risk - approx
    avg = exact_risk(p.with_(iterate="average"), FULL_PRECISION, n).risk - approx
    tail = exact_risk(p.with_(iterate="tail"), FULL_PRECISION, n).risk - approx
    assert last[-1] / last[0] > 0.9                          # stalled
    assert avg[-1] < 0.2 * avg[0] and avg[-1] < 0.05 * last[-1]
    assert tail[-1] < 0.05 * last[-1]


def test_quantized_inference_adds_the_forward_noise():
    """Additive data noise at inference adds eps E|v|^2; additive activation noise adds eps;
    noise that only acts in training (labels) adds nothing."""
    p = Problem(a=2.0, M=16, d=160, lr=0.2)
    n = [64, 1024]
    for quant, positive in ((Quantization(data=Noise("additive", 0.01)), True),
                            (Quantization(activation=Noise("additive", 0.05)), True),
                            (Quantization(label=Noise("additive", 0.5)), False)):
        clean = exact_risk(p, quant, n).risk
        quantized = exact_risk(p.with_(test="quantized"), quant, n).risk
        if positive:
            assert np.all(quantized > clean)
        else:
            np.testing.assert_allclose(quantized, clean, rtol=1e-12)
    act = Quantization(activation=Noise("additive", 0.05))
    np.testing.assert_allclose(exact_risk(p.with_(test="quantized"), act, n).risk
                               - exact_risk(p, act, n).risk, 0.05, rtol=1e-9)


def test_plateau_split():
    """Multiplicative noise keeps every direction and costs (eps/(1+eps))^2 v*^T Sigma v*;
    additive noise keeps exactly the directions with mu_k >= eps; the parts add up."""
    p = Problem(a=2.0, M=64, d=640)
    inst = instance(p.a, p.M, p.d)
    mul = Quantization(data=Noise("multiplicative", 0.1))
    s = plateau_split(inst, p, mul)
    assert s.m_kept == 64 and s.lost == 0.0
    assert s.shrink == pytest.approx((0.1 / 1.1) ** 2 * float(inst.mu @ inst.q), rel=1e-12)
    add = Quantization(data=Noise("additive", 0.01))
    s = plateau_split(inst, p, add)
    assert s.m_kept == int(np.sum(inst.mu >= 0.01)) and 0 < s.m_kept < 20
    assert s.shrink > 0 and s.lost > 0
    assert s.risk == pytest.approx(plateau(inst, p, add), rel=1e-12)
    assert s.risk == pytest.approx(s.approx + s.shrink + s.lost, rel=1e-12)
    fp = plateau_split(inst, p, FULL_PRECISION)
    assert fp.m_kept == 64 and fp.shrink == fp.lost == 0.0
