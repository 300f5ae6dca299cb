"""bitscale.lm: a small decoder-only transformer language model, its data and its training loop.

* :class:`ModelConfig`, :class:`GPT` — RMSNorm, rotary embeddings, SwiGLU, no biases; reports its
  non-embedding parameter count N (:meth:`GPT.num_params`).
* :func:`load_corpus` — byte-level corpora (default: the running interpreter's standard library),
  split deterministically and cached as memory-mapped token files.
* :class:`TrainConfig`, :func:`train`, :class:`TrainResult` — AdamW, cosine schedule, token
  budget D, divergence detection, checkpoints and resume, quantization-aware training and
  post-training quantization through :mod:`bitscale.nn`.
"""

from bitscale.lm.data import Corpus, load_corpus
from bitscale.lm.model import GPT, ModelConfig
from bitscale.lm.train import PTQResult, TrainConfig, TrainResult, evaluate, lr_at, train

__all__ = [
    "GPT",
    "Corpus",
    "ModelConfig",
    "PTQResult",
    "TrainConfig",
    "TrainResult",
    "evaluate",
    "load_corpus",
    "lr_at",
    "train",
]
