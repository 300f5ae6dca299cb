from __future__ import annotations

import pytest

from bitscale.sweep.executors import LocalExecutor, RayExecutor, make_executor
from bitscale.sweep.runner import execute_pending
from bitscale.sweep.store import RunStore
from tests.sweep.worker_fns import collatz


def _expected(n: int) -> int:
    steps = 0
    while n != 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        steps += 1
    return steps


def test_local_pool_runs_in_parallel_and_records_everything(tmp_path):
    ns = [27, 97, 0, -3, 871, 6171]
    with RunStore.in_folder(tmp_path) as store:
        store.register("t", [(f"n={n}", {"n": n, "sleep": 0.3}) for n in ns])
    events = []
    summary = execute_pending(tmp_path, collatz, LocalExecutor(2), on_event=events.append)
    assert summary.executed == len(ns)
    assert summary.counts == {"pending": 0, "running": 0, "done": 4, "failed": 1, "diverged": 1}
    with RunStore.in_folder(tmp_path) as store:
        recs = {r.config["n"]: r for r in store.records()}
    for n in (27, 97, 871, 6171):
        assert recs[n].val_loss == _expected(n)
        assert recs[n].versions["python"]
    assert "collatz of 0 is undefined" in recs[0].error
    assert recs[-3].status == "diverged"
    assert len({recs[n].result["pid"] for n in (27, 97, 871, 6171, -3)}) == 2  # two workers
    assert [e.kind for e in events].count("finish") == len(ns)
    # at most two in flight at any time (one per worker), and two were in flight at some time
    in_flight = [0]
    for e in events:
        in_flight.append(in_flight[-1] + (1 if e.kind == "start" else -1))
    assert max(in_flight) == 2 and in_flight[-1] == 0

    # idempotent: a second pass reruns only the failed run (still failing), nothing else
    again = execute_pending(tmp_path, collatz, LocalExecutor(2))
    assert (again.skipped, again.executed) == (5, 1)
    with RunStore.in_folder(tmp_path) as store:
        assert store.get(recs[0].key).attempts == 2
        assert store.get(recs[27].key).attempts == 1


def test_make_executor_validates():
    with pytest.raises(ValueError, match="expected 'local' or 'ray'"):
        make_executor("slurm")
    with pytest.raises(ValueError, match="workers must be >= 1"):
        LocalExecutor(0)


@pytest.mark.slow
def test_ray_executor_runs_the_tiny_sweep_like_the_local_pool(tiny_folder, tmp_path):
    """The real tiny sweep through a real local Ray instance: the same runs and bit-identical
    losses as the local process pool, plus a failing task reported, not raised."""
    import ray

    from bitscale.sweep.config import load_sweep
    from bitscale.sweep.runner import run_sweep
    from tests.sweep.tiny_study import TINY

    ex = RayExecutor(num_cpus=2)
    try:
        assert ray.is_initialized() and ex.workers == 2
        summary = run_sweep(load_sweep(TINY), tmp_path / "ray", executor=ex)
        assert summary.executed == 6 and summary.counts["done"] == 6
        with RunStore.in_folder(tmp_path / "c") as store:
            store.register("t", [("n=27", {"n": 27}), ("n=0", {"n": 0})])
        bad = execute_pending(tmp_path / "c", collatz, ex)
        assert bad.counts["done"] == 1 and bad.counts["failed"] == 1
    finally:
        ex.close()
    assert not ray.is_initialized()
    with RunStore.in_folder(tmp_path / "ray") as a, RunStore.in_folder(tiny_folder) as b:
        ray_losses = {r.key: r.val_loss for r in a.records()}
        local_losses = {r.key: r.val_loss for r in b.records()}
        assert {r.versions["torch"] for r in a.records()} == {r.versions["torch"] for r in b.records()}
    assert ray_losses == local_losses
    with RunStore.in_folder(tmp_path / "c") as store:
        recs = {r.config["n"]: r for r in store.records()}
    assert recs[27].val_loss == _expected(27) and "collatz of 0 is undefined" in recs[0].error
