"""Planner: Kumar et al.'s compute-optimal precision, fixed-N plans, hardware costs, PTQ planning."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bitscale import laws

COMPUTES = [1e19, 1e20, 1e21, 1e22, 1e23, 1e24, 1e25]


def _p_star_reference(p) -> float:
    """With alpha = beta and C = (6/16) N D P, minimising over N at fixed P leaves
    L - E proportional to (P / f(P))^(alpha/2) for every C, so P* = argmin P / f(P).
    Scalar transcription of f, dense grid."""
    Ps = np.arange(1.0, 16.0, 1e-4)

    def f(P):
        out = 1.0
        for x in ("w", "a", "kv"):
            z = P / p["gamma_" + x] - p["n_" + x]
            out *= 1 - math.exp(-z) if z > 0 else 0.0
        return out

    ratio = [P / f(P) if f(P) > 0 else np.inf for P in Ps]
    return float(Ps[int(np.argmin(ratio))])


def test_kumar2024_compute_optimal_precision_is_independent_of_compute():
    law = laws.preset("kumar2024")
    sweep = laws.plan_sweep(law, COMPUTES)
    ref = _p_star_reference(law.params)
    # The paper: 7-8 bits. These constants put the optimum at P/f(P)'s minimum, 7.00 bits.
    assert 6.95 <= ref <= 8
    np.testing.assert_allclose(sweep.P, ref, atol=0.01)
    # N* and D* grow as sqrt(C) (alpha = beta), and the budget is spent exactly
    np.testing.assert_allclose(np.diff(np.log10(sweep.N)), 0.5, atol=1e-3)
    np.testing.assert_allclose(6 / 16 * sweep.N * sweep.D * sweep.P, sweep.compute, rtol=1e-9)
    assert np.all(np.diff(sweep.loss) < 0)


def test_kumar2024_without_offsets_gives_a_lower_optimum():
    law = laws.preset("kumar2024").with_params(n_w=0.0, n_a=0.0, n_kv=0.0)
    p = laws.plan(law, compute=1e21)
    assert p.P == pytest.approx(_p_star_reference(law.params), abs=0.01)
    assert 3 < p.P < 4


def test_plan_is_a_minimum():
    law = laws.preset("kumar2024")
    best = laws.plan(law, compute=1e21)
    for dN, dP in [(1.2, 0), (1 / 1.2, 0), (1, 0.5), (1, -0.5)]:
        N, P = best.N * dN, best.P + dP
        D = 1e21 / (6 / 16 * N * P)
        assert law.predict(N=N, D=D, P_w=P, P_a=P, P_kv=P)[0] > best.loss


def test_discrete_hardware_formats():
    law = laws.preset("kumar2024")
    cost = laws.HardwareCost({"bf16": (16, 1.0), "fp8": (8, 2.0), "fp4": (4, 4.0)})
    p = laws.plan(law, compute=1e21, cost=cost)
    assert p.label in {"bf16", "fp8", "fp4"} and p.P == {"bf16": 16, "fp8": 8, "fp4": 4}[p.label]
    # brute force over the formats and a dense grid of N
    best = np.inf
    for label, (bits, speed) in cost.table.items():
        N = np.logspace(7, 12, 20001)
        D = 1e21 * speed / (6 * N)
        best = min(best, law.predict(N=N, D=D, P_w=bits, P_a=bits, P_kv=bits).min())
    assert p.loss == pytest.approx(best, rel=1e-6)
    assert p.loss <= best * (1 + 1e-12)


def test_discrete_precisions_under_bit_cost_and_eff_law_with_labels():
    law = laws.preset("kumar2024")
    p = laws.plan(law, compute=1e21, precisions=[4, 8, 16])
    assert p.P in (4, 8, 16)
    quest = laws.preset("quest2025")
    q = laws.plan(quest, compute=1e20, cost=laws.HardwareCost({"16": (16, 1), "8": (8, 2), "4": (4, 4)}))
    assert q.label in {"16", "8", "4"}
    with pytest.raises(ValueError, match="per format label"):
        laws.plan(quest, compute=1e20)


def test_fixed_N_precision_grows_with_compute():
    law = laws.preset("kumar2024")
    sweep = laws.plan_sweep(law, [1e17, 1e18, 1e19, 1e20], N=1e8)
    assert np.all(sweep.N == 1e8)
    assert np.all(np.diff(sweep.P) >= -1e-6) and sweep.P[-1] > sweep.P[0]


def test_critical_data_matches_closed_form():
    law = laws.preset("kumar2024")
    ptq = law.companions["kumar2024-ptq"].params
    N, P_post = 1e9, 4.0
    d_crit = laws.critical_data(law, N=N, P_post=P_post)
    B, beta = law.params["B"], law.params["beta"]
    closed = (beta * B * N ** ptq["gamma_N"] * math.exp(P_post / ptq["gamma_post"]) / (ptq["gamma_D"] * ptq["C_T"])) ** (
        1 / (beta + ptq["gamma_D"])
    )
    assert d_crit == pytest.approx(closed, rel=1e-5)
    after = laws.loss_after_ptq(law, N=N, D=np.array([d_crit / 3, d_crit, 3 * d_crit]), P_post=P_post)
    assert after[1] < after[0] and after[1] < after[2]


def test_loss_after_ptq_adds_delta_and_needs_a_ptq_law():
    law = laws.preset("kumar2024")
    ptq = laws.preset("kumar2024-ptq")
    got = laws.loss_after_ptq(law, N=1e9, D=1e11, P_post=4)
    want = law.predict(N=1e9, D=1e11)[0] + ptq.predict(N=1e9, D=1e11, P_post=4)[0]
    assert float(got) == pytest.approx(want, rel=1e-12)
    with pytest.raises(ValueError, match="ptq="):
        laws.loss_after_ptq(laws.preset("hoffmann2022"), N=1e9, D=1e11, P_post=4)


def test_plan_validates_inputs():
    with pytest.raises(ValueError, match="compute="):
        laws.plan("kumar2024", compute=-1)
    with pytest.raises(ValueError, match="dims"):
        laws.plan("kumar2024", compute=1e20, dims=("w", "x"))


def test_presets_have_sources_and_compare():
    for name in laws.available_presets():
        law = laws.preset(name)
        assert law.source and law.params
    k = laws.preset("kumar2024")
    assert k.params["alpha"] == k.params["beta"] == 0.4965
    cmp = laws.compare(laws.preset("epoch2024"), "hoffmann2022")
    rows = {r[0]: r for r in cmp.rows}
    assert rows["B"][3] == pytest.approx(2085.4342 / 410.7)
    assert list(cmp.to_frame().columns) == ["param", "epoch2024", "hoffmann2022", "ratio", "inside_ci"]
    with pytest.raises(KeyError, match="unknown preset"):
        laws.preset("nope")
