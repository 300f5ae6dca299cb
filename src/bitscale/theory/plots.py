"""PNG plots of an experiment (matplotlib, Agg backend, no display needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    """Lay out, write the PNG and free the figure (pyplot keeps every open figure alive)."""
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _plt().close(fig)
    return path


def _schemes(fits):
    out: dict = {}
    for sweep, eps, fit in fits:
        out.setdefault((sweep.scheme, sweep.place), []).append((eps, fit))
    return out


def risk_vs_n(path: Path, cfg, rows, fits) -> Path:
    """Excess risk against N at the largest M, full precision and every eps, one panel a scheme."""
    plt = _plt()
    groups = _schemes(fits)
    fig, axes = plt.subplots(1, len(groups), figsize=(5.5 * len(groups), 4.2), squeeze=False)
    m = max(cfg.M)
    fp = [r for r in rows if r["scheme"] == "none" and r["M"] == m and r["format"] == ""]
    for ax, ((scheme, place), items) in zip(axes[0], groups.items()):
        ax.loglog([r["N"] for r in fp], [r["risk"] for r in fp], "k-", lw=2, label="full precision")
        for eps, fit in items:
            ax.loglog(fit.N, fit.risk_q[-1], "o-", ms=3, label=f"eps={eps:g}")
        ax.set(title=f"{scheme} ({place}), M={m}", xlabel="N (samples)",
               ylabel="excess risk")
        ax.legend(fontsize=8)
    return _save(fig, path)


def risk_vs_m(path: Path, cfg, rows, fits) -> Path:
    """Excess risk against M at the largest N: the multiplicative plateau keeps falling, the
    additive one stops."""
    plt = _plt()
    groups = _schemes(fits)
    fig, axes = plt.subplots(1, len(groups), figsize=(5.5 * len(groups), 4.2), squeeze=False)
    n = max(cfg.N)
    fp = sorted((r["M"], r["risk"]) for r in rows
                if r["scheme"] == "none" and r["N"] == n and r["format"] == "")
    for ax, ((scheme, place), items) in zip(axes[0], groups.items()):
        ax.loglog(*zip(*fp), "k-", lw=2, label="full precision")
        for eps, fit in items:
            ax.loglog(fit.M, fit.risk_q[:, -1], "o-", ms=4, label=f"eps={eps:g}")
        ax.set(title=f"{scheme} ({place}), N={n}", xlabel="M (parameters)",
               ylabel="excess risk")
        ax.legend(fontsize=8)
    return _save(fig, path)


def effective(path: Path, cfg, fits) -> Path:
    """M_eff / M (one line per M), N_eff / N and E_add against eps, both schemes.

    Solid/dashed lines: the fit of :mod:`bitscale.theory.effective`; dotted: the analytic plateau
    split (kept directions ``M_kept / M`` and their shrinkage error ``E_shrink``).
    """
    plt = _plt()
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(15, 4.2))
    markers = {"multiplicative": "o-", "additive": "s--"}
    colors = {"multiplicative": "tab:blue", "additive": "tab:red"}
    for (scheme, place), items in _schemes(fits).items():
        eps = np.array([e for e, _ in items])
        for i, m in enumerate(cfg.M):
            alpha = 0.35 + 0.65 * (i + 1) / len(cfg.M)
            ax1.semilogx(eps, [f.m_eff[i] / m for _, f in items], markers[scheme], ms=4,
                         color=colors[scheme], alpha=alpha, label=f"{scheme} M={m}")
        ax1.semilogx(eps, [f.split[-1].m_kept / f.M[-1] for _, f in items], ":",
                     color=colors[scheme], label=f"{scheme} M_kept/M (M={cfg.M[-1]})")
        ax2.semilogx(eps, [float(np.exp(np.mean(np.log(f.n_ratio)))) for _, f in items],
                     markers[scheme], color=colors[scheme], label=scheme)
        e_add = np.array([f.e_add for _, f in items])
        se = np.array([f.e_add_se for _, f in items])
        se = np.where(np.isfinite(se), se, 1.0)          # not identified: a bar off the chart
        # E_add >= 0 is a bound of the fit: the lower bar stops at 0.
        ax3.errorbar(eps, e_add, yerr=[np.minimum(se, e_add), se], fmt=markers[scheme],
                     color=colors[scheme], ms=4, capsize=2, label=f"{scheme} E_add (fit, ±SE)")
        ax3.plot(eps, [f.split[-1].shrink + f.split[-1].inference for _, f in items], ":",
                 color=colors[scheme], label=f"{scheme} E_shrink (plateau)")
    ax1.set(xlabel="eps", ylabel="M_eff / M", title="effective model size", ylim=(0, 1.05))
    ax2.set(xlabel="eps", ylabel="N_eff / N", title="effective data size", ylim=(0, 1.05))
    ax3.set(xlabel="eps", ylabel="additive error", title="additive error: fit vs plateau split",
            xscale="log")
    ax3.set_yscale("symlog", linthresh=1e-4)
    ax3.set_ylim(bottom=0)
    ax1.legend(fontsize=6, ncol=2)
    ax2.legend(fontsize=8)
    ax3.legend(fontsize=7)
    return _save(fig, path)


def overlay(path: Path, cases: dict) -> Path:
    """Exact curves (lines) and Monte Carlo means with 3-SE bars (points)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for i, (case, c) in enumerate(cases.items()):
        color = f"C{i % 10}"
        ax.loglog(c["exact"].n, c["exact"].risk, "-", color=color,
                  label=f"{case} (max z {c['max_z']:.1f})")
        ax.errorbar(c["mc"].n, c["mc"].risk, yerr=3 * c["mc"].se, fmt="o", ms=3, color=color,
                    capsize=2)
    ax.set(xlabel="N", ylabel="excess risk", title="exact (lines) vs Monte Carlo (±3 SE)")
    ax.legend(fontsize=7)
    return _save(fig, path)


