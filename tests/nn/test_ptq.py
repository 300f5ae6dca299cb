"""Post-training quantization: RTN is formats.quantize; GPTQ beats RTN on ||XWᵀ − XŴᵀ||."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bitscale import formats
from bitscale.nn import QuantLinear, collect_hessians, gptq, parse_grid, ptq, quantize_, rtn


def _correlated_inputs(n, d, seed):
    # Strongly correlated features (a fixed low-rank mix plus noise): the regime GPTQ exploits.
    mix = torch.randn(d // 4, d, generator=torch.Generator().manual_seed(12345))
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d // 4, generator=g) @ mix + 0.1 * torch.randn(n, d, generator=g)


def _recon(X, W, Wq):
    return (X @ W.t() - X @ Wq.t()).norm().item()


@pytest.mark.parametrize("spec", ["int4:channel", "int3:channel", "int2:channel",
                                  "int4:group16", "int3:group32:affine", "ternary:channel"])
def test_gptq_beats_rtn_on_layer_reconstruction_error(spec):
    d_in, d_out = 64, 48
    W = torch.randn(d_out, d_in, generator=torch.Generator().manual_seed(1))
    X = _correlated_inputs(512, d_in, seed=2)
    H = 2 * X.double().t() @ X.double() / X.shape[0]
    Wg = gptq(W, H, spec, block_size=16)
    Wr = rtn(W, spec)
    # every row (group) of the GPTQ result lies on a grid of at most L levels
    grid = parse_grid(spec)
    levels = 3 if grid.kind == "ternary" else 2 ** grid.bits
    for row in grid.view(Wg):
        assert row.unique().numel() <= levels
    err_g, err_r = _recon(X, W, Wg), _recon(X, W, Wr)
    assert err_g < 0.8 * err_r, (err_g, err_r)


def test_rtn_is_formats_quantize():
    W = torch.randn(8, 32)
    for spec in ("int4:channel", "int4:group8:affine", "e4m3fn:channel"):
        torch.testing.assert_close(rtn(W, spec), formats.quantize(W, spec), rtol=0, atol=0)


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(32, 64)
        self.fc2 = nn.Linear(64, 32)
        self.lm_head = nn.Linear(32, 8)

    def forward(self, x):
        return self.lm_head(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


def test_ptq_returns_a_quantized_copy_and_leaves_the_original():
    torch.manual_seed(0)
    net = _Net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    calib = [_correlated_inputs(64, 32, seed=s) for s in range(3)]
    for method in ("rtn", "gptq"):
        q = ptq(net, "int4:channel", method, calibration=calib)
        for k, v in net.state_dict().items():
            assert torch.equal(v, before[k])
        assert torch.equal(q.lm_head.weight, net.lm_head.weight)  # skipped
        assert not torch.equal(q.fc1.weight, net.fc1.weight)
        for row in q.fc1.weight.detach():
            assert row.unique().numel() <= 16  # int4: at most 16 levels per output channel


def test_gptq_model_output_is_closer_to_the_float_model_than_rtn():
    torch.manual_seed(0)
    net = _Net()
    calib = [_correlated_inputs(128, 32, seed=s) for s in range(4)]
    x = _correlated_inputs(256, 32, seed=99)
    ref = net(x)
    err = {m: (ptq(net, "int3:channel", m, calibration=calib)(x) - ref).norm().item()
           for m in ("rtn", "gptq")}
    assert err["gptq"] < err["rtn"], err


def test_hessians_and_ptq_work_through_quantlinear_and_forward_fn():
    torch.manual_seed(0)
    net = quantize_(_Net(), "w8")
    calib = [{"x": _correlated_inputs(32, 32, seed=s)} for s in range(2)]
    q = ptq(net, "int4:channel", "gptq", calibration=calib, forward_fn=lambda m, b: m(b["x"]))
    assert isinstance(q.fc1, QuantLinear)
    H = collect_hessians(net, {"fc1": net.fc1}, calib, lambda m, b: m(b["x"]))["fc1"]
    X = torch.cat([b["x"] for b in calib]).double()
    torch.testing.assert_close(H, 2 * X.t() @ X / X.shape[0])


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="calibration"):
        ptq(_Net(), "int4:channel", "gptq")
    with pytest.raises(ValueError, match="method"):
        ptq(_Net(), "int4:channel", "awq")
    with pytest.raises(ValueError, match="integer-like"):
        gptq(torch.randn(4, 8), torch.eye(8), "e4m3fn:channel")
