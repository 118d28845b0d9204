"""Tutorials are committed clean: valid nbformat, no outputs, no sys.path hacks, threads set first."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("*.ipynb"))

# torch.set_num_threads(1), symviz.threads.configure_threads(...) or an OpenMP env var
THREADS_RE = re.compile(r"set_num_threads\(\s*1\s*\)|configure_threads\(|OMP_NUM_THREADS|OMP_WAIT_POLICY")
SYS_PATH_RE = re.compile(r"\bsys\.path\b")
CLEAR_HINT = "clear it with: jupyter nbconvert --clear-output --inplace {path}"

params = [pytest.param(p, id=p.name) for p in NOTEBOOKS] or [
    pytest.param(None, marks=pytest.mark.skip(reason="no tutorials/*.ipynb yet"), id="no-notebooks")
]


def _code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


@pytest.mark.parametrize("path", params)
def test_notebook_is_valid_nbformat(path: Path):
    json.loads(path.read_text(encoding="utf-8"))  # plain JSON first, for a clear error on merge markers
    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    assert nb.nbformat == 4, f"{path.name}: nbformat {nb.nbformat}, expected 4"
    nbformat.validate(nb)
    assert _code_cells(nb), f"{path.name} has no code cells"
    kernel = nb.metadata.get("kernelspec", {}).get("name", "python3")
    assert kernel == "python3", (
        f"{path.name}: kernelspec {kernel!r}; use the default 'python3' kernel so that JupyterLab, nbval and "
        "the browser tests all run the environment's own ipykernel"
    )


@pytest.mark.parametrize("path", params)
def test_notebook_has_no_outputs(path: Path):
    nb = nbformat.read(path, as_version=4)
    dirty = [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)
    ]
    assert not dirty, f"{path.name}: cells {dirty} have stored outputs or execution counts; " + (
        CLEAR_HINT.format(path=f"tutorials/{path.name}")
    )
    assert "widgets" not in nb.metadata, (
        f"{path.name}: notebook metadata stores widget state (metadata.widgets); delete that key "
        "(and turn off Settings > Save Widget State Automatically in JupyterLab)"
    )


@pytest.mark.parametrize("path", params)
def test_notebook_does_not_touch_sys_path(path: Path):
    nb = nbformat.read(path, as_version=4)
    bad = [i for i, c in enumerate(_code_cells(nb)) if SYS_PATH_RE.search(c.source)]
    assert not bad, (
        f"{path.name}: code cells {bad} use sys.path; notebooks must import the installed package "
        "(pip install -e .), never patch sys.path"
    )


@pytest.mark.parametrize("path", params)
def test_first_code_cell_sets_threads(path: Path):
    nb = nbformat.read(path, as_version=4)
    first = _code_cells(nb)[0].source
    assert THREADS_RE.search(first), (
        f"{path.name}: the first code cell must limit threads, e.g. `torch.set_num_threads(1)` or "
        "os.environ['OMP_NUM_THREADS'] = '1' (kernels share few cores; see docs/architecture.md#threads)"
    )


# -- text that stands on its own ---------------------------------------------------------------------------------

ROOT = TUTORIALS.parent
MD_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
MD_ANCHOR = re.compile(r"<a id=\"([^\"]+)\"></a>")
MD_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*$", re.M)
REPO_PATH = re.compile(
    r"\b(?:data|docs|symviz|tutorials|benchmarks|scripts|lab)/[\w./-]*\w\.(?:json|md|py|npz|pt|ipynb|sh)\b"
)
NOT_LINKS = re.compile(r"\$\$.*?\$\$|\$[^$\n]*\$|```.*?```|`[^`\n]*`", re.S)  # maths and code hold no links


def _md_anchors(path: Path) -> set[str]:
    """Explicit <a id> anchors and GitHub's heading slugs of a markdown file."""
    text = path.read_text(encoding="utf-8")
    slugs = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in MD_HEADING.findall(text)}
    return set(MD_ANCHOR.findall(text)) | slugs


