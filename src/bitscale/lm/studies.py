"""Two training studies, each reproducible with one call (or ``bitscale train-study NAME``).

* :func:`estimator_study` — the denoising estimator against the straight-through estimator (Ye
  et al., "Robust Training of Neural Networks at Arbitrary Precision and Sparsity") at W1A8, W1A1,
  W4A4 and W2A8 with 2:4 weight sparsity, beside the float32 baseline; same model, data and token
  budget for every arm.
* :func:`precision_ladder` — weights at P_w = 8, 6, 4, 3 bits (activations and KV cache at 8), fixed
  N and D: the loss should rise as P_w falls.

:func:`run_study` trains every arm for every seed (in worker processes, one torch thread each),
one run folder per (arm, seed) under the study folder, so that an interrupted study resumes where
it stopped; it returns the mean ± sample standard deviation of the final validation loss per arm.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from bitscale.lm.model import ModelConfig
from bitscale.lm.train import TrainConfig, TrainResult, train

__all__ = [
    "StudyReport",
    "StudyRow",
    "StudySpec",
    "estimator_study",
    "ladder_steps",
    "precision_ladder",
    "run_study",
    "summarize",
]

# A model that trains ~10⁵ tokens in well under a minute on one CPU thread, yet is deep enough
# (two blocks, four heads) for the quantizers of every linear layer and the KV cache to matter.
STUDY_MODEL = ModelConfig(n_layer=2, d_model=64, n_head=4, seq_len=64)
STUDY_TOKENS = 400_000
# The ladder needs many tokens per parameter (D/N ≈ 55 here, against ≈ 4 for the estimator
# study): at small D/N the loss is dominated by the data term of the scaling law and the weight
# precision barely shows (the estimator study's W1A8 arm sits next to float32).
LADDER_MODEL = ModelConfig(n_layer=2, d_model=32, n_head=2, seq_len=64)
LADDER_TOKENS = 1_500_000


@dataclass(frozen=True)
class StudySpec:
    """A study: a base config and its arms (label, QuantConfig string or None for float32)."""

    name: str
    base: TrainConfig
    arms: tuple[tuple[str, str | None], ...]


@dataclass(frozen=True)
class StudyRow:
    """One arm over its seeds: mean and sample sd of the final validation loss of finished runs."""

    label: str
    quant: str | None
    n: int
    diverged: int
    mean: float | None
    sd: float | None
    losses: tuple[float | None, ...]
    N: int
    D: int
    tokens_per_s: float


@dataclass(frozen=True)
class StudyReport:
    """Rows in arm order, and notes (e.g. the ladder's monotonicity verdict)."""

    name: str
    rows: tuple[StudyRow, ...]
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        return {
            "name": self.name,
            "rows": [row.__dict__ | {"losses": list(row.losses)} for row in self.rows],
            "notes": list(self.notes),
        }


def _base(tokens: int, model: ModelConfig = STUDY_MODEL) -> TrainConfig:
    return TrainConfig(
        model=model,
        tokens=tokens,
        batch_size=16,
        lr=3e-3,
        min_lr=3e-4,
        warmup=20,
        eval_tokens=32_768,
        threads=1,
    )


def estimator_study(tokens: int | None = None) -> StudySpec:
    """Denoise vs STE at W1A8, W1A1, W4A4, W2A8 + 2:4 sparsity, and the float32 baseline."""
    arms: list[tuple[str, str | None]] = [("float32", None)]
    for label, quant in (("W1A8", "w1a8"), ("W1A1", "w1a1"), ("W4A4", "w4a4"), ("W2A8 2:4", "w2a8,sparsity=2:4")):
        for estimator in ("ste", "denoise"):
            arms.append((f"{label} {estimator}", f"{quant},est={estimator}"))
    return StudySpec(name="estimators", base=_base(tokens or STUDY_TOKENS), arms=tuple(arms))


def precision_ladder(tokens: int | None = None, estimator: str = "ste") -> StudySpec:
    """P_w = 8, 6, 4, 3 with 8-bit activations and KV cache, at fixed N and D (and float32)."""
    arms: list[tuple[str, str | None]] = [("float32", None)]
    for bits in (8, 6, 4, 3):
        arms.append((f"W{bits}A8KV8", f"w{bits}a8kv8,est={estimator}"))
    return StudySpec(name="ladder", base=_base(tokens or LADDER_TOKENS, LADDER_MODEL), arms=tuple(arms))


def _run_one(job: tuple[TrainConfig, str]) -> dict:
    config, out_dir = job
    return train(config, out_dir=out_dir, progress=False).to_dict()


def _folder_name(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label)


def run_study(
    spec: StudySpec,
    out_dir: str | os.PathLike,
    seeds: tuple[int, ...] = (0, 1, 2),
    workers: int = 2,
    progress: bool = True,
) -> StudyReport:
    """Train every (arm, seed) of ``spec`` and summarise; results land in ``out_dir``.

    Runs go to ``out_dir/<arm>/seed<k>`` and are skipped when already finished there (see
    :func:`bitscale.lm.train`'s ``resume``). ``workers > 1`` trains in that many spawned processes.
    The report is also written to ``out_dir/summary.json``.
    """
    if workers < 1:
        raise ValueError(f"run_study: workers must be ≥ 1, got {workers}.")
    out = Path(out_dir)
    jobs: list[tuple[TrainConfig, str]] = []
    keys: list[tuple[str, int]] = []
    for label, quant in spec.arms:
        for seed in seeds:
            config = replace(spec.base, quant=quant, seed=seed)
            jobs.append((config, str(out / _folder_name(label) / f"seed{seed}")))
            keys.append((label, seed))
    results: dict[tuple[str, int], TrainResult] = {}

    bar = None
    if progress:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        bar = Progress(TextColumn(f"[bold]{spec.name}"), BarColumn(), MofNCompleteColumn(), TextColumn("runs"),
                       TimeElapsedColumn())
        task = bar.add_task(spec.name, total=len(jobs))
        bar.start()
    try:
        if workers == 1:
            outputs = map(_run_one, jobs)
            for key, data in zip(keys, outputs):
                results[key] = TrainResult.from_dict(data)
                if bar is not None:
                    bar.advance(task)
        else:
            # spawn, not fork: a forked child would inherit the parent's torch thread pool state.
            with multiprocessing.get_context("spawn").Pool(workers) as pool:
                for key, data in zip(keys, pool.imap(_run_one, jobs)):
                    results[key] = TrainResult.from_dict(data)
                    if bar is not None:
                        bar.advance(task)
    finally:
        if bar is not None:
            bar.stop()

    report = summarize(spec, results, seeds)
    if spec.name == "ladder":
        report = replace(report, notes=tuple(ladder_steps(report, results, seeds)))
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    return report


def _mean_sd(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def summarize(spec: StudySpec, results: dict[tuple[str, int], TrainResult], seeds: tuple[int, ...]) -> StudyReport:
    """Mean ± sample sd (n − 1) of the final validation loss per arm; diverged runs are counted apart."""
    rows = []
    for label, quant in spec.arms:
        runs = [results[(label, s)] for s in seeds]
        finished = [r.val_loss for r in runs if r.status == "done" and r.val_loss is not None]
        mean, sd = _mean_sd(finished)
        rows.append(
            StudyRow(
                label=label,
                quant=runs[0].quant,
                n=len(runs),
                diverged=sum(r.status == "diverged" for r in runs),
                mean=mean,
                sd=sd,
                losses=tuple(r.val_loss for r in runs),
                N=runs[0].N,
                D=runs[0].D,
                tokens_per_s=sum(r.tokens_per_s for r in runs) / len(runs),
            )
        )
    return StudyReport(name=spec.name, rows=tuple(rows))


def ladder_steps(report: StudyReport, results: dict[tuple[str, int], TrainResult], seeds: tuple[int, ...]) -> list[str]:
    """Is the loss monotone in P_w, beyond seed noise?

    For consecutive rungs (P_w → next lower P_w) the paired difference per seed
    d_s = L(lower, s) − L(higher, s) (same seed: same initial weights and batches) gives
    mean d̄ and standard error se = sd(d)/√n; a step counts as beyond noise when d̄ > 2·se.
    """
    rungs = [row for row in report.rows if row.quant is not None]
    notes, all_ok = [], True
    for hi, lo in zip(rungs, rungs[1:]):
        diffs = [
            results[(lo.label, s)].val_loss - results[(hi.label, s)].val_loss
            for s in seeds
            if results[(lo.label, s)].val_loss is not None and results[(hi.label, s)].val_loss is not None
        ]
        mean, sd = _mean_sd(diffs)
        if mean is None:
            notes.append(f"{hi.label} → {lo.label}: no paired finished runs")
            all_ok = False
            continue
        se = (sd or 0.0) / math.sqrt(len(diffs))
        ok = mean > 2 * se and mean > 0
        all_ok &= ok
        notes.append(
            f"{hi.label} → {lo.label}: Δloss = {mean:+.4f} ± {sd:.4f} (paired over {len(diffs)} seeds, "
            f"se {se:.4f}): {'rises beyond noise' if ok else 'NOT beyond noise'}"
        )
    notes.append("monotone beyond seed noise: " + ("yes" if all_ok else "no"))
    return notes
