r"""The exact engine: expected excess risk from a moment recursion in Sigma's eigenbasis.

Notation (one step, original basis, everything conditional on the sketch ``S``): clean feature
``z ~ N(0, Sigma)``, label ``y = <v*, z> + r`` with ``r ~ N(0, s^2)`` independent of ``z``,
``s^2 = sigma^2 + Approx``. A step meets the six quantizers in this order (theory.md)::

    z^ = Q_d(z),  y^ = Q_l(y),  v^ = Q_p(v)  (one draw per step, shared by the batch),
    a  = <v^, z^>,  a^ = Q_a(a),  o = y^ - a^,  o^ = Q_o(o),
    v' = Q_w(v + gamma * (1/B) sum_batch o^ z^).

Each place ``p`` has a noise factor pair: ``kappa_p = 1 + eps`` for ``multiplicative`` (else 1)
and ``eta_p = eps`` for ``additive`` (else 0), so that ``E[Q_p(u)^2 | u] = kappa_p u^2 + eta_p``
for a scalar and ``E[Q_p(u) Q_p(u)^T | u] = kappa_p u u^T + eta_p I`` for a vector (the
rank-one ``multiplicative`` model: ``u (1 + sqrt(eps) xi)``, one Gaussian ``xi`` per vector).

**Data quantization** is folded into a *base* Gaussian vector ``zeta`` and a scalar gain ``rho``,
``z^ = rho * zeta``, with ``y = <v_b, zeta> + r_b``, ``r_b`` independent of ``zeta``:

* none: ``zeta = z``, ``rho = 1``, ``Sigma_b = Sigma``, ``v_b = v*``, ``s_b^2 = s^2``;
* additive (Gaussian ``n ~ N(0, eps I)``): ``zeta = z + n`` is Gaussian with
  ``Sigma_b = Sigma + eps I``; regressing ``y`` on ``zeta`` gives the ridge target
  ``v_b = Sigma_b^-1 Sigma v*`` (``tau_k = mu_k / (mu_k + eps)`` in the eigenbasis) and
  ``s_b^2 = s^2 + sum_k eps mu_k / (mu_k + eps) (v*_k)^2``; ``rho = 1``;
* multiplicative: ``zeta = z``, ``rho = 1 + sqrt(eps) xi`` with moments
  ``m2 = E rho^2 = 1 + eps``, ``m3 = E rho^3 = 1 + 3 eps``, ``m4 = E rho^4 = 1 + 6 eps + 3 eps^2``
  (``m2 = m3 = m4 = 1`` otherwise).

All three covariances commute with ``Sigma`` (eigenvalues ``mu_b,k``), so in the eigenbasis the
state is ``A_k = E[v_k^2]`` and ``C_k = E[v_k v*_k]`` (``q_k = E[(v*_k)^2]``), with ``v_0 = 0``.
Gaussian fourth moments, ``E[<u, zeta><w, zeta> zeta zeta^T] = (u^T Sigma_b w) Sigma_b +
Sigma_b u w^T Sigma_b + Sigma_b w u^T Sigma_b`` (diagonal ``mu_k (u^T Sigma_b w) + 2 mu_k^2 u_k w_k``),
give with ``T_v = sum_j mu_b,j A_j``, ``T_x = sum_j mu_b,j tau_j C_j``,
``T_b = sum_j mu_b,j tau_j^2 q_j``, ``tr_b = sum_j mu_b,j``:

* mean: ``E[o^ z^ | v] = Sigma_b v_b - m2 Sigma_b v``, so
  ``C_k <- C_k + gamma mu_b,k (tau_k q_k - m2 C_k)``;
* per-sample second moment ``D_k = E[o^2 (z^ z^^T)_kk]`` with ``E[o^2 | o] = kappa_o o^2 + eta_o``
  and ``E[o^2 | y, a] = kappa_l y^2 - 2 y a + kappa_a a^2 + eta_l + eta_a``::

      D_k = kappa_o [ kappa_l m2 (mu_k T_b + 2 mu_k^2 tau_k^2 q_k + s_b^2 mu_k)
                      - 2 m3 (mu_k T_x + 2 mu_k^2 tau_k C_k)
                      + kappa_a m4 (kappa_p (mu_k T_v + 2 mu_k^2 A_k) + eta_p (mu_k tr_b + 2 mu_k^2))
                      + (eta_l + eta_a) m2 mu_k ]
            + eta_o m2 mu_k                                  (mu_k = mu_b,k);

* batch: samples are independent given the shared ``v^``, so ``E[g g^T]_kk = D_k / B +
  (1 - 1/B) mu_b,k^2 (tau_k^2 q_k - 2 m2 tau_k C_k + m2^2 (kappa_p A_k + eta_p))``;
* second moment: ``A_k <- kappa_w (A_k + 2 gamma mu_b,k (tau_k C_k - m2 A_k) + gamma^2 E[g g^T]_kk)
  + eta_w``.

Clean test risk: ``E R(v) - sigma^2 = sum_k mu_k (A_k - 2 C_k + q_k) + E[Approx]``. Without
quantization this is theory.md's ``p_k <- (1 - gamma mu_k)^2 p_k + (gamma^2/B)(mu_k^2 p_k +
mu_k sum_j mu_j p_j + mu_k s^2)`` for ``p_k = A_k - 2 C_k + q_k``. Averaging over ``w*`` is exact
because every term is linear in ``w* w*^T``. Cost: O(M) per step, no sampling.

**Quantized inference** (``Problem.test = "quantized"``): the prediction is
``a^ = Q_a(<Q_p(v), Q_d(z)>)`` on a fresh test pair. The quantizers are unbiased and independent
of ``(z, r)``, so ``E(y - a^)^2 = E(y - <v, z>)^2 + E(a^ - <v, z>)^2`` and, with
``Sigma^ = E[z^ z^^T] = m2 Sigma_b`` (eigenvalues ``mu^_k = m2 mu_b,k``),
``E[a^^2 | v] = kappa_a (kappa_p v^T Sigma^ v + eta_p tr Sigma^) + eta_a``::

    R_quantized = R_clean + sum_k (kappa_a kappa_p mu^_k - mu_k) A_k
                  + kappa_a eta_p sum_k mu^_k + eta_a.

**Iterate averaging** (``Problem.iterate``): the predictor is ``vbar = (1/K) sum_{t in W} v_t``
over a window ``W = {t0+1, …, T}`` (``t0 = 0``: all iterates; ``t0 = T - ceil(T/2)``: the tail).
The mean step is diagonal, ``E[v_{t+1,k} | F_t] = c_t,k v_t,k + gamma_t mu_b,k tau_k v*_k`` with
``c_t,k = 1 - gamma_t m2 mu_b,k``, so ``e_t = v_t - f`` around the fixed point
``f_k = r_k v*_k`` (``r_k = tau_k / m2``) obeys ``E[e_t | F_s] = P(s, t) e_s``,
``P(s, t) = prod_{u=s}^{t-1} c_u``, and ``E[e_s e_t] = P(s, t) E[e_s^2]`` for ``s < t``. Three
running sums per direction carry everything: ``W = sum_t E e_t^2``, ``X = sum_t U_t`` with
``U_t = sum_{s<t, s in W} P(s, t) E e_s^2`` (forward update ``U_{t+1} = c_t (U_t + E e_t^2)``), and
``Y = sum_t E[e_t v*]`` (``E e_t^2 = A - 2 r C + r^2 q``, ``E[e_t v*] = C - r q``). Then, with
``delta = r - 1``::

    E[(vbar_k - v*_k)^2] = (W + 2 X) / K^2 + 2 delta Y / K + delta^2 q,
    E[vbar_k^2]          = (W + 2 X) / K^2 + 2 r Y / K + r^2 q,

still O(M) per step (the second line feeds the quantized-inference term).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bitscale.theory.curves import RiskCurve
from bitscale.theory.problem import Problem, Quantization
from bitscale.theory.schedule import step_sizes
from bitscale.theory.sketch import Instance, problem_instance

try:  # numba reaches the O(M N) floor; the numpy path is the slow reference beside it.
    import numba

    _HAVE_NUMBA = True
except ImportError:  # pragma: no cover - numba is a declared dependency
    _HAVE_NUMBA = False


@dataclass(frozen=True)
class Coefficients:
    """The per-eigendirection coefficients of the recursion (see the module docstring).

    ``E[g g^T]_kk = g0 + gA A + gC C + mu_b (cv T_v + cx T_x)``; ``mu`` clean eigenvalues,
    ``mu_b`` base eigenvalues, ``tau`` target shrinkage, ``q`` prior moments; ``inf`` and ``inf0``
    the quantized-inference term ``sum_k inf_k A_k + inf0`` (zero for clean tests).
    """

    mu: np.ndarray
    mu_b: np.ndarray
    tau: np.ndarray
    q: np.ndarray
    g0: np.ndarray
    gA: np.ndarray
    gC: np.ndarray
    cv: float
    cx: float
    m2: float
    kappa_w: float
    eta_w: float
    approx: float
    trace_eff: float
    inf: np.ndarray
    inf0: float


def _factors(quant: Quantization, place: str) -> tuple[float, float]:
    noise = getattr(quant, place)
    if noise is None:
        return 1.0, 0.0
    if noise.model == "multiplicative":
        return 1.0 + noise.eps, 0.0
    if noise.model == "additive":
        return 1.0, noise.eps
    raise ValueError(f"{place} quantization {noise.label!r} does not commute with Sigma, so the "
                     "exact engine cannot run it. Use the Monte Carlo engine "
                     "(bitscale.theory.montecarlo_risk) for elementwise and real-format noise.")


def coefficients(inst: Instance, problem: Problem, quant: Quantization) -> Coefficients:
    """Build the recursion's coefficients for one sketched problem and quantization."""
    mu, q = inst.mu, inst.q
    kl, el = _factors(quant, "label")
    kp, ep = _factors(quant, "param")
    ka, ea = _factors(quant, "activation")
    ko, eo = _factors(quant, "grad")
    kw, ew = _factors(quant, "weights")
    kd, ed = _factors(quant, "data")
    eps_m = kd - 1.0
    m2, m3, m4 = 1.0 + eps_m, 1.0 + 3.0 * eps_m, 1.0 + 6.0 * eps_m + 3.0 * eps_m**2
    mu_b = mu + ed
    tau = mu / mu_b
    s2 = problem.sigma2 + inst.approx
    s_b2 = s2 + float(np.sum(ed * mu / mu_b * q))
    t_b = float(np.sum(mu_b * tau**2 * q))
    tr_b = float(mu_b.sum())
    B = problem.batch
    m = mu_b
    g0 = (ko * (kl * m2 * (m * t_b + 2 * m**2 * tau**2 * q + s_b2 * m)
                + ka * m4 * ep * (m * tr_b + 2 * m**2) + (el + ea) * m2 * m)
          + eo * m2 * m) / B + (1 - 1 / B) * m**2 * (tau**2 * q + m2**2 * ep)
    gA = ko * ka * m4 * kp * 2 * m**2 / B + (1 - 1 / B) * m**2 * m2**2 * kp
    gC = -ko * m3 * 4 * m**2 * tau / B - (1 - 1 / B) * m**2 * 2 * m2 * tau
    cv = ko * ka * m4 * kp / B
    cx = -2 * ko * m3 / B
    amp = ko * ka * kp * kw * m4 / m2
    if problem.test == "quantized":
        mu_hat = m2 * mu_b
        inf, inf0 = ka * kp * mu_hat - mu, float(ka * ep * mu_hat.sum() + ea)
    else:
        inf, inf0 = np.zeros_like(mu), 0.0
    return Coefficients(mu=mu, mu_b=mu_b, tau=tau, q=q, g0=g0, gA=gA, gC=gC, cv=cv, cx=cx,
                        m2=m2, kappa_w=kw, eta_w=ew, approx=inst.approx,
                        trace_eff=amp * tr_b, inf=inf, inf0=inf0)


