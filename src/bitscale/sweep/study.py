"""The study: sweep → fits with bootstrap intervals → plan → theory experiment → HTML report.

Everything a report needs is persisted in the study folder, so :func:`build_report` can rebuild
the page without training or refitting:

* ``runs.sqlite`` — the run store (:mod:`bitscale.sweep.store`);
* ``fits/<law>.json`` — :meth:`bitscale.laws.FitResult.to_json` of ``kumar-neff``,
  ``kumar-ptq`` and ``eff-per-precision``; ``fits/errors.json`` — why a fit could not be made;
* ``plan.json`` — the planner's P* against compute on the fitted law and on ``kumar2024``;
* ``theory/`` — the theory experiment's outputs; ``theory/study_summary.json`` its summary;
* ``report.html`` — the page; ``plots/*.png`` — its figures.

Fitting choices (with a few dozen small runs the data cannot resolve everything):

* ``kumar-neff`` is fitted to the straight-through (``ste``) and unquantized runs, with the
  offsets ``n_w = n_a = n_kv = 0`` held fixed and ``beta`` tied to ``alpha`` as in Kumar et al.;
  the denoising runs would otherwise be read as a different γ at the same bits.
* ``kumar-ptq`` is fitted to the post-training results of the float-trained runs with δ > 0
  (δ ≤ 0, quantization that did not hurt, has no logarithm).
* ``eff-per-precision`` is fitted to every finished run, one efficiency per training precision
  label (``w4``, ``w2,est=denoise``…), full precision pinned at 1.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bitscale.sweep.config import SweepConfig
from bitscale.sweep.frames import ptq_frame, runs_frame
from bitscale.sweep.runner import SweepEvent, SweepSummary, run_sweep
from bitscale.sweep.store import RunStore

__all__ = ["Analysis", "StudyResult", "analyze", "build_report", "load_analysis", "run_study"]

NEFF_FIXED = {"n_w": 0.0, "n_a": 0.0, "n_kv": 0.0}
NEFF_TIES = {"beta": "alpha"}
LAWS = ("kumar-neff", "kumar-ptq", "eff-per-precision")


@dataclass(frozen=True)
class Analysis:
    """Fits and plan of a study folder.

    Attributes
    ----------
    fits : dict law name -> bitscale.laws.FitResult
    errors : dict law name -> str
        Why a law was not fitted (too few runs, no PTQ targets…).
    plan : dict or None
        ``{"compute": [...], "fit": {"N","D","P","loss"}, "kumar2024": {...}}``: the planner's
        choices (cost model C = 6·N·D·P/16) on the fitted law and on the published preset.
    """

    fits: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    plan: dict | None = None


@dataclass(frozen=True)
class StudyResult:
    """What :func:`run_study` did: the sweep, the analysis, the theory summary and the page."""

    folder: Path
    sweep: SweepSummary
    analysis: Analysis
    theory: dict | None
    report: Path
    wall_s: float


def _stage(cb: Callable[[str], None] | None, text: str) -> None:
    if cb is not None:
        cb(text)


def neff_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The finished runs ``kumar-neff`` is fitted to: unquantized or straight-through estimator."""
    done = runs[(runs["status"] == "done") & runs["loss"].notna()]
    return done[done["estimator"].isin(["none", "ste"])].reset_index(drop=True)


def ptq_fit_rows(ptq: pd.DataFrame) -> pd.DataFrame:
    """The PTQ results ``kumar-ptq`` is fitted to: float-trained models, δ > 0."""
    if ptq.empty:
        return ptq
    hi = (ptq["P_w"] >= 16) & (ptq["P_a"] >= 16) & (ptq["P_kv"] >= 16)
    return ptq[hi & (ptq["delta"] > 0)].reset_index(drop=True)


