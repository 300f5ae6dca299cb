"""The study report: one self-contained HTML page (figures embedded as base64 PNG, no scripts).

Sections (each with a stable ``id``, listed in :data:`SECTIONS`): loss against N and D with the
fitted law, fitted constants with intervals beside ``kumar2024``, N_eff/N against bits, δ_PTQ
against tokens per parameter, P* against compute and iso-loss contours, the estimator comparison,
the theory experiment, every run with its status, and the environment. A section whose data is
missing says so instead of disappearing.
"""

from __future__ import annotations

import base64
import html
import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from bitscale.report import plots

__all__ = ["SECTIONS", "render_report", "write_report"]

#: (id, title) of every section, in page order.
SECTIONS = (
    ("summary", "Summary"),
    ("loss-vs-n", "Loss against N per precision"),
    ("loss-vs-d", "Loss against D per precision"),
    ("constants", "Fitted constants"),
    ("neff", "Effective parameters against bits"),
    ("ptq", "Post-training quantization: δ_PTQ against tokens per parameter"),
    ("plan", "Compute-optimal precision and iso-loss contours"),
    ("estimators", "Estimator comparison: STE vs denoise"),
    ("theory", "Theory: multiplicative vs additive effective sizes"),
    ("runs", "Every run"),
    ("environment", "Environment"),
)

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1180px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;font-size:.82em;margin:.6em 0} td,th{border:1px solid #ddd;padding:2px 6px;text-align:right}
th{background:#f4f4f4} td.l,th.l{text-align:left} img{max-width:100%;display:block;margin:.6em 0}
.missing{background:#fff6e0;border-left:4px solid #e0a000;padding:.5em 1em} .note{color:#555;font-size:.9em}
.done{color:#080}.failed{color:#c00}.diverged{color:#a0a}.running{color:#b80}.pending{color:#888}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.8em}
nav a{margin-right:1em}
"""


def _esc(x: object) -> str:
    return html.escape(str(x))


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{_esc(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _missing(text: str) -> str:
    return f'<p class="missing">{_esc(text)}</p>'


def _fmt(x: object, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "—"
    if isinstance(x, (float, np.floating)):
        ax = abs(float(x))
        return f"{x:.{digits}g}" if ax and (ax >= 1e5 or ax < 1e-3) else f"{x:.{digits}f}".rstrip("0").rstrip(".") or "0"
    return _esc(x)


def _table(rows: list[dict], columns: list[str], left: tuple[str, ...] = (), classes: dict | None = None) -> str:
    head = "".join(f'<th class="{"l" if c in left else ""}">{_esc(c)}</th>' for c in columns)
    body = []
    for r in rows:
        cells = []
        for c in columns:
            cls = "l" if c in left else ""
            if classes and c in classes:
                cls += f" {classes[c](r)}"
            cells.append(f'<td class="{cls.strip()}">{_fmt(r.get(c))}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


class _Figures:
    """Renders figures to embedded PNGs and also saves them to ``folder/plots/<name>.png``."""

    def __init__(self, folder: Path) -> None:
        self.dir = folder / "plots"
        self.dir.mkdir(parents=True, exist_ok=True)

    def __call__(self, name: str, fig, alt: str, missing: str) -> str:
        if fig is None:
            (self.dir / f"{name}.png").unlink(missing_ok=True)
            return _missing(missing)
        png = plots.to_png(fig)
        (self.dir / f"{name}.png").write_bytes(png)
        return _img(png, alt)


def _constants_section(analysis, preset, ptq_preset) -> str:
    out = []
    for name, ref, ref_name in (("kumar-neff", preset, "kumar2024"), ("kumar-ptq", ptq_preset, "kumar2024-ptq"),
                                ("eff-per-precision", None, None)):
        fit = analysis.fits.get(name)
        out.append(f"<h3>{_esc(name)}</h3>")
        if fit is None:
            out.append(_missing(f"not fitted: {analysis.errors.get(name, 'no data')}"))
            continue
        eq = fit.form.equation if getattr(fit, "form", None) is not None else ""
        out.append(f'<p class="note">{_esc(eq)}<br>{fit.n_points} runs, RMSLE {fit.rmsle:.4f}, '
                   f'R² (log) {fit.r2:.3f}, {"converged" if fit.converged else "NOT converged"}; '
                   f'{int(100 * fit.ci_level)} % bootstrap percentile intervals.</p>')
        rows = []
        for p, v in fit.params.items():
            lo, hi = (fit.ci or {}).get(p, (None, None))
            status = "fixed" if p in fit.fixed else (f"tied to {fit.ties[p]}" if p in fit.ties else "free")
            row = {"parameter": p, "fit": v, "CI low": lo, "CI high": hi, "": status}
            if ref is not None:
                row[ref_name] = ref.params.get(p)
            rows.append(row)
        cols = ["parameter", "fit", "CI low", "CI high", ""] + ([ref_name] if ref is not None else [])
        out.append(_table(rows, cols, left=("parameter", "")))
        if fit.notes:
            out.append('<p class="note">' + "<br>".join(_esc(n) for n in fit.notes) + "</p>")
    return "".join(out)


def _theory_section(folder: Path, theory: dict | None) -> str:
    if theory is None:
        return _missing("the theory experiment was not run for this folder (run `bitscale study`).")
    if "error" in theory:
        return _missing(f"the theory experiment ({theory.get('preset')}) failed:") + f"<pre>{_esc(theory['error'])}</pre>"
    out = [f'<p class="note">Sketched linear regression trained by SGD (Zhang, Tang, Liang, Zou 2026), preset '
           f'<b>{_esc(theory.get("preset"))}</b>: multiplicative (float-like) quantization keeps the effective model '
           f'size, additive (integer-like) quantization shrinks it. M_eff, N_eff and E_add (± its standard error) are fitted '
           f'against the full-precision risk surface; M_kept and E_shrink split the N &rarr; &infin; plateau analytically '
           f'(directions learned to at least half their value, and the error left on them).</p>']
    table = theory.get("table") or []
    if table:
        cols = list(dict.fromkeys(k for r in table for k in r))
        out.append(_table(table, cols, left=tuple(c for c in cols if isinstance(table[0].get(c), str))))
    else:
        out.append(_missing("the theory experiment produced no effective-size table."))
    formats = theory.get("formats") or []
    if formats:
        out.append("<p class='note'>real number formats: measured multiplicative / additive noise and Monte Carlo risk</p>")
        fcols = list(dict.fromkeys(k for r in formats for k in r))
        out.append(_table(formats, fcols, left=tuple(c for c in fcols if isinstance(formats[0].get(c), str))))
    pngs = [Path(p) if Path(p).is_absolute() else folder / "theory" / p for p in theory.get("plots", [])]
    pngs = [p for p in pngs if p.suffix.lower() == ".png" and p.exists()]
    if not pngs:
        out.append(_missing("the theory experiment produced no PNG plots."))
    for p in pngs:
        out.append(f"<p class='note'>{_esc(p.name)}</p>" + _img(p.read_bytes(), p.stem))
    return "".join(out)


def _environment(folder: Path, runs: pd.DataFrame, sweep: dict | None, versions: list[dict]) -> str:
    import torch

    env = {
        "generated (UTC)": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu count": os.cpu_count(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "corpus sha256": ", ".join(sorted({str(c) for c in runs["corpus_sha256"].dropna()})) or "—",
    }
    try:
        from importlib.metadata import version

        env["bitscale"] = version("bitscale")
    except Exception:  # noqa: BLE001 - an uninstalled checkout still renders
        env["bitscale"] = "not installed"
    worker_versions = sorted({json.dumps(v, sort_keys=True) for v in versions if v})
    rows = "".join(f"<tr><th class='l'>{_esc(k)}</th><td class='l'>{_esc(v)}</td></tr>" for k, v in env.items())
    out = [f"<table>{rows}</table>"]
    if worker_versions:
        out.append("<p class='note'>versions reported by the workers that ran the runs:</p><pre>"
                   + _esc("\n".join(worker_versions)) + "</pre>")
    if sweep:
        out.append("<p class='note'>sweep configuration:</p><pre>" + _esc(json.dumps(sweep, indent=1)) + "</pre>")
    return "".join(out)


def render_report(folder: str | os.PathLike, analysis, theory: dict | None) -> str:
    """The report page of a study folder as an HTML string (see :data:`SECTIONS`)."""
    from bitscale import laws
    from bitscale.sweep.frames import ptq_frame, runs_frame
    from bitscale.sweep.store import RunStore
    from bitscale.sweep.study import neff_runs

    folder = Path(folder)
    runs = runs_frame(folder)
    ptq = ptq_frame(folder)
    with RunStore.in_folder(folder) as store:
        sweep = store.get_meta("sweep")
        versions = [r.versions for r in store.records()]
        counts = store.counts()
    done = runs[(runs["status"] == "done") & runs["loss"].notna()].reset_index(drop=True)
    neff = analysis.fits.get("kumar-neff")
    ptq_fit = analysis.fits.get("kumar-ptq")
    eff = analysis.fits.get("eff-per-precision")
    preset = laws.preset("kumar2024")
    ptq_preset = laws.preset("kumar2024-ptq")
    fig = _Figures(folder)
    body: dict[str, str] = {}

    # summary
    lines = [f"<p>Study folder <code>{_esc(folder.resolve())}</code>, sweep <b>{_esc((sweep or {}).get('name', '?'))}</b>: "
             + ", ".join(f"{n} {s}" for s, n in counts.items() if n) + ".</p>"]
    if neff is not None:
        g = ", ".join(f"γ_{x} = {neff.params[f'gamma_{x}']:.3g}" + (" (held)" if f"gamma_{x}" in neff.fixed else "")
                      for x in ("w", "a", "kv"))
        lines.append(f"<p>Fitted kumar-neff: {g}; α = {neff.params['alpha']:.3g}, E = {neff.params['E']:.3g}.</p>")
    plan = analysis.plan
    if plan and "fit" in plan:
        lines.append(f"<p>Compute-optimal training precision on the fitted law: P* = {plan['fit']['P'][0]:.2f} bits "
                     f"at C = {plan['compute'][0]:.3g} … {plan['fit']['P'][-1]:.2f} bits at C = {plan['compute'][-1]:.3g}.</p>")
    if analysis.errors:
        lines.append("<p class='note'>Not fitted: " + "; ".join(f"{_esc(k)}: {_esc(v)}" for k, v in analysis.errors.items()) + "</p>")
    body["summary"] = "".join(lines)

    fit_done = neff_runs(runs)
    body["loss-vs-n"] = fig("loss_vs_N", plots.loss_vs_N(done, neff), "loss against N", "no finished runs yet.")
    body["loss-vs-d"] = fig("loss_vs_D", plots.loss_vs_D(done, neff), "loss against D", "no finished runs yet.")
    body["constants"] = _constants_section(analysis, preset, ptq_preset)
    body["neff"] = fig("neff_vs_bits", plots.neff_vs_bits(fit_done, neff, preset, eff), "N_eff/N against bits",
                       "no kumar-neff fit.")
    if neff is None:
        body["neff"] = _missing(f"no kumar-neff fit ({analysis.errors.get('kumar-neff', 'no data')}); "
                                "the kumar2024 preset alone:") + fig("neff_vs_bits", plots.neff_vs_bits(fit_done, None, preset, eff), "N_eff/N", "")
    body["ptq"] = fig("delta_ptq", plots.delta_ptq_vs_tpp(ptq, ptq_fit), "delta PTQ against tokens per parameter",
                      "the sweep has no post-training targets (or no finished run), so there is no δ_PTQ to show.")
    if plan and "fit" in plan:
        mid = len(plan["compute"]) // 2
        C = plan["compute"][mid]
        body["plan"] = (fig("pstar_vs_compute", plots.pstar_vs_compute(plan), "P* against compute", "")
                        + fig("isoloss", plots.isoloss_contours(neff, C, plan_point=(plan["fit"]["N"][mid], plan["fit"]["P"][mid]),
                                                              dims=tuple(plan.get("dims", ("w", "a", "kv")))),
                              "iso-loss contours", "no kumar-neff fit."))
    else:
        body["plan"] = _missing("no plan: the planner needs a kumar-neff fit "
                                f"({analysis.errors.get('kumar-neff', analysis.errors.get('plan:fit', 'missing'))}).")
    pairs = plots.estimator_pairs(done)
    body["estimators"] = fig("estimators", plots.estimator_comparison(done), "STE vs denoise",
                             "the sweep has no run pairs trained with both STE and the denoising estimator at the same (N, D, bits).")
    if not pairs.empty:
        body["estimators"] += _table(pairs.to_dict("records"), list(pairs.columns), left=("bits",))
    body["theory"] = _theory_section(folder, theory)
    cols = ["key", "label", "status", "N", "D", "tokens_per_param", "precision", "estimator", "loss", "wall_s", "attempts"]
    recs = runs.assign(key=runs["key"].str[:12]).to_dict("records")
    body["runs"] = _table(recs, cols, left=("key", "label", "status", "precision", "estimator"),
                          classes={"status": lambda r: r["status"]}) if recs else _missing("the store holds no runs.")
    body["environment"] = _environment(folder, runs, sweep, versions)

    nav = "".join(f'<a href="#{sid}">{_esc(title.split(":")[0])}</a>' for sid, title in SECTIONS)
    sections = "".join(f'<section id="{sid}"><h2>{_esc(title)}</h2>{body[sid]}</section>' for sid, title in SECTIONS)
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>bitscale study: "
            f"{_esc((sweep or {}).get('name', folder.name))}</title><style>{_CSS}</style></head><body>"
            f"<h1>bitscale study report</h1><nav>{nav}</nav>{sections}</body></html>")


def write_report(folder: str | os.PathLike, analysis, theory: dict | None) -> Path:
    """Write ``folder/report.html`` (atomically: a reader never sees half a page); return its path."""
    folder = Path(folder)
    page = render_report(folder, analysis, theory)
    path = folder / "report.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, path)
    return path
