"""Compute-optimal planning with a fitted or published law.

Given a training budget C, choose parameters N, tokens D and precision P to minimise the predicted
loss L(N, D, P) subject to cost(N, D, P) = C. Every cost model here is linear in N D:

    C = c(P) N D,

so D = C / (c(P) N) and the search runs over (log N, P). The default :class:`BitCost` is Kumar et al.
2024's §4.3 model c(P) = 6 P / 16 (FLOPs scale linearly with bits, 16 bits = the usual 6 N D).
:class:`HardwareCost` prices discrete formats by throughput: c(f) = 6 / speedup(f), i.e. compute
is measured in BF16-equivalent FLOPs (chip time x BF16 peak).

The law's precision inputs are set to P for the dimensions in ``dims`` (weights, activations and KV
cache by default) and 16 (unquantised) for the others; for ``eff-per-precision`` laws the format
label selects the efficiency.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from scipy.optimize import minimize_scalar

from bitscale.laws.fitting import FitResult
from bitscale.laws.forms import HIGH_PRECISION_BITS
from bitscale.laws.law import Law

__all__ = [
    "BitCost",
    "CostModel",
    "HardwareCost",
    "Plan",
    "PlanSweep",
    "critical_data",
    "loss_after_ptq",
    "plan",
    "plan_sweep",
]

_DIMS = ("w", "a", "kv")


class CostModel(Protocol):
    """C = cost_per_param_token(P) * N * D; ``formats`` lists discrete options (None: continuous P)."""

    name: str

    def cost_per_param_token(self, P: np.ndarray) -> np.ndarray: ...

    @property
    def formats(self) -> Mapping[str, float] | None: ...


@dataclass(frozen=True)
class BitCost:
    """c(P) = flops_per_param_token * P / reference_bits (Kumar et al. 2024, §4.3: C = (6/16) N D P).

    Continuous in P, bounded by ``P_min`` and ``P_max``.
    """

    flops_per_param_token: float = 6.0
    reference_bits: float = 16.0
    P_min: float = 1.0
    P_max: float = 16.0
    name: str = "bits (6/16 N D P)"

    def __post_init__(self) -> None:
        if not 0 < self.P_min < self.P_max:
            raise ValueError(f"BitCost: got P range ({self.P_min}, {self.P_max}); expected 0 < P_min < P_max.")

    def cost_per_param_token(self, P: np.ndarray) -> np.ndarray:
        return self.flops_per_param_token * np.asarray(P, dtype=float) / self.reference_bits

    @property
    def formats(self) -> None:
        return None


@dataclass(frozen=True)
class HardwareCost:
    """Discrete formats with a throughput each: c(f) = flops_per_param_token / speedup(f).

    Parameters
    ----------
    formats : mapping label -> (bits, speedup over BF16)
        E.g. ``{"16": (16, 1.0), "8": (8, 2.0), "4": (4, 4.0)}`` for a chip where FP8 runs at 2x
        and FP4 at 4x the BF16 rate. Labels are passed to label-based laws; bits to the others.
    """

    table: Mapping[str, tuple[float, float]] = field(
        default_factory=lambda: {"16": (16.0, 1.0), "8": (8.0, 2.0), "4": (4.0, 4.0)}
    )
    flops_per_param_token: float = 6.0
    name: str = "hardware throughput"

    def __post_init__(self) -> None:
        for k, (bits, speed) in self.table.items():
            if not (bits > 0 and speed > 0):
                raise ValueError(f"HardwareCost format {k!r}: got bits={bits}, speedup={speed}; both must be > 0.")

    def cost_per_param_token(self, P: np.ndarray) -> np.ndarray:
        speed = {float(b): s for b, s in self.table.values()}
        return np.array([self.flops_per_param_token / speed[float(p)] for p in np.atleast_1d(P)])

    @property
    def formats(self) -> dict[str, float]:
        return {k: float(b) for k, (b, _) in self.table.items()}

    def label_cost(self, label: str) -> float:
        return self.flops_per_param_token / self.table[label][1]


@dataclass(frozen=True)
class Plan:
    """A compute-optimal allocation.

    Attributes
    ----------
    N, D : float
        Parameters and tokens.
    P : float
        Training precision in bits (applied to ``dims``).
    label : str or None
        Format label for discrete plans.
    loss : float
        Predicted loss at (N, D, P).
    compute : float
        Budget C in the cost model's units (FLOPs, or BF16-equivalent FLOPs).
    """

    N: float
    D: float
    P: float
    loss: float
    compute: float
    label: str | None
    cost_model: str
    fixed_N: bool


@dataclass(frozen=True)
class PlanSweep:
    """Plans over a range of budgets, as arrays of shape (len(compute),)."""

    compute: np.ndarray
    N: np.ndarray
    D: np.ndarray
    P: np.ndarray
    loss: np.ndarray
    labels: tuple[str | None, ...]
    plans: tuple[Plan, ...] = field(repr=False)


def _as_law(law: Law | FitResult | str) -> Law:
    if isinstance(law, FitResult):
        return law.law
    if isinstance(law, str):
        from bitscale.laws.presets import preset

        return preset(law)
    return law


def _log_loss(law: Law, N: np.ndarray, D: np.ndarray, P: np.ndarray, label: str | None, dims: Sequence[str]) -> np.ndarray:
    """log L at broadcast (N, D, P), flattened to shape (n,)."""
    N, D, P = (np.ravel(a) for a in np.broadcast_arrays(N, D, P))
    X: dict[str, np.ndarray] = {"N": N, "D": D}
    for x in _DIMS:
        X["P_" + x] = P if x in dims else np.full_like(P, HIGH_PRECISION_BITS)
    if "label" in law.form.columns:
        if label is None:
            raise ValueError(
                f"law {law.form.name!r} predicts per format label; plan it with discrete formats, e.g. "
                "cost=HardwareCost({'16': (16, 1), '8': (8, 2), '4': (4, 4)})."
            )
        X["label"] = np.full(N.shape, label, dtype=object)
    for c in law.form.columns:
        if c not in X:
            raise ValueError(f"the planner cannot supply column {c!r} that law {law.form.name!r} reads.")
    X = law.form.encode(X)
    values = {k: np.array([v]) for k, v in law.params.items() if k in law.form.param_names}
    return law.form.evaluate_log(values, X)[0]


def _best_N(law: Law, C: float, c: float, P: float, label: str | None, dims: Sequence[str]) -> tuple[float, float]:
    """argmin over log N of log L(N, C/(c N), P): grid then bounded refinement. Returns (N, loss)."""
    hi = np.log(C / c)  # N D = C / c, keep both N and D >= ~1e2
    lo_n, hi_n = np.log(1e2), hi - np.log(1e2)
    if hi_n <= lo_n:
        raise ValueError(f"compute {C:g} is too small to allocate: C/c(P) = {C / c:g} parameter-tokens.")
    grid = np.linspace(lo_n, hi_n, 400)
    f = _log_loss(law, np.exp(grid), np.exp(hi - grid), np.full_like(grid, P), label, dims)
    i = int(np.nanargmin(f))
    a, b = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    res = minimize_scalar(
        lambda u: float(_log_loss(law, np.exp(u), np.exp(hi - u), P, label, dims)[0]),
        bounds=(a, b),
        method="bounded",
        options={"xatol": 1e-9},
    )
    u = res.x if res.fun <= f[i] else grid[i]
    return float(np.exp(u)), float(np.exp(min(res.fun, f[i])))


def plan(
    law: Law | FitResult | str,
    compute: float,
    *,
    cost: CostModel | None = None,
    precisions: Sequence[float] | None = None,
    N: float | None = None,
    dims: Sequence[str] = _DIMS,
) -> Plan:
    """Compute-optimal (N, D, P) for a budget.

    Parameters
    ----------
    law : Law, FitResult or preset name
    compute : float
        Budget C (> 0) in the cost model's units.
    cost : CostModel
        Default :class:`BitCost` (C = 6/16 N D P, continuous P in [1, 16]).
    precisions : sequence of float, optional
        Restrict P to these bit widths (discrete) under a continuous cost model.
    N : float, optional
        Fixed model size: only (D, P) are chosen (D = C / (c(P) N)).
    dims : subset of ("w", "a", "kv")
        Which precision inputs P drives; the others stay at 16 bits.

    Returns
    -------
    Plan
    """
    law = _as_law(law)
    if not (np.isfinite(compute) and compute > 0):
        raise ValueError(f"compute={compute!r}; expected a positive finite budget (FLOPs).")
    bad = set(dims) - set(_DIMS)
    if bad:
        raise ValueError(f"dims {sorted(bad)} unknown; expected a subset of {_DIMS}.")
    cost = cost or BitCost()
    if N is not None and not N > 0:
        raise ValueError(f"N={N!r}; expected a positive parameter count.")

    def at(P: float, c: float, label: str | None) -> tuple[float, float]:
        if N is None:
            return _best_N(law, compute, c, P, label, dims)
        return float(N), float(np.exp(_log_loss(law, N, compute / (c * N), P, label, dims)[0]))

    options: list[tuple[float, float, str | None]]
    if cost.formats is not None:
        options = [(b, cost.label_cost(lab), lab) for lab, b in cost.formats.items()]
    elif precisions is not None:
        options = [(float(p), float(cost.cost_per_param_token(p)), _bits_label(p)) for p in precisions]
    else:
        options = []
    if options:
        results = [(at(P, c, lab), P, c, lab) for P, c, lab in options]
        (n_opt, loss), P, c, lab = min(results, key=lambda r: r[0][1])
        return Plan(n_opt, compute / (c * n_opt), P, loss, compute, lab, cost.name, N is not None)

    # Continuous P: scan a grid of P, then refine P with a bounded scalar search.
    lo, hi = cost.P_min, cost.P_max  # type: ignore[attr-defined]
    Ps = np.linspace(lo, hi, int(round((hi - lo) / 0.1)) + 1)
    losses = _grid_losses(law, compute, cost, Ps, N, dims)
    i = int(np.nanargmin(losses))
    res = minimize_scalar(
        lambda P: at(P, float(cost.cost_per_param_token(P)), None)[1],
        bounds=(Ps[max(i - 1, 0)], Ps[min(i + 1, len(Ps) - 1)]),
        method="bounded",
        options={"xatol": 1e-6},
    )
    P = float(res.x) if res.fun <= losses[i] else float(Ps[i])
    c = float(cost.cost_per_param_token(P))
    n_opt, loss = at(P, c, None)
    return Plan(n_opt, compute / (c * n_opt), P, loss, compute, None, cost.name, N is not None)


def _grid_losses(
    law: Law, C: float, cost: CostModel, Ps: np.ndarray, N: float | None, dims: Sequence[str]
) -> np.ndarray:
    """Coarse minimum over N of the loss at each P, one vectorised evaluation of the (P, log N) grid."""
    c = np.asarray(cost.cost_per_param_token(Ps), dtype=float)
    hi = np.log(C / c)[:, None]  # (n_P, 1)
    if N is None:
        t = np.linspace(0.0, 1.0, 400)[None, :]
        u = np.log(1e2) + t * (hi - 2 * np.log(1e2))  # (n_P, 400) log N in [1e2, C/(c 1e2)]
    else:
        u = np.full((len(Ps), 1), np.log(N))
    P = np.broadcast_to(Ps[:, None], u.shape)
    f = _log_loss(law, np.exp(u), np.exp(hi - u), P, None, dims).reshape(u.shape)
    return np.exp(np.nanmin(f, axis=1))


def _bits_label(p: float) -> str:
    return str(int(p)) if float(p).is_integer() else str(p)


def plan_sweep(law: Law | FitResult | str, computes: Sequence[float], **kwargs) -> PlanSweep:
    """:func:`plan` at each budget (same keyword arguments); arrays of N*, D*, P*, loss*."""
    plans = tuple(plan(law, float(C), **kwargs) for C in computes)
    return PlanSweep(
        compute=np.array([p.compute for p in plans]),
        N=np.array([p.N for p in plans]),
        D=np.array([p.D for p in plans]),
        P=np.array([p.P for p in plans]),
        loss=np.array([p.loss for p in plans]),
        labels=tuple(p.label for p in plans),
        plans=plans,
    )


def _ptq_law(law: Law, ptq: Law | FitResult | None) -> Law | None:
    if ptq is not None:
        return _as_law(ptq)
    for c in law.companions.values():
        if c.form.target == "delta":
            return c
    return None


def loss_after_ptq(
    law: Law | FitResult | str,
    *,
    N: float | np.ndarray,
    D: float | np.ndarray,
    P_post: float | np.ndarray,
    P_train: float = HIGH_PRECISION_BITS,
    ptq: Law | FitResult | None = None,
) -> np.ndarray:
    """Predicted loss after post-training quantisation to ``P_post`` bits.

    L_post = L(N, D, P_train) + delta_PTQ(N, D, P_post), with delta from ``ptq`` (a ``kumar-ptq``
    law; default: the law's companion, e.g. ``kumar2024-ptq``). A ``kumar-unified`` law predicts
    L_post directly (its robustness factors use P_train).
    """
    law = _as_law(law)
    N, D, P_post = (np.asarray(a, dtype=float) for a in np.broadcast_arrays(N, D, P_post))
    P_tr = np.full(N.shape, float(P_train))
    cols = {"N": N.ravel(), "D": D.ravel(), "P_post": P_post.ravel(), "P_w": P_tr.ravel(), "P_a": P_tr.ravel(), "P_kv": P_tr.ravel()}
    if law.form.target == "loss_post":
        return law.form.predict(law.params, cols).reshape(N.shape)
    p = _ptq_law(law, ptq)
    if p is None:
        raise ValueError(
            f"law {law.name or law.form.name!r} predicts pre-quantisation loss only; pass ptq=<kumar-ptq law or fit> "
            "(e.g. laws.preset('kumar2024-ptq'))."
        )
    base = law.form.predict(law.params, {k: v for k, v in cols.items() if k in law.form.columns})
    delta = p.form.predict(p.params, {k: v for k, v in cols.items() if k in p.form.columns})
    return (base + delta).reshape(N.shape)


def critical_data(
    law: Law | FitResult | str,
    *,
    N: float,
    P_post: float,
    P_train: float = HIGH_PRECISION_BITS,
    ptq: Law | FitResult | None = None,
    D_range: tuple[float, float] = (1e6, 1e18),
) -> float:
    """D_crit: the token count that minimises the loss after PTQ to ``P_post`` at fixed N.

    Beyond D_crit more pretraining data makes the post-quantised model worse (Kumar et al. 2024,
    §3). For L = ... + B D^-beta and delta = C_T D^gamma_D N^-gamma_N e^(-P_post/gamma_post) the
    stationarity condition gives D_crit^(beta + gamma_D) = beta B N^gamma_N e^(P_post/gamma_post)
    / (gamma_D C_T); here it is found numerically (grid in log D, then bounded refinement), which
    also covers the unified law. Returns ``inf`` when the loss still falls at ``D_range[1]``.
    """
    lo, hi = np.log(D_range[0]), np.log(D_range[1])
    grid = np.linspace(lo, hi, 600)
    f = np.log(loss_after_ptq(law, N=N, D=np.exp(grid), P_post=P_post, P_train=P_train, ptq=ptq))
    i = int(np.argmin(f))
    if i == len(grid) - 1:
        return float("inf")
    res = minimize_scalar(
        lambda u: float(np.log(loss_after_ptq(law, N=N, D=np.exp(u), P_post=P_post, P_train=P_train, ptq=ptq))),
        bounds=(grid[max(i - 1, 0)], grid[i + 1]),
        method="bounded",
        options={"xatol": 1e-10},
    )
    return float(np.exp(res.x))
