"""Post-training quantization of weights: round-to-nearest (RTN) and GPTQ.

* **RTN** replaces every weight ``W`` by ``Q(W)`` (``formats.quantize`` semantics, per output
  channel or group).
* **GPTQ** (Frantar et al., 2023; the Optimal Brain Quantizer applied column by column) minimises
  the layer's output error ``||X Wᵀ − X Ŵᵀ||²_F`` given calibration inputs ``X``. With the Hessian
  ``H = 2 XᵀX / n`` (damped: ``H += δ·mean(diag H)·I``) and ``U`` the upper Cholesky factor of
  ``H⁻¹``, columns are quantized left to right; the error of column ``j``,
  ``e = (w_j − q_j) / U_jj``, is spread over the not-yet-quantized columns ``w_{j+1:} −= e·U_{j,j+1:}``.
  Updates are applied lazily in blocks of ``block_size`` columns (the block's error is propagated
  to the rest of the matrix with one matmul). Per-group scales are fixed when the sweep reaches the
  group's first column, from the updated weights, as in the reference implementation.

All layers' Hessians are collected in one pass of the *float* model over the calibration batches.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Iterable

import torch
from torch import nn

from bitscale.nn.fakequant import Grid, parse_grid, round_codes, scale_offset
from bitscale.nn.fakequant import quantize as fq_quantize
from bitscale.nn.layers import QuantLinear
from bitscale.nn.quantize import _is_linear, _skipped

METHODS = ("rtn", "gptq")


def _weight_oi(module: nn.Module) -> torch.Tensor:
    """Weight in (out, in) layout (Hugging Face Conv1D stores (in, out))."""
    if isinstance(module, QuantLinear):
        return module.float_weight()
    return module.weight.t() if type(module).__name__ == "Conv1D" else module.weight


def _set_weight_oi(module: nn.Module, w: torch.Tensor) -> None:
    with torch.no_grad():
        transposed = (module.transposed if isinstance(module, QuantLinear)
                      else type(module).__name__ == "Conv1D")
        module.weight.copy_(w.t() if transposed else w)


def rtn(weight: torch.Tensor, spec: str) -> torch.Tensor:
    """Round-to-nearest: ``Q(W)`` with scales per output channel / group along the input axis."""
    return fq_quantize(weight.detach(), spec)


def gptq(weight: torch.Tensor, hessian: torch.Tensor, spec: str, *, damp: float = 0.01,
         block_size: int = 128) -> torch.Tensor:
    """GPTQ-quantized copy of ``weight`` (out, in) for inputs whose Hessian is ``hessian`` (in, in).

    Parameters
    ----------
    weight : Tensor (out_features, in_features).
    hessian : Tensor (in_features, in_features), ``2 XᵀX / n`` of the layer's inputs.
    spec : an integer-like grid spec (``int<k>``, ``uint<k>``, ``binary``, ``ternary`` with
        ``:channel`` / ``:group<g>`` / ``:tensor`` and optional ``:affine``).
    damp : relative damping δ added to the diagonal (fraction of its mean).
    block_size : columns per lazy-update block.

    Returns
    -------
    Tensor like ``weight`` whose rows lie on the grid (per row / group scales).
    """
    grid = parse_grid(spec)
    if grid is None:
        raise ValueError(f"GPTQ needs an integer-like grid spec (int<k>, uint<k>, binary, ternary), "
                         f"got {spec!r}; use method='rtn' for float formats")
    out_f, in_f = weight.shape
    if hessian.shape != (in_f, in_f):
        raise ValueError(f"hessian has shape {tuple(hessian.shape)}, expected ({in_f}, {in_f})")
    if grid.granularity == "group" and in_f % grid.group:
        raise ValueError(f"group size {grid.group} does not divide in_features={in_f}")
    W = weight.detach().to(torch.float64).clone()
    H = hessian.detach().to(torch.float64).clone()
    dead = torch.diag(H) == 0  # inputs that were always zero: any value works, keep it finite
    H[dead, dead] = 1.0
    W[:, dead] = 0.0
    H += damp * torch.diag(H).mean() * torch.eye(in_f, dtype=H.dtype)
    U = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)

    def scales_for(cols: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        view = cols.reshape(1, -1) if grid.granularity == "tensor" else cols
        return scale_offset(view, Grid(grid.kind, grid.bits, "channel", 0, grid.affine))

    if grid.granularity in ("channel", "tensor"):
        s, b = scales_for(W)
    Q = torch.zeros_like(W)
    for i0 in range(0, in_f, block_size):
        i1 = min(i0 + block_size, in_f)
        W1 = W[:, i0:i1].clone()
        Err = torch.zeros_like(W1)
        for j in range(i1 - i0):
            col = i0 + j
            if grid.granularity == "group" and col % grid.group == 0:
                s, b = scales_for(torch.cat([W1[:, j:], W[:, i1:]], dim=1)[:, :grid.group])
            w = W1[:, j:j + 1]
            f = (w - b) / s if b is not None else w / s
            q = round_codes(f, grid) * s + (b if b is not None else 0.0)
            Q[:, col:col + 1] = q
            err = (w - q) / U[col, col]
            W1[:, j:] -= err * U[col, i0 + j:i1].unsqueeze(0)
            Err[:, j:j + 1] = err
        W[:, i1:] -= Err @ U[i0:i1, i1:]
    return Q.to(weight.dtype)


def collect_hessians(model: nn.Module, modules: dict[str, nn.Module], calibration: Iterable[Any],
                     forward_fn: Callable[[nn.Module, Any], Any] | None = None
                     ) -> dict[str, torch.Tensor]:
    """``H = 2 XᵀX / n`` of each module's input over all calibration batches (float64)."""
    acc: dict[str, torch.Tensor] = {}
    count: dict[str, int] = {}

    def hook_for(name: str):
        def hook(_module, args):
            x = args[0].detach().reshape(-1, args[0].shape[-1]).to(torch.float64)
            acc[name] = acc.get(name, 0) + x.t() @ x
            count[name] = count.get(name, 0) + x.shape[0]
        return hook

    handles = [m.register_forward_pre_hook(hook_for(n)) for n, m in modules.items()]
    try:
        with torch.no_grad():
            for batch in calibration:
                forward_fn(model, batch) if forward_fn is not None else model(batch)
    finally:
        for h in handles:
            h.remove()
    missing = [n for n in modules if n not in acc]
    if missing:
        raise ValueError(f"the calibration batches never reached {missing[:3]}…; check forward_fn")
    return {n: 2.0 * acc[n] / count[n] for n in modules}


