"""``bitscale theory``: run experiments, measure effective sizes, validate the exact engine.

A thin skin over :mod:`bitscale.theory`: parse, call, render with Rich.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

theory_app = typer.Typer(help="Sketched linear regression trained in low precision "
                              "(multiplicative vs additive quantization).",
                         no_args_is_help=True)


def _ints(text: str, what: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise typer.BadParameter(f"{what} = {text!r}: expected comma-separated integers, "
                                 "e.g. 64,128,256,512.") from None


@theory_app.command("run")
def run_cmd(
    config: Optional[str] = typer.Argument(
        None, help="TOML experiment file, or a bundled name: 'default' (the default) or 'quick'."),
    out: Path = typer.Option(Path("theory-out"), "--out", help="Output directory."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Run an experiment; write results.csv, summary.json and PNG plots into --out."""
    from bitscale.theory import run_experiment

    console = Console()
    try:
        summary = run_experiment(config, out, progress=not quiet)
    except (ValueError, FileNotFoundError) as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    table = Table(title=f"effective sizes ({summary.name}; mul = multiplicative, add = additive)")
    for col in ("setting", "M", "M_eff/M", "N_eff/N", "E_add±SE", "rms log", "M_kept",
                "E_shrink"):
        table.add_column(col, justify="right", no_wrap=True)
    for r in summary.table:
        table.add_row(f"{r.place} {r.scheme[:3]} {r.eps:g}", str(r.M), f"{r.M_eff_over_M:.3f}",
                      f"{r.N_eff_over_N:.3f}", f"{r.E_add:.2g}±{r.E_add_se:.1g}",
                      f"{r.rms_log:.3f}", str(r.M_kept), f"{r.E_shrink:.3g}")
    console.print(table)
    if summary.formats:
        ft = Table(title="real formats (Monte Carlo, stochastic rounding) vs idealised schemes")
        for col in ("format", "eps_mul", "eps_add", "kind", "risk±SE", "ideal mul",
                    "ideal add", "full prec"):
            ft.add_column(col, justify="right", no_wrap=True)
        for f in summary.formats:
            ft.add_row(f.spec.split(":")[0], f"{f.eps_mul:.3g}", f"{f.eps_add:.3g}",
                       f.dominant[:3], f"{f.risk:.4f}±{f.se:.4f}", f"{f.risk_mul:.4f}",
                       f"{f.risk_add:.4f}", f"{f.risk_fp:.4f}")
        console.print(ft)
    for case, z in summary.overlay_max_z.items():
        console.print(f"overlay {case}: max |exact - MC| / SE = {z:.2f}")
    console.print(f"wrote {summary.results_csv}, {summary.summary_json} and "
                  f"{len(summary.plots)} plots in {summary.elapsed_s:.1f} s")