@pytest.mark.parametrize("path", params)
def test_links_and_repository_paths_exist(path: Path):
    """Every relative markdown link (file and #anchor) and every repository path a tutorial names exists."""
    nb = nbformat.read(path, as_version=4)
    broken = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            for target in MD_LINK.findall(NOT_LINKS.sub("", cell.source)):
                if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                    continue
                file_part, _, anchor = target.partition("#")
                dest = (TUTORIALS / file_part).resolve() if file_part else path
                if not dest.exists():
                    broken.append(f"cell {i}: link {target} (no such file)")
                elif anchor and dest.suffix == ".md" and anchor not in _md_anchors(dest):
                    broken.append(f"cell {i}: link {target} (no anchor #{anchor})")
        for ref in REPO_PATH.findall(cell.source):
            if not (ROOT / ref).exists():
                broken.append(f"cell {i}: {ref} is not in the repository")
    assert not broken, f"{path.name}: " + "; ".join(broken)


@pytest.mark.parametrize("path", params)
def test_notebook_ends_with_a_next_line(path: Path):
    """The last cell is markdown with a 'Next:' line naming the following tutorial (the last one: README/docs)."""
    nb = nbformat.read(path, as_version=4)
    last = nb.cells[-1]
    assert last.cell_type == "markdown", f"{path.name}: the last cell is a {last.cell_type} cell, not the 'Next:' line"
    nxt = [p for p in last.source.split("\n\n") if re.match(r"^\s*(\*\*)?Next:", p)]
    assert nxt, f"{path.name}: the last cell has no paragraph starting with 'Next:'"
    numbers = sorted(int(p.name[:2]) for p in NOTEBOOKS)
    n = int(path.name[:2])
    if n < numbers[-1]:
        following = min(k for k in numbers if k > n)
        assert f"{following:02d}" in nxt[-1], f"{path.name}: the 'Next:' line does not name tutorial {following:02d}"
    else:
        assert "README" in nxt[-1] and "docs/" in nxt[-1], f"{path.name}: the last tutorial should point to README/docs"


# plotting calls whose return value Jupyter would print above the figure (e.g. "<matplotlib.legend.Legend at 0x…>")
PRINTS_A_REPR = {
    "legend", "title", "suptitle", "xlabel", "ylabel", "set_title", "set_xlabel", "set_ylabel", "set", "plot",
    "semilogy", "semilogx", "loglog", "scatter", "hist", "bar", "text", "annotate", "axhline", "axvline", "imshow",
    "fill_between", "quiver", "contourf", "colorbar", "xticks", "yticks", "xlim", "ylim", "set_xlim", "set_ylim",
}  # fmt: skip


@pytest.mark.parametrize("path", params)
def test_no_stray_return_value_above_plots(path: Path):
    """A code cell does not end with a bare plotting call (end it with `;`, `plt.show()` or assign the result)."""
    import ast

    nb = nbformat.read(path, as_version=4)
    bad = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or cell.source.rstrip().endswith(";"):
            continue
        try:
            body = ast.parse(cell.source).body
        except SyntaxError:  # IPython syntax (magics): not checked here
            continue
        last = body[-1] if body else None
        if isinstance(last, ast.Expr) and isinstance(last.value, ast.Call):
            func = last.value.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in PRINTS_A_REPR:
                bad.append(f"cell {i} ends with .{name}(...)")
    assert not bad, f"{path.name}: {bad}; Jupyter prints the returned object above the figure"


# -- `make lab`: project JupyterLab settings and the git filter that reads tutorials without outputs ----------------

LAB = ROOT / "lab"
FILTER_SCRIPT = LAB / "clean_notebook.py"


def _run_filter(text: str) -> str:
    import subprocess
    import sys

    res = subprocess.run(
        [sys.executable, str(FILTER_SCRIPT)], input=text.encode("utf-8"), capture_output=True, check=True
    )
    return res.stdout.decode("utf-8")


