"""The transformer: shapes, parameter count, causality, RoPE, RMSNorm and attention references."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bitscale.lm import GPT, ModelConfig
from bitscale.lm.model import RMSNorm, apply_rotary, rotary_tables

CFG = ModelConfig(n_layer=2, d_model=32, n_head=4, vocab_size=256, seq_len=16)


def _model(cfg: ModelConfig = CFG, seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(cfg).eval()


def test_logits_shape_and_finite():
    idx = torch.randint(0, 256, (3, 16))
    logits = _model()(idx)
    assert logits.shape == (3, 16, 256)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("n_layer,d_model,n_head", [(1, 32, 2), (2, 64, 4), (3, 48, 3)])
def test_non_embedding_parameter_count_matches_the_architecture(n_layer, d_model, n_head):
    cfg = ModelConfig(n_layer=n_layer, d_model=d_model, n_head=n_head, seq_len=8)
    model = GPT(cfg)
    F_ = cfg.ffn_hidden
    # per block: qkv (3C²) + proj (C²) + SwiGLU (3·C·F) + two RMSNorm gains (2C); plus the final norm.
    expected = n_layer * (4 * d_model**2 + 3 * d_model * F_ + 2 * d_model) + d_model
    assert model.num_params(non_embedding=True) == expected
    assert model.num_params(non_embedding=False) == expected + 2 * 256 * d_model


def test_no_biases_and_lm_head_is_named_and_untied():
    model = _model()
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert linears and all(m.bias is None for m in linears)
    assert isinstance(model.lm_head, nn.Linear)
    assert model.lm_head.weight.data_ptr() != model.wte.weight.data_ptr()


def test_causal_future_tokens_do_not_change_past_logits():
    model = _model()
    idx = torch.randint(0, 256, (2, 16), generator=torch.Generator().manual_seed(1))
    changed = idx.clone()
    changed[:, 10:] = (changed[:, 10:] + 7) % 256
    a, b = model(idx), model(changed)
    torch.testing.assert_close(a[:, :10], b[:, :10], rtol=0, atol=1e-6)
    assert not torch.allclose(a[:, 10:], b[:, 10:])


def test_rmsnorm_matches_torch_reference():
    norm = RMSNorm(32, eps=1e-6)
    with torch.no_grad():
        norm.weight.copy_(torch.linspace(0.5, 2.0, 32))
    x = torch.randn(4, 5, 32, dtype=torch.float32)
    ref = F.rms_norm(x, (32,), weight=norm.weight, eps=1e-6)
    torch.testing.assert_close(norm(x), ref, rtol=1e-6, atol=1e-6)


def test_rotary_scores_depend_only_on_relative_position():
    # RoPE's defining property (Su et al., 2021, eq. 16): <R_m q, R_n k> = g(q, k, m − n).
    cos, sin = rotary_tables(32, 8)
    q = torch.randn(8, dtype=torch.float64)
    k = torch.randn(8, dtype=torch.float64)
    xq = q.expand(1, 1, 32, 8).float()
    xk = k.expand(1, 1, 32, 8).float()
    rq, rk = apply_rotary(xq, cos, sin)[0, 0], apply_rotary(xk, cos, sin)[0, 0]
    scores = rq @ rk.T  # (32, 32), entry (m, n)
    for offset in (0, 3, 11):
        diag = torch.diagonal(scores, offset=-offset)  # m − n = offset
        torch.testing.assert_close(diag, diag[:1].expand_as(diag), rtol=1e-4, atol=1e-4)
    # and the rotation preserves norms
    torch.testing.assert_close(rq.norm(dim=-1), xq[0, 0].norm(dim=-1), rtol=1e-5, atol=1e-5)


def test_attention_matches_explicit_softmax_reference():
    model = _model()
    attn = model.blocks[0].attn
    x = torch.randn(2, 16, 32)
    cos, sin = model.rope_cos, model.rope_sin
    B, T, C = x.shape
    H, D = CFG.n_head, CFG.head_dim
    q, k, v = (x @ attn.qkv.weight.T).split(C, dim=2)
    q, k, v = (t.view(B, T, H, D).transpose(1, 2) for t in (q, k, v))
    q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
    scores = q @ k.transpose(-1, -2) / math.sqrt(D)
    scores = scores.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))
    ref = (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, T, C) @ attn.proj.weight.T
    torch.testing.assert_close(attn(x, cos, sin), ref, rtol=1e-5, atol=1e-5)


class _Record(nn.Module):
    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = scale
        self.shapes: list[tuple[int, ...]] = []

    def forward(self, x):
        self.shapes.append(tuple(x.shape))
        return x * self.scale


def test_kv_hooks_see_keys_and_values_per_head_and_change_the_output():
    model = _model()
    idx = torch.randint(0, 256, (2, 12))
    before = model(idx)
    attn = model.blocks[0].attn
    assert isinstance(attn.k_quant, nn.Identity) and isinstance(attn.v_quant, nn.Identity)
    attn.k_quant, attn.v_quant = _Record(1.0), _Record(0.5)
    after = model(idx)
    assert attn.k_quant.shapes == [(2, CFG.n_head, 12, CFG.head_dim)]
    assert attn.v_quant.shapes == [(2, CFG.n_head, 12, CFG.head_dim)]
    assert not torch.allclose(before, after)


def test_loss_is_cross_entropy_of_logits():
    model = _model()
    idx = torch.randint(0, 256, (2, 16))
    tgt = torch.randint(0, 256, (2, 16))
    with torch.no_grad():
        ref = F.cross_entropy(model(idx).reshape(-1, 256), tgt.reshape(-1))
        loss = model.loss(idx, tgt)
    torch.testing.assert_close(loss, ref)
    # an untrained model guesses close to uniformly: loss ≈ ln 256
    assert abs(float(ref) - math.log(256)) < 0.1


def test_same_seed_same_weights():
    a, b = _model(seed=3), _model(seed=3)
    for (na, pa), (nb, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert na == nb and torch.equal(pa, pb)


def test_input_longer_than_seq_len_is_rejected():
    with pytest.raises(ValueError, match="exceeds the model's seq_len 16"):
        _model()(torch.zeros(1, 17, dtype=torch.long))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"n_layer": 0, "d_model": 32, "n_head": 2}, "n_layer must be a positive int"),
        ({"n_layer": 1, "d_model": 30, "n_head": 4}, "even head_dim"),
        ({"n_layer": 1, "d_model": 36, "n_head": 4}, "even head_dim"),
    ],
)
def test_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ModelConfig(**kwargs)


def test_config_round_trip():
    assert ModelConfig.from_dict(CFG.to_dict()) == CFG
