"""Effective sizes: the fitter on full precision, and the dichotomy of the issue (a = 2, data)."""

from __future__ import annotations

import numpy as np
import pytest

from bitscale.theory import FULL_PRECISION, Noise, Problem, Quantization, effective_sizes

N_GRID = [2**k for k in range(8, 18)]


def test_full_precision_is_its_own_effective_size():
    p = Problem(a=2.0, M=64, d=640)
    fit = effective_sizes(p, FULL_PRECISION, [16, 32, 64], [128, 512, 2048, 8192])
    np.testing.assert_allclose(fit.m_eff, [16, 32, 64], rtol=0.02)
    np.testing.assert_allclose(fit.n_ratio, 1.0, rtol=0.02)
    assert fit.e_add < 1e-3 and fit.rms_log < 0.005


def test_bad_grids_and_modes():
    p = Problem(a=2.0, M=64, d=640)
    q = Quantization(data=Noise("additive", 0.01))
    with pytest.raises(ValueError, match="increasing M"):
        effective_sizes(p, q, [64, 32], [128, 512])
    with pytest.raises(ValueError, match="n_eff"):
        effective_sizes(p, q, [32, 64], [128, 512], n_eff="free")


@pytest.fixture(scope="module")
def dichotomy():
    p = Problem(a=2.0, M=512, d=5120, sigma2=1.0, lr=0.25)
    mul = effective_sizes(p, Quantization(data=Noise("multiplicative", 0.1)),
                          [64, 128, 256, 512], N_GRID)
    add = effective_sizes(p, Quantization(data=Noise("additive", 0.01)),
                          [64, 128, 256, 512], N_GRID)
    return mul, add


@pytest.mark.slow
def test_multiplicative_keeps_the_model_size(dichotomy):
    mul, _ = dichotomy
    assert np.all(mul.m_eff / mul.M >= 0.8)
    assert np.all(mul.n_ratio < 1.0)
    # The additive error is the shrinkage of the target, (eps/(1+eps))^2 v*^T Sigma v* ~ 0.0134.
    assert 0.01 < mul.e_add < 0.017
    assert mul.rms_log < 0.01


@pytest.mark.slow
def test_additive_holds_the_model_size_near_eps_to_the_minus_one_over_a(dichotomy):
    mul, add = dichotomy
    k = 0.01 ** (-1 / 2.0)                                   # eps^(-1/a) = 10
    assert add.m_eff[-1] < 256                               # well under half of M = 512
    assert np.all((add.m_eff > k) & (add.m_eff < 5 * k))     # within a constant of 10
    # Saturation: doubling M from 256 to 512 barely moves M_eff ...
    assert add.m_eff[-1] / add.m_eff[-2] < 1.15
    # ... while the multiplicative M_eff keeps growing with M.
    assert mul.m_eff[-1] / mul.m_eff[-2] > 1.8


def test_reference_step_and_e_add_identification():
    """``same-step`` compares at the quantized step; ``tuned`` at full precision's own step, so
    the step additive noise forces down counts as lost data. The multiplicative E_add is pinned
    by the grid (small standard error)."""
    p = Problem(a=2.0, M=128, d=1280, lr=0.25)
    M, N = [32, 64, 128], [256, 1024, 4096, 16384]
    add = Quantization(data=Noise("additive", 0.01))
    tuned = effective_sizes(p, add, M, N)
    same = effective_sizes(p, add, M, N, reference="same-step")
    assert tuned.reference_lr == 0.25 and same.reference_lr == pytest.approx(same.lr[0])
    assert same.lr[0] < 0.25
    assert tuned.n_ratio[0] < same.n_ratio[0]
    mul = effective_sizes(p, Quantization(data=Noise("multiplicative", 0.1)), M, N)
    assert 0 < mul.e_add_se < 0.2 * mul.e_add
    assert [sp.m_kept for sp in mul.split] == M
    with pytest.raises(ValueError, match="reference"):
        effective_sizes(p, add, M, N, reference="best")
