"""The Monte Carlo engine: SGD simulated directly, many seeds at once (float64).

Each seed draws its own target ``w* ~ N(0, Pi)`` (through the sketch, so ``v*`` and ``Approx``
per seed) and then runs one pass of SGD over fresh samples. Given ``(S, w*)`` the pair
``(z, r)`` with ``z = S x`` and ``r = y - <v*, z>`` is exactly jointly Gaussian with ``z`` and
``r`` independent, so a sample is drawn as ``z = U diag(sqrt(mu)) g`` (original coordinates of the
sketched features, which the elementwise and real-format quantizers act on) and
``y = <v*, z> + sqrt(sigma^2 + Approx) e``: O(M^2) per sample and seed instead of O(M d).

One step (batch ``B``, all seeds at once, shapes in comments)::

    z^ = Q_d(z)                      # (R, B, M)
    y^ = Q_l(y)                      # (R, B)
    v^ = Q_p(v)                      # (R, M), one draw per step shared by the batch
    a^ = Q_a(<v^, z^>)               # (R, B)
    o^ = Q_o(y^ - a^)                # (R, B)
    v  = Q_w(v + gamma/B sum_b o^ z^)

The excess risk of a seed is computed exactly from its predictor ``v`` (the last iterate, or the
running average of the iterates in the window of ``Problem.iterate``):
``(v - v*)^T Sigma (v - v*) + Approx(w*)`` on clean test features. With ``Problem.test =
"quantized"`` the inference error ``E(a^ - <v, z>)^2`` of the forward-pass quantizers is added,
in closed form from the full matrices for the idealised models (``Sigma^ = E[z^ z^^T]`` is
``Sigma``, ``(1 + eps) Sigma``, ``Sigma + eps diag(Sigma)`` or ``Sigma + eps I``;
``E[v^^T Sigma^ v^]`` adds ``eps v^T Sigma^ v``, ``eps sum_i v_i^2 Sigma^_ii`` or ``eps tr Sigma^``;
then ``kappa_a E[v^^T Sigma^ v^] + eta_a - v^T Sigma v``), and for real formats as the mean over
``n_test`` fresh test samples per seed. The curve reports the mean over seeds and its standard
error ``std / sqrt(R)``.

Real formats (``Noise(model="format", spec=...)``) call
``bitscale.formats.quantize(x, spec, axis=-1, rounding="stochastic", generator=...)`` on a float64
torch view of the array: stochastic rounding makes them unbiased, and the spec's own scaling
applies along the last axis (the ``M`` features of one sample for ``data``, the ``M`` weights for
``param`` / ``weights``, the batch of scalars for ``label`` / ``activation`` / ``grad``).
"""

from __future__ import annotations

import numpy as np

from bitscale.theory.curves import RiskCurve
from bitscale.theory.exact import check_n_grid, window_start
from bitscale.theory.problem import Noise, Problem, Quantization
from bitscale.theory.schedule import step_sizes
from bitscale.theory.sketch import Instance, problem_instance, single_thread_blas


class _Quantizer:
    """Apply one :class:`Noise` to an array whose last axis is the quantized vector."""

    def __init__(self, noise: Noise, rng: np.random.Generator, torch_gen):
        self.noise = noise
        self.rng = rng
        self.sd = float(np.sqrt(noise.eps))
        self.torch_gen = torch_gen

    def __call__(self, u: np.ndarray, vector: bool) -> np.ndarray:
        model = self.noise.model
        if model == "multiplicative":
            # One relative error per vector (per scalar when the quantity is a scalar).
            shape = u.shape[:-1] + (1,) if vector else u.shape
            return u * (1.0 + self.sd * self.rng.standard_normal(shape))
        if model == "multiplicative-elementwise":
            return u * (1.0 + self.sd * self.rng.standard_normal(u.shape))
        if model == "additive":
            return u + self.sd * self.rng.standard_normal(u.shape)
        import torch

        from bitscale import formats

        x = torch.from_numpy(np.ascontiguousarray(u))
        out = formats.quantize(x, self.noise.spec, axis=-1, rounding="stochastic",
                               generator=self.torch_gen)
        return out.numpy()


def montecarlo_risk(problem: Problem, quant: Quantization, n_grid, *, seeds: int = 1000,
                    rng_seed: int = 0, lr: float | None = None, inst: Instance | None = None,
                    chunk: int = 256, n_test: int = 64) -> RiskCurve:
    """Mean excess risk over ``seeds`` independent SGD runs, with its standard error.

    Parameters
    ----------
    problem, quant
        The task and its quantization (any noise model, real formats included).
    n_grid : sequence of int
        Increasing sample counts, multiples of ``problem.batch``.
    seeds : int
        Independent runs ``R`` (each with its own ``w*``, data and quantization noise).
    rng_seed : int
        Seed of the simulation's generators (numpy ``default_rng`` and, for real formats, a torch
        ``Generator``); same seed, same numbers.
    lr : float, optional
        Initial step (default ``problem.lr``).
    chunk : int
        Steps whose Gaussian draws are generated at once (memory ``chunk * R * B * M`` floats).
    n_test : int
        Test samples per seed for the quantized-inference risk of real formats (ignored
        otherwise: the idealised models' inference error is computed in closed form).

    Returns
    -------
    RiskCurve
        ``engine="montecarlo"``, with the per-seed risks in ``samples``. Constant schedule: one
        pass records every ``N``; geometric: one pass per ``N``. Two runs with the same
        ``rng_seed`` share the data stream when their quantizers draw no numpy randomness (full
        precision and real formats, whose rounding uses the torch generator), so their per-seed
        difference is a low-variance paired estimate.
    """
    if not (isinstance(seeds, (int, np.integer)) and seeds >= 2):
        raise ValueError(f"seeds = {seeds!r}: need at least 2 seeds for a standard error.")
    n = check_n_grid(n_grid, problem.batch)
    inst = inst if inst is not None else problem_instance(problem)
    lr = problem.lr if lr is None else lr
    rng = np.random.default_rng(rng_seed)
    torch_gen = None
    if any(noise.model == "format" for _, noise in quant.items()):
        import torch

        torch_gen = torch.Generator().manual_seed(int(rng_seed))
    qz = {p: _Quantizer(noise, rng, torch_gen) for p, noise in quant.items()}
    vstar, approx = inst.sample_targets(rng, seeds)
    steps = n // problem.batch
    if problem.schedule == "constant" and problem.iterate == "last":
        runs = [(np.arange(len(steps)), int(steps[-1]))]
    else:
        runs = [(np.array([i]), int(s)) for i, s in enumerate(steps)]
    risk = np.empty((len(steps), seeds))
    with single_thread_blas():
        for idx, horizon in runs:
            gammas = step_sizes(lr, problem.schedule, horizon)
            record = {int(steps[i]): i for i in idx}
            _simulate(inst, problem, qz, vstar, approx, gammas, record, risk, rng, chunk,
                      window_start(problem.iterate, horizon), n_test)
    mean = risk.mean(axis=1)
    se = risk.std(axis=1, ddof=1) / np.sqrt(seeds)
    return RiskCurve(engine="montecarlo", n=n, risk=mean, se=se, seeds=int(seeds), lr=lr,
                     samples=risk)


