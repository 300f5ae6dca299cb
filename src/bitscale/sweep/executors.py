"""Executors: where the runs of a sweep execute.

An executor takes a picklable module-level function ``fn(payload: dict) -> dict`` and a list of
``(key, payload)`` tasks, runs them somewhere, and yields an :class:`Outcome` per task, in
completion order, back to the single process that owns the run store (workers never touch the
store). Two are provided:

* :class:`LocalExecutor` — a pool of worker processes on this machine (default one per core).
  Workers are started with the ``spawn`` method (no forked copy of the parent's threads or
  OpenMP state) and ask the kernel to kill them when their parent dies, so a ``kill -9`` of the
  sweep leaves no orphan training behind.
* :class:`RayExecutor` — one Ray task per run on an existing cluster (``address``) or on a local
  Ray instance started for the sweep and shut down after it.
"""

from __future__ import annotations

import ctypes
from abc import ABC, abstractmethod
import multiprocessing as mp
import os
import platform
import signal
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

__all__ = ["Outcome", "Executor", "LocalExecutor", "RayExecutor", "make_executor", "environment_versions"]

Task = tuple[str, dict]


@dataclass(frozen=True)
class Outcome:
    """What came back for one task: a result dict, or the error that prevented one.

    ``versions`` are the package versions of the process that ran the task (on a Ray cluster it
    may differ from the driver's).
    """

    key: str
    result: dict | None
    error: str | None
    versions: dict

    @property
    def ok(self) -> bool:
        return self.error is None


def environment_versions() -> dict[str, str]:
    """Versions of Python, the platform and the packages a run's numbers depend on."""
    from importlib import metadata

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("bitscale", "torch", "numpy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "missing"
    return out


def _call(fn: Callable[[dict], dict], key: str, payload: dict) -> Outcome:
    # Runs in the worker: never let an exception escape, so the parent always gets the traceback
    # of the run itself rather than a pool-level error.
    versions = environment_versions()
    try:
        return Outcome(key, dict(fn(payload)), None, versions)
    except Exception:  # noqa: BLE001 - any failure of a run is recorded, not raised
        return Outcome(key, None, traceback.format_exc(), versions)


def _die_with_parent() -> None:
    # Linux prctl(PR_SET_PDEATHSIG, SIGKILL): this worker is killed when the sweep process dies,
    # whatever killed it. Elsewhere, orphans finish their current run and exit on the closed pipe.
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
        except OSError:
            pass
    # The parent already uses every core through the pool: one intra-op thread per worker.
    os.environ.setdefault("OMP_NUM_THREADS", "1")


class Executor(ABC):
    """Base class: ``map(fn, tasks)`` yields one :class:`Outcome` per task as each completes."""

    name = "executor"
    workers: int = 1

    @abstractmethod
    def map(
        self,
        fn: Callable[[dict], dict],
        tasks: Sequence[Task],
        on_start: Callable[[str], None] | None = None,
    ) -> Iterator[Outcome]:  # pragma: no cover - abstract
        """Run ``fn(payload)`` for every ``(key, payload)``; ``on_start(key)`` as each is submitted.

        At most :attr:`workers` tasks are in flight at once.
        """

    def close(self) -> None:
        """Release the executor's resources (idempotent)."""

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _top_up(queue: list, running: dict, slots: int, on_start, submit) -> None:
    """Submit from the end of ``queue`` until ``slots`` tasks are in flight.

    Exactly one task per slot (worker process or cluster CPU slot), so "running" in the store
    means running. ``submit(key, payload)`` returns the handle (future or object ref) that
    ``running`` maps back to the key.
    """
    while queue and len(running) < slots:
        key, payload = queue.pop()
        if on_start is not None:
            on_start(key)
        running[submit(key, payload)] = key


class LocalExecutor(Executor):
    """A pool of ``workers`` processes on this machine (default: one per core).

    Parameters
    ----------
    workers : int, optional
        Number of worker processes, ≥ 1. ``None`` → ``os.cpu_count()``.
    """

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}; pass None for one per core")
        self.workers = workers or os.cpu_count() or 1

    def map(
        self,
        fn: Callable[[dict], dict],
        tasks: Sequence[Task],
        on_start: Callable[[str], None] | None = None,
    ) -> Iterator[Outcome]:
        if not tasks:
            return
        ctx = mp.get_context("spawn")
        pool = ProcessPoolExecutor(
            max_workers=min(self.workers, len(tasks)), mp_context=ctx, initializer=_die_with_parent
        )
        queue = list(reversed(tasks))
        running: dict = {}

        def top_up() -> None:
            _top_up(queue, running, self.workers, on_start,
                    lambda key, payload: pool.submit(_call, fn, key, payload))

        try:
            top_up()
            while running:
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for fut in finished:
                    key = running.pop(fut)
                    try:
                        outcome = fut.result()
                    except Exception:  # noqa: BLE001 - e.g. a worker killed by the OOM killer
                        outcome = Outcome(key, None, traceback.format_exc(), environment_versions())
                    yield outcome
                try:
                    top_up()
                except BrokenProcessPool:
                    # The pool died (a worker was killed): report the rest as failed, retried later.
                    while queue:
                        key, _ = queue.pop()
                        yield Outcome(key, None, traceback.format_exc(), environment_versions())
        finally:
            # Leaving early (an exception in the consumer, Ctrl-C) cancels what has not started.
            pool.shutdown(wait=True, cancel_futures=True)


