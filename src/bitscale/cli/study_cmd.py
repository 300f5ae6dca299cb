"""`bitscale sweep run|status|export`, `bitscale study` and `bitscale report`.

Thin: parse options, call :mod:`bitscale.sweep` / :mod:`bitscale.report`, render with Rich.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import typer
from rich.console import Console
from rich.table import Table

console = Console()

_STATUS_STYLE = {"done": "green", "running": "yellow", "pending": "dim", "failed": "red", "diverged": "magenta"}


@contextmanager
def _sweep_progress(title: str) -> Iterator:
    """A Rich progress bar fed by :class:`bitscale.sweep.runner.SweepEvent` callbacks."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[last]}"),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(title, total=None, last="")

        def on_event(event) -> None:
            if event.kind == "finish":
                colour = _STATUS_STYLE.get(event.status, "white")
                progress.update(task, total=event.total, completed=event.done,
                                last=f"[{colour}]{event.status}[/] {event.label}")
            else:
                progress.update(task, total=event.total)

        yield on_event


def _status_table(folder: Path, title: str | None = None) -> Table:
    from bitscale.sweep.frames import runs_frame

    df = runs_frame(folder)
    table = Table(title=title or f"runs in {folder}", show_lines=False)
    for col in ("run", "status", "N", "D", "D/N", "precision", "loss", "wall s", "attempts"):
        table.add_column(col, justify="right" if col not in ("run", "status", "precision") else "left")
    for r in df.itertuples():
        def num(x, fmt):
            return "" if x != x or x is None else format(x, fmt)
        table.add_row(
            r.key[:10],
            f"[{_STATUS_STYLE.get(r.status, 'white')}]{r.status}[/]",
            num(r.N, ",.0f"),
            num(r.D, ",.0f"),
            num(r.tokens_per_param, ".1f"),
            str(r.precision),
            num(r.loss, ".4f"),
            num(r.wall_s, ".1f"),
            str(r.attempts),
        )
    return table


def _counts_line(counts: dict) -> str:
    return "  ".join(f"[{_STATUS_STYLE[s]}]{s}[/] {n}" for s, n in counts.items() if n)


