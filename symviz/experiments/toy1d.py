"""The paper's 1D reflection toy, end to end: the command (Table 1 of Tong et al. 2025, arXiv 2502.09890 §4.1;
docs/theory.md#toy1d).

    python -m symviz.experiments.toy1d                  # full table: 3 variants x seeds 0 1 2 x 100k steps, batched
    python -m symviz.experiments.toy1d --jobs 2         # the same runs split into 2 batched processes
    python -m symviz.experiments.toy1d --unbatched --jobs 2   # one run at a time (the reference loop), for timing
    python -m symviz.experiments.toy1d --render data/results/toy1d.json   # rewrite the .md from stored JSON
    python -m symviz.experiments.toy1d --quick          # the same code path with 3000 steps (a smoke run)
    python -m symviz.experiments.toy1d --resume         # after a crash: finish the interrupted table

The protocol (data, variants, targets, DDIM, metrics, acceptance band) is ``toy1d_protocol``; a run is trained by
``toy1d_batched.train_batched`` (default: all (variant, seed) runs as one model with stacked parameters) or by
``toy1d_unbatched.train_one`` (``--unbatched``: one run at a time). Both give every run bitwise the same numbers
on this project's CPU build: each run draws from its own ``torch.manual_seed(seed)`` stream in the reference
code's order, and the batched arithmetic reproduces the unbatched one (see ``toy1d_batched``). ``--jobs N``
spreads the work over N worker processes (one thread each): N batched groups, or N single runs at a time.

What resumes (``--resume``): training writes a checkpoint every ``--checkpoint-every`` steps (default 5000) into
``--checkpoint-dir`` (default: next to the output, ``<out stem>_checkpoints/``): one per batched group
(``batch_<runs>.pt``) or per run (``<variant>_seed<seed>.pt``), holding weights, optimizer, step, curves, the best
weights so far and the random streams. A resumed run ends exactly where an uninterrupted one would. A finished run
leaves its numbers there (``<variant>_seed<seed>.json``), which a resume reads instead of training again. The
folder's files are deleted once the table is written, unless ``--keep-checkpoints``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

import symviz as sv
from symviz._checks import check_positive_int
from symviz._io import atomic_write_text, check_writable
from symviz.experiments.toy1d_batched import train_batched
from symviz.experiments.toy1d_protocol import (
    LABELS,
    LOSS_FLOOR,
    NUM_T,
    PAPER_TABLE1,
    VARIANTS,
    acceptance,
    ddim_1d,
    draw_randoms,
    evaluate,
    evaluation_starts,
    loss_floor,
    mad,
    make_batch,
    make_net,
    orbit_target_1d,
    schedule,
    tanh_target,
    validation_error,
    w2_to_pm1,
)
from symviz.experiments.toy1d_unbatched import train_one

__all__ = [
    # the protocol, re-exported (toy1d_protocol)
    "NUM_T",
    "VARIANTS",
    "LABELS",
    "PAPER_TABLE1",
    "LOSS_FLOOR",
    "schedule",
    "make_net",
    "orbit_target_1d",
    "tanh_target",
    "loss_floor",
    "draw_randoms",
    "make_batch",
    "ddim_1d",
    "validation_error",
    "mad",
    "w2_to_pm1",
    "evaluation_starts",
    "evaluate",
    "acceptance",
    # the two ways to train (toy1d_unbatched, toy1d_batched)
    "train_one",
    "train_batched",
    # the command
    "run",
    "write_results",
    "write_json_atomic",
    "markdown_table",
    "add_checkpoint_arguments",
    "checkpoint_dir_of",
    "remove_checkpoints",
    "checkpoint_names",
    "main",
]

QUICK_STEPS = 3000
TITLE = "# 1D reflection toy (arXiv 2502.09890 §4.1, Table 1; docs/theory.md#toy1d)\n\n"


def _one_thread() -> None:
    """Worker-process initializer: one torch thread per worker."""
    torch.set_num_threads(1)


def _pair_files(checkpoint_dir, variant: str, seed: int) -> tuple[Path, Path]:
    """The unbatched training checkpoint and the finished-result JSON of one (variant, seed) run."""
    base = Path(checkpoint_dir) / f"{variant}_seed{seed}"
    return base.with_suffix(".pt"), base.with_suffix(".json")


def _group_file(checkpoint_dir, pairs) -> Path:
    """The training checkpoint of one batched group of (variant, seed) runs."""
    return Path(checkpoint_dir) / ("batch_" + "_".join(f"{v}{s}" for v, s in pairs) + ".pt")


def _train_group(pairs: list, kwargs: dict) -> list[dict]:
    """Train a group of (variant, seed) runs, without their state dicts; module level for worker processes.

    ``kwargs["batched"]``: one batched model (``train_batched``) or one run after another (``train_one``). With
    ``kwargs["checkpoint_dir"]``: checkpoints and, once finished, each run's result JSON go there; with
    ``kwargs["resume"]`` a finished result with the same settings is read back instead of training again.
    """
    kwargs = dict(kwargs)
    folder, every = kwargs.pop("checkpoint_dir", None), kwargs.pop("checkpoint_every", None)
    resume, batched = kwargs.pop("resume", False), kwargs.pop("batched", True)
    settings = {"steps": kwargs.get("steps"), "eval_samples": kwargs.get("eval_samples")}
    done = {}
    if folder is not None and resume:
        for v, seed in pairs:
            path = _pair_files(folder, v, seed)[1]
            if path.exists():
                stored = json.loads(path.read_text())
                if stored.get("settings") == settings:
                    done[(v, seed)] = stored["result"]
    todo = [p for p in pairs if p not in done]
    fresh = []
    if todo and batched:
        ckpt = {} if folder is None else {"checkpoint_path": _group_file(folder, todo), "checkpoint_every": every}
        fresh = train_batched(todo, resume=resume and folder is not None, **ckpt, **kwargs)
    elif todo:
        for v, seed in todo:
            ckpt = {} if folder is None else {"checkpoint_path": _pair_files(folder, v, seed)[0]}
            ckpt |= {"checkpoint_every": every} if folder is not None else {}
            fresh.append(train_one(v, seed, resume=resume and folder is not None, **ckpt, **kwargs))
    for p, r in zip(todo, fresh):
        r.pop("state_dict")
        if folder is not None:
            # Python's JSON (NaN and Infinity kept as such: a validation error can be inf), read back only here
            atomic_write_text(_pair_files(folder, *p)[1], json.dumps({"settings": settings, "result": r}))
        done[p] = r
    return [done[p] for p in pairs]


def _groups(pairs: list, jobs: int, batched: bool) -> list[list]:
    """Batched: ``jobs`` groups, runs dealt round-robin; unbatched: one group per run."""
    if not batched:
        return [[p] for p in pairs]
    return [pairs[i::jobs] for i in range(min(jobs, len(pairs)))]


def run(
    steps: int = 100_000,
    seeds=(0, 1, 2),
    variants=VARIANTS,
    out=None,
    progress: bool = False,
    log=print,
    command: str | None = None,
    eval_samples: int = 100_000,
    jobs: int = 1,
    checkpoint_dir=None,
    checkpoint_every: int | None = 5000,
    resume: bool = False,
    batched: bool = True,
) -> dict:
    """Train and evaluate every (variant, seed); write the JSON atomically to ``out`` (if given).

    ``batched`` (default True): the runs are trained as one model with stacked parameters (``train_batched``);
    False: one after another (``train_one``). ``jobs`` > 1: that many worker processes (one thread each), each
    taking a batched group (runs dealt round-robin) or one run at a time. Every run seeds its own random stream,
    so the numbers depend on neither ``batched`` nor ``jobs``; only the wall time does.
    ``checkpoint_dir`` (default None: none): checkpoints every ``checkpoint_every`` steps and each run's finished
    result; ``resume`` continues from them (see the module docstring).
    """
    jobs = check_positive_int(jobs, "jobs")
    start = time.perf_counter()
    per_seed, curves = {v: [] for v in variants}, {}
    pairs = [(v, seed) for v in variants for seed in seeds]
    groups = _groups(pairs, jobs, batched)
    kwargs = {"steps": steps, "progress": progress and jobs == 1, "eval_samples": eval_samples, "batched": batched}
    if checkpoint_dir is not None:
        kwargs |= {"checkpoint_dir": str(checkpoint_dir), "checkpoint_every": checkpoint_every, "resume": resume}
    if jobs == 1:
        results = (_train_group(g, kwargs) for g in groups)
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(
            max_workers=min(jobs, len(groups)), mp_context=mp.get_context("spawn"), initializer=_one_thread
        )
        results = pool.map(_train_group, groups, [kwargs] * len(groups))
    by_pair = {}
    try:
        for group in groups:
            for (v, seed), r in zip(group, next(results)):
                by_pair[(v, seed)] = r
                if log:
                    log(
                        f"{LABELS[v]:<20} seed {seed}: MAD {r['mad']:.3e}  W2 {r['w2']:.3e}  best step "
                        f"{r['best_step']}  loss(last half) {r['loss_last_half']:.4g}  {r['seconds']:.0f} s"
                    )
    finally:
        if jobs > 1:
            pool.shutdown(cancel_futures=True)
    for v, seed in pairs:
        r = dict(by_pair[(v, seed)])
        curves.setdefault(v, []).append({"seed": seed, **r.pop("curve")})
        per_seed[v].append(r)
    summary = {}
    for v in variants:
        arr = {k: np.array([r[k] for r in per_seed[v]]) for k in ("mad", "w2", "loss_last_half")}
        summary[v] = {
            "label": LABELS[v],
            **{f"{k}_mean": float(a.mean()) for k, a in arr.items()},
            **{f"{k}_std": float(a.std(ddof=0)) for k, a in arr.items()},
        }
    result = {
        "experiment": "toy1d",
        "protocol": "docs/theory.md#toy1d (arXiv 2502.09890 §4.1, Table 1)",
        "command": command
        or f"python -m symviz.experiments.toy1d --steps {steps} --seeds " + " ".join(map(str, seeds)),
        "metric_note": "MAD = mean |x - sign(x)|, reported as 'RMSD' in the paper; W2 vs 50k -1 and 50k +1",
        "steps": steps,
        "eval_samples": eval_samples,
        "seeds": list(seeds),
        "variants": list(variants),
        "mode": "batched" if batched else "unbatched",
        "groups": [[list(p) for p in g] for g in groups] if batched else None,
        "loss_floor": loss_floor(),
        "summary": summary,
        "per_seed": per_seed,
        "paper_table1": PAPER_TABLE1,
        "curves": curves,
        "versions": {
            "torch": torch.__version__,
            "python": platform.python_version(),
            "numpy": np.__version__,
            "symviz": sv.__version__,
            "threads": torch.get_num_threads(),
            "jobs": jobs,
        },
        "wall_seconds": time.perf_counter() - start,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if set(variants) == set(VARIANTS):
        result["acceptance"] = acceptance(result)
    if out is not None:
        write_results(result, out)
    return result


def write_results(result: dict, out, markdown_only: bool = False) -> list[Path]:
    """The one place this command writes result files: ``out`` (JSON, atomic) and its Markdown table next to
    it (``out`` with suffix ``.md``, atomic); ``markdown_only`` rewrites only the table. Returns the paths."""
    out = Path(out)
    written = [] if markdown_only else [write_json_atomic(result, out)]
    written.append(atomic_write_text(out.with_suffix(".md"), TITLE + markdown_table(result)))
    return written


def checkpoint_names(variants, seeds, jobs: int, batched: bool) -> list[str]:
    """The file names a finished :func:`run` leaves in its checkpoint folder (removed unless kept)."""
    pairs = [(v, seed) for v in variants for seed in seeds]
    names = [f"{v}_seed{seed}.pt" for v, seed in pairs]  # removes each run's .json with it
    if batched:
        names += [_group_file(".", g).name for g in _groups(pairs, jobs, True)]
    return names


_NUMBER_LIST = re.compile(r"\[\s*(-?[\d.eE+-]+(?:,\s*-?[\d.eE+-]+)*)\s*\]")


def write_json_atomic(obj: dict, path) -> Path:
    """Write JSON via a temp file in the same folder and ``os.replace`` (never a half-written file).

    Indented, but every innermost list of numbers is kept on one line (curves and samples stay compact).
    """
    text = json.dumps(_finite_or_none(obj), indent=1, allow_nan=False)
    text = _NUMBER_LIST.sub(lambda m: "[" + ",".join(v.strip() for v in m.group(1).split(",")) + "]", text)
    return atomic_write_text(path, text + "\n")


def _finite_or_none(obj):
    """NaN/Inf -> None (null): strict JSON has no NaN."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_none(v) for v in obj]
    return obj


