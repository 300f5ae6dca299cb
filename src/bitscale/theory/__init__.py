"""bitscale.theory: sketched linear regression trained in low precision.

The model of ``shared/design/theory.md`` (Lin et al. 2024; Zhang, Su, Zou 2025; Zhang, Tang,
Liang, Zou 2026): covariates ``x ~ N(0, diag(i^(-a)))``, a Gaussian sketch ``S`` (M x d), one-pass
SGD on ``<v, S x>`` with quantization at any of six places (data, label, param, activation, grad,
weights), each a ``multiplicative``, ``multiplicative-elementwise``, ``additive`` noise model or a
real format of :mod:`bitscale.formats` with stochastic rounding.

Public API
----------
Problem, Noise, Quantization, FULL_PRECISION
    Frozen, validated configs (:mod:`.problem`). ``Problem.iterate`` picks the last iterate, the
    average or the tail average; ``Problem.test`` a clean or quantized-inference test risk;
    ``Noise`` takes ``eps`` or ``bits`` (:mod:`.bits`: the eps of a stochastically rounded grid).
exact_risk(problem, quant, n_grid) -> RiskCurve; plateau(instance, problem, quant) -> float;
plateau_split(instance, problem, quant) -> PlateauSplit
    Expected excess risk from the moment recursion in Sigma's eigenbasis, O(M) per step, numba
    (:mod:`.exact`; every quantizer's terms are derived in its docstring). Commuting noise only.
montecarlo_risk(problem, quant, n_grid, seeds=...) -> RiskCurve
    SGD simulated over many seeds at once, float64, any noise model (:mod:`.montecarlo`).
effective_sizes(problem, quant, M_grid, N_grid) -> EffectiveSizes
    Fit ``R_q(M, N) ~ R_fp(M_eff, N_eff) + E_add`` with ``E_add`` shared by the grid, its
    standard error, and the analytic plateau split per ``M`` (:mod:`.effective`).
validate() -> list[ValidationCase]
    Exact vs Monte Carlo on places x schemes x schedules (:mod:`.validate`).
run_experiment(config, out_dir, progress=True) -> ExperimentSummary
    ``config``: ``None`` (bundled default), ``"quick"`` (bundled, seconds), a TOML path, or an
    :class:`ExperimentConfig`. Writes ``results.csv``, ``summary.json`` and PNG plots
    (``risk_vs_N``, ``risk_vs_M``, ``effective_sizes``, ``overlay``, ``formats``) into
    ``out_dir``; the summary holds the effective-size table (:class:`EffectiveRow`: scheme,
    place, eps, M, M_eff, M_eff/M, N_eff/N, E_add, rms/max log residual, lr), the real-format rows
    (:class:`FormatRow`) and the plot paths (:mod:`.experiment`).

Example
-------
>>> from bitscale import theory
>>> p = theory.Problem(a=2.0, M=128, d=1280)
>>> q = theory.Quantization(data=theory.Noise("additive", 0.01))
>>> theory.exact_risk(p, q, [1024, 4096]).risk            # doctest: +SKIP
>>> theory.run_experiment("quick", "out/")                 # doctest: +SKIP
"""

from bitscale.theory.curves import RiskCurve
from bitscale.theory.effective import EffectiveSizes, effective_sizes
from bitscale.theory.bits import bits_from_eps, eps_from_bits
from bitscale.theory.exact import PlateauSplit, effective_trace, exact_risk, plateau, plateau_split
from bitscale.theory.experiment import (
    EffectiveRow,
    ExperimentConfig,
    ExperimentSummary,
    FormatRow,
    run_experiment,
)
from bitscale.theory.montecarlo import montecarlo_risk
from bitscale.theory.problem import FULL_PRECISION, PLACES, Noise, Problem, Quantization
from bitscale.theory.sketch import Instance, instance
from bitscale.theory.validate import ValidationCase, validate

__all__ = [
    "FULL_PRECISION", "PLACES", "EffectiveRow", "EffectiveSizes", "ExperimentConfig",
    "ExperimentSummary", "FormatRow", "Instance", "Noise", "PlateauSplit", "Problem",
    "Quantization", "RiskCurve", "ValidationCase", "bits_from_eps", "effective_sizes",
    "effective_trace", "eps_from_bits", "exact_risk", "instance", "montecarlo_risk", "plateau",
    "plateau_split", "run_experiment", "validate",
]
