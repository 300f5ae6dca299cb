"""Sketched instances: nesting, prior moments, and theory.md's sanity reference numbers."""

from __future__ import annotations

import numpy as np
import pytest

from bitscale.theory import Noise, Problem, Quantization, instance, plateau


def test_sizes_are_nested():
    small, big = instance(2.0, 8, 200, seed=3), instance(2.0, 24, 200, seed=3)
    sigma_small = (small.U * small.mu) @ small.U.T
    # S_M = G[:M] / sqrt(M): the Gram of the small sketch is the top-left block of the big one,
    # rescaled by M_big / M_small.
    sigma_big = (big.U * big.mu) @ big.U.T
    np.testing.assert_allclose(sigma_small, sigma_big[:8, :8] * 24 / 8, rtol=1e-10)
    np.testing.assert_allclose(small.sketch * np.sqrt(8), big.sketch[:8] * np.sqrt(24))


def test_prior_moments_match_sampled_targets():
    inst = instance(2.0, 6, 60, b=0.5, seed=1)
    rng = np.random.default_rng(0)
    vstar, approx = inst.sample_targets(rng, 40000)
    coef = vstar @ inst.U                                   # eigenbasis coordinates
    q_hat = (coef**2).mean(axis=0)
    q_se = (coef**2).std(axis=0) / np.sqrt(coef.shape[0])
    assert np.all(np.abs(q_hat - inst.q) < 4 * q_se)
    se = approx.std() / np.sqrt(approx.size)
    assert abs(approx.mean() - inst.approx) < 4 * se


@pytest.mark.slow
def test_theory_md_sanity_reference():
    """a = 2, d = 8000, isotropic prior: the ridge plateaus quoted in theory.md."""
    p = Problem(a=2.0, M=512, d=8000)
    ms = [16, 32, 64, 128, 256, 512]
    fp = np.array([instance(2.0, m, 8000).approx for m in ms])
    np.testing.assert_allclose(fp, [0.14, 0.073, 0.038, 0.019, 0.0094, 0.0046], rtol=0.15)
    add = [plateau(instance(2.0, m, 8000), p.with_(M=m),
                   Quantization(data=Noise("additive", 0.01))) for m in ms[2:]]
    np.testing.assert_allclose(add, [0.10, 0.090, 0.084, 0.081], rtol=0.05)
    mul = [plateau(instance(2.0, m, 8000), p.with_(M=m),
                   Quantization(data=Noise("multiplicative", 0.1))) for m in ms[2:]]
    np.testing.assert_allclose(mul, [0.053, 0.032, 0.023, 0.018], rtol=0.05)
    # Multiplicative: full precision plus an almost constant (eps / (1 + eps))^2 v*^T Sigma v*.
    gap = np.array(mul) - fp[2:]
    assert np.ptp(gap) < 0.002 and abs(gap.mean() - 0.0135) < 0.001
