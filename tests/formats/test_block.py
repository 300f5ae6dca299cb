"""MX (OCP MX v1.0) and NVFP4 against hand-computed vectors, and their NaN / Inf handling.

The vectors below were worked out by hand from the spec's rules (section 6.3 of OCP MX v1.0):
X = 2^(floor(log2 amax) - emax_elem), elements = RNE-with-saturation cast of x / X.
E2M1 grid: 0, 0.5, 1, 1.5, 2, 3, 4, 6 (codes 0..7); ties go to the even code.
"""

from __future__ import annotations

import math

import pytest
import torch

from bitscale import formats


def block(values, size=32):
    out = torch.zeros(size)
    out[: len(values)] = torch.tensor(values)
    return out


def test_mxfp4_hand_vectors():
    # Block 1: amax 3 -> floor(log2 3) = 1, emax(e2m1) = 2 -> X = 2^-1. x/X = 6, 2.4, 0.6, 0.4,
    # 0.25 (tie 0 | 0.5 -> 0), -6 -> 6, 2, 0.5, 0.5, 0, -6 -> times X.
    # Block 2: amax 7.9 -> floor(log2 7.9) = 2 -> X = 1. 7.9 -> 6 (saturated), 5 (tie 4 | 6 -> 4,
    # code 6 even), 2.5 (tie 2 | 3 -> 2), 0.75 (tie 0.5 | 1 -> 1), 0.25 (tie -> 0).
    x = torch.cat([block([3.0, 1.2, 0.3, 0.2, 0.125, -3.0]), block([7.9, 5.0, 2.5, 0.75, 0.25])])
    want = torch.cat([block([3.0, 1.0, 0.25, 0.25, 0.0, -3.0]), block([6.0, 4.0, 2.0, 1.0, 0.0])])
    assert torch.equal(formats.quantize(x, "mxfp4"), want)
    codes, scales = formats.encode(x, "mxfp4")
    assert scales.scale.flatten().tolist() == [0.5, 1.0]
    assert codes[:6].tolist() == [7, 4, 1, 1, 0, 8 | 7]
    assert torch.equal(formats.decode(codes, scales, "mxfp4"), want)


def test_mxfp8_mxfp6_mxint8_hand_vectors():
    # mxfp8_e4m3: amax 1000 -> floor(log2) = 9, emax(e4m3) = 8 -> X = 2. 1000/2 = 500 -> 448
    # (saturated) -> 896; 3/2 = 1.5 exact; 0.01/2 = 0.005 -> subnormal step 2^-9: 2.56 steps -> 3
    # -> 3·2^-9·2 = 0.01171875.
    x = block([1000.0, 3.0, 0.01])
    assert formats.quantize(x, "mxfp8_e4m3")[:3].tolist() == [896.0, 3.0, 0.01171875]
    # mxfp6_e3m2: amax 20 -> floor(log2) = 4 = emax(e3m2) -> X = 1. 20 exact (step 4 in [16, 32));
    # 13: step 2 in [8, 16), tie 12 | 14 -> 12 (mantissa 2 even).
    x = block([20.0, 13.0])
    assert formats.quantize(x, "mxfp6_e3m2")[:2].tolist() == [20.0, 12.0]
    # mxint8: amax 1 -> X = 2^0; 0.3·64 = 19.2 -> 19 -> 19/64; -1 -> -64/64; 32.5/64 tie -> 32/64.
    x = block([0.3, -1.0, 32.5 / 64])
    assert formats.quantize(x, "mxint8")[:3].tolist() == [19 / 64, -1.0, 0.5]
    codes, scales = formats.encode(x, "mxint8")
    assert codes[:3].tolist() == [19, -64, 32] and codes.dtype == torch.int8


def test_mx_scale_is_the_spec_power_of_two():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(8, 64, generator=g) * torch.logspace(-3, 3, 8).unsqueeze(1)
    for name in formats.BLOCK_NAMES:
        fmt = formats.parse_format(name)
        if fmt.tensor_scale:
            continue
        _, scales = formats.encode(x, name)
        amax = x.abs().reshape(8, 2, 32).amax(-1)
        want = torch.tensor([[2.0 ** (math.floor(math.log2(a)) - fmt.emax_elem) for a in row]
                             for row in amax.tolist()])
        assert torch.equal(scales.scale, want), name


def test_nvfp4_hand_vectors():
    # Tensor amax 2688 = 6·448 -> s_t = 1 exactly.
    # Block A, amax 12: s_b = e4m3(12/6) = 2; x/2: 6 -> 12, 2.5 (tie 2 | 3 -> 2) -> 4,
    #   -0.75 (tie 0.5 | 1 -> 1) -> -2.
    # Block B, amax 0.7: s_b = e4m3(0.7/6 = 0.11666) = 15·2^-7 = 0.1171875 (step 2^-7 in
    #   [2^-4, 2^-3)); 0.7/s_b = 5.97 -> 6 -> 0.703125; 0.1/s_b = 0.853 -> 1 -> 0.1171875.
    # Block C, amax 2688: s_b = e4m3(448) = 448; 2688/448 = 6; 100/448 = 0.223 -> 0.
    x = torch.cat([block([12.0, 5.0, -1.5], 16), block([0.7, 0.1], 16), block([2688.0, 100.0], 16),
                   torch.zeros(16)])
    want = torch.cat([block([12.0, 4.0, -2.0], 16), block([0.703125, 0.1171875], 16),
                      block([2688.0, 0.0], 16), torch.zeros(16)])
    assert torch.equal(formats.quantize(x, "nvfp4"), want)
    codes, scales = formats.encode(x, "nvfp4")
    assert scales.tensor_scale.item() == 1.0
    assert scales.scale.flatten().tolist() == [2.0, 0.1171875, 448.0, 0.0]
    assert torch.equal(formats.decode(codes, scales, "nvfp4"), want)


@pytest.mark.parametrize("name", list(formats.BLOCK_NAMES))
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_nonfinite_poisons_only_its_block(name, bad):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(3, 64, generator=g)
    xb = x.clone()
    xb[1, 5] = bad
    y = formats.quantize(xb, name)
    blk = formats.parse_format(name).block
    hit = torch.zeros_like(x, dtype=torch.bool)
    hit[1, 5 // blk * blk:(5 // blk + 1) * blk] = True
    assert torch.isnan(y[hit]).all()
    clean = x.clone()
    clean[1, 5] = 0.0  # the tensor scale (nvfp4) is taken over finite values only
    assert torch.equal(y[~hit], formats.quantize(clean, name)[~hit])


def test_zero_block_and_axis():
    x = torch.zeros(2, 32)
    x[1] = torch.linspace(-1, 1, 32)
    for name in formats.BLOCK_NAMES:
        y = formats.quantize(x, name)
        assert torch.equal(y[0], torch.zeros(32)) and not torch.isnan(y).any()
        # blocks run along `axis`: quantizing the transpose along axis 0 is the same
        assert torch.equal(formats.quantize(x.T.contiguous(), name, axis=0), y.T)
