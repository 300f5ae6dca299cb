"""Figures for fits and plans (matplotlib, Agg backend; imported lazily by the CLI).

* :func:`plot_fit`: data and fitted curves against N per precision group, and log residuals.
* :func:`plot_iso_loss`: predicted loss contours over (N, P) at a fixed budget, with the optimum.
* :func:`plot_p_star`: compute-optimal precision P* (and N*) against compute.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from bitscale.laws.data import load_table, prepare
from bitscale.laws.fitting import FitResult
from bitscale.laws.law import Law
from bitscale.laws.planning import BitCost, PlanSweep, plan

__all__ = ["plot_fit", "plot_iso_loss", "plot_p_star"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _groups(X: Mapping[str, np.ndarray]) -> np.ndarray:
    """Precision group of each run: its label, else its (P_w, P_a, P_kv) bits, else one group."""
    if "label" in X:
        return np.array([str(v) for v in X["label"]], dtype=object)
    dims = [k for k in ("P_w", "P_a", "P_kv") if k in X]
    if dims:
        return np.array(["/".join(f"{X[k][i]:g}" for k in dims) for i in range(len(X[dims[0]]))], dtype=object)
    return np.full(len(X["N"]), "all", dtype=object)


def plot_fit(fit: FitResult, data: pd.DataFrame | str | Path, path: str | Path, columns: Mapping[str, str] | None = None) -> Path:
    """Two panels: target against N with fitted curves per precision group; log residuals against N.

    Each curve holds the group's median tokens-per-parameter ratio D/N and its other inputs fixed at
    the group's first run, so points off the curve differ in D/N as well as noise.
    """
    plt = _plt()
    df = load_table(data)
    cols = columns if columns is not None else fit.columns
    X, y = prepare(fit.form, df, cols)
    y_hat = fit.form.predict(fit.params, X)
    groups = _groups(X)
    fig, (ax, axr) = plt.subplots(1, 2, figsize=(11, 4.2))
    for j, g in enumerate(sorted(set(groups), key=str)):
        m = groups == g
        color = f"C{j % 10}"
        ax.scatter(X["N"][m], y[m], s=14, color=color, label=str(g))
        n_grid = np.geomspace(X["N"][m].min(), X["N"][m].max(), 60)
        ratio = float(np.median(X["D"][m] / X["N"][m])) if "D" in X else 1.0
        first = int(np.flatnonzero(m)[0])
        curve = {k: np.repeat(v[first : first + 1], len(n_grid)) for k, v in X.items()}
        curve["N"] = n_grid
        if "D" in curve:
            curve["D"] = n_grid * ratio
        ax.plot(n_grid, fit.form.predict(fit.params, curve), color=color, lw=1)
        axr.scatter(X["N"][m], np.log(y[m] / y_hat[m]), s=12, color=color)
    ax.set(xscale="log", xlabel="N (parameters)", ylabel=fit.form.target, title=f"{fit.law_name}: data and fit")
    ax.legend(fontsize=7, ncol=2, title="precision")
    axr.axhline(0, color="k", lw=0.8)
    axr.set(xscale="log", xlabel="N (parameters)", ylabel="log(y / y_hat)", title=f"residuals (RMSLE {fit.rmsle:.4f})")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_iso_loss(
    law: Law,
    compute: float,
    path: str | Path,
    *,
    cost: BitCost | None = None,
    N_range: tuple[float, float] | None = None,
) -> Path:
    """Contours of the predicted loss over (N, P) with D = C / (c(P) N) at budget ``compute``."""
    plt = _plt()
    cost = cost or BitCost()
    best = plan(law, compute, cost=cost)
    lo, hi = N_range or (best.N / 100, best.N * 100)
    Ns = np.geomspace(lo, hi, 160)
    Ps = np.linspace(max(cost.P_min, 2.0), cost.P_max, 120)
    NN, PP = np.meshgrid(Ns, Ps)
    DD = compute / (cost.cost_per_param_token(PP) * NN)
    X = {"N": NN.ravel(), "D": DD.ravel(), "P_w": PP.ravel(), "P_a": PP.ravel(), "P_kv": PP.ravel()}
    L = law.form.predict(law.params, {k: v for k, v in X.items() if k in law.form.columns}).reshape(NN.shape)
    if law.form.domain is not None:  # blank out precisions where the law is undefined (N_eff <= 0)
        for i, P in enumerate(Ps):
            if law.form.domain(law.params, {"P_w": np.array([P]), "P_a": np.array([P]), "P_kv": np.array([P])}):
                L[i] = np.nan
    fig, ax = plt.subplots(figsize=(6, 4.5))
    levels = np.quantile(L[np.isfinite(L)], np.linspace(0.0, 0.9, 15))
    cs = ax.contour(NN, PP, L, levels=np.unique(levels), cmap="viridis")
    ax.clabel(cs, fontsize=6, fmt="%.3f")
    ax.plot(best.N, best.P, "r*", ms=12, label=f"optimum: N={best.N:.3g}, P={best.P:.2f}")
    ax.set(xscale="log", xlabel="N (parameters)", ylabel="P (bits)", title=f"iso-loss at C = {compute:.1e} ({law.name or law.form.name})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_p_star(sweep: PlanSweep, path: str | Path, *, title: str = "") -> Path:
    """P* (left axis) and N* (right axis) against compute."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(sweep.compute, sweep.P, "o-", color="C0", label="P* (bits)")
    ax.set(xscale="log", xlabel="compute C (FLOPs)", ylabel="P* (bits)", title=title or "compute-optimal precision")
    ax2 = ax.twinx()
    ax2.plot(sweep.compute, sweep.N, "s--", color="C1", label="N*")
    ax2.set(yscale="log", ylabel="N* (parameters)")
    fig.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
