"""`bitscale train` and `bitscale train-study` through Typer's CliRunner."""

from __future__ import annotations

import json
import sysconfig
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bitscale.cli import app

runner = CliRunner()

TINY = ["--layers", "1", "--d-model", "32", "--heads", "2", "--seq-len", "32", "--batch-size", "4",
        "--tokens", str(20 * 4 * 32), "--warmup", "4", "--eval-tokens", "1024", "--threads", "1", "--no-progress"]


@pytest.fixture
def data(tmp_path, monkeypatch) -> str:
    monkeypatch.setenv("BITSCALE_CACHE", str(tmp_path / "cache"))
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    path = tmp_path / "corpus.txt"
    path.write_bytes((stdlib / "textwrap.py").read_bytes() + (stdlib / "shlex.py").read_bytes())
    return str(path)


def test_train_writes_the_run_folder_and_prints_the_result(data, tmp_path):
    out = tmp_path / "run"
    res = runner.invoke(app, ["train", *TINY, "--data", data, "--quant", "w4a8kv8", "--ptq", "int4:channel",
                              "--out", str(out)])
    assert res.exit_code == 0, res.output
    result = json.loads((out / "result.json").read_text())
    config = json.loads((out / "config.json").read_text())
    assert result["status"] == "done" and (result["P_w"], result["P_a"], result["P_kv"]) == (4, 8, 8)
    assert config["quant"] == "w4a8kv8" and config["model"]["d_model"] == 32 and config["data"] == data
    assert [p["spec"] for p in result["ptq"]] == ["int4:channel"]
    assert (out / "metrics.jsonl").exists()
    assert "done" in res.output and f"{result['val_loss']:.4f}" in res.output
    assert "PTQ int4:channel" in res.output


def test_train_reports_divergence(data, tmp_path):
    res = runner.invoke(app, ["train", *TINY, "--data", data, "--lr", "1e6", "--min-lr", "1e6",
                              "--out", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    assert "diverged" in res.output
    assert json.loads((tmp_path / "run" / "result.json").read_text())["status"] == "diverged"


def test_train_rejects_a_bad_config_with_the_reason(data, tmp_path):
    res = runner.invoke(app, ["train", *TINY, "--data", data, "--d-model", "30", "--out", str(tmp_path / "r")])
    assert res.exit_code != 0
    assert "choose e.g. d_model=32" in res.output


def test_train_study_rejects_unknown_study(tmp_path):
    res = runner.invoke(app, ["train-study", "nonsense", "--out", str(tmp_path)])
    assert res.exit_code != 0
    assert "estimators, ladder" in res.output
