"""QuantConfig: short and full string forms, round trips, bit widths, validation."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bitscale.nn import QuantConfig


def test_short_form_expands_to_full_specs():
    cfg = QuantConfig.parse("w4a8kv8")
    assert (cfg.weights, cfg.activations, cfg.kv_cache) == ("int4:channel", "int8:tensor",
                                                            "int8:channel")
    assert cfg.bits == {"w": 4, "a": 8, "kv": 8}
    assert str(cfg) == "w4a8kv8"


def test_one_bit_is_binary_and_fp32_is_unquantized():
    cfg = QuantConfig.parse("w1a1")
    assert cfg.weights == "binary:channel" and cfg.activations == "binary:tensor"
    assert cfg.bits == {"w": 1, "a": 1, "kv": 16}
    assert QuantConfig.parse("fp32") == QuantConfig() and QuantConfig().is_float
    assert QuantConfig.parse("wt").bits["w"] == pytest.approx(math.log2(3))


def test_contract_example_parses_and_round_trips():
    text = "w=int4:channel,a=e4m3fn:tensor,kv=int8:channel,est=denoise,sparsity=2:4"
    cfg = QuantConfig.parse(text)
    assert (cfg.weights, cfg.activations, cfg.kv_cache, cfg.estimator, cfg.sparsity) == (
        "int4:channel", "e4m3fn:tensor", "int8:channel", "denoise", "2:4")
    assert QuantConfig.parse(str(cfg)) == cfg


def test_full_form_and_mixed_form():
    cfg = QuantConfig.parse("w=int4:group128:affine,a=e4m3fn:tensor,kv=int8:channel,est=ste-clip")
    assert cfg.weights == "int4:group128:affine" and cfg.activations == "e4m3fn:tensor"
    assert cfg.estimator == "ste-clip" and cfg.bits == {"w": 4, "a": 8, "kv": 8}
    mixed = QuantConfig.parse("w2a8,est=denoise,sparsity=2:4,lam=0.1,skip=lm_head|wte")
    assert (mixed.weights, mixed.estimator, mixed.sparsity, mixed.denoise_lambda, mixed.skip) == (
        "int2:channel", "denoise", "2:4", 0.1, ("lm_head", "wte"))


specs = st.sampled_from([None, "int2:channel", "int4:channel", "int8:tensor", "binary:channel",
                         "ternary:channel", "int4:group32:affine", "int8:channel", "binary:tensor",
                         "int3:channel:affine"])


@given(w=specs, a=specs, kv=specs, est=st.sampled_from(["ste", "ste-clip", "denoise"]),
       lam=st.sampled_from([0.01, 0.5, 0.0]), sp=st.sampled_from([None, "2:4"]),
       skip=st.sampled_from([("lm_head",), (), ("lm_head", "*.proj")]))
def test_str_round_trips(w, a, kv, est, lam, sp, skip):
    cfg = QuantConfig(w, a, kv, est, lam, sp, skip)
    assert QuantConfig.parse(str(cfg)) == cfg


@pytest.mark.parametrize("bad, match", [
    ("w4x8", "short form"), ("w=int4:channel,foo=1", "unknown key"), ("w99", "bits must be"),
    ("w=notaformat", "not a formats spec"), ("w=int4:channel,a=int8:blob", "not a formats spec"),
])
def test_bad_strings_raise_with_a_hint(bad, match):
    with pytest.raises(ValueError, match=match):
        QuantConfig.parse(bad)


def test_bad_fields_raise():
    with pytest.raises(ValueError, match="estimator"):
        QuantConfig(estimator="sgd")
    with pytest.raises(ValueError, match="sparsity"):
        QuantConfig(sparsity="1:4")
    with pytest.raises(ValueError, match="skip must be a tuple"):
        QuantConfig(skip="lm_head")
