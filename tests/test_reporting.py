"""symviz.experiments.reporting: the JSON format, the versions block, Markdown tables, and render-only commands
that reproduce the committed result files byte for byte."""

from __future__ import annotations

import json
import platform
import shlex
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from symviz.experiments import reporting

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "data" / "results"


# ------------------------------------------------------------------------------------------------ JSON


def test_json_is_strict_and_compact_only_for_innermost_number_lists():
    obj = {
        "curve": [0.5, 1, -2.5e-07],
        "nested": [[1, 2], [3.0, float("nan")]],
        "mixed": [1, "a"],
        "flags": [True, False],
        "text": "seeds [0, 1, 2]",
        "bad": float("inf"),
        "tup": (1, 2),
        "empty": [],
    }
    text = reporting.to_json(obj)
    assert text.endswith("}\n")
    assert '"curve": [0.5,1,-2.5e-07]' in text and '"tup": [1,2]' in text
    assert "[1,2]" in text and "[\n   3.0,\n   null\n  ]" in text  # a null breaks the one-line form
    assert '"text": "seeds [0, 1, 2]"' in text  # strings are never rewritten
    assert "NaN" not in text and "Infinity" not in text
    back = json.loads(text)
    assert back["nested"] == [[1, 2], [3.0, None]] and back["bad"] is None and back["flags"] == [True, False]
    assert back["mixed"] == [1, "a"] and back["empty"] == [] and back["curve"] == [0.5, 1, -2.5e-07]


def test_json_floats_round_trip_exactly():
    g = np.random.default_rng(0)
    vals = [float(v) for v in g.normal(size=50) * 10.0 ** g.integers(-12, 12, 50)]
    assert json.loads(reporting.to_json({"v": vals}))["v"] == vals


def test_json_format_reproduces_committed_result_files():
    """The committed toy results were written by the older per-command writer: the same bytes come out."""
    for name in ("toys2d", "toy1d"):
        path = RESULTS / f"{name}.json"
        raw = path.read_text(encoding="utf-8")
        assert reporting.to_json(json.loads(raw)) == raw, name


def test_write_json_is_atomic(tmp_path):
    out = tmp_path / "sub" / "r.json"
    reporting.write_json(out, {"a": [1, 2]})
    assert json.loads(out.read_text()) == {"a": [1, 2]}
    with pytest.raises(TypeError, match=r"tolist\(\)"):
        reporting.write_json(out, {"a": np.arange(3)})
    assert json.loads(out.read_text()) == {"a": [1, 2]}  # the old file survives a failed write
    assert [p.name for p in out.parent.iterdir()] == ["r.json"]
    with pytest.raises(TypeError, match="str"):
        reporting.write_text(out, b"bytes")


# ------------------------------------------------------------------------------------------------ versions


def test_versions_block_matches_the_imported_packages():
    v = reporting.versions(threads=3)
    assert list(v)[:3] == ["python", "platform", "symviz"]
    assert v["python"] == platform.python_version() and v["threads"] == 3
    assert v["torch"] == torch.__version__
    assert v["numpy"] == np.__version__
    assert "commit" in v
    v = reporting.versions(("no-such-package-xyz",), commit=False)
    assert v["no-such-package-xyz"] is None and "commit" not in v
    with pytest.raises(TypeError, match="sequence of names"):
        reporting.versions("numpy")


def _git(cwd, *args):
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, capture_output=True, text=True
    )


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_commit_names_head_and_marks_a_dirty_tree(tmp_path):
    assert reporting.git_commit(tmp_path) is None  # not a checkout
    assert reporting.git_commit(tmp_path / "missing") is None
    _git(tmp_path, "init", "-q")
    (tmp_path / "f.py").write_text("x = 1\n")
    _git(tmp_path, "add", "f.py")
    assert _git(tmp_path, "commit", "-qm", "one").returncode == 0
    head = _git(tmp_path, "rev-parse", "HEAD").stdout.strip()
    assert len(head) == 40 and reporting.git_commit(tmp_path) == head
    (tmp_path / "new.txt").write_text("untracked files do not count\n")
    assert reporting.git_commit(tmp_path) == head
    (tmp_path / "f.py").write_text("x = 2\n")
    assert reporting.git_commit(tmp_path) == head + "-dirty"


def test_command_line_round_trips_through_a_shell():
    cmd = reporting.command_line("python -m symviz.experiments.qm9_eval", ["--name", "EGNN orbit", "--steps", 5])
    assert shlex.split(cmd) == ["python", "-m", "symviz.experiments.qm9_eval", "--name", "EGNN orbit", "--steps", "5"]
    assert reporting.command_line("prog", []) == "prog"


# ------------------------------------------------------------------------------------------------ Markdown


