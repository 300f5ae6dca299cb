from __future__ import annotations

import pytest

from tests.sweep.tiny_study import tiny_sweep_folder


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory):
    return tiny_sweep_folder(tmp_path_factory)
