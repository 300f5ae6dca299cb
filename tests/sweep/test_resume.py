"""A real `bitscale sweep run` subprocess, SIGKILLed mid-sweep, resumed, compared with an uninterrupted sweep."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bitscale.sweep.store import RunStore

TINY = Path(__file__).with_name("tiny.toml")


def _cli(folder: Path, *extra: str) -> list[str]:
    return [sys.executable, "-c", "from bitscale.cli import main; main()", "sweep", "run", str(TINY), "--out", str(folder),
            "--workers", "2", *extra]


def _done(folder: Path) -> int:
    db = folder / RunStore.FILENAME
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return con.execute("SELECT COUNT(*) FROM runs WHERE status = 'done'").fetchone()[0]
        finally:
            con.close()
    except sqlite3.OperationalError:  # the schema is being created
        return 0


def _snapshot(folder: Path) -> dict[str, tuple[str, float | None]]:
    with RunStore.in_folder(folder) as store:
        return {r.key: (r.status, r.val_loss) for r in store.records()}


@pytest.mark.slow
def test_kill_9_mid_sweep_then_resume_matches_uninterrupted(tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    crashed = tmp_path / "crashed"
    proc = subprocess.Popen(_cli(crashed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while _done(crashed) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, f"the sweep ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = _snapshot(crashed)
    n_done_before = sum(s == "done" for s, _ in before.values())
    assert 2 <= n_done_before < len(before) == 6
    assert any(s == "running" for s, _ in before.values())  # killed with runs in flight

    resumed = subprocess.run(_cli(crashed), env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"{6 - n_done_before} executed, {n_done_before} already finished" in " ".join(resumed.stdout.split())

    clean = tmp_path / "clean"
    straight = subprocess.run(_cli(clean), env=env, capture_output=True, text=True, timeout=300)
    assert straight.returncode == 0, straight.stderr[-3000:]

    after, reference = _snapshot(crashed), _snapshot(clean)
    assert set(after) == set(reference)  # same keys, no duplicates (the key is the primary key)
    assert all(s == "done" for s, _ in after.values())
    for key, (_, loss) in reference.items():
        assert after[key][1] == loss  # deterministic training: bit-identical losses
    # results recorded before the kill were kept, not recomputed
    with RunStore.in_folder(crashed) as store:
        for key, (status, loss) in before.items():
            if status == "done":
                assert store.get(key).attempts == 1 and store.get(key).val_loss == loss
    # and rerunning a finished sweep executes nothing
    again = subprocess.run(_cli(crashed), env=env, capture_output=True, text=True, timeout=300)
    assert "0 executed, 6 already finished" in " ".join(again.stdout.split())
