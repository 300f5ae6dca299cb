"""Fits to data nobody on this project produced, against the numbers their authors published."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bitscale import laws

from .helpers import DATA, epoch_points, quest_runs

PUBLISHED = json.loads((DATA / "published_constants_subset.json").read_text())


def test_epoch_chinchilla_replication_lands_on_their_grid_fit():
    """Recipe of Besiroglu et al. 2024: Huber(1e-3) on log loss, LSE form, L-BFGS-B from their grid
    (alpha, beta in {0,..,2}, e in {-1,..,1}, a, b in {0,5,..,25}), 5 highest-loss points dropped.

    Tolerance: 0.1 % on E, alpha, beta and 0.5 % on A and B (an independent reproduction quoted in
    the same record differs from theirs by 0.003 % on B), 1e-6 relative on the objective.
    """
    pub = PUBLISHED["epoch2024_replication_huber_grid"]
    fit = laws.fit("chinchilla", epoch_points(), columns={"N": "params", "D": "tokens"}, delta=1e-3, init="grid")
    assert fit.n_points == 240
    for k, rel in (("A", 5e-3), ("B", 5e-3), ("E", 1e-3), ("alpha", 1e-3), ("beta", 1e-3)):
        assert fit.params[k] == pytest.approx(pub[k], rel=rel), k
    assert fit.objective == pytest.approx(pub["objective"], rel=1e-6)


def test_epoch_bootstrap_standard_errors_are_of_their_size():
    """Their SEs come from 4000 bootstraps of the MLE fit; 40 replicates give SEs within ~30 %."""
    pub = PUBLISHED["epoch2024_replication_mle"]["se"]
    fit = laws.fit("chinchilla", epoch_points(), columns={"N": "params", "D": "tokens"}, bootstrap=40, seed=42)
    for k in ("E", "alpha", "beta"):
        assert fit.se[k] == pytest.approx(pub[k], rel=0.35), k


def test_quest_efficiencies_rise_with_bits_and_fit_no_worse_than_published():
    runs = quest_runs()
    cols = {"N": "non_embedding_parameters", "D": "tokens", "label": "precision"}
    # Least squares on log loss: the criterion compared is the RMS log residual.
    fit = laws.fit("eff-per-precision", runs, columns=cols, loss="ls")
    eff = fit.params
    for group in ("{}", "{}NOH", "{}WO"):
        bits = [b for b in (1, 2, 3, 4, 8) if f"eff[{group.format(b)}]" in eff]
        values = [eff[f"eff[{group.format(b)}]"] for b in bits]
        assert np.all(np.diff(values) > 0), (group, values)
    published = laws.preset("quest2025")
    cmp = laws.compare(fit, published, data=runs, columns=cols)
    assert cmp.rmsle <= cmp.rmsle_reference
    # and the efficiencies agree with the published ones to within 5 % (their fit, same runs)
    for name, mine, theirs, ratio, _ in cmp.rows:
        if name.startswith("eff["):
            assert ratio == pytest.approx(1.0, abs=0.05), name
