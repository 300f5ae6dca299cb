"""STE, STE-clip and the denoising estimator: values and gradients are what they claim."""

from __future__ import annotations

import pytest
import torch

from bitscale import formats
from bitscale.nn import denoise, rounding_noise, ste, ste_clip
from bitscale.nn.estimators import denoise_reference, denoise_terms

SPECS = ["int4:channel", "int2:channel", "int8:tensor", "int4:group8:affine", "int3:channel:affine",
         "binary:channel", "binary:channel:affine", "ternary:channel", "uint4:channel"]


def _x(shape=(6, 16), dtype=torch.float64, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize("spec", SPECS + ["e4m3fn:tensor", "int4:channel:mse"])
def test_ste_value_is_formats_quantize_and_gradient_is_identity(spec):
    x = _x(dtype=torch.float32).requires_grad_()
    y = ste(x, spec)
    torch.testing.assert_close(y, formats.quantize(x.detach(), spec), rtol=0, atol=0)
    g = torch.randn_like(x)
    (gx,) = torch.autograd.grad(y, x, g)
    torch.testing.assert_close(gx, g, rtol=0, atol=0)


def test_ste_clip_zeroes_gradient_outside_the_clipping_range():
    # Binary with the mean-|x| scale: the clipping range is |x| <= s = mean|x| per channel.
    x = _x().requires_grad_()
    y = ste_clip(x, "binary:channel")
    torch.testing.assert_close(y, formats.quantize(x.detach(), "binary:channel"), rtol=0, atol=0)
    (gx,) = torch.autograd.grad(y.sum(), x)
    s = x.detach().abs().mean(dim=-1, keepdim=True)
    inside = x.detach().abs() <= s
    assert 0 < inside.sum() < inside.numel()  # both cases occur
    torch.testing.assert_close(gx, inside.to(gx.dtype), rtol=0, atol=0)


def test_ste_clip_int_passes_everything_absmax_keeps_in_range_and_clips_mse():
    x = _x(dtype=torch.float32).requires_grad_()
    (g_abs,) = torch.autograd.grad(ste_clip(x, "int4:channel").sum(), x)
    assert bool((g_abs == 1).all())  # absmax scaling never clips
    # MSE clipping (formats' ':mse') does clip the tails: their gradient is zero
    x2 = torch.cat([_x(dtype=torch.float32), torch.full((6, 1), 40.0)], dim=1).requires_grad_()
    y2 = ste_clip(x2, "int4:channel:mse")
    torch.testing.assert_close(y2, formats.quantize(x2.detach(), "int4:channel:mse"), rtol=0, atol=0)
    (g_mse,) = torch.autograd.grad(y2.sum(), x2)
    clipped = x2.detach().abs() > y2.detach().abs().amax(dim=-1, keepdim=True)
    assert bool(clipped.any())
    torch.testing.assert_close(g_mse, (~clipped).to(g_mse.dtype), rtol=0, atol=0)


@pytest.mark.parametrize("spec", SPECS)
def test_denoise_gradient_passes_gradcheck(spec):
    x = _x().requires_grad_()
    frozen = denoise_terms(x.detach(), spec)  # the stop-gradient terms, fixed at x
    assert torch.autograd.gradcheck(lambda t: denoise_reference(t, spec, 0.01, frozen=frozen), (x,))


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("lam", [0.01, 1.0])
def test_denoise_fast_backward_equals_autograd_through_the_ridge(spec, lam):
    x = _x().requires_grad_()
    g = _x(seed=1)
    y_fast = denoise(x, spec, lam)
    y_ref = denoise_reference(x, spec, lam)
    torch.testing.assert_close(y_fast, y_ref, rtol=1e-12, atol=1e-12)
    (g_fast,) = torch.autograd.grad(y_fast, x, g)
    (g_ref,) = torch.autograd.grad(y_ref, x, g)
    torch.testing.assert_close(g_fast, g_ref, rtol=1e-10, atol=1e-12)


def test_denoise_forward_is_the_ridge_regression_of_x_on_the_codes():
    x = _x()
    lam = 0.3
    codes, sc = formats.encode(x, "int4:channel")
    q = codes.to(x.dtype)
    s_lin = (q * x).sum(-1, keepdim=True) / ((q * q).sum(-1, keepdim=True) + lam)
    torch.testing.assert_close(denoise(x, "int4:channel", lam), s_lin * q, rtol=1e-12, atol=1e-12)
    codes, _ = formats.encode(x, "int4:channel:affine")
    q = codes.to(x.dtype)
    qc, xc = q - q.mean(-1, keepdim=True), x - x.mean(-1, keepdim=True)
    s_aff = (qc * xc).mean(-1, keepdim=True) / ((qc * qc).mean(-1, keepdim=True) + lam)
    torch.testing.assert_close(denoise(x, "int4:channel:affine", lam),
                               s_aff * qc + x.mean(-1, keepdim=True), rtol=1e-12, atol=1e-12)


def test_denoise_with_no_ridge_fits_at_least_as_well_as_the_grid_scale():
    # λ = 0 makes g the least-squares dequantizer of the same codes: never worse than s·q.
    x = _x((32, 64))
    for spec in SPECS:
        err_denoise = (denoise(x, spec, 0.0) - x).square().sum()
        err_grid = (formats.quantize(x, spec) - x).square().sum()
        assert err_denoise <= err_grid * (1 + 1e-12), spec


@pytest.mark.parametrize("spec", ["int4:channel", "binary:channel", "int3:channel:affine"])
def test_denoise_gradient_differs_from_ste_when_rounding_error_is_nonzero(spec):
    x = _x().requires_grad_()
    g = _x(seed=2)
    assert rounding_noise(x.detach(), spec).abs().max() > 0
    (g_den,) = torch.autograd.grad(denoise(x, spec), x, g)
    (g_ste,) = torch.autograd.grad(ste(x, spec), x, g)
    assert (g_den - g_ste).abs().max() > 1e-3


def test_denoise_gradient_equals_the_ridge_of_an_exact_grid_point():
    # When x already lies on the grid (zero rounding error) with λ = 0 the ridge is the identity
    # map on that group, so the gradient is the upstream gradient: exactly STE's.
    q = torch.tensor([[-7.0, -3.0, 0.0, 1.0, 5.0, 7.0, 2.0, -1.0]], dtype=torch.float64)
    x = (0.25 * q).requires_grad_()
    assert rounding_noise(x.detach(), "int4:channel").abs().max() == 0
    g = torch.arange(8, dtype=torch.float64).reshape(1, 8)
    (g_den,) = torch.autograd.grad(denoise(x, "int4:channel", 0.0), x, g)
    torch.testing.assert_close(g_den, g, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("spec", ["e4m3fn:tensor", "e2m1fn:channel", "int4:channel:mse", "mxfp4"])
def test_denoise_on_other_formats_is_the_ridge_over_formats_values(spec):
    x = _x((4, 32)).requires_grad_()
    y = denoise(x, spec, 0.0)
    v = formats.quantize(x.detach(), spec)
    view = (lambda t: t.reshape(-1, 32)) if "channel" in spec or "mx" in spec else (
        lambda t: t.reshape(1, -1))
    s_g = (view(v) * view(x.detach())).sum(-1, keepdim=True) / view(v).square().sum(-1, keepdim=True)
    torch.testing.assert_close(y.detach(), (s_g * view(v)).reshape(x.shape), rtol=1e-10, atol=1e-12)
    g = _x((4, 32), seed=3)
    (g_den,) = torch.autograd.grad(y, x, g)
    assert (g_den - g).abs().max() > 1e-3  # the rounding error reaches the gradient
