"""Shared test configuration.

Hypothesis runs derandomized (same examples every run: CI must be deterministic) and without a
per-example deadline (2-core CI machines are noisy; timings are not what these tests check).
"""

from __future__ import annotations

import os

import torch
from hypothesis import HealthCheck, settings

settings.register_profile(
    "bitscale",
    deadline=None,
    derandomize=True,
    max_examples=int(os.environ.get("BITSCALE_HYPOTHESIS_EXAMPLES", "100")),
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("bitscale")

# Two cores in CI: keep intra-op threads modest and deterministic.
torch.set_num_threads(min(2, os.cpu_count() or 1))