def effective_trace(inst: Instance, problem: Problem, quant: Quantization) -> float:
    """``amp * tr(Sigma_b)``, ``amp = kappa_o kappa_a kappa_p kappa_w m4 / m2``.

    SGD on the quantized problem is stable for ``gamma * effective_trace < 1`` (the same margin
    as ``gamma tr(Sigma) < 1`` without quantization; additive data noise adds ``M eps``).
    """
    return coefficients(inst, problem, quant).trace_eff


def _window_risk(c: Coefficients, W: np.ndarray, X: np.ndarray, Y: np.ndarray, K: int) -> float:
    """Risk of the averaged iterate from the window sums (module docstring)."""
    r = c.tau / c.m2
    ebar2 = (W + 2.0 * X) / K**2
    clean = c.approx + float(np.dot(c.mu, ebar2 + 2.0 * (r - 1.0) * Y / K + (r - 1.0) ** 2 * c.q))
    vbar2 = ebar2 + 2.0 * r * Y / K + r**2 * c.q
    return clean + float(np.dot(c.inf, vbar2)) + c.inf0


def _recursion_numpy(c: Coefficients, gammas: np.ndarray, record: np.ndarray,
                     t0: int = -1) -> np.ndarray:
    """Reference implementation: the recursion, vectorised over k, one Python step at a time.

    ``t0 < 0``: last iterate, risk at each step count in ``record``; ``t0 >= 0``: the average of
    iterates ``t0+1 … T`` (``T = len(gammas)``, ``record`` ignored), one risk.
    """
    A = np.zeros_like(c.mu)
    C = np.zeros_like(c.mu)
    r = c.tau / c.m2
    W, X, Y, U = (np.zeros_like(c.mu) for _ in range(4))
    out = np.empty(record.shape[0])
    j = 0
    for t, g in enumerate(gammas):
        if 0 <= t0 < t:
            U = (1.0 - g * c.m2 * c.mu_b) * (U + A - 2 * r * C + r * r * c.q)
        t_v = float(np.dot(c.mu_b, A))
        t_x = float(np.dot(c.mu_b * c.tau, C))
        gg = c.g0 + c.gA * A + c.gC * C + c.mu_b * (c.cv * t_v + c.cx * t_x)
        A_new = c.kappa_w * (A + 2 * g * c.mu_b * (c.tau * C - c.m2 * A) + g * g * gg) + c.eta_w
        C = C + g * c.mu_b * (c.tau * c.q - c.m2 * C)
        A = A_new
        if 0 <= t0 <= t:
            W += A - 2 * r * C + r * r * c.q
            X += U
            Y += C - r * c.q
        while t0 < 0 and j < record.shape[0] and record[j] == t + 1:
            out[j] = (c.approx + float(np.dot(c.mu, A - 2 * C + c.q)) + float(np.dot(c.inf, A))
                      + c.inf0)
            j += 1
    if t0 >= 0:
        return np.array([_window_risk(c, W, X, Y, gammas.shape[0] - t0)])
    return out