@theory_app.command("effective-size")
def effective_size_cmd(
    scheme: str = typer.Option(..., "--scheme", help="multiplicative or additive."),
    place: str = typer.Option("data", "--place", help="data, label, param, activation, grad, "
                                                      "weights."),
    eps: Optional[float] = typer.Option(None, "--eps", help="Noise level eps (or give --bits)."),
    bits: Optional[int] = typer.Option(None, "--bits", help="Bits instead of eps: integer width "
                                       "(additive) or mantissa bits (multiplicative)."),
    scale: float = typer.Option(1.0, "--scale", help="Range [-scale, scale] of the additive "
                                "integer grid given by --bits."),
    a: float = typer.Option(2.0, "--a", help="Spectrum exponent a > 1."),
    m: str = typer.Option("64,128,256,512", "--M", help="Model sizes, comma-separated."),
    n: str = typer.Option("256,1024,4096,16384,65536", "--N",
                          help="Sample counts, comma-separated."),
    d: Optional[int] = typer.Option(None, "--d", help="Dimension (default 10 x max M)."),
    sigma2: float = typer.Option(1.0, "--sigma2", help="Label-noise variance."),
    lr: float = typer.Option(0.25, "--lr", help="Initial step size."),
    n_eff: str = typer.Option("ratio", "--n-eff", help="'ratio' or 'per-n'."),
    reference: str = typer.Option("tuned", "--reference", help="Step of the full-precision "
                                  "surface: 'tuned' (its own --lr) or 'same-step'."),
    iterate: str = typer.Option("last", "--iterate", help="'last', 'average' or 'tail'."),
    test: str = typer.Option("clean", "--test", help="'clean' or 'quantized' (the forward-pass "
                             "quantizers applied at inference)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Fit (M_eff, N_eff, E_add) of one quantization setting; print them for each M.

    Beside the fit: M_kept and E_shrink, the analytic split of the N -> infinity plateau
    (directions learned to at least half their value, and the error left on them).
    """
    from bitscale.theory import Problem, Quantization, effective_sizes

    console = Console()
    ms, ns = _ints(m, "--M"), _ints(n, "--N")
    try:
        if scheme not in ("multiplicative", "additive"):
            raise ValueError(f"--scheme {scheme!r}: expected multiplicative or additive.")
        if (eps is None) == (bits is None):
            raise ValueError("give exactly one of --eps and --bits.")
        problem = Problem(a=a, M=max(ms), d=d or 10 * max(ms), sigma2=sigma2, lr=lr,
                          iterate=iterate, test=test)
        quant = (Quantization.single(place, scheme, eps) if bits is None
                 else Quantization.single(place, scheme, bits=bits, scale=scale))
        noise = getattr(quant, place)
        fit = effective_sizes(problem, quant, ms, ns, n_eff=n_eff, reference=reference)
    except ValueError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    rows = fit.rows()
    if as_json:
        typer.echo(json.dumps({"scheme": scheme, "place": place, "eps": noise.eps, "bits": bits,
                               "a": a, "N": ns, "lr": float(fit.lr[0]),
                               "reference": reference, "reference_lr": fit.reference_lr,
                               "iterate": iterate, "test": test, "rows": rows}, indent=2))
        return
    table = Table(title=f"{place}:{noise.label}, a={a:g} (lr={fit.lr[0]:.4g}; full precision "
                        f"at lr={fit.reference_lr:.4g})")
    for col in ("M", "M_eff", "M_eff/M", "N_eff/N", "E_add±SE", "rms log", "M_kept",
                "E_shrink"):
        table.add_column(col, justify="right", no_wrap=True)
    for r in rows:
        table.add_row(str(r["M"]), f"{r['M_eff']:.1f}", f"{r['M_eff/M']:.3f}",
                      f"{r['N_eff/N']:.3f}", f"{r['E_add']:.2g}±{r['E_add_se']:.1g}",
                      f"{r['rms_log']:.4f}", str(r["M_kept"]), f"{r['E_shrink']:.3g}")
    console.print(table)


@theory_app.command("validate")
def validate_cmd(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    seeds: int = typer.Option(1500, "--seeds", help="Monte Carlo seeds per case."),
) -> None:
    """Exact engine vs Monte Carlo on places x schemes x schedules; each case's largest z."""
    from bitscale.theory import validate

    cases = validate(seeds=seeds)
    ok = all(c.passed for c in cases)
    if as_json:
        typer.echo(json.dumps({"passed": ok, "cases": [
            {"place": c.place, "scheme": c.scheme, "schedule": c.schedule, "batch": c.batch,
             "iterate": c.iterate, "test": c.test, "eps": c.eps, "max_z": c.max_z,
             "power": c.power, "passed": c.passed}
            for c in cases]}, indent=2))
    else:
        table = Table(title="exact vs Monte Carlo (|exact - MC| <= 3 SE at every N)")
        for col in ("place", "scheme", "eps", "schedule", "B", "iterate", "test", "max z",
                    "power", "ok"):
            table.add_column(col, justify="right")
        for c in cases:
            table.add_row(c.place, c.scheme, f"{c.eps:g}", c.schedule, str(c.batch), c.iterate,
                          c.test, f"{c.max_z:.2f}", f"{c.power:.1f}", "yes" if c.passed else "NO")
        Console().print(table)
    if not ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``bitscale theory ...`` to the top-level app."""
    app.add_typer(theory_app, name="theory")
