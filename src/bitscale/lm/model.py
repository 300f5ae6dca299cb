"""A small decoder-only transformer language model, read top-down.

Attention → MLP → block → config → model, in the order of nanoGPT's ``model.py``. The
architecture is the one of LLaMA (Touvron et al., 2023, arXiv:2302.13971): pre-normalisation with
RMSNorm (Zhang & Sennrich, 2019, arXiv:1910.07467), rotary position embeddings (Su et al., 2021,
arXiv:2104.09864), a SwiGLU feed-forward network (Shazeer, 2020, arXiv:2002.05202), and no bias
anywhere. Token embedding and output projection (``lm_head``) are untied, so that quantizing the
linear layers (which skips ``lm_head`` by default) never touches the embedding table.

Shapes use B = batch, T = sequence length, C = d_model, H = n_head, D = head_dim = C / H,
V = vocab_size, F = SwiGLU hidden width.

The attention exposes two hooks, ``k_quant`` and ``v_quant`` (``nn.Identity`` by default), applied
to K and V of shape (B, H, T, D) after the rotary embedding: this is the KV cache, and
:func:`bitscale.nn.quantize_` replaces the hooks with fake-quantizers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["GPT", "ModelConfig"]


class RMSNorm(nn.Module):
    """Root-mean-square layer normalisation (Zhang & Sennrich, 2019).

    y = x / sqrt(mean(x², last dim) + eps) · g, with a learned gain g of shape (C,) and no bias
    and no mean subtraction.
    """

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (..., C) -> (..., C)
        rms = torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps)
        return x * rms * self.weight


def rotary_tables(seq_len: int, head_dim: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine and sine tables of the rotary embedding (Su et al., 2021, eq. 34).

    Channel pair (i, i + D/2) of position t is rotated by the angle t · θ_i with
    θ_i = base^(−2i/D), i = 0 … D/2 − 1 (the "rotate-half" pairing of GPT-NeoX and LLaMA).

    Returns
    -------
    cos, sin : Tensor of shape (T, D)
        The tables, each angle repeated for both channels of its pair.
    """
    inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)  # (D/2,)
    angles = torch.outer(torch.arange(seq_len, dtype=torch.float64), inv_freq)  # (T, D/2)
    angles = torch.cat([angles, angles], dim=-1)  # (T, D)
    return angles.cos().float(), angles.sin().float()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate channel pairs (i, i + D/2) of x: x·cos + rotate_half(x)·sin.

    x is (B, H, T, D); cos and sin are (T, D) and broadcast over B and H.
    """
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)  # (B, H, T, D)
    return x * cos + rotated * sin


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with rotary embeddings and KV-cache quantization hooks.

    softmax(Q Kᵀ / sqrt(D) + causal mask) V (Vaswani et al., 2017, eq. 1), with RoPE applied to Q
    and K, and ``k_quant`` / ``v_quant`` applied to K and V after RoPE.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.head_dim = config.d_model // config.n_head
        # One fused projection: per-output-channel quantization of the fused matrix is identical
        # to quantizing q, k and v separately, and one matmul is faster on CPU.
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model, bias=False)
        self.proj = nn.Linear(config.d_model, config.d_model, bias=False)
        self.k_quant: nn.Module = nn.Identity()
        self.v_quant: nn.Module = nn.Identity()

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)  # 3 × (B, T, C)
        q = q.view(B, T, self.n_head, self.head_dim).transpose(1, 2)  # (B, H, T, D)
        k = k.view(B, T, self.n_head, self.head_dim).transpose(1, 2)  # (B, H, T, D)
        v = v.view(B, T, self.n_head, self.head_dim).transpose(1, 2)  # (B, H, T, D)
        q = apply_rotary(q, cos, sin)
        k = apply_rotary(k, cos, sin)
        # What a KV cache would store: K after RoPE, and V.
        k = self.k_quant(k)
        v = self.v_quant(v)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, H, T, D)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C)
        return self.proj(y)


class SwiGLU(nn.Module):
    """Gated feed-forward network (Shazeer, 2020, eq. 6): W₂ (SiLU(W₁ x) ⊙ W₃ x).

    W₁, W₃: C → F and W₂: F → C, no biases; F ≈ 8C/3 keeps the parameter count of a 4C ReLU MLP.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.gate = nn.Linear(config.d_model, config.ffn_hidden, bias=False)  # W₁
        self.up = nn.Linear(config.d_model, config.ffn_hidden, bias=False)  # W₃
        self.down = nn.Linear(config.ffn_hidden, config.d_model, bias=False)  # W₂

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (B, T, C) -> (B, T, F) -> (B, T, C)
        return self.down(F.silu(self.gate(x)) * self.up(x))


