"""Layers run one way (docs/architecture.md#layers): the core and the molecule code never import the views
(explore, widgets, viz) or the commands (experiments), not even inside a function."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "symviz"

# what sits below the views: data, groups, diffusion, orbit (+ proposals, fisher), losses, train (+ distributed,
# nets), molecules and conformers, metrics and covmat, and the shared helpers
LOWER = (
    "_checks", "_io", "threads", "data", "groups", "diffusion", "orbit", "proposals", "fisher", "losses",
    "train", "distributed", "nets", "molecules", "conformers", "metrics", "covmat",
)  # fmt: skip
UPPER = ("explore", "widgets", "viz", "experiments")
# explore is pure functions under the widgets: it may use the core, never a view or a command
RULES = {**{low: UPPER for low in LOWER}, "explore": ("widgets", "viz", "experiments")}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, module: str) -> set[str]:
    """Every symviz module that ``source`` (the text of ``module``) imports, at any depth, in any form:
    ``import symviz.x``, ``from symviz.x import y``, ``from symviz import x``, relative imports."""
    out = set()
    package = module.split(".")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "symviz")
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from . import x / from ..y import z
                base = package[: len(package) - node.level + (1 if _is_package(module) else 0)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.split(".")[0] != "symviz":
                continue
            out.add(name)
            out.update(f"{name}.{a.name}" for a in node.names)  # from symviz import viz
    return out


def _is_package(module: str) -> bool:
    return (ROOT / Path(*module.split(".")) / "__init__.py").is_file()


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def violations(module: str, imports: set[str]) -> list[str]:
    banned = RULES.get(_layer(module), ())
    return sorted(m for m in imports if _layer(m) in banned)


def test_lower_layers_never_import_the_views_or_the_commands():
    bad = {}
    checked = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        mod = _module_name(path)
        if _layer(mod) in RULES:
            checked.add(_layer(mod))
            found = violations(mod, imported_modules(path.read_text(), mod))
            if found:
                bad[mod] = found
    assert checked == set(RULES), f"layers without modules (renamed?): {set(RULES) - checked}"
    assert not bad, f"imports against the layer order (docs/architecture.md#layers): {bad}"


@pytest.mark.parametrize(
    "module, source, expected",
    [
        ("symviz.molecules.frames", "from symviz.explore import check_t", ["symviz.explore", "symviz.explore.check_t"]),
        ("symviz.orbit", "def f():\n    from symviz.viz.molview import as_mol\n", ["symviz.viz.molview",
                                                                                 "symviz.viz.molview.as_mol"]),
        ("symviz.losses", "import symviz.widgets.orbit", ["symviz.widgets.orbit"]),
        ("symviz.train", "from symviz import experiments", ["symviz.experiments"]),
        ("symviz.molecules.frames", "from ..viz import molview", ["symviz.viz", "symviz.viz.molview"]),
        ("symviz.explore.orbit", "from symviz.widgets import OrbitExplorer", ["symviz.widgets",
                                                                               "symviz.widgets.OrbitExplorer"]),
        ("symviz.explore.orbit", "from symviz.orbit import orbit_target", []),
        ("symviz.widgets.orbit", "from symviz import explore, viz", []),  # the top may import anything
        ("symviz.orbit", "import numpy as np\nfrom symviz.groups import SO3", []),
    ],
)  # fmt: skip
def test_the_scanner_finds_every_form_of_import(module, source, expected):
    assert violations(module, imported_modules(source, module)) == expected
