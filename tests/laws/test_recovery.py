"""Recovery: synthetic runs drawn from each law with known parameters and 0.5 % log-noise are fitted
back, each free parameter within Z bootstrap standard errors of its true value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bitscale import laws

from .helpers import base_runs, with_target

Z = 4.0  # |estimate - truth| <= Z * bootstrap SE (a 4-sigma band: fails by chance ~1e-4 per parameter)
K = 30  # bootstrap replicates


def _check(fit: laws.FitResult, truth: dict[str, float]) -> None:
    assert fit.converged
    assert fit.rmsle < 2 * 0.005  # residuals at the noise level
    for k in fit.free:
        se = fit.se[k]
        assert np.isfinite(se) and se > 0, k
        assert abs(fit.params[k] - truth[k]) <= Z * se, (k, fit.params[k], truth[k], se)
        lo, hi = fit.ci[k]
        assert lo <= fit.params[k] <= hi


def test_chinchilla_recovery():
    truth = {"A": 400.0, "B": 1500.0, "E": 1.8, "alpha": 0.34, "beta": 0.36}
    rng = np.random.default_rng(0)
    df = with_target(base_runs(150, rng), laws.Law.from_params("chinchilla", truth), rng)
    _check(laws.fit("chinchilla", df, bootstrap=K), truth)


KUMAR_TRUTH = {
    "A": 3000.0, "B": 15000.0, "E": 2.5, "alpha": 0.45, "beta": 0.5,
    "gamma_w": 2.5, "n_w": 0.3, "gamma_a": 2.2, "n_a": 1.0, "gamma_kv": 1.0, "n_kv": 2.0,
}


def test_kumar_neff_recovery_all_parameters():
    rng = np.random.default_rng(1)
    df = base_runs(300, rng)
    P = rng.choice([4, 5, 6, 8, 16], size=(len(df), 3))
    df["P_w"], df["P_a"], df["P_kv"] = P.T
    df = with_target(df, laws.Law.from_params("kumar-neff", KUMAR_TRUTH), rng)
    _check(laws.fit("kumar-neff", df, bootstrap=K), KUMAR_TRUTH)


def test_kumar_neff_few_runs_with_fixed_and_tied_parameters():
    """The study's situation: ~30 runs, one precision P for w, a and kv, some runs at 16 bits.

    With P_w = P_a = P_kv the three factors are confounded; the documented recipe ties them
    (one gamma, no offsets) and ties beta to alpha.
    """
    truth = {**KUMAR_TRUTH, "n_w": 0.0, "n_a": 0.0, "n_kv": 0.0, "gamma_w": 1.2, "gamma_a": 1.2, "gamma_kv": 1.2, "beta": 0.45}
    rng = np.random.default_rng(2)
    df = base_runs(30, rng)
    P = rng.choice([3, 4, 6, 8, 16], size=len(df))
    df = df.assign(P_w=P, P_a=P, P_kv=P)
    df = with_target(df, laws.Law.from_params("kumar-neff", truth), rng)
    fit = laws.fit(
        "kumar-neff", df, bootstrap=K,
        fixed={"n_w": 0, "n_a": 0, "n_kv": 0},
        ties={"gamma_a": "gamma_w", "gamma_kv": "gamma_w", "beta": "alpha"},
    )
    assert set(fit.free) == {"A", "B", "E", "alpha", "gamma_w"}
    assert fit.params["gamma_kv"] == fit.params["gamma_w"] and fit.params["beta"] == fit.params["alpha"]
    _check(fit, truth)


def test_kumar_neff_unvaried_dimension_is_fixed_with_a_note():
    rng = np.random.default_rng(4)
    df = base_runs(80, rng)
    df["P_w"] = rng.choice([4, 6, 8, 16], size=len(df))  # P_a, P_kv absent: 16 bits
    df = with_target(df, laws.Law.from_params("kumar-neff", KUMAR_TRUTH), rng)
    fit = laws.fit("kumar-neff", df)
    assert {"gamma_a", "n_a", "gamma_kv", "n_kv"} <= set(fit.fixed)
    assert any("gamma_kv" in n for n in fit.notes)
    assert fit.rmsle < 0.01


def test_kumar_ptq_recovery_with_delta_derived_from_losses():
    truth = {"C_T": 0.06, "gamma_D": 0.5, "gamma_N": 0.35, "gamma_post": 0.6}
    rng = np.random.default_rng(5)
    df = base_runs(120, rng)
    df["P_post"] = rng.choice([3, 4, 5, 6, 8], size=len(df))
    df = with_target(df, laws.Law.from_params("kumar-ptq", truth), rng, column="delta")
    df["loss"] = 3.0
    df["loss_post"] = df["loss"] + df.pop("delta")  # the fitter derives delta = loss_post - loss
    _check(laws.fit("kumar-ptq", df, bootstrap=K), truth)


def test_kumar_unified_recovery():
    truth = {**KUMAR_TRUTH, "C_T": 0.06, "gamma_D": 0.5, "gamma_N": 0.35, "gamma_post": 0.6, "C_w": 0.8, "C_a": 1.0, "C_kv": 1.0}
    rng = np.random.default_rng(6)
    df = base_runs(300, rng)
    df["P_w"] = rng.choice([5, 6, 8, 16], size=len(df))
    df["P_post"] = rng.choice([3, 4, 5], size=len(df))
    df = with_target(df, laws.Law.from_params("kumar-unified", truth), rng, column="loss_post")
    # Weights only: activations and KV stay at 16 bits, so their parameters are fixed automatically.
    fit = laws.fit("kumar-unified", df, bootstrap=K, fixed={"n_w": 0.3}, method="trf")
    assert "C_kv" in fit.fixed and "C_w" in fit.free
    _check(fit, truth)


def test_eff_per_precision_recovery():
    truth = {"A": 300.0, "B": 2000.0, "E": 1.7, "alpha": 0.3, "beta": 0.35, "eff[2]": 0.2, "eff[4]": 0.7, "eff[8]": 0.95}
    rng = np.random.default_rng(7)
    df = base_runs(160, rng)
    df["precision"] = rng.choice(["2", "4", "8", "16"], size=len(df))
    law = laws.Law.from_params("eff-per-precision", truth)
    df["loss"] = law.predict(df, columns={"label": "precision"}) * np.exp(rng.normal(0, 0.005, len(df)))
    fit = laws.fit("eff-per-precision", df, columns={"label": "precision"}, bootstrap=K)
    assert "eff[16]" not in fit.params  # pinned at 1
    _check(fit, truth)


def test_sun_fp_recovery():
    truth = dict(laws.preset("sun2025").params)
    rng = np.random.default_rng(8)
    df = base_runs(250, rng)
    df["exp_bits"] = rng.integers(1, 6, len(df))
    df["man_bits"] = rng.integers(1, 7, len(df))
    df["block"] = rng.choice([16, 32, 64, 128, 256, 2**13], size=len(df))
    df = with_target(df, laws.preset("sun2025"), rng)
    _check(laws.fit("sun-fp", df, bootstrap=K, method="trf"), truth)
