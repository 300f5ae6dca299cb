"""Synthetic-run generators and the path of the packaged validation data for tests/laws."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bitscale import laws

DATA = Path(__file__).parent / "data"
NOISE = 0.005  # multiplicative log-normal noise on the target: 0.5 %


def base_runs(n: int, rng: np.random.Generator, lo: float = 2e7, hi: float = 3e9) -> pd.DataFrame:
    """N log-uniform in [lo, hi], D = N * (tokens per parameter, log-uniform in [5, 400])."""
    N = np.exp(rng.uniform(np.log(lo), np.log(hi), n))
    D = N * np.exp(rng.uniform(np.log(5), np.log(400), n))
    return pd.DataFrame({"N": N, "D": D})


def with_target(df: pd.DataFrame, law: laws.Law, rng: np.random.Generator, column: str = "loss") -> pd.DataFrame:
    df = df.copy()
    df[column] = law.predict(df) * np.exp(rng.normal(0.0, NOISE, len(df)))
    return df


def epoch_points() -> pd.DataFrame:
    """The replication's 240 points: 5 highest-loss points dropped, D = FLOP / (6 N)."""
    d = pd.read_csv(DATA / "epoch_chinchilla_svg_extracted_data.csv")
    d = d.sort_values("loss").iloc[:-5]
    return pd.DataFrame({"params": d["Model Size"], "tokens": d["Training FLOP"] / (6 * d["Model Size"]), "loss": d["loss"]})


def quest_label(r) -> str:
    """Run -> label, following the QuEST notebook's grouping (plots.ipynb cell 3)."""
    w, a = r.w_quant, r.a_quant
    if "FourEight" in w:
        return "2.5"
    if "FP4" in w:
        return "fp4"
    if w == a == "NoQuantizer":
        return "16"
    if w == a and "Hadamard" in w:
        return str(r.w_bits)
    if w == a:
        return f"{r.w_bits}NOH"
    if "Hadamard" in w and a == "NoQuantizer":
        return f"{r.w_bits}WO"
    raise ValueError(f"run not in any QuEST group: {r}")


def quest_runs() -> pd.DataFrame:
    d = pd.read_csv(DATA / "quest_runs_for_scaling_flat.csv")
    d["precision"] = [quest_label(r) for r in d.itertuples()]
    return d
