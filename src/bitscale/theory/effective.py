"""Effective sizes: (M_eff, N_eff, E_add) of a quantized setting against full precision.

Definition (theory.md, "Effective sizes"). For one quantization setting (scheme, place, eps) and a
grid of model sizes ``M_i`` and sample counts ``N_j``, the exact engine gives the quantized risk
``R_q(M_i, N_j)`` and the full-precision surface ``R_fp(M, N)`` (same sketch family, nested in
``M``, same schedule). We fit, by least squares in log risk,

    log R_q(M_i, N_j)  ~  log( R_fp(M_eff,i, rho * N_j) + E_add ),

with one ``M_eff,i <= M_i`` per model size, one data ratio ``rho = N_eff / N <= 1`` and one
``E_add >= 0`` **shared by the whole (M, N) grid** (it belongs to the setting, not to a model
size). ``R_fp`` between grid points is bilinear in ``(log M, log N, log R)`` on a fine grid
(half octaves in ``M`` down to 2, quarter octaves in ``N`` down to ``N_min / 256``). Fit quality is the
root-mean-square and the largest absolute log residual (0.01 is a 1% misfit).

Sharing ``E_add`` separates the two effects: at large ``N`` both schemes flatten, but the
multiplicative plateau keeps falling with ``M`` by the full-precision approximation term plus a
constant (``M_eff = M``), while the additive plateau stops falling once ``M`` passes
``eps^(-1/a)`` (``M_eff`` saturates).

Step size (``reference``): a setting whose noise raises the effective trace
(:func:`~bitscale.theory.exact.effective_trace`, e.g. additive data noise adds ``M eps``) must run
at a smaller step; the whole ``M`` grid runs at one step, the largest every ``M`` of the grid runs
stably at (``min_M lr * tr(Sigma) / tr_eff``, capped at ``lr``). ``reference="tuned"`` (default)
compares with the full-precision surface at its own step ``lr``, the comparison a practitioner
makes, so the step the noise forces down shows up in ``N_eff``; ``reference="same-step"`` runs the
full-precision surface at the quantized step too, isolating what the noise does at a fixed step.

Identifiability. ``E_add`` is pinned by the grid only where ``R_q`` falls with ``M`` unlike any
``R_fp(M_eff, .)``: multiplicative noise (``M_eff = M``, plateau shifted by a constant) pins it
well, but additive data noise with every ``M`` above ``eps^(-1/a)`` lets ``E_add`` trade
against ``M_eff`` on the plateau. The fit therefore reports a Gauss-Newton standard error of
``E_add`` (``e_add_se``; large means not identified), and, per ``M``, the analytic split of the
``N -> infinity`` plateau (:func:`~bitscale.theory.exact.plateau_split`): directions kept
(learned to at least half their value: the spectral ``M_eff``) and the error on kept directions
(the spectral ``E_add``), which needs no fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.interpolate import RegularGridInterpolator
from scipy.optimize import least_squares

from bitscale.theory.exact import PlateauSplit, coefficients, exact_risk, plateau_split
from bitscale.theory.problem import FULL_PRECISION, Problem, Quantization
from bitscale.theory.sketch import instance


@dataclass(frozen=True)
class EffectiveSizes:
    """The fitted ``(M_eff, N_eff, E_add)`` of one quantization setting.

    Attributes
    ----------
    quant : Quantization
    M : ndarray of int, shape (I,)
    N : ndarray of int, shape (J,)
    m_eff : ndarray, shape (I,)
        Effective model size per ``M``.
    n_ratio : ndarray, shape (J,)
        ``N_eff / N`` per ``N`` (all equal in ``n_eff="ratio"`` mode).
    e_add : float
        Additive error, shared by the grid.
    risk_q : ndarray, shape (I, J)
        Quantized exact risk.
    risk_fit : ndarray, shape (I, J)
        ``R_fp(M_eff, N_eff) + E_add`` at the fit.
    rms_log : float
        Root-mean-square log residual.
    max_log : float
        Largest absolute log residual.
    lr : ndarray, shape (I,)
        Step used per ``M``.
    e_add_se : float
        Gauss-Newton standard error of ``E_add`` (``inf`` when the grid does not identify it).
    reference : str
        ``"tuned"`` or ``"same-step"`` (module docstring).
    reference_lr : float
        Step of the full-precision surface.
    split : tuple of PlateauSplit
        Per ``M``: the analytic plateau split (``m_kept``, ``shrink``, ``lost``).
    """

    quant: Quantization
    M: np.ndarray
    N: np.ndarray
    m_eff: np.ndarray
    n_ratio: np.ndarray
    e_add: float
    risk_q: np.ndarray
    risk_fit: np.ndarray
    rms_log: float
    max_log: float
    lr: np.ndarray
    e_add_se: float = float("nan")
    reference: str = "tuned"
    reference_lr: float = float("nan")
    split: tuple[PlateauSplit, ...] = ()

    def rows(self) -> list[dict]:
        """One dict per ``M``: M, M_eff, M_eff/M, N_eff/N (geometric mean over N), E_add and its
        standard error, fit quality, and the plateau split (M_kept, E_shrink, E_lost)."""
        ratio = float(np.exp(np.mean(np.log(self.n_ratio))))
        return [{"M": int(m), "M_eff": float(me), "M_eff/M": float(me / m),
                 "N_eff/N": ratio, "E_add": self.e_add, "E_add_se": self.e_add_se,
                 "rms_log": self.rms_log, "max_log": self.max_log, "M_kept": sp.m_kept,
                 "E_shrink": sp.shrink + sp.inference, "E_lost": sp.lost}
                for m, me, sp in zip(self.M, self.m_eff, self.split)]


def quantized_lr(problem: Problem, quant: Quantization, inst=None) -> float:
    """``min(lr, lr * tr(Sigma) / tr_eff)``: the same fraction of the stability limit."""
    inst = inst if inst is not None else instance(problem.a, problem.M, problem.d, problem.b,
                                                  problem.seed)
    c = coefficients(inst, problem, quant)
    return float(min(problem.lr, problem.lr * inst.trace / c.trace_eff))


def _octave_grid(lo: float, hi: float, per_octave: int, step: int = 1) -> np.ndarray:
    k = np.arange(np.floor(per_octave * np.log2(lo)), np.ceil(per_octave * np.log2(hi)) + 1)
    vals = np.unique(np.round(2.0 ** (k / per_octave) / step).astype(np.int64) * step)
    return vals[(vals >= lo) & (vals <= hi)]


@dataclass(frozen=True)
class Surface:
    """``R_fp(M, N)`` on a fine grid, interpolated bilinearly in log-log-log."""

    m: np.ndarray
    n: np.ndarray
    risk: np.ndarray

    def __post_init__(self) -> None:
        interp = RegularGridInterpolator((np.log(self.m), np.log(self.n)), np.log(self.risk),
                                         bounds_error=False, fill_value=None)
        object.__setattr__(self, "_interp", interp)

    def __call__(self, m, n) -> np.ndarray:
        pts = np.stack(np.broadcast_arrays(np.log(m), np.log(n)), axis=-1)
        return np.exp(self._interp(pts))


@lru_cache(maxsize=4)
def fp_surface(problem: Problem, m_max: int, n_min: int, n_max: int) -> Surface:
    """The full-precision risk surface for ``2 <= M <= m_max``, ``n_min/256 <= N <= n_max``."""
    B = problem.batch
    m = _octave_grid(2, m_max, 2)
    m = np.unique(np.append(m, m_max))
    n = _octave_grid(max(B, n_min // 256), n_max, 4, step=B)
    n = np.unique(np.append(n, n_max))
    risk = np.array([exact_risk(problem.with_(M=int(mm)), FULL_PRECISION, n).risk for mm in m])
    return Surface(m=m.astype(float), n=n.astype(float), risk=risk)


def effective_sizes(problem: Problem, quant: Quantization, M_grid, N_grid, *,
                    n_eff: str = "ratio", reference: str = "tuned") -> EffectiveSizes:
    """Fit ``R_q(M, N) ~ R_fp(M_eff(M), rho N) + E_add`` (see the module docstring).

    Parameters
    ----------
    problem : Problem
        The task (its ``M`` is ignored; ``d`` must be at least ``max(M_grid)``).
    quant : Quantization
        The setting; must be exact-engine compatible.
    M_grid, N_grid : sequence of int
        Increasing model sizes and sample counts (multiples of the batch).
    n_eff : {"ratio", "per-n"}
        ``ratio``: ``N_eff = rho N`` with one ``rho`` for the grid; ``per-n``: one
        ``N_eff(N_j) <= N_j`` per sample count (theory.md allows both).
    reference : {"tuned", "same-step"}
        Step of the full-precision surface: its own ``problem.lr`` (``tuned``) or the quantized
        grid's step (``same-step``); see the module docstring.

    Returns
    -------
    EffectiveSizes
        The fit, its quality and ``E_add``'s standard error, and the per-``M`` plateau split.
    """
    if n_eff not in ("ratio", "per-n"):
        raise ValueError(f"n_eff = {n_eff!r}: expected 'ratio' or 'per-n'.")
    if reference not in ("tuned", "same-step"):
        raise ValueError(f"reference = {reference!r}: expected 'tuned' (full precision at its "
                         "own step) or 'same-step' (at the quantized step).")
    M = np.asarray(M_grid, dtype=np.int64)
    N = np.asarray(N_grid, dtype=np.int64)
    if M.size < 1 or N.size < 2 or np.any(np.diff(M) <= 0) or M[-1] > problem.d:
        raise ValueError(f"M grid {list(M)}, N grid {list(N)}: expected increasing M <= d = "
                         f"{problem.d} and at least two N.")
    risk_q = np.empty((M.size, N.size))
    lrs = np.empty(M.size)
    insts = [instance(problem.a, int(m), problem.d, problem.b, problem.seed) for m in M]
    # One step for the whole M grid: the largest that every M of the grid runs stably at.
    lrs[:] = min(quantized_lr(problem.with_(M=int(m)), quant, inst) for m, inst in zip(M, insts))
    ref_lr = problem.lr if reference == "tuned" else float(lrs[0])
    surface = fp_surface(problem.with_(M=int(M[-1]), lr=ref_lr), int(M[-1]), int(N[0]),
                         int(N[-1]))
    for i, (m, inst) in enumerate(zip(M, insts)):
        risk_q[i] = exact_risk(problem.with_(M=int(m)), quant, N, lr=lrs[i], inst=inst).risk
    log_q = np.log(risk_q)
    m_lo, n_lo = surface.m[0], surface.n[0] / N[0]
    I, J = M.size, (1 if n_eff == "ratio" else N.size)

    def model(theta):
        m_eff = np.exp(theta[:I])[:, None]
        rho = np.exp(theta[I:I + J])[None, :]
        return surface(m_eff, rho * N[None, :]) + theta[I + J]

    def resid(theta):
        return (log_q - np.log(model(theta))).ravel()

    lower = np.r_[np.full(I, np.log(m_lo)), np.full(J, np.log(n_lo)), 0.0]
    upper = np.r_[np.log(M.astype(float)), np.zeros(J), np.inf]
    best = None
    # Non-convex in (M_eff, E_add): start from "all M_eff" and from "all E_add" and keep the best.
    for frac_m, frac_e in ((0.95, 0.05), (0.5, 0.5), (0.1, 0.9)):
        x0 = np.r_[np.log(np.maximum(M * frac_m, m_lo * 1.01)), np.full(J, np.log(0.9)),
                   frac_e * risk_q.min()]
        x0 = np.clip(x0, lower + 1e-9, np.where(np.isfinite(upper), upper - 1e-9, x0))
        fit = least_squares(resid, x0, bounds=(lower, upper), x_scale="jac", xtol=1e-12,
                            ftol=1e-12, gtol=1e-12, max_nfev=2000)
        if best is None or fit.cost < best.cost:
            best = fit
    r = resid(best.x)
    split = tuple(plateau_split(inst, problem.with_(M=int(m)), quant) for m, inst in zip(M, insts))
    return EffectiveSizes(quant=quant, M=M, N=N, m_eff=np.exp(best.x[:I]),
                          n_ratio=np.broadcast_to(np.exp(best.x[I:I + J]), N.shape).copy(),
                          e_add=float(best.x[I + J]),
                          risk_q=risk_q, risk_fit=model(best.x), rms_log=float(np.sqrt(np.mean(r**2))),
                          max_log=float(np.max(np.abs(r))), lr=lrs,
                          e_add_se=_last_param_se(best.jac, r), reference=reference,
                          reference_lr=float(ref_lr), split=split)


def _last_param_se(jac: np.ndarray, resid: np.ndarray) -> float:
    """Gauss-Newton standard error of the last parameter (``E_add``).

    ``Cov = s^2 (J^T J)^+`` with ``s^2 = |r|^2 / (n - p)``. A direction of ``J^T J`` whose
    eigenvalue is below ``1e-10`` of the largest is a trade-off the grid cannot resolve: if
    ``E_add`` moves along it, the error is infinite.
    """
    n, p = jac.shape
    s2 = float(resid @ resid) / max(n - p, 1)
    w, V = np.linalg.eigh(jac.T @ jac)
    small = w < 1e-10 * w.max()
    if np.any(np.abs(V[-1, small]) > 1e-3):
        return float("inf")
    var = float(np.sum(V[-1, ~small] ** 2 / w[~small])) * s2
    return float(np.sqrt(var))
