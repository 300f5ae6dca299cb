"""The store as tables, in the column names :func:`bitscale.laws.fit` reads.

* :func:`runs_frame` — one row per run: ``key, label, status, N, D, P_w, P_a, P_kv, loss, quant,
  precision, estimator, seed, tokens_per_param, wall_s, tokens_per_s, corpus_sha256, attempts``
  (``loss`` = final validation loss in nats per byte; ``precision`` is the ``eff-per-precision``
  label: the QAT string, ``"fp32"`` when unquantized).
* :func:`ptq_frame` — one row per (finished run, post-training target): ``N, D, P_w, P_a, P_kv,
  P_post, delta, loss, loss_post, spec, method, tokens_per_param`` (``delta`` = δ_PTQ =
  ``loss_post − loss``, the ``kumar-ptq`` target).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from bitscale.sweep.store import RunStore

__all__ = ["export", "ptq_frame", "runs_frame"]

_RUN_COLUMNS = [
    "key", "label", "status", "N", "D", "P_w", "P_a", "P_kv", "loss", "quant", "precision",
    "estimator", "seed", "tokens_per_param", "wall_s", "tokens_per_s", "corpus_sha256", "attempts",
]
_PTQ_COLUMNS = [
    "key", "label", "N", "D", "P_w", "P_a", "P_kv", "P_post", "delta", "loss", "loss_post", "spec",
    "method", "quant", "precision", "tokens_per_param",
]


def _store(source: RunStore | str | os.PathLike) -> tuple[RunStore, bool]:
    if isinstance(source, RunStore):
        return source, False
    path = Path(source)
    if path.is_dir():
        path = path / RunStore.FILENAME
    if not path.exists():
        raise FileNotFoundError(f"no run store at {path}; expected a study folder made by `bitscale sweep run`")
    return RunStore(path), True


def runs_frame(source: RunStore | str | os.PathLike, *, finished_only: bool = False) -> pd.DataFrame:
    """One row per run of a store (or study folder), in registration order.

    Runs not finished yet have their grid values (N from the result when known, D and the
    precision from the config) and NaN loss. ``finished_only`` keeps ``status == "done"`` rows.
    """
    store, owned = _store(source)
    try:
        rows = []
        for rec in store.records():
            res = rec.result or {}
            cfg = rec.config
            quant = res.get("quant", cfg.get("quant"))
            rows.append({
                "key": rec.key,
                "label": rec.label,
                "status": rec.status,
                "N": res.get("N"),
                "D": res.get("D", cfg.get("tokens")),
                "P_w": res.get("P_w"),
                "P_a": res.get("P_a"),
                "P_kv": res.get("P_kv"),
                "loss": rec.val_loss if rec.status == "done" else None,
                "quant": quant,
                "precision": quant or "fp32",
                "estimator": res.get("estimator"),
                "seed": cfg.get("seed"),
                "tokens_per_param": None,
                "wall_s": rec.wall_s,
                "tokens_per_s": res.get("tokens_per_s"),
                "corpus_sha256": rec.corpus_sha256,
                "attempts": rec.attempts,
            })
    finally:
        if owned:
            store.close()
    df = pd.DataFrame(rows, columns=_RUN_COLUMNS)
    for c in ("N", "D", "P_w", "P_a", "P_kv", "loss", "wall_s", "tokens_per_s"):
        df[c] = pd.to_numeric(df[c], errors="coerce")
    df["tokens_per_param"] = df["D"] / df["N"]
    if finished_only:
        df = df[df["status"] == "done"].reset_index(drop=True)
    return df


def ptq_frame(source: RunStore | str | os.PathLike) -> pd.DataFrame:
    """One row per (done run, post-training target), for the ``kumar-ptq`` law."""
    from bitscale.nn import spec_bits

    store, owned = _store(source)
    try:
        rows = []
        for rec in store.records():
            if rec.status != "done" or not rec.result:
                continue
            res = rec.result
            for p in res.get("ptq", []):
                rows.append({
                    "key": rec.key,
                    "label": rec.label,
                    "N": res["N"],
                    "D": res["D"],
                    "P_w": res["P_w"],
                    "P_a": res["P_a"],
                    "P_kv": res["P_kv"],
                    "P_post": spec_bits(p["spec"]),
                    "delta": p["delta"],
                    "loss": res["val_loss"],
                    "loss_post": p["loss"],
                    "spec": p["spec"],
                    "method": p["method"],
                    "quant": res.get("quant"),
                    "precision": res.get("quant") or "fp32",
                    "tokens_per_param": res["D"] / res["N"],
                })
    finally:
        if owned:
            store.close()
    return pd.DataFrame(rows, columns=_PTQ_COLUMNS)


def export(
    source: RunStore | str | os.PathLike, path: str | os.PathLike, *, fmt: str | None = None
) -> list[Path]:
    """Write :func:`runs_frame` to ``path`` (CSV or Parquet) and :func:`ptq_frame` beside it.

    The PTQ table goes to ``<stem>_ptq.<ext>`` when the sweep has post-training targets.
    ``fmt`` is ``"csv"`` or ``"parquet"`` (default: from the suffix of ``path``). Returns the
    files written.
    """
    path = Path(path)
    fmt = fmt or path.suffix.lstrip(".").lower()
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"export format {fmt!r}; expected 'csv' or 'parquet' (or a .csv/.parquet path)")
    frames = [(path, runs_frame(source))]
    ptq = ptq_frame(source)
    if len(ptq):
        frames.append((path.with_name(f"{path.stem}_ptq{path.suffix}"), ptq))
    path.parent.mkdir(parents=True, exist_ok=True)
    for target, df in frames:
        if fmt == "csv":
            df.to_csv(target, index=False)
        else:
            df.to_parquet(target, index=False)
    return [t for t, _ in frames]
