"""Running a sweep: register its runs in the store, execute what is not finished, record results.

The process that calls :func:`run_sweep` (or :func:`execute_pending`) owns the store of the
folder for the duration (an exclusive :class:`~bitscale.sweep.store.StoreLock`); workers only
compute and return. Every state change is one transaction, hence:

* rerunning skips ``done`` and ``diverged`` runs (idempotent);
* a run left ``running`` by a killed owner, or ``failed``, is started again (resumable);
* a kill at any instant loses at most the runs in flight, never a recorded result, and never
  writes a second row for one configuration (the configuration hash is the primary key).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bitscale.sweep.config import SweepConfig
from bitscale.sweep.executors import Executor, make_executor
from bitscale.sweep.store import FINAL_STATUSES, RunStore, StoreLock

__all__ = ["SweepEvent", "SweepSummary", "execute_pending", "run_sweep", "train_task"]


@dataclass(frozen=True)
class SweepEvent:
    """A progress event: a run was started (``kind="start"``) or finished (``kind="finish"``).

    ``done`` counts runs finished in this invocation, out of ``total`` to execute.
    """

    kind: str
    key: str
    label: str
    status: str
    done: int
    total: int


@dataclass(frozen=True)
class SweepSummary:
    """What one invocation did.

    Attributes
    ----------
    folder : Path
    registered : int
        Runs new to the store.
    skipped : int
        Runs already final (done / diverged) and not executed again.
    executed : int
        Runs executed now.
    counts : dict
        Runs per status after the invocation.
    wall_s : float
    """

    folder: Path
    registered: int
    skipped: int
    executed: int
    counts: dict
    wall_s: float


def train_task(payload: dict) -> dict:
    """Worker side of a sweep run: train ``payload["config"]`` and return the result's dict.

    ``payload["out_dir"]`` (or None) is the run's folder for its config, metrics and checkpoint;
    :func:`bitscale.lm.train` resumes from it when it already holds this run.
    """
    from bitscale.lm import TrainConfig, train

    config = TrainConfig.from_dict(payload["config"])
    return train(config, payload.get("out_dir"), progress=False, resume=True).to_dict()


def execute_pending(
    folder: str | os.PathLike,
    fn: Callable[[dict], dict],
    executor: Executor,
    *,
    make_payload: Callable[[str, dict], dict] | None = None,
    retry_failed: bool = True,
    on_event: Callable[[SweepEvent], None] | None = None,
) -> SweepSummary:
    """Execute every non-final run of the store in ``folder`` and record the outcomes.

    Parameters
    ----------
    folder : path
        Study folder holding ``runs.sqlite`` (runs already registered).
    fn : callable(dict) -> dict
        A picklable module-level function run by the workers. Its result dict goes to the store;
        ``result["status"] == "diverged"`` marks the run diverged.
    executor : Executor
    make_payload : callable(key, config) -> dict, optional
        What a worker receives for a run (default: its stored config).
    retry_failed : bool
        Also rerun ``failed`` runs (always: ``running`` ones, left by a dead owner).
    on_event : callable(SweepEvent), optional
        Progress callback, called in this process.
    """
    folder = Path(folder)
    t0 = time.perf_counter()
    with StoreLock(folder), RunStore.in_folder(folder) as store:
        store.reset_interrupted(retry_failed=retry_failed)
        final = len(store.keys(FINAL_STATUSES))
        keys = store.keys(("pending",))
        records = {k: store.get(k) for k in keys}
        tasks = [
            (k, make_payload(k, records[k].config) if make_payload else records[k].config) for k in keys
        ]
        done = 0

        def started(key: str) -> None:
            store.mark_running(key)
            if on_event is not None:
                on_event(SweepEvent("start", key, records[key].label, "running", done, len(tasks)))

        for outcome in executor.map(fn, tasks, on_start=started):
            if outcome.ok:
                status = store.record_result(outcome.key, outcome.result, versions=outcome.versions)
            else:
                store.record_failure(outcome.key, outcome.error, versions=outcome.versions)
                status = "failed"
            done += 1
            if on_event is not None:
                on_event(SweepEvent("finish", outcome.key, records[outcome.key].label, status, done, len(tasks)))
        counts = store.counts()
    return SweepSummary(folder, 0, final, done, counts, time.perf_counter() - t0)


def run_sweep(
    sweep: SweepConfig,
    folder: str | os.PathLike,
    *,
    executor: str | Executor = "local",
    workers: int | None = None,
    ray_address: str | None = None,
    retry_failed: bool = True,
    on_event: Callable[[SweepEvent], None] | None = None,
) -> SweepSummary:
    """Run a sweep in ``folder``: register its grid, train every unfinished run, record results.

    Parameters
    ----------
    sweep : SweepConfig
    folder : path
        The study folder: ``runs.sqlite`` (the store), ``runs/<key>/`` (each run's files).
    executor : {"local", "ray"} or Executor
    workers : int, optional
        Local worker processes (default one per core) or CPUs of a local Ray instance.
    ray_address : str, optional
        Ray cluster address for ``executor="ray"`` (default: start a local instance).
    retry_failed : bool
        Rerun runs that failed before.
    on_event : callable(SweepEvent), optional

    Returns
    -------
    SweepSummary
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    specs = sweep.runs()
    with StoreLock(folder), RunStore.in_folder(folder) as store:
        registered = store.register(sweep.name, [(s.label, s.payload) for s in specs])
        store.set_meta("sweep", sweep.to_dict())
    owned = isinstance(executor, str)
    ex = make_executor(executor, workers=workers, ray_address=ray_address) if owned else executor
    # Files of a run go next to the store, unless the workers may be on other machines.
    local_files = ex.name == "local" or ray_address is None

    def payload(key: str, config: dict) -> dict:
        out_dir = str((folder / "runs" / key[:16]).resolve()) if local_files else None
        return {"config": config, "out_dir": out_dir}

    try:
        summary = execute_pending(
            folder, train_task, ex, make_payload=payload, retry_failed=retry_failed, on_event=on_event
        )
    finally:
        if owned:
            ex.close()
    return SweepSummary(
        folder, registered, summary.skipped, summary.executed, summary.counts, summary.wall_s
    )
