"""Time every widget's slider update, headless (Python side: compute + FigureWidget update + serialisation).

    OMP_NUM_THREADS=1 python benchmarks/widget_latency.py [--repeats 60] [--out benchmarks/results/widget_latency.md]

Each row moves one control through ``repeats`` random values (set on the control, as a browser would, so the
observer path is timed too) and reports p50 / p95 in milliseconds and ``p95 / 100 ms`` (goal: <= 1, issue 3).
Browser rendering time is not included (plotly redraws a few hundred points in a few ms).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from symviz import explore
from symviz import widgets as sw
from symviz.experiments.reporting import markdown_row, markdown_table, write_text

BUDGET_MS = 100.0


def timed(fn, values) -> np.ndarray:
    out = []
    for v in values:
        t0 = time.perf_counter()
        fn(v)
        out.append((time.perf_counter() - t0) * 1e3)
    return np.asarray(out)


def setter(view, name):
    ctl = view.controls[name]

    def set_value(v):
        ctl.value = v
        if view.error is not None:
            raise RuntimeError(f"{type(view).__name__} rejected {name}={v!r}: {view.error}")

    return set_value


def rows(repeats: int, rng: np.random.Generator):
    def ts(step=0.01):
        return [round(float(v), 2) for v in rng.choice(np.arange(0, 1 + 1e-9, step), repeats)]

    ex = sw.OrbitExplorer(max_k=512)
    for group in explore.GROUP_CHOICES:
        ex.update(group=group, K=64, t=0.3, data="cloud")
        yield f"OrbitExplorer t slider ({group}, cloud, K=64)", timed(setter(ex, "t"), ts())
        yield (
            f"OrbitExplorer K slider ({group}, cloud, t=0.3)",
            timed(setter(ex, "K"), [int(k) for k in rng.choice(ex.controls["K"].options, repeats)]),  # its stops
        )
    groups = [g for g in rng.choice(explore.GROUP_CHOICES, repeats)]
    groups = [g for i, g in enumerate(groups) if i == 0 or g != groups[i - 1]]
    yield "OrbitExplorer group dropdown", timed(setter(ex, "group"), groups)

    tf = sw.TargetField(grid=15)
    for group in explore.GROUP_CHOICES:
        tf.update(group=group)

        def cold(v, tf=tf):
            tf._cache.clear()
            setter(tf, "t")(v)

        yield f"TargetField t slider ({group}, 15x15, uncached)", timed(cold, ts(0.02))
        yield f"TargetField t slider ({group}, 15x15, cached)", timed(setter(tf, "t"), ts(0.02))

    fd = sw.ForwardDiffusion(num_frames=51)
    yield "ForwardDiffusion t slider (120 points)", timed(setter(fd, "t"), ts(0.02))

    ga = sw.GroupActionExplorer(group="D4")
    yield (
        "GroupActionExplorer g slider (D4)",
        timed(setter(ga, "element"), [int(v) for v in rng.integers(0, 8, repeats)]),
    )
    ga.update(group="O2")
    yield (
        "GroupActionExplorer angle slider (O2)",
        timed(setter(ga, "angle"), [float(v) for v in rng.integers(0, 361, repeats)]),
    )

    lp = sw.LiveTrainingPlot()
    for i in range(1, 1001):
        lp(i, 1.0 / i)
    yield (
        "LiveTrainingPlot call (1000 logged points)",
        timed(lambda v: lp(v, 1.0 / v), list(range(1001, 1001 + repeats))),
    )


def main(argv=None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "widget_latency.md"))
    args = p.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1") or 1))
    rng = np.random.default_rng(args.seed)
    head = markdown_table(["widget update", "n", "p50 (ms)", "p95 (ms)", "p95 / 100 ms"], [], align="-rrrr")
    lines = [head]
    print(head, flush=True)
    worst = 0.0
    for name, ms in rows(args.repeats, rng):
        p50, p95 = np.percentile(ms, 50), np.percentile(ms, 95)
        worst = max(worst, p95 / BUDGET_MS)
        line = markdown_row([name, ms.size, f"{p50:.1f}", f"{p95:.1f}", f"{p95 / BUDGET_MS:.2f}"])
        lines.append(line)
        print(line, flush=True)
    info = (
        f"\nHeadless, Python side only; {os.cpu_count()} cores, torch threads = {torch.get_num_threads()}, "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, torch "
        f"{torch.__version__}, load average at the end {os.getloadavg()[0]:.1f} (the machine is shared). "
        f"Worst p95 / 100 ms = {worst:.2f}. Command: "
        f"`OMP_NUM_THREADS=1 python benchmarks/widget_latency.py --repeats {args.repeats}`.\n"
    )
    print(info)
    text = "# Widget slider latency\n\n" + "\n".join(lines) + "\n" + info
    write_text(Path(args.out), text)
    return text


if __name__ == "__main__":
    main()
