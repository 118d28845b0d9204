"""environment.yml (conda convenience) must install exactly pyproject.toml's runtime requirements."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import tomllib

yaml = pytest.importorskip("yaml", reason="pyyaml is in the [test] extra: pip install -e '.[test]'")

ROOT = Path(__file__).resolve().parents[1]


def _pyproject_dependencies() -> list[str]:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return [s.strip() for s in tomllib.load(fh)["project"]["dependencies"]]


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
        "environment.yml's pip list has drifted from [project].dependencies in pyproject.toml "
        "(copy the requirement strings exactly).\n"
        f"  only in pyproject.toml:  {only_py}\n"
        f"  only in environment.yml: {only_env}"
    )


def test_environment_yml_pip_list_equals_pyproject_dependencies():
    deps = _pyproject_dependencies()
    pip_reqs = _environment_pip_requirements()
    assert deps, "pyproject.toml has no [project].dependencies"
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