class RayExecutor(Executor):
    """One Ray task per run, on an existing cluster or on a local instance started for the sweep.

    Parameters
    ----------
    address : str, optional
        A Ray cluster address (``"ray://head:10001"``, ``"auto"``, ``"host:6379"``). ``None`` starts a
        local Ray instance with ``num_cpus`` CPUs (default one per core) and stops it on
        :meth:`close`. If Ray is already initialised in this process, that instance is used.
    num_cpus : int, optional
        CPUs of the local instance (ignored with ``address``).
    cpus_per_task : float
        CPUs Ray reserves per run (default 1).
    """

    name = "ray"

    def __init__(
        self, address: str | None = None, *, num_cpus: int | None = None, cpus_per_task: float = 1.0
    ) -> None:
        try:
            import ray
        except ImportError as exc:  # pragma: no cover - ray is a dev/optional dependency
            raise ImportError(
                "the ray executor needs Ray: pip install 'bitscale[ray]' (or use --executor local)"
            ) from exc
        self._ray = ray
        self._started = False
        if not ray.is_initialized():
            if address is None:
                ray.init(
                    num_cpus=num_cpus or os.cpu_count() or 1,
                    include_dashboard=False,
                    log_to_driver=False,
                    configure_logging=False,
                )
            else:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
            self._started = True
        self.cpus_per_task = cpus_per_task
        self.workers = int(ray.cluster_resources().get("CPU", 1) // cpus_per_task) or 1

    def map(
        self,
        fn: Callable[[dict], dict],
        tasks: Sequence[Task],
        on_start: Callable[[str], None] | None = None,
    ) -> Iterator[Outcome]:
        ray = self._ray
        remote = ray.remote(num_cpus=self.cpus_per_task, max_retries=0)(_call)
        queue = list(reversed(tasks))
        running: dict = {}

        def top_up() -> None:
            _top_up(queue, running, self.workers, on_start,
                    lambda key, payload: remote.remote(fn, key, payload))

        try:
            top_up()
            while running:
                done, _ = ray.wait(list(running), num_returns=1)
                for ref in done:
                    key = running.pop(ref)
                    try:
                        outcome = ray.get(ref)
                    except Exception:  # noqa: BLE001 - a lost worker or node
                        outcome = Outcome(key, None, traceback.format_exc(), environment_versions())
                    yield outcome
                top_up()
        finally:
            for ref in running:
                ray.cancel(ref, force=True)

    def close(self) -> None:
        if self._started:
            self._ray.shutdown()
            self._started = False


def make_executor(
    name: str, *, workers: int | None = None, ray_address: str | None = None
) -> Executor:
    """Build an executor by name: ``"local"`` (process pool) or ``"ray"``."""
    if name == "local":
        return LocalExecutor(workers)
    if name == "ray":
        return RayExecutor(ray_address, num_cpus=workers)
    raise ValueError(f"unknown executor {name!r}; expected 'local' or 'ray'")

