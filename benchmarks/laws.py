"""Benchmark: fit kumar-neff to 500 synthetic runs and bootstrap it 200 times.

Goals (issue 4): fit < 5 s, 200 bootstraps < 60 s on 2 cores. Baselines measured in the same run:

* fit: the same starts refined by scipy's L-BFGS-B with its own finite differences (a scalar
  objective called once per coordinate), instead of our one-batch central differences;
* bootstrap: replicates refitted by L-BFGS-B (the fitter's main optimiser) instead of the
  trust-region least-squares solver; measured on 20 replicates and scaled by 10.

Run: python benchmarks/laws.py
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from scipy.optimize import minimize

from bitscale import laws
from bitscale.laws.data import prepare
from bitscale.laws.fitting import _Problem, _single_thread_blas

TRUTH = {
    "A": 3000.0, "B": 15000.0, "E": 2.5, "alpha": 0.45, "beta": 0.5,
    "gamma_w": 2.5, "n_w": 0.3, "gamma_a": 2.2, "n_a": 1.0, "gamma_kv": 1.0, "n_kv": 2.0,
}


def synthetic(n: int = 500, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    N = np.exp(rng.uniform(np.log(2e7), np.log(3e9), n))
    df = pd.DataFrame({"N": N, "D": N * np.exp(rng.uniform(np.log(5), np.log(400), n))})
    P = rng.choice([4, 5, 6, 8, 16], size=(n, 3))
    df["P_w"], df["P_a"], df["P_kv"] = P.T
    df["loss"] = laws.Law.from_params("kumar-neff", TRUTH).predict(df) * np.exp(rng.normal(0, 0.005, n))
    return df


def baseline_fit(df: pd.DataFrame, n_starts: int = 8) -> tuple[float, float]:
    """Same projected grid and starts; scipy's own finite-difference gradient."""
    form = laws.get_law("kumar-neff")
    X, y = prepare(form, df)
    prob = _Problem(form, X, y, form.param_names, {}, {}, "huber", 1e-3)
    t = time.perf_counter()
    with _single_thread_blas():
        starts = prob.projected_grid()
        f0 = prob.grid_objective(starts)
        best = np.inf
        for i in np.argsort(f0)[:n_starts]:
            res = minimize(lambda x: float(prob.objective(x[None, :])[0]), starts[i], method="L-BFGS-B", bounds=prob.bounds,
                           options={"maxiter": 1000, "ftol": 1e-15, "gtol": 1e-10, "maxcor": 20})
            best = min(best, res.fun)
    return time.perf_counter() - t, best


def baseline_bootstrap(df: pd.DataFrame, fit: laws.FitResult, K: int = 20, seed: int = 0) -> float:
    form = fit.form
    X, y = prepare(form, df)
    prob = _Problem(form, X, y, fit.free, fit.fixed, fit.ties, "huber", 1e-3)
    x_hat = np.array([form.param(k).to_raw(fit.params[k]) for k in fit.free])
    rng = np.random.default_rng(seed)
    t = time.perf_counter()
    with _single_thread_blas():
        for _ in range(K):
            prob.weights = rng.multinomial(len(y), np.full(len(y), 1 / len(y))).astype(float)
            prob.refine(x_hat, maxiter=500)
    return time.perf_counter() - t


def main() -> None:
    df = synthetic()
    laws.fit("kumar-neff", df.head(50))  # warm-up: imports, caches
    t = time.perf_counter()
    fit = laws.fit("kumar-neff", df)
    t_fit = time.perf_counter() - t
    t_base, f_base = baseline_fit(df)
    t = time.perf_counter()
    boot = laws.fit("kumar-neff", df, bootstrap=200, seed=0)
    t_boot = time.perf_counter() - t  # point fit + 200 replicates (an upper bound on the bootstrap part)
    t_boot_base = t_fit + 10 * baseline_bootstrap(df, fit)

    tab = Table(title="bitscale.laws: kumar-neff, 500 synthetic runs (0.5 % noise)")
    for c in ("task", "bitscale (s)", "baseline (s)", "speed-up", "goal (s)", "met"):
        tab.add_column(c, justify="right")
    tab.add_row("fit (projected grid + 8 L-BFGS-B starts)", f"{t_fit:.2f}", f"{t_base:.2f}", f"{t_base / t_fit:.1f}x", "5", str(t_fit < 5))
    tab.add_row("fit + 200 bootstrap refits", f"{t_boot:.2f}", f"{t_boot_base:.2f} (fit + 10 x 20)", f"{t_boot_base / t_boot:.1f}x", "60", str(t_boot < 60))
    Console().print(tab)
    Console().print(
        f"fit objective {fit.objective:.6g} (baseline {f_base:.6g}); RMSLE {fit.rmsle:.4f}; "
        f"alpha = {fit.params['alpha']:.4f} +- {boot.se['alpha']:.4f} (true {TRUTH['alpha']}); "
        f"gamma_w = {fit.params['gamma_w']:.3f} +- {boot.se['gamma_w']:.3f} (true {TRUTH['gamma_w']})"
    )


if __name__ == "__main__":
    main()
