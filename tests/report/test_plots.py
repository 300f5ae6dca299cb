from __future__ import annotations

import numpy as np
import pandas as pd

from bitscale import laws
from bitscale.report import plots


def _runs() -> pd.DataFrame:
    rows = []
    for N in (1e4, 4e4):
        for D in (1e5, 4e5):
            for prec, pw, est in (("fp32", 16, "none"), ("w4", 4, "ste"), ("w4,est=denoise", 4, "denoise")):
                rows.append({"N": N, "D": D, "P_w": pw, "P_a": 16, "P_kv": 16, "precision": prec, "estimator": est,
                             "seed": 0, "loss": 2.0 + 30 * N ** -0.3 + 10 * D ** -0.2 + (0.01 if pw < 16 else 0)})
    return pd.DataFrame(rows)


def test_estimator_pairs_match_on_n_d_seed_bits():
    pairs = plots.estimator_pairs(_runs())
    assert len(pairs) == 4 and set(pairs["bits"]) == {"w4"}
    assert np.allclose(pairs["loss_ste"], pairs["loss_denoise"])


def test_empirical_neff_inverts_the_law():
    law = laws.preset("kumar2024")
    df = pd.DataFrame({"N": [1e8, 1e9], "D": [1e10, 1e11], "P_w": [4.0, 3.0], "P_a": [16.0, 16.0], "P_kv": [16.0, 16.0]})
    df["loss"] = law.predict(df)
    p = law.params
    factor = 1 - np.exp(-(df["P_w"] / p["gamma_w"] - p["n_w"]))
    np.testing.assert_allclose(plots.empirical_neff_ratio(df, law), factor, rtol=1e-6)


def test_figures_render_or_say_missing():
    runs = _runs()
    assert plots.loss_vs_N(runs.iloc[0:0]) is None
    assert plots.delta_ptq_vs_tpp(pd.DataFrame(columns=["P_post"])) is None
    assert plots.pstar_vs_compute(None) is None
    assert plots.estimator_comparison(runs[runs["estimator"] != "denoise"]) is None
    for fig in (plots.loss_vs_N(runs), plots.loss_vs_D(runs), plots.estimator_comparison(runs),
                plots.neff_vs_bits(runs, None, laws.preset("kumar2024"))):
        assert plots.to_png(fig)[:4] == b"\x89PNG"
