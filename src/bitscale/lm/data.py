"""Byte-level text corpora, split and cached as memory-mapped token files.

The default corpus is the source code of the running interpreter's standard library: it exists on
every machine and needs no download. Files ``*.py`` under ``sysconfig.get_paths()["stdlib"]`` are
read in sorted path order, leaving out ``site-packages`` (installed third-party code, which differs
between machines) and test folders (``test``, ``tests``, ``idle_test``: large, repetitive
fixtures). Because the standard library differs between Python versions, so does the corpus: its
SHA-256 is recorded with every run.

Tokens are bytes (vocabulary 256). Files are joined with a NUL byte between them (a separator that
does not occur in source text). The token stream is cut into blocks of :data:`BLOCK` bytes and
every ``round(1 / val_fraction)``-th block goes to validation, the rest to training: a split that is
deterministic, needs no randomness, and takes validation text from all over the corpus rather than
from its last files only.

The two streams are written once to ``<cache>/corpus-<sha256[:16]>/{train,val}.bin`` (uint8) and
memory-mapped afterwards; the cache folder is ``$BITSCALE_CACHE`` or ``~/.cache/bitscale``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["BLOCK", "Corpus", "corpus_files", "default_cache_dir", "load_corpus"]

BLOCK = 4096
"""Bytes per block of the train/validation split."""

_SKIP_DIRS = frozenset({"site-packages", "dist-packages", "test", "tests", "idle_test", "__pycache__"})
_SEPARATOR = b"\x00"


@dataclass(frozen=True)
class Corpus:
    """A tokenised corpus: two memory-mapped uint8 arrays and where they came from.

    Attributes
    ----------
    train, val : numpy.memmap of uint8, shape (n_train,), (n_val,)
        Byte tokens of the two splits.
    sha256 : str
        Hex SHA-256 of the whole token stream (before the split), which identifies the corpus.
    source : str
        The path read (the standard library's folder for the default corpus).
    n_files : int
        Number of files read.
    """

    train: np.ndarray
    val: np.ndarray
    sha256: str
    source: str
    n_files: int

    @property
    def n_tokens(self) -> int:
        """Total tokens in both splits."""
        return int(self.train.size + self.val.size)


def default_cache_dir() -> Path:
    """``$BITSCALE_CACHE`` if set, else ``~/.cache/bitscale``."""
    env = os.environ.get("BITSCALE_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "bitscale"


def corpus_files(path: str | os.PathLike | None = None) -> tuple[Path, list[Path]]:
    """The root and the sorted list of files a corpus is made of.

    Parameters
    ----------
    path : path or None
        None: the standard library's ``*.py`` files (see the module docstring). A file: that file.
        A folder: every regular file below it, in sorted path order, except hidden ones (a name
        starting with ``.``) and those under ``__pycache__``.
    """
    if path is None:
        root = Path(sysconfig.get_paths()["stdlib"])
        files = [
            f
            for f in root.rglob("*.py")
            if f.is_file() and not _SKIP_DIRS.intersection(f.relative_to(root).parts[:-1])
        ]
        return root, sorted(files)
    root = Path(path).expanduser()
    if root.is_file():
        return root, [root]
    if not root.is_dir():
        raise FileNotFoundError(
            f"load_corpus: data path {str(root)!r} is neither a file nor a folder; pass an existing "
            f"text file or folder, or None for the standard-library corpus."
        )
    files = [
        f
        for f in root.rglob("*")
        if f.is_file()
        and not any(part.startswith(".") or part == "__pycache__" for part in f.relative_to(root).parts)
    ]
    if not files:
        raise ValueError(f"load_corpus: folder {str(root)!r} holds no files; expected text files in it.")
    return root, sorted(files)


def _split(tokens: np.ndarray, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Every ``round(1/val_fraction)``-th block of :data:`BLOCK` tokens to validation."""
    period = max(2, round(1.0 / val_fraction))
    n_blocks = -(-tokens.size // BLOCK)
    block_of = np.arange(tokens.size) // BLOCK
    is_val = (block_of % period) == period - 1
    if n_blocks < period:
        # Too short for one validation block: validate on the last val_fraction of the tokens.
        cut = tokens.size - max(1, int(tokens.size * val_fraction))
        is_val = np.arange(tokens.size) >= cut
    return tokens[~is_val], tokens[is_val]


def _write_atomic(path: Path, data: bytes) -> None:
    # Several worker processes may build the same cache at once: write aside, then rename.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def load_corpus(
    path: str | os.PathLike | None = None,
    *,
    val_fraction: float = 0.05,
    cache_dir: str | os.PathLike | None = None,
) -> Corpus:
    """Read, tokenise, split and cache a corpus; memory-map it.

    Parameters
    ----------
    path : path or None
        A text file, a folder of text files, or None for the standard-library corpus.
    val_fraction : float
        Fraction of blocks held out for validation, in (0, 0.5].
    cache_dir : path or None
        Where the token files live; default :func:`default_cache_dir`.

    Returns
    -------
    Corpus
        With ``train`` and ``val`` memory-mapped read-only from the cache.
    """
    if not 0.0 < val_fraction <= 0.5:
        raise ValueError(f"load_corpus: val_fraction must be in (0, 0.5], got {val_fraction!r}.")
    root, files = corpus_files(path)
    blob = _SEPARATOR.join(f.read_bytes() for f in files)
    if len(blob) < 64:
        raise ValueError(
            f"load_corpus: {str(root)!r} holds only {len(blob)} bytes; need at least 64 to train on."
        )
    sha = hashlib.sha256(blob).hexdigest()
    period = max(2, round(1.0 / val_fraction))
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder = folder / f"corpus-{sha[:16]}-v{period}"
    train_path, val_path, meta_path = folder / "train.bin", folder / "val.bin", folder / "meta.json"
    if not meta_path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        train, val = _split(np.frombuffer(blob, dtype=np.uint8), val_fraction)
        _write_atomic(train_path, train.tobytes())
        _write_atomic(val_path, val.tobytes())
        meta = {"sha256": sha, "source": str(root), "n_files": len(files), "block": BLOCK, "period": period}
        _write_atomic(meta_path, json.dumps(meta, indent=2).encode())
    return Corpus(
        train=np.memmap(train_path, dtype=np.uint8, mode="r"),
        val=np.memmap(val_path, dtype=np.uint8, mode="r"),
        sha256=sha,
        source=str(root),
        n_files=len(files),
    )
