"""The project's own documentation, licence and citation: present, parseable, and linked consistently."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
DOC_FILES = ["README.md", "theory.md", "data.md", "architecture.md"]

# Markdown links [text](target) and explicit anchors <a id="..."></a>
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
ANCHOR = re.compile(r"<a id=\"([^\"]+)\"></a>")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*$", re.M)
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)  # fenced blocks and inline code spans hold no links


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    return set(ANCHOR.findall(text)) | {_slug(h) for h in HEADING.findall(text)}


def test_citation_cff_parses_and_names_the_paper():
    yaml = pytest.importorskip("yaml")
    data = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert data["cff-version"] == "1.2.0"
    assert data["title"] == "symviz"
    assert str(data["license"]) == "MIT"
    assert str(data["version"]) == "0.1.0"
    pref = data["preferred-citation"]
    assert "Rao-Blackwell" in pref["title"]
    assert "2502.09890" in yaml.safe_dump(pref)
    assert [a["family-names"] for a in pref["authors"]] == ["Tong", "Hoang", "Liu", "Van den Broeck", "Niepert"]
    refs = yaml.safe_dump(data["references"])
    assert "Ramakrishnan" in refs and "Axelrod" in refs, "references must cite QM9 and GEOM"


def test_version_matches_pyproject():
    yaml = pytest.importorskip("yaml")
    version = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))["version"]
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(rf'^version = "{re.escape(str(version))}"', pyproject, re.M), "CITATION.cff version drifted"


def test_license_is_mit_with_third_party_notices():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License")
    assert "the symviz authors" in text
    assert "3Dmol" in text and "BSD-3-Clause" in text
    assert "symviz/static/3Dmol-LICENSE.txt" in text
    assert (ROOT / "symviz" / "static" / "3Dmol-LICENSE.txt").is_file()
    assert "QM9" in text and "140022" in text


@pytest.mark.parametrize("name", DOC_FILES)
def test_doc_file_exists(name):
    path = DOCS / name
    assert path.is_file(), f"missing {path.relative_to(ROOT)}"
    assert path.read_text(encoding="utf-8").strip(), f"{name} is empty"


@pytest.mark.parametrize("name", DOC_FILES)
def test_relative_links_resolve(name):
    """Every relative link in docs/*.md points to an existing file (and to an existing anchor in .md files)."""
    path = DOCS / name
    broken = []
    for target in LINK.findall(CODE.sub("", path.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:, ...
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            broken.append(f"{target} (no such file)")
            continue
        if anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target} (no anchor #{anchor})")
    assert not broken, f"{name}: broken links: {broken}"


def test_theory_has_the_citable_anchors():
    needed = {
        "setting",
        "symmetrized-loss",
        "rao-blackwell",
        "snis",
        "orbdiff-target",
        "lemma-1",
        "lemma-2",
        "proposition-1",
        "theorem-1",
        "theorem-2",
        "finite-k",
        "counterexample",
        "closed-forms",
        "numerics",
        "molecules",
        "aligned-proposals",
        "toy1d",
        "reference-values",
        "reference-code",
    }
    missing = needed - _anchors(DOCS / "theory.md")
    assert not missing, f"docs/theory.md lacks anchors {sorted(missing)}"


# The team's private notes are not shipped; nothing in the repository may point at them. Names are built here
# so that this file does not match itself.
UNSHIPPED_NOTES = tuple(stem + ".md" for stem in ("PAPER", "DATA", "TOOLING", "STYLE", "DESIGN"))
TEXT_SUFFIXES = (".py", ".ipynb", ".md", ".sh", ".toml", ".yml", ".cfg", ".json")


def _tracked_text_files() -> list[Path]:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    res = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip("not a git checkout")
    return [ROOT / p for p in res.stdout.split("\0") if p.endswith(TEXT_SUFFIXES) and (ROOT / p).is_file()]


def test_no_reference_to_unshipped_notes():
    pattern = re.compile("|".join(re.escape(n) for n in UNSHIPPED_NOTES))
    hits = []
    for path in _tracked_text_files():
        for lineno, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if pattern.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{lineno}: {line.strip()[:100]}")
    assert not hits, "references to unshipped notes (cite docs/ or the paper instead):\n" + "\n".join(hits)
