"""scripts/build_docs.py (make docs): executes notebooks in their folder and writes an HTML gallery with an index.

Built on tiny synthetic notebooks in a temporary folder (two kernel starts, a few seconds), not on the tutorials.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

nbformat = pytest.importorskip("nbformat", reason="the [lab]/[test] extras provide nbformat, nbclient, nbconvert")
pytest.importorskip("nbclient")
pytest.importorskip("nbconvert")
pytest.importorskip("ipykernel")


def _script():
    spec = importlib.util.spec_from_file_location("build_docs", ROOT / "scripts" / "build_docs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _notebook(path: Path, heading: str, code: str) -> None:
    v4 = nbformat.v4
    nb = v4.new_notebook(cells=[v4.new_markdown_cell(f"Intro text.\n\n{heading}\n\nMore."), v4.new_code_cell(code)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_title_and_selection():
    bd = _script()
    v4 = nbformat.v4
    nb = v4.new_notebook(cells=[v4.new_code_cell("# a comment, not a heading"), v4.new_markdown_cell("## Two ##")])
    assert bd.notebook_title(nb, "x") == "Two"
    assert bd.notebook_title(v4.new_notebook(), "fallback") == "fallback"
    nbs = [Path("01_a.ipynb"), Path("02_b.ipynb"), Path("10_c.ipynb")]
    assert bd.select(nbs, None) == nbs
    assert bd.select(nbs, ["02_b", "01"]) == [Path("01_a.ipynb"), Path("02_b.ipynb")]
    assert bd.select(nbs, ["10_c.ipynb"]) == [Path("10_c.ipynb")]
    with pytest.raises(SystemExit, match="--only 3: no notebook matches; available: 01_a, 02_b, 10_c"):
        bd.select(nbs, ["3"])


def test_gallery_of_one_notebook_then_a_failing_one(tmp_path):
    bd = _script()
    tut, out = tmp_path / "tutorials", tmp_path / "site"
    tut.mkdir()
    _notebook(tut / "01_tiny.ipynb", "# Tiny <one> & only", "import os\nprint('cwd=' + os.getcwd())\n6 * 7")
    _notebook(tut / "02_broken.ipynb", "# Broken", "raise ValueError('boom')")
    assert bd.main(["--tutorials", str(tut), "--out", str(out), "--only", "01", "--timeout", "60"]) == 0
    page = (out / "01_tiny.html").read_text(encoding="utf-8")
    assert f"cwd={tut}" in page  # executed, with the notebook's folder as working directory
    assert "42" in page
    index = (out / "index.html").read_text(encoding="utf-8")
    links = re.findall(r'<a href="([^"]+)">([^<]+)</a>', index)
    assert links == [("01_tiny.html", "Tiny &lt;one&gt; &amp; only")]
    assert not (out / "02_broken.html").exists()
    assert json.loads((tut / "01_tiny.ipynb").read_text())["cells"][1]["outputs"] == []  # source left clean

    # a failing notebook: exit status 1, still a page, FAILED in the index; the earlier page stays listed
    assert bd.main(["--tutorials", str(tut), "--out", str(out), "--only", "02_broken", "--timeout", "60"]) == 1
    index = (out / "index.html").read_text(encoding="utf-8")
    assert [h for h, _ in re.findall(r'<a href="([^"]+)">([^<]+)</a>', index)] == ["01_tiny.html", "02_broken.html"]
    assert "FAILED: ValueError: boom" in index
    assert (out / "02_broken.html").is_file()
