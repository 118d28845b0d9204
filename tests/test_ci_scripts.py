"""The CI entry point, the test script and the README agree on one test command: `make test`."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _code_lines(path: Path) -> list[str]:
    """Non-comment, non-blank lines of a shell script."""
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    return [ln for ln in lines if ln and not ln.startswith("#")]


def test_ci_run_is_executable_bash_and_calls_make_test():
    ci = ROOT / ".ci" / "run"
    assert ci.is_file(), ".ci/run is missing"
    assert os.access(ci, os.X_OK), ".ci/run must be executable (chmod +x .ci/run)"
    text = ci.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash") or text.startswith("#!/bin/bash")
    code = _code_lines(ci)
    assert "set -euo pipefail" in code, ".ci/run must stop on the first error"
    assert "make test" in code, ".ci/run must call the README test command `make test` on a line of its own"
    assert any("apt-get install -y chromium" in ln for ln in code), ".ci/run must install Debian chromium"


def test_test_script_is_strict():
    script = ROOT / "scripts" / "test.sh"
    code = _code_lines(script)
    assert "set -euo pipefail" in code
    text = "\n".join(code)
    assert "ruff" in text and "--nbval-lax" in text and "tests/browser" in text
    assert "-eq 5" in text, "pytest exit code 5 (no tests collected) must count as a failure"


def test_makefile_targets():
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("lab", "test", "benchmarks", "clean-venv"):
        assert re.search(rf"^{re.escape(target)}:", text, flags=re.M), f"Makefile lacks target {target!r}"
    # CPU torch must be installed before the package, or pip resolves torch>=2.2 to a huge CUDA build.
    torch_at = text.index('"$(TORCH_SPEC)"')
    pkg_at = text.index("pip install -e")
    assert torch_at < pkg_at
    assert "TORCH_SPEC ?= torch==2.13.0" in text
    # PyTorch's CPU-only wheel index can be passed to that install, and changing either variable reinstalls.
    assert '--index-url "$(TORCH_INDEX_URL)"' in text and "TORCH_INDEX_URL ?=" in text
    assert re.search(r"^\$\(STAMP\): pyproject.toml \$\(TORCH_STAMP\)", text, flags=re.M)
    assert "$(TORCH_SPEC)" in text.split("TORCH_STAMP :=")[1].splitlines()[0]
    assert "scripts/test.sh" in text


def test_readme_test_command_is_make_test():
    readme = ROOT / "README.md"
    if not readme.exists():
        pytest.skip("README.md does not exist yet")
    text = readme.read_text(encoding="utf-8")
    blocks = re.findall(r"```(?:bash|sh|console|shell)?\n(.*?)```", text, flags=re.S)
    commands = {ln.strip().lstrip("$ ").split("#")[0].strip() for b in blocks for ln in b.splitlines()}
    assert "make test" in commands, "README.md must show `make test` as the test command in a code block"
    assert "make lab" in commands, "README.md must show `make lab` as the command that opens the tutorials"


def test_make_docs_builds_the_gallery_and_is_not_part_of_make_test():
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^docs:.*\n((?:\t.*\n)+)", text, flags=re.M)
    assert recipe, "Makefile lacks a docs target with a recipe"
    assert "scripts/build_docs.py" in recipe.group(1) and "$(if $(ONLY),--only $(ONLY))" in recipe.group(1)
    assert re.search(r"^\.PHONY:.*\bdocs\b", text, flags=re.M)
    assert "make docs" in text.split("\nhelp:", 1)[1].split("\n\n", 1)[0], "make help must list make docs"
    test_recipe = re.search(r"^test:.*\n((?:\t.*\n)+)", text, flags=re.M).group(1)
    assert "build_docs" not in test_recipe and "build_docs" not in (ROOT / "scripts" / "test.sh").read_text()
    assert "make docs" in (ROOT / "README.md").read_text(encoding="utf-8")
