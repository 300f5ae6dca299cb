"""Benchmark: the cost of quantization-aware training on CPU, and the affine matmul shortcut.

Run as ``python benchmarks/train.py [--threads 2] [--rounds 15]``. Three measurements, each a
ratio against a baseline timed in the same run:

1. One training step (forward, backward, gradient clipping, AdamW) of the default
   :class:`bitscale.lm.ModelConfig` at W4A8KV8 with the straight-through estimator and with the
   denoising estimator, divided by the same model's float32 step (goals: ≤ 1.3× and ≤ 1.4×).
   Variants are timed interleaved (round-robin), and the median step time is reported, so that
   load from other processes hits every variant alike.
2. :func:`bitscale.nn.affine_matmul` (integer-code matmul plus rank-1 corrections) against
   :func:`bitscale.nn.dequantize_matmul` (dequantize both operands, then a float matmul) on the
   shapes of the default model's layers, with the relative difference of the two products.
3. The default model's training throughput in tokens/s (float32 and W4A8KV8).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from rich.console import Console
from rich.table import Table

from bitscale.lm import GPT, ModelConfig
from bitscale.nn import QuantConfig, affine_matmul, dequantize_matmul, quantize_, quantize_rows

BATCH = 16


def _step_fn(quant: str | None, config: ModelConfig):
    torch.manual_seed(0)
    model = GPT(config)
    if quant is not None:
        quantize_(model, QuantConfig.parse(quant))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1, foreach=False)
    gen = torch.Generator().manual_seed(1)
    x = torch.randint(0, config.vocab_size, (BATCH, config.seq_len), generator=gen)
    y = torch.randint(0, config.vocab_size, (BATCH, config.seq_len), generator=gen)

    def step() -> float:
        t0 = time.perf_counter()
        loss = model.loss(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return time.perf_counter() - t0

    return step


def bench_steps(rounds: int) -> dict[str, float]:
    """Median seconds per training step of each variant, timed round-robin."""
    config = ModelConfig()
    variants = {
        "float32": None,
        "W4A8KV8 ste": "w4a8kv8,est=ste",
        "W4A8KV8 denoise": "w4a8kv8,est=denoise",
    }
    steps = {name: _step_fn(q, config) for name, q in variants.items()}
    for step in steps.values():  # warm-up: allocator, thread pool, first-call dispatch
        for _ in range(3):
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            times[name].append(step())
    return {name: statistics.median(ts) for name, ts in times.items()}


def _median_time(fn, rounds: int) -> float:
    fn()
    ts = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def bench_affine(rounds: int) -> list[tuple[str, float, float, float]]:
    """(shape, shortcut s, naive s, relative difference) for the default model's layer shapes."""
    config = ModelConfig()
    M = BATCH * config.seq_len
    C, F = config.d_model, config.ffn_hidden
    shapes = [("qkv", M, C, 3 * C), ("mlp.up", M, C, F), ("mlp.down", M, F, C), ("square 1024", 1024, 1024, 1024)]
    gen = torch.Generator().manual_seed(0)
    rows = []
    for name, m, k, n in shapes:
        a = quantize_rows(torch.randn(m, k, generator=gen), 8)
        w = quantize_rows(torch.randn(n, k, generator=gen) * 0.05, 8)
        fast = _median_time(lambda: affine_matmul(a, w), rounds)
        naive = _median_time(lambda: dequantize_matmul(a, w), rounds)
        ref = dequantize_matmul(a, w)
        rel = float((affine_matmul(a, w) - ref).norm() / ref.norm())
        rows.append((f"{name} ({m}×{k}) · ({k}×{n})ᵀ", fast, naive, rel))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds per variant")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    console = Console()

    steps = bench_steps(args.rounds)
    tokens = BATCH * ModelConfig().seq_len
    table = Table(title=f"training step, default model {ModelConfig()}, batch {BATCH}, {args.threads} threads")
    for col in ("variant", "median step (ms)", "× float32", "goal", "tokens/s"):
        table.add_column(col, justify="left" if col == "variant" else "right")
    goals = {"float32": "", "W4A8KV8 ste": "≤ 1.30", "W4A8KV8 denoise": "≤ 1.40"}
    for name, t in steps.items():
        ratio = t / steps["float32"]
        ok = "" if not goals[name] else (" ✓" if ratio <= float(goals[name][2:]) else " ✗")
        table.add_row(name, f"{t * 1e3:.1f}", f"{ratio:.2f}", goals[name] + ok, f"{tokens / t:,.0f}")
    console.print(table)

    table = Table(title="affine matmul shortcut vs dequantize-then-matmul (int8 × int8 codes, float32)")
    for col in ("shape", "shortcut (ms)", "dequantize+matmul (ms)", "speed-up", "relative difference"):
        table.add_column(col, justify="left" if col == "shape" else "right")
    for shape, fast, naive, rel in bench_affine(args.rounds):
        table.add_row(shape, f"{fast * 1e3:.3f}", f"{naive * 1e3:.3f}", f"{naive / fast:.2f}×", f"{rel:.1e}")
    console.print(table)


if __name__ == "__main__":
    main()