def analyze(
    folder: str | os.PathLike,
    *,
    bootstrap: int = 50,
    compute_budgets: tuple[float, ...] = (),
    seed: int = 0,
    on_stage: Callable[[str], None] | None = None,
) -> Analysis:
    """Fit the laws to the runs of a study folder, plan on the fit, save both in the folder.

    Parameters
    ----------
    folder : path
        Study folder with a run store.
    bootstrap : int
        Bootstrap replicates K of every fit (percentile 95 % intervals).
    compute_budgets : tuple of float
        Budgets C (cost model C = 6·N·D·P/16) for P*; empty → 12 budgets, log-spaced from the
        smallest run's compute to 100× the largest.
    seed : int
        Seed of the bootstrap.
    """
    from bitscale import laws

    folder = Path(folder)
    runs = runs_frame(folder)
    ptq = ptq_frame(folder)
    fits_dir = folder / "fits"
    fits_dir.mkdir(parents=True, exist_ok=True)
    fits: dict = {}
    errors: dict = {}
    jobs = [
        ("kumar-neff", neff_runs(runs), {"fixed": NEFF_FIXED, "ties": NEFF_TIES}),
        ("eff-per-precision", runs[(runs["status"] == "done") & runs["loss"].notna()].reset_index(drop=True),
         {"columns": {"label": "precision"}}),
    ]
    if ptq.empty:
        errors["kumar-ptq"] = "the sweep has no post-training targets ([ptq] targets is empty)"
    else:
        jobs.insert(1, ("kumar-ptq", ptq_fit_rows(ptq), {}))
    for name, df, kwargs in jobs:
        _stage(on_stage, f"fitting {name} to {len(df)} rows, {bootstrap} bootstrap replicates")
        path = fits_dir / f"{name}.json"
        try:
            result = laws.fit(name, df, bootstrap=bootstrap, seed=seed, **kwargs)
        except (ValueError, KeyError, RuntimeError, np.linalg.LinAlgError) as exc:
            errors[name] = f"{type(exc).__name__}: {exc}"
            path.unlink(missing_ok=True)
            continue
        result.to_json(path)
        fits[name] = result
    (fits_dir / "errors.json").write_text(json.dumps(errors, indent=1))

    plan = None
    if "kumar-neff" in fits:
        _stage(on_stage, "planning compute-optimal precision")
        done = runs[runs["status"] == "done"]
        if compute_budgets:
            budgets = np.asarray(compute_budgets, dtype=float)
        else:
            c = 6.0 * done["N"] * done["D"]
            budgets = np.logspace(np.log10(c.min()), np.log10(c.max() * 100), 12)
        # P drives only the tensors whose precision the sweep varied (the others' gammas were
        # not identified and stay at 16 bits).
        dims = [x for x in ("w", "a", "kv") if f"gamma_{x}" not in fits["kumar-neff"].fixed] or ["w"]
        plan = {"compute": budgets.tolist(), "cost_model": "C = 6 N D P / 16", "dims": dims}
        for label, law in (("fit", fits["kumar-neff"].law), ("kumar2024", laws.preset("kumar2024"))):
            try:
                ps = laws.plan_sweep(law, budgets, dims=dims)
                plan[label] = {"N": ps.N.tolist(), "D": ps.D.tolist(), "P": ps.P.tolist(), "loss": ps.loss.tolist()}
            except (ValueError, RuntimeError) as exc:
                errors[f"plan:{label}"] = f"{type(exc).__name__}: {exc}"
        (folder / "plan.json").write_text(json.dumps(plan, indent=1))
        (fits_dir / "errors.json").write_text(json.dumps(errors, indent=1))
    else:
        (folder / "plan.json").unlink(missing_ok=True)
    return Analysis(fits, errors, plan)


def load_analysis(folder: str | os.PathLike) -> Analysis | None:
    """The analysis saved by :func:`analyze`, or None if the folder has none."""
    from bitscale.laws import FitResult

    folder = Path(folder)
    fits_dir = folder / "fits"
    if not (fits_dir / "errors.json").exists():
        return None
    fits = {name: FitResult.from_json(fits_dir / f"{name}.json") for name in LAWS if (fits_dir / f"{name}.json").exists()}
    errors = json.loads((fits_dir / "errors.json").read_text())
    plan_path = folder / "plan.json"
    plan = json.loads(plan_path.read_text()) if plan_path.exists() else None
    return Analysis(fits, errors, plan)


