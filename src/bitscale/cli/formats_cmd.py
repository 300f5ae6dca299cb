"""`bitscale formats`: the table of built-in formats, and `bitscale formats show SPEC`."""

from __future__ import annotations

import json
import math
from dataclasses import asdict

import typer

formats_app = typer.Typer(
    invoke_without_command=True,
    no_args_is_help=False,
    help="Number formats: a table of every built-in format, or `show SPEC` for one.",
)


def _num(v: float) -> str:
    if isinstance(v, float) and math.isnan(v):
        return "—"
    return f"{v:.4g}"


@formats_app.callback()
def table(
    ctx: typer.Context,
    samples: int = typer.Option(2**16, help="N(0,1) samples for the measured noise."),
    seed: int = typer.Option(0, help="Seed of the samples."),
) -> None:
    """Print every built-in format: bits, range, step, and measured ε_mul / ε_add."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.console import Console
    from rich.table import Table

    from bitscale import formats

    t = Table(title="bitscale formats (noise measured on N(0,1), per-tensor absmax scaling; "
                    "blocks: own scaling; unsigned: |N(0,1)|)")
    for col in ("format", "bits", "max finite", "min normal", "min subnormal", "rel. step",
                "ε_mul", "ε_add", "dominant"):
        t.add_column(col, justify="left" if col in ("format", "dominant") else "right")
    for name in formats.BUILTIN:
        info = formats.describe(name, samples=samples, seed=seed)
        t.add_row(info.spec, _num(info.bits), _num(info.max_finite), _num(info.smallest_normal),
                  _num(info.smallest_subnormal), _num(info.relative_step), f"{info.eps_mul:.3g}",
                  f"{info.eps_add:.3g}", info.dominant)
    Console(width=140).print(t)


@formats_app.command("show")
def show(
    spec: str = typer.Argument(..., help="A format or spec, e.g. e4m3fn, int4:group128:affine."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    samples: int = typer.Option(2**16, help="N(0,1) samples for the measured noise."),
    seed: int = typer.Option(0, help="Seed of the samples."),
) -> None:
    """Explain one format: its facts and its measured noise profile."""
    from bitscale import formats

    try:
        info = formats.describe(spec, samples=samples, seed=seed)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    data = asdict(info)
    if as_json:
        typer.echo(json.dumps({k: (None if isinstance(v, float) and math.isnan(v) else v)
                               for k, v in data.items()}, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"format {info.spec}", show_header=False)
    t.add_column("field")
    t.add_column("value")
    for k, v in data.items():
        t.add_row(k, _num(v) if isinstance(v, float) else str(v))
    Console().print(t)


def register(app: typer.Typer) -> None:
    """Add `bitscale formats` (table) and `bitscale formats show SPEC` to the top-level app."""
    app.add_typer(formats_app, name="formats")
