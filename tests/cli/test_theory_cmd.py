"""``bitscale theory run / effective-size / validate`` through Typer's CliRunner."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from bitscale.cli import app

runner = CliRunner()

TINY = """
name = "tiny"
[problem]
a = 2.0
d = 320
lr = 0.25
[grid]
M = [16, 32]
N = [64, 256, 1024]
[[settings]]
scheme = "multiplicative"
place = "data"
eps = [0.1]
[[settings]]
scheme = "additive"
place = "data"
eps = [0.02]
[overlay]
M = 4
N = [32, 128]
seeds = 300
cases = ["none", "grad:additive:1.0"]
"""


def test_run_writes_results(tmp_path):
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    out = tmp_path / "out"
    result = runner.invoke(app, ["theory", "run", str(cfg), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "effective sizes (tiny)" in result.output
    assert (out / "results.csv").is_file() and (out / "summary.json").is_file()
    assert (out / "overlay.png").is_file() and not (out / "formats.png").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert {r["scheme"] for r in summary["effective_sizes"]} == {"multiplicative", "additive"}


def test_run_reports_a_bad_config(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[grid]\nM = [8]\nN = [16, 32]\n")
    result = runner.invoke(app, ["theory", "run", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "settings" in result.output


def test_effective_size_json():
    result = runner.invoke(app, ["theory", "effective-size", "--scheme", "additive", "--eps",
                                 "0.02", "--a", "2", "--M", "16,32,64", "--N", "64,256,1024",
                                 "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [r["M"] for r in data["rows"]] == [16, 32, 64]
    for r in data["rows"]:
        assert 0 < r["M_eff"] <= r["M"] and 0 < r["N_eff/N"] <= 1 and r["E_add"] >= 0


def test_effective_size_table_and_errors():
    ok = runner.invoke(app, ["theory", "effective-size", "--scheme", "multiplicative", "--eps",
                             "0.1", "--M", "16,32", "--N", "64,256"])
    assert ok.exit_code == 0 and "M_eff/M" in ok.output
    bad = runner.invoke(app, ["theory", "effective-size", "--scheme", "additive", "--eps", "-1",
                              "--M", "16,32"])
    assert bad.exit_code == 2 and "cannot be negative" in bad.output
    bad = runner.invoke(app, ["theory", "effective-size", "--scheme", "additive", "--eps", "0.1",
                              "--M", "16,x"])
    assert bad.exit_code != 0


def test_validate_json():
    result = runner.invoke(app, ["theory", "validate", "--json", "--seeds", "600"])
    data = json.loads(result.output)
    assert len(data["cases"]) == 26
    assert result.exit_code == (0 if data["passed"] else 1)
    assert all(set(c) >= {"place", "scheme", "schedule", "max_z", "power"} for c in data["cases"])