if _HAVE_NUMBA:

    @numba.njit(cache=True, fastmath=True, nogil=True)
    def _kernel(mu, mu_b, tau, q, g0, gA, gC, cv, cx, m2, kw, ew, approx, inf, inf0, gammas,
                record, out, t0, W, X, Y):  # pragma: no cover - compiled
        # Eight arrays streamed per step (A, C, g0, gA, gC, mu_b*tau, mu_b*tau*q, mu_b): the loop
        # is bound by cache bandwidth, so everything else is folded into per-step scalars. With
        # t0 >= 0 it also carries the window sums W, X, Y and the propagated U of the averaged
        # read-out (module docstring, "Iterate averaging"); the branch is loop-invariant per step.
        M = mu.shape[0]
        A = np.zeros(M)
        C = np.zeros(M)
        U = np.zeros(M)
        mt = mu_b * tau
        mtq = mt * q
        r = tau / m2
        rq = r * q
        r2q = r * rq
        t_v = 0.0
        t_x = 0.0
        j = 0
        for t in range(gammas.shape[0]):
            g = gammas[t]
            g2 = g * g
            g2m2 = 2.0 * g * m2
            n_v = 0.0
            n_x = 0.0
            window = 0 <= t0 <= t
            if 0 <= t0 < t:
                for k in range(M):
                    U[k] = (1.0 - g * m2 * mu_b[k]) * (U[k] + A[k] - 2.0 * r[k] * C[k] + r2q[k])
            for k in range(M):
                a = A[k]
                c = C[k]
                mb = mu_b[k]
                gg = g0[k] + gA[k] * a + gC[k] * c + mb * (cv * t_v + cx * t_x)
                an = kw * (a + 2.0 * g * mt[k] * c - g2m2 * mb * a + g2 * gg) + ew
                cn = c + g * (mtq[k] - m2 * mb * c)
                A[k] = an
                C[k] = cn
                n_v += mb * an
                n_x += mt[k] * cn
            t_v = n_v
            t_x = n_x
            if window:
                for k in range(M):
                    W[k] += A[k] - 2.0 * r[k] * C[k] + r2q[k]
                    X[k] += U[k]
                    Y[k] += C[k] - rq[k]
            while t0 < 0 and j < record.shape[0] and record[j] == t + 1:
                s = approx + inf0
                for k in range(M):
                    s += mu[k] * (A[k] - 2.0 * C[k] + q[k]) + inf[k] * A[k]
                out[j] = s
                j += 1
        return out


