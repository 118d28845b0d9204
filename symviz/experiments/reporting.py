"""One way for every experiment command and benchmark to write its results: JSON, versions, Markdown tables.

API (import from ``symviz.experiments.reporting``):

``write_json(path, obj) -> Path``
    Atomic (a temporary file in the same folder, then ``os.replace``, via :func:`symviz._io.atomic_write_text`).
    Strict JSON: NaN and ±Inf become ``null``; indented by one space; every innermost list of numbers is kept
    on one line (curves, samples, per-molecule scores stay compact); ends with a newline. Tuples become lists.
``to_json(obj) -> str``
    The text ``write_json`` writes, e.g. to compare with a stored file.
``write_text(path, text) -> Path``
    Atomic UTF-8 text write (the Markdown results); the text is written as given.
``versions(packages=("numpy", "torch", "rdkit"), *, commit=True, **extra) -> dict``
    The versions block a command records:
    ``{"python", "platform", "symviz", <each package>: version or None, "commit": str or None, **extra}``.
    Package versions come from the installed distributions' metadata (nothing is imported; the installer's
    normalised form, e.g. rdkit ``2026.9.1`` for ``2026.09.1``); ``commit`` is
    :func:`git_commit` (``None`` outside a git checkout, e.g. a wheel install). ``extra`` adds run facts such
    as ``threads=torch.get_num_threads()`` or ``jobs=2``.
``git_commit(root=None) -> str | None``
    ``git rev-parse HEAD`` of the checkout holding the symviz package (or of ``root``), with ``-dirty``
    appended when tracked files under the package folder differ from that commit; ``None`` when there is no
    git or no checkout.
``command_line(prog, argv=None) -> str``
    The command as it can be pasted back into a shell: ``prog`` plus ``argv`` (default ``sys.argv[1:]``)
    quoted with :func:`shlex.join`, e.g. ``command_line("python -m symviz.experiments.toys2d", ["--steps", "9"])``.
``markdown_table(header, rows, align=None) -> str``
    A GitHub Markdown table without a trailing newline: ``| a | b |``, then the separator (``|---|---|`` by
    default), then one line per row. ``align``: ``None`` (``---``), or one letter per column, as a string or
    a sequence: ``"l"`` (``:---``), ``"r"`` (``---:``), ``"c"`` (``:---:``), ``"-"`` (``---``). Cells are
    ``str(cell)`` with ``|`` escaped; each row must have as many cells as the header.
``markdown_row(cells) -> str``
    One table line, e.g. to print rows while a benchmark runs.
``status(ok) -> str``
    ``"MET"`` or ``"MISSED"``: how every goal is reported.

Switching a command to this module (e.g. ``toy1d``): replace its own JSON writer with ``write_json`` (path
first: ``write_json(out, result)``; the layout is the one ``toy1d.write_json_atomic`` writes, byte for byte), its
``versions`` dict with ``versions(threads=..., jobs=...)`` (the keys it renders stay: ``torch``, ``threads``),
and its table lines with ``markdown_table``; the committed Markdown must come out byte-identical from the
committed JSON (its render-only option).
"""

from __future__ import annotations

import json
import math
import platform
import re
import shlex
import subprocess
import sys
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

from symviz._io import atomic_write_text

__all__ = [
    "write_json",
    "merge_json_entry",
    "write_text",
    "versions",
    "git_commit",
    "command_line",
    "markdown_table",
    "markdown_row",
    "status",
    "to_json",
]

_PACKAGE_DIR = Path(__file__).resolve().parents[1]
_PLACEHOLDER = f"@@symviz-list-{uuid.uuid4().hex}-"  # a string no result contains
_ALIGN = {"-": "---", "l": ":---", "r": "---:", "c": ":---:"}


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _prepare(obj, compact: dict):
    """NaN/Inf -> None (strict JSON has no NaN); tuples -> lists; each innermost non-empty list of numbers is
    replaced by a placeholder string whose compact one-line text is stored in ``compact``."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _prepare(v, compact) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        items = [_prepare(v, compact) for v in obj]
        if items and all(_is_number(v) for v in items):
            key = f"{_PLACEHOLDER}{len(compact)}@@"
            compact[json.dumps(key)] = "[" + ",".join(json.dumps(v) for v in items) + "]"
            return key
        return items
    return obj


def to_json(obj) -> str:
    """The text :func:`write_json` writes (see the module docstring for the format)."""
    compact: dict[str, str] = {}
    try:
        text = json.dumps(_prepare(obj, compact), indent=1, allow_nan=False)
    except TypeError as err:
        raise TypeError(
            f"write_json: {err}; convert tensors and arrays with .tolist() and numpy scalars with float()/int()"
        ) from err
    if compact:
        text = re.sub(r'"' + _PLACEHOLDER + r'\d+@@"', lambda m: compact.get(m.group(0), m.group(0)), text)
    return text + "\n"


def write_json(path, obj) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically (folders created); returns ``Path(path)``."""
    return atomic_write_text(path, to_json(obj))


