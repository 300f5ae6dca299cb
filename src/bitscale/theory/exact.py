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
    ``mu_b`` base eigenvalues, ``tau`` target shrinkage, ``q`` prior moments.
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
    return Coefficients(mu=mu, mu_b=mu_b, tau=tau, q=q, g0=g0, gA=gA, gC=gC, cv=cv, cx=cx,
                        m2=m2, kappa_w=kw, eta_w=ew, approx=inst.approx,
                        trace_eff=amp * tr_b)


def effective_trace(inst: Instance, problem: Problem, quant: Quantization) -> float:
    """``amp * tr(Sigma_b)``, ``amp = kappa_o kappa_a kappa_p kappa_w m4 / m2``.

    SGD on the quantized problem is stable for ``gamma * effective_trace < 1`` (the same margin
    as ``gamma tr(Sigma) < 1`` without quantization; additive data noise adds ``M eps``).
    """
    return coefficients(inst, problem, quant).trace_eff


def _recursion_numpy(c: Coefficients, gammas: np.ndarray, record: np.ndarray) -> np.ndarray:
    """Reference implementation: the recursion, vectorised over k, one Python step at a time."""
    A = np.zeros_like(c.mu)
    C = np.zeros_like(c.mu)
    out = np.empty(record.shape[0])
    j = 0
    for t, g in enumerate(gammas):
        t_v = float(np.dot(c.mu_b, A))
        t_x = float(np.dot(c.mu_b * c.tau, C))
        gg = c.g0 + c.gA * A + c.gC * C + c.mu_b * (c.cv * t_v + c.cx * t_x)
        A_new = c.kappa_w * (A + 2 * g * c.mu_b * (c.tau * C - c.m2 * A) + g * g * gg) + c.eta_w
        C = C + g * c.mu_b * (c.tau * c.q - c.m2 * C)
        A = A_new
        while j < record.shape[0] and record[j] == t + 1:
            out[j] = c.approx + float(np.dot(c.mu, A - 2 * C + c.q))
            j += 1
    return out


if _HAVE_NUMBA:

    @numba.njit(cache=True, fastmath=True, nogil=True)
    def _kernel(mu, mu_b, tau, q, g0, gA, gC, cv, cx, m2, kw, ew, approx, gammas, record,
                out):  # pragma: no cover - compiled
        # Eight arrays streamed per step (A, C, g0, gA, gC, mu_b*tau, mu_b*tau*q, mu_b): the loop
        # is bound by cache bandwidth, so everything else is folded into per-step scalars.
        M = mu.shape[0]
        A = np.zeros(M)
        C = np.zeros(M)
        mt = mu_b * tau
        mtq = mt * q
        t_v = 0.0
        t_x = 0.0
        j = 0
        for t in range(gammas.shape[0]):
            g = gammas[t]
            g2 = g * g
            g2m2 = 2.0 * g * m2
            n_v = 0.0
            n_x = 0.0
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
            while j < record.shape[0] and record[j] == t + 1:
                s = approx
                for k in range(M):
                    s += mu[k] * (A[k] - 2.0 * C[k] + q[k])
                out[j] = s
                j += 1
        return out


def _recursion(c: Coefficients, gammas: np.ndarray, record: np.ndarray, backend: str
               ) -> np.ndarray:
    if backend == "numpy" or not _HAVE_NUMBA:
        return _recursion_numpy(c, gammas, record)
    out = np.empty(record.shape[0])
    return _kernel(c.mu, c.mu_b, c.tau, c.q, c.g0, c.gA, c.gC, c.cv, c.cx, c.m2, c.kappa_w,
                   c.eta_w, c.approx, gammas, record.astype(np.int64), out)


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
        ``engine="exact"``, ``se`` zero. Constant schedule: one pass records every ``N``;
        geometric schedule: one pass per ``N`` (the schedule depends on the horizon).
    """
    n = check_n_grid(n_grid, problem.batch)
    if not quant.exact:
        _ = [_factors(quant, p) for p, _n in quant.items()]  # raises with the reason
    inst = inst if inst is not None else problem_instance(problem)
    c = coefficients(inst, problem, quant)
    lr = problem.lr if lr is None else lr
    check_stable(lr, c.trace_eff, f"quantization {quant.label_text}")
    steps = n // problem.batch
    if problem.schedule == "constant":
        risk = _recursion(c, step_sizes(lr, "constant", int(steps[-1])), steps, backend)
    else:
        risk = np.array([_recursion(c, step_sizes(lr, problem.schedule, int(s)),
                                    np.array([s]), backend)[0] for s in steps])
    return RiskCurve(engine="exact", n=n, risk=risk, se=np.zeros_like(risk), seeds=0, lr=lr)


def plateau(inst: Instance, problem: Problem, quant: Quantization) -> float:
    """The ``N -> infinity`` limit of the excess risk under a decaying step (theory.md's ridge
    reference): the mean iterate's fixed point is ``C_k / q_k = tau_k / m2``, so

        R_inf = E[Approx] + sum_k mu_k (1 - tau_k / m2)^2 q_k,

    with ``tau_k = mu_k / (mu_k + eps)`` for additive data noise (the ridge solution on noisy
    features) and ``m2 = 1 + eps`` for multiplicative data noise (the target shrunk by
    ``1 / (1 + eps)``); noise at the other places leaves the fixed point at ``v*`` (only variance,
    which a decaying step removes), so ``R_inf = E[Approx]`` there.
    """
    c = coefficients(inst, problem, quant)
    return float(c.approx + np.sum(c.mu * (1.0 - c.tau / c.m2) ** 2 * c.q))
