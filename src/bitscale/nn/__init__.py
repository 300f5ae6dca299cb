"""bitscale.nn: quantization-aware training for any PyTorch model.

* :class:`QuantConfig` — what is quantized (weights, activations, KV cache), to which
  :mod:`bitscale.formats` spec, with which gradient estimator (``ste``, ``ste-clip``, ``denoise``)
  and sparsity (``2:4``); ``QuantConfig.parse("w4a8kv8")``.
* :func:`quantize_` — swap a model's linear layers (``nn.Linear``, Hugging Face ``Conv1D``) and its
  ``k_quant`` / ``v_quant`` hooks for :class:`QuantLinear` / :class:`KVQuantizer`, in place;
  :func:`convert` — export codes and scales.
* Estimators (:mod:`bitscale.nn.estimators`): :func:`ste`, :func:`ste_clip`, :func:`denoise`
  (Ye et al.'s ridge dequantizer).
* :func:`sparsify_2_4`, the affine matmul shortcut (:func:`affine_matmul`), and post-training
  quantization (:func:`ptq` with RTN or GPTQ).
"""

from __future__ import annotations

from bitscale.nn.affine_matmul import (AffineOperand, affine_linear, affine_matmul,
                                       dequantize_matmul, quantize_rows)
from bitscale.nn.config import QuantConfig, spec_bits
from bitscale.nn.estimators import (DenoiseTerms, denoise, denoise_reference, denoise_terms,
                                    estimate, rounding_noise, ste, ste_clip)
from bitscale.nn.fakequant import Grid, fake_quantize, parse_grid
from bitscale.nn.layers import KVQuantizer, QuantLinear
from bitscale.nn.ptq import collect_hessians, gptq, ptq, rtn
from bitscale.nn.quantize import ExportedLayer, QuantizedTensor, convert, export_weight, quantize_
from bitscale.nn.sparsity import mask_2_4, sparsify_2_4

__all__ = [
    "AffineOperand", "DenoiseTerms", "ExportedLayer", "Grid", "KVQuantizer", "QuantConfig", "QuantLinear",
    "QuantizedTensor", "affine_linear", "affine_matmul", "collect_hessians", "convert", "denoise", "denoise_reference", "denoise_terms",
    "dequantize_matmul", "estimate", "export_weight", "fake_quantize", "gptq", "mask_2_4",
    "parse_grid", "ptq", "quantize_", "quantize_rows", "rounding_noise", "rtn", "sparsify_2_4",
    "spec_bits", "ste", "ste_clip",
]
