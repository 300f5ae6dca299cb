"""The bits -> eps bridge (:mod:`bitscale.theory.bits`) against quadrature and the real formats."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy.integrate import quad

from bitscale.formats import quantize
from bitscale.theory.bits import (
    ADDITIVE_BITS,
    MANTISSA_BITS,
    bits_from_eps,
    eps_from_bits,
)

# Agreement with the formats: |measured - predicted| within this many standard errors of the
# measured statistic (the standard error itself is estimated from the same sample).
N_SE = 5.0
N_SAMPLES = 1 << 20
FLOAT_EPS = np.finfo(np.float64).eps


# --- round trips and shape of the map ------------------------------------------------------------

@pytest.mark.parametrize("model, lo_hi", [("additive", ADDITIVE_BITS),
                                          ("multiplicative", MANTISSA_BITS)])
@pytest.mark.parametrize("scale", [1.0, 0.37, 250.0])
def test_round_trip_bits_eps_bits(model, lo_hi, scale):
    for b in range(lo_hi[0], lo_hi[1] + 1):
        eps = eps_from_bits(model, b, scale=scale)
        assert bits_from_eps(model, eps, scale=scale) == pytest.approx(b, abs=1e-9)


@pytest.mark.parametrize("model, lo_hi", [("additive", ADDITIVE_BITS),
                                          ("multiplicative", MANTISSA_BITS)])
def test_more_bits_less_eps(model, lo_hi):
    eps = [eps_from_bits(model, b) for b in range(lo_hi[0], lo_hi[1] + 1)]
    assert all(e > 0 for e in eps)
    assert all(e1 < e0 for e0, e1 in zip(eps, eps[1:]))


@given(b=st.integers(*ADDITIVE_BITS), scale=st.floats(1e-6, 1e6))
def test_additive_eps_scales_as_scale_squared(b, scale):
    assert eps_from_bits("additive", b, scale=scale) == pytest.approx(
        scale**2 * eps_from_bits("additive", b), rel=1e-12)


@given(m=st.integers(*MANTISSA_BITS), scale=st.floats(1e-6, 1e6))
def test_multiplicative_eps_is_scale_free(m, scale):
    assert eps_from_bits("multiplicative", m, scale=scale) == eps_from_bits("multiplicative", m)


@pytest.mark.parametrize("model", ["additive", "multiplicative"])
@given(e0=st.floats(1e-40, 10.0), ratio=st.floats(1.001, 100.0))
def test_bits_from_eps_is_decreasing(model, e0, ratio):
    """Continuous and strictly decreasing in eps, also outside the integer widths."""
    assert bits_from_eps(model, e0) > bits_from_eps(model, e0 * ratio)


def test_multiplicative_bits_beyond_a_power_of_two_grid_are_negative():
    eps0 = eps_from_bits("multiplicative", 0)
    # theory.md's eps = 0.1 is coarser than any float grid: slope -2 per bit beyond m = 0.
    assert bits_from_eps("multiplicative", 4 * eps0) == pytest.approx(-1.0, abs=1e-12)


# --- the multiplicative constant against its definition -----------------------------------------

@pytest.mark.parametrize("m", range(0, 6))
def test_multiplicative_eps_equals_quadrature_of_its_definition(m):
    """eps = E[n^2] / E[v^2], v log-uniform on [1, 2), E[n^2 | v] = (v - lo)(hi - v) under SR;
    both expectations by numerical quadrature over each grid step (slow, obviously correct)."""
    h = 2.0 ** -m
    en2 = sum(quad(lambda v, a=1 + j * h: (v - a) * (a + h - v) / (v * math.log(2)),
                   1 + j * h, 1 + (j + 1) * h, epsabs=0, epsrel=1e-12)[0] for j in range(2 ** m))
    ev2 = quad(lambda v: v / math.log(2), 1, 2, epsabs=0, epsrel=1e-12)[0]
    assert eps_from_bits("multiplicative", m) == pytest.approx(en2 / ev2, rel=1e-10)


@pytest.mark.parametrize("m", range(1, 14))
def test_multiplicative_eps_follows_its_expansion(m):
    """eps(m) = (ln 2 / 9) h^2 - h^4 / 720 + O(h^6): the relative remainder is below h^4
    (up to float64 summation error over the 2^m steps)."""
    h = 2.0 ** -m
    eps = eps_from_bits("multiplicative", m)
    two_terms = math.log(2) / 9 * h**2 - h**4 / 720
    assert abs(eps - two_terms) / eps <= h**4 + 2**m * FLOAT_EPS
    # and the two-term expansion is needed: the leading term alone is off by ~h^2 / (80 ln 2)
    lead = math.log(2) / 9 * h**2
    assert (lead - eps) / eps == pytest.approx(h**2 / (80 * math.log(2)), rel=0.1)


# --- against the real formats (stochastic rounding) ---------------------------------------------

def _se_of_mean(a: torch.Tensor) -> float:
    return float(a.std() / math.sqrt(a.numel()))


@pytest.mark.parametrize("b", [3, 4, 8])
@pytest.mark.parametrize("scale", [1.0, 2.5])
def test_additive_eps_matches_int_format(b, scale):
    g = torch.Generator().manual_seed(1000 + b)
    u = (2 * torch.rand(N_SAMPLES, dtype=torch.float64, generator=g) - 1) * scale
    u[0], u[1] = scale, -scale  # the per-tensor absmax scale is exactly `scale`
    y = quantize(u, f"int{b}:tensor", rounding="stochastic", generator=g)
    err2 = (y - u) ** 2
    predicted = eps_from_bits("additive", b, scale=scale)
    se = _se_of_mean(err2)
    assert abs(float(err2.mean()) - predicted) <= N_SE * se, (float(err2.mean()), predicted, se)


# (spec, mantissa bits, lowest normal binade exponent used, number of whole binades): each range
# [2^e0, 2^(e0 + K)) lies in the format's normal range, so every step is 2^(e - m).
# e4m0 (no mantissa: a signed power-of-two grid) is not an ml_dtypes type; it goes through the
# same generic cast that is checked against ml_dtypes for the others.
FLOAT_CASES = [("e4m0", 0, -6, 13), ("e2m1fn", 1, 0, 2), ("e3m2fn", 2, -2, 6), ("e5m2", 2, -12, 20),
               ("e4m3fn", 3, -6, 14)]


@pytest.mark.parametrize("spec, m, e0, k", FLOAT_CASES, ids=[c[0] for c in FLOAT_CASES])
def test_multiplicative_eps_matches_float_format(spec, m, e0, k):
    ratio, se = _float_eps(spec, e0, k, N_SAMPLES, seed=2000 + m)
    predicted = eps_from_bits("multiplicative", m)
    assert abs(ratio - predicted) <= N_SE * se, (ratio, predicted, se)


def test_float_format_sees_the_exact_constant_not_the_uniform_p_one():
    """At m = 0 the uniform-p value (ln 2 / 9) h^2 is 1.6 % above the exact eps: with 2^21
    samples a real power-of-two grid tells the two apart."""
    ratio, se = _float_eps("e4m0", -6, 13, 2 * N_SAMPLES, seed=3000)
    assert abs(ratio - eps_from_bits("multiplicative", 0)) <= N_SE * se
    assert abs(ratio - math.log(2) / 9) > N_SE * se


def _float_eps(spec: str, e0: int, k: int, n: int, seed: int) -> tuple[float, float]:
    """``sum(xi^2) / sum(u^2)`` and its standard error for ``u`` log-uniform on
    ``[2^e0, 2^(e0 + k))`` with random signs, ``xi = Q(u) - u`` (stochastic rounding)."""
    g = torch.Generator().manual_seed(seed)
    mag = torch.exp2(e0 + k * torch.rand(n, dtype=torch.float64, generator=g))
    sign = torch.where(torch.rand(n, dtype=torch.float64, generator=g) < 0.5, -1.0, 1.0)
    u = mag * sign
    y = quantize(u, spec, rounding="stochastic", generator=g)  # a raw cast, no scaling
    num, den = (y - u) ** 2, u**2
    ratio = float(num.sum() / den.sum())
    # delta method for a ratio of means: Var(R) ≈ Var(num - R den) / (n mean(den)^2)
    return ratio, _se_of_mean(num - ratio * den) / float(den.mean())


# --- validation ---------------------------------------------------------------------------------

@pytest.mark.parametrize("call, match", [
    (lambda: eps_from_bits("float", 4), "expected 'multiplicative'"),
    (lambda: eps_from_bits("multiplicative-elementwise", 4), "pass 'multiplicative'"),
    (lambda: bits_from_eps("int", 0.1), "expected 'multiplicative'"),
    (lambda: eps_from_bits("additive", 1), "qmax = 2"),
    (lambda: eps_from_bits("additive", 0), r"in \[2, 53\]"),
    (lambda: eps_from_bits("additive", 54), r"in \[2, 53\]"),
    (lambda: eps_from_bits("multiplicative", -1), r"in \[0, 52\]"),
    (lambda: eps_from_bits("multiplicative", 53), r"in \[0, 52\]"),
    (lambda: eps_from_bits("additive", 4.0), "expected an int"),
    (lambda: eps_from_bits("additive", True), "expected an int"),
    (lambda: eps_from_bits("additive", "8"), "expected an int"),
    (lambda: eps_from_bits("additive", 8, scale=0.0), "finite positive"),
    (lambda: eps_from_bits("additive", 8, scale=-1.0), "finite positive"),
    (lambda: eps_from_bits("additive", 8, scale=math.inf), "finite positive"),
    (lambda: eps_from_bits("multiplicative", 3, scale=math.nan), "finite positive"),
    (lambda: bits_from_eps("additive", 0.0), "eps > 0"),
    (lambda: bits_from_eps("multiplicative", -0.1), "eps > 0"),
    (lambda: bits_from_eps("multiplicative", math.nan), "eps > 0"),
    (lambda: bits_from_eps("additive", 0.01, scale=0.0), "finite positive"),
])
def test_bad_input_says_what_and_how(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_numpy_integers_are_bits():
    assert eps_from_bits("additive", np.int64(8)) == eps_from_bits("additive", 8)
