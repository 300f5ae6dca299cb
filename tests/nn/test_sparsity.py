"""2:4 sparsity: the mask keeps the two largest of every four; the gradient reaches every weight."""

from __future__ import annotations

import pytest
import torch

from bitscale import formats
from bitscale.nn import QuantConfig, QuantLinear, mask_2_4, sparsify_2_4


def test_mask_keeps_the_two_largest_magnitudes_of_each_group_of_four():
    x = torch.randn(8, 32, generator=torch.Generator().manual_seed(0))
    m = mask_2_4(x)
    groups, mg = x.abs().reshape(-1, 4), m.reshape(-1, 4)
    assert bool((mg.sum(-1) == 2).all())
    kept_min = torch.where(mg, groups, torch.inf).amin(-1)
    dropped_max = torch.where(mg, -torch.inf, groups).amax(-1)
    assert bool((kept_min >= dropped_max).all())


def test_sparsify_value_is_masked_and_gradient_is_identity():
    x = torch.randn(4, 8, generator=torch.Generator().manual_seed(1)).requires_grad_()
    y = sparsify_2_4(x)
    torch.testing.assert_close(y, x.detach() * mask_2_4(x), rtol=0, atol=0)
    g = torch.randn_like(x)
    (gx,) = torch.autograd.grad(y, x, g)
    torch.testing.assert_close(gx, g, rtol=0, atol=0)


def test_quant_linear_with_sparsity_quantizes_the_pruned_weights():
    lin = torch.nn.Linear(16, 6)
    ql = QuantLinear.from_linear(lin, QuantConfig.parse("w4,sparsity=2:4"))
    w = lin.weight.detach()
    expected = formats.quantize(w * mask_2_4(w), "int4:channel")
    torch.testing.assert_close(ql.quantized_weight(), expected, rtol=0, atol=0)
    assert bool((ql.quantized_weight().reshape(-1, 4) != 0).sum(-1).le(2).all())


def test_sparsity_needs_a_multiple_of_four():
    with pytest.raises(ValueError, match="multiple of 4"):
        mask_2_4(torch.randn(3, 6))
