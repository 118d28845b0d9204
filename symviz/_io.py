"""Atomic file writes: checkpoints, caches and result files are never left half-written.

``atomic_write(path, write)`` calls ``write(fh)`` on a temporary file in the same folder, flushes it to disk and
moves it over ``path`` with ``os.replace`` (atomic on POSIX and Windows). If ``write`` raises, or the process is
interrupted, ``path`` keeps its old contents and the temporary file is removed.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "atomic_write_text"]


def atomic_write(path, write: Callable[[IO[Any]], object], *, binary: bool = True, mode: int = 0o644) -> Path:
    """Write ``path`` atomically. ``write(fh)`` fills an open temporary file (``"wb"``, or ``"w"`` UTF-8 text if
    ``binary=False``); e.g. ``lambda fh: torch.save(state, fh)`` or ``lambda fh: np.savez_compressed(fh, **a)``.

    The parent folder is created. ``mode`` (default 0o644) replaces ``mkstemp``'s private 0o600, because results
    and checkpoints are meant to be shared. Returns ``Path(path)``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path, text: str) -> Path:
    """``atomic_write`` for a string (UTF-8)."""
    return atomic_write(path, lambda fh: fh.write(text), binary=False)