def _simulate(inst, problem, qz, vstar, approx, gammas, record, risk, rng, chunk, t0,
              n_test) -> None:
    R, M = vstar.shape
    B = problem.batch
    factor_t = (inst.U * np.sqrt(inst.mu)).T               # z = g @ (U sqrt(mu))^T
    sigma = (inst.U * inst.mu) @ inst.U.T
    noise_sd = np.sqrt(problem.sigma2 + approx)[:, None]   # (R, 1)
    ident = lambda u, vector: u  # noqa: E731 - full precision at a place
    q = {p: qz.get(p, ident) for p in ("data", "label", "param", "activation", "grad", "weights")}
    v = np.zeros((R, M))
    vsum = np.zeros((R, M))                                # sum of the iterates in the window
    T = gammas.shape[0]
    for start in range(0, T, chunk):
        stop = min(T, start + chunk)
        z_all = rng.standard_normal((stop - start, R, B, M)) @ factor_t          # (c, R, B, M)
        y_all = (np.einsum("crbm,rm->crb", z_all, vstar)
                 + noise_sd * rng.standard_normal((stop - start, R, B)))        # (c, R, B)
        # Data noise does not depend on the iterate: quantize the whole chunk in one call.
        zh_all = q["data"](z_all, True)
        for t in range(start, stop):
            zh = zh_all[t - start]                                             # (R, B, M)
            yh = q["label"](y_all[t - start], False)
            vh = q["param"](v, True)
            ah = q["activation"](np.einsum("rbm,rm->rb", zh, vh), False)
            oh = q["grad"](yh - ah, False)
            v = q["weights"](v + (gammas[t] / B) * np.einsum("rb,rbm->rm", oh, zh), True)
            if 0 <= t0 <= t:
                vsum += v
            i = record.get(t + 1)
            if i is not None:
                pred = v if t0 < 0 else vsum / (t + 1 - t0)
                err = pred - vstar
                risk[i] = np.einsum("rm,mn,rn->r", err, sigma, err) + approx
                if problem.test == "quantized":
                    risk[i] += _inference_error(pred, sigma, factor_t, q, qz, rng, n_test)


def _inference_error(v, sigma, factor_t, q, qz, rng, n_test, sample=None) -> np.ndarray:
    """``E(a^ - <v, z>)^2`` per seed for the forward-pass quantizers at inference, shape (R,).

    Closed form for the idealised models; the mean over ``n_test`` fresh test samples for real
    formats (``sample=True`` forces sampling, which the tests compare with the closed form).
    """
    noises = {p: qz[p].noise for p in ("data", "param", "activation") if p in qz}
    if sample is None:
        sample = any(n.model == "format" for n in noises.values())
    if sample:
        # Real formats: average over fresh test samples (one parameter draw per test batch).
        z = rng.standard_normal((v.shape[0], n_test, v.shape[1])) @ factor_t   # (R, n, M)
        a_hat = q["activation"](np.einsum("rnm,rm->rn", q["data"](z, True),
                                          q["param"](v, True)), False)
        return np.mean((a_hat - np.einsum("rnm,rm->rn", z, v)) ** 2, axis=1)
    M = sigma.shape[0]
    data, param, act = (noises.get(p) for p in ("data", "param", "activation"))
    s_hat = sigma
    if data is not None:
        s_hat = {"multiplicative": (1 + data.eps) * sigma,
                 "multiplicative-elementwise": sigma + data.eps * np.diag(np.diag(sigma)),
                 "additive": sigma + data.eps * np.eye(M)}[data.model]
    quad = np.einsum("rm,mn,rn->r", v, s_hat, v)
    if param is not None:
        quad = quad + {"multiplicative": param.eps * quad,
                       "multiplicative-elementwise": param.eps * (v**2 @ np.diag(s_hat)),
                       "additive": np.full_like(quad, param.eps * np.trace(s_hat))}[param.model]
    kappa_a, eta_a = 1.0, 0.0
    if act is not None:
        kappa_a, eta_a = (1.0, act.eps) if act.model == "additive" else (1.0 + act.eps, 0.0)
    return kappa_a * quad + eta_a - np.einsum("rm,mn,rn->r", v, sigma, v)
