from __future__ import annotations

import tomllib

import pytest

from bitscale.lm import GPT, ModelConfig
from bitscale.sweep.config import PRESETS, SweepConfig, load_sweep, preset
from bitscale.sweep.store import config_key


@pytest.mark.parametrize("name", PRESETS)
def test_presets_load_and_roundtrip(name):
    cfg = preset(name)
    assert cfg.name == name
    assert SweepConfig.from_dict(cfg.to_dict()) == cfg
    assert load_sweep(name) == cfg


def test_quick_and_default_grids():
    quick = preset("quick").runs()
    default = preset("default").runs()
    assert len({config_key(r.payload) for r in quick}) == len(quick) == 16
    assert len({config_key(r.payload) for r in default}) == len(default) == 60
    # default: several N, a couple of D, weights 8..2 bits, activation and KV variation, both estimators
    bits = {(r.config.quant or "fp32") for r in default}
    assert {"fp32", "w8", "w4", "w3", "w2", "a8", "a4", "kv4", "w2,est=denoise"} <= bits
    assert len({r.config.model for r in default}) == 3 and len({r.config.tokens for r in default}) == 2
    assert all(r.config.ptq == ("int4:channel", "int3:channel") for r in default)


def test_tokens_per_param_and_estimator_crossing():
    cfg = SweepConfig.from_dict({
        "name": "t",
        "models": [{"n_layer": 1, "d_model": 32, "n_head": 2}],
        "tokens": {"per_param": [10]},
        "precision": {"train": ["fp32", "w4", "w=e4m3fn:tensor", "w3,est=ste-clip"], "estimators": ["ste", "denoise"]},
        "train": {"batch_size": 4, "warmup_fraction": 0.25},
    })
    runs = cfg.runs()
    n = GPT(ModelConfig(n_layer=1, d_model=32, n_head=2, seq_len=64)).num_params()
    step = 4 * 64
    assert {r.config.tokens for r in runs} == {round(10 * n / step) * step}
    quants = [r.config.quant for r in runs]
    # fp32 once; w4 and the float format x {ste, denoise}; an explicit est= is not crossed
    from bitscale.nn import QuantConfig

    expected = [None, "w4", "w4,est=denoise", "w=e4m3fn:tensor", "w=e4m3fn:tensor,est=denoise", "w3,est=ste-clip"]
    assert [q and QuantConfig.parse(q) for q in quants] == [e and QuantConfig.parse(e) for e in expected]
    assert all(r.config.warmup == r.config.steps // 4 for r in runs)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"models": []}, "no \\[\\[models\\]\\]"),
        ({"models": [{"n_layer": 1, "d_model": 8, "n_head": 2}], "tokens": {"absolute": [1], "per_param": [1]}}, "exactly one"),
        ({"models": [{"n_layer": 1, "d_model": 8}], "tokens": {"absolute": [1]}}, "expected exactly"),
        ({"models": [{"n_layer": 1, "d_model": 8, "n_head": 2}], "tokens": {"absolute": [1000]}, "train": {"lrr": 1}}, "unknown \\[train\\] keys"),
        ({"modles": []}, "unknown top-level keys"),
    ],
)
def test_validation_messages(data, match):
    with pytest.raises(ValueError, match=match):
        SweepConfig.from_dict(data)


def test_bad_precision_names_the_sweep(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[[models]]\nn_layer = 1\nd_model = 16\nn_head = 2\n[tokens]\nabsolute = [4096]\n'
                    '[precision]\ntrain = ["w4x"]\n')
    cfg = load_sweep(path)
    assert cfg.name == "bad"
    with pytest.raises(ValueError, match="sweep 'bad': precision 'w4x' does not parse"):
        cfg.runs()
    with pytest.raises(FileNotFoundError, match="neither a file nor a preset"):
        load_sweep(tmp_path / "nope.toml")


def test_bundled_files_are_valid_toml():
    from importlib import resources

    for name in PRESETS:
        text = resources.files("bitscale.sweep").joinpath("presets", f"{name}.toml").read_text()
        assert tomllib.loads(text)["name"] == name
