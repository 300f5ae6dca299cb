from __future__ import annotations

import json
import math
import multiprocessing as mp

import pytest

from bitscale.sweep.store import RunStore, StoreLock, StoreLockedError, config_key


def _runs(n: int) -> list[tuple[str, dict]]:
    return [(f"run{i}", {"n": i + 1, "nested": {"a": [1, 2]}}) for i in range(n)]


def test_key_is_hash_of_canonical_config():
    a = {"x": 1, "y": {"b": 2, "a": 1}}
    b = {"y": {"a": 1, "b": 2}, "x": 1}
    assert config_key(a) == config_key(b)
    assert config_key(a) != config_key({**a, "x": 2})
    assert len(config_key(a)) == 64


def test_register_is_idempotent_and_wal(tmp_path):
    with RunStore.in_folder(tmp_path) as store:
        assert store.register("s", _runs(3)) == 3
        assert store.register("s", _runs(4)) == 1  # only the new one
        assert len(store) == 4
        assert store.counts()["pending"] == 4
        mode = store._db.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"


def test_lifecycle_and_reset(tmp_path):
    with RunStore.in_folder(tmp_path) as store:
        store.register("s", _runs(4))
        k0, k1, k2, k3 = store.keys()
        store.mark_running(k0)
        assert store.record_result(k0, {"val_loss": 2.5, "wall_s": 1.0, "corpus_sha256": "abc"}) == "done"
        store.mark_running(k1)
        assert store.record_result(k1, {"status": "diverged", "val_loss": math.nan}) == "diverged"
        store.mark_running(k2)
        store.record_failure(k2, "Traceback: boom")
        store.mark_running(k3)  # left running: its owner "died"
        r0 = store.get(k0)
        assert (r0.status, r0.val_loss, r0.corpus_sha256, r0.attempts) == ("done", 2.5, "abc", 1)
        assert r0.config == {"n": 1, "nested": {"a": [1, 2]}}
        assert math.isnan(store.get(k1).result["val_loss"])
        assert store.get(k2).error == "Traceback: boom"
        assert store.reset_interrupted(retry_failed=False) == 1
        assert store.get(k3).status == "pending"
        assert store.get(k2).status == "failed"
        assert store.reset_interrupted() == 1
        assert store.keys(("pending",)) == [k2, k3]
        assert store.counts() == {"pending": 2, "running": 0, "done": 1, "failed": 0, "diverged": 1}


def test_meta_roundtrip(tmp_path):
    with RunStore.in_folder(tmp_path) as store:
        store.set_meta("sweep", {"name": "x", "models": [[1, 2, 3]]})
        store.set_meta("sweep", {"name": "y"})
        assert store.get_meta("sweep") == {"name": "y"}
        assert store.get_meta("missing", 7) == 7


def test_unknown_key_error_names_the_store(tmp_path):
    with RunStore.in_folder(tmp_path) as store, pytest.raises(KeyError, match="runs.sqlite"):
        store.get("nope")


def _try_lock(folder, q):
    try:
        StoreLock(folder).acquire()
        q.put("acquired")
    except StoreLockedError as exc:
        q.put(str(exc))


def test_lock_excludes_other_processes_and_dies_with_owner(tmp_path):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    with StoreLock(tmp_path):
        p = ctx.Process(target=_try_lock, args=(tmp_path, q))
        p.start()
        p.join()
        assert "another process is running the sweep" in q.get()
    # released: another process can take it (and its death releases it again)
    p = ctx.Process(target=_try_lock, args=(tmp_path, q))
    p.start()
    p.join()
    assert q.get() == "acquired"
    with StoreLock(tmp_path):
        pass


def test_rows_survive_reopen(tmp_path):
    with RunStore.in_folder(tmp_path) as store:
        store.register("s", _runs(2))
        k = store.keys()[0]
        store.mark_running(k)
        store.record_result(k, {"val_loss": 1.25})
    with RunStore.in_folder(tmp_path) as store:
        assert store.get(k).status == "done"
        assert json.loads(json.dumps(store.get(k).result)) == {"val_loss": 1.25}
