"""2:4 semi-structured sparsity, trained like a quantizer.

Out of every 4 consecutive weights along the input axis, the 2 of largest magnitude are kept (the
pattern sparse tensor cores accelerate). Following Ye et al., the mask is applied with a
stop-gradient so that the dense weights keep learning and the mask can change::

    x_S = x + sg(mask(x) ⊙ x − x)

then ``x_S`` is quantized by the chosen estimator.
"""

from __future__ import annotations

import torch


def mask_2_4(x: torch.Tensor) -> torch.Tensor:
    """Boolean mask keeping the 2 largest-magnitude entries of each group of 4 along the last axis.

    Ties are broken by ``torch.topk`` (deterministic on CPU). Raises ``ValueError`` when the last
    axis is not a multiple of 4.
    """
    if x.shape[-1] % 4:
        raise ValueError(f"2:4 sparsity needs the last axis to be a multiple of 4, got shape "
                         f"{tuple(x.shape)}; skip this module (QuantConfig.skip) or pad it")
    groups = x.detach().abs().reshape(-1, 4)
    keep = groups.topk(2, dim=-1).indices
    mask = torch.zeros(groups.shape, dtype=torch.bool, device=x.device)
    mask.scatter_(1, keep, True)
    return mask.reshape(x.shape)


class _MaskSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * mask_2_4(x)

    @staticmethod
    def backward(ctx, grad):
        return grad


def sparsify_2_4(x: torch.Tensor) -> torch.Tensor:
    """``x + sg(mask_2_4(x)·x − x)``: value is the 2:4-pruned ``x``, gradient reaches every entry."""
    return _MaskSTE.apply(x)
