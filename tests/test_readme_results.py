"""The README's results section is exactly the stored result files (no hand-edited numbers)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_results_are_generated_from_result_files():
    r = subprocess.run(
        [sys.executable, "scripts/readme_results.py", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
