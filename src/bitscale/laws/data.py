"""Reading and validating training results for the law fitter (the public boundary).

Canonical column names: ``N`` (parameters), ``D`` (tokens), ``loss``, ``P_w``, ``P_a``, ``P_kv``
(training bits), ``P_post`` (bits after post-training quantisation), ``delta`` (loss increase after
PTQ), ``loss_post`` (loss after PTQ), ``label`` (precision/format label), ``exp_bits``, ``man_bits``,
``block``. A ``columns`` mapping renames the user's columns: ``{"N": "params", "D": "tokens"}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from bitscale.laws.forms import LawForm

__all__ = ["MissingColumnError", "load_table", "prepare"]


class MissingColumnError(KeyError):
    """A column the law needs is absent (a KeyError whose message prints unquoted)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""

_NUMERIC_POSITIVE = ("N", "D")


def load_table(data: pd.DataFrame | str | Path) -> pd.DataFrame:
    """A DataFrame from a DataFrame, a ``.csv`` path or a ``.parquet`` path."""
    if isinstance(data, pd.DataFrame):
        return data
    path = Path(data)
    if not path.exists():
        raise FileNotFoundError(f"no data file at {path}; expected a CSV or Parquet file of training runs.")
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if path.suffix.lower() in (".csv", ".txt"):
        return pd.read_csv(path)
    raise ValueError(f"cannot read {path.name!r}: expected a .csv or .parquet file.")


def _column(df: pd.DataFrame, canonical: str, columns: Mapping[str, str]) -> str | None:
    name = columns.get(canonical, canonical)
    return name if name in df.columns else None


def prepare(
    form: LawForm,
    data: pd.DataFrame | str | Path,
    columns: Mapping[str, str] | None = None,
    *,
    need_target: bool = True,
) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """Extract and validate the columns ``form`` reads.

    Returns
    -------
    X : dict canonical column -> ndarray (n,)
    y : ndarray (n,) of the target (``form.target``), or None when ``need_target`` is false.

    Raises
    ------
    KeyError
        a required column is missing (the message lists the frame's columns and the fix).
    ValueError
        non-positive N or D, non-finite or non-positive target.
    """
    df = load_table(data)
    columns = dict(columns or {})
    X: dict[str, np.ndarray] = {}
    wanted = list(form.columns)
    missing = []
    for c in wanted:
        src = _column(df, c, columns)
        if src is None:
            if c in form.optional_columns:
                X[c] = np.full(len(df), float(form.optional_columns[c]))
                continue
            missing.append(f"{c} (looked for column {columns.get(c, c)!r})")
            continue
        if c == "label":
            X[c] = df[src].to_numpy(dtype=object)
        else:
            X[c] = pd.to_numeric(df[src], errors="coerce").to_numpy(dtype=float)
    y = None
    if need_target:
        y = _target(df, form.target, columns, missing)
    if missing:
        raise MissingColumnError(
            f"law {form.name!r} needs {'; '.join(missing)}, which the data does not have; its columns are "
            f"{list(df.columns)}. Map yours with columns={{'N': 'your_params_column', ...}}."
        )
    for c in _NUMERIC_POSITIVE:
        if c in X:
            bad = ~(np.isfinite(X[c]) & (X[c] > 0))
            if bad.any():
                raise ValueError(
                    f"column {c!r} must be positive and finite; rows {np.flatnonzero(bad)[:10].tolist()} hold "
                    f"{X[c][bad][:5].tolist()}. Drop or fix those runs."
                )
    for c, v in X.items():
        if c != "label" and not np.all(np.isfinite(v)):
            bad = np.flatnonzero(~np.isfinite(v))
            raise ValueError(f"column {c!r} has non-finite values at rows {bad[:10].tolist()}; drop or fix those runs.")
    if y is not None:
        bad = ~(np.isfinite(y) & (y > 0))
        if bad.any():
            raise ValueError(
                f"target {form.target!r} must be finite and positive (it is fitted in log space); rows "
                f"{np.flatnonzero(bad)[:10].tolist()} hold {y[bad][:5].tolist()}. Drop those runs "
                "(diverged or NaN losses, non-positive PTQ deltas)."
            )
    return X, y


def _target(df: pd.DataFrame, target: str, columns: Mapping[str, str], missing: list[str]) -> np.ndarray | None:
    src = _column(df, target, columns)
    if src is not None:
        return pd.to_numeric(df[src], errors="coerce").to_numpy(dtype=float)
    # delta and loss_post can be derived from each other when the pre-quantisation loss is present.
    lo, lp = _column(df, "loss", columns), _column(df, "loss_post", columns)
    d = _column(df, "delta", columns)
    if target == "delta" and lo and lp:
        return (pd.to_numeric(df[lp]) - pd.to_numeric(df[lo])).to_numpy(dtype=float)
    if target == "loss_post" and lo and d:
        return (pd.to_numeric(df[lo]) + pd.to_numeric(df[d])).to_numpy(dtype=float)
    missing.append(f"{target} (the target; looked for column {columns.get(target, target)!r})")
    return None