class Block(nn.Module):
    """Pre-norm residual block: x + Attn(RMSNorm(x)), then x + MLP(RMSNorm(x))."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.norm_attn = RMSNorm(config.d_model)
        self.attn = CausalSelfAttention(config)
        self.norm_mlp = RMSNorm(config.d_model)
        self.mlp = SwiGLU(config)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm_attn(x), cos, sin)  # (B, T, C)
        x = x + self.mlp(self.norm_mlp(x))  # (B, T, C)
        return x


@dataclass(frozen=True)
class ModelConfig:
    """Size of the transformer.

    Parameters
    ----------
    n_layer : int
        Number of blocks.
    d_model : int
        Residual width C.
    n_head : int
        Attention heads H; ``d_model / n_head`` must be an even integer (RoPE rotates pairs).
    vocab_size : int
        V; 256 for byte-level tokens.
    seq_len : int
        Context length T (the rotary tables are built for it).
    """

    n_layer: int = 2
    d_model: int = 128
    n_head: int = 4
    vocab_size: int = 256
    seq_len: int = 128

    def __post_init__(self) -> None:
        for name in ("n_layer", "d_model", "n_head", "vocab_size", "seq_len"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"ModelConfig.{name} must be a positive int, got {value!r}.")
        if self.d_model % self.n_head or (self.d_model // self.n_head) % 2:
            raise ValueError(
                f"ModelConfig: d_model={self.d_model} must be n_head={self.n_head} times an even "
                f"head_dim (rotary embeddings rotate channel pairs); choose e.g. "
                f"d_model={self.n_head * 2 * max(1, round(self.d_model / self.n_head / 2))}."
            )

    @property
    def head_dim(self) -> int:
        """Width D of one attention head."""
        return self.d_model // self.n_head

    @property
    def ffn_hidden(self) -> int:
        """SwiGLU hidden width F: 8C/3 rounded up to a multiple of 16."""
        return 16 * math.ceil(8 * self.d_model / 3 / 16)

    def to_dict(self) -> dict:
        """Plain-JSON form; inverse of :meth:`from_dict`."""
        return {
            "n_layer": self.n_layer,
            "d_model": self.d_model,
            "n_head": self.n_head,
            "vocab_size": self.vocab_size,
            "seq_len": self.seq_len,
        }

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        """Rebuild from :meth:`to_dict` output."""
        return cls(**data)


class GPT(nn.Module):
    """Decoder-only transformer: embedding → n_layer blocks → RMSNorm → ``lm_head``.

    ``forward(idx)`` maps token ids (B, T) to logits (B, T, V); ``loss(idx, targets)`` is the mean
    next-token cross-entropy in nats.

    Initialisation follows GPT-2 (Radford et al., 2019): weights ~ N(0, 0.02²), with the two
    residual output projections of each block scaled by 1/sqrt(2·n_layer) so that the variance of
    the residual stream does not grow with depth.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.d_model)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.norm_f = RMSNorm(config.d_model)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        cos, sin = rotary_tables(config.seq_len, config.head_dim)
        # Derived from the config, so not saved in checkpoints.
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init_weights)
        for name, param in self.named_parameters():
            if name.endswith("attn.proj.weight") or name.endswith("mlp.down.weight"):
                nn.init.normal_(param, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, non_embedding: bool = True) -> int:
        """Number of parameters.

        Parameters
        ----------
        non_embedding : bool
            If True (the N of scaling laws, Kaplan et al., 2020, §2.1), leave out the token
            embedding and the output projection ``lm_head``: both are V × C lookup tables whose
            cost does not scale with depth.
        """
        total = sum(p.numel() for p in self.parameters())
        if non_embedding:
            total -= self.wte.weight.numel() + self.lm_head.weight.numel()
        return total

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, V) of the next token for token ids ``idx`` (B, T), T ≤ seq_len."""
        B, T = idx.shape
        if T > self.config.seq_len:
            raise ValueError(
                f"GPT.forward: sequence length {T} exceeds the model's seq_len "
                f"{self.config.seq_len}; crop the input or build the model with a larger seq_len."
            )
        cos, sin = self.rope_cos[:T], self.rope_sin[:T]  # (T, D)
        x = self.wte(idx)  # (B, T, C)
        for block in self.blocks:
            x = block(x, cos, sin)  # (B, T, C)
        return self.lm_head(self.norm_f(x))  # (B, T, V)

    def loss(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean next-token cross-entropy −(1/BT) Σ log p(targets | idx), in nats (scalar)."""
        logits = self(idx)  # (B, T, V)
        return F.cross_entropy(logits.view(-1, logits.size(-1)).float(), targets.reshape(-1))
