"""bitscale.sweep: resumable grids of training runs, and the study built on them.

* :class:`SweepConfig`, :func:`load_sweep`, :func:`preset` — a sweep as TOML: model shapes, token
  budgets (absolute or per parameter), training precisions (QuantConfig strings), estimators,
  seeds and post-training targets; presets ``quick``, ``default``, ``full`` ship in the package.
* :class:`RunStore` — the SQLite (WAL) run store of a study folder: one row per run keyed by the
  SHA-256 of its configuration, status pending / running / done / failed / diverged.
* :class:`LocalExecutor`, :class:`RayExecutor` — where runs execute; results come back to the one
  process that owns the store.
* :func:`run_sweep` — register, execute what is unfinished, record (idempotent, resumable, safe
  under ``kill -9``); :func:`runs_frame`, :func:`ptq_frame`, :func:`export` — the store as tables
  in the column names :func:`bitscale.laws.fit` reads.
* :func:`run_study` — sweep → fits with bootstrap intervals → plan → theory → ``report.html``;
  :func:`build_report` rebuilds the page from a study folder.

Example::

    from bitscale import sweep
    result = sweep.run_study(sweep.preset("quick"), "study")
    print(result.report)
"""

from bitscale.sweep.config import PRESETS, RunSpec, SweepConfig, load_sweep, preset
from bitscale.sweep.executors import Executor, LocalExecutor, Outcome, RayExecutor, make_executor
from bitscale.sweep.frames import export, ptq_frame, runs_frame
from bitscale.sweep.runner import SweepEvent, SweepSummary, execute_pending, run_sweep, train_task
from bitscale.sweep.store import FINAL_STATUSES, STATUSES, RunRecord, RunStore, StoreLock, StoreLockedError, config_key
from bitscale.sweep.study import Analysis, StudyResult, analyze, build_report, load_analysis, run_study

__all__ = [
    "Analysis", "Executor", "FINAL_STATUSES", "LocalExecutor", "Outcome", "PRESETS", "RayExecutor", "RunRecord",
    "RunSpec", "RunStore", "STATUSES", "StoreLock", "StoreLockedError", "StudyResult", "SweepConfig",
    "SweepEvent", "SweepSummary", "analyze", "build_report", "config_key", "execute_pending", "export",
    "load_analysis", "load_sweep", "make_executor", "preset", "ptq_frame", "run_study", "run_sweep",
    "runs_frame", "train_task",
]
