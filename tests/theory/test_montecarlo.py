"""The Monte Carlo engine: determinism, models the exact engine cannot run, real formats."""

from __future__ import annotations

import numpy as np

from bitscale.theory import (FULL_PRECISION, Noise, Problem, Quantization, exact_risk,
                             montecarlo_risk)


def test_same_seed_same_numbers():
    p = Problem(M=6, d=60, schedule="geometric")
    q = Quantization(data=Noise("multiplicative-elementwise", 0.1), grad=Noise("additive", 0.1))
    a = montecarlo_risk(p, q, [16, 64], seeds=50, rng_seed=7)
    b = montecarlo_risk(p, q, [16, 64], seeds=50, rng_seed=7)
    c = montecarlo_risk(p, q, [16, 64], seeds=50, rng_seed=8)
    np.testing.assert_array_equal(a.risk, b.risk)
    assert not np.array_equal(a.risk, c.risk)
    assert a.samples.shape == (2, 50)


def test_elementwise_equals_rank_one_at_one_feature():
    """With M = 1 the elementwise model is the rank-one model: the exact engine applies."""
    p = Problem(a=2.0, M=1, d=10, lr=0.3, schedule="constant")
    grid = [8, 64, 256]
    ex = exact_risk(p, Quantization(data=Noise("multiplicative", 0.5)), grid)
    mc = montecarlo_risk(p, Quantization(data=Noise("multiplicative-elementwise", 0.5)), grid,
                         seeds=4000)
    assert np.all(np.abs(ex.risk - mc.risk) <= 3 * mc.se)


def test_real_format_runs_and_int4_costs_more_than_int8():
    """INT4 features (stochastic rounding, one scale per feature vector) hurt more than INT8,
    measured on the same data stream (paired seeds)."""
    p = Problem(a=2.0, M=16, d=160, schedule="geometric")
    grid = [256]
    fp = montecarlo_risk(p, FULL_PRECISION, grid, seeds=256, rng_seed=1)
    i8 = montecarlo_risk(p, Quantization.single("data", "format", spec="int8:channel"), grid,
                         seeds=256, rng_seed=1)
    i4 = montecarlo_risk(p, Quantization.single("data", "format", spec="int4:channel"), grid,
                         seeds=256, rng_seed=1)
    d8 = i8.samples - fp.samples
    d4 = i4.samples - fp.samples
    assert np.all(np.isfinite(i4.samples))
    gap = (d4 - d8).mean()
    assert gap > 3 * (d4 - d8).std(ddof=1) / np.sqrt(256)
