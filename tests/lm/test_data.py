"""Corpora: file order, hashing, the deterministic split, the memory-mapped cache."""

from __future__ import annotations

import hashlib
import sysconfig
from pathlib import Path

import numpy as np
import pytest

from bitscale.lm import load_corpus
from bitscale.lm.data import BLOCK, corpus_files


def _folder(tmp_path: Path) -> Path:
    root = tmp_path / "texts"
    (root / "b").mkdir(parents=True)
    (root / ".hidden").mkdir()
    (root / "z.txt").write_bytes(b"zzz" * 5000)
    (root / "a.txt").write_bytes(bytes(range(1, 256)) * 40)
    (root / "b" / "c.txt").write_bytes(b"hello world\n" * 3000)
    (root / ".hidden" / "x.txt").write_bytes(b"secret")
    return root


def test_folder_is_read_in_sorted_order_joined_by_nul_and_hashed(tmp_path):
    root = _folder(tmp_path)
    corpus = load_corpus(root, cache_dir=tmp_path / "cache")
    expected = b"\x00".join((root / p).read_bytes() for p in ("a.txt", "b/c.txt", "z.txt"))
    assert corpus.n_files == 3
    assert corpus.sha256 == hashlib.sha256(expected).hexdigest()
    assert corpus.n_tokens == len(expected)
    assert corpus.train.dtype == np.uint8 and isinstance(corpus.train, np.memmap)


def test_split_takes_every_fifth_block_for_validation(tmp_path):
    root = _folder(tmp_path)
    corpus = load_corpus(root, val_fraction=0.2, cache_dir=tmp_path / "cache")
    stream = np.frombuffer(b"\x00".join((root / p).read_bytes() for p in ("a.txt", "b/c.txt", "z.txt")), np.uint8)
    blocks = [stream[i : i + BLOCK] for i in range(0, stream.size, BLOCK)]
    val = np.concatenate([b for i, b in enumerate(blocks) if i % 5 == 4])
    train = np.concatenate([b for i, b in enumerate(blocks) if i % 5 != 4])
    np.testing.assert_array_equal(corpus.val, val)
    np.testing.assert_array_equal(corpus.train, train)


def test_tiny_corpus_still_gets_a_validation_tail(tmp_path):
    path = tmp_path / "small.txt"
    path.write_bytes(b"abcdefghij" * 100)  # 1000 bytes: less than one validation period of blocks
    corpus = load_corpus(path, val_fraction=0.1, cache_dir=tmp_path / "cache")
    assert corpus.val.size == 100 and corpus.train.size == 900
    np.testing.assert_array_equal(corpus.val, np.frombuffer(b"abcdefghij" * 10, np.uint8))


def test_cache_is_keyed_by_content_and_reused(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes(b"one two three " * 1000)
    cache = tmp_path / "cache"
    first = load_corpus(path, cache_dir=cache)
    files = sorted(cache.rglob("*.bin"))
    stamps = [f.stat().st_mtime_ns for f in files]
    second = load_corpus(path, cache_dir=cache)
    assert [f.stat().st_mtime_ns for f in files] == stamps  # read back, not rewritten
    assert second.sha256 == first.sha256
    np.testing.assert_array_equal(second.train, first.train)
    path.write_bytes(b"four five six " * 1000)
    third = load_corpus(path, cache_dir=cache)
    assert third.sha256 != first.sha256
    assert len(list(cache.iterdir())) == 2


def test_default_corpus_is_the_stdlib_without_site_packages_or_tests():
    root, files = corpus_files(None)
    assert root == Path(sysconfig.get_paths()["stdlib"])
    assert files == sorted(files) and len(files) > 100
    rel = [f.relative_to(root).parts for f in files]
    assert all(p[-1].endswith(".py") for p in rel)
    assert not any({"site-packages", "test", "tests"} & set(p) for p in rel)
    assert root / "json" / "decoder.py" in files


def test_default_corpus_loads(tmp_path):
    corpus = load_corpus(cache_dir=tmp_path)
    root, files = corpus_files(None)
    assert corpus.source == str(root) and corpus.n_files == len(files)
    assert corpus.n_tokens == sum(f.stat().st_size for f in files) + len(files) - 1
    assert 0.04 < corpus.val.size / corpus.n_tokens < 0.06


def test_bad_paths_say_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither a file nor a folder"):
        load_corpus(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no files"):
        load_corpus(tmp_path / "empty")
    with pytest.raises(ValueError, match="val_fraction"):
        load_corpus(tmp_path, val_fraction=0.9)