def _as_if_run(text: str) -> str:
    """The notebook as JupyterLab saves it after a run: outputs, counts, run-time metadata."""
    nb = json.loads(text)
    nb["metadata"]["language_info"] = {"name": "python", "version": "3.11.7", "mimetype": "text/x-python",
                                       "codemirror_mode": {"name": "ipython", "version": 3}}  # fmt: skip
    nb["metadata"]["kernelspec"]["display_name"] = "Python 3"
    nb["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    for k, cell in enumerate(nb["cells"]):
        cell["metadata"]["trusted"] = True
        if cell["cell_type"] == "code":
            cell["execution_count"] = k + 1
            cell["metadata"]["execution"] = {"iopub.status.idle": "2026-01-01T00:00:00.000000Z"}
            cell["outputs"] = [
                {"name": "stdout", "output_type": "stream", "text": ["ran\n"]},
                {"data": {"image/png": "iVBORw0KGgo=", "text/plain": ["<Figure>"]}, "metadata": {},
                 "output_type": "display_data"},
            ]  # fmt: skip
    return json.dumps(nb, indent=1)  # another layout than nbformat's, on purpose


@pytest.mark.parametrize("path", params)
def test_clean_filter_restores_the_committed_bytes(path: Path):
    committed = path.read_text(encoding="utf-8")
    assert _run_filter(committed) == committed, f"{path.name}: the filter changes the committed notebook"
    assert _run_filter(_as_if_run(committed)) == committed, (
        f"{path.name}: a run notebook does not clean back to the committed bytes; write notebooks with nbformat "
        "(kernelspec display_name 'Python 3 (ipykernel)', language_info {'name': 'python'})"
    )


def test_git_filter_keeps_outputs_out_of_diffs_and_commits(tmp_path):
    """In a throwaway repository set up as `make lab` does: a run notebook diffs empty and commits clean."""
    import shutil
    import subprocess
    import sys

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    attrs = (ROOT / ".gitattributes").read_text(encoding="utf-8")
    assert "tutorials/*.ipynb filter=symviz-notebook" in attrs
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert 'git config filter.symviz-notebook.clean "$(PYTHON) lab/clean_notebook.py"' in makefile
    assert '--LabApp.app_settings_dir="$(CURDIR)/lab/settings"' in makefile

    repo = tmp_path / "repo"
    (repo / "tutorials").mkdir(parents=True)
    (repo / "lab").mkdir()
    shutil.copy(FILTER_SCRIPT, repo / "lab")
    shutil.copy(ROOT / ".gitattributes", repo)
    nb_path = repo / "tutorials" / "01.ipynb"
    committed = NOTEBOOKS[0].read_text(encoding="utf-8")
    nb_path.write_text(committed, encoding="utf-8")

    def git(*args):
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo,
                              capture_output=True, text=True, check=True).stdout  # fmt: skip

    git("init", "-q")
    git("config", "filter.symviz-notebook.clean", f'"{sys.executable}" lab/clean_notebook.py')
    git("add", "-A")
    git("commit", "-qm", "clean")
    nb_path.write_text(_as_if_run(committed), encoding="utf-8")  # "run" it
    assert git("diff", "--stat") == "", "outputs show up in git diff"
    git("add", "tutorials")
    assert git("diff", "--cached", "--stat") == "", "outputs would be committed"
    assert "outputs" in nb_path.read_text(encoding="utf-8") and '"ran\\n"' in nb_path.read_text(encoding="utf-8")
    nb = json.loads(nb_path.read_text(encoding="utf-8"))  # a real edit still shows
    code = next(c for c in nb["cells"] if c["cell_type"] == "code")
    code["source"] = ["x = 1  # my edit\n"] + code["source"]
    nb_path.write_text(json.dumps(nb), encoding="utf-8")
    diff = git("diff")
    assert '+    "x = 1  # my edit\\n",' in diff and '"ran' not in diff and "image/png" not in diff


def test_lab_settings_turn_off_the_news_popup():
    """lab/settings/overrides.json (JupyterLab's app_settings_dir under `make lab`) is valid for the installed lab."""
    settings = json.loads((LAB / "settings" / "overrides.json").read_text(encoding="utf-8"))
    plugin = settings["@jupyterlab/apputils-extension:notification"]
    assert plugin["fetchNews"] == "false"  # "none" (the default) asks with a pop-up; "false" never fetches
    jupyterlab = pytest.importorskip("jupyterlab")
    jsonschema = pytest.importorskip("jsonschema")
    schema_path = Path(jupyterlab.__file__).parent / "schemas/@jupyterlab/apputils-extension/notification.json"
    if not schema_path.is_file():
        pytest.skip(f"no settings schema at {schema_path}")
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    jsonschema.validate(plugin, schema)  # unknown keys or values fail: additionalProperties is false
