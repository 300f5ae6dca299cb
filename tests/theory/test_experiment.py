"""Experiments from TOML: the bundled quick config end to end, and config validation."""

from __future__ import annotations

import csv
import json

import pytest

from bitscale.theory import ExperimentConfig, run_experiment
from bitscale.theory.experiment import default_config_path


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("quick")
    ticks = []
    summary = run_experiment("quick", out, progress=lambda what, done, total: ticks.append(done))
    return summary, out, ticks


@pytest.mark.slow
def test_quick_writes_everything_and_shows_both_schemes(quick):
    summary, out, ticks = quick
    assert ticks == list(range(1, len(ticks) + 1)) and len(ticks) >= 4
    for name in ("risk_vs_N", "risk_vs_M", "effective_sizes", "overlay", "formats"):
        path = summary.plots[name]
        assert path.parent == out and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with summary.results_csv.open() as fh:
        rows = list(csv.DictReader(fh))
    assert set(rows[0]) == {"engine", "M", "N", "scheme", "place", "eps", "format", "lr", "risk",
                            "se"}
    assert {r["engine"] for r in rows} >= {"exact", "montecarlo", "montecarlo-paired"}
    data = json.loads(summary.summary_json.read_text())
    assert len(data["effective_sizes"]) == len(summary.table)
    # Both schemes' M_eff / M at the largest M: the dichotomy in miniature.
    m_max = max(r.M for r in summary.table)
    ratio = {r.scheme: r.M_eff_over_M for r in summary.table if r.M == m_max}
    assert ratio["multiplicative"] > 0.9 > 0.5 > ratio["additive"]
    assert all(z <= 3 for z in summary.overlay_max_z.values())
    # Each real format is reported with its measured noise profile.
    dominant = {f.spec: f.dominant for f in summary.formats}
    assert dominant == {"e2m1fn:channel": "multiplicative", "int4:channel": "additive"}


def test_bundled_configs_parse():
    for name in ("default", "quick"):
        cfg = ExperimentConfig.load(name)
        assert default_config_path(name).is_file()
        assert {s.scheme for s in cfg.settings} == {"multiplicative", "additive"}
        assert cfg.formats is not None and cfg.overlay is not None
    assert ExperimentConfig.load(None).name == "dichotomy"


def test_bad_configs_say_what_to_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="bundled names"):
        ExperimentConfig.load(tmp_path / "missing.toml")
    with pytest.raises(ValueError, match="missing key"):
        ExperimentConfig.from_dict({"settings": []})
    with pytest.raises(ValueError, match="no \\[\\[settings\\]\\]"):
        ExperimentConfig.from_dict({"grid": {"M": [8], "N": [16, 32]}})
    with pytest.raises(ValueError, match="exact engine"):
        ExperimentConfig.from_dict({"grid": {"M": [8], "N": [16, 32]}, "settings": [
            {"scheme": "multiplicative-elementwise", "place": "data", "eps": [0.1]}]})
    with pytest.raises(ValueError, match="diverges"):
        ExperimentConfig.from_dict({"grid": {"M": [8], "N": [16, 32]}, "problem": {"lr": 5.0},
                                    "settings": [{"scheme": "additive", "place": "data",
                                                  "eps": [0.1]}]})


def test_settings_by_bits_and_readouts_in_the_problem_table():
    from bitscale.theory.bits import eps_from_bits

    cfg = ExperimentConfig.from_dict({
        "grid": {"M": [8, 16], "N": [16, 32]},
        "problem": {"iterate": "tail", "test": "quantized"},
        "fit": {"reference": "same-step"},
        "settings": [{"scheme": "additive", "place": "data", "bits": [4, 8], "scale": 2.0},
                     {"scheme": "multiplicative", "place": "grad", "bits": [2]}]})
    assert cfg.settings[0].eps == (eps_from_bits("additive", 4, scale=2.0),
                                   eps_from_bits("additive", 8, scale=2.0))
    assert cfg.settings[1].eps == (eps_from_bits("multiplicative", 2),)
    assert (cfg.problem.iterate, cfg.problem.test, cfg.reference) == ("tail", "quantized",
                                                                      "same-step")
    with pytest.raises(ValueError, match="not both"):
        ExperimentConfig.from_dict({"grid": {"M": [8], "N": [16, 32]}, "settings": [
            {"scheme": "additive", "place": "data", "eps": [0.1], "bits": [4]}]})
