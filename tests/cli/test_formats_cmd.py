"""`bitscale formats` and `bitscale formats show` through Typer's CliRunner."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from bitscale import formats
from bitscale.cli import app

runner = CliRunner()


def test_table_lists_every_builtin_format():
    result = runner.invoke(app, ["formats", "--samples", "4096"])
    assert result.exit_code == 0, result.output
    for name in formats.BUILTIN:
        assert name in result.output
    assert "ε_mul" in result.output and "448" in result.output


def test_show_json_matches_library():
    result = runner.invoke(app, ["formats", "show", "fp8_e4m3", "--json", "--samples", "4096"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    info = formats.describe("e4m3fn", samples=4096)
    assert data["spec"] == "e4m3fn" and data["max_finite"] == 448.0
    assert data["eps_mul"] == info.eps_mul and data["dominant"] == "multiplicative"


def test_show_table_and_unknown_format():
    ok = runner.invoke(app, ["formats", "show", "int4:group128:affine", "--samples", "4096"])
    assert ok.exit_code == 0 and "additive" in ok.output
    bad = runner.invoke(app, ["formats", "show", "e4m3fm"])
    assert bad.exit_code == 2
    assert "Did you mean" in bad.output
