"""Atomic file writes: checkpoints, caches and result files are never left half-written.

``atomic_write(path, write)`` calls ``write(fh)`` on a temporary file in the same folder, flushes it to disk and
moves it over ``path`` with ``os.replace`` (atomic on POSIX and Windows). If ``write`` raises, or the process is
interrupted, ``path`` keeps its old contents and the temporary file is removed. A process killed outright
(SIGKILL, power loss) cannot remove its temporary file; the next write of the same ``path`` does: temporary files
are named ``.<name>.<pid>.<random>.tmp`` and those of processes that no longer run are deleted.

``check_writable(path)`` finds an unwritable destination up front (e.g. before hours of training).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "atomic_write_text", "check_writable", "remove_stale_temporaries"]


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):  # exists but belongs to someone else, or unknown: leave its file alone
        return True
    return True


def remove_stale_temporaries(path) -> list[Path]:
    """Delete temporary files of earlier writes of ``path`` whose writer process is gone; returns them.

    A temporary file of a process that still runs (e.g. a concurrent writer) is kept. Names without a process
    id (an older naming scheme) count as stale.
    """
    path = Path(path)
    pattern = re.compile(re.escape(_temp_prefix(path)) + r"(?:(\d+)\.)?[^/\\]*\.tmp\Z")
    removed = []
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return removed
    for p in entries:
        m = pattern.match(p.name)
        if m is None or (m.group(1) is not None and _pid_alive(int(m.group(1)))):
            continue
        try:
            p.unlink()
            removed.append(p)
        except FileNotFoundError:
            pass
    return removed


def check_writable(path, what: str = "path") -> Path:
    """Make sure a file can be written at ``path`` (the folder is created); raise ValueError saying why not.

    Writes and deletes a small temporary file in the folder, so it catches a read-only folder, a full quota,
    a parent that is a file, or ``path`` being a folder. ``what`` names the argument in the message.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{what} {path} is a folder; give a file name, e.g. {path / 'checkpoint.pt'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{_temp_prefix(path)}{os.getpid()}.", suffix=".tmp")
        os.close(fd)
        os.unlink(tmp)
    except OSError as err:
        raise ValueError(
            f"{what} {path} cannot be written ({type(err).__name__}: {err}); pick a folder you can write to"
        ) from err
    return path


def atomic_write(path, write: Callable[[IO[Any]], object], *, binary: bool = True, mode: int = 0o644) -> Path:
    """Write ``path`` atomically. ``write(fh)`` fills an open temporary file (``"wb"``, or ``"w"`` UTF-8 text if
    ``binary=False``); e.g. ``lambda fh: torch.save(state, fh)`` or ``lambda fh: np.savez_compressed(fh, **a)``.

    The parent folder is created, and temporary files left by killed earlier writes of ``path`` are removed
    (:func:`remove_stale_temporaries`). ``mode`` (default 0o644) replaces ``mkstemp``'s private 0o600, because
    results and checkpoints are meant to be shared. Returns ``Path(path)``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{_temp_prefix(path)}{os.getpid()}.", suffix=".tmp")
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
