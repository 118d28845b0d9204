"""A built wheel carries everything symviz reads at run time; the core needs only torch, numpy and tqdm.

Fast checks on the source tree. The real thing (build the wheel, install it in a fresh venv, use it from outside
the checkout) is scripts/wheel_check.sh, a step of scripts/test.sh.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import torch

import symviz
from symviz.conformers import checkpoint_path
from symviz.data import ensembles
from symviz.data.ensembles import DEFAULT_PATH, DataFileError, load_offline_ensembles
from symviz.metrics import angle_ks

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "symviz"


def _pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)


def _packaged_files() -> set[Path]:
    """Files that setuptools adds as package data: pyproject's globs, relative to the symviz package folder."""
    globs = _pyproject()["tool"]["setuptools"]["package-data"]["symviz"]
    return {p.resolve() for g in globs for p in PKG.glob(g) if p.is_file()}


def test_package_data_globs_cover_the_data_set_and_the_checkpoints():
    packaged = _packaged_files()
    data = PKG / "data" / "files"
    wanted = [data / "qm9_xtb_confs_v2.npz", data / "qm9_xtb_confs_v2.sha256"]
    wanted += sorted((PKG / "checkpoints").glob("*.pt")) + sorted((PKG / "checkpoints").glob("*.sha256"))
    wanted += [PKG / "checkpoints" / "README.md"]
    assert len(list((PKG / "checkpoints").glob("*.pt"))) >= 1, "no shipped checkpoint found"
    for f in wanted:
        assert f.is_file(), f"{f.relative_to(ROOT)} is missing from the checkout"
        assert f.resolve() in packaged, f"{f.relative_to(ROOT)} is not matched by pyproject's package-data globs"


def test_every_non_python_file_in_the_package_is_package_data():
    """A data file added under symviz/ without a package-data glob would be silently absent from the wheel."""
    packaged = _packaged_files()
    skip_dirs = {"__pycache__"}
    missing = []
    for dirpath, dirnames, filenames in os.walk(PKG):
        dirnames[:] = [d for d in dirnames if d not in skip_dirs and not d.endswith(".cache")]
        for name in filenames:
            p = Path(dirpath) / name
            if p.suffix in (".py", ".pyc") or name == ".gitignore" or ".tmp" in name:
                continue
            if p.resolve() not in packaged:
                missing.append(str(p.relative_to(ROOT)))
    assert not missing, f"files under symviz/ that no package-data glob ships: {missing}"


def test_every_python_folder_is_a_package():
    """setuptools' find() only ships folders with an __init__.py; a module in any other folder would be lost."""
    no_init = sorted(
        str(d.relative_to(ROOT))
        for d in {p.parent for p in PKG.rglob("*.py") if "__pycache__" not in p.parts}
        if not (d / "__init__.py").is_file()
    )
    assert not no_init, f"folders with Python files but no __init__.py (not in the wheel): {no_init}"


def test_default_path_resolves_inside_the_package():
    pkg_dir = Path(symviz.__file__).resolve().parent
    assert DEFAULT_PATH.is_absolute()
    assert DEFAULT_PATH.resolve().is_relative_to(pkg_dir), f"{DEFAULT_PATH} is outside {pkg_dir}"
    assert DEFAULT_PATH.is_file() and DEFAULT_PATH.with_suffix(".sha256").is_file()
    assert checkpoint_path("default").resolve().is_relative_to(pkg_dir)
    # REBUILD_COMMAND writes where DEFAULT_PATH reads.
    assert f"--out {DEFAULT_PATH.relative_to(ROOT)}" in ensembles.REBUILD_COMMAND
    test = load_offline_ensembles(split="test")
    assert len(test) > 0 and all(e.split == "test" for e in test)


def test_missing_shipped_file_is_a_clear_data_file_error(monkeypatch, tmp_path):
    gone = tmp_path / "files" / ensembles.DEFAULT_NAME
    gone.parent.mkdir()
    monkeypatch.setattr(ensembles, "DEFAULT_PATH", gone)
    with pytest.raises(DataFileError, match="file not found") as err:
        load_offline_ensembles(split="test")
    assert "symviz/data/files/" in str(err.value) and "build_conformers" in str(err.value)


def test_core_imports_need_no_extra():
    """`import symviz` and the core modules (and loading the shipped data) import no [lab]/[molecules]/test package."""
    extras = ("scipy", "matplotlib", "plotly", "ipywidgets", "anywidget", "rdkit", "py3Dmol", "IPython", "pytest")
    code = (
        "import sys\n"
        "import symviz, symviz.groups, symviz.diffusion, symviz.orbit, symviz.losses, symviz.train, symviz.metrics\n"
        "symviz.data.load_offline_ensembles(split='test')\n"
        f"print(sorted(m for m in {extras!r} if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"the core imported extra packages: {out.stdout.strip()}"


def test_no_runtime_dependency_on_scipy():
    """scipy is a test tool only: no symviz module imports it, and it is not a runtime dependency."""
    deps = " ".join(_pyproject()["project"]["dependencies"]).lower()
    assert "scipy" not in deps
    offenders = [
        str(p.relative_to(ROOT))
        for p in PKG.rglob("*.py")
        if any(ln.lstrip().startswith(("import scipy", "from scipy")) for ln in p.read_text().splitlines())
    ]
    assert not offenders, f"modules import scipy, which is not a runtime dependency: {offenders}"


def _angles_to_points(theta: torch.Tensor) -> torch.Tensor:
    return torch.stack([torch.cos(theta), torch.sin(theta)], dim=-1)


@pytest.mark.parametrize(
    "case",
    ["uniform", "ring", "concentrated", "single_direction", "one_point", "two_points", "gaussian", "ties"],
)
def test_angle_ks_equals_scipy_kstest(case):
    """symviz.metrics.angle_ks (torch, core) is exactly scipy.stats.kstest(u, "uniform").statistic."""
    stats = pytest.importorskip("scipy.stats", reason="scipy is in the [test] extra: pip install -e '.[test]'")
    g = torch.Generator().manual_seed(0)
    pts = {
        "uniform": lambda: _angles_to_points((torch.rand(1000, generator=g, dtype=torch.float64) * 2 - 1) * math.pi),
        "ring": lambda: _angles_to_points(torch.linspace(-math.pi, math.pi, 513, dtype=torch.float64)[:-1]),
        "concentrated": lambda: _angles_to_points(0.3 * torch.randn(400, generator=g, dtype=torch.float64)),
        "single_direction": lambda: torch.tensor([[1.0, 0.01]]).expand(100, 2),
        "one_point": lambda: torch.tensor([[0.0, -2.0]]),
        "two_points": lambda: torch.tensor([[1.0, 0.0], [-1.0, 1e-3]]),
        "gaussian": lambda: torch.randn(257, 1, 2, generator=g),
        "ties": lambda: torch.tensor([[1.0, 1.0]] * 5 + [[-1.0, 0.5]] * 3 + [[0.2, -1.0]] * 4),
    }[case]()
    p = pts.reshape(-1, 2).double()
    u = ((torch.atan2(p[:, 1], p[:, 0]) + math.pi) / (2 * math.pi)).numpy()
    expected = stats.kstest(u, "uniform").statistic
    assert angle_ks(pts) == pytest.approx(expected, abs=1e-12)
