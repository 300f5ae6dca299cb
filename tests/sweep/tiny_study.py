"""A real tiny sweep (tests/sweep/tiny.toml, 6 short trainings), run once per test session."""

from __future__ import annotations

from pathlib import Path

from bitscale.sweep.config import load_sweep
from bitscale.sweep.runner import run_sweep

TINY = Path(__file__).with_name("tiny.toml")
_FOLDERS: dict[str, Path] = {}


def tiny_sweep_folder(tmp_path_factory) -> Path:
    """The folder of the tiny sweep, run with two local workers the first time it is asked for."""
    if "tiny" not in _FOLDERS:
        folder = tmp_path_factory.mktemp("tiny-sweep")
        run_sweep(load_sweep(TINY), folder, executor="local", workers=2)
        _FOLDERS["tiny"] = folder
    return _FOLDERS["tiny"]
