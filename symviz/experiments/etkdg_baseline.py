"""RDKit ETKDGv3 baselines on the shipped offline test split (QM9-ETKDG/GFN2-xTB references, not GEOM).

    OMP_NUM_THREADS=1 python -m symviz.experiments.etkdg_baseline [--data symviz/data/files/qm9_xtb_confs_v2.npz]
    python -m symviz.experiments.etkdg_baseline --render-only

For each test molecule with K reference conformers, 2K conformers are generated with ETKDGv3
(``randomSeed != 0``, different from the seeds used to build the references) and scored raw and after MMFF94
optimisation (``MMFFOptimizeMoleculeConfs(maxIters=2000)``). A sanity row adds 0.1 Å Gaussian noise to the
references (two noisy copies each). COV/MAT use heavy-atom symmetry-aware ``GetBestRMS``
(:mod:`symviz.covmat`). Writes ``data/results/etkdg_baseline.{json,md}`` atomically
(:mod:`symviz.experiments.reporting`); ``--render-only`` rewrites the ``.md`` from the stored ``.json``.

These numbers are for relative comparisons inside symviz only: never put them next to published GEOM-QM9 numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from symviz.covmat import DEFAULT_THRESHOLDS, coverage_matching, format_table  # noqa: E402
from symviz.experiments.reporting import command_line, versions, write_json, write_text  # noqa: E402

__all__ = ["generate", "run", "render_markdown", "main"]

LABEL = "QM9-ETKDG/GFN2-xTB references (not GEOM)"
BASE_SEED = 20240917  # != 0 and unrelated to the build seeds


def generate(ens, n: int, seed: int, mmff: bool):
    """(G, N, 3) ETKDGv3 conformers for ``ens``'s molecule (stereo from its SMILES), optionally MMFF-relaxed."""
    from rdkit.Chem import AllChem

    if seed == 0:
        raise ValueError("seed must be != 0: ETKDG with randomSeed=0 returns identical conformers")
    mol = ens.to_rdkit()
    mol.RemoveAllConformers()
    ps = AllChem.ETKDGv3()
    ps.randomSeed = int(seed)
    ps.numThreads = 1
    cids = list(AllChem.EmbedMultipleConfs(mol, numConfs=int(n), params=ps))
    if not cids:
        return np.zeros((0, ens.n_atoms, 3))
    if mmff:
        AllChem.MMFFOptimizeMoleculeConfs(mol, numThreads=1, maxIters=2000)
    return np.stack([mol.GetConformer(c).GetPositions() for c in cids])


def _fingerprint(test) -> str:
    """SHA-256 of the test split's content (indices, SMILES, float32 positions): stable across file rebuilds
    that only extend train/val."""
    import hashlib

    h = hashlib.sha256()
    for e in test:
        h.update(f"{e.source_index}|{e.smiles}|".encode())
        h.update(np.ascontiguousarray(e.pos, dtype=np.float32).tobytes())
    return h.hexdigest()


def run(data=None, max_molecules=None, thresholds=DEFAULT_THRESHOLDS, command: str | None = None) -> dict:
    """Score the generators on the test split of ``data`` (default: the shipped set); a JSON-able dict."""
    from symviz.data.ensembles import DEFAULT_PATH, load_offline_ensembles, read_npz_meta, sha256_file

    t0 = time.time()
    test = load_offline_ensembles(data, split="test")[:max_molecules]
    refs = [e.to_rdkit() for e in test]
    rng = np.random.default_rng(BASE_SEED)
    rows = {}
    gens = {"ETKDGv3 raw (no force field)": False, "ETKDGv3 + MMFF94": True}
    timing = {}
    for name, mmff in gens.items():
        t = time.time()
        generated = [generate(e, 2 * e.n_confs, BASE_SEED + 7919 * i + 1, mmff) for i, e in enumerate(test)]
        rows[name] = coverage_matching(generated, refs, thresholds)
        timing[name] = round(time.time() - t, 1)
    noisy = [np.repeat(e.pos, 2, axis=0) + rng.normal(scale=0.1, size=(2 * e.n_confs, e.n_atoms, 3)) for e in test]
    rows["references + 0.1 Å Gaussian noise (sanity)"] = coverage_matching(noisy, refs, thresholds)
    k = np.array([e.n_confs for e in test])
    meta = read_npz_meta(data)
    return {
        "label": LABEL,
        "command": command or command_line("python -m symviz.experiments.etkdg_baseline"),
        "data": str(data or "symviz/data/files/qm9_xtb_confs_v2.npz"),
        "data_sha256": sha256_file(data or DEFAULT_PATH),
        "test_split_fingerprint": _fingerprint(test),
        "data_assembled_at": meta.get("assembled_at"),
        "n_molecules": len(test),
        "n_references": {"total": int(k.sum()), "mean": float(k.mean()), "median": float(np.median(k))},
        "protocol": "2K generated per molecule; heavy-atom symmetry-aware GetBestRMS; strict <; mean / median "
        "over molecules; embedding failures count as COV 0 and are left out of MAT",
        "thresholds": list(thresholds),
        "versions": versions(("numpy", "rdkit")),
        "seconds": round(time.time() - t0, 1),
        "seconds_per_generator": timing,
        "results": {n: {kk: r[kk] for kk in ("mean", "median", "n_molecules", "n_failed")} for n, r in rows.items()},
        "table_md": format_table(rows, thresholds, label=f"generator vs. {LABEL}"),
    }


def render_markdown(res: dict) -> str:
    """The Markdown report of a :func:`run` result (as stored in the JSON)."""
    fp = res.get("test_split_fingerprint")
    provenance = ""
    if fp:
        provenance = f" Test-split fingerprint `{fp[:16]}…`"
        # A run on an interim assembly of the data (its SHA-256 stored as snapshot_sha256) says so.
        interim = "snapshot_sha256" in res
        provenance += " (run on an interim assembly with the identical test split)." if interim else "."
    md = [
        f"# ETKDG baselines on the offline test split — {LABEL}",
        "",
        f"Command: `{res['command']}`  ",
        f"Molecules: {res['n_molecules']} (references: {res['n_references']['total']}, "
        f"median K = {res['n_references']['median']:g}); run time {res['seconds']} s on one core.{provenance}  ",
        f"Versions: {json.dumps(res['versions'])}",
        "",
        "Cells are mean / median over molecules. COV in %, MAT in Å. " + res["protocol"] + ".",
        "",
        res["table_md"],
        "",
        "Not comparable with published GEOM-QM9 numbers (different references, sizes and protocol details).",
        "",
    ]
    return "\n".join(md)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m symviz.experiments.etkdg_baseline", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--data", default=None, help="npz (default: the shipped symviz/data/files/qm9_xtb_confs_v2.npz)")
    p.add_argument("--out", type=Path, default=Path("data/results/etkdg_baseline"), help="writes OUT.json and OUT.md")
    p.add_argument("--max-molecules", type=int, default=None)
    p.add_argument("--render-only", action="store_true", help="rewrite OUT.md from OUT.json without running")
    args = p.parse_args(argv)
    js = args.out.with_suffix(".json")
    if args.render_only:
        if not js.is_file():
            p.error(f"--render-only: {js} does not exist; run without --render-only first")
        res = json.loads(js.read_text(encoding="utf-8"))
    else:
        res = run(args.data, args.max_molecules, command=command_line(p.prog, argv))
        write_json(js, res)
    md = render_markdown(res)
    write_text(args.out.with_suffix(".md"), md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
