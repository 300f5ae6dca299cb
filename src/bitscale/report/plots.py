"""The report's figures, each a function of the runs and the fits returning a Matplotlib figure.

Every function takes plain tables (:func:`bitscale.sweep.frames.runs_frame` /
:func:`~bitscale.sweep.frames.ptq_frame`) and fitted laws, and returns a ``Figure`` or None when its
data is missing (the page then says what is missing). Figures are drawn with the ``Agg`` backend:
no display is needed.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

__all__ = [
    "delta_ptq_vs_tpp",
    "estimator_comparison",
    "isoloss_contours",
    "loss_vs_D",
    "loss_vs_N",
    "neff_vs_bits",
    "pstar_vs_compute",
    "to_png",
]

_DIMS = (("w", "weights"), ("a", "activations"), ("kv", "KV cache"))


def to_png(fig: Figure, *, dpi: int = 110) -> bytes:
    """PNG bytes of a figure (which is then closed)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _colors(labels) -> dict:
    cmap = plt.get_cmap("tab10" if len(labels) <= 10 else "tab20")
    return {lab: cmap(i % cmap.N) for i, lab in enumerate(labels)}


def _precisions(done: pd.DataFrame) -> list[str]:
    # fp32 first, then by weight bits descending, then the rest alphabetically
    labs = list(dict.fromkeys(done["precision"]))
    return sorted(labs, key=lambda s: (s != "fp32", -float(done.loc[done["precision"] == s, "P_w"].iloc[0]), s))


def _predict(law, N, D, P_w, P_a, P_kv) -> np.ndarray:
    N, D, P_w, P_a, P_kv = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (N, D, P_w, P_a, P_kv)))
    return law.predict(N=N.ravel(), D=D.ravel(), P_w=P_w.ravel(), P_a=P_a.ravel(), P_kv=P_kv.ravel()).reshape(N.shape)


def _loss_panels(done: pd.DataFrame, neff_fit, x: str, by: str) -> Figure | None:
    if done.empty:
        return None
    groups = sorted(done[by].unique())
    precs = _precisions(done)
    colors = _colors(precs)
    fig, axes = plt.subplots(1, len(groups), figsize=(4.6 * len(groups), 3.8), sharey=True, squeeze=False)
    law = neff_fit.law if neff_fit is not None else None
    for ax, g in zip(axes[0], groups):
        sub = done[done[by] == g]
        for p in precs:
            pts = sub[sub["precision"] == p].sort_values(x)
            if pts.empty:
                continue
            denoise = "est=denoise" in p
            ax.plot(pts[x], pts["loss"], "s" if denoise else "o", color=colors[p], label=p, ms=5,
                    mfc="none" if denoise else colors[p])
            if law is not None and not denoise and len(pts):
                row = pts.iloc[0]
                xs = np.geomspace(done[x].min() / 1.3, done[x].max() * 1.3, 60)
                N = xs if x == "N" else row["N"]
                D = xs if x == "D" else row["D"]
                ax.plot(xs, _predict(law, N, D, row["P_w"], row["P_a"], row["P_kv"]), "-", color=colors[p], lw=1, alpha=0.8)
        ax.set_xscale("log")
        ax.set_xlabel(f"{x} ({'non-embedding parameters' if x == 'N' else 'training tokens'})")
        ax.set_title(f"{by} = {g:,.0f}")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("validation loss (nats/byte)")
    axes[0][-1].legend(fontsize=7, loc="upper right", ncol=1 if len(precs) < 7 else 2)
    fig.suptitle(f"loss against {x} per training precision" + (" — lines: fitted kumar-neff" if law else ""))
    fig.tight_layout()
    return fig


def loss_vs_N(done: pd.DataFrame, neff_fit=None) -> Figure | None:
    """Loss against N, one panel per token budget D, one colour per training precision.

    Lines are the fitted ``kumar-neff`` law L = A·N_eff^−α + B·D^−β + E at each run's (D, P);
    denoising-estimator runs (hollow squares) have no line (the law is fitted to STE runs).
    """
    return _loss_panels(done, neff_fit, "N", "D")


def loss_vs_D(done: pd.DataFrame, neff_fit=None) -> Figure | None:
    """Loss against D, one panel per model size N; as :func:`loss_vs_N`."""
    return _loss_panels(done, neff_fit, "D", "N")


def _factor(P: np.ndarray, gamma: float, n: float) -> np.ndarray:
    return 1.0 - np.exp(-(P / gamma - n))


def empirical_neff_ratio(done: pd.DataFrame, law) -> np.ndarray:
    """N_eff/N of each run, inverting the fitted law's data and constant terms.

    N_eff = ((L − B·D^−β − E) / A)^(−1/α); NaN where L − B·D^−β − E ≤ 0 (the run is below what the
    law's N-independent terms allow, so no N_eff explains it).
    """
    p = law.params
    rest = done["loss"].to_numpy() - p["B"] * done["D"].to_numpy() ** (-p["beta"]) - p["E"]
    with np.errstate(invalid="ignore", divide="ignore"):
        neff = np.where(rest > 0, (rest / p["A"]) ** (-1.0 / p["alpha"]), np.nan)
    return neff / done["N"].to_numpy()