def formats_plot(path: Path, curves: dict) -> Path:
    """Each real format (Monte Carlo, ±3 SE) beside the idealised schemes at its measured eps."""
    plt = _plt()
    specs = [k for k in curves if k != "fp"]
    fig, axes = plt.subplots(1, len(specs), figsize=(4.2 * len(specs), 4), squeeze=False)
    fp = curves["fp"]
    for ax, spec in zip(axes[0], specs):
        c = curves[spec]
        prof = c["profile"]
        ax.loglog(fp.n, fp.risk, "k-", label="full precision")
        ax.errorbar(c["mc"].n, c["mc"].risk, yerr=3 * c["mc"].se, fmt="o", ms=4, capsize=2,
                    label=f"{spec} (MC)")
        ax.loglog(c["multiplicative"].n, c["multiplicative"].risk, "--",
                  label=f"mult. eps={prof.eps_mul:.2g}")
        ax.loglog(c["additive"].n, c["additive"].risk, ":", label=f"add. eps={prof.eps_add:.2g}")
        ax.set(title=f"{spec}: {prof.dominant}", xlabel="N", ylabel="excess risk")
        ax.legend(fontsize=7)
    return _save(fig, path)


def write_all(out: Path, cfg, rows, fits, fmt_curves, overlay_cases) -> dict:
    """Write every plot the experiment has data for; return name -> path."""
    paths = {
        "risk_vs_N": risk_vs_n(out / "risk_vs_N.png", cfg, rows, fits),
        "risk_vs_M": risk_vs_m(out / "risk_vs_M.png", cfg, rows, fits),
        "effective_sizes": effective(out / "effective_sizes.png", cfg, fits),
    }
    if overlay_cases:
        paths["overlay"] = overlay(out / "overlay.png", overlay_cases)
    if fmt_curves:
        paths["formats"] = formats_plot(out / "formats.png", fmt_curves)
    return paths
