"""Model-level swaps: `quantize_` (float -> quantization-aware, in place) and `convert` (-> codes).

`quantize_` walks the module tree and swaps

* every ``nn.Linear`` and every Hugging Face ``Conv1D`` (GPT-2's projections: a module whose
  ``weight`` is (in, out) with ``nf`` outputs) for a :class:`QuantLinear` sharing its parameters;
* every ``nn.Identity`` child named ``k_quant`` or ``v_quant`` (the KV-cache hook of
  :class:`bitscale.lm.GPT`) for a :class:`KVQuantizer`.

Models that do not expose such a hook (Hugging Face GPT-2 computes K and V inside its attention
function) get their projections quantized but not their KV cache.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from bitscale.nn.config import QuantConfig
from bitscale.nn.fakequant import encode, parse_grid
from bitscale.nn.layers import KVQuantizer, QuantLinear

KV_HOOKS = ("k_quant", "v_quant")


def _is_linear(module: nn.Module) -> bool:
    if isinstance(module, nn.Linear):
        return True
    # transformers.pytorch_utils.Conv1D, recognised by shape so transformers need not be imported
    return (type(module).__name__ == "Conv1D" and hasattr(module, "nf")
            and getattr(module, "weight", None) is not None and module.weight.dim() == 2)


def _skipped(fqn: str, skip: tuple[str, ...]) -> bool:
    name = fqn.rsplit(".", 1)[-1]
    return any(fqn == p or name == p or fnmatch.fnmatchcase(fqn, p) for p in skip)


def quantize_(model: nn.Module, config: "QuantConfig | str",
              filter_fn: Callable[[nn.Module, str], bool] | None = None) -> nn.Module:
    """Swap the model's linear layers and KV hooks for quantization-aware ones, in place.

    Parameters
    ----------
    model : nn.Module
        Any PyTorch model. Parameters are shared, not copied: build the optimizer before or after.
    config : QuantConfig or its string form (``"w4a8kv8"``).
    filter_fn : callable ``(module, fqn) -> bool``, optional
        Extra predicate; a linear layer is swapped only when it returns True. ``config.skip``
        applies first (``"lm_head"`` matches any module whose last name is ``lm_head``).

    Returns
    -------
    The same ``model``.
    """
    cfg = QuantConfig.parse(config) if not isinstance(config, QuantConfig) else config
    if not isinstance(model, nn.Module):
        raise ValueError(f"quantize_ expects an nn.Module, got {type(model).__name__}")
    if cfg.is_float:
        return model
    swaps: list[tuple[nn.Module, str, nn.Module]] = []
    for fqn, module in model.named_modules():
        for name, child in module.named_children():
            child_fqn = f"{fqn}.{name}" if fqn else name
            if isinstance(child, (QuantLinear, KVQuantizer)) or _skipped(child_fqn, cfg.skip):
                continue
            if name in KV_HOOKS and isinstance(child, nn.Identity):
                if cfg.kv_cache is not None:
                    swaps.append((module, name, KVQuantizer(cfg.kv_cache, cfg.estimator,
                                                            cfg.denoise_lambda)))
            elif _is_linear(child) and (filter_fn is None or filter_fn(child, child_fqn)):
                if cfg.weights is not None or cfg.activations is not None or cfg.sparsity:
                    swaps.append((module, name, QuantLinear.from_linear(child, cfg)))
    for parent, name, new in swaps:
        setattr(parent, name, new)
    return model


@dataclass(frozen=True)
class QuantizedTensor:
    """A deployable quantized weight of shape ``shape`` = (out_features, in_features).

    Integer-like grids: ``W ≈ scale·codes + offset`` per group along the input axis, with ``codes``
    integers (int8/int16/int32) of shape ``shape`` and ``scale`` / ``offset`` of shape
    ``(n_groups, 1)`` (offset None when symmetric). Other formats (floats, MX, NVFP4): ``codes``
    are the format's bit patterns and ``scale`` / ``offset`` / ``tensor_scale`` are those of
    :func:`bitscale.formats.encode`; :meth:`dequantize` calls :func:`bitscale.formats.decode`.

    ``estimator`` records how scale/offset were obtained: the grid's own scale (``ste``,
    ``ste-clip``) or the ridge of the denoising estimator (``denoise``).
    """

    spec: str
    codes: torch.Tensor
    scale: torch.Tensor | None
    offset: torch.Tensor | None
    shape: tuple[int, ...]
    estimator: str = "ste"
    tensor_scale: torch.Tensor | None = None

    def dequantize(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The weight the codes stand for, shape ``shape``, in ``dtype``."""
        if parse_grid(self.spec) is None:
            from bitscale import formats

            return formats.decode(self.codes, formats.Scales(self.scale, self.offset,
                                                             self.tensor_scale), self.spec, dtype)
        n_groups = self.scale.shape[0]
        w = self.codes.reshape(n_groups, -1).to(dtype) * self.scale.to(dtype)
        if self.offset is not None:
            w = w + self.offset.to(dtype)
        return w.reshape(self.shape)


