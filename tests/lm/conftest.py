"""Fixtures of the lm tests: a small text corpus and a private token cache."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest

from bitscale.lm import ModelConfig, TrainConfig

TINY_MODEL = ModelConfig(n_layer=1, d_model=32, n_head=2, seq_len=32)


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Token caches go to a per-session temporary folder, never to ~/.cache."""
    monkeypatch.setenv("BITSCALE_CACHE", str(tmp_path_factory.getbasetemp() / "bitscale-cache"))


@pytest.fixture(scope="session")
def text_file(tmp_path_factory) -> Path:
    """~60 kB of real Python source (a few standard-library modules), as one text file."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    text = b"".join((stdlib / name).read_bytes() for name in ("textwrap.py", "shlex.py", "fnmatch.py", "bisect.py"))
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_bytes(text)
    return path


@pytest.fixture
def tiny_config(text_file) -> TrainConfig:
    """A run of 24 steps of 4 × 32 tokens on the text file: about a second on one core."""
    return TrainConfig(
        model=TINY_MODEL,
        tokens=24 * 4 * 32,
        batch_size=4,
        lr=1e-2,
        min_lr=1e-3,
        warmup=4,
        eval_tokens=2048,
        data=str(text_file),
        threads=1,
    )
