"""The studies' bookkeeping: every (arm, seed) trained once, mean ± sd, the ladder verdict."""

from __future__ import annotations

import json
import statistics
from dataclasses import replace

import pytest

from bitscale.lm.studies import StudySpec, estimator_study, precision_ladder, run_study


def test_study_specs_name_every_arm():
    est = estimator_study()
    assert [label for label, _ in est.arms] == [
        "float32", "W1A8 ste", "W1A8 denoise", "W1A1 ste", "W1A1 denoise",
        "W4A4 ste", "W4A4 denoise", "W2A8 2:4 ste", "W2A8 2:4 denoise",
    ]
    from bitscale.nn import QuantConfig

    sparse = QuantConfig.parse(dict(est.arms)["W2A8 2:4 denoise"])
    assert sparse.sparsity == "2:4" and sparse.estimator == "denoise" and sparse.bits["w"] == 2
    ladder = precision_ladder()
    assert [QuantConfig.parse(q).bits for _, q in ladder.arms[1:]] == [
        {"w": b, "a": 8, "kv": 8} for b in (8, 6, 4, 3)
    ]
    assert len({replace(est.base, quant=q).model for _, q in est.arms}) == 1  # same model everywhere


def test_run_study_summarises_seeds_and_reuses_finished_runs(tiny_config, tmp_path):
    spec = StudySpec(name="ladder", base=tiny_config, arms=(("float32", None), ("W8", "w8a8kv8"), ("W2", "w2a8kv8")))
    report = run_study(spec, tmp_path, seeds=(0, 1), workers=1, progress=False)
    assert [row.label for row in report.rows] == ["float32", "W8", "W2"]
    for row in report.rows:
        losses = [json.loads((tmp_path / row.label / f"seed{s}" / "result.json").read_text())["val_loss"] for s in (0, 1)]
        assert list(row.losses) == losses
        assert row.mean == pytest.approx(statistics.mean(losses))
        assert row.sd == pytest.approx(statistics.stdev(losses))
        assert row.n == 2 and row.diverged == 0
    assert report.notes[-1].startswith("monotone beyond seed noise: ")
    assert "W8 → W2" in report.notes[0]
    assert json.loads((tmp_path / "summary.json").read_text())["rows"][0]["label"] == "float32"
    stamp = (tmp_path / "W8" / "seed0" / "result.json").stat().st_mtime_ns
    again = run_study(spec, tmp_path, seeds=(0, 1), workers=1, progress=False)
    assert again == report
    assert (tmp_path / "W8" / "seed0" / "result.json").stat().st_mtime_ns == stamp


@pytest.mark.slow  # spawning two workers imports torch twice: ~4 s idle, far more on a loaded machine
def test_run_study_in_worker_processes_matches_in_process(tiny_config, tmp_path):
    spec = StudySpec(name="estimators", base=tiny_config, arms=(("float32", None), ("W4A4 denoise", "w4a4,est=denoise")))
    parallel = run_study(spec, tmp_path / "par", seeds=(0,), workers=2, progress=False)
    serial = run_study(spec, tmp_path / "ser", seeds=(0,), workers=1, progress=False)
    assert [r.losses for r in parallel.rows] == [r.losses for r in serial.rows]