def _recursion(c: Coefficients, gammas: np.ndarray, record: np.ndarray, backend: str,
               t0: int = -1) -> np.ndarray:
    """Risk at each step count of ``record`` (last iterate, ``t0 < 0``) or of the average of
    iterates ``t0+1 … T`` (``t0 >= 0``, one value)."""
    if backend == "numpy" or not _HAVE_NUMBA:
        return _recursion_numpy(c, gammas, record, t0)
    W, X, Y = np.zeros_like(c.mu), np.zeros_like(c.mu), np.zeros_like(c.mu)
    out = np.empty(record.shape[0])
    _kernel(c.mu, c.mu_b, c.tau, c.q, c.g0, c.gA, c.gC, c.cv, c.cx, c.m2, c.kappa_w, c.eta_w,
            c.approx, c.inf, c.inf0, gammas, record.astype(np.int64), out, int(t0), W, X, Y)
    if t0 >= 0:
        return np.array([_window_risk(c, W, X, Y, gammas.shape[0] - t0)])
    return out


def window_start(iterate: str, steps: int) -> int:
    """First excluded iterate ``t0`` of the averaging window ``t0+1 … T`` (``-1``: last iterate).

    ``average``: ``t0 = 0`` (all ``T`` iterates); ``tail``: ``t0 = T - ceil(T/2)``.
    """
    if iterate == "last":
        return -1
    if iterate == "average":
        return 0
    return steps - (steps + 1) // 2


