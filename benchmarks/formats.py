"""Benchmark: fake-quantization throughput of bitscale.formats against PyTorch baselines.

For 2^24 float32 elements (a 4096 x 4096 matrix, scales along the last axis), prints our time as a
ratio to a baseline measured in the same run:

* e4m3fn, e5m2 raw casts: PyTorch's native round trip ``x.to(torch.float8_*).to(torch.float32)``
  (goal: ≤ 2x).
* int8 per channel: ``torch.fake_quantize_per_channel_affine`` with precomputed scales (so the
  baseline does not even pay for the absmax reduction that ours includes; goal ≤ 2x).
* every other family: ``x.clone()``, the memory-bound floor of any elementwise op (goal ≤ 4x).

Times are medians of ``--repeats`` runs after one warm-up; the machine may be shared, so expect
noise of tens of percent. Run: ``python benchmarks/formats.py [--repeats 7] [--threads N]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from rich.console import Console
from rich.table import Table

from bitscale import formats


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up (allocator, lazy init)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--log2-elements", type=int, default=24)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    n = 2**args.log2_elements
    x = torch.randn(n, generator=torch.Generator().manual_seed(0)).reshape(-1, 4096)

    scale = x.abs().amax(dim=1) / 127
    zero = torch.zeros(x.shape[0], dtype=torch.int32)
    baselines = {
        "clone": lambda: x.clone(),
        "native e4m3fn": lambda: x.to(torch.float8_e4m3fn).to(torch.float32),
        "native e5m2": lambda: x.to(torch.float8_e5m2).to(torch.float32),
        "fake_quantize_per_channel_affine": lambda: torch.fake_quantize_per_channel_affine(
            x, scale, zero, 0, -128, 127),
    }
    base_t = {k: median_time(f, args.repeats) for k, f in baselines.items()}

    rows = [("e4m3fn", "native e4m3fn", 2.0), ("e5m2", "native e5m2", 2.0),
            ("int8:channel", "fake_quantize_per_channel_affine", 2.0),
            ("e4m3fn:tensor", "clone", 4.0), ("e2m1fn", "clone", 4.0), ("e3m2fn", "clone", 4.0),
            ("bf16", "clone", 4.0), ("fp16", "clone", 4.0), ("int4:channel", "clone", 4.0),
            ("int4:group128", "clone", 4.0), ("int4:group128:affine", "clone", 4.0),
            ("ternary:channel", "clone", 4.0), ("binary:channel", "clone", 4.0),
            ("mxfp8_e4m3", "clone", 4.0), ("mxfp6_e2m3", "clone", 4.0), ("mxfp4", "clone", 4.0),
            ("mxint8", "clone", 4.0), ("nvfp4", "clone", 4.0)]
    table = Table(title=f"bitscale.formats fake quantization, 2^{args.log2_elements} float32, "
                        f"{torch.get_num_threads()} threads, median of {args.repeats}")
    for col in ("spec", "ours (ms)", "baseline", "baseline (ms)", "ratio", "goal", "met"):
        table.add_column(col, justify="left" if col in ("spec", "baseline") else "right")
    for spec, base, goal in rows:
        t = median_time(lambda s=spec: formats.quantize(x, s, axis=-1), args.repeats)
        ratio = t / base_t[base]
        table.add_row(spec, f"{t * 1e3:.1f}", base, f"{base_t[base] * 1e3:.1f}", f"{ratio:.2f}",
                      f"≤ {goal:g}", "yes" if ratio <= goal else "no")
    Console(width=130).print(table)


if __name__ == "__main__":
    main()
