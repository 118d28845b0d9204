"""Execute the tutorials and export them to a static HTML gallery, so a reader sees every figure without running.

    python scripts/build_docs.py                          # all tutorials/*.ipynb -> build/docs/ (make docs)
    python scripts/build_docs.py --only 01_group_actions 03   # stems, or their number prefixes
    python scripts/build_docs.py --out /tmp/gallery --timeout 300

Each notebook is executed top to bottom in a fresh ``--kernel`` (default ``python3``, the interpreter running this
script) with its own folder as the working directory, exactly as a learner runs it; the committed notebooks
stay without outputs (the executed copies live only in memory). Each becomes ``OUT/<stem>.html``
(nbconvert's ``lab`` template); ``OUT/index.html`` links them with the title taken from each notebook's first
Markdown heading. ``OUT/gallery.json`` remembers every built page, so ``--only`` refreshes some pages and keeps
the others in the index. Widget state saved by the execution is embedded (``--no-widgets`` leaves it out), so the
interactive views render in a browser that can load the widget manager.

When viewed, the pages load MathJax, require.js and (with widget state) the Jupyter widget manager from the
addresses nbconvert's templates name; text, code, printed results and matplotlib images need nothing. A notebook
that fails is listed in the index as FAILED with the error, its partial HTML is still written, and the script
exits with status 1. Writes are atomic. Kernels get ``PYTHONHASHSEED=0`` and ``OMP_WAIT_POLICY=PASSIVE`` like
``make test``.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$")


def notebook_title(nb, default: str) -> str:
    """The text of the first Markdown heading of ``nb`` (``default`` if there is none)."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            m = _HEADING.match(line)
            if m:
                return m.group(1).strip()
    return default


def select(notebooks: list[Path], only: list[str] | None) -> list[Path]:
    """The notebooks named by ``only`` (a stem, e.g. ``01_group_actions``, or a prefix such as ``01``)."""
    if not only:
        return notebooks
    chosen = []
    for name in only:
        stem = Path(name).stem
        hits = [nb for nb in notebooks if nb.stem == stem] or [nb for nb in notebooks if nb.stem.startswith(stem)]
        if not hits:
            have = ", ".join(nb.stem for nb in notebooks) or "none"
            raise SystemExit(f"--only {name}: no notebook matches; available: {have}")
        chosen += [nb for nb in hits if nb not in chosen]
    return sorted(chosen)


def execute(path: Path, kernel: str, timeout: int):
    """Run ``path`` in a fresh kernel with its folder as working directory; ``(notebook, error or None)``."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=kernel,
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=True,
    )
    try:
        client.execute()
    except CellExecutionError as err:
        return nb, f"{err.ename}: {err.evalue}"
    except Exception as err:  # a timeout, a dead kernel, a missing kernel: report, build the others
        return nb, f"{type(err).__name__}: {err}"
    return nb, None


def to_html(nb, widgets: bool) -> str:
    from nbconvert import HTMLExporter

    if not widgets:
        nb.metadata.pop("widgets", None)
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    return body


def render_index(entries: list[dict]) -> str:
    """``index.html``: one link per notebook with its title, file name, run time, status and commit."""
    items = []
    for e in entries:
        state = f'<span class="failed">FAILED: {html.escape(e["error"])}</span>' if e["error"] else "ran without error"
        if e.get("commit"):
            state += f", commit {html.escape(e['commit'][:12])}"
        items.append(
            f'<li><a href="{html.escape(e["html"])}">{html.escape(e["title"])}</a> '
            f"<small>({html.escape(e['notebook'])}, {e['seconds']:.0f} s, {state})</small></li>"
        )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            '<head><meta charset="utf-8"><title>symviz tutorials</title>',
            "<style>body{font-family:sans-serif;max-width:50em;margin:2em auto;line-height:1.5}"
            "small{color:#555}.failed{color:#b00020;font-weight:bold}</style></head>",
            "<body>",
            "<h1>symviz tutorials</h1>",
            "<p>Each tutorial executed top to bottom by <code>scripts/build_docs.py</code> (<code>make docs</code>);"
            " the notebooks in the repository carry no outputs.</p>",
            "<ol>",
            *items,
            "</ol>",
            "</body>",
            "</html>",
            "",
        ]
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python scripts/build_docs.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--only", nargs="+", default=None, help="notebook stems or number prefixes (default: all)")
    p.add_argument("--tutorials", type=Path, default=ROOT / "tutorials", help="folder of the notebooks")
    p.add_argument("--out", type=Path, default=ROOT / "build" / "docs", help="gallery folder (default build/docs)")
    p.add_argument("--kernel", default="python3", help="Jupyter kernel name (default python3)")
    p.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    p.add_argument("--no-widgets", action="store_true", help="do not embed the saved widget state")
    args = p.parse_args(argv)
    if args.timeout <= 0:
        p.error(f"--timeout must be > 0 seconds, got {args.timeout}")
    if not args.tutorials.is_dir():
        p.error(f"--tutorials {args.tutorials} is not a folder")
    try:
        import nbclient  # noqa: F401
        import nbconvert  # noqa: F401
    except ImportError as err:
        p.error(f"{err.name} is missing; install the [lab] and [test] extras: pip install -e '.[lab,test]'")
    sys.path.insert(0, str(ROOT))
    from symviz.experiments.reporting import git_commit, write_json, write_text

    notebooks = select(sorted(args.tutorials.glob("*.ipynb")), args.only)
    if not notebooks:
        p.error(f"no notebooks in {args.tutorials}")
    os.environ.setdefault("PYTHONHASHSEED", "0")  # inherited by the kernels, like make test
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    commit = git_commit(ROOT)
    entries = []
    for path in notebooks:
        print(f"executing {path.name} ...", flush=True)
        t0 = time.perf_counter()
        nb, error = execute(path, args.kernel, args.timeout)
        seconds = time.perf_counter() - t0
        name = f"{path.stem}.html"
        write_text(args.out / name, to_html(nb, widgets=not args.no_widgets))
        entries.append(
            {"notebook": path.name, "html": name, "title": notebook_title(nb, path.stem), "seconds": seconds}
            | {"error": error, "commit": commit}
        )
        print(f"  {'FAILED: ' + error if error else 'ok'} ({seconds:.0f} s) -> {args.out / name}", flush=True)
    manifest = args.out / "gallery.json"
    known = {}
    if manifest.is_file():
        try:
            known = {e["notebook"]: e for e in json.loads(manifest.read_text(encoding="utf-8"))["entries"]}
        except (ValueError, KeyError, TypeError):
            known = {}  # unreadable: rebuild the index from this run only
    present = {nb.name for nb in args.tutorials.glob("*.ipynb")}
    known = {k: e for k, e in known.items() if k in present and (args.out / e["html"]).is_file()}
    known |= {e["notebook"]: e for e in entries}
    entries = [known[k] for k in sorted(known)]
    write_json(manifest, {"entries": entries})
    index = args.out / "index.html"
    write_text(index, render_index(entries))
    failed = [e["notebook"] for e in entries if e["error"] and e["notebook"] in {nb.name for nb in notebooks}]
    ran = f"{len(notebooks)} notebook(s) run, {len(entries)} in the index"
    print(f"wrote {index} ({ran}; " + (f"FAILED: {', '.join(failed)})" if failed else "no failures)"))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