def check_n_grid(n_grid, batch: int) -> np.ndarray:
    """Validate a grid of sample counts: positive, increasing multiples of the batch."""
    n = np.asarray(n_grid, dtype=np.int64).ravel()
    if n.size == 0 or np.any(n < batch) or np.any(n % batch) or np.any(np.diff(n) <= 0):
        raise ValueError(f"N grid {list(map(int, n))}: expected strictly increasing multiples of "
                         f"the batch size {batch} (N = steps * B).")
    return n


def check_stable(lr: float, trace_eff: float, what: str) -> None:
    """Raise when ``lr * trace_eff >= 1`` (see :func:`effective_trace`)."""
    if lr * trace_eff >= 1:
        raise ValueError(f"lr = {lr:g} diverges for {what}: gamma * tr_eff = "
                         f"{lr * trace_eff:.3f} >= 1 (the quantization noise raises the effective "
                         f"trace to {trace_eff:.4g}). Use lr < {1 / trace_eff:.4g}.")


def exact_risk(problem: Problem, quant: Quantization, n_grid, *, lr: float | None = None,
               backend: str = "numba", inst: Instance | None = None) -> RiskCurve:
    """Expected excess risk ``E R(v_N) - sigma^2`` at each ``N`` of ``n_grid``, exactly.

    Parameters
    ----------
    problem, quant
        The task and its quantization; every quantizer must commute with ``Sigma`` (``none``,
        ``additive``, ``multiplicative`` at any place), see :attr:`Quantization.exact`.
    n_grid : sequence of int
        Increasing sample counts, multiples of ``problem.batch``.
    lr : float, optional
        Initial step (default ``problem.lr``).
    backend : {"numba", "numpy"}
        ``numba`` (default) compiles the O(M)-per-step loop; ``numpy`` is the slow reference.
    inst : Instance, optional
        A precomputed :func:`~bitscale.theory.sketch.problem_instance`.

    Returns
    -------
    RiskCurve
        ``engine="exact"``, ``se`` zero. Constant schedule with the last iterate: one pass
        records every ``N``; otherwise one pass per ``N`` (the geometric schedule and the
        averaging window depend on the horizon). ``problem.iterate`` and ``problem.test`` select
        the predictor and the test risk (module docstring).
    """
    n = check_n_grid(n_grid, problem.batch)
    if not quant.exact:
        _ = [_factors(quant, p) for p, _n in quant.items()]  # raises with the reason
    inst = inst if inst is not None else problem_instance(problem)
    c = coefficients(inst, problem, quant)
    lr = problem.lr if lr is None else lr
    check_stable(lr, c.trace_eff, f"quantization {quant.label_text}")
    steps = n // problem.batch
    if problem.schedule == "constant" and problem.iterate == "last":
        risk = _recursion(c, step_sizes(lr, "constant", int(steps[-1])), steps, backend)
    else:
        risk = np.array([_recursion(c, step_sizes(lr, problem.schedule, int(s)), np.array([s]),
                                    backend, window_start(problem.iterate, int(s)))[0]
                         for s in steps])
    return RiskCurve(engine="exact", n=n, risk=risk, se=np.zeros_like(risk), seeds=0, lr=lr)


