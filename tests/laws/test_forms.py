"""Each law's vectorised log-sum-exp evaluation against a plain scalar transcription of its formula."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from bitscale import laws


def _factor(P, gamma, n):
    return 1.0 if P >= 16 else 1.0 - math.exp(-(P / gamma - n))


def _kumar_ref(p, N, D, Pw, Pa, Pkv):
    neff = N * _factor(Pw, p["gamma_w"], p["n_w"]) * _factor(Pa, p["gamma_a"], p["n_a"]) * _factor(Pkv, p["gamma_kv"], p["n_kv"])
    return p["A"] * neff ** -p["alpha"] + p["B"] * D ** -p["beta"] + p["E"]


ROWS = [(1e8, 2e9, 8, 8, 8), (3e9, 1e11, 4, 6, 16), (5e7, 1e12, 16, 16, 16), (2e8, 4e9, 5, 4, 3)]


def test_kumar_neff_matches_formula():
    law = laws.preset("kumar2024")
    for N, D, Pw, Pa, Pkv in ROWS[:3]:
        got = law.predict(N=N, D=D, P_w=Pw, P_a=Pa, P_kv=Pkv)[0]
        assert got == pytest.approx(_kumar_ref(law.params, N, D, Pw, Pa, Pkv), rel=1e-12)


def test_chinchilla_matches_formula():
    law = laws.preset("hoffmann2022")
    p = law.params
    for N, D, *_ in ROWS:
        ref = p["E"] + p["A"] * N ** -p["alpha"] + p["B"] * D ** -p["beta"]
        assert law.predict(N=N, D=D)[0] == pytest.approx(ref, rel=1e-12)


def test_ptq_and_unified_match_formula():
    ptq = laws.preset("kumar2024-ptq").params
    N, D, Pp = 1e9, 2e10, 4.0
    ref = ptq["C_T"] * D ** ptq["gamma_D"] / N ** ptq["gamma_N"] * math.exp(-Pp / ptq["gamma_post"])
    assert laws.preset("kumar2024-ptq").predict(N=N, D=D, P_post=Pp)[0] == pytest.approx(ref, rel=1e-12)

    base = laws.preset("kumar2024").params
    p = {**base, **ptq, "C_w": 0.7, "C_a": 1.3, "C_kv": 2.0}
    uni = laws.Law.from_params("kumar-unified", p)
    for Pw, Pa, Pkv in [(8, 16, 16), (6, 8, 16), (16, 16, 16), (4, 8, 8)]:
        neff = N * _factor(Pw, p["gamma_w"], p["n_w"]) * _factor(Pa, p["gamma_a"], p["n_a"]) * _factor(Pkv, p["gamma_kv"], p["n_kv"])
        rob = 1.0
        for P, C in ((Pw, p["C_w"]), (Pa, p["C_a"]), (Pkv, p["C_kv"])):
            rob *= 1.0 if P >= 16 else (1 - math.exp(-C * (P - Pp)) if P > Pp else 0.0)
        delta = p["C_T"] * D ** p["gamma_D"] / neff ** p["gamma_N"] * math.exp(-Pp / p["gamma_post"]) * rob
        ref = _kumar_ref(p, N, D, Pw, Pa, Pkv) + delta
        got = uni.predict(N=N, D=D, P_w=Pw, P_a=Pa, P_kv=Pkv, P_post=Pp)[0]
        assert got == pytest.approx(ref, rel=1e-12)


def test_eff_per_precision_matches_formula_and_pins_full_precision():
    law = laws.preset("quest2025")
    p = law.params
    for label, N, D in [("4", 1e8, 5e9), ("fp4", 3e8, 1e10), ("16", 5e7, 2e9), ("2NOH", 1e8, 1e10)]:
        eff = 1.0 if label == "16" else p[f"eff[{label}]"]
        ref = p["A"] * (N * eff) ** -p["alpha"] + p["B"] * D ** -p["beta"] + p["E"]
        assert law.predict(N=N, D=D, label=label)[0] == pytest.approx(ref, rel=1e-12)
    with pytest.raises(ValueError, match="no fitted efficiency"):
        law.predict(N=1e8, D=1e9, label="5")


def test_sun_fp_matches_formula():
    law = laws.preset("sun2025")
    p = law.params
    for N, D, E, M, B in [(1e8, 1e10, 4, 3, 128), (1e9, 1e11, 2, 1, 32), (3e8, 2e10, 5, 2, 1)]:
        ref = (
            p["n"] / N ** p["alpha"] + p["d"] / D ** p["beta"] + p["eps"]
            + D ** p["beta"] / N ** p["alpha"] * math.log2(B) / (p["gamma"] * (E + 0.5) ** p["delta"] * (M + 0.5) ** p["nu"])
        )
        got = law.predict(N=N, D=D, exp_bits=E, man_bits=M, block=B)[0]
        assert got == pytest.approx(ref, rel=1e-12)


def test_log_sum_exp_form_stays_finite_where_the_naive_form_overflows():
    form = laws.get_law("chinchilla")
    # A = e^700 times N^-alpha: the product is moderate, A itself is near float overflow.
    values = {"A": np.array([np.exp(700.0)]), "B": np.array([1.0]), "E": np.array([1.0]), "alpha": np.array([30.0]), "beta": np.array([0.5])}
    out = form.evaluate_log(values, {"N": np.array([1e10]), "D": np.array([1e10])})
    assert np.isfinite(out).all()
    assert out[0, 0] == pytest.approx(np.logaddexp(700 - 30 * np.log(1e10), np.log(1 + 1e-5)), rel=1e-12)


def test_register_user_law_and_fit_it():
    def power(p, X):
        return p["A"] * X["N"] ** -p["alpha"] + p["E"]

    try:
        form = laws.register_law("test-power", power, bounds={"A": (1e-3, 1e6), "alpha": (0.0, 2.0), "E": (1e-3, 10.0)}, columns=("N",), log_params=("A", "E"))
        rng = np.random.default_rng(3)
        N = np.exp(rng.uniform(np.log(1e6), np.log(1e10), 60))
        df = pd.DataFrame({"N": N, "loss": (300 * N ** -0.3 + 2.0) * np.exp(rng.normal(0, 0.001, 60))})
        fit = laws.fit("test-power", df)
        assert fit.params["alpha"] == pytest.approx(0.3, abs=0.02)
        assert fit.params["E"] == pytest.approx(2.0, rel=0.02)
        assert form.param("A").log
        with pytest.raises(ValueError, match="already registered"):
            laws.register_law("test-power", power, bounds={"A": (1, 2)})
    finally:
        laws.unregister_law("test-power")
    with pytest.raises(KeyError, match="unknown law"):
        laws.get_law("test-power")


def test_kumar2024_domain_is_checked_at_prediction():
    """With Table 2's offsets the activation factor is <= 0 at P_a <= gamma_a * n_a = 3.11 bits."""
    law = laws.preset("kumar2024")
    assert law.params["gamma_a"] * law.params["n_a"] == pytest.approx(3.110, abs=1e-3)
    assert np.isfinite(law.predict(N=1e9, D=1e10, P_w=4, P_a=4, P_kv=4)).all()
    with pytest.raises(ValueError, match=r"P_a = \[3.0\] bits is outside"):
        law.predict(N=1e9, D=1e10, P_w=8, P_a=3, P_kv=8)
