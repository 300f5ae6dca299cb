"""Exact vs Monte Carlo on the whole matrix: places x schemes x schedules, plus the read-outs."""

from __future__ import annotations

import pytest

from bitscale.theory import PLACES, validate
from bitscale.theory.validate import validation_matrix


@pytest.mark.slow
def test_exact_agrees_with_montecarlo_on_the_whole_matrix():
    cases = validate()
    training = [c for c in cases if c.iterate == "last" and c.test == "clean"]
    # 6 places x 2 schemes + full precision, under 2 schedules.
    assert len(training) == 2 * (len(PLACES) * 2 + 1)
    assert len(cases) == 2 * len(validation_matrix())
    assert {c.place for c in cases} == {"none", *PLACES}
    assert {c.schedule for c in cases} == {"constant", "geometric"}
    assert {(c.iterate, c.test) for c in cases} == {
        ("last", "clean"), ("average", "clean"), ("tail", "clean"), ("last", "quantized"),
        ("average", "quantized")}
    bad = [(c.place, c.scheme, c.schedule, c.iterate, c.test, round(c.max_z, 2))
           for c in cases if not c.passed]
    assert not bad, f"|exact - MC| > 3 SE: {bad}"
    # Power: every quantizer (and every read-out) moves the risk by more than 3 SE, so its terms
    # are really tested. Exception: the tail average under the geometric schedule spans the
    # smallest steps, where the iterates barely move, so it is close to the last iterate by
    # design; the constant schedule tests the tail window's terms.
    weak = [(c.place, c.scheme, c.schedule, c.iterate, c.test, round(c.power, 1)) for c in cases
            if not (c.place == "none" and c.iterate == "last") and c.power < 3
            and not (c.iterate == "tail" and c.schedule == "geometric")]
    tail_const = [c.power for c in cases if c.iterate == "tail" and c.schedule == "constant"]
    assert min(tail_const) > 3
    assert not weak, f"cases whose terms barely change the risk: {weak}"
