"""`bitscale fit`, `bitscale predict`, `bitscale plan`: a thin skin over :mod:`bitscale.laws`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def _pairs(items: list[str] | None, what: str) -> dict[str, str]:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise typer.BadParameter(f"{what} expects NAME=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _load_law(spec: str):
    """A preset name, or the path of a fit saved with `bitscale fit --save`."""
    from bitscale import laws

    if spec.endswith(".json") and Path(spec).exists():
        return laws.FitResult.from_json(Path(spec)).law
    try:
        return laws.preset(spec)
    except KeyError as e:
        raise typer.BadParameter(f"{e.args[0]} Or pass a fit saved with `bitscale fit --save FIT.json`.") from None


def fit_cmd(
    data: Path = typer.Argument(..., help="CSV or Parquet file, one row per training run."),
    law: str = typer.Option("chinchilla", "--law", "-l", help="Law form: chinchilla, kumar-neff, kumar-ptq, kumar-unified, eff-per-precision, sun-fp."),
    mapping: list[str] = typer.Option(None, "--map", "-m", help="Column mapping CANONICAL=column, e.g. N=params (repeatable)."),
    fix: list[str] = typer.Option(None, "--fix", help="Hold a parameter: NAME=VALUE (repeatable)."),
    tie: list[str] = typer.Option(None, "--tie", help="Tie parameters: NAME=OTHER, e.g. beta=alpha (repeatable)."),
    loss: str = typer.Option("huber", "--loss", help="huber or ls (on log residuals)."),
    delta: float = typer.Option(1e-3, "--delta", help="Huber threshold on log residuals."),
    bootstrap: int = typer.Option(0, "--bootstrap", "-b", help="Bootstrap replicates for SEs and intervals."),
    seed: int = typer.Option(0, "--seed"),
    as_json: bool = typer.Option(False, "--json", help="Print the fit as JSON."),
    save: Path = typer.Option(None, "--save", help="Write the fit as JSON (usable as --law in predict/plan)."),
    plot: Path = typer.Option(None, "--plot", help="Write a PNG: data and fitted curves per precision, residuals."),
    holdout: float = typer.Option(0.0, "--holdout", help="Also hold out this share of the largest-N runs and report the extrapolation error."),
) -> None:
    """Fit a scaling law to training runs."""
    from bitscale import laws

    columns = _pairs(mapping, "--map")
    fixed = {k: float(v) for k, v in _pairs(fix, "--fix").items()}
    ties = _pairs(tie, "--tie")
    try:
        res = laws.fit(law, data, columns=columns, loss=loss, delta=delta, fixed=fixed, ties=ties, bootstrap=bootstrap, seed=seed)
        hold = laws.extrapolation_check(law, data, columns, fraction=holdout, loss=loss, delta=delta, fixed=fixed, ties=ties) if holdout else None
    except (KeyError, ValueError, FileNotFoundError) as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None
    if save is not None:
        res.to_json(save)
    if plot is not None:
        from bitscale.laws.plots import plot_fit

        plot_fit(res, data, plot, columns)
    if as_json:
        d = res.to_dict()
        if hold is not None:
            d["holdout"] = {"by": hold.by, "n_test": hold.n_test, "rmsle_test": hold.rmsle_test, "max_abs_rel_error": hold.max_abs_rel_error}
        typer.echo(json.dumps(d, indent=1))
        return
    t = Table(title=f"{res.law_name} fit to {res.n_points} runs ({res.loss}, delta={res.delta:g})")
    t.add_column("param")
    t.add_column("value", justify="right")
    if res.se is not None:
        t.add_column("SE", justify="right")
        t.add_column(f"{res.ci_level:.0%} interval", justify="right")
    for k, v in res.params.items():
        tag = " (fixed)" if k in res.fixed else (f" (= {res.ties[k]})" if k in res.ties else "")
        row = [k + tag, f"{v:.6g}"]
        if res.se is not None:
            row += [f"{res.se[k]:.3g}", f"[{res.ci[k][0]:.4g}, {res.ci[k][1]:.4g}]"]
        t.add_row(*row)
    console.print(t)
    console.print(f"RMSLE {res.rmsle:.5f}   R^2 (log) {res.r2:.5f}   objective {res.objective:.6g}   converged {res.converged}")
    for n in res.notes:
        console.print(f"[yellow]note:[/yellow] {n}")
    if hold is not None:
        console.print(f"held out {hold.n_test} largest-N runs: RMSLE {hold.rmsle_test:.5f}, max |rel err| {hold.max_abs_rel_error:.4f}")


def predict_cmd(
    law: str = typer.Option(..., "--law", "-l", help="Preset name or FIT.json."),
    N: float = typer.Option(..., "--N", help="Parameters."),
    D: float = typer.Option(..., "--D", help="Tokens."),
    P: float = typer.Option(16.0, "--P", help="Training bits for weights, activations and KV cache."),
    P_post: float = typer.Option(None, "--P-post", help="Also predict the loss after PTQ to this many bits."),
    label: str = typer.Option(None, "--label", help="Precision label (eff-per-precision laws)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Predict the loss of one run from a law."""
    from bitscale import laws

    lw = _load_law(law)
    values = {"N": N, "D": D, "P_w": P, "P_a": P, "P_kv": P}
    if "label" in lw.form.columns:
        values["label"] = label if label is not None else laws.forms.normalize_label(P)
    try:
        loss = float(lw.predict(**{k: v for k, v in values.items() if k in lw.form.columns or k in ("N", "D")})[0])
        post = float(laws.loss_after_ptq(lw, N=N, D=D, P_post=P_post, P_train=P)) if P_post is not None else None
    except (KeyError, ValueError) as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None
    out = {"law": lw.name, "N": N, "D": D, "P": P, "loss": loss}
    if post is not None:
        out |= {"P_post": P_post, "loss_after_ptq": post}
    if as_json:
        typer.echo(json.dumps(out))
        return
    t = Table(title=f"prediction ({lw.name})")
    for k in out:
        t.add_column(k, justify="right")
    t.add_row(*[f"{v:.6g}" if isinstance(v, float) else str(v) for v in out.values()])
    console.print(t)


