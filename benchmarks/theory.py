"""Benchmark: exact engine at M = 1024, N = 10^6, B = 1 vs Monte Carlo at equal accuracy.

The exact engine gives the expected risk with no sampling error. Monte Carlo needs
``R = (std / target_SE)^2`` seeds for a standard error ``target_SE`` (here 1% of the risk); its
cost per seed-step is measured on a short run and extrapolated to N = 10^6 steps.
"""

from __future__ import annotations

import time

import numpy as np
from rich.console import Console
from rich.table import Table

from bitscale.theory import FULL_PRECISION, Problem, exact_risk, instance, montecarlo_risk

M, N = 1024, 10**6


def main() -> None:
    p = Problem(a=2.0, M=M, d=10 * M, lr=0.25, schedule="geometric")
    t = time.perf_counter()
    inst = instance(p.a, M, p.d)
    t_inst = time.perf_counter() - t
    exact_risk(p.with_(M=8, d=80), FULL_PRECISION, [100])  # compile outside the timing
    t = time.perf_counter()
    risk = exact_risk(p, FULL_PRECISION, [N], inst=inst).risk[0]
    t_exact = time.perf_counter() - t
    floor_ns = t_exact / (M * N) * 1e9
    # The averaged read-out carries three more running sums per direction.
    exact_risk(p.with_(M=8, d=80, iterate="average"), FULL_PRECISION, [100])
    t = time.perf_counter()
    exact_risk(p.with_(iterate="average"), FULL_PRECISION, [N], inst=inst)
    t_avg = time.perf_counter() - t
    # Monte Carlo: cost per seed-step from a short run; spread of the risk from a short run too.
    steps, seeds = 256, 64
    t = time.perf_counter()
    mc = montecarlo_risk(p.with_(schedule="constant"), FULL_PRECISION, [steps], seeds=seeds,
                         inst=inst)
    per_seed_step = (time.perf_counter() - t) / (steps * seeds)
    rel_sd = float(mc.se[0] * np.sqrt(seeds) / mc.risk[0])
    seeds_needed = int(np.ceil((rel_sd / 0.01) ** 2))
    t_mc = per_seed_step * seeds_needed * N
    table = Table(title=f"theory engines, M = {M}, N = 10^6, B = 1")
    for col in ("quantity", "value"):
        table.add_column(col)
    table.add_row("sketch instance (Gram + eigh), s", f"{t_inst:.2f}")
    table.add_row("exact engine, s", f"{t_exact:.2f}")
    table.add_row("exact, ns per (M x step)", f"{floor_ns:.2f}")
    table.add_row("exact engine, iterate average, s", f"{t_avg:.2f}")
    table.add_row("exact risk", f"{risk:.5f}")
    table.add_row("MC relative sd per seed", f"{rel_sd:.3f}")
    table.add_row("MC seeds for 1% SE", str(seeds_needed))
    table.add_row("MC time at equal accuracy (extrapolated), s", f"{t_mc:.3g}")
    table.add_row("ratio MC / exact", f"{t_mc / t_exact:.3g}")
    Console().print(table)


if __name__ == "__main__":
    main()
