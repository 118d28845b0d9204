"""Wall time of every tutorial under nbval, exactly as `make test` runs them (issue 3: <= 3 min each, <= 12 in all).

Run:  python benchmarks/notebook_times.py      (writes benchmarks/results/notebook_times.md)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

from symviz.experiments.reporting import markdown_table, write_text

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    notebooks = sorted((ROOT / "tutorials").glob("*.ipynb"))
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "nbval.xml"
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--nbval-lax",
            "--nbval-current-env",
            "--nbval-sanitize-with",
            "tutorials/nbval_sanitize.cfg",
            f"--junitxml={xml}",
            *map(str, notebooks),
        ]
        start = time.perf_counter()
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
        wall = time.perf_counter() - start
        per_nb: dict[str, float] = defaultdict(float)
        failed: dict[str, int] = defaultdict(int)
        for case in ET.parse(xml).getroot().iter("testcase"):
            cls = case.get("classname", "")  # "tutorials.01_group_actions.ipynb"
            name = next((nb.name for nb in notebooks if cls.endswith(nb.name)), cls)
            per_nb[name] += float(case.get("time", 0))
            failed[name] += sum(1 for c in case if c.tag in ("failure", "error"))
    try:
        load = f"{os.getloadavg()[0]:.1f}"
    except OSError:
        load = "n/a"
    lines = [
        "## Tutorial run times under nbval",
        "",
        "Command: `python benchmarks/notebook_times.py` (the nbval step of `make test`; one kernel at a time, "
        f"threads = 1 in every kernel; load average at the end {load} on {os.cpu_count()} cores)",
        "",
        markdown_table(
            ["notebook", "cells time (s)", "failed cells"],
            [[nb.name, f"{per_nb.get(nb.name, 0):.0f}", failed.get(nb.name, 0)] for nb in notebooks],
        ),
    ]
    worst = max(per_nb.values(), default=0)
    lines += [
        "",
        f"All notebooks: {wall:.0f} s wall including kernel start-up (goal <= 720 s); slowest notebook "
        f"{worst:.0f} s (goal <= 180 s). pytest: {r.stdout.strip().splitlines()[-1] if r.stdout else r.stderr}",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    write_text(ROOT / "benchmarks" / "results" / "notebook_times.md", text)
    return r.returncode


if __name__ == "__main__":
    raise SystemExit(main())
