"""``bitscale theory run / effective-size / validate`` through Typer's CliRunner."""

from __future__ import annotations

import json

import pytest
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
    assert "effective sizes (tiny;" in result.output
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
    both = runner.invoke(app, ["theory", "effective-size", "--scheme", "additive", "--eps", "0.1",
                               "--bits", "4", "--M", "16,32"])
    assert both.exit_code == 2 and "exactly one of --eps and --bits" in both.output
    bad = runner.invoke(app, ["theory", "effective-size", "--scheme", "additive", "--bits", "1",
                              "--M", "16,32"])
    assert bad.exit_code == 2 and "bits >= 2" in bad.output


def test_effective_size_from_bits_matches_eps():
    """``--bits 4 --scale 2`` is ``--eps (2/7)^2/6`` (int4 grid, stochastic rounding)."""
    args = ["theory", "effective-size", "--scheme", "additive", "--M", "16,32", "--N",
            "64,256,1024", "--json"]
    by_bits = json.loads(runner.invoke(app, args + ["--bits", "4", "--scale", "2"]).output)
    by_eps = json.loads(runner.invoke(app, args + ["--eps", repr((2 / 7) ** 2 / 6)]).output)
    assert by_bits["eps"] == pytest.approx((2 / 7) ** 2 / 6, rel=1e-12)
    assert by_bits["bits"] == 4
    assert by_bits["rows"] == by_eps["rows"]


def test_effective_size_rows_carry_the_plateau_split():
    """Additive data noise keeps the directions with mu_k >= eps (about eps^(-1/a) of them) at
    every M; multiplicative keeps all M. Both leave a positive error on the kept directions."""
    common = ["theory", "effective-size", "--place", "data", "--a", "2", "--M", "32,64,128",
              "--N", "256,4096", "--json"]
    add = json.loads(runner.invoke(app, common + ["--scheme", "additive", "--eps", "0.01"]).output)
    mul = json.loads(runner.invoke(app, common + ["--scheme", "multiplicative", "--eps",
                                                  "0.1"]).output)
    assert {r["M_kept"] for r in add["rows"]} <= set(range(7, 14))      # 0.01^(-1/2) = 10
    assert [r["M_kept"] for r in mul["rows"]] == [32, 64, 128]
    assert all(r["E_shrink"] > 0 for r in add["rows"] + mul["rows"])
    assert add["reference"] == "tuned" and add["reference_lr"] == 0.25


def test_validate_json():
    result = runner.invoke(app, ["theory", "validate", "--json", "--seeds", "600"])
    data = json.loads(result.output)
    from bitscale.theory.validate import SCHEDULES, validation_matrix

    assert len(data["cases"]) == len(SCHEDULES) * len(validation_matrix())
    assert result.exit_code == (0 if data["passed"] else 1)
    assert all(set(c) >= {"place", "scheme", "schedule", "iterate", "test", "max_z", "power"}
               for c in data["cases"])