def test_markdown_table_layout_alignment_and_escaping():
    t = reporting.markdown_table(["a", "b", "c"], [[1, "x|y", 2.5], ("", "z", None)])
    assert t.splitlines() == ["| a | b | c |", "|---|---|---|", "| 1 | x\\|y | 2.5 |", "|  | z | None |"]
    t = reporting.markdown_table(["name", "n", "mid"], [], align="lrc")
    assert t == "| name | n | mid |\n|:---|---:|:---:|"
    assert reporting.markdown_table(["a"], [[1]], align=["-"]).endswith("| 1 |")
    with pytest.raises(ValueError, match="row 1 has 1 cells but the header has 2"):
        reporting.markdown_table(["a", "b"], [[1, 2], [3]])
    with pytest.raises(ValueError, match="align"):
        reporting.markdown_table(["a", "b"], [], align="lx")
    with pytest.raises(ValueError, match="header is empty"):
        reporting.markdown_table([], [])
    assert reporting.status(True) == "MET" and reporting.status(False) == "MISSED"
    assert reporting.markdown_row(["a", 1]) == "| a | 1 |"


# ------------------------------------------------------------------------------------------------ render-only


def _copy(tmp_path, name):
    shutil.copy(RESULTS / f"{name}.json", tmp_path / f"{name}.json")
    return tmp_path / name


def _same(tmp_path, name):
    assert (tmp_path / f"{name}.md").read_bytes() == (RESULTS / f"{name}.md").read_bytes()


def test_render_only_reproduces_committed_markdown(tmp_path, capsys):
    """Every command's Markdown is a pure function of its JSON: rendering the committed JSON into a temporary
    folder gives the committed Markdown byte for byte (README.md splices those files)."""
    from symviz.experiments import etkdg_baseline, qm9_ablation, qm9_eval, toys2d

    assert etkdg_baseline.main(["--render-only", "--out", str(_copy(tmp_path, "etkdg_baseline"))]) == 0
    _same(tmp_path, "etkdg_baseline")
    out = _copy(tmp_path, "qm9_conformers")
    assert qm9_eval.main(["--render-only", "--out", str(out), "--etkdg", str(RESULTS / "etkdg_baseline.json")]) == 0
    _same(tmp_path, "qm9_conformers")
    assert qm9_ablation.main(["--render-only", "--out", str(_copy(tmp_path, "qm9_ablation"))]) == 0
    _same(tmp_path, "qm9_ablation")
    assert toys2d.main(["--render-only", "--out", str(_copy(tmp_path, "toys2d").with_suffix(".json"))]) == 0
    _same(tmp_path, "toys2d")
    for name in ("etkdg_baseline", "qm9_conformers", "qm9_ablation", "toys2d"):
        assert (tmp_path / f"{name}.json").read_bytes() == (RESULTS / f"{name}.json").read_bytes()  # untouched


def test_render_only_without_json_says_what_to_run(tmp_path, capsys):
    from symviz.experiments import etkdg_baseline, qm9_ablation, qm9_eval, toys2d

    for mod, out in [
        (etkdg_baseline, tmp_path / "e"),
        (qm9_eval, tmp_path / "q"),
        (qm9_ablation, tmp_path / "a"),
        (toys2d, tmp_path / "t.json"),
    ]:
        with pytest.raises(SystemExit):
            mod.main(["--render-only", "--out", str(out)])
        assert "does not exist" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_nan_cells_survive_the_round_trip():
    """NaN becomes null in JSON; the toys2d table renders a null mirror rate as a dash."""
    from symviz.experiments import toys2d

    stored = json.loads((RESULTS / "toys2d.json").read_text(encoding="utf-8"))
    setting = stored["settings"][0]
    stored["summary"][setting]["mlp-plain"]["mirror_mean"] = float("nan")
    table = toys2d.markdown_table(json.loads(reporting.to_json(stored)))
    assert f"| {setting} | mlp-plain |" in table
    row = next(ln for ln in table.splitlines() if ln.startswith(f"| {setting} | mlp-plain |"))
    assert row.endswith("| – |")


def _merge_rows(args):
    path, worker = args
    for k in range(5):
        reporting.merge_json_entry(path, "runs", f"w{worker}-{k}", {"k": k}, init={"label": "x", "runs": {}})


def test_merge_json_entry_keeps_rows_of_parallel_writers(tmp_path):
    """Four processes add rows to one results file at once: every row survives, the file stays valid JSON."""
    import multiprocessing as mp

    path = tmp_path / "res.json"
    reporting.merge_json_entry(path, "runs", "first", 1, init={"label": "x", "runs": {}})
    with mp.get_context("spawn").Pool(4) as pool:
        pool.map(_merge_rows, [(str(path), w) for w in range(4)])
    obj = json.loads(path.read_text())
    assert obj["label"] == "x"
    assert set(obj["runs"]) == {"first"} | {f"w{w}-{k}" for w in range(4) for k in range(5)}
