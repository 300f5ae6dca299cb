"""The run store: one SQLite file (WAL mode) per study folder, one row per run.

A run is identified by :func:`config_key`, the SHA-256 of the canonical JSON of its full
configuration, so registering the same grid twice never creates a second row (the key is the
primary key) and a changed hyperparameter is a new run. Every state change is one SQLite
transaction, so a process killed at any instant (``kill -9``) leaves each row either as it was
before the change or as it is after it: never half-written. Only the process that owns the sweep
writes (workers return results to it), which :class:`StoreLock` enforces across processes.

Statuses: ``pending`` (registered, not started), ``running`` (handed to a worker), ``done``,
``diverged`` (the training itself reported a non-finite loss; final, rerunning would diverge again
since training is deterministic), ``failed`` (an exception; retried on the next run).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "STATUSES",
    "FINAL_STATUSES",
    "RunRecord",
    "RunStore",
    "StoreLock",
    "StoreLockedError",
    "config_key",
]

STATUSES = ("pending", "running", "done", "failed", "diverged")
#: statuses a rerun skips
FINAL_STATUSES = ("done", "diverged")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    key            TEXT PRIMARY KEY,
    sweep          TEXT NOT NULL,
    label          TEXT NOT NULL,
    config         TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('pending','running','done','failed','diverged')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    created_at     REAL NOT NULL,
    started_at     REAL,
    finished_at    REAL,
    wall_s         REAL,
    val_loss       REAL,
    corpus_sha256  TEXT,
    versions       TEXT,
    result         TEXT,
    error          TEXT
);
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: equal configurations give equal strings."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def config_key(config: Mapping[str, Any]) -> str:
    """SHA-256 (hex, 64 characters) of the canonical JSON of a run's full configuration."""
    return hashlib.sha256(canonical_json(dict(config)).encode()).hexdigest()


@dataclass(frozen=True)
class RunRecord:
    """One row of the store, decoded.

    ``config`` and ``result`` are the JSON objects stored for the run (``result`` is ``None``
    until the run finished); times are UNIX seconds.
    """

    key: str
    sweep: str
    label: str
    config: dict
    status: str
    attempts: int
    created_at: float
    started_at: float | None
    finished_at: float | None
    wall_s: float | None
    val_loss: float | None
    corpus_sha256: str | None
    versions: dict | None
    result: dict | None
    error: str | None


class StoreLockedError(RuntimeError):
    """Another live process owns the sweep in this folder."""


