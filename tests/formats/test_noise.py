"""noise_profile: floats come out multiplicative, integers additive, with the predicted constants.

Predictions. Float ExMy, u log-uniform over whole binades of the normal range: in binade
[2^e, 2^(e+1)) the error is uniform on a step 2^(e-M), so E[ξ²] = 2^(2e-2M)/12, while
E[u²] = 2^(2e)·(4-1)/ln 4; hence ε_mul = (ln 4 / 3)·2^(-2M)/12 exactly. Integer grid with step Δ,
u uniform on [-A, A]: ε_add = Δ²/12. Tolerance: with n samples the relative standard error of a
mean of ξ² (uniform ξ: E[ξ⁴]/E[ξ²]² = 9/5) is sqrt(0.8/n) ≈ 0.25% at n = 2^17; we allow 2% (8σ).
"""

from __future__ import annotations

import math

import pytest
import torch

from bitscale import formats

N = 2**17
TOL = 0.02


def log_uniform(lo_exp: int, hi_exp: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mag = torch.exp2(lo_exp + (hi_exp - lo_exp) * torch.rand(N, generator=g, dtype=torch.float64))
    sign = torch.where(torch.rand(N, generator=g) < 0.5, -1.0, 1.0).to(torch.float64)
    return (mag * sign).float()


@pytest.mark.parametrize("name,lo,hi", [("e4m3fn", -5, 7), ("e5m2", -10, 12), ("e3m4", -1, 3),
                                        ("e2m3fn", 0, 2)])
def test_float_is_multiplicative(name, lo, hi):
    fmt = formats.parse_format(name)
    p = formats.noise_profile(name, log_uniform(lo, hi))
    want = math.log(4) / 3 * 2.0 ** (-2 * fmt.man_bits) / 12
    assert p.dominant == "multiplicative"
    assert abs(p.eps_mul / want - 1) < TOL, (p.eps_mul, want)
    assert p.share_mul > 0.99 and p.r2 > 0.99


@pytest.mark.parametrize("spec,qmax", [("int8:tensor", 127), ("int4:tensor", 7), ("int6:tensor", 31)])
def test_int_is_additive(spec, qmax):
    g = torch.Generator().manual_seed(1)
    u = torch.rand(N, generator=g) * 2 - 1
    p = formats.noise_profile(spec, u)
    delta = u.abs().max().item() / qmax
    assert p.dominant == "additive"
    assert abs(p.eps_add / (delta**2 / 12) - 1) < TOL, (p.eps_add, delta**2 / 12)


def test_gaussian_data_and_fields():
    u = torch.randn(N, generator=torch.Generator().manual_seed(2))
    fp = formats.noise_profile("e4m3fn:tensor", u)
    it = formats.noise_profile("int4:tensor", u)
    assert fp.dominant == "multiplicative" and it.dominant == "additive"
    assert fp.spec == "e4m3fn:tensor" and len(fp.bins) >= 5
    assert sum(b.count for b in it.bins) <= N
    q = formats.quantize(u, "int4:tensor")
    assert it.mse == pytest.approx((q - u).double().square().mean().item(), rel=1e-6)
    with pytest.raises(Exception):
        fp.eps_mul = 0.0  # frozen


def test_too_few_samples():
    with pytest.raises(ValueError, match="at least 2 octaves"):
        formats.noise_profile("int8:tensor", torch.ones(10))
