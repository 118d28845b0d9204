"""environment.yml (conda convenience) must install exactly what a learner needs: pyproject.toml's core
requirements plus the [lab] and [molecules] extras (the same set `make lab` installs, without the test tools)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import tomllib

yaml = pytest.importorskip("yaml", reason="pyyaml is in the [test] extra: pip install -e '.[test]'")

ROOT = Path(__file__).resolve().parents[1]


# The extras that environment.yml installs on top of the core [project].dependencies.
LEARNER_EXTRAS = ("lab", "molecules")


def _pyproject_dependencies() -> list[str]:
    """Core requirements + the LEARNER_EXTRAS, as written in pyproject.toml."""
    with open(ROOT / "pyproject.toml", "rb") as fh:
        project = tomllib.load(fh)["project"]
    extras = project.get("optional-dependencies", {})
    missing = [e for e in LEARNER_EXTRAS if e not in extras]
    assert not missing, f"pyproject.toml lacks the extras {missing} under [project.optional-dependencies]"
    reqs = list(project["dependencies"]) + [r for e in LEARNER_EXTRAS for r in extras[e]]
    return [s.strip() for s in reqs]


def _environment_pip_requirements() -> list[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    pip_lists = [d["pip"] for d in env.get("dependencies", []) if isinstance(d, dict) and "pip" in d]
    assert len(pip_lists) == 1, "environment.yml must have exactly one `- pip:` list under dependencies"
    # Lines such as "--extra-index-url ..." are pip options, not requirements.
    return [str(s).strip() for s in pip_lists[0] if not str(s).strip().startswith("-")]


def _drift(pyproject: list[str], environment: list[str]) -> str:
    only_py = sorted((Counter(pyproject) - Counter(environment)).elements())
    only_env = sorted((Counter(environment) - Counter(pyproject)).elements())
    return (
        "environment.yml's pip list has drifted from pyproject.toml's [project].dependencies + "
        f"{'/'.join(f'[{e}]' for e in LEARNER_EXTRAS)} extras "
        "(copy the requirement strings exactly).\n"
        f"  only in pyproject.toml:  {only_py}\n"
        f"  only in environment.yml: {only_env}"
    )


def test_environment_yml_pip_list_equals_core_plus_learner_extras():
    deps = _pyproject_dependencies()
    pip_reqs = _environment_pip_requirements()
    assert deps, "pyproject.toml has no [project].dependencies"
    assert len(set(deps)) == len(deps), f"a requirement is listed twice across core + {LEARNER_EXTRAS}: {deps}"
    assert len(set(pip_reqs)) == len(pip_reqs), f"duplicate entries in environment.yml pip list: {pip_reqs}"
    assert sorted(pip_reqs) == sorted(deps), _drift(deps, pip_reqs)


def test_environment_yml_shape():
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    assert env["name"] == "symviz"
    assert env["channels"] == ["conda-forge"]
    plain = [d for d in env["dependencies"] if isinstance(d, str)]
    assert "pip" in plain, "environment.yml must list `pip` so that conda installs the pip section"
    assert any(d.startswith("python") for d in plain), "environment.yml must pin a python version"


def test_drift_message_names_the_difference():
    """The sync check really fails (and says why) when a dependency is added to one file only."""
    deps = ["torch>=2.2", "numpy>=1.24"]
    message = _drift(deps + ["newpkg>=1"], deps)
    assert sorted(deps + ["newpkg>=1"]) != sorted(deps)
    assert "only in pyproject.toml:  ['newpkg>=1']" in message
    assert "only in environment.yml: []" in message


def test_core_is_light_and_test_tools_stay_out_of_the_learner_environment():
    """The core needs only torch, numpy and tqdm; notebook/molecule packages live in the extras, and the test-only
    packages (e.g. scipy, pytest) are not in environment.yml."""
    with open(ROOT / "pyproject.toml", "rb") as fh:
        project = tomllib.load(fh)["project"]
    names = {_name(r) for r in project["dependencies"]}
    assert names == {"torch", "numpy", "tqdm"}, f"core dependencies: {sorted(names)}"
    env_names = {_name(r) for r in _environment_pip_requirements()}
    test_only = {_name(r) for r in project["optional-dependencies"]["test"]}
    assert not env_names & test_only, f"test tools in environment.yml: {sorted(env_names & test_only)}"
    assert {"jupyterlab", "ipywidgets", "plotly", "anywidget", "matplotlib"} <= {
        _name(r) for r in project["optional-dependencies"]["lab"]
    }
    assert {"rdkit", "py3dmol"} <= {_name(r) for r in project["optional-dependencies"]["molecules"]}


def _name(requirement: str) -> str:
    """Normalised distribution name of a requirement string ("py3Dmol>=2.0" -> "py3dmol")."""
    return re.split(r"[<>=!~;\[ ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")