def run_theory(folder: Path, preset: str | None, *, progress: bool = False) -> dict:
    """Run the bundled theory experiment into ``folder/theory``; return its summary as JSON data.

    The summary (saved as ``theory/study_summary.json``) holds ``table`` (records of the
    effective-size table), ``plots`` (PNG paths) and ``preset``; on failure ``error``.
    """
    from bitscale.theory import run_experiment

    out = folder / "theory"
    out.mkdir(parents=True, exist_ok=True)
    try:
        summary = run_experiment(preset, out, progress=progress)
        data = _theory_summary(summary, out)
        data["preset"] = preset or "default"
    except Exception:  # noqa: BLE001 - the report shows why the section is empty
        data = {"preset": preset or "default", "error": traceback.format_exc(limit=4)}
    (out / "study_summary.json").write_text(json.dumps(data, indent=1, default=str))
    return data


def _records(rows: object) -> list[dict]:
    if rows is None:
        return []
    if isinstance(rows, pd.DataFrame):
        return json.loads(rows.to_json(orient="records"))
    return [dataclasses.asdict(r) if dataclasses.is_dataclass(r) else dict(r) for r in rows]


def _theory_summary(summary: object, out: Path) -> dict:
    # The theory package's ExperimentSummary: effective-size table, format rows, plot files.
    plots = getattr(summary, "plots", None) or {}
    if isinstance(plots, dict):
        plots = list(plots.values())
    return {
        "name": getattr(summary, "name", None),
        "table": _records(getattr(summary, "table", None)),
        "formats": _records(getattr(summary, "formats", None)),
        "overlay_max_z": getattr(summary, "overlay_max_z", None),
        "plots": [str(p) for p in plots] or [str(p) for p in sorted(out.rglob("*.png"))],
        "elapsed_s": getattr(summary, "elapsed_s", None),
    }


def load_theory(folder: str | os.PathLike) -> dict | None:
    path = Path(folder) / "theory" / "study_summary.json"
    return json.loads(path.read_text()) if path.exists() else None


def build_report(folder: str | os.PathLike, *, on_stage: Callable[[str], None] | None = None) -> Path:
    """Write ``folder/report.html`` from the store and the saved analysis (no training, no fits).

    A folder without a saved analysis (a bare ``bitscale sweep run``) is analysed first.
    """
    from bitscale.report.html import write_report

    folder = Path(folder)
    if not (folder / RunStore.FILENAME).exists():
        raise FileNotFoundError(f"no run store in {folder}; expected a folder made by `bitscale study` or `bitscale sweep run`")
    analysis = load_analysis(folder)
    if analysis is None:
        with RunStore.in_folder(folder) as store:
            sweep = store.get_meta("sweep") or {}
        analysis = analyze(folder, bootstrap=int(sweep.get("study", {}).get("bootstrap", 50)), on_stage=on_stage)
    _stage(on_stage, "rendering the report")
    return write_report(folder, analysis, load_theory(folder))


def run_study(
    sweep: SweepConfig,
    folder: str | os.PathLike,
    *,
    executor: str = "local",
    workers: int | None = None,
    ray_address: str | None = None,
    bootstrap: int | None = None,
    on_event: Callable[[SweepEvent], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> StudyResult:
    """The whole job: run the sweep, fit, plan, run the theory experiment, write the report.

    Parameters
    ----------
    sweep : SweepConfig
    folder : path
        The study folder (created; a rerun resumes the sweep and redoes the analysis).
    executor, workers, ray_address
        As :func:`bitscale.sweep.run_sweep`.
    bootstrap : int, optional
        Overrides ``sweep.bootstrap``.
    on_event, on_stage : callables, optional
        Progress of the sweep's runs, and of the stages after it.
    """
    t0 = time.perf_counter()
    folder = Path(folder)
    _stage(on_stage, f"sweep {sweep.name}")
    summary = run_sweep(sweep, folder, executor=executor, workers=workers, ray_address=ray_address, on_event=on_event)
    analysis = analyze(folder, bootstrap=sweep.bootstrap if bootstrap is None else bootstrap,
                       compute_budgets=sweep.compute_budgets, on_stage=on_stage)
    _stage(on_stage, f"theory experiment ({sweep.theory or 'default'})")
    theory_summary = run_theory(folder, sweep.theory)
    report = build_report(folder, on_stage=on_stage)
    return StudyResult(folder, summary, analysis, theory_summary, report, time.perf_counter() - t0)
