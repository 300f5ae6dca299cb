"""Quantization-aware modules: `QuantLinear` (weights and inputs) and `KVQuantizer` (keys/values).

Both borrow the float parameters of the module they replace (the same ``nn.Parameter`` objects),
so an optimizer built before :func:`bitscale.nn.quantize_` keeps working and tied weights stay tied.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bitscale.nn.config import QuantConfig
from bitscale.nn.estimators import estimate
from bitscale.nn.fakequant import parse_grid
from bitscale.nn.sparsity import sparsify_2_4


class QuantLinear(nn.Module):
    """A linear layer that trains against quantized weights (and optionally quantized inputs).

    Forward::

        W_S = sparsify_2_4(W)                    (when config.sparsity == "2:4")
        Ŵ   = E(W_S; config.weights)             (E the estimator; scales per output channel/group)
        x̂   = E(x;  config.activations)          (groups along the feature axis)
        y   = x̂ Ŵᵀ + bias

    With ``estimator="ste"`` or ``"ste-clip"``, ``Ŵ == formats.quantize(W_S, config.weights)``;
    with ``"denoise"`` it is the ridge dequantization of the same codes. The bias stays in float.

    Parameters
    ----------
    weight : nn.Parameter of shape (out_features, in_features), or (in_features, out_features)
        when ``transposed`` (the layout of Hugging Face's ``Conv1D``).
    bias : nn.Parameter of shape (out_features,) or None.
    config : QuantConfig.
    transposed : bool
        Weight stored as (in, out); it is quantized per output channel all the same.
    """

    def __init__(self, weight: nn.Parameter, bias: nn.Parameter | None, config: QuantConfig,
                 transposed: bool = False) -> None:
        super().__init__()
        self.weight = weight
        self.bias = bias
        self.config = config
        self.transposed = transposed
        self.in_features, self.out_features = (weight.shape if transposed else weight.shape[::-1])
        self._wgrid = parse_grid(config.weights) if config.weights else None
        self._agrid = parse_grid(config.activations) if config.activations else None

    @classmethod
    def from_linear(cls, linear: nn.Module, config: QuantConfig) -> "QuantLinear":
        """Wrap an ``nn.Linear`` or a Hugging Face ``Conv1D`` (weight (in, out), ``nf`` outputs)."""
        transposed = type(linear).__name__ == "Conv1D"
        return cls(linear.weight, linear.bias, config, transposed=transposed)

    def to_linear(self) -> nn.Linear:
        """A plain ``nn.Linear`` holding the *quantized* weights (a deployable float model)."""
        with torch.no_grad():
            w = self.quantized_weight()
        lin = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None,
                        device=w.device, dtype=w.dtype)
        with torch.no_grad():
            lin.weight.copy_(w)
            if self.bias is not None:
                lin.bias.copy_(self.bias)
        return lin

    def float_weight(self) -> torch.Tensor:
        """The float weight in (out_features, in_features) layout."""
        return self.weight.t() if self.transposed else self.weight

    def quantized_weight(self) -> torch.Tensor:
        """``Ŵ`` of shape (out_features, in_features), differentiable by the configured estimator."""
        w = self.float_weight()
        cfg = self.config
        if cfg.sparsity == "2:4":
            w = sparsify_2_4(w)
        if cfg.weights is not None:
            w = estimate(w, cfg.weights, cfg.estimator, cfg.denoise_lambda, self._wgrid)
        return w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        if cfg.activations is not None:
            x = estimate(x, cfg.activations, cfg.estimator, cfg.denoise_lambda, self._agrid)
        return F.linear(x, self.quantized_weight(), self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, config='{self.config}'"
                + (", transposed=True" if self.transposed else ""))


class KVQuantizer(nn.Module):
    """Fake-quantizes keys or values: ``E(x; spec)`` with groups along the last axis (head_dim).

    Placed where a model exposes its KV-cache hook (an ``nn.Identity`` named ``k_quant`` or
    ``v_quant`` applied to K/V of shape (B, n_head, T, head_dim)).
    """

    def __init__(self, spec: str, estimator: str = "ste", denoise_lambda: float = 0.01) -> None:
        super().__init__()
        self.spec = spec
        self.estimator = estimator
        self.denoise_lambda = denoise_lambda
        self._grid = parse_grid(spec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return estimate(x, self.spec, self.estimator, self.denoise_lambda, self._grid)

    def extra_repr(self) -> str:
        return f"spec='{self.spec}', estimator='{self.estimator}'"
