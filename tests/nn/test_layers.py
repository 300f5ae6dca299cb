"""QuantLinear and KVQuantizer: forward equals formats.quantize then F.linear; KV really changes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bitscale import formats
from bitscale.nn import KVQuantizer, QuantConfig, QuantLinear, denoise, quantize_


def _lin(i=32, o=12, bias=True, seed=0):
    torch.manual_seed(seed)
    return nn.Linear(i, o, bias=bias)


@pytest.mark.parametrize("cfg", [
    "w4", "w2", "w1", "wt", "w4a8", "w8a8", "w=int4:group8:affine,a=int8:channel",
    "w=int3:channel,a=e4m3fn:tensor", "w=e4m3fn:channel,a=int8:tensor", "w=mxfp4,a=int4:tensor",
    "w4a8,est=ste-clip", "w=binary:channel:affine,a=binary:tensor",
])
def test_forward_is_formats_quantize_then_linear(cfg):
    lin = _lin()
    config = QuantConfig.parse(cfg)
    ql = QuantLinear.from_linear(lin, config)
    x = torch.randn(3, 5, 32)
    xq = formats.quantize(x, config.activations) if config.activations else x
    expected = F.linear(xq, formats.quantize(lin.weight.detach(), config.weights), lin.bias)
    torch.testing.assert_close(ql(x), expected, rtol=0, atol=0)


def test_denoise_forward_uses_the_ridge_dequantizer():
    lin = _lin()
    ql = QuantLinear.from_linear(lin, QuantConfig.parse("w4a8,est=denoise"))
    x = torch.randn(4, 32)
    expected = F.linear(denoise(x, "int8:tensor"), denoise(lin.weight.detach(), "int4:channel"),
                        lin.bias)
    torch.testing.assert_close(ql(x), expected, rtol=0, atol=0)


def test_parameters_are_shared_and_gradients_flow():
    lin = _lin()
    ql = QuantLinear.from_linear(lin, QuantConfig.parse("w4a8"))
    assert ql.weight is lin.weight and ql.bias is lin.bias
    ql(torch.randn(4, 32)).square().sum().backward()
    assert lin.weight.grad is not None and bool(torch.isfinite(lin.weight.grad).all())


def test_to_linear_holds_the_quantized_weights():
    lin = _lin()
    ql = QuantLinear.from_linear(lin, QuantConfig.parse("w3"))
    plain = ql.to_linear()
    torch.testing.assert_close(plain.weight, formats.quantize(lin.weight.detach(), "int3:channel"),
                               rtol=0, atol=0)


class _TinyAttention(nn.Module):
    """An attention with the KV hooks `quantize_` looks for (K, V of shape (B, H, T, D))."""

    def __init__(self, d=32, h=4):
        super().__init__()
        self.h = h
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.k_quant = nn.Identity()
        self.v_quant = nn.Identity()

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = (t.view(B, T, self.h, C // self.h).transpose(1, 2)
                   for t in self.qkv(x).split(C, dim=2))
        y = F.scaled_dot_product_attention(q, self.k_quant(k), self.v_quant(v), is_causal=True)
        return y.transpose(1, 2).reshape(B, T, C)


def _capture(module, name):
    seen = {}
    hook = getattr(module, name).register_forward_hook(
        lambda m, args, out: seen.update(inp=args[0].detach(), out=out.detach()))
    return seen, hook


@pytest.mark.parametrize("kv", ["int8:channel", "int4:channel", "e4m3fn:tensor"])
def test_kv_quantization_changes_k_and_v(kv):
    torch.manual_seed(0)
    attn = _TinyAttention()
    x = torch.randn(2, 8, 32)
    before = attn(x)
    quantize_(attn, QuantConfig(kv_cache=kv))
    assert isinstance(attn.k_quant, KVQuantizer) and isinstance(attn.v_quant, KVQuantizer)
    assert isinstance(attn.qkv, nn.Linear)  # no weight/activation spec: projections untouched
    seen_k, hk = _capture(attn, "k_quant")
    seen_v, hv = _capture(attn, "v_quant")
    after = attn(x)
    hk.remove(), hv.remove()
    for seen in (seen_k, seen_v):
        assert not torch.equal(seen["inp"], seen["out"])  # K and V really changed
        torch.testing.assert_close(seen["out"], formats.quantize(seen["inp"], kv), rtol=0, atol=0)
    assert not torch.equal(before, after)


def test_kv_hook_of_the_lm_model_is_filled():
    lm = pytest.importorskip("bitscale.lm")
    torch.manual_seed(0)
    model = lm.GPT(lm.ModelConfig(n_layer=1, d_model=32, n_head=2, seq_len=16))
    quantize_(model, "w4a8kv4")
    kvq = [m for m in model.modules() if isinstance(m, KVQuantizer)]
    assert len(kvq) == 2 and {m.spec for m in kvq} == {"int4:channel"}
    captured = {}
    h = kvq[0].register_forward_hook(lambda m, a, o: captured.update(i=a[0].detach(), o=o.detach()))
    model(torch.randint(0, 256, (2, 16)))
    h.remove()
    assert captured["i"].shape[-1] == 16 and not torch.equal(captured["i"], captured["o"])
