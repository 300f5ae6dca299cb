"""`bitscale sweep run|status|export`, `bitscale study`, `bitscale report` through Typer's CliRunner."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from bitscale.cli import app
from bitscale.report.html import SECTIONS
from bitscale.sweep.store import RunStore

runner = CliRunner()


def test_study_needs_exactly_one_source(tmp_path):
    res = runner.invoke(app, ["study", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "exactly one" in res.output
    res = runner.invoke(app, ["report", str(tmp_path)])
    assert res.exit_code == 2 and "no run store" in res.output
    res = runner.invoke(app, ["sweep", "status", str(tmp_path)])
    assert res.exit_code == 2 and "no run store" in res.output


@pytest.mark.slow
def test_study_quick_preset_end_to_end(tmp_path):
    out = tmp_path / "study"
    res = runner.invoke(app, ["study", "--preset", "quick", "--out", str(out), "--workers", "2"])
    assert res.exit_code == 0, res.output + repr(res.exception)
    text = " ".join(res.output.split())
    assert "done 16" in text and "kumar-neff fit" in text and "gamma_w" in text and "P* (fitted law)" in text
    assert "report.html" in text
    page = (out / "report.html").read_text()
    for sid, title in SECTIONS:
        body = page.split(f'<section id="{sid}">')[1].split("</section>")[0]
        assert len(body) > 200, (sid, body)
    # every section of the issue is present with its content
    assert page.count("data:image/png;base64,") >= 9  # loss N/D, N_eff, δ_PTQ, P*, iso-loss, estimators, theory
    constants = page.split('<section id="constants">')[1].split("</section>")[0]
    assert "kumar2024" in constants and "CI low" in constants and "gamma_w" in constants
    assert "failed:" not in page.split('<section id="theory">')[1].split("</section>")[0]
    est = page.split('<section id="estimators">')[1].split("</section>")[0]
    assert "w2" in est and "loss_denoise" in est
    with RunStore.in_folder(out) as store:
        assert store.counts()["done"] == 16

    # `bitscale report` rebuilds the page from the store, without training or fitting
    (out / "report.html").unlink()
    mtimes = {p: p.stat().st_mtime_ns for p in (out / "fits").glob("*.json")}
    res = runner.invoke(app, ["report", str(out)])
    assert res.exit_code == 0, res.output
    assert (out / "report.html").exists()
    assert {p: p.stat().st_mtime_ns for p in (out / "fits").glob("*.json")} == mtimes

    # status and export on the same folder
    res = runner.invoke(app, ["sweep", "status", str(out)])
    assert res.exit_code == 0 and "done 16" in res.output
    res = runner.invoke(app, ["sweep", "export", str(out), "--format", "parquet"])
    assert res.exit_code == 0 and (out / "runs.parquet").exists() and (out / "runs_ptq.parquet").exists()
    # and rerunning the study trains nothing
    res = runner.invoke(app, ["sweep", "run", "quick", "--out", str(out)])
    assert res.exit_code == 0 and "0 executed, 16 already finished" in " ".join(res.output.split())
