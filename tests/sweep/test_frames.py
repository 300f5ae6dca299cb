from __future__ import annotations

import json

import pandas as pd
import pytest

from bitscale import laws
from bitscale.sweep.frames import export, ptq_frame, runs_frame
from bitscale.sweep.store import RunStore


@pytest.mark.slow
def test_runs_and_ptq_frames_match_the_stored_results(tiny_folder):
    runs = runs_frame(tiny_folder)
    assert len(runs) == 6 and set(runs["status"]) == {"done"}
    with RunStore.in_folder(tiny_folder) as store:
        for row in runs.itertuples():
            res = store.get(row.key).result
            assert (row.N, row.D, row.P_w, row.loss) == (res["N"], res["D"], res["P_w"], res["val_loss"])
            assert row.tokens_per_param == res["D"] / res["N"]
            assert row.precision == (res["quant"] or "fp32")
    assert set(runs["P_w"]) == {3, 16} and set(runs["P_a"]) == {16}
    ptq = ptq_frame(tiny_folder)
    assert len(ptq) == 6 and set(ptq["P_post"]) == {4.0}
    assert (ptq["delta"] - (ptq["loss_post"] - ptq["loss"])).abs().max() < 1e-12


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_feeds_laws_fit(tiny_folder, tmp_path, fmt):
    written = export(tiny_folder, tmp_path / f"runs.{fmt}")
    assert [p.name for p in written] == [f"runs.{fmt}", f"runs_ptq.{fmt}"]
    read = pd.read_csv if fmt == "csv" else pd.read_parquet
    df = read(written[0])
    pd.testing.assert_frame_equal(df, runs_frame(tiny_folder), check_dtype=False)
    # the exported file is what laws.fit reads, with no column mapping
    fit = laws.fit("chinchilla", written[0])
    assert fit.n_points == 6 and fit.rmsle < 0.1
    json.loads(fit.to_json())


def test_export_rejects_unknown_format(tmp_path):
    RunStore.in_folder(tmp_path).close()
    with pytest.raises(ValueError, match="expected 'csv' or 'parquet'"):
        export(tmp_path, tmp_path / "runs.xlsx")
    with pytest.raises(FileNotFoundError, match="no run store"):
        runs_frame(tmp_path / "elsewhere")
