"""Fitter behaviour: input validation, options, serialisation, held-out check."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import huber as scipy_huber

from bitscale import laws

from .helpers import base_runs, with_target

TRUTH = {"A": 400.0, "B": 1500.0, "E": 1.8, "alpha": 0.34, "beta": 0.36}


@pytest.fixture(scope="module")
def runs() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    df = with_target(base_runs(80, rng), laws.Law.from_params("chinchilla", TRUTH), rng)
    return df.rename(columns={"N": "params", "D": "tokens", "loss": "val_loss"})


COLS = {"N": "params", "D": "tokens", "loss": "val_loss"}


def test_huber_matches_scipy():
    r = np.linspace(-0.01, 0.01, 101)
    np.testing.assert_allclose(laws.huber(r, 1e-3), scipy_huber(1e-3, r), rtol=1e-12, atol=0)


def test_missing_column_message_names_columns_and_fix(runs):
    with pytest.raises(KeyError, match=r"needs N \(looked for column 'N'\).*'params'.*columns=") as e:
        laws.fit("chinchilla", runs)
    assert "val_loss" in str(e.value)


@pytest.mark.parametrize(
    ("column", "value", "match"),
    [("params", -1.0, "positive"), ("tokens", 0.0, "positive"), ("val_loss", np.nan, "finite"), ("val_loss", np.inf, "finite")],
)
def test_bad_values_are_rejected(runs, column, value, match):
    bad = runs.copy()
    bad.loc[3, column] = value
    with pytest.raises(ValueError, match=match) as e:
        laws.fit("chinchilla", bad, columns=COLS)
    assert "[3]" in str(e.value)  # the offending row is named


def test_too_few_points(runs):
    with pytest.raises(ValueError, match="5 free parameters"):
        laws.fit("chinchilla", runs.head(5), columns=COLS)
    # fixing parameters makes the same 5 runs enough
    fit = laws.fit("chinchilla", runs.head(5), columns=COLS, fixed={"alpha": 0.34, "beta": 0.36})
    assert fit.free == ("A", "B", "E")


def test_bad_options(runs):
    with pytest.raises(ValueError, match="no parameter 'gamma'"):
        laws.fit("chinchilla", runs, columns=COLS, fixed={"gamma": 1})
    with pytest.raises(ValueError, match="loss="):
        laws.fit("chinchilla", runs, columns=COLS, loss="l1")
    with pytest.raises(ValueError, match="delta="):
        laws.fit("chinchilla", runs, columns=COLS, delta=0)


def test_fit_interface_quality_and_prediction(runs):
    fit = laws.fit("chinchilla", runs, columns=COLS, delta=1e-3)
    assert set(fit.params) == {"A", "B", "E", "alpha", "beta"}
    assert fit.rmsle < 0.01 and fit.r2 > 0.99
    pred = fit.predict(runs)
    r = np.log(runs["val_loss"]) - np.log(pred)
    assert fit.rmsle == pytest.approx(np.sqrt(np.mean(r**2)), rel=1e-12)
    assert fit.predict(N=1e9, D=2e10)[0] == pytest.approx(
        fit.params["E"] + fit.params["A"] * 1e9 ** -fit.params["alpha"] + fit.params["B"] * 2e10 ** -fit.params["beta"]
    )


def test_huber_resists_diverged_runs_that_pull_least_squares(runs):
    dirty = runs.copy()
    dirty.loc[[0, 1, 2], "val_loss"] *= 1.5  # three diverged runs
    truth = laws.Law.from_params("chinchilla", TRUTH).predict(runs, columns=COLS)

    def error(fit):  # RMS log deviation from the true law over all runs
        return np.sqrt(np.mean(np.log(fit.predict(runs) / truth) ** 2))

    hub = laws.fit("chinchilla", dirty, columns=COLS)
    ls = laws.fit("chinchilla", dirty, columns=COLS, loss="ls")
    assert error(hub) < 0.5 * error(ls)


def test_csv_and_parquet_inputs_and_json_roundtrip(runs, tmp_path):
    runs.to_csv(tmp_path / "runs.csv", index=False)
    runs.to_parquet(tmp_path / "runs.parquet")
    a = laws.fit("chinchilla", tmp_path / "runs.csv", columns=COLS, bootstrap=5)
    b = laws.fit("chinchilla", str(tmp_path / "runs.parquet"), columns=COLS, bootstrap=5)
    assert a.params == pytest.approx(b.params, rel=1e-9)
    a.to_json(tmp_path / "fit.json")
    c = laws.FitResult.from_json(tmp_path / "fit.json")
    assert c.params == a.params and c.se == a.se and c.ci == a.ci
    np.testing.assert_array_equal(c.predict(runs), a.predict(runs))


def test_bootstrap_is_deterministic_per_seed(runs):
    a = laws.fit("chinchilla", runs, columns=COLS, bootstrap=8, seed=1)
    b = laws.fit("chinchilla", runs, columns=COLS, bootstrap=8, seed=1)
    c = laws.fit("chinchilla", runs, columns=COLS, bootstrap=8, seed=2)
    np.testing.assert_array_equal(a.bootstrap_samples, b.bootstrap_samples)
    assert not np.array_equal(a.bootstrap_samples, c.bootstrap_samples)
    assert a.ci_level == 0.95 and all(lo < hi for lo, hi in a.ci.values())


def test_grid_and_projected_init_reach_the_same_optimum(runs):
    a = laws.fit("chinchilla", runs, columns=COLS, init="grid")
    b = laws.fit("chinchilla", runs, columns=COLS, init="project")
    c = laws.fit("chinchilla", runs, columns=COLS, method="trf")
    assert a.objective == pytest.approx(b.objective, rel=1e-6)
    assert a.objective == pytest.approx(c.objective, rel=1e-6)


def test_extrapolation_check_holds_out_the_largest_runs(runs):
    h = laws.extrapolation_check("chinchilla", runs, COLS, by="N", fraction=0.25)
    assert h.n_test == int(np.ceil(0.25 * len(runs))) or h.n_test >= 0.25 * len(runs)
    assert h.n_train + h.n_test == len(runs)
    assert h.threshold == pytest.approx(np.sort(runs["params"])[h.n_train])
    assert h.rmsle_test < 0.02  # the true law extrapolates; noise is 0.5 %
    hc = laws.extrapolation_check("chinchilla", runs, COLS, by="compute", fraction=0.2)
    assert hc.n_test >= 0.2 * len(runs) and hc.max_abs_rel_error < 0.05
