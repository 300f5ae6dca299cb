"""Robust fitting of law forms: Huber on log residuals, grid of starts, L-BFGS-B, bootstrap.

Objective (Hoffmann et al. 2022, App. D.2; Besiroglu et al. 2024):

    min_theta  sum_i  w_i * rho( log y_i - log f(x_i; theta) )

with rho the Huber loss (rho(r) = r^2/2 for |r| <= delta, delta (|r| - delta/2) otherwise;
delta = 1e-3 by default) or rho(r) = r^2/2 (``loss="ls"``). Scale constants are optimised as their
logarithms and the built-in laws evaluate log f in log-sum-exp form. The whole initialisation grid
is evaluated at once (array of shape (G, n)), the best ``n_starts`` grid points are refined with
L-BFGS-B under the parameter bounds, using central-difference gradients whose 2k+1 evaluations are
one vectorised call.

Uncertainty: nonparametric bootstrap over runs: n runs drawn with replacement, each replicate
refitted from the full-data optimum with the trust-region least-squares solver (same objective).
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from scipy.optimize import least_squares, minimize

from bitscale.laws.data import load_table, prepare
from bitscale.laws.forms import LawForm, get_law
from bitscale.laws.law import Law

__all__ = ["FitResult", "Holdout", "extrapolation_check", "fit", "huber"]

_MAX_CHUNK_ELEMS = 2_000_000  # (G x n) elements per vectorised grid evaluation
_BAD = 1e30  # objective assigned to parameter vectors whose prediction is not finite


def _single_thread_blas():
    """Limit BLAS to one thread while optimising.

    scipy's L-BFGS-B calls BLAS on vectors of a few elements; a multi-threaded OpenBLAS on a busy
    machine then spends milliseconds per iteration waking threads (measured: 6 ms vs 0.2 ms per
    iteration on 2 loaded cores). Uses threadpoolctl when installed, else sets the bundled
    OpenBLAS libraries to one thread through ctypes (and restores them); results are identical.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - depends on the environment
        return _openblas_one_thread()
    return threadpool_limits(limits=1, user_api="blas")


_OPENBLAS_SYMBOLS = (  # (set, get) pairs exported by the OpenBLAS builds numpy/scipy wheels bundle
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
    ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
    ("openblas_set_num_threads", "openblas_get_num_threads"),
)


@contextlib.contextmanager
def _openblas_one_thread():
    """Fallback without threadpoolctl: set every loaded OpenBLAS to one thread, restore after."""
    import ctypes

    saved = []
    try:
        with open("/proc/self/maps") as fh:
            paths = sorted({ln.split()[-1] for ln in fh if "openblas" in ln.lower() and ln.split()[-1].startswith("/")})
    except OSError:
        paths = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for set_name, get_name in _OPENBLAS_SYMBOLS:
            if hasattr(lib, set_name) and hasattr(lib, get_name):
                setter, getter = getattr(lib, set_name), getattr(lib, get_name)
                saved.append((setter, int(getter())))
                setter(1)
                break
    try:
        yield
    finally:
        for setter, n in saved:
            setter(n)


def huber(r: np.ndarray, delta: float) -> np.ndarray:
    """Huber loss, elementwise: r^2/2 if |r| <= delta else delta (|r| - delta/2)."""
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


