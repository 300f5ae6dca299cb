"""A law with concrete parameter values: a preset or the point estimate of a fit."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bitscale.laws.data import prepare
from bitscale.laws.forms import LawForm, get_law

__all__ = ["Law"]


@dataclass(frozen=True)
class Law:
    """A law form plus parameter values.

    Parameters
    ----------
    form : LawForm
        The equation (bound to the parameter set, e.g. the efficiency labels).
    params : mapping name -> float
        Values in natural units.
    name : str
        Preset name or ``"fit:<law>"``.
    source : str
        Where the numbers come from (paper and table, repository and commit, or the fitted data).
    notes : str
        Caveats (sign conventions, unlabelled constants).
    companions : mapping
        Related laws published with this one, e.g. the PTQ law beside ``kumar2024``.
    """

    form: LawForm
    params: Mapping[str, float]
    name: str = ""
    source: str = ""
    notes: str = ""
    companions: Mapping[str, Law] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = set(self.form.param_names) - set(self.params)
        if missing:
            raise ValueError(
                f"law {self.form.name!r} needs parameters {sorted(missing)}; got {sorted(self.params)}."
            )

    @classmethod
    def from_params(cls, law: str | LawForm, params: Mapping[str, float], **kw: str) -> Law:
        """Build from a registry name and parameter values (binds label-dependent forms)."""
        form = get_law(law).bind_params(list(params))
        return cls(form=form, params={k: float(v) for k, v in params.items()}, **kw)

    def predict(
        self,
        data: pd.DataFrame | str | Path | None = None,
        columns: Mapping[str, str] | None = None,
        **values: float | np.ndarray,
    ) -> np.ndarray:
        """Predicted target (loss, delta or loss after PTQ) for a table or for keyword arrays.

        ``law.predict(df)`` or ``law.predict(N=1e9, D=2e10, P_w=8, P_a=8, P_kv=8)``; keyword
        arrays broadcast against each other; returns ndarray (n,).
        """
        if data is None:
            arrays = np.broadcast_arrays(*[np.atleast_1d(np.asarray(v, dtype=object if k == "label" else float)) for k, v in values.items()])
            data = pd.DataFrame({k: a.ravel() for k, a in zip(values, arrays)})
        X, _ = prepare(self.form, data, columns, need_target=False)
        if self.form.domain is not None:
            problem = self.form.domain(self.params, X)
            if problem:
                raise ValueError(f"{self.name or self.form.name}: {problem}")
        return self.form.predict(self.params, X)

    def with_params(self, **updates: float) -> Law:
        """A copy with some parameter values replaced."""
        return Law(self.form, {**self.params, **updates}, self.name, self.source, self.notes, self.companions)