def neff_vs_bits(done: pd.DataFrame, neff_fit=None, preset=None, eff_fit=None) -> Figure | None:
    """N_eff/N = 1 − exp(−(P/γ_x − n_x)) against bits P for weights, activations and KV cache.

    Solid: the fitted law; dashed: the ``kumar2024`` preset; dots: each STE run whose only
    quantized tensor is x, at N_eff/N obtained by inverting the fitted law; crosses: the
    ``eff-per-precision`` efficiencies of single-tensor precision labels.
    """
    if neff_fit is None and preset is None:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True)
    P = np.linspace(1, 16, 200)
    ratio = empirical_neff_ratio(done, neff_fit.law) if neff_fit is not None and not done.empty else None
    for ax, (x, name) in zip(axes, _DIMS):
        if neff_fit is not None:
            g, n = neff_fit.params[f"gamma_{x}"], neff_fit.params[f"n_{x}"]
            if f"gamma_{x}" in neff_fit.fixed:
                # No run varies this tensor's precision: the fit says nothing about it.
                ax.text(0.5, 0.12, "fit: not identified\n(no run quantizes only this)", transform=ax.transAxes,
                        ha="center", fontsize=8, color="C0")
            else:
                ax.plot(P, _factor(P, g, n), "-", color="C0", label=f"fit γ={g:.2f}")
        if preset is not None:
            g, n = preset.params[f"gamma_{x}"], preset.params[f"n_{x}"]
            ax.plot(P, np.clip(_factor(P, g, n), 0, None), "--", color="gray", label=f"kumar2024 γ={g:.2f}")
        if ratio is not None:
            others = [o for o, _ in _DIMS if o != x]
            only = (done[f"P_{x}"] < 16) & np.all([done[f"P_{o}"] >= 16 for o in others], axis=0)
            ste = done["estimator"].isin(["ste"])
            sel = (only & ste).to_numpy()
            if sel.any():
                ax.plot(done.loc[sel, f"P_{x}"], ratio[sel], "o", color="C1", ms=4, alpha=0.8, label="runs (inverted law)")
        if eff_fit is not None:
            # labels "w4", "a8", "kv4": a single quantized tensor at the given bits
            pts = [(float(k[4:-1][len(x):]), v) for k, v in eff_fit.params.items()
                   if k.startswith(f"eff[{x}") and k[4:-1][len(x):].isdigit()]
            if pts:
                ax.plot(*zip(*pts), "x", color="C3", ms=7, label="eff-per-precision")
        ax.axhline(1, color="k", lw=0.5)
        ax.set_xlabel(f"training bits of {name}")
        ax.set_title(name)
        ax.set_ylim(-0.05, 1.3)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    axes[0].set_ylabel("N_eff / N")
    fig.suptitle("effective parameters against training precision")
    fig.tight_layout()
    return fig