def plateau(inst: Instance, problem: Problem, quant: Quantization) -> float:
    """The ``N -> infinity`` limit of the excess risk under a decaying step (theory.md's ridge
    reference): the mean iterate's fixed point is ``C_k / q_k = tau_k / m2``, so

        R_inf = E[Approx] + sum_k mu_k (1 - tau_k / m2)^2 q_k,

    with ``tau_k = mu_k / (mu_k + eps)`` for additive data noise (the ridge solution on noisy
    features) and ``m2 = 1 + eps`` for multiplicative data noise (the target shrunk by
    ``1 / (1 + eps)``); noise at the other places leaves the fixed point at ``v*`` (only variance,
    which a decaying step removes), so ``R_inf = E[Approx]`` there. With
    ``problem.test == "quantized"`` the inference term at the fixed point is added,
    ``sum_k inf_k (tau_k / m2)^2 q_k + inf0`` (module docstring).
    """
    c = coefficients(inst, problem, quant)
    r = c.tau / c.m2
    return float(c.approx + np.sum(c.mu * (1.0 - r) ** 2 * c.q) + np.dot(c.inf, r**2 * c.q)
                 + c.inf0)


@dataclass(frozen=True)
class PlateauSplit:
    """The ``N -> infinity`` risk split direction by direction (:func:`plateau_split`).

    Attributes
    ----------
    risk : float
        ``R_inf`` of :func:`plateau` (``= approx + shrink + lost + inference``).
    approx : float
        ``E[Approx(M)]``, the sketch's own error.
    m_kept : int
        Directions the learner keeps, ``r_k = tau_k / m2 >= 1/2`` (it recovers at least half of
        ``v*_k``): the spectral effective model size. Additive data noise keeps ``mu_k >= eps``;
        multiplicative keeps every direction for ``eps <= 1``.
    shrink : float
        ``sum_{kept} mu_k (1 - r_k)^2 q_k``: the error on kept directions, an additive error that
        does not fall with ``M`` once the kept set is full.
    lost : float
        ``sum_{lost} mu_k (1 - r_k)^2 q_k``: the error on directions below the noise floor,
        the part that behaves as a smaller model.
    inference : float
        The quantized-inference term at the fixed point (0 for a clean test).
    """

    risk: float
    approx: float
    m_kept: int
    shrink: float
    lost: float
    inference: float


def plateau_split(inst: Instance, problem: Problem, quant: Quantization) -> PlateauSplit:
    """Split the plateau of :func:`plateau` into kept-direction shrinkage and lost directions.

    At the fixed point each eigendirection ``k`` of ``Sigma`` is learned to the fraction
    ``r_k = tau_k / m2`` of ``v*_k``, costing ``mu_k (1 - r_k)^2 q_k``. A direction is *kept* when
    ``r_k >= 1/2``. This is an analytic counterpart of the fitted ``(M_eff, E_add)`` of
    :mod:`bitscale.theory.effective`: ``m_kept`` plays ``M_eff`` and ``shrink`` (plus the
    inference term) plays ``E_add``; unlike the fit it needs no grid and is always identified.
    """
    c = coefficients(inst, problem, quant)
    r = c.tau / c.m2
    err = c.mu * (1.0 - r) ** 2 * c.q
    kept = r >= 0.5
    inference = float(np.dot(c.inf, r**2 * c.q) + c.inf0)
    shrink, lost = float(err[kept].sum()), float(err[~kept].sum())
    return PlateauSplit(risk=c.approx + shrink + lost + inference, approx=float(c.approx),
                        m_kept=int(kept.sum()), shrink=shrink, lost=lost, inference=inference)
