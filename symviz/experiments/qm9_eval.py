"""Score trained conformer models against the offline QM9 references, next to the ETKDG baselines.

    python -m symviz.experiments.qm9_eval --ckpt symviz/checkpoints/qm9_transformer_orbit.pt --split test
    python -m symviz.experiments.qm9_eval --ckpt runs/a.pt --ckpt runs/b.pt --name "EGNN orbit" --name ...

For each molecule of the split with K reference conformers, 2K conformers are sampled (DDIM, ``--steps``),
their bond graph is re-perceived from the coordinates (``DetermineConnectivity``), the chirality fix is applied
(:func:`symviz.conformers.fix_chirality`), and COV-R / MAT-R / COV-P / MAT-P at 0.1, 0.25 and 0.5 Å (mean and
median over molecules; heavy-atom symmetry-aware ``GetBestRMS``, strict <) are computed with and without the
fix. Results are merged into ``data/results/qm9_conformers.json`` (one entry per ``--name``, so runs can be
added one at a time) and the Markdown table ``qm9_conformers.md`` is rewritten with the ETKDG rows of
``data/results/etkdg_baseline.json`` (python -m symviz.experiments.etkdg_baseline) below the models.

Scores are against QM9-ETKDG/GFN2-xTB references (not GEOM): never compare them with published GEOM numbers.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from symviz.covmat import DEFAULT_THRESHOLDS, coverage_matching, format_table
from symviz.experiments.reporting import command_line, markdown_table, merge_json_entry, status, versions, write_text

__all__ = ["evaluate", "render_markdown", "acceptance_table", "main"]

LABEL = "QM9-ETKDG/GFN2-xTB references (not GEOM)"
DEFAULT_OUT = Path("data/results/qm9_conformers")


def evaluate(
    net,
    ensembles,
    *,
    steps: int = 50,
    seed: int = 0,
    batch_size: int = 256,
    progress: bool = True,
    raw: bool = True,
    stereo_retries: int = 0,
    stereo_repair: bool = False,
) -> dict:
    """Sample 2K conformers per molecule, check graphs and stereo, score COV/MAT. Returns a JSON-able dict.

    ``raw``: also score the conformers before the chirality fix (``without_fix``; doubles the scoring time).
    ``stereo_retries``: redraws of conformers still wrong after the fix (default 0: the fix only; see
    :func:`symviz.conformers.sample_with_stereo`); the sampling time includes them. ``stereo_repair``: invert the
    wrong centres of conformers with only some centres wrong and re-denoise them (default False; same function).
    """
    from symviz.conformers import bond_graph_ok, sample_conformers, sample_with_stereo
    from symviz.data.ensembles import mol_from_mapped_smiles

    mols = [mol_from_mapped_smiles(e.smiles) for e in ensembles]
    refs = [e.to_rdkit() for e in ensembles]
    counts = [2 * e.n_confs for e in ensembles]
    t0 = time.perf_counter()
    kw = dict(steps=steps, seed=seed, batch_size=batch_size)
    raw_coords = sample_conformers(net, mols, counts, progress=progress, **kw)
    fixed, info = sample_with_stereo(
        net, mols, counts, retries=stereo_retries, repair=stereo_repair, first=raw_coords, **kw
    )
    sample_seconds = time.perf_counter() - t0
    valid, stereo = [], []
    n_reflected = n_conformers_chiral = n_wrong = n_resampled = n_repaired = 0
    mol_stereo_ok, mol_chiral = 0, 0
    for mol, f, st in zip(mols, fixed, info):
        valid.append(bond_graph_ok(mol, f))
        rep, ok = st.report, st.ok
        if rep.n_centres:
            mol_chiral += 1
            n_conformers_chiral += rep.checked
            n_reflected += rep.reflected
            n_resampled += st.resampled
            n_repaired += st.repaired
            n_wrong += int((~ok).sum())
            mol_stereo_ok += int(ok.mean() >= 0.5)
            stereo.append(float(ok.mean()))
    t1 = time.perf_counter()
    scores = coverage_matching(fixed, refs, DEFAULT_THRESHOLDS, progress=progress)
    scores_raw = coverage_matching(raw_coords, refs, DEFAULT_THRESHOLDS, progress=progress) if raw else None
    score_seconds = time.perf_counter() - t1
    valid_all = np.concatenate(valid)
    return {
        "n_molecules": len(ensembles),
        "n_conformers": int(valid_all.size),
        "sample_seconds": round(sample_seconds, 1),
        "score_seconds": round(score_seconds, 1),
        "steps": steps,
        "seed": seed,
        "stereo_retries": stereo_retries,
        "stereo_repair": stereo_repair,
        "bond_graph_valid": float(valid_all.mean()),
        "bond_graph_valid_per_molecule_mean": float(np.mean([v.mean() for v in valid])),
        "chirality": {
            "molecules_with_stereocentres": mol_chiral,
            "conformers_checked": n_conformers_chiral,
            "reflected": n_reflected,
            "resampled": n_resampled,
            "repaired": n_repaired,
            "still_wrong": n_wrong,
            "conformers_right": 1.0 - n_wrong / max(1, n_conformers_chiral),
            "molecules_right": mol_stereo_ok / max(1, mol_chiral),
            "molecules_right_definition": "a molecule with stereocentres counts as right when at least half "
            "of its generated conformers have every stereocentre right after the fix",
        },
        "with_fix": {k: scores[k] for k in ("mean", "median", "n_molecules", "n_failed")},
        "without_fix": {k: scores_raw[k] for k in ("mean", "median", "n_molecules", "n_failed")} if raw else None,
        "per_molecule_cov_r_0.5": [m["COV-R@0.5"] for m in scores["per_molecule"]],
    }


def _fmt_row(name: str, r: dict) -> dict:
    return {"mean": r["mean"], "median": r["median"], "name": name}


def render_markdown(results: dict, etkdg: dict | None) -> str:
    """The Markdown report: one row per evaluated model (after the chirality fix), then the ETKDG rows."""
    lines = [f"# Conformer generation on the offline QM9 test split: {LABEL}", ""]
    lines += [
        "Command: `python -m symviz.experiments.qm9_eval` (each row names its checkpoint and flags below).  ",
        "2K conformers per molecule; heavy-atom symmetry-aware GetBestRMS; strict <; cells are mean / median "
        "over molecules; COV in %, MAT in Å. Model rows are after the chirality fix.",
        "",
    ]
    rows = {name: _fmt_row(name, r["with_fix"]) for name, r in results["runs"].items()}
    if etkdg:
        for name, r in etkdg["results"].items():
            if "noise" not in name:
                rows[f"{name} [etkdg_baseline]"] = _fmt_row(name, r)
    lines.append(format_table(rows, DEFAULT_THRESHOLDS, label=f"generator vs. {LABEL}"))
    header = [
        "model",
        "checkpoint",
        "molecules",
        "bond graph kept",
        "stereo right (molecules / conformers)",
        "reflected / still wrong (repairs, redraws)",
        "COV-R@0.5 mean without the fix",
        "sampling time",
    ]
    rows = []
    for name, r in results["runs"].items():
        c = r["chirality"]
        no_fix = r["without_fix"]["mean"]["COV-R@0.5"] if r["without_fix"] else float("nan")
        rows.append(
            [
                name,
                f"`{r['ckpt']}`",
                r["n_molecules"],
                f"{100 * r['bond_graph_valid']:.1f}%",
                f"{100 * c['molecules_right']:.1f}% / {100 * c['conformers_right']:.1f}% "
                f"(of {c['molecules_with_stereocentres']})",
                f"{c['reflected']} / {c['still_wrong']} of {c['conformers_checked']}"
                + (f", {c['repaired']} repaired" if r.get("stereo_repair") else "")
                + (f" ({c['resampled']} redrawn, {r['stereo_retries']} rounds)" if r.get("stereo_retries") else ""),
                f"{no_fix:.1f}",
                f"{r['sample_seconds']:.0f} s ({r['n_conformers']} conformers, {r['steps']} steps, {r['hardware']})",
            ]
        )
    lines += ["", markdown_table(header, rows)]
    for name, r in results["runs"].items():
        lines += ["", f"Acceptance (issue 7) for **{name}**:", ""] + acceptance_table(r, etkdg)
    lines += ["", "Not comparable with published GEOM-QM9 numbers (different references, sizes and protocol).", ""]
    return "\n".join(lines)


def acceptance_table(r: dict, etkdg: dict | None) -> list[str]:
    """Markdown rows: each goal of the conformer issue, the measured value and MET / MISSED."""
    m = r["with_fix"]["mean"]
    raw = (etkdg or {}).get("results", {}).get("ETKDGv3 raw (no force field)", {}).get("mean", {})
    c = r["chirality"]
    rows = [
        ("floor: COV-R@0.5 mean >= 70%", f"{m['COV-R@0.5']:.1f}%", m["COV-R@0.5"] >= 70.0),
        ("floor: MAT-R mean <= 0.35 Å", f"{m['MAT-R']:.3f} Å", m["MAT-R"] <= 0.35),
    ]
    if raw:
        rows += [
            (
                f"goal: COV-R@0.5 >= ETKDG raw ({raw['COV-R@0.5']:.1f}%)",
                f"{m['COV-R@0.5']:.1f}%",
                m["COV-R@0.5"] >= raw["COV-R@0.5"],
            ),
            (f"goal: MAT-R <= ETKDG raw ({raw['MAT-R']:.3f} Å)", f"{m['MAT-R']:.3f} Å", m["MAT-R"] <= raw["MAT-R"]),
        ]
    rows += [
        (
            "bond graph kept in >= 85% of conformers",
            f"{100 * r['bond_graph_valid']:.1f}%",
            r["bond_graph_valid"] >= 0.85,
        ),
        (
            "stereo right after the fix"
            + (f", {r['stereo_retries']} redraw rounds" if r.get("stereo_retries") else "")
            + (" and the local repair" if r.get("stereo_repair") else "")
            + " in >= 95% of molecules with stereocentres",
            f"{100 * c['molecules_right']:.1f}% ({100 * c['conformers_right']:.1f}% of conformers)",
            c["molecules_right"] >= 0.95,
        ),
        (
            "sampling 2K conformers of the 200 test molecules <= 10 min on the CPU",
            f"{r['sample_seconds'] / 60:.1f} min ({r['hardware']}, {r['steps']} steps)",
            r["sample_seconds"] <= 600 and r["n_molecules"] >= 200,
        ),
    ]
    return markdown_table(["criterion", "measured", "status"], [(a, b, status(ok)) for a, b, ok in rows]).splitlines()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m symviz.experiments.qm9_eval", description=__doc__.split("\n\n")[0])
    p.add_argument("--ckpt", action="append", default=[], help="checkpoint (repeat for several models)")
    p.add_argument("--name", action="append", default=None, help="row name per --ckpt (default: file stem)")
    p.add_argument("--split", choices=["train", "val", "test"], default="test")
    p.add_argument("--max-molecules", type=int, default=None)
    p.add_argument("--steps", type=int, default=50, help="DDIM steps")
    p.add_argument(
        "--stereo-retries",
        type=int,
        default=0,
        help="redraw conformers whose stereocentres are wrong after the chirality fix, up to N rounds (default 0)",
    )
    p.add_argument(
        "--stereo-repair",
        action="store_true",
        help="invert the wrong centres of conformers with only some centres wrong, then re-denoise (default off)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data", type=Path, default=None)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="writes OUT.json and OUT.md (merged)")
    p.add_argument("--etkdg", type=Path, default=Path("data/results/etkdg_baseline.json"))
    p.add_argument("--render-only", action="store_true", help="rewrite OUT.md from OUT.json without evaluating")
    args = p.parse_args(argv)
    from symviz.conformers import load_model
    from symviz.data.ensembles import load_offline_ensembles

    names = args.name or [Path(c).stem for c in args.ckpt]
    if len(names) != len(args.ckpt):
        p.error("give one --name per --ckpt (or none)")
    torch.set_num_threads(args.threads)
    js = args.out.with_suffix(".json")
    if args.render_only and not js.is_file():
        p.error(f"--render-only: {js} does not exist; evaluate a checkpoint first (--ckpt)")
    results = json.loads(js.read_text(encoding="utf-8")) if js.is_file() else {"label": LABEL, "runs": {}}
    ens = [] if args.render_only else load_offline_ensembles(args.data, split=args.split)[: args.max_molecules]
    for ckpt, name in zip([] if args.render_only else args.ckpt, names):
        net, meta = load_model(str(ckpt))
        r = evaluate(
            net,
            ens,
            steps=args.steps,
            seed=args.seed,
            batch_size=args.batch_size,
            stereo_retries=args.stereo_retries,
            stereo_repair=args.stereo_repair,
        )
        r |= {
            "ckpt": str(ckpt),
            "split": args.split,
            "train_meta": {k: meta.get(k) for k in ("args", "commit", "wall_seconds", "val_loss", "hardware")},
            "hardware": f"CPU, {args.threads} thread(s)",
            "command": command_line(p.prog, argv),
            "versions": versions(threads=args.threads),
        }
        results = merge_json_entry(js, "runs", name, r, init={"label": LABEL, "runs": {}})
        m = r["with_fix"]["mean"]
        print(
            f"{name}: COV-R@0.5 {m['COV-R@0.5']:.1f}%  MAT-R {m['MAT-R']:.3f} Å  COV-P@0.5 {m['COV-P@0.5']:.1f}%  "
            f"MAT-P {m['MAT-P']:.3f} Å  valid {100 * r['bond_graph_valid']:.1f}%  "
            f"stereo {100 * r['chirality']['molecules_right']:.1f}%  sampling {r['sample_seconds']:.0f} s"
        )
    etkdg = json.loads(args.etkdg.read_text()) if args.etkdg.is_file() else None
    write_text(args.out.with_suffix(".md"), render_markdown(results, etkdg))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