class StoreLock:
    """An exclusive advisory lock (``flock``) on ``DIR/.sweep.lock``.

    The kernel releases it when its owner dies, even by ``kill -9``, so a crashed sweep never
    leaves a stale lock behind, while two live sweeps on one folder are refused.
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.path = Path(folder) / ".sweep.lock"
        self._fd: int | None = None

    def acquire(self) -> "StoreLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreLockedError(
                f"another process is running the sweep in {self.path.parent} (lock {self.path} is "
                "held); wait for it to finish, or stop it, then run again"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "StoreLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


class RunStore:
    """The SQLite run store of one study folder (``DIR/runs.sqlite``).

    Parameters
    ----------
    path : path-like
        The database file, created with its schema if missing. WAL journal mode lets readers
        (``bitscale sweep status``) look at the store while the owning sweep writes to it.
    """

    FILENAME = "runs.sqlite"

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode; writes open explicit BEGIN IMMEDIATE transactions (see _write).
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed result survives even an OS crash, not only a killed process.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    @classmethod
    def in_folder(cls, folder: str | os.PathLike) -> "RunStore":
        """The store of a study folder, ``folder/runs.sqlite``."""
        return cls(Path(folder) / cls.FILENAME)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        # One transaction per state change: all of it lands, or none of it.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- metadata ----------------------------------------------------------------------------
    def set_meta(self, name: str, value: Any) -> None:
        """Store a JSON-serialisable value under ``name`` (e.g. the sweep configuration)."""
        with self._write() as db:
            db.execute(
                "INSERT INTO meta(name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                (name, json.dumps(value)),
            )

    def get_meta(self, name: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return default if row is None else json.loads(row["value"])

    # -- registration and state changes ------------------------------------------------------
    def register(self, sweep: str, runs: Iterable[tuple[str, Mapping[str, Any]]]) -> int:
        """Insert runs given as ``(label, config)`` pairs as ``pending``; known keys are left alone.

        Returns the number of new rows.
        """
        now = time.time()
        rows = [
            (config_key(cfg), sweep, label, canonical_json(dict(cfg)), now) for label, cfg in runs
        ]
        with self._write() as db:
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO runs(key, sweep, label, config, status, created_at) "
                "VALUES (?, ?, ?, ?, 'pending', ?)",
                rows,
            )
            return db.total_changes - before

    def reset_interrupted(self, *, retry_failed: bool = True) -> int:
        """Return ``running`` rows (left by a dead owner) to ``pending``; optionally ``failed`` too.

        Call only while holding the folder's :class:`StoreLock`: then no live process is running
        anything of this store. Returns the number of rows reset.
        """
        statuses = ("running", "failed") if retry_failed else ("running",)
        marks = ",".join("?" * len(statuses))
        with self._write() as db:
            cur = db.execute(
                f"UPDATE runs SET status = 'pending', started_at = NULL WHERE status IN ({marks})",
                statuses,
            )
            return cur.rowcount

    def mark_running(self, key: str) -> None:
        """The run was handed to a worker."""
        with self._write() as db:
            db.execute(
                "UPDATE runs SET status = 'running', started_at = ?, attempts = attempts + 1, "
                "error = NULL WHERE key = ?",
                (time.time(), key),
            )

    def record_result(
        self,
        key: str,
        result: Mapping[str, Any],
        *,
        versions: Mapping[str, str] | None = None,
    ) -> str:
        """Store a finished run's result in one transaction; returns its status.

        The status is ``result["status"]`` when it is ``"diverged"``, else ``"done"``;
        ``val_loss``, ``wall_s`` and ``corpus_sha256`` are copied out of ``result`` when present.
        """
        status = "diverged" if result.get("status") == "diverged" else "done"
        loss = result.get("val_loss")
        with self._write() as db:
            db.execute(
                "UPDATE runs SET status = ?, finished_at = ?, wall_s = ?, val_loss = ?, "
                "corpus_sha256 = ?, versions = ?, result = ?, error = NULL WHERE key = ?",
                (
                    status,
                    time.time(),
                    result.get("wall_s"),
                    None if loss is None else float(loss),
                    result.get("corpus_sha256"),
                    None if versions is None else json.dumps(dict(versions)),
                    json.dumps(dict(result), allow_nan=True),
                    key,
                ),
            )
        return status

    def record_failure(self, key: str, error: str, *, versions: Mapping[str, str] | None = None) -> None:
        """The run raised: keep the traceback, status ``failed`` (retried by the next run)."""
        with self._write() as db:
            db.execute(
                "UPDATE runs SET status = 'failed', finished_at = ?, error = ?, versions = ? "
                "WHERE key = ?",
                (time.time(), error, None if versions is None else json.dumps(dict(versions)), key),
            )

    # -- queries -----------------------------------------------------------------------------
    def keys(self, statuses: Iterable[str] | None = None) -> list[str]:
        """Keys of runs in the given statuses (all when ``None``), in registration order."""
        if statuses is None:
            cur = self._db.execute("SELECT key FROM runs ORDER BY created_at, rowid")
        else:
            statuses = tuple(statuses)
            marks = ",".join("?" * len(statuses))
            cur = self._db.execute(
                f"SELECT key FROM runs WHERE status IN ({marks}) ORDER BY created_at, rowid",
                statuses,
            )
        return [r["key"] for r in cur]

    def get(self, key: str) -> RunRecord:
        row = self._db.execute("SELECT * FROM runs WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(f"no run with key {key!r} in {self.path}")
        return _decode(row)

    def records(self) -> list[RunRecord]:
        """Every run, in registration order."""
        cur = self._db.execute("SELECT * FROM runs ORDER BY created_at, rowid")
        return [_decode(r) for r in cur]

    def counts(self) -> dict[str, int]:
        """Number of runs per status (every status present, possibly 0)."""
        out = dict.fromkeys(STATUSES, 0)
        for row in self._db.execute("SELECT status, COUNT(*) AS n FROM runs GROUP BY status"):
            out[row["status"]] = row["n"]
        return out

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]


def _decode(row: sqlite3.Row) -> RunRecord:
    def load(text: str | None) -> Any:
        return None if text is None else json.loads(text)

    return RunRecord(
        key=row["key"],
        sweep=row["sweep"],
        label=row["label"],
        config=json.loads(row["config"]),
        status=row["status"],
        attempts=row["attempts"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        wall_s=row["wall_s"],
        val_loss=row["val_loss"],
        corpus_sha256=row["corpus_sha256"],
        versions=load(row["versions"]),
        result=load(row["result"]),
        error=row["error"],
    )