def delta_ptq_vs_tpp(ptq: pd.DataFrame, ptq_fit=None) -> Figure | None:
    """δ_PTQ = L(after PTQ) − L against tokens per parameter D/N, one colour per P_post.

    Filled: float-trained models (what ``kumar-ptq`` is fitted to); hollow: QAT-trained ones. Lines:
    the fitted law δ = C_T·D^γ_D·N^−γ_N·exp(−P_post/γ_post) along D at each model size N.
    """
    if ptq.empty:
        return None
    posts = sorted(ptq["P_post"].unique(), reverse=True)
    colors = _colors(posts)
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    hi = (ptq["P_w"] >= 16) & (ptq["P_a"] >= 16) & (ptq["P_kv"] >= 16)
    for pp in posts:
        sub = ptq[ptq["P_post"] == pp]
        f = sub[hi.loc[sub.index]]
        q = sub[~hi.loc[sub.index]]
        ax.plot(f["tokens_per_param"], f["delta"], "o", color=colors[pp], label=f"int{pp:g} (float-trained)")
        if len(q):
            ax.plot(q["tokens_per_param"], q["delta"], "o", mfc="none", color=colors[pp], alpha=0.5, ms=4,
                    label=f"int{pp:g} (QAT-trained)")
        if ptq_fit is not None:
            for N in sorted(f["N"].unique()):
                Ds = np.geomspace(ptq["D"].min() / 1.2, ptq["D"].max() * 1.2, 40)
                pred = ptq_fit.law.predict(N=np.full_like(Ds, N), D=Ds, P_post=np.full_like(Ds, pp))
                ax.plot(Ds / N, pred, "-", color=colors[pp], lw=0.8, alpha=0.7)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xscale("log")
    ymax = ptq["delta"].max()
    if ymax > 0 and (ptq["delta"] > 0).mean() > 0.8:
        ax.set_yscale("log")
    else:
        ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_xlabel("tokens per parameter D/N")
    ax.set_ylabel("δ_PTQ (nats/byte)")
    ax.set_title("post-training quantization degradation" + (" — lines: fitted kumar-ptq" if ptq_fit else ""))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def pstar_vs_compute(plan: dict | None) -> Figure | None:
    """Compute-optimal training precision P* (bits) against compute C = 6·N·D·P/16."""
    if not plan or "fit" not in plan and "kumar2024" not in plan:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    C = np.asarray(plan["compute"])
    for label, style in (("fit", "o-"), ("kumar2024", "s--")):
        if label not in plan:
            continue
        axes[0].plot(C, plan[label]["P"], style, label=label, ms=4)
        axes[1].plot(C, plan[label]["N"], style, label=f"N* ({label})", ms=4)
    axes[0].set_xscale("log")
    axes[0].set_xlabel("compute C (FLOPs, C = 6 N D P/16)")
    axes[0].set_ylabel("P* (bits)")
    axes[0].set_title("compute-optimal precision")
    axes[1].set_xscale("log")
    axes[1].set_yscale("log")
    axes[1].set_xlabel("compute C")
    axes[1].set_ylabel("N*")
    axes[1].set_title("compute-optimal model size")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def isoloss_contours(
    neff_fit, compute: float, *, plan_point: tuple[float, float] | None = None, dims=("w", "a", "kv")
) -> Figure | None:
    """Iso-loss contours of the fitted law in (N, P) at fixed compute C = 6·N·D·P/16.

    D = C / (6·N·P/16); P drives the precision of the tensors ``dims`` (the others stay at 16
    bits), as in the planner. The planner's optimum (N*, P*) is marked.
    """
    if neff_fit is None:
        return None
    # N spans 30x either side of the optimum (three decades without a plan).
    N = np.geomspace(plan_point[0] / 30, plan_point[0] * 30, 80) if plan_point else np.geomspace(1e3, 1e6, 80)
    P = np.linspace(1.5, 16, 80)
    NN, PP = np.meshgrid(N, P)
    DD = compute / (6.0 * NN * PP / 16.0)
    bits = {x: (PP if x in dims else 16.0) for x in ("w", "a", "kv")}
    L = _predict(neff_fit.law, NN, DD, bits["w"], bits["a"], bits["kv"])
    fig, ax = plt.subplots(figsize=(6.5, 4.4))
    finite = L[np.isfinite(L)]
    levels = np.quantile(finite, np.linspace(0.02, 0.9, 14)) if finite.size else 10
    cs = ax.contour(NN, PP, L, levels=np.unique(levels), cmap="viridis")
    ax.clabel(cs, fontsize=7, fmt="%.3f")
    if plan_point is not None:
        ax.plot(*plan_point, "r*", ms=14, label=f"optimum N*={plan_point[0]:.3g}, P*={plan_point[1]:.2f}")
        ax.legend(fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("N (non-embedding parameters)")
    ax.set_ylabel(f"training precision P (bits of {' = '.join(dims)})")
    ax.set_title(f"iso-loss contours of the fitted law at C = {compute:.3g}")
    fig.tight_layout()
    return fig


def estimator_pairs(done: pd.DataFrame) -> pd.DataFrame:
    """Runs with the same (N, D, seed, bits) trained with both STE and the denoising estimator.

    Columns: N, D, seed, bits (the precision without its estimator), loss_ste, loss_denoise.
    """
    if done.empty:
        return pd.DataFrame(columns=["N", "D", "seed", "bits", "loss_ste", "loss_denoise"])
    d = done.copy()
    d["bits"] = d["precision"].str.replace(",est=denoise", "", regex=False).str.replace(",est=ste-clip", "", regex=False)
    ste = d[d["estimator"] == "ste"]
    den = d[d["estimator"] == "denoise"]
    out = ste.merge(den, on=["N", "D", "seed", "bits"], suffixes=("_ste", "_denoise"))
    return out[["N", "D", "seed", "bits", "loss_ste", "loss_denoise"]]


def estimator_comparison(done: pd.DataFrame) -> Figure | None:
    """Loss with the denoising estimator against loss with STE, per (N, D, bits) pair."""
    pairs = estimator_pairs(done)
    if pairs.empty:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    colors = _colors(sorted(pairs["bits"].unique()))
    for b, sub in pairs.groupby("bits"):
        axes[0].plot(sub["loss_ste"], sub["loss_denoise"], "o", color=colors[b], label=b)
        axes[1].plot(sub["D"] / sub["N"], sub["loss_denoise"] - sub["loss_ste"], "o", color=colors[b], label=b)
    lo = min(pairs["loss_ste"].min(), pairs["loss_denoise"].min())
    hi = max(pairs["loss_ste"].max(), pairs["loss_denoise"].max())
    axes[0].plot([lo, hi], [lo, hi], "k-", lw=0.6)
    axes[0].set_xlabel("loss with STE")
    axes[0].set_ylabel("loss with denoise")
    axes[0].set_title("below the diagonal: denoise better")
    axes[1].axhline(0, color="k", lw=0.6)
    axes[1].set_xscale("log")
    axes[1].set_xlabel("tokens per parameter D/N")
    axes[1].set_ylabel("loss(denoise) − loss(STE)")
    axes[1].set_title("estimator gap")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