def register(app: typer.Typer) -> None:
    """Add ``sweep run|status|export``, ``study`` and ``report`` to the top-level app."""
    sweep = typer.Typer(help="Resumable grids of training runs, on a local pool or a Ray cluster.",
                        no_args_is_help=True)

    @sweep.command("run")
    def sweep_run(
        config: str = typer.Argument(..., help="Sweep TOML file, or a preset: quick, default, full."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Study folder (default: sweeps/<name>)."),
        executor: str = typer.Option("local", help="local (process pool) or ray."),
        workers: Optional[int] = typer.Option(None, help="Worker processes / local Ray CPUs (default: one per core)."),
        ray_address: Optional[str] = typer.Option(None, help="Ray cluster address (default: start a local Ray)."),
        retry_failed: bool = typer.Option(True, help="Rerun runs that failed before."),
    ) -> None:
        """Run (or resume) a sweep: finished runs are skipped, interrupted ones restarted."""
        from bitscale.sweep.config import load_sweep
        from bitscale.sweep.runner import run_sweep

        cfg = load_sweep(config)
        folder = out or Path("sweeps") / cfg.name
        with _sweep_progress(f"sweep {cfg.name}") as on_event:
            summary = run_sweep(cfg, folder, executor=executor, workers=workers, ray_address=ray_address,
                                retry_failed=retry_failed, on_event=on_event)
        console.print(
            f"sweep [bold]{cfg.name}[/] in {folder}: {summary.executed} executed, {summary.skipped} already "
            f"finished, {summary.wall_s:.1f} s — {_counts_line(summary.counts)}"
        )
        if summary.counts.get("failed"):
            raise typer.Exit(1)

    @sweep.command("status")
    def sweep_status(folder: Path = typer.Argument(..., help="Study folder.")) -> None:
        """A table of the runs in a study folder and their state."""
        from bitscale.sweep.store import RunStore

        if not (folder / RunStore.FILENAME).exists():
            console.print(f"[red]no run store in {folder}[/]; expected a folder made by `bitscale sweep run`")
            raise typer.Exit(2)
        console.print(_status_table(folder))
        with RunStore.in_folder(folder) as store:
            console.print(_counts_line(store.counts()))

    @sweep.command("export")
    def sweep_export(
        folder: Path = typer.Argument(..., help="Study folder."),
        format: str = typer.Option("csv", "--format", "-f", help="csv or parquet."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="File to write (default: FOLDER/runs.<format>)."),
    ) -> None:
        """Export the runs (and PTQ results) as tables `bitscale fit` reads."""
        from bitscale.sweep.frames import export

        if format not in ("csv", "parquet"):
            console.print(f"[red]--format {format!r}[/]: expected csv or parquet")
            raise typer.Exit(2)
        written = export(folder, out or folder / f"runs.{format}", fmt=format)
        for path in written:
            console.print(f"wrote {path}")

    app.add_typer(sweep, name="sweep")

    @app.command("study")
    def study(
        config: Optional[str] = typer.Argument(None, help="Sweep TOML file (or use --preset)."),
        preset: Optional[str] = typer.Option(None, "--preset", "-p", help="quick, default or full."),
        out: Path = typer.Option(Path("study"), "--out", "-o", help="Study folder (resumed if it exists)."),
        executor: str = typer.Option("local", help="local (process pool) or ray."),
        workers: Optional[int] = typer.Option(None, help="Worker processes / local Ray CPUs (default: one per core)."),
        ray_address: Optional[str] = typer.Option(None, help="Ray cluster address (default: start a local Ray)."),
        bootstrap: Optional[int] = typer.Option(None, help="Bootstrap replicates of the fits (default: the sweep's)."),
    ) -> None:
        """The main job: sweep → fit the laws → plan → theory experiment → DIR/report.html."""
        from bitscale.sweep.config import load_sweep
        from bitscale.sweep.study import run_study

        if (config is None) == (preset is None):
            console.print("[red]give a sweep CONFIG file or --preset quick|default|full (exactly one)[/]")
            raise typer.Exit(2)
        cfg = load_sweep(config or preset)
        console.print(f"study [bold]{cfg.name}[/]: {len(cfg.runs())} runs → {out}")
        with _sweep_progress(f"sweep {cfg.name}") as on_event:
            result = run_study(cfg, out, executor=executor, workers=workers, ray_address=ray_address,
                               bootstrap=bootstrap, on_event=on_event,
                               on_stage=lambda text: console.log(text))
        _print_summary(result.analysis, result.report, result.sweep.counts, result.wall_s)

    @app.command("report")
    def report(folder: Path = typer.Argument(..., help="Study folder.")) -> None:
        """Rebuild DIR/report.html from the store and the saved fits, without re-running anything."""
        from bitscale.sweep.store import RunStore
        from bitscale.sweep.study import build_report, load_analysis

        if not (folder / RunStore.FILENAME).exists():
            console.print(f"[red]no run store in {folder}[/]; expected a folder made by `bitscale study`")
            raise typer.Exit(2)
        path = build_report(folder, on_stage=lambda text: console.log(text))
        with RunStore.in_folder(folder) as store:
            counts = store.counts()
        _print_summary(load_analysis(folder), path, counts, None)


def _print_summary(analysis, report: Path, counts: dict, wall_s: float | None) -> None:
    """The closing lines: fitted γ's, P*, where the report is."""
    console.print(_counts_line(counts))
    neff = analysis.fits.get("kumar-neff") if analysis else None
    if neff is not None:
        table = Table(title="kumar-neff fit (95 % bootstrap intervals)")
        for col in ("parameter", "fit", "interval", "kumar2024"):
            table.add_column(col, justify="left" if col == "parameter" else "right")
        from bitscale import laws

        ref = laws.preset("kumar2024").params
        for p in ("gamma_w", "gamma_a", "gamma_kv", "alpha", "E"):
            lo_hi = (neff.ci or {}).get(p)
            held = p in neff.fixed
            table.add_row(p, f"{neff.params[p]:.3g}" + (" (held)" if held else ""),
                          "" if lo_hi is None or held else f"[{lo_hi[0]:.3g}, {lo_hi[1]:.3g}]", f"{ref[p]:.3g}")
        console.print(table)
    elif analysis is not None:
        console.print(f"[yellow]kumar-neff not fitted[/]: {analysis.errors.get('kumar-neff')}")
    if analysis is not None and analysis.plan and "fit" in analysis.plan:
        plan = analysis.plan
        console.print("P* (fitted law): " + ", ".join(
            f"{p:.2f} bits at C={c:.2g}" for c, p in list(zip(plan["compute"], plan["fit"]["P"]))[:: max(1, len(plan["compute"]) // 4)]))
    for name, err in (analysis.errors.items() if analysis else ()):
        console.print(f"[yellow]{name}[/]: {err}")
    tail = f" in {wall_s:.0f} s" if wall_s is not None else ""
    console.print(f"report: [bold]{report}[/]{tail}")
