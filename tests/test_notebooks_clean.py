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
