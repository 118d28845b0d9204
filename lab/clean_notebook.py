"""Git clean filter for the tutorials: a notebook on stdin, the same notebook without outputs on stdout.

`make lab` registers it for tutorials/*.ipynb (see .gitattributes and the README, section Tutorials):

    git config filter.symviz-notebook.clean "python3 lab/clean_notebook.py"

Git then reads a notebook that JupyterLab saved with outputs as if they were cleared, so `git status` and
`git diff` show only your own edits and `git add` never stages outputs; the file on disk keeps them.

What is removed or reset (what running a notebook adds):
- code cells: outputs, execution_count;
- cell metadata: execution (timings), collapsed, scrolled, ExecuteTime, trusted, and an empty tags list;
- notebook metadata: widgets (saved widget state); language_info becomes {"name": <language>}; the kernelspec's
  display_name becomes the one the tutorials are committed with.

Everything else (sources, cell ids, the collapsed solution cells' `jupyter.source_hidden`) is kept. The output
is byte-identical to the committed notebooks (JSON with one-space indent, sorted keys, sources split into lines,
a final newline: nbformat's layout), and running the filter twice changes nothing. Python standard library
only, so the filter works without the project's virtual environment.
"""

from __future__ import annotations

import json
import sys

CELL_METADATA_DROPPED = ("execution", "collapsed", "scrolled", "ExecuteTime", "trusted")
KERNEL_DISPLAY_NAME = "Python 3 (ipykernel)"


def _lines(text) -> list[str]:
    """A multi-line string as nbformat stores it: a list of lines, each but the last ending in a newline."""
    if isinstance(text, list):
        text = "".join(text)
    return text.splitlines(keepends=True)


def clean(nb: dict) -> dict:
    """The notebook ``nb`` (nbformat 4, parsed JSON) without outputs and run-time metadata (changed in place)."""
    if nb.get("nbformat") != 4:
        raise ValueError(f"expected an nbformat 4 notebook, got nbformat {nb.get('nbformat')!r}")
    meta = nb.setdefault("metadata", {})
    meta.pop("widgets", None)
    if "language_info" in meta:
        meta["language_info"] = {"name": meta["language_info"].get("name", "python")}
    if "kernelspec" in meta and meta["kernelspec"].get("name") == "python3":
        meta["kernelspec"]["display_name"] = KERNEL_DISPLAY_NAME
    for cell in nb.get("cells", []):
        cell["source"] = _lines(cell.get("source", ""))
        cell_meta = cell.get("metadata", {})
        for key in CELL_METADATA_DROPPED:
            cell_meta.pop(key, None)
        if cell_meta.get("tags") == []:
            del cell_meta["tags"]
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    return nb


def dumps(nb: dict) -> str:
    """nbformat's on-disk layout: one-space indent, sorted keys, UTF-8 text, a final newline."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    text = sys.stdin.buffer.read().decode("utf-8")
    try:
        nb = json.loads(text)
        out = dumps(clean(nb))
    except (ValueError, AttributeError, TypeError) as err:  # not a notebook we understand: pass it through as is
        print(f"lab/clean_notebook.py: left unchanged ({err})", file=sys.stderr)
        out = text
    sys.stdout.buffer.write(out.encode("utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
