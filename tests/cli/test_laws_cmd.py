"""`bitscale fit / predict / plan` through Typer's CliRunner."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from bitscale import laws
from bitscale.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def runs_csv(tmp_path_factory):
    rng = np.random.default_rng(0)
    n = 60
    N = np.exp(rng.uniform(np.log(3e7), np.log(3e9), n))
    P = rng.choice([4, 6, 8, 16], size=n)
    df = pd.DataFrame({"params": N, "tokens": N * np.exp(rng.uniform(np.log(10), np.log(200), n)), "bits": P})
    law = laws.preset("kumar2024")
    df["val"] = law.predict(N=df.params, D=df.tokens, P_w=df.bits, P_a=16, P_kv=16) * np.exp(rng.normal(0, 0.005, n))
    path = tmp_path_factory.mktemp("runs") / "runs.csv"
    df.to_csv(path, index=False)
    return path


def test_fit_json_save_plot_and_predict_from_saved_fit(runs_csv, tmp_path):
    fit_path, png = tmp_path / "fit.json", tmp_path / "fit.png"
    r = runner.invoke(
        app,
        ["fit", str(runs_csv), "--law", "kumar-neff", "--map", "N=params", "--map", "D=tokens", "--map", "loss=val",
         "--map", "P_w=bits", "--tie", "beta=alpha", "--bootstrap", "3", "--json", "--save", str(fit_path), "--plot", str(png)],
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["law_name"] == "kumar-neff" and out["rmsle"] < 0.02
    assert out["params"]["beta"] == out["params"]["alpha"] and "gamma_kv" in out["fixed"]
    assert png.stat().st_size > 10_000 and fit_path.exists()
    r = runner.invoke(app, ["predict", "--law", str(fit_path), "--N", "1e9", "--D", "2e10", "--P", "8", "--json"])
    assert r.exit_code == 0, r.output
    pred = json.loads(r.output)["loss"]
    saved = laws.FitResult.from_json(fit_path)
    assert pred == pytest.approx(saved.predict(N=1e9, D=2e10, P_w=8, P_a=8, P_kv=8)[0], rel=1e-12)


def test_fit_table_and_missing_column_error(runs_csv):
    r = runner.invoke(app, ["fit", str(runs_csv), "--map", "N=params", "--map", "D=tokens", "--map", "loss=val", "--holdout", "0.2"])
    assert r.exit_code == 0, r.output
    assert "RMSLE" in r.output and "held out" in r.output
    r = runner.invoke(app, ["fit", str(runs_csv)])
    assert r.exit_code == 2 and "columns=" in r.output.replace("\n", "")


def test_plan_sweep_json_and_plots(tmp_path):
    r = runner.invoke(app, ["plan", "--law", "kumar2024", "-c", "1e19", "-c", "1e22", "-c", "1e25", "--json", "--plot", str(tmp_path / "p.png")])
    assert r.exit_code == 0, r.output
    plans = json.loads(r.output)["plans"]
    assert [p["compute"] for p in plans] == [1e19, 1e22, 1e25]
    assert all(6.95 < p["P"] < 8 for p in plans)
    assert (tmp_path / "p.png").stat().st_size > 10_000
    r = runner.invoke(app, ["plan", "--law", "kumar2024", "-c", "1e21", "--plot", str(tmp_path / "iso.png"), "--P-post", "4"])
    assert r.exit_code == 0, r.output
    assert "D_crit" in r.output and (tmp_path / "iso.png").stat().st_size > 10_000


def test_plan_hardware_formats_and_errors():
    r = runner.invoke(app, ["plan", "--law", "kumar2024", "-c", "1e21", "--formats", "bf16=16x1,fp8=8x2,fp4=4x4", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["plans"][0]["label"] in {"bf16", "fp8", "fp4"}
    r = runner.invoke(app, ["plan", "--law", "kumar2024", "-c", "1e21", "--formats", "bf16:16"])
    assert r.exit_code != 0 and "NAME=BITSxSPEEDUP" in r.output.replace("\n", "")
    r = runner.invoke(app, ["plan", "--law", "nope", "-c", "1e21"])
    assert r.exit_code != 0 and "unknown preset" in r.output


def test_predict_with_ptq():
    r = runner.invoke(app, ["predict", "--law", "kumar2024", "--N", "1e9", "--D", "1e11", "--P-post", "4", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["loss_after_ptq"] == pytest.approx(float(laws.loss_after_ptq("kumar2024", N=1e9, D=1e11, P_post=4)), rel=1e-12)
    assert out["loss_after_ptq"] > out["loss"]
