"""Published law constants (``presets.json``, each entry with its source) and comparisons with fits."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from bitscale.laws.data import prepare
from bitscale.laws.fitting import FitResult
from bitscale.laws.law import Law

__all__ = ["Comparison", "available_presets", "compare", "preset"]


@lru_cache(maxsize=1)
def _table() -> dict:
    text = resources.files("bitscale.laws").joinpath("presets.json").read_text()
    return {k: v for k, v in json.loads(text).items() if not k.startswith("_")}


def available_presets() -> tuple[str, ...]:
    """Names of the packaged presets."""
    return tuple(_table())


def preset(name: str) -> Law:
    """A published law as a :class:`Law` (``law.source`` names paper/table or repository).

    ``preset("kumar2024").companions["kumar2024-ptq"]`` is the PTQ law published beside it.
    """
    table = _table()
    if name not in table:
        raise KeyError(f"unknown preset {name!r}; expected one of {sorted(table)}.")
    e = table[name]
    companions = {c: preset(c) for c in e.get("companions", ())}
    return Law.from_params(e["law"], e["params"], name=name, source=e["source"], notes=e.get("notes", ""), companions=companions)


@dataclass(frozen=True)
class Comparison:
    """A fit (or law) set beside another law.

    Attributes
    ----------
    rows : tuple of (name, value, reference, ratio, inside_ci)
        One per shared parameter; ``inside_ci`` is None when the first argument has no bootstrap.
    rmsle, rmsle_reference : float or None
        RMS log residual of each law on ``data`` (None without data).
    """

    name: str
    reference_name: str
    rows: tuple[tuple[str, float, float, float, bool | None], ...]
    rmsle: float | None = None
    rmsle_reference: float | None = None

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["param", self.name, self.reference_name, "ratio", "inside_ci"])


def compare(
    fitted: FitResult | Law,
    reference: Law | str,
    data: pd.DataFrame | str | Path | None = None,
    columns: Mapping[str, str] | None = None,
) -> Comparison:
    """Compare parameters (and, given data, RMS log residuals) of a fit with a preset or another law.

    Parameters are compared where both laws have them (ratio = value / reference). When ``fitted``
    carries bootstrap intervals, ``inside_ci`` says whether the reference value lies inside.
    """
    ref = preset(reference) if isinstance(reference, str) else reference
    law = fitted.law if isinstance(fitted, FitResult) else fitted
    ci = fitted.ci if isinstance(fitted, FitResult) else None
    rows = []
    for k, v in law.params.items():
        if k in ref.params:
            r = float(ref.params[k])
            inside = None if ci is None else bool(ci[k][0] <= r <= ci[k][1])
            rows.append((k, float(v), r, float(v) / r if r != 0 else float("nan"), inside))
    rm = rm_ref = None
    if data is not None:
        cols = columns if columns is not None else (fitted.columns if isinstance(fitted, FitResult) else None)
        rm = _rmsle(law, data, cols)
        rm_ref = _rmsle(ref, data, cols)
    return Comparison(law.name or law.form.name, ref.name or ref.form.name, tuple(rows), rm, rm_ref)


def _rmsle(law: Law, data: pd.DataFrame | str | Path, columns: Mapping[str, str] | None) -> float:
    X, y = prepare(law.form, data, columns)
    r = np.log(y) - np.log(law.form.predict(law.params, X))
    return float(np.sqrt(np.mean(r * r)))