def _formats(spec: str):
    from bitscale import laws

    table = {}
    for part in spec.split(","):
        try:
            name, rest = part.split("=")
            bits, speed = rest.lower().split("x")
            table[name.strip()] = (float(bits), float(speed))
        except ValueError:
            raise typer.BadParameter(f"--formats expects NAME=BITSxSPEEDUP,..., e.g. bf16=16x1,fp8=8x2; got {part!r}") from None
    return laws.HardwareCost(table)


def plan_cmd(
    law: str = typer.Option(..., "--law", "-l", help="Preset name or FIT.json."),
    compute: list[float] = typer.Option(..., "--compute", "-c", help="Budget in FLOPs (repeat for a sweep)."),
    N: float = typer.Option(None, "--N", help="Fixed model size: choose only D and P."),
    formats: str = typer.Option(None, "--formats", help="Discrete hardware formats NAME=BITSxSPEEDUP, e.g. bf16=16x1,fp8=8x2,fp4=4x4."),
    precisions: str = typer.Option(None, "--precisions", help="Discrete bit widths under the 6/16 N D P cost, e.g. 4,8,16."),
    P_post: float = typer.Option(None, "--P-post", help="Also report loss after PTQ to these bits and D_crit."),
    as_json: bool = typer.Option(False, "--json"),
    plot: Path = typer.Option(None, "--plot", help="PNG: P* against compute (several budgets) or iso-loss contours in (N, P)."),
) -> None:
    """Compute-optimal N, D and precision for a budget."""
    from bitscale import laws

    lw = _load_law(law)
    kw = {"N": N}
    if formats:
        kw["cost"] = _formats(formats)
    if precisions:
        kw["precisions"] = [float(p) for p in precisions.split(",")]
    try:
        sweep = laws.plan_sweep(lw, compute, **kw)
        rows = []
        for p in sweep.plans:
            r = {"compute": p.compute, "N": p.N, "D": p.D, "P": p.P, "label": p.label, "loss": p.loss}
            if P_post is not None:
                r["loss_after_ptq"] = float(laws.loss_after_ptq(lw, N=p.N, D=p.D, P_post=P_post, P_train=p.P))
                r["D_crit"] = laws.critical_data(lw, N=p.N, P_post=P_post, P_train=p.P)
            rows.append(r)
    except (KeyError, ValueError) as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None
    if plot is not None:
        from bitscale.laws import plots

        if len(compute) > 1:
            plots.plot_p_star(sweep, plot, title=f"P* against compute ({lw.name})")
        else:
            plots.plot_iso_loss(lw, compute[0], plot)
    if as_json:
        typer.echo(json.dumps({"law": lw.name, "cost_model": sweep.plans[0].cost_model, "plans": rows}, indent=1))
        return
    t = Table(title=f"compute-optimal plan ({lw.name}; cost: {sweep.plans[0].cost_model})")
    for k in rows[0]:
        t.add_column(k, justify="right")
    for r in rows:
        t.add_row(*[f"{v:.4g}" if isinstance(v, float) else str(v) for v in r.values()])
    console.print(t)


def register(app: typer.Typer) -> None:
    """Add `fit`, `predict` and `plan` to the top-level app."""
    app.command("fit")(fit_cmd)
    app.command("predict")(predict_cmd)
    app.command("plan")(plan_cmd)