@dataclass(frozen=True)
class ExportedLayer:
    """One converted layer: its quantized weight, float bias, and the activation spec to apply."""

    weight: QuantizedTensor | None
    bias: torch.Tensor | None
    activations: str | None
    sparsity: str | None


def _int_dtype(qmin: int, qmax: int) -> torch.dtype:
    for dt in (torch.int8, torch.int16, torch.int32):
        info = torch.iinfo(dt)
        if info.min <= qmin and qmax <= info.max:
            return dt
    return torch.int64


def export_weight(w: torch.Tensor, spec: str, estimator: str = "ste",
                  lam: float = 0.01) -> QuantizedTensor:
    """Codes and scales of a (out, in) weight, matching what the estimator's forward computes."""
    grid = parse_grid(spec)
    w = w.detach()
    if grid is None:
        from bitscale import formats

        codes, sc = formats.encode(w, spec, axis=-1)
        scale = sc.scale
        if estimator == "denoise":
            # the deployed dequantizer is the ridge: W ≈ (s_g / s)·Q(W) per group
            from bitscale.nn.estimators import _formats_view

            q = formats.parse_spec(spec)
            if q.granularity not in ("tensor", "channel", "group"):
                raise ValueError(f"convert: a denoise-trained {spec!r} weight has no codes+scale "
                                 f"export (its scales are not free floats); train with "
                                 f"':tensor', ':channel' or ':group<g>' scaling")
            wv, fmax = _formats_view(w, spec)
            v = formats.decode(codes, sc, spec, w.dtype).reshape(wv.shape)
            a = wv.abs().amax(-1, keepdim=True)
            s = torch.where(a > 0, a / fmax, torch.ones_like(a))  # the grid placement of f = x/s
            # s_g·q with q = v/s  ==  v · <v, x> / (<v, v> + λ s²)
            ratio = (v * wv).sum(-1, keepdim=True) / ((v * v).sum(-1, keepdim=True) + lam * s * s
                                                      + torch.finfo(w.dtype).tiny)
            scale = sc.scale * ratio.reshape(sc.scale.shape)
        return QuantizedTensor(spec, codes, scale, sc.offset, tuple(w.shape), estimator,
                               sc.tensor_scale)
    codes, s, b = encode(w, grid)
    if estimator == "denoise":  # the ridge is the deployed dequantizer: W ≈ s_g·q + (x̄ − s_g·q̄)
        wv = grid.view(w)
        if grid.affine:
            qm, xm = codes.mean(-1, keepdim=True), wv.mean(-1, keepdim=True)
            qc = codes - qm
            s_g = (qc * (wv - xm)).mean(-1, keepdim=True) / ((qc * qc).mean(-1, keepdim=True) + lam)
            s, b = s_g, xm - s_g * qm
        else:
            s = (codes * wv).sum(-1, keepdim=True) / ((codes * codes).sum(-1, keepdim=True) + lam)
            b = None
    codes = codes.to(_int_dtype(grid.qmin, grid.qmax)).reshape(w.shape)
    return QuantizedTensor(spec, codes, s, b, tuple(w.shape), estimator)


def convert(model: nn.Module) -> dict[str, ExportedLayer | dict]:
    """Export every :class:`QuantLinear`'s integer/float codes and scales for deployment.

    Returns
    -------
    dict mapping each quantized layer's fully-qualified name to an :class:`ExportedLayer`
    (``layer.weight.dequantize()`` reproduces the weight the layer computes with), and each
    :class:`KVQuantizer` name to ``{"kv_cache": spec}`` (KV codes are made at inference time).
    The model is not modified.
    """
    out: dict[str, ExportedLayer | dict] = {}
    for fqn, module in model.named_modules():
        if isinstance(module, QuantLinear):
            cfg = module.config
            with torch.no_grad():
                w = module.float_weight()
                if cfg.sparsity == "2:4":
                    from bitscale.nn.sparsity import mask_2_4

                    w = w * mask_2_4(w)
                qw = (export_weight(w, cfg.weights, cfg.estimator, cfg.denoise_lambda)
                      if cfg.weights is not None else None)
            bias = module.bias.detach().clone() if module.bias is not None else None
            out[fqn] = ExportedLayer(qw, bias, cfg.activations, cfg.sparsity)
        elif isinstance(module, KVQuantizer):
            out[fqn] = {"kv_cache": module.spec}
    return out
