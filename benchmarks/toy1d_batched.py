"""Wall time of the 1D toy (arXiv 2502.09890 §4.1, Table 1): all 9 (variant, seed) runs as one batched model vs
the unbatched runs one at a time, in one process on one thread, with the same settings.

Also checks that the two paths give each run the same numbers (bitwise on the project's CPU build).

Run:  python benchmarks/toy1d_batched.py                       (writes benchmarks/results/toy1d_batched.md)
      python benchmarks/toy1d_batched.py --steps 2000 --eval-samples 5000
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import symviz as sv
from symviz._io import atomic_write_text
from symviz.experiments.toy1d_batched import train_batched
from symviz.experiments.toy1d_protocol import VARIANTS
from symviz.experiments.toy1d_unbatched import train_one

SEEDS = (0, 1, 2)


def _same(a: dict, b: dict) -> bool:
    """Bitwise the same run: weights, curves, best step and sample metrics."""
    keys = ("mad", "w2", "best_step", "best_val_error", "loss_last_half", "curve")
    return all(a[k] == b[k] for k in keys) and all(
        torch.equal(v, b["state_dict"][k]) for k, v in a["state_dict"].items()
    )


def measure(steps: int, eval_samples: int) -> dict:
    """Seconds (wall and CPU) of the batched model of all runs and of each unbatched run; equality per run."""
    pairs = [(v, s) for v in VARIANTS for s in SEEDS]
    kw = {"steps": steps, "eval_samples": eval_samples}
    train_batched(pairs[:2], steps=20, eval_samples=1000)  # warm-up: first-call costs out of the timings
    wall, cpu = time.perf_counter(), time.process_time()
    batched = train_batched(pairs, **kw)
    b_wall, b_cpu = time.perf_counter() - wall, time.process_time() - cpu
    u_wall, u_cpu, same = [], [], []
    for (v, s), b in zip(pairs, batched):
        wall, cpu = time.perf_counter(), time.process_time()
        u = train_one(v, s, **kw)
        u_wall.append(time.perf_counter() - wall)
        u_cpu.append(time.process_time() - cpu)
        same.append(_same(b, u))
    return {"runs": len(pairs), "b_wall": b_wall, "b_cpu": b_cpu, "u_wall": u_wall, "u_cpu": u_cpu, "same": same}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=2000, help="training steps per run (default 2000)")
    p.add_argument("--eval-samples", type=int, default=10_000, help="DDIM evaluation samples (default 10000)")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "toy1d_batched.md")
    args = p.parse_args()
    if args.steps < 1 or args.eval_samples < 2:
        p.error("--steps must be >= 1 and --eval-samples >= 2")
    sv.configure_threads(1)
    m = measure(args.steps, args.eval_samples)
    n, uw, uc = m["runs"], sum(m["u_wall"]), sum(m["u_cpu"])
    lines = [
        "## 1D toy: all runs as one batched model vs one run at a time",
        "",
        f"Command: `python benchmarks/toy1d_batched.py --steps {args.steps} --eval-samples {args.eval_samples}` "
        f"({n} runs: 3 variants x seeds 0 1 2, validation every 500 steps, one process, 1 thread, "
        f"torch {torch.__version__}).",
        "",
        "| path | wall s, all runs | wall s per run | CPU s, all runs |",
        "|---|---|---|---|",
        f"| unbatched (`--unbatched`) | {uw:.1f} | {uw / n:.2f} | {uc:.1f} |",
        f"| batched (default) | {m['b_wall']:.1f} | {m['b_wall'] / n:.2f} | {m['b_cpu']:.1f} |",
        "",
        f"Speed-up of the batched path: {uw / m['b_wall']:.1f}x wall, {uc / m['b_cpu']:.1f}x CPU. "
        f"Runs with bitwise the same weights, curves and metrics on both paths: {sum(m['same'])} of {n}.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    atomic_write_text(args.out, text)


if __name__ == "__main__":
    main()
