"""Step-size schedules of theory.md, "Training"."""

from __future__ import annotations

import math

import numpy as np


def step_sizes(lr: float, schedule: str, steps: int) -> np.ndarray:
    """The step ``gamma_t`` of each of ``T = steps`` SGD steps.

    ``constant``: ``gamma_t = lr``. ``geometric``: the ``T`` steps are cut into
    ``L = max(1, ceil(log2 T))`` phases of ``ceil(T / L)`` steps (the last may be shorter) and
    ``gamma_t = lr / 2^l`` in phase ``l = 0 … L-1`` (Lin et al. 2024's step-decay schedule).

    Returns
    -------
    numpy.ndarray
        Shape ``(steps,)``, float64.
    """
    if schedule == "constant":
        return np.full(steps, float(lr))
    if schedule == "geometric":
        phases = max(1, math.ceil(math.log2(max(steps, 1))))
        length = math.ceil(steps / phases)
        return lr * 0.5 ** (np.arange(steps) // length).astype(np.float64)
    raise ValueError(f"schedule = {schedule!r}: expected 'constant' or 'geometric'.")
