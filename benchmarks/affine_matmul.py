"""Benchmark: the affine matmul shortcut against dequantize-then-matmul, on CPU.

Both start from the same row-wise affine int8/int4 codes (activations per token, weights per
output channel):

* naive    — dequantize both operands to float32 (``s ⊙ Q + b``), then one float matmul;
* shortcut — one matmul of the integer codes (``torch._int_mm``: int8 × int8 → int32) plus the
  rank-1 zero-point corrections and the scales (:func:`bitscale.nn.affine_matmul`).

The ratio is shortcut time / naive time (below 1: the shortcut is faster). The relative error of
the shortcut against the float64 product is shown too. Run: ``python benchmarks/affine_matmul.py``.
``benchmarks/train.py`` imports :func:`run` and :func:`table`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from bitscale.nn import AffineOperand, affine_matmul, dequantize_matmul, quantize_rows

SIZES = ((256, 256, 256), (512, 1024, 1024), (2048, 768, 3072), (2048, 2048, 2048))


@dataclass(frozen=True)
class AffineBenchRow:
    """One size: (M, K, N), bit widths, best-of-repeats times in ms, ratio, relative error."""

    m: int
    k: int
    n: int
    bits_a: int
    bits_w: int
    naive_ms: float
    shortcut_ms: float
    ratio: float
    rel_err: float


def _best_ms(fns, repeats: int) -> list[float]:
    """Best-of-``repeats`` time of each function in ms, interleaved so both see the same load."""
    best = [float("inf")] * len(fns)
    for fn in fns:
        fn()  # warm-up
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return [b * 1e3 for b in best]


def run(sizes=SIZES, bits_a: int = 8, bits_w: int = 4, repeats: int = 7,
        seed: int = 0) -> list[AffineBenchRow]:
    """Time both paths at each (M, K, N); returns one :class:`AffineBenchRow` per size."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for m, k, n in sizes:
        a = quantize_rows(torch.randn(m, k, generator=g) + 0.3, bits_a)
        w = quantize_rows(0.05 * torch.randn(n, k, generator=g), bits_w)
        naive_ms, shortcut_ms = _best_ms([lambda: dequantize_matmul(a, w),
                                          lambda: affine_matmul(a, w)], repeats)
        truth = dequantize_matmul(AffineOperand(a.codes, a.scale.double(), a.offset.double()),
                                  AffineOperand(w.codes, w.scale.double(), w.offset.double()))
        err = ((affine_matmul(a, w).double() - truth).norm() / truth.norm()).item()
        rows.append(AffineBenchRow(m, k, n, bits_a, bits_w, naive_ms, shortcut_ms,
                                   shortcut_ms / naive_ms, err))
    return rows


def table(rows: list[AffineBenchRow]):
    """A Rich table of the rows."""
    from rich.table import Table

    t = Table(title=f"affine matmul shortcut vs dequantize-then-matmul "
                    f"(CPU, {torch.get_num_threads()} threads)")
    for col in ("M×K×N", "bits a/w", "dequant+matmul ms", "shortcut ms", "ratio", "rel. err"):
        t.add_column(col, justify="right")
    for r in rows:
        t.add_row(f"{r.m}×{r.k}×{r.n}", f"{r.bits_a}/{r.bits_w}", f"{r.naive_ms:.2f}",
                  f"{r.shortcut_ms:.2f}", f"{r.ratio:.2f}×", f"{r.rel_err:.1e}")
    return t


def main() -> None:
    from rich.console import Console

    Console().print(table(run()))


if __name__ == "__main__":
    main()