def merge_json_entry(path, section: str, name: str, value, init: dict) -> dict:
    """Set ``obj[section][name] = value`` in the JSON file ``path`` and write it back atomically, under an
    exclusive lock (``path`` + ``.lock``, POSIX), re-reading the file first: two runs writing rows into the same
    results file (e.g. two evaluations in parallel) both keep their rows. ``init``: the object to start from
    when ``path`` does not exist. Returns the merged object."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        try:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
        except ImportError:  # no fcntl (Windows): the re-read still narrows the window
            pass
        obj = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else init
        obj.setdefault(section, {})[name] = value
        write_json(path, obj)
    return obj


def write_text(path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (folders created); returns ``Path(path)``."""
    if not isinstance(text, str):
        raise TypeError(f"write_text: text must be a str, got {type(text).__name__}")
    return atomic_write_text(path, text)


def git_commit(root=None) -> str | None:
    """The commit of the checkout holding ``root`` (default: the symviz package), ``-dirty`` if the package's
    tracked files are modified; ``None`` without git or outside a checkout."""
    root = Path(root) if root is not None else _PACKAGE_DIR
    if not root.is_dir():
        return None

    def git(*args):
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=False)

    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0 or not head.stdout.strip():
            return None
        dirty = git("diff", "--quiet", "HEAD", "--", ".").returncode == 1
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("-dirty" if dirty else "")


def _dist_version(name: str) -> str | None:
    import importlib.metadata as md

    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


def versions(packages: Sequence[str] = ("numpy", "torch", "rdkit"), *, commit: bool = True, **extra) -> dict:
    """The versions block of a result file (keys in this order): python, platform, symviz, each of
    ``packages`` (``None`` when not installed), commit (if ``commit``; ``None`` outside a checkout), ``extra``."""
    if isinstance(packages, str):
        raise TypeError(f"versions: packages must be a sequence of names, e.g. ({packages!r},), not a str")
    import symviz

    out = {"python": platform.python_version(), "platform": platform.platform(), "symviz": symviz.__version__}
    out |= {name: _dist_version(name) for name in packages}
    if commit:
        out["commit"] = git_commit()
    return out | extra


def command_line(prog: str, argv: Sequence[str] | None = None) -> str:
    """``prog`` followed by the shell-quoted ``argv`` (default ``sys.argv[1:]``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    return " ".join([prog, shlex.join(str(a) for a in args)]) if args else prog


def _cell(value) -> str:
    return str(value).replace("|", "\\|")


def markdown_row(cells: Iterable) -> str:
    """``| c1 | c2 | ... |`` (cells through ``str``, ``|`` escaped)."""
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def markdown_table(header: Sequence, rows: Iterable[Sequence], align: str | Sequence[str] | None = None) -> str:
    """A Markdown table: header line, separator (per-column alignment), one line per row; no trailing newline."""
    header = list(header)
    if not header:
        raise ValueError("markdown_table: header is empty; give one name per column")
    if align is None:
        align = "-" * len(header)
    align = list(align)
    if len(align) != len(header) or any(a not in _ALIGN for a in align):
        raise ValueError(
            f"markdown_table: align must give one of {sorted(_ALIGN)} per column ({len(header)} columns); got {align!r}"
        )
    lines = [markdown_row(header), "|" + "|".join(_ALIGN[a] for a in align) + "|"]
    for i, row in enumerate(rows):
        row = list(row)
        if len(row) != len(header):
            raise ValueError(f"markdown_table: row {i} has {len(row)} cells but the header has {len(header)}: {row!r}")
        lines.append(markdown_row(row))
    return "\n".join(lines)


def status(ok: bool) -> str:
    """``"MET"`` if ``ok`` else ``"MISSED"``."""
    return "MET" if ok else "MISSED"
