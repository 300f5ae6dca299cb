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


def test_sampled_inference_error_matches_the_closed_form():
    """The quantized-inference error of real formats is sampled; on the idealised models the same
    sampler must agree with the closed form (full matrices, elementwise included)."""
    from bitscale.theory.montecarlo import _inference_error, _Quantizer
    from bitscale.theory.sketch import instance

    inst = instance(2.0, 6, 60)
    sigma = (inst.U * inst.mu) @ inst.U.T
    factor_t = (inst.U * np.sqrt(inst.mu)).T
    v = np.random.default_rng(0).standard_normal((8, 6))
    for noises in ({"data": Noise("multiplicative-elementwise", 0.3)},
                   {"data": Noise("additive", 0.05), "param": Noise("multiplicative", 0.5)},
                   {"param": Noise("multiplicative-elementwise", 0.4),
                    "activation": Noise("additive", 0.2)}):
        rng = np.random.default_rng(1)
        qz = {p: _Quantizer(n, rng, None) for p, n in noises.items()}
        q = {p: qz.get(p, lambda u, vector: u) for p in ("data", "param", "activation")}
        closed = _inference_error(v, sigma, factor_t, q, qz, rng, 0, sample=False)
        # One parameter draw per call: many calls, so the per-vector draws average out too.
        draws = np.stack([_inference_error(v, sigma, factor_t, q, qz, rng, 1000, sample=True)
                          for _ in range(200)])
        se = draws.std(axis=0, ddof=1) / np.sqrt(draws.shape[0])
        assert np.all(np.abs(draws.mean(axis=0) - closed) <= 4 * se + 1e-12), noises


def test_quantized_test_with_a_real_format_costs_more_than_clean():
    p = Problem(a=2.0, M=8, d=80, schedule="geometric")
    q = Quantization.single("data", "format", spec="int4:channel")
    clean = montecarlo_risk(p, q, [128], seeds=64, rng_seed=3)
    quantized = montecarlo_risk(p.with_(test="quantized"), q, [128], seeds=64, rng_seed=3)
    assert np.all(quantized.samples > clean.samples)
