"""The affine matmul shortcut: one integer matmul plus rank-1 corrections.

With both operands quantized affinely per row (per token for activations A of shape (M, K), per
output channel for weights W of shape (N, K))::

    A ≈ s_a ⊙ Q_a + b_a,     W ≈ s_w ⊙ Q_w + b_w          (s_·, b_·: column vectors)

the product expands to

    A Wᵀ = s_a s_wᵀ ⊙ (Q_a Q_wᵀ)                                   one matmul of integer codes
         + (s_a ⊙ Q_a 1) b_wᵀ + b_a (s_w ⊙ Q_w 1)ᵀ                 rank-1: offsets × row sums
         + K · b_a b_wᵀ                                            rank-1: offset × offset

so the O(MNK) work runs on codes (``torch._int_mm`` on int8 codes when available: int32
accumulation, exact) and dequantization costs O(MN + (M + N)K) instead of O((M + N)K) float
multiplies feeding a float matmul. With an integer zero point ``z`` the offset is ``b = −s·z``;
unsigned k-bit codes (0 … 2^k − 1, k ≤ 8) are shifted by −2^(k−1) into int8 and the shift folded into
the offset, which changes no value.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bitscale.nn.fakequant import Grid, encode


@dataclass(frozen=True)
class AffineOperand:
    """Row-wise affine codes of a matrix: ``X ≈ scale ⊙ codes + offset``.

    codes : (rows, K) integer tensor; scale, offset : (rows, 1) float tensors.
    """

    codes: torch.Tensor
    scale: torch.Tensor
    offset: torch.Tensor

    def dequantize(self) -> torch.Tensor:
        """``scale ⊙ codes + offset`` in the scale's dtype."""
        return self.scale * self.codes.to(self.scale.dtype) + self.offset


def quantize_rows(x: torch.Tensor, bits: int) -> AffineOperand:
    """Per-row affine ``bits``-bit quantization of a 2-D ``x`` (min/max, ``int<bits>:channel:affine``).

    For ``bits <= 8`` the codes are stored as int8 shifted by ``−2^(bits−1)`` (offset adjusted).
    """
    if x.dim() != 2:
        raise ValueError(f"quantize_rows expects a 2-D matrix, got shape {tuple(x.shape)}")
    codes, s, b = encode(x, Grid("int", bits, "channel", affine=True))
    if bits <= 8:
        shift = 2 ** (bits - 1)
        return AffineOperand((codes - shift).to(torch.int8), s, b + shift * s)
    return AffineOperand(codes.to(torch.int32), s, b)


def _code_matmul(qa: torch.Tensor, qw: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``qa @ qwᵀ`` exactly when possible: int8 × int8 -> int32 (``torch._int_mm``), else float."""
    if (qa.dtype == torch.int8 and qw.dtype == torch.int8 and hasattr(torch, "_int_mm")
            and qa.shape[0] > 16 and qa.shape[1] % 8 == 0 and qw.shape[0] % 8 == 0
            and qa.shape[1] * 128 * 128 < 2 ** 31):
        try:
            return torch._int_mm(qa, qw.t().contiguous()).to(dtype)
        except RuntimeError:  # shape/backend constraints of this build: fall back to float
            pass
    return qa.to(dtype) @ qw.to(dtype).t()


def affine_matmul(a: AffineOperand, w: AffineOperand) -> torch.Tensor:
    """``A Wᵀ`` from row-wise affine codes: one code matmul plus rank-1 corrections and scales.

    Parameters
    ----------
    a : codes (M, K), scale/offset (M, 1).
    w : codes (N, K), scale/offset (N, 1).

    Returns
    -------
    Tensor (M, N) in the scales' dtype, equal to ``a.dequantize() @ w.dequantize().T`` up to float
    rounding (exactly, in float64, when scales and offsets are integers).
    """
    dtype = a.scale.dtype
    K = a.codes.shape[1]
    if w.codes.shape[1] != K:
        raise ValueError(f"inner dimensions differ: A has K={K}, W has K={w.codes.shape[1]}")
    sa, ba = a.scale, a.offset                      # (M, 1)
    sw, bw = w.scale.t(), w.offset.t()              # (1, N)
    qq = _code_matmul(a.codes, w.codes, dtype)      # (M, N)
    ra = a.codes.sum(dim=1, keepdim=True, dtype=torch.int64).to(dtype)   # (M, 1) row sums
    rw = w.codes.sum(dim=1, keepdim=True, dtype=torch.int64).to(dtype).t()  # (1, N)
    return (sa * sw) * qq + (sa * ra) * bw + ba * (sw * rw) + K * (ba * bw)


def affine_linear(x: torch.Tensor, weight: torch.Tensor, bits_a: int = 8, bits_w: int = 8
                  ) -> torch.Tensor:
    """``F.linear`` of per-token affine ``bits_a``-bit inputs and per-channel ``bits_w``-bit weights.

    ``x`` (..., K), ``weight`` (N, K) -> (..., N), through :func:`affine_matmul`.
    """
    a = quantize_rows(x.reshape(-1, x.shape[-1]), bits_a)
    w = quantize_rows(weight, bits_w)
    return affine_matmul(a, w).reshape(*x.shape[:-1], weight.shape[0])


def dequantize_matmul(a: AffineOperand, w: AffineOperand) -> torch.Tensor:
    """The naive reference: dequantize both operands, then one float matmul."""
    return a.dequantize() @ w.dequantize().t()