def _pm(mean: float, std: float, unit: float, digits: int) -> str:
    return f"{mean / unit:.{digits}f} ± {std / unit:.{digits}f}"


def markdown_table(result: dict) -> str:
    """A Markdown table (ours vs the paper's quoted Table 1) plus the command and run time."""
    lines = [
        '| variant | MAD ("RMSD") ×1e-5, ours | paper | W2 ×1e-3, ours | paper | train loss (last half) |',
        "|---|---|---|---|---|---|",
    ]
    for v in result["variants"]:
        s, p = result["summary"][v], result["paper_table1"][v]
        ours_mad = _pm(s["mad_mean"], s["mad_std"], 1e-5, 2)
        ours_w2 = _pm(s["w2_mean"], s["w2_std"], 1e-3, 4)
        paper_mad, paper_w2 = _pm(*p["mad"], 1e-5, 2), _pm(*p["w2"], 1e-3, 3)
        lines.append(
            f"| {LABELS[v]} | {ours_mad} | {paper_mad} | {ours_w2} | {paper_w2} | {s['loss_last_half_mean']:.4g} |"
        )
    mins = result["wall_seconds"] / 60
    jobs = result["versions"].get("jobs", 1)
    parallel = f", {jobs} runs in parallel" if jobs > 1 else ""
    unit, amortized = "run", ""
    if result.get("mode") == "batched":  # results written before batching existed have no "mode": unbatched
        runs, models = sum(len(g) for g in result["groups"]), len(result["groups"])
        parallel = f", all {runs} runs batched as {models} model(s){' in parallel' if models > 1 else ''}"
        unit, amortized = "process", f" ({result['wall_seconds'] / runs:.0f} s per run)"
    lines += [
        "",
        f"Command: `{result['command']}` ({result['steps']} steps, seeds {result['seeds']}, "
        f"torch {result['versions']['torch']}, {result['versions']['threads']} thread(s) per {unit}{parallel}); "
        f"wall time {mins:.1f} min{amortized}. Analytic baseline loss floor {result['loss_floor']:.4f}.",
    ]
    if "acceptance" in result:
        ok = all(result["acceptance"].values())
        bad = [k for k, v in result["acceptance"].items() if not v]
        lines.append(f"Acceptance band: {'all checks pass' if ok else 'FAILED: ' + ', '.join(bad)}.")
    return "\n".join(lines) + "\n"


