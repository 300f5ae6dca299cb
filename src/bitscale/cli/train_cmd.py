"""`bitscale train` and `bitscale train-study`: train one language model, or run a study.

Thin skin over :func:`bitscale.lm.train` and :mod:`bitscale.lm.studies`: parse options, call the
library, render the result with Rich. torch is imported inside the commands only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

_STUDIES = ("estimators", "ladder")


def _result_table(result) -> Table:
    table = Table(title="bitscale train", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    status = result.status if result.status == "done" else f"[red]{result.status}[/red]: {result.reason}"
    rows = [
        ("status", status),
        ("N (non-embedding params)", f"{result.N:,}"),
        ("D (tokens)", f"{result.D:,}"),
        ("precision (P_w, P_a, P_kv)", f"{result.P_w}, {result.P_a}, {result.P_kv}"),
        ("quant / estimator", f"{result.quant or 'float32'} / {result.estimator}"),
        ("val loss (nats/byte)", "—" if result.val_loss is None else f"{result.val_loss:.4f}"),
        ("tokens/s", f"{result.tokens_per_s:,.0f}"),
        ("wall (s)", f"{result.wall_s:.1f}"),
        ("corpus sha256", result.corpus_sha256[:16] + "…"),
    ]
    for row in rows:
        table.add_row(*row)
    for p in result.ptq:
        table.add_row(f"PTQ {p.spec} ({p.method})", f"loss {p.loss:.4f}, δ_PTQ {p.delta:+.4f}")
    return table


def train_command(
    out: Path = typer.Option(..., "--out", help="Run folder: config.json, metrics.jsonl, ckpt.pt, result.json."),
    n_layer: int = typer.Option(2, "--layers", help="Transformer blocks."),
    d_model: int = typer.Option(128, "--d-model", help="Residual width."),
    n_head: int = typer.Option(4, "--heads", help="Attention heads."),
    seq_len: int = typer.Option(128, "--seq-len", help="Context length (bytes)."),
    tokens: int = typer.Option(1_000_000, "--tokens", help="Token budget D."),
    batch_size: int = typer.Option(16, "--batch-size", help="Sequences per step."),
    lr: float = typer.Option(3e-3, "--lr", help="Peak learning rate."),
    min_lr: float = typer.Option(3e-4, "--min-lr", help="Final learning rate of the cosine schedule."),
    warmup: int = typer.Option(50, "--warmup", help="Warm-up steps."),
    seed: int = typer.Option(0, "--seed", help="Seed of weights and batches."),
    quant: Optional[str] = typer.Option(
        None, "--quant", help="QAT config, e.g. w4a8kv8 or 'w=int4:channel,a=int8:tensor,est=denoise'."
    ),
    ptq: list[str] = typer.Option([], "--ptq", help="Post-training weight format, repeatable (e.g. int4:channel)."),
    ptq_method: str = typer.Option("rtn", "--ptq-method", help="rtn or gptq."),
    eval_tokens: int = typer.Option(32_768, "--eval-tokens", help="Size of the validation slice."),
    eval_every: int = typer.Option(0, "--eval-every", help="Evaluate every this many steps (0: at the end)."),
    checkpoint_every: int = typer.Option(100, "--checkpoint-every", help="Checkpoint every this many steps."),
    data: Optional[str] = typer.Option(None, "--data", help="Text file or folder (default: the Python stdlib)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch threads."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Continue a run found in --out."),
) -> None:
    """Train a small transformer language model (optionally quantization-aware) and report its loss."""
    from bitscale.lm import ModelConfig, TrainConfig, train

    try:
        config = TrainConfig(
            model=ModelConfig(n_layer=n_layer, d_model=d_model, n_head=n_head, seq_len=seq_len),
            tokens=tokens,
            batch_size=batch_size,
            lr=lr,
            min_lr=min_lr,
            warmup=warmup,
            seed=seed,
            quant=quant,
            ptq=tuple(ptq),
            ptq_method=ptq_method,
            eval_tokens=eval_tokens,
            eval_every=eval_every,
            checkpoint_every=checkpoint_every,
            data=data,
            threads=threads,
        )
    except (ValueError, TypeError) as err:
        raise typer.BadParameter(str(err)) from err
    result = train(config, out_dir=out, progress=progress, resume=resume)
    Console().print(_result_table(result))


def study_command(
    study: str = typer.Argument(..., help="estimators or ladder."),
    out: Path = typer.Option(..., "--out", help="Study folder; one sub-folder per run, reused on rerun."),
    seeds: int = typer.Option(3, "--seeds", help="Seeds per configuration."),
    workers: int = typer.Option(2, "--workers", help="Worker processes (one torch thread each)."),
    tokens: Optional[int] = typer.Option(None, "--tokens", help="Token budget D (default: the study's)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Reproduce a study: the estimator study (denoise vs STE) or the precision ladder."""
    if study not in _STUDIES:
        raise typer.BadParameter(f"study must be one of {', '.join(_STUDIES)}, got {study!r}.")
    from bitscale.lm import studies

    spec = studies.estimator_study(tokens=tokens) if study == "estimators" else studies.precision_ladder(tokens=tokens)
    report = studies.run_study(spec, out, seeds=tuple(range(seeds)), workers=workers, progress=progress)
    table = Table(title=f"bitscale train-study {study}: val loss (nats/byte), mean ± sd over {seeds} seeds")
    for column in ("configuration", "quant", "N", "D", "val loss", "diverged", "tokens/s"):
        table.add_column(column, justify="left" if column in ("configuration", "quant") else "right")
    for row in report.rows:
        loss = "—" if row.mean is None else f"{row.mean:.4f} ± {row.sd:.4f}"
        table.add_row(row.label, row.quant or "float32", f"{row.N:,}", f"{row.D:,}", loss,
                      f"{row.diverged}/{row.n}", f"{row.tokens_per_s:,.0f}")
    console = Console()
    console.print(table)
    for line in report.notes:
        console.print(line)


def register(app: typer.Typer) -> None:
    """Add ``train`` and ``train-study`` to the top-level app."""
    app.command("train")(train_command)
    app.command("train-study")(study_command)
