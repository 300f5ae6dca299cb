"""Exact vs Monte Carlo on the whole matrix: places x schemes x schedules."""

from __future__ import annotations

import pytest

from bitscale.theory import PLACES, validate


@pytest.mark.slow
def test_exact_agrees_with_montecarlo_on_the_whole_matrix():
    cases = validate()
    # 6 places x 2 schemes + full precision, under 2 schedules.
    assert len(cases) == 2 * (len(PLACES) * 2 + 1)
    assert {c.place for c in cases} == {"none", *PLACES}
    assert {c.schedule for c in cases} == {"constant", "geometric"}
    bad = [(c.place, c.scheme, c.schedule, round(c.max_z, 2)) for c in cases if not c.passed]
    assert not bad, f"|exact - MC| > 3 SE: {bad}"
    # Power: every quantizer moves the risk by more than 3 SE, so its terms are really tested.
    weak = [(c.place, c.scheme, c.schedule, round(c.power, 1)) for c in cases
            if c.place != "none" and c.power < 3]
    assert not weak, f"cases whose quantizer barely changes the risk: {weak}"