def ptq(model: nn.Module, spec: str, method: str = "rtn",
        calibration: Iterable[Any] | None = None,
        forward_fn: Callable[[nn.Module, Any], Any] | None = None, *,
        skip: tuple[str, ...] = ("lm_head",), damp: float = 0.01, block_size: int = 128
        ) -> nn.Module:
    """A deep copy of ``model`` with every linear layer's weights post-training quantized to ``spec``.

    Parameters
    ----------
    model : nn.Module (left untouched). ``nn.Linear``, Hugging Face ``Conv1D`` and
        :class:`QuantLinear` (its float weights) are quantized; ``skip`` names are not.
    spec : formats spec, e.g. ``"int4:channel"``, ``"int3:group64"``.
    method : ``"rtn"`` or ``"gptq"``.
    calibration : batches for GPTQ's Hessians (required for ``"gptq"``).
    forward_fn : ``forward_fn(model, batch)`` runs one batch (default ``model(batch)``).

    Returns
    -------
    The quantized copy, in eval mode unchanged from the original's mode.
    """
    if method not in METHODS:
        raise ValueError(f"method {method!r} is not one of {METHODS}")
    if method == "gptq" and calibration is None:
        raise ValueError("GPTQ needs calibration batches: pass calibration=[batch, …]")
    parse_grid(spec)  # validates integer specs early; other formats are checked by formats
    qmodel = copy.deepcopy(model)
    targets = {n: m for n, m in qmodel.named_modules()
               if n and (_is_linear(m) or isinstance(m, QuantLinear)) and not _skipped(n, skip)}
    if method == "rtn":
        for m in targets.values():
            _set_weight_oi(m, rtn(_weight_oi(m), spec))
        return qmodel
    hessians = collect_hessians(qmodel, targets, calibration, forward_fn)
    for n, m in targets.items():
        _set_weight_oi(m, gptq(_weight_oi(m), hessians[n], spec, damp=damp, block_size=block_size))
    return qmodel
