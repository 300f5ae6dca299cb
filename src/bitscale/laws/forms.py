"""Law forms: the equations, their parameters, bounds and initialisation grids, and a registry.

A :class:`LawForm` is a vectorised function ``log_fn(p, X) -> log prediction`` plus a tuple of
:class:`Param` (bounds, whether the parameter is optimised in log space, grid of starting values).
Vectorisation contract: every parameter value in ``p`` is an array of shape ``(G, 1)`` (G candidate
parameter vectors) and every data column in ``X`` has shape ``(n,)``; the result broadcasts to
``(G, n)``. For a parameter declared ``log=True`` the mapping also holds ``"log_<name>"`` (the
optimised coordinate), so the built-in laws compute in log-sum-exp form without ``log(exp(.))``.

Built-in forms (names in the registry):

* ``chinchilla``: L = E + A N^-alpha + B D^-beta (Hoffmann et al. 2022, Eq. 2).
* ``kumar-neff``: L = A N_eff^-alpha + B D^-beta + E, N_eff = N prod_x (1 - exp(-(P_x/gamma_x - n_x))),
  x in {w, a, kv}; a factor is 1 where P_x >= 16 (Kumar et al. 2024, Eq. 3-4).
* ``kumar-ptq``: delta_PTQ = C_T D^gamma_D N^-gamma_N exp(-P_post/gamma_post) (Kumar et al. 2024, Eq. 2).
* ``kumar-unified``: L_post = L_kumar-neff + C_T D^gamma_D N_eff^-gamma_N exp(-P_post/gamma_post)
  prod_x (1 - exp(-C_x (P_x - P_post))) (Kumar et al. 2024, Eq. 9/11); a factor is 1 where P_x >= 16
  and 0 where P_x <= P_post.
* ``eff-per-precision``: L = A (N eff(label))^-alpha + B D^-beta + E, one efficiency per distinct
  precision label, the full-precision label pinned at 1 (Panferov et al. 2025, QuEST).
* ``sun-fp``: L = n N^-alpha + d D^-beta + eps + (D^beta / N^alpha) log2(block) /
  (gamma (exp_bits + 0.5)^delta (man_bits + 0.5)^nu) (Sun et al. 2025, "Scaling Laws for
  Floating-Point Quantization Training", Eq. in Table 2).

Users add their own with :func:`register_law` (a plain function of natural-unit parameters plus
bounds).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

__all__ = [
    "FULL_PRECISION_LABELS",
    "HIGH_PRECISION_BITS",
    "LawForm",
    "Param",
    "available_laws",
    "get_law",
    "normalize_label",
    "register_law",
]

#: Bits at or above which a precision factor is exactly 1 (Kumar et al. treat 16-bit as unquantised).
HIGH_PRECISION_BITS = 16.0
#: Labels recognised as "full precision" by ``eff-per-precision`` (efficiency pinned at 1).
FULL_PRECISION_LABELS = ("16", "bf16", "fp16", "32", "fp32", "full")
#: Floor for a precision factor: keeps log finite when a trial parameter vector makes N_eff <= 0.
_FACTOR_FLOOR = 1e-12

Arrays = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class Param:
    """One law parameter.

    Parameters
    ----------
    name : str
        Name used in ``fit.params``.
    lower, upper : float
        Bounds in natural units (both > 0 when ``log`` is true).
    log : bool
        Optimise ``log(value)`` instead of the value (scale constants: A, B, E, C_T, ...).
    grid : tuple of float
        Starting values in natural units for the initialisation grid.
    """

    name: str
    lower: float
    upper: float
    log: bool = False
    grid: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if not self.lower < self.upper:
            raise ValueError(
                f"Param {self.name!r}: got bounds ({self.lower}, {self.upper}); expected lower < upper."
            )
        if self.log and self.lower <= 0:
            raise ValueError(
                f"Param {self.name!r} is optimised in log space but its lower bound is {self.lower}; "
                "expected a positive lower bound (or log=False)."
            )

    def to_raw(self, value: float | np.ndarray) -> np.ndarray:
        """Natural value -> optimiser coordinate."""
        v = np.asarray(value, dtype=float)
        return np.log(v) if self.log else v

    def from_raw(self, raw: float | np.ndarray) -> np.ndarray:
        """Optimiser coordinate -> natural value."""
        r = np.asarray(raw, dtype=float)
        return np.exp(r) if self.log else r

    @property
    def raw_bounds(self) -> tuple[float, float]:
        """Bounds in optimiser coordinates."""
        if self.log:
            return (math.log(self.lower), math.log(self.upper))
        return (self.lower, self.upper)

    @property
    def start_values(self) -> tuple[float, ...]:
        """Grid of starting values; the geometric/arithmetic midpoint when none was given."""
        if self.grid:
            return self.grid
        if self.log:
            return (math.sqrt(self.lower * self.upper),)
        return (0.5 * (self.lower + self.upper),)


@dataclass(frozen=True)
class LawForm:
    """A law: its parameters, the data columns it reads and a vectorised log-prediction.

    Parameters
    ----------
    name : str
        Registry name.
    params : tuple of Param
        Parameters in a fixed order.
    columns : tuple of str
        Canonical data columns the law reads (besides the target).
    log_fn : callable
        ``log_fn(p, X) -> log(prediction)``, shapes as in the module docstring.
    target : str
        Canonical name of the predicted column (``loss``, ``delta`` or ``loss_post``).
    optional_columns : dict
        Columns that may be absent, with the value assumed then (e.g. P_kv = 16: unquantised).
    equation, reference : str
        Human-readable formula and citation.
    binder : callable, optional
        ``binder(form, X) -> LawForm`` specialising the form to a data set (e.g. one efficiency per
        label). ``None`` means the form is used as is.
    domain : callable, optional
        ``domain(params, X) -> message or None``: where the law is undefined for these inputs
        (checked by :meth:`Law.predict`, not inside the optimiser).
    linear, basis : optional
        When the prediction is ``sum_j c_j * basis_j(p, X)`` with ``c_j`` = parameter ``linear[j]``
        (positive scale constants), the fitter's initialisation grid covers only the other
        parameters and solves for the ``c_j`` by weighted linear least squares at each grid point
        (variable projection), which makes the starts land near the optimum.
    inactive : callable, optional
        ``inactive(X) -> set of parameter names`` that the data cannot identify (e.g. gamma_kv when
        every P_kv >= 16); the fitter fixes them at their start value and says so.
    """

    name: str
    params: tuple[Param, ...]
    columns: tuple[str, ...]
    log_fn: Callable[[dict, Arrays], np.ndarray]
    target: str = "loss"
    optional_columns: Mapping[str, float] = field(default_factory=dict)
    equation: str = ""
    reference: str = ""
    binder: Callable[[LawForm, Arrays], LawForm] | None = None
    inactive: Callable[[Arrays], set[str]] | None = None
    encoder: Callable[[Arrays], dict] | None = None
    default_method: str = "lbfgsb"
    linear: tuple[str, ...] = ()
    basis: Callable[[dict, Arrays], list[np.ndarray]] | None = None
    domain: Callable[[Mapping[str, float], Arrays], str | None] | None = None

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"law {self.name!r} has no parameter {name!r}; it has {self.param_names}.")

    def bind(self, X: Arrays) -> LawForm:
        """Specialise the form to data ``X`` (identity for most laws)."""
        return self.binder(self, X) if self.binder is not None else self

    def bind_params(self, names: Sequence[str]) -> LawForm:
        """Specialise the form to a known parameter set (used by presets and saved fits)."""
        if self.binder is None:
            return self
        labels = [n[4:-1] for n in names if n.startswith("eff[")]
        return _eff_with_labels(self, labels)

    def encode(self, X: Arrays) -> dict:
        """Precompute derived columns once (e.g. label -> integer code); identity for most laws."""
        return self.encoder(X) if self.encoder is not None else dict(X)

    def evaluate_log(self, values: Mapping[str, np.ndarray], X: Arrays) -> np.ndarray:
        """log prediction for G parameter vectors at once.

        Parameters
        ----------
        values : mapping name -> array (G,) in natural units
        X : mapping column -> array (n,)

        Returns
        -------
        ndarray (G, n)
        """
        p = self.param_arrays(values)
        out = self.log_fn(p, X)
        return np.broadcast_to(out, (p[self.params[0].name].shape[0], _n_rows(X)))

    def param_arrays(self, values: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """name -> (G, 1) arrays, plus ``log_<name>`` for log-space parameters."""
        p: dict[str, np.ndarray] = {}
        for prm in self.params:
            v = np.asarray(values[prm.name], dtype=float).reshape(-1, 1)
            p[prm.name] = v
            if prm.log:
                with np.errstate(divide="ignore"):
                    p["log_" + prm.name] = np.log(v)
        return p

    def predict(self, params: Mapping[str, float], X: Arrays) -> np.ndarray:
        """Prediction (natural units) for one parameter set, shape (n,)."""
        values = {k: np.array([params[k]]) for k in self.param_names}
        return np.exp(self.evaluate_log(values, self.encode(X))[0])


def _n_rows(X: Arrays) -> int:
    for v in X.values():
        return int(np.shape(v)[0])
    return 0


def _lse(*terms: np.ndarray) -> np.ndarray:
    """log(sum(exp(t))) over the given broadcastable terms (stable)."""
    out = terms[0]
    for t in terms[1:]:
        out = np.logaddexp(out, t)
    return out


# --------------------------------------------------------------------------------------------------
# chinchilla
# --------------------------------------------------------------------------------------------------

_CHINCHILLA_PARAMS = (
    # Grid = the Chinchilla replication's grid (Besiroglu et al. 2024, data_analysis.ipynb).
    Param("A", math.exp(-10), math.exp(40), log=True, grid=tuple(math.exp(v) for v in (0, 5, 10, 15, 20, 25))),
    Param("B", math.exp(-10), math.exp(40), log=True, grid=tuple(math.exp(v) for v in (0, 5, 10, 15, 20, 25))),
    Param("E", math.exp(-10), math.exp(3), log=True, grid=tuple(math.exp(v) for v in (-1, -0.5, 0, 0.5, 1))),
    Param("alpha", 0.0, 3.0, grid=(0.0, 0.5, 1.0, 1.5, 2.0)),
    Param("beta", 0.0, 3.0, grid=(0.0, 0.5, 1.0, 1.5, 2.0)),
)


def _chinchilla_log(p: dict, X: Arrays) -> np.ndarray:
    # log L = LSE(a - alpha log N, b - beta log D, e)
    return _lse(p["log_A"] - p["alpha"] * np.log(X["N"]), p["log_B"] - p["beta"] * np.log(X["D"]), p["log_E"])


def _chinchilla_basis(p: dict, X: Arrays) -> list[np.ndarray]:
    return [np.exp(-p["alpha"] * np.log(X["N"])), np.exp(-p["beta"] * np.log(X["D"])), np.ones_like(p["alpha"])]


CHINCHILLA = LawForm(
    name="chinchilla",
    linear=("A", "B", "E"),
    basis=_chinchilla_basis,
    params=_CHINCHILLA_PARAMS,
    columns=("N", "D"),
    log_fn=_chinchilla_log,
    equation="L = E + A N^-alpha + B D^-beta",
    reference="Hoffmann et al. 2022, 'Training Compute-Optimal LLMs', Eq. 2",
)

# --------------------------------------------------------------------------------------------------
# kumar-neff
# --------------------------------------------------------------------------------------------------

_DIMS = ("w", "a", "kv")


def _log_precision_factor(P: np.ndarray, gamma: np.ndarray, n: np.ndarray) -> np.ndarray:
    """log(1 - exp(-(P/gamma - n))) where P < 16, else 0; floored so that log stays finite."""
    z = P / gamma - n
    f = -np.expm1(-z)
    f = np.where(P >= HIGH_PRECISION_BITS, 1.0, np.maximum(f, _FACTOR_FLOOR))
    return np.log(f)


def _log_neff(p: dict, X: Arrays) -> np.ndarray:
    out = np.log(X["N"])
    for x in _DIMS:
        out = out + _log_precision_factor(X["P_" + x], p["gamma_" + x], p["n_" + x])
    return out


def _kumar_neff_log(p: dict, X: Arrays) -> np.ndarray:
    return _lse(p["log_A"] - p["alpha"] * _log_neff(p, X), p["log_B"] - p["beta"] * np.log(X["D"]), p["log_E"])


def _kumar_domain(params: Mapping[str, float], X: Arrays) -> str | None:
    """N_eff must stay positive: P_x / gamma_x > n_x wherever P_x < 16."""
    for x in _DIMS:
        P = np.asarray(X["P_" + x], dtype=float)
        g, n = params["gamma_" + x], params["n_" + x]
        bad = (P < HIGH_PRECISION_BITS) & (P / g - n <= 0)
        if bad.any():
            return (
                f"P_{x} = {sorted(set(P[bad].tolist()))} bits is outside this law's domain: the factor "
                f"1 - exp(-(P/gamma_{x} - n_{x})) needs P_{x} > gamma_{x} * n_{x} = {g * n:.3g} bits "
                "(N_eff would be <= 0). Predict at higher precision or refit with smaller offsets."
            )
    return None


def _kumar_inactive(X: Arrays) -> set[str]:
    # A dimension whose every run is at >= 16 bits has factor 1: its gamma and n are not identified.
    out: set[str] = set()
    for x in _DIMS:
        if np.all(np.asarray(X["P_" + x]) >= HIGH_PRECISION_BITS):
            out |= {"gamma_" + x, "n_" + x}
    return out


_KUMAR_BASE_PARAMS = (
    Param("A", math.exp(-10), math.exp(40), log=True, grid=tuple(math.exp(v) for v in (0, 5, 10, 15))),
    Param("B", math.exp(-10), math.exp(40), log=True, grid=tuple(math.exp(v) for v in (0, 5, 10, 15))),
    Param("E", math.exp(-10), math.exp(3), log=True, grid=tuple(math.exp(v) for v in (-1, 0, 1))),
    Param("alpha", 0.0, 3.0, grid=(0.25, 0.5)),
    Param("beta", 0.0, 3.0, grid=(0.25, 0.5)),
)
_KUMAR_PREC_PARAMS = tuple(
    q
    for x in _DIMS
    for q in (Param("gamma_" + x, 0.05, 20.0, grid=(1.0, 2.5)), Param("n_" + x, -5.0, 10.0, grid=(0.0, 1.0)))
)

def _kumar_basis(p: dict, X: Arrays) -> list[np.ndarray]:
    return [np.exp(-p["alpha"] * _log_neff(p, X)), np.exp(-p["beta"] * np.log(X["D"])), np.ones_like(p["alpha"])]


KUMAR_NEFF = LawForm(
    name="kumar-neff",
    linear=("A", "B", "E"),
    basis=_kumar_basis,
    params=_KUMAR_BASE_PARAMS + _KUMAR_PREC_PARAMS,
    columns=("N", "D", "P_w", "P_a", "P_kv"),
    optional_columns={"P_w": HIGH_PRECISION_BITS, "P_a": HIGH_PRECISION_BITS, "P_kv": HIGH_PRECISION_BITS},
    log_fn=_kumar_neff_log,
    inactive=_kumar_inactive,
    domain=_kumar_domain,
    equation="L = A N_eff^-alpha + B D^-beta + E;  N_eff = N prod_x (1 - exp(-(P_x/gamma_x - n_x))), x in w,a,kv",
    reference="Kumar et al. 2024, 'Scaling Laws for Precision', arXiv 2411.04330, Eq. 3-4",
)

# --------------------------------------------------------------------------------------------------
# kumar-ptq and kumar-unified
# --------------------------------------------------------------------------------------------------

_PTQ_PARAMS = (
    Param("C_T", 1e-8, 1e6, log=True, grid=(1e-3, 1e-1, 10.0)),
    Param("gamma_D", 0.0, 3.0, grid=(0.25, 0.5, 1.0)),
    Param("gamma_N", 0.0, 3.0, grid=(0.25, 0.5, 1.0)),
    Param("gamma_post", 0.05, 20.0, grid=(0.5, 1.0, 2.0)),
)


def _log_ptq(p: dict, log_N: np.ndarray, X: Arrays) -> np.ndarray:
    return p["log_C_T"] + p["gamma_D"] * np.log(X["D"]) - p["gamma_N"] * log_N - X["P_post"] / p["gamma_post"]


def _kumar_ptq_log(p: dict, X: Arrays) -> np.ndarray:
    return _log_ptq(p, np.log(X["N"]), X)


KUMAR_PTQ = LawForm(
    name="kumar-ptq",
    params=_PTQ_PARAMS,
    columns=("N", "D", "P_post"),
    target="delta",
    log_fn=_kumar_ptq_log,
    equation="delta_PTQ = C_T D^gamma_D N^-gamma_N exp(-P_post/gamma_post)",
    reference="Kumar et al. 2024, 'Scaling Laws for Precision', arXiv 2411.04330, Eq. 2",
)


def _log_robustness(p: dict, X: Arrays) -> np.ndarray:
    """log prod_x (1 - exp(-C_x (P_x - P_post))); 0 where P_x >= 16, -inf where P_x <= P_post."""
    out = 0.0
    for x in _DIMS:
        gap = X["P_" + x] - X["P_post"]
        f = -np.expm1(-p["C_" + x] * gap)
        with np.errstate(divide="ignore"):
            lf = np.where(X["P_" + x] >= HIGH_PRECISION_BITS, 0.0, np.where(gap > 0, np.log(np.maximum(f, 1e-300)), -np.inf))
        out = out + lf
    return out


def _kumar_unified_log(p: dict, X: Arrays) -> np.ndarray:
    log_neff = _log_neff(p, X)
    base = _lse(p["log_A"] - p["alpha"] * log_neff, p["log_B"] - p["beta"] * np.log(X["D"]), p["log_E"])
    ptq = _log_ptq(p, log_neff, X) + _log_robustness(p, X)
    return np.logaddexp(base, ptq)


def _unified_inactive(X: Arrays) -> set[str]:
    out = _kumar_inactive(X)
    for x in _DIMS:
        if np.all(np.asarray(X["P_" + x]) >= HIGH_PRECISION_BITS):
            out.add("C_" + x)
    return out


KUMAR_UNIFIED = LawForm(
    name="kumar-unified",
    params=_KUMAR_BASE_PARAMS
    + _KUMAR_PREC_PARAMS
    + _PTQ_PARAMS
    + tuple(Param("C_" + x, 1e-3, 100.0, log=True, grid=(1.0,)) for x in _DIMS),
    columns=("N", "D", "P_w", "P_a", "P_kv", "P_post"),
    optional_columns={"P_w": HIGH_PRECISION_BITS, "P_a": HIGH_PRECISION_BITS, "P_kv": HIGH_PRECISION_BITS},
    target="loss_post",
    log_fn=_kumar_unified_log,
    inactive=_unified_inactive,
    domain=_kumar_domain,
    equation=(
        "L_post = A N_eff^-alpha + B D^-beta + E + C_T D^gamma_D N_eff^-gamma_N exp(-P_post/gamma_post) "
        "prod_x (1 - exp(-C_x (P_x - P_post)))"
    ),
    reference="Kumar et al. 2024, 'Scaling Laws for Precision', arXiv 2411.04330, Eq. 9 and 11",
)

# --------------------------------------------------------------------------------------------------
# eff-per-precision (QuEST)
# --------------------------------------------------------------------------------------------------


def normalize_label(value: object) -> str:
    """A precision label as a string: 4, 4.0 and "4" all become "4"; "BF16" becomes "bf16"."""
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    s = str(value).strip()
    try:
        f = float(s)
    except ValueError:
        return s.lower() if s.lower() in FULL_PRECISION_LABELS else s
    return str(int(f)) if f.is_integer() else s


def _eff_param(label: str) -> Param:
    return Param(f"eff[{label}]", 1e-4, 4.0, log=True, grid=(0.5,))


def _eff_log_factory(labels: tuple[str, ...]) -> tuple[Callable, Callable]:
    def log_fn(p: dict, X: Arrays) -> np.ndarray:
        return _lse(p["log_A"] - p["alpha"] * log_neff(p, X), p["log_B"] - p["beta"] * np.log(X["D"]), p["log_E"])

    def log_neff(p: dict, X: Arrays) -> np.ndarray:
        codes = X["label_code"].astype(int)  # index into (full precision, *labels)
        # (G, 1 + L): log efficiency per label, full precision first at log 1 = 0
        G = p["alpha"].shape[0]
        table = np.concatenate([np.zeros((G, 1))] + [p[f"log_eff[{lab}]"] for lab in labels], axis=1)
        return np.log(X["N"]) + table[:, codes]

    def basis(p: dict, X: Arrays) -> list[np.ndarray]:
        return [np.exp(-p["alpha"] * log_neff(p, X)), np.exp(-p["beta"] * np.log(X["D"])), np.ones_like(p["alpha"])]

    return log_fn, basis


def _eff_with_labels(form: LawForm, labels: Sequence[str]) -> LawForm:
    labels = tuple(dict.fromkeys(lab for lab in labels if lab not in FULL_PRECISION_LABELS))
    index = {lab: i + 1 for i, lab in enumerate(labels)} | {lab: 0 for lab in FULL_PRECISION_LABELS}

    def encoder(X: Arrays) -> dict:
        out = dict(X)
        if "label_code" in out:
            return out
        raw = [normalize_label(v) for v in np.asarray(X["label"], dtype=object)]
        unknown = sorted(set(raw) - set(index))
        if unknown:
            raise ValueError(
                f"precision labels {unknown} have no fitted efficiency; this law knows {list(labels)} "
                f"plus full precision {list(FULL_PRECISION_LABELS)}. Fit on data that contains them."
            )
        out["label_code"] = np.array([index[r] for r in raw], dtype=np.int64)
        return out

    log_fn, basis = _eff_log_factory(labels)
    return replace(
        form,
        params=form.params[:5] + tuple(_eff_param(lab) for lab in labels),
        log_fn=log_fn,
        basis=basis,
        binder=None,
        encoder=encoder,
    )


def _eff_binder(form: LawForm, X: Arrays) -> LawForm:
    raw = sorted({normalize_label(v) for v in np.asarray(X["label"], dtype=object)}, key=_label_order)
    if not set(raw) & set(FULL_PRECISION_LABELS):
        raise ValueError(
            f"eff-per-precision pins the full-precision efficiency at 1, but the labels {raw} contain no "
            f"full-precision run; expected one of {list(FULL_PRECISION_LABELS)}. Add baseline runs or relabel them."
        )
    return _eff_with_labels(form, raw)


def _label_order(label: str) -> tuple[int, float, str]:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def _eff_unbound(p: dict, X: Arrays) -> np.ndarray:
    raise RuntimeError("eff-per-precision must be bound to data or to a parameter set before evaluation")


EFF_PER_PRECISION = LawForm(
    name="eff-per-precision",
    params=_CHINCHILLA_PARAMS[:3] + (Param("alpha", 0.0, 3.0, grid=(0.1, 0.3, 0.6)), Param("beta", 0.0, 3.0, grid=(0.1, 0.3, 0.6))),
    columns=("N", "D", "label"),
    log_fn=_eff_unbound,
    binder=_eff_binder,
    default_method="trf",
    linear=("A", "B", "E"),
    equation="L = A (N eff(label))^-alpha + B D^-beta + E;  eff(full precision) = 1",
    reference="Panferov et al. 2025, 'QuEST: Stable Training of LLMs with 1-Bit Weights and Activations'",
)

# --------------------------------------------------------------------------------------------------
# sun-fp
# --------------------------------------------------------------------------------------------------


def _sun_log(p: dict, X: Arrays) -> np.ndarray:
    log_N, log_D = np.log(X["N"]), np.log(X["D"])
    with np.errstate(divide="ignore"):
        log_log2_block = np.log(np.log2(X["block"]))  # block = 1 -> -inf -> the term vanishes
    quant = (
        p["beta"] * log_D
        - p["alpha"] * log_N
        + log_log2_block
        - p["log_gamma"]
        - p["delta"] * np.log(X["exp_bits"] + 0.5)
        - p["nu"] * np.log(X["man_bits"] + 0.5)
    )
    return _lse(p["log_n"] - p["alpha"] * log_N, p["log_d"] - p["beta"] * log_D, p["log_eps"], quant)


def _sun_basis(p: dict, X: Arrays) -> list[np.ndarray]:
    nN, dD = np.exp(-p["alpha"] * np.log(X["N"])), np.exp(-p["beta"] * np.log(X["D"]))
    q = np.log2(X["block"]) / ((X["exp_bits"] + 0.5) ** p["delta"] * (X["man_bits"] + 0.5) ** p["nu"])
    return [nN, dD, np.ones_like(p["alpha"]), nN / dD * q]


SUN_FP = LawForm(
    name="sun-fp",
    linear=("n", "d", "eps", "1/gamma"),
    basis=_sun_basis,
    params=(
        Param("n", math.exp(-10), math.exp(40), log=True, grid=tuple(math.exp(v) for v in (0, 5, 10))),
        Param("alpha", 0.0, 3.0, grid=(0.25, 0.5)),
        Param("d", math.exp(-10), math.exp(40), log=True, grid=tuple(math.exp(v) for v in (0, 5, 10, 15))),
        Param("beta", 0.0, 3.0, grid=(0.25, 0.5)),
        Param("eps", math.exp(-10), math.exp(3), log=True, grid=tuple(math.exp(v) for v in (-1, 0, 1))),
        Param("gamma", 1e-6, 1e12, log=True, grid=(1e2, 1e4, 1e6)),
        Param("delta", 0.0, 10.0, grid=(1.0, 3.0)),
        Param("nu", 0.0, 10.0, grid=(1.0, 3.0)),
    ),
    columns=("N", "D", "exp_bits", "man_bits", "block"),
    log_fn=_sun_log,
    equation="L = n N^-alpha + d D^-beta + eps + (D^beta/N^alpha) log2(block) / (gamma (E+0.5)^delta (M+0.5)^nu)",
    reference="Sun et al. 2025, 'Scaling Laws for Floating-Point Quantization Training', arXiv 2501.02423, Table 2",
)

# --------------------------------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------------------------------

_REGISTRY: dict[str, LawForm] = {
    f.name: f for f in (CHINCHILLA, KUMAR_NEFF, KUMAR_PTQ, KUMAR_UNIFIED, EFF_PER_PRECISION, SUN_FP)
}


def available_laws() -> tuple[str, ...]:
    """Names of the registered law forms."""
    return tuple(_REGISTRY)


def get_law(name: str | LawForm) -> LawForm:
    """Look up a law form by name (a :class:`LawForm` is returned unchanged)."""
    if isinstance(name, LawForm):
        return name
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(
            f"unknown law {name!r}; expected one of {sorted(_REGISTRY)}. "
            "Register your own with bitscale.laws.register_law(name, fn, bounds=...)."
        ) from None


def register_law(
    name: str,
    fn: Callable[[Mapping[str, np.ndarray], Mapping[str, np.ndarray]], np.ndarray],
    bounds: Mapping[str, tuple[float, float]],
    *,
    columns: Sequence[str] = ("N", "D"),
    log_params: Sequence[str] = (),
    grid: Mapping[str, Sequence[float]] | None = None,
    target: str = "loss",
    equation: str = "",
    reference: str = "",
    overwrite: bool = False,
) -> LawForm:
    """Register a user law given as a plain function of natural-unit parameters.

    Parameters
    ----------
    name : str
        Registry name.
    fn : callable
        ``fn(p, X) -> prediction`` (positive). ``p[name]`` has shape (G, 1), ``X[col]`` shape (n,);
        write it with numpy broadcasting so G parameter vectors are evaluated at once.
    bounds : mapping name -> (lower, upper)
        One entry per parameter; its order is the parameter order.
    columns : sequence of str
        Canonical data columns ``fn`` reads (``N``, ``D``, ``P_w``, ``label``, ...).
    log_params : sequence of str
        Parameters optimised in log space (positive scale constants).
    grid : mapping name -> starting values, optional
        Initialisation grid; parameters without one start at the midpoint of their bounds.
    target : str
        Column the law predicts (``loss`` by default).

    Returns
    -------
    LawForm
    """
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"a law named {name!r} is already registered; pass overwrite=True to replace it.")
    grid = dict(grid or {})
    unknown = (set(log_params) | set(grid)) - set(bounds)
    if unknown:
        raise ValueError(f"log_params/grid name parameters {sorted(unknown)} that are not in bounds {list(bounds)}.")
    params = tuple(
        Param(k, float(lo), float(hi), log=k in log_params, grid=tuple(float(g) for g in grid.get(k, ())))
        for k, (lo, hi) in bounds.items()
    )

    def log_fn(p: dict, X: Arrays) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(fn({k: p[k] for k in bounds}, X))

    form = LawForm(
        name=name,
        params=params,
        columns=tuple(columns),
        log_fn=log_fn,
        target=target,
        equation=equation,
        reference=reference or "user-registered",
    )
    _REGISTRY[name] = form
    return form


def unregister_law(name: str) -> None:
    """Remove a user-registered law (built-ins cannot be removed)."""
    if name in {"chinchilla", "kumar-neff", "kumar-ptq", "kumar-unified", "eff-per-precision", "sun-fp"}:
        raise ValueError(f"{name!r} is built in and cannot be unregistered.")
    _REGISTRY.pop(name, None)
