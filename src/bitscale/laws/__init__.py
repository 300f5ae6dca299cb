"""bitscale.laws: precision-aware scaling laws, robust fitting with uncertainty, presets, planning.

Law forms (registry, see :mod:`bitscale.laws.forms`): ``chinchilla``, ``kumar-neff``, ``kumar-ptq``,
``kumar-unified``, ``eff-per-precision``, ``sun-fp``; add your own with :func:`register_law`.

Typical use::

    from bitscale import laws

    # Fit. Canonical columns: N, D, loss, P_w, P_a, P_kv, P_post, delta, loss_post, label,
    # exp_bits, man_bits, block; map yours with `columns`.
    fit = laws.fit("chinchilla", df, columns={"N": "params", "D": "tokens", "loss": "loss"},
                   delta=1e-3, bootstrap=200)
    fit.params, fit.se, fit.ci          # point estimate, bootstrap SEs, 95% percentile intervals
    fit.rmsle, fit.r2                   # quality on the fitted runs (log space)
    fit.predict(df)                     # predicted loss, shape (n,)
    fit.to_json("fit.json"); laws.FitResult.from_json("fit.json")

    # Few runs (20-40), some at 16 bits: hold what the data cannot resolve.
    fit = laws.fit("kumar-neff", runs, fixed={"n_w": 0, "n_a": 0, "n_kv": 0}, ties={"beta": "alpha"})
    #   Precision columns that are absent default to 16 bits; dimensions whose runs are all at
    #   >= 16 bits have their gamma_x, n_x fixed automatically (listed in fit.fixed / fit.notes).
    laws.fit("eff-per-precision", runs, columns={"label": "precision"})  # eff[label], 16/bf16 pinned at 1
    laws.fit("kumar-ptq", ptq_runs)     # target delta (or loss_post - loss)

    # Held-out extrapolation check: fit without the largest runs, predict them.
    laws.extrapolation_check("chinchilla", df, by="N", fraction=0.2).rmsle_test

    # Presets (published constants with their source) and comparisons.
    law = laws.preset("kumar2024")      # law.params, law.source, law.companions["kumar2024-ptq"]
    laws.compare(fit, "epoch2024", data=df).to_frame()

    # Planning under C = c(P) N D (default c = 6 P / 16).
    p = laws.plan(law, compute=1e21)                 # p.N, p.D, p.P, p.loss
    laws.plan(law, compute=1e21, N=1e9)              # fixed N: choose D and P
    laws.plan(law, compute=1e21, cost=laws.HardwareCost({"16": (16, 1), "8": (8, 2), "4": (4, 4)}))
    laws.plan_sweep(law, [1e19, 1e21, 1e23]).P       # P* against compute
    laws.loss_after_ptq(law, N=1e9, D=1e11, P_post=4)
    laws.critical_data(law, N=1e9, P_post=4)         # D beyond which more data hurts after PTQ
"""

from bitscale.laws.fitting import FitResult, Holdout, extrapolation_check, fit, huber
from bitscale.laws.forms import LawForm, Param, available_laws, get_law, register_law, unregister_law
from bitscale.laws.law import Law
from bitscale.laws.planning import (
    BitCost,
    HardwareCost,
    Plan,
    PlanSweep,
    critical_data,
    loss_after_ptq,
    plan,
    plan_sweep,
)
from bitscale.laws.presets import Comparison, available_presets, compare, preset

__all__ = [
    "BitCost",
    "Comparison",
    "FitResult",
    "HardwareCost",
    "Holdout",
    "Law",
    "LawForm",
    "Param",
    "Plan",
    "PlanSweep",
    "available_laws",
    "available_presets",
    "compare",
    "critical_data",
    "extrapolation_check",
    "fit",
    "get_law",
    "huber",
    "loss_after_ptq",
    "plan",
    "plan_sweep",
    "preset",
    "register_law",
    "unregister_law",
]
