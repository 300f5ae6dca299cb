"""Small real functions run by the executors in tests (module-level, so workers can import them)."""

from __future__ import annotations

import math
import os
import time


def collatz(payload: dict) -> dict:
    """Steps of the Collatz sequence from ``payload["n"]``; sleeps ``payload["sleep"]`` seconds first.

    ``n == 0`` raises (a failing run); ``n < 0`` returns a diverged result.
    """
    time.sleep(float(payload.get("sleep", 0.0)))
    n = int(payload["n"])
    if n == 0:
        raise ValueError("collatz of 0 is undefined")
    if n < 0:
        return {"status": "diverged", "val_loss": math.nan, "pid": os.getpid()}
    steps = 0
    while n != 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        steps += 1
    return {"status": "done", "val_loss": float(steps), "pid": os.getpid()}