@dataclass(frozen=True)
class FitResult:
    """A fitted law.

    Attributes
    ----------
    law_name : str
        Registry name of the law form.
    params : dict name -> float
        Point estimate (natural units), fixed and tied parameters included.
    objective : float
        Minimised sum of rho(log residuals).
    rmsle : float
        sqrt(mean((log y - log y_hat)^2)) on the fitted data.
    r2 : float
        1 - SS_res / SS_tot of log y on the fitted data.
    n_points : int
        Number of runs fitted.
    free : tuple of str
        Parameters that were optimised.
    fixed : dict name -> float
        Parameters held fixed (by the caller or because the data cannot identify them).
    ties : dict name -> name
        ``{"beta": "alpha"}`` means beta was set equal to alpha.
    se, ci : dict or None
        Bootstrap standard errors and percentile intervals ``(lo, hi)`` at level ``ci_level``.
    bootstrap_samples : ndarray (K, len(params)) or None
        The replicates, columns in ``params`` order.
    notes : tuple of str
        What the fitter decided on the caller's behalf.
    """

    law_name: str
    params: dict[str, float]
    objective: float
    rmsle: float
    r2: float
    n_points: int
    free: tuple[str, ...]
    fixed: dict[str, float]
    ties: dict[str, str]
    loss: str
    delta: float
    method: str
    converged: bool
    columns: dict[str, str]
    form: LawForm = field(repr=False, compare=False)
    se: dict[str, float] | None = None
    ci: dict[str, tuple[float, float]] | None = None
    ci_level: float = 0.95
    bootstrap_samples: np.ndarray | None = field(default=None, repr=False, compare=False)
    notes: tuple[str, ...] = ()

    @property
    def law(self) -> Law:
        """The point estimate as a :class:`Law` (for planning and comparisons)."""
        return Law(self.form, dict(self.params), name=f"fit:{self.law_name}", source=f"fit to {self.n_points} runs")

    def predict(self, data: pd.DataFrame | str | Path | None = None, columns: Mapping[str, str] | None = None, **values) -> np.ndarray:
        """Predicted target for new runs (same column mapping as the fit unless given)."""
        return self.law.predict(data, self.columns if columns is None and data is not None else columns, **values)

    def to_dict(self) -> dict:
        """JSON-ready dictionary (the form is stored by name; bootstrap samples are dropped)."""
        d = {k: v for k, v in asdict(self).items() if k not in ("form", "bootstrap_samples")}
        if d["ci"] is not None:
            d["ci"] = {k: list(v) for k, v in d["ci"].items()}
        d["notes"] = list(self.notes)
        d["free"] = list(self.free)
        return d

    def to_json(self, path: str | Path | None = None) -> str:
        """Serialise (and write to ``path`` when given)."""
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> FitResult:
        """Inverse of :meth:`to_json` (a path or the JSON text)."""
        p = Path(text_or_path) if not str(text_or_path).lstrip().startswith("{") else None
        d = json.loads(p.read_text() if p is not None else str(text_or_path))
        form = get_law(d["law_name"]).bind_params(list(d["params"]))
        if d.get("ci") is not None:
            d["ci"] = {k: tuple(v) for k, v in d["ci"].items()}
        d["free"] = tuple(d["free"])
        d["notes"] = tuple(d["notes"])
        return cls(form=form, **d)


