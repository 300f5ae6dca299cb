"""Validation of Problem / Noise / Quantization, and the step-size schedules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bitscale.theory import FULL_PRECISION, Noise, Problem, Quantization
from bitscale.theory.problem import spectrum_trace
from bitscale.theory.schedule import step_sizes


def test_diverging_step_is_rejected_with_the_fix():
    trace = spectrum_trace(2.0, 640)
    with pytest.raises(ValueError, match="diverges") as info:
        Problem(a=2.0, M=64, d=640, lr=1.0 / trace)
    # The message names the bound and a safe value.
    assert f"lr < {1 / trace:.4f}" in str(info.value)
    Problem(a=2.0, M=64, d=640, lr=0.99 / trace)


@pytest.mark.parametrize("kwargs, match", [
    ({"a": 1.0}, "a > 1"),
    ({"a": 0.5}, "a > 1"),
    ({"M": 100, "d": 50}, "exceeds d"),
    ({"M": 0}, "positive integer"),
    ({"sigma2": -1.0}, "variance"),
    ({"batch": 0}, "positive integer"),
    ({"schedule": "cosine"}, "constant"),
    ({"b": -1.0}, "prior exponent"),
    ({"iterate": "best"}, "last iterate"),
    ({"test": "noisy"}, "inference"),
])
def test_problem_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Problem(**kwargs)


def test_negative_eps_is_rejected():
    with pytest.raises(ValueError, match="cannot be negative"):
        Noise("additive", -0.01)
    with pytest.raises(ValueError, match="expected one of"):
        Noise("logarithmic", 0.1)
    with pytest.raises(ValueError, match="spec="):
        Noise("format")
    with pytest.raises(TypeError, match="expected a Noise"):
        Quantization(data="additive:0.1")
    with pytest.raises(ValueError, match="place"):
        Quantization.single("bias", "additive", 0.1)


def test_noise_parse_and_exactness():
    assert Noise.parse("additive:0.01") == Noise("additive", 0.01)
    assert Noise.parse("format:int8:channel") == Noise("format", spec="int8:channel")
    with pytest.raises(ValueError, match="MODEL:EPS"):
        Noise.parse("additive")
    assert FULL_PRECISION.exact and FULL_PRECISION.label_text == "none"
    q = Quantization(data=Noise("additive", 0.01), grad=Noise("multiplicative", 0.1))
    assert q.exact and [p for p, _ in q.items()] == ["data", "grad"]
    assert not Quantization(data=Noise("multiplicative-elementwise", 0.1)).exact
    assert not Quantization.single("data", "format", spec="int8:channel").exact


@pytest.mark.parametrize("steps", [1, 2, 7, 100, 1000, 4097])
def test_geometric_schedule_halves_over_log2_phases(steps):
    g = step_sizes(0.3, "geometric", steps)
    phases = max(1, math.ceil(math.log2(steps)))
    length = math.ceil(steps / phases)
    assert g.shape == (steps,)
    assert g[0] == 0.3
    # Each phase is constant, each next phase half the last.
    levels = np.unique(g)[::-1]
    assert np.allclose(levels, 0.3 * 0.5 ** np.arange(levels.size))
    assert levels.size <= phases
    assert np.all(g[:length] == 0.3)
    assert np.array_equal(step_sizes(0.3, "constant", steps), np.full(steps, 0.3))


def test_noise_by_bits():
    """Bits derive eps through bitscale.theory.bits (stochastic rounding)."""
    from bitscale.theory.bits import eps_from_bits

    n = Noise("additive", bits=8, scale=4.0)
    assert n.eps == pytest.approx((4.0 / 127) ** 2 / 6, rel=1e-12)
    assert n.eps == eps_from_bits("additive", 8, scale=4.0)
    assert Noise.parse("additive:8bit:scale=4") == n
    assert "8bit" in n.label
    m = Noise.parse("multiplicative:3bit")
    assert m.eps == eps_from_bits("multiplicative", 3)
    # The elementwise model has the same per-coordinate eps as the per-vector one.
    assert Noise("multiplicative-elementwise", bits=3).eps == m.eps
    with pytest.raises(ValueError, match="not both"):
        Noise("additive", 0.1, bits=4)
    with pytest.raises(ValueError, match="bits >= 2"):
        Noise.parse("additive:1bit")
    with pytest.raises(ValueError, match="drop bits"):
        Noise("format", spec="int8:channel", bits=8)
    with pytest.raises(ValueError, match="bit\\[:scale=S\\]"):
        Noise.parse("additive:4bit:range=2")
