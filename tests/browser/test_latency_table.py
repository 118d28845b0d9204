"""The browser-latency table (benchmarks/browser_latency.py): goals per widget kind, MET/MISSED with the
reason, and the load average printed with it. Pure formatting: runs without a browser."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[2]


def _module():
    spec = importlib.util.spec_from_file_location("browser_latency", ROOT / "benchmarks" / "browser_latency.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_each_row_is_judged_against_its_goal_with_the_reason():
    bl = _module()
    rows = [
        {"widget": "A", "slider": "t", "kind": "2d", "n": 30, "lost": 0, "p50": 80.0, "p95": 149.0, "max": 160.0},
        {"widget": "B", "slider": "K", "kind": "2d", "n": 30, "lost": 0, "p50": 90.0, "p95": 151.0, "max": 170.0},
        {"widget": "C", "slider": "t", "kind": "3d", "n": 30, "lost": 0, "p50": 90.0, "p95": 290.0, "max": 400.0},
        {"widget": "D", "slider": "t", "kind": "3d", "n": 29, "lost": 1, "p50": 90.0, "p95": 100.0, "max": 120.0},
        {"widget": "E", "slider": "g", "kind": "2d", "n": 0, "lost": 30},
        {"widget": "F", "slider": "t", "kind": "2d", "n": 30, "lost": 0, "p50": 90, "p95": 190, "max": 200,
         "others_cpu": 1.3},
        {"widget": "G", "slider": "t", "kind": "2d", "n": 30, "lost": 0, "p50": 90, "p95": 190, "max": 200,
         "others_cpu": 0.01},
    ]  # fmt: skip
    args = SimpleNamespace(presses=30, quiet_ms=400.0)
    idle = bl.render(rows, args, (0.2, 0.3, 0.4), (0.5, 0.4, 0.4), "Chromium 1")
    lines = {line.split(" | ")[0].strip("| "): line for line in idle.splitlines() if line.startswith("| ")}
    assert lines["A"].endswith("| 150 ms | n/a | MET |")
    assert "MISSED (p95 151.0 ms > 150 ms)" in lines["B"]
    assert lines["C"].endswith("| 300 ms | n/a | MET |")
    assert "MISSED (1 press(es) without a repaint)" in lines["D"]
    assert "MISSED (no repaint)" in lines["E"]
    assert lines["F"].endswith(
        "| 1.30 cores | MISSED (p95 190.0 ms > 150 ms; machine busy: other programs used 1.3 cores meanwhile) |"
    )
    assert lines["G"].endswith("| 0.01 cores | MISSED (p95 190.0 ms > 150 ms) |") and "n/a" in lines["A"]
    assert "Load average (1, 5, 15 min) at the start 0.20, 0.30, 0.40; at the end 0.50" in idle
    assert "the machine was busy" not in idle and "Rows marked busy" in idle
    busy = bl.render(rows, args, (3.5, 3.0, 2.0), (0.5, 0.4, 0.4), "Chromium 1")
    assert "MISSED (p95 151.0 ms > 150 ms; machine busy: load average 3.5 >= 1 at the start)" in busy
    assert "the machine was busy" in busy


def test_other_programs_cpu_is_measured_outside_our_process_tree():
    import time

    bl = _module()
    a = bl.cpu_snapshot()
    if a is None:
        import pytest

        pytest.skip("no /proc on this system")
    t0 = time.process_time()
    while time.process_time() - t0 < 0.3:  # burn CPU in this process: it must count as ours, not others'
        sum(i * i for i in range(1000))
    b = bl.cpu_snapshot()
    assert b[2] - a[2] >= 0.2  # our own CPU seconds grew
    assert bl.others_cpu(a, b) is not None and bl.others_cpu(a, b) >= 0.0
    assert bl.others_cpu(a, None) is None


def test_generated_notebook_has_one_cell_per_widget(tmp_path):
    import nbformat

    bl = _module()
    name, cells = bl.write_notebook(tmp_path)
    nb = nbformat.read(str(tmp_path / name), as_version=4)
    assert len(nb.cells) == 1 + len(bl.WIDGETS) and [c[0] for c in cells] == list(range(1, len(nb.cells)))
    assert {kind for _, _, sliders in cells for _, kind in sliders} == {"2d", "3d"}
    for index, source, _ in cells:
        assert nb.cells[index].source == source


def test_only_selects_widget_cells_and_names_them_on_a_typo():
    import pytest

    bl = _module()
    assert bl.select_widgets(None) == bl.WIDGETS
    orbit = bl.select_widgets(["OrbitExplorer"])
    assert [src for src, _ in orbit] == ['sw.OrbitExplorer(group="SO2", t=0.3, K=16, seed=0)']
    assert len(bl.select_widgets(["OrbitExplorer", "TargetField"])) == 2
    with pytest.raises(SystemExit, match="'Orbit Explorer' matches no widget cell.*TargetField"):
        bl.select_widgets(["Orbit Explorer"])