class _Problem:
    """Objective over the free parameters, vectorised over rows of raw parameter vectors."""

    def __init__(
        self,
        form: LawForm,
        X: dict[str, np.ndarray],
        y: np.ndarray,
        free: Sequence[str],
        fixed: Mapping[str, float],
        ties: Mapping[str, str],
        loss: str,
        delta: float,
    ) -> None:
        self.form, self.X, self.log_y = form, X, np.log(y)
        self.free = tuple(free)
        self.fixed, self.ties = dict(fixed), dict(ties)
        self.loss, self.delta = loss, delta
        self.prm = [form.param(n) for n in self.free]
        self.bounds = [p.raw_bounds for p in self.prm]
        self.weights = np.ones_like(self.log_y)

    def values(self, raw: np.ndarray) -> dict[str, np.ndarray]:
        """raw (G, k) -> natural values name -> (G,)."""
        G = raw.shape[0]
        out = {n: p.from_raw(raw[:, j]) for j, (n, p) in enumerate(zip(self.free, self.prm))}
        for n, v in self.fixed.items():
            out[n] = np.full(G, v)
        for n, src in self.ties.items():
            out[n] = out[src]
        return out

    def log_pred(self, raw: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self.form.evaluate_log(self.values(raw), self.X)

    def objective(self, raw: np.ndarray) -> np.ndarray:
        """Objective for each row of raw (G, k) -> (G,)."""
        r = self.log_y - self.log_pred(raw)
        rho = huber(r, self.delta) if self.loss == "huber" else 0.5 * r * r
        f = rho @ self.weights
        return np.where(np.isfinite(f), f, _BAD)

    def fun_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Objective and central-difference gradient at one raw vector, in one batched call."""
        k = x.size
        h = 1e-7 * (1.0 + np.abs(x))
        batch = np.repeat(x[None, :], 2 * k + 1, axis=0)
        idx = np.arange(k)
        batch[1 + idx, idx] += h
        batch[1 + k + idx, idx] -= h
        f = self.objective(batch)
        return float(f[0]), (f[1 : 1 + k] - f[1 + k :]) / (2 * h)

    def refine(self, x0: np.ndarray, maxiter: int = 1000) -> tuple[np.ndarray, float, bool]:
        res = minimize(
            self.fun_grad,
            np.clip(x0, [b[0] for b in self.bounds], [b[1] for b in self.bounds]),
            jac=True,
            method="L-BFGS-B",
            bounds=self.bounds,
            options={"maxiter": maxiter, "ftol": 1e-15, "gtol": 1e-10, "maxcor": 20},
        )
        # Line-search stalls (ABNORMAL) at a point where the objective no longer decreases are
        # counted as converged: finite-difference gradients cannot resolve further progress.
        ok = bool(res.success) or "ABNORMAL" in str(res.message)
        return res.x, float(res.fun), ok

    def refine_trf(self, x0: np.ndarray, max_nfev: int = 2000) -> tuple[np.ndarray, float, bool]:
        """Trust-region reflective least squares (scipy ``least_squares``) on the same objective.

        With ``loss="huber"`` and ``f_scale=delta``, scipy's cost 0.5 sum f^2 rho((r/f)^2) equals
        sum Huber_delta(r) exactly. Bootstrap weights (integer counts) become repeated rows.
        """
        lb = np.array([b[0] for b in self.bounds])
        ub = np.array([b[1] for b in self.bounds])
        rows = np.repeat(np.arange(self.log_y.size), self.weights.astype(np.int64))

        def resid(x: np.ndarray) -> np.ndarray:
            r = (self.log_y - self.log_pred(x[None, :])[0])[rows]
            return np.where(np.isfinite(r), r, 1e6)

        def jac(x: np.ndarray) -> np.ndarray:
            k = x.size
            h = 1e-7 * (1.0 + np.abs(x))
            batch = np.repeat(x[None, :], 2 * k, axis=0)
            i = np.arange(k)
            batch[i, i] += h
            batch[k + i, i] -= h
            lp = self.log_pred(batch)[:, rows]
            J = -((lp[:k] - lp[k:]) / (2 * h)[:, None]).T  # (n, k): d r / d x
            return np.where(np.isfinite(J), J, 0.0)

        res = least_squares(
            resid,
            np.clip(x0, lb, ub),
            jac=jac,
            bounds=(lb, ub),
            loss="huber" if self.loss == "huber" else "linear",
            f_scale=self.delta,
            x_scale="jac",
            ftol=1e-15,
            xtol=1e-15,
            gtol=1e-15,
            max_nfev=max_nfev,
        )
        return res.x, float(self.objective(res.x[None, :])[0]), bool(res.status > 0)

    def grid(self) -> np.ndarray:
        """Cartesian product of the free parameters' starting values, raw coordinates (G, k)."""
        axes = [p.to_raw(np.array(p.start_values)) for p in self.prm]
        return np.array(list(itertools.product(*axes)), dtype=float).reshape(-1, len(axes))

    def projectable(self) -> bool:
        """Variable projection applies when the law has a linear basis whose scales are all free."""
        names = [n[2:] if n.startswith("1/") else n for n in self.form.linear]
        return self.form.basis is not None and bool(names) and all(n in self.free for n in names)

    def projected_grid(self) -> np.ndarray:
        """Grid over the nonlinear parameters; the linear scales solved for at each grid point.

        At each grid point the prediction is sum_j c_j b_j(x); the c_j minimise
        sum_i ((sum_j c_j b_ij - y_i) / y_i)^2 (relative error ~ log residual), solved as batched
        normal equations on RMS-normalised columns, then clipped into the parameter bounds.
        """
        lin = list(self.form.linear)
        lin_names = [n[2:] if n.startswith("1/") else n for n in lin]
        cols = {n: j for j, n in enumerate(self.free)}
        axes = [
            p.to_raw(np.array(p.start_values)) if p.name not in lin_names else np.array([p.to_raw(1.0)])
            for p in self.prm
        ]
        grid = np.array(list(itertools.product(*axes)), dtype=float).reshape(-1, len(axes))
        w = np.exp(-self.log_y)  # 1 / y
        chunk = max(1, _MAX_CHUNK_ELEMS // max(1, len(lin) * self.log_y.size))
        for s in range(0, len(grid), chunk):
            g = grid[s : s + chunk]
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                p = self.form.param_arrays(self.values(g))
                B = np.stack([np.broadcast_to(b, (len(g), w.size)) for b in self.form.basis(p, self.X)], axis=-1)
            B = np.where(np.isfinite(B), B, 0.0) * w[None, :, None]  # (G, n, m)
            scale = np.sqrt(np.mean(B * B, axis=1)) + 1e-300  # (G, m)
            Bs = B / scale[:, None, :]
            M = np.einsum("gnj,gnk->gjk", Bs, Bs) + 1e-10 * np.eye(len(lin))
            r = np.einsum("gnj,n->gj", Bs, w * np.exp(self.log_y))
            c = np.linalg.solve(M, r[..., None])[..., 0] / scale
            for j, (n, name) in enumerate(zip(lin, lin_names)):
                prm = self.form.param(name)
                v = c[:, j]
                if n.startswith("1/"):
                    v = 1.0 / np.maximum(v, 1.0 / prm.upper)
                g[:, cols[name]] = prm.to_raw(np.clip(np.nan_to_num(v, nan=prm.lower), prm.lower, prm.upper))
        return grid

    def grid_objective(self, grid: np.ndarray) -> np.ndarray:
        chunk = max(1, _MAX_CHUNK_ELEMS // max(1, self.log_y.size))
        return np.concatenate([self.objective(grid[i : i + chunk]) for i in range(0, len(grid), chunk)])


def _resolve(
    form: LawForm,
    X: dict[str, np.ndarray],
    fixed: Mapping[str, float] | None,
    ties: Mapping[str, str] | None,
) -> tuple[list[str], dict[str, float], dict[str, str], list[str]]:
    names = form.param_names
    fixed = {k: float(v) for k, v in (fixed or {}).items()}
    ties = dict(ties or {})
    for k in list(fixed) + list(ties) + list(ties.values()):
        if k not in names:
            raise ValueError(f"law {form.name!r} has no parameter {k!r} (in fixed/ties); its parameters are {names}.")
    for k, src in ties.items():
        if src in ties:
            raise ValueError(f"tie {k!r} -> {src!r}: {src!r} is itself tied; tie both to the same free parameter.")
    notes = []
    if form.inactive is not None:
        for k in sorted(form.inactive(X) - set(fixed) - set(ties)):
            fixed[k] = form.param(k).start_values[0]
            notes.append(f"{k} fixed at {fixed[k]:g}: the data cannot identify it (every run is at >= 16 bits there)")
    for k, src in list(ties.items()):
        if src in fixed:  # tied to a fixed parameter: simply fixed at the same value
            fixed[k] = fixed[src]
            del ties[k]
    free = [n for n in names if n not in fixed and n not in ties]
    return free, fixed, ties, notes


def fit(
    law: str | LawForm,
    data: pd.DataFrame | str | Path,
    columns: Mapping[str, str] | None = None,
    *,
    loss: Literal["huber", "ls"] = "huber",
    delta: float = 1e-3,
    fixed: Mapping[str, float] | None = None,
    ties: Mapping[str, str] | None = None,
    grid: Mapping[str, Sequence[float]] | None = None,
    n_starts: int = 8,
    method: Literal["lbfgsb", "trf"] | None = None,
    init: Literal["project", "grid"] = "project",
    bootstrap: int = 0,
    ci_level: float = 0.95,
    seed: int = 0,
) -> FitResult:
    """Fit a law form to training runs.

    Parameters
    ----------
    law : str or LawForm
        Registry name (``chinchilla``, ``kumar-neff``, ``kumar-ptq``, ``kumar-unified``,
        ``eff-per-precision``, ``sun-fp`` or a user law).
    data : DataFrame, CSV or Parquet path
        One row per run.
    columns : mapping canonical -> data column
        E.g. ``{"N": "params", "D": "tokens", "loss": "val_loss", "label": "precision"}``.
    loss : {"huber", "ls"}
        Huber on log residuals (robust, the Chinchilla recipe) or least squares on log residuals.
    delta : float
        Huber threshold on log residuals (1e-3: residuals above ~0.1% count linearly).
    fixed : mapping name -> value
        Parameters held at a value, e.g. ``{"n_w": 0, "n_a": 0, "n_kv": 0}`` (no offsets) or
        ``{"gamma_kv": 1.0, "n_kv": 0.0}`` when KV precision never varies. With ~20-40 runs fix what
        the data cannot resolve.
    ties : mapping name -> name
        ``{"beta": "alpha"}`` ties beta to alpha (Kumar et al.'s alpha = beta fit).
    grid : mapping name -> values, optional
        Replace the default starting values (natural units) of some parameters.
    n_starts : int
        How many of the best grid points are refined locally.
    init : {"project", "grid"}
        ``"grid"``: the Cartesian grid of every free parameter's starting values (the Chinchilla
        replication's recipe). ``"project"`` (default, for laws with a linear basis: chinchilla,
        kumar-neff, eff-per-precision, sun-fp): grid over the exponents and precision parameters
        only, with the scale constants (A, B, E, ...) solved by linear least squares at each point.
    method : {"lbfgsb", "trf"}, optional
        Local optimiser: L-BFGS-B on the summed objective, or scipy's trust-region reflective
        ``least_squares`` on the residual vector (same objective; much faster to converge on
        forms with many parameters). Default: the law's ``default_method`` (``trf`` for
        ``eff-per-precision``, whose one-efficiency-per-label structure L-BFGS-B does not converge
        on within 1000 iterations, ``lbfgsb`` otherwise).
    bootstrap : int
        Number of bootstrap replicates K (0: none). SEs are the replicate standard deviation
        (ddof=1); intervals are the ``ci_level`` percentile intervals.
    seed : int
        Seed of the bootstrap resampling.

    Returns
    -------
    FitResult
    """
    form = get_law(law)
    if loss not in ("huber", "ls"):
        raise ValueError(f"loss={loss!r}; expected 'huber' or 'ls'.")
    if not delta > 0:
        raise ValueError(f"delta={delta}; expected a positive Huber threshold (1e-3 is the usual choice).")
    method = method or form.default_method
    if method not in ("lbfgsb", "trf"):
        raise ValueError(f"method={method!r}; expected 'lbfgsb' or 'trf'.")
    if init not in ("project", "grid"):
        raise ValueError(f"init={init!r}; expected 'project' or 'grid'.")
    if bootstrap < 0:
        raise ValueError(f"bootstrap={bootstrap}; expected a non-negative number of replicates.")
    X, y = prepare(form, data, columns)
    form = form.bind(X)
    X = form.encode(X)
    free, fixed_v, ties_v, notes = _resolve(form, X, fixed, ties)
    if grid:
        unknown = set(grid) - set(form.param_names)
        if unknown:
            raise ValueError(f"grid names {sorted(unknown)}, not parameters of {form.name!r} {form.param_names}.")
        form = replace(form, params=tuple(
            replace(p, grid=tuple(float(v) for v in grid[p.name])) if p.name in grid else p for p in form.params
        ))
    n, k = len(y), len(free)
    if n <= k:
        raise ValueError(
            f"{n} runs cannot determine law {form.name!r} with {k} free parameters {free}; need at least "
            f"{k + 1}. Add runs or hold parameters with fixed={{...}} / ties={{'beta': 'alpha'}}."
        )
    prob = _Problem(form, X, y, free, fixed_v, ties_v, loss, delta)
    with _single_thread_blas():
        return _fit_problem(prob, form, get_law(law).name, n_starts, method, init, bootstrap, ci_level, seed, columns, notes)


def _fit_problem(
    prob: _Problem,
    form: LawForm,
    law_name: str,
    n_starts: int,
    method: str,
    init: str,
    bootstrap: int,
    ci_level: float,
    seed: int,
    columns: Mapping[str, str] | None,
    notes: list[str],
) -> FitResult:
    n = prob.log_y.size
    free, fixed_v, ties_v = prob.free, prob.fixed, prob.ties
    starts = prob.projected_grid() if init == "project" and prob.projectable() else prob.grid()
    f0 = prob.grid_objective(starts)
    order = np.argsort(f0, kind="stable")[: max(1, n_starts)]
    best = None
    refine = prob.refine if method == "lbfgsb" else prob.refine_trf
    for i in order:
        x, fx, ok = refine(starts[i])
        if best is None or fx < best[1]:
            best = (x, fx, ok)
    x_hat, f_hat, ok = best
    params = {kk: float(v[0]) for kk, v in prob.values(x_hat[None, :]).items()}
    params = {name: params[name] for name in form.param_names}
    r = prob.log_y - prob.log_pred(x_hat[None, :])[0]
    rmsle = float(np.sqrt(np.mean(r * r)))
    ss_tot = float(np.sum((prob.log_y - prob.log_y.mean()) ** 2))
    r2 = float(1.0 - np.sum(r * r) / ss_tot) if ss_tot > 0 else float("nan")

    se = ci = samples = None
    if bootstrap:
        rng = np.random.default_rng(seed)
        names = form.param_names
        samples = np.empty((bootstrap, len(names)))
        for b in range(bootstrap):
            prob.weights = rng.multinomial(n, np.full(n, 1.0 / n)).astype(float)
            # Replicates start at the full-data optimum, where the trust-region least-squares
            # solver (same objective) converges in a few iterations: ~10x faster than L-BFGS-B here.
            xb, _, _ = prob.refine_trf(x_hat)
            vb = prob.values(xb[None, :])
            samples[b] = [float(vb[nm][0]) for nm in names]
        prob.weights = np.ones(n)
        sd = samples.std(axis=0, ddof=1) if bootstrap > 1 else np.full(len(names), np.nan)
        lo, hi = np.percentile(samples, [50 * (1 - ci_level), 50 * (1 + ci_level)], axis=0)
        se = dict(zip(names, map(float, sd)))
        ci = {nm: (float(a), float(b)) for nm, a, b in zip(names, lo, hi)}

    return FitResult(
        law_name=law_name,
        params=params,
        objective=f_hat,
        rmsle=rmsle,
        r2=r2,
        n_points=n,
        free=tuple(free),
        fixed=fixed_v,
        ties=ties_v,
        loss=prob.loss,
        delta=prob.delta,
        method=method,
        converged=ok,
        columns=dict(columns or {}),
        form=form,
        se=se,
        ci=ci,
        ci_level=ci_level,
        bootstrap_samples=samples,
        notes=tuple(notes),
    )


@dataclass(frozen=True)
class Holdout:
    """Extrapolation check: fit on the smaller runs, predict the largest ones.

    Attributes
    ----------
    by : str
        ``"N"`` or ``"compute"`` (6 N D).
    threshold : float
        Runs with ``by`` >= threshold were held out.
    fit : FitResult
        The fit on the remaining runs.
    rmsle_train, rmsle_test : float
        RMS log residual on the fitted and on the held-out runs.
    max_abs_rel_error : float
        max |y_hat / y - 1| on the held-out runs.
    """

    by: str
    threshold: float
    n_train: int
    n_test: int
    fit: FitResult
    rmsle_train: float
    rmsle_test: float
    max_abs_rel_error: float


def extrapolation_check(
    law: str | LawForm,
    data: pd.DataFrame | str | Path,
    columns: Mapping[str, str] | None = None,
    *,
    by: Literal["N", "compute"] = "N",
    fraction: float = 0.2,
    **fit_kwargs,
) -> Holdout:
    """Hold out the largest-``by`` runs (top ``fraction``), fit the rest, report the extrapolation error.

    Parameters
    ----------
    by : {"N", "compute"}
        Sort key: parameter count or training compute 6 N D.
    fraction : float in (0, 1)
        Share of runs held out; all runs tied at the threshold value go to the test side.
    **fit_kwargs
        Passed to :func:`fit` (``bootstrap`` is forced to 0).
    """
    if not 0 < fraction < 1:
        raise ValueError(f"fraction={fraction}; expected a share of runs strictly between 0 and 1.")
    if by not in ("N", "compute"):
        raise ValueError(f"by={by!r}; expected 'N' or 'compute'.")
    df = load_table(data).reset_index(drop=True)
    cols = dict(columns or {})
    Ncol, Dcol = cols.get("N", "N"), cols.get("D", "D")
    for c in (Ncol, Dcol) if by == "compute" else (Ncol,):
        if c not in df.columns:
            raise KeyError(f"extrapolation_check by={by!r} needs column {c!r}; the data has {list(df.columns)}.")
    key = df[Ncol].to_numpy(float) * (6.0 * df[Dcol].to_numpy(float) if by == "compute" else 1.0)
    threshold = float(np.quantile(key, 1 - fraction, method="higher"))
    test = key >= threshold
    if test.all() or not test.any():
        raise ValueError(f"holding out by {by} at fraction {fraction} leaves an empty side; use more distinct runs.")
    fit_kwargs["bootstrap"] = 0
    res = fit(law, df[~test], columns, **fit_kwargs)
    form = res.form
    X, y = prepare(get_law(law), df[test], columns)
    X = form.encode(X)
    y_hat = form.predict(res.params, X)
    r = np.log(y) - np.log(y_hat)
    return Holdout(
        by=by,
        threshold=threshold,
        n_train=int((~test).sum()),
        n_test=int(test.sum()),
        fit=res,
        rmsle_train=res.rmsle,
        rmsle_test=float(np.sqrt(np.mean(r * r))),
        max_abs_rel_error=float(np.max(np.abs(y_hat / y - 1))),
    )
