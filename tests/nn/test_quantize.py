"""quantize_ on models it did not build (Hugging Face GPT-2 from a config), and convert()."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bitscale import formats
from bitscale.nn import (ExportedLayer, KVQuantizer, QuantConfig, QuantLinear, convert, quantize_)


class _MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(16, 32)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(32, 16)
        self.lm_head = nn.Linear(16, 8)

    def forward(self, x):
        return self.lm_head(self.fc2(self.act(self.fc1(x))))


def test_quantize_swaps_linears_except_skipped_and_filtered():
    m = quantize_(_MLP(), "w4a8")
    assert isinstance(m.fc1, QuantLinear) and isinstance(m.fc2, QuantLinear)
    assert type(m.lm_head) is nn.Linear  # skipped by default
    m2 = quantize_(_MLP(), "w4", filter_fn=lambda mod, fqn: fqn != "fc2")
    assert isinstance(m2.fc1, QuantLinear) and type(m2.fc2) is nn.Linear
    m3 = quantize_(_MLP(), QuantConfig(weights="int4:channel", skip=()))
    assert isinstance(m3.lm_head, QuantLinear)
    assert quantize_(m3, "w2") is m3 and m3.fc1.config.weights == "int4:channel"  # idempotent
    assert type(quantize_(_MLP(), "fp32").fc1) is nn.Linear


def test_quantize_rejects_non_modules():
    with pytest.raises(ValueError, match="nn.Module"):
        quantize_(object(), "w4")


def test_optimizer_built_before_quantize_keeps_training_the_same_parameters():
    torch.manual_seed(0)
    m = _MLP()
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    w0 = m.fc1.weight.detach().clone()
    quantize_(m, "w4a8")
    m(torch.randn(4, 16)).square().mean().backward()
    opt.step()
    assert not torch.equal(m.fc1.weight, w0)


@pytest.fixture(scope="module")
def gpt2_config():
    transformers = pytest.importorskip("transformers")
    return transformers.GPT2Config(n_layer=2, n_embd=32, n_head=4, n_positions=32, vocab_size=64,
                                   resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)


@pytest.mark.parametrize("cfg", ["w4a8", "w2a8,est=denoise,sparsity=2:4", "w1a1,est=denoise"])
def test_hugging_face_gpt2_quantizes_and_still_trains_a_step(gpt2_config, cfg):
    from transformers import GPT2LMHeadModel
    from transformers.pytorch_utils import Conv1D

    torch.manual_seed(0)
    model = GPT2LMHeadModel(gpt2_config)
    ref = {n: type(mod) for n, mod in model.named_modules()}
    quantize_(model, cfg)
    swapped = [n for n, mod in model.named_modules() if isinstance(mod, QuantLinear)]
    expected = [n for n, t in ref.items() if t in (Conv1D, nn.Linear) and n != "lm_head"]
    assert sorted(swapped) == sorted(expected) and len(swapped) == 8  # 4 Conv1D per block
    assert all(model.get_submodule(n).transposed for n in swapped)  # Conv1D: (in, out) weights
    assert model.lm_head.weight is model.transformer.wte.weight  # tying preserved

    ids = torch.randint(0, 64, (2, 16))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    w0 = model.transformer.h[0].attn.c_attn.weight.detach().clone()
    loss0 = model(ids, labels=ids).loss
    loss0.backward()
    opt.step()
    assert torch.isfinite(loss0)
    assert not torch.equal(model.transformer.h[0].attn.c_attn.weight, w0)
    assert torch.isfinite(model(ids, labels=ids).loss)


def test_conv1d_forward_equals_quantized_linear_of_its_transposed_weight(gpt2_config):
    from transformers.pytorch_utils import Conv1D

    torch.manual_seed(0)
    conv = Conv1D(12, 16)  # nf=12 outputs, nx=16 inputs, weight (16, 12)
    ql = QuantLinear.from_linear(conv, QuantConfig.parse("w4a8"))
    x = torch.randn(3, 16)
    expected = torch.nn.functional.linear(formats.quantize(x, "int8:tensor"),
                                          formats.quantize(conv.weight.detach().t(), "int4:channel"),
                                          conv.bias)
    torch.testing.assert_close(ql(x), expected, rtol=0, atol=0)


@pytest.mark.parametrize("cfg", ["w4a8kv8", "w=int4:group8:affine", "w1", "wt", "w=e4m3fn:channel",
                                 "w=nvfp4", "w3,est=denoise", "w=int4:channel:affine,est=denoise",
                                 "w=e4m3fn:channel,est=denoise", "w=int4:group8,est=denoise",
                                 "w4,sparsity=2:4"])
def test_convert_exports_codes_and_scales_that_reproduce_the_layer(cfg):
    torch.manual_seed(0)
    m = _MLP()
    m.k_quant = nn.Identity()
    quantize_(m, cfg)
    out = convert(m)
    assert set(out) >= {"fc1", "fc2"} and "lm_head" not in out
    layer = out["fc1"]
    assert isinstance(layer, ExportedLayer)
    qw = layer.weight
    assert qw.codes.shape == qw.shape == (32, 16)
    if "e4m3" in cfg or "nvfp4" in cfg:
        assert qw.codes.dtype == torch.uint8  # the format's bit patterns
    else:
        assert qw.codes.dtype in (torch.int8, torch.int16)  # integer codes on the grid
        assert bool((qw.codes.to(torch.float32) == qw.codes.to(torch.float32).round()).all())
    torch.testing.assert_close(qw.dequantize(), m.fc1.quantized_weight().detach(),
                               rtol=2e-6, atol=1e-7)
    if "kv8" in cfg:
        assert out["k_quant"] == {"kv_cache": "int8:channel"}
        assert isinstance(m.k_quant, KVQuantizer)
