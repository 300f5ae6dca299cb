"""bitscale: how many bits should I use, and what will it cost me in quality?

Parts (each a subpackage, imported lazily so that ``import bitscale`` stays cheap):

* :mod:`bitscale.formats` -- bit-exact emulation of INT-k, FP ExMy, MX and NVFP4 formats.
* :mod:`bitscale.theory`  -- sketched linear regression trained by SGD in low precision.
* :mod:`bitscale.nn`      -- quantization-aware layers, estimators, sparsity, PTQ.
* :mod:`bitscale.lm`      -- a small transformer language model, its data and training loop.
* :mod:`bitscale.sweep`   -- grids of training runs, a run store, executors.
* :mod:`bitscale.laws`    -- precision-aware scaling-law forms, fitting and planning.
* :mod:`bitscale.report`  -- plots and the HTML study report.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_PARTS = ("formats", "theory", "nn", "lm", "sweep", "laws", "report")
__all__ = ["__version__", *_PARTS]


def __getattr__(name: str) -> Any:
    # Lazy subpackage import: `bitscale.laws` works without importing torch first.
    if name in _PARTS:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'bitscale' has no attribute {name!r}")
