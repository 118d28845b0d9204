"""The paper's ablation at our scale: {EGNN, AtomTransformer} x {plain, augment, orbit}, same budget and seeds.

    python -m symviz.experiments.qm9_ablation --steps 1000 --seeds 0 1 2 --jobs 2

Each (net, mode, seed) is trained with :mod:`symviz.experiments.qm9_train` (same steps, batch, learning rate,
K) into ``runs/ablation/``, then scored on the test split with :func:`symviz.experiments.qm9_eval.evaluate`
(2K conformers per molecule, DDIM ``--eval-steps``, chirality fix). Finished runs are stored in
``data/results/qm9_ablation.json`` as they complete, and skipped when the command is run again, so a killed
ablation resumes. The Markdown table reports mean ± std (ddof = 0) over seeds. ``--jobs`` runs that many
(net, mode, seed) jobs in parallel processes, one thread each. Writes are atomic
(:mod:`symviz.experiments.reporting`); ``--render-only`` rewrites the ``.md`` from the stored ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from symviz.experiments.reporting import command_line, markdown_table, versions, write_json, write_text

__all__ = ["run_one", "render_markdown", "main"]

NETS = ("egnn", "transformer")
MODES = ("plain", "augment", "orbit")
HIDDEN = {"egnn": 64, "transformer": 128}
LAYERS = {"egnn": 5, "transformer": 4}
METRICS = ("COV-R@0.5", "MAT-R", "COV-P@0.5", "MAT-P", "COV-R@0.25")


def run_one(net: str, mode: str, seed: int, steps: int, eval_steps: int, max_test: int | None, proposal: str) -> dict:
    """Train and score one configuration (in a worker process); returns the JSON-able result."""
    import torch

    torch.set_num_threads(1)
    from symviz.conformers import load_model
    from symviz.data.ensembles import load_offline_ensembles
    from symviz.experiments import qm9_eval, qm9_train

    ckpt = Path("runs/ablation") / f"{net}_{mode}_{proposal}_s{seed}.pt"
    argv = ["--net", net, "--mode", mode, "--steps", str(steps), "--seed", str(seed), "--threads", "1"]
    argv += ["--hidden", str(HIDDEN[net]), "--layers", str(LAYERS[net]), "--proposal", proposal, "--out", str(ckpt)]
    t0 = time.perf_counter()
    qm9_train.main(argv)
    train_seconds = time.perf_counter() - t0
    model, meta = load_model(str(ckpt))
    test = load_offline_ensembles(split="test")[:max_test]
    r = qm9_eval.evaluate(model, test, steps=eval_steps, seed=seed, progress=False, raw=False)
    return {
        "net": net,
        "mode": mode,
        "proposal": proposal,
        "seed": seed,
        "steps": steps,
        "train_seconds": round(train_seconds, 1),
        "val_loss": meta.get("val_loss"),
        "train_command": "python -m symviz.experiments.qm9_train " + " ".join(argv),
        "eval": {k: r[k] for k in ("with_fix", "without_fix", "bond_graph_valid", "chirality", "sample_seconds")},
        "n_test": r["n_molecules"],
        "eval_steps": eval_steps,
        "versions": versions(threads=1),
    }


def _key(net, mode, proposal, seed) -> str:
    return f"{net}/{mode}/{proposal}/s{seed}"


def render_markdown(results: dict) -> str:
    """Mean ± std over seeds per (net, mode, proposal), after the chirality fix."""
    groups: dict = {}
    for r in results["runs"].values():
        groups.setdefault((r["net"], r["mode"], r["proposal"]), []).append(r)
    cols = list(METRICS) + ["bond graph kept %", "val loss", "train s"]
    lines = [
        "# Ablation: network x target on the offline QM9 test split (QM9-ETKDG/GFN2-xTB references, not GEOM)",
        "",
        f"Command: `{results.get('command', 'python -m symviz.experiments.qm9_ablation')}`. Every run: the same "
        "steps, batch 32, learning-rate schedule and K = 64; DDIM sampling of 2K conformers per test molecule; "
        "chirality fix applied. Cells: mean ± std over seeds (ddof = 0); COV in %, MAT in Å (metric means over "
        "molecules). The validation loss of orbit runs is measured against the orbit target and is therefore "
        "lower by a network-independent constant: compare it within a mode only.",
        "",
    ]
    rows = []
    for (net, mode, proposal), rs in sorted(groups.items()):
        vals = {m: [r["eval"]["with_fix"]["mean"][m] for r in rs] for m in METRICS}
        vals["bond graph kept %"] = [100 * r["eval"]["bond_graph_valid"] for r in rs]
        vals["val loss"] = [r["val_loss"] for r in rs]
        vals["train s"] = [r["train_seconds"] for r in rs]
        cells = []
        for c in cols:
            v = np.asarray(vals[c], dtype=float)
            fmt = "{:.3f} ± {:.3f}" if c in ("MAT-R", "MAT-P", "val loss") else "{:.1f} ± {:.1f}"
            cells.append(fmt.format(v.mean(), v.std()))
        target = mode if proposal == "haar" or mode != "orbit" else f"{mode} ({proposal})"
        seeds = ",".join(str(r["seed"]) for r in sorted(rs, key=lambda r: r["seed"]))
        rows.append([net, target, seeds, *cells])
    lines.append(markdown_table(["net", "target", "seeds", *cols], rows))
    steps = {r["steps"] for r in results["runs"].values()}
    n_test = {r["n_test"] for r in results["runs"].values()}
    lines += ["", f"Training steps per run: {sorted(steps)}; test molecules: {sorted(n_test)}.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m symviz.experiments.qm9_ablation", description=__doc__.split("\n\n")[0])
    p.add_argument("--nets", nargs="+", choices=NETS, default=list(NETS))
    p.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    p.add_argument("--proposal", choices=["haar", "aligned"], default="haar", help="rotation proposal of orbit runs")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--eval-steps", type=int, default=20, help="DDIM steps when sampling the test set")
    p.add_argument("--max-test", type=int, default=None, help="first N test molecules (default all 200)")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("data/results/qm9_ablation"), help="writes OUT.json and OUT.md")
    p.add_argument("--render-only", action="store_true", help="rewrite OUT.md from OUT.json without running")
    p.add_argument(
        "--merge-from",
        type=Path,
        nargs="*",
        default=[],
        help="result .json files of other ablation processes (e.g. one per seed) whose runs are merged in",
    )
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    js = args.out.with_suffix(".json")
    if args.render_only:
        if not js.is_file():
            p.error(f"--render-only: {js} does not exist; run the ablation first")
        write_text(args.out.with_suffix(".md"), render_markdown(json.loads(js.read_text(encoding="utf-8"))))
        return 0
    results = json.loads(js.read_text()) if js.is_file() else {"runs": {}}
    for other in args.merge_from:
        for key, run in json.loads(other.read_text())["runs"].items():
            results["runs"].setdefault(key, run)
    results["command"] = command_line(p.prog, argv)
    todo = []
    for net in args.nets:
        for mode in args.modes:
            prop = args.proposal if mode == "orbit" else "haar"
            for seed in args.seeds:
                if _key(net, mode, prop, seed) not in results["runs"]:
                    todo.append((net, mode, seed, args.steps, args.eval_steps, args.max_test, prop))
    print(f"{len(todo)} run(s) to do; results go to {js}")
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futs = {pool.submit(run_one, *job): job for job in todo}
        for fut in as_completed(futs):
            r = fut.result()
            results["runs"][_key(r["net"], r["mode"], r["proposal"], r["seed"])] = r
            write_json(js, results)
            write_text(args.out.with_suffix(".md"), render_markdown(results))
            m = r["eval"]["with_fix"]["mean"]
            print(f"{r['net']}/{r['mode']}/s{r['seed']}: COV-R@0.5 {m['COV-R@0.5']:.1f} MAT-R {m['MAT-R']:.3f}")
    if results["runs"]:
        write_text(args.out.with_suffix(".md"), render_markdown(results))
        print(render_markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