def add_checkpoint_arguments(p: argparse.ArgumentParser, every: int) -> None:
    """``--resume``, ``--checkpoint-dir``, ``--checkpoint-every`` and ``--keep-checkpoints`` of the experiments."""
    p.add_argument("--resume", action="store_true", help="continue interrupted runs from their checkpoints")
    p.add_argument(
        "--checkpoint-dir", type=Path, default=None, help="checkpoint folder (default: <out stem>_checkpoints)"
    )
    p.add_argument("--checkpoint-every", type=int, default=every, help=f"steps between checkpoints ({every})")
    p.add_argument("--keep-checkpoints", action="store_true", help="keep the checkpoints after a finished run")


def checkpoint_dir_of(args, p: argparse.ArgumentParser) -> Path:
    """The checkpoint folder of a parsed command line (checked for writability before any training)."""
    if args.checkpoint_every < 1:
        p.error("--checkpoint-every must be >= 1")
    folder = args.checkpoint_dir or args.out.with_name(args.out.stem + "_checkpoints")
    try:
        check_writable(folder / "probe", "--checkpoint-dir")
        check_writable(args.out, "--out")
    except ValueError as err:
        p.error(str(err))
    return folder


def remove_checkpoints(folder, names) -> None:
    """Delete the named files of a checkpoint folder (and their ``.json`` results), then the folder if empty."""
    folder = Path(folder)
    for name in names:
        for f in (folder / name, (folder / name).with_suffix(".json")):
            f.unlink(missing_ok=True)
    try:
        folder.rmdir()
    except OSError:  # not empty (other files) or already gone
        pass


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m symviz.experiments.toy1d", description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=None, help="training steps per run (default 100000)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="JSON path (default data/results/toy1d.json; data/results/toy1d_quick.json with --quick)",
    )
    p.add_argument("--quick", action="store_true", help=f"{QUICK_STEPS} steps unless --steps is given")
    p.add_argument("--progress", action="store_true")
    p.add_argument("--eval-samples", type=int, default=100_000, help="DDIM samples for MAD/W2 (protocol: 100000)")
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="worker processes: batched groups, or single runs with --unbatched (default 1; numbers do not change)",
    )
    p.add_argument(
        "--unbatched", action="store_true", help="train one run at a time (the reference loop; same numbers, slower)"
    )
    p.add_argument("--render", type=Path, default=None, help="only rewrite the .md table of a stored JSON result")
    add_checkpoint_arguments(p, every=5000)
    args = p.parse_args(argv)
    if args.render is not None:
        if not args.render.is_file():
            p.error(f"--render: no result file at {args.render}; run the experiment first")
        stored = json.loads(args.render.read_text())
        write_results(stored, args.render, markdown_only=True)
        print(markdown_table(stored))
        return 0
    sv.configure_threads(1)
    steps = args.steps or (QUICK_STEPS if args.quick else 100_000)
    out = args.out = args.out or Path("data/results/toy1d_quick.json" if args.quick else "data/results/toy1d.json")
    ckpt_dir = checkpoint_dir_of(args, p)
    cmd = "python -m symviz.experiments.toy1d " + " ".join(sys.argv[1:] if argv is None else argv)
    result = run(
        steps=steps,
        seeds=tuple(args.seeds),
        variants=tuple(args.variants),
        out=out,
        progress=args.progress,
        command=cmd.strip(),
        eval_samples=args.eval_samples,
        jobs=args.jobs,
        checkpoint_dir=ckpt_dir,
        checkpoint_every=args.checkpoint_every,
        resume=args.resume,
        batched=not args.unbatched,
    )
    if not args.keep_checkpoints:
        names = checkpoint_names(args.variants, args.seeds, args.jobs, not args.unbatched)
        if ckpt_dir.is_dir():  # a resumed batched group is named after those of its runs it still had to train
            ours = {f"{v}{seed}" for v in args.variants for seed in args.seeds}
            names += sorted(
                p.name
                for p in ckpt_dir.glob("batch_*.pt")
                if p.name not in names and set(p.stem.split("_")[1:]) <= ours
            )
        remove_checkpoints(ckpt_dir, names)
    print(markdown_table(result))
    print(f"wrote {out} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
