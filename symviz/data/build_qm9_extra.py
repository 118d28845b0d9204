"""Extra training molecules: QM9's own B3LYP geometries, one conformer each, from the train stream only.

    pip install -e ".[data]"          # qm9pack (MIT), the QM9 CSVs
    python -m symviz.data.build_qm9_extra --n 5000 --out data/qm9_b3lyp_extra.npz
    python -m symviz.experiments.qm9_train ... --extra-data data/qm9_b3lyp_extra.npz

The offline set (``symviz/data/files/qm9_xtb_confs_v2.npz``) has 1000 train molecules with GFN2-xTB ensembles.
This adds up to ``--n`` more, each with its single B3LYP minimum from QM9 (Ramakrishnan et al., Sci. Data 1,
140022, 2014; read by :mod:`symviz.data.qm9`, stereo assigned from the DFT geometry). Molecules come from the
*train* stream of the offline set's own split (:func:`symviz.data.build_conformers.split_streams` with the set's
``molecule_seed``), in stream order, skipping the offline set's molecules, so no validation or test molecule
(of the whole val/test streams, used or not) can enter; a test re-checks this by canonical SMILES. Charged
species are skipped (the shipped models refuse them). The file has the offline set's format (every molecule in
split ``train``, weight 1, energy 0) with a ``.sha256`` beside it; it is a build product, not shipped.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

__all__ = ["build_extra", "main"]


def build_extra(n: int, offline_path=None, *, progress: bool = True) -> tuple[list[dict], dict]:
    """The first ``n`` buildable molecules of the offline set's train stream that the set does not hold.

    Returns ``(ensembles, meta)``: dicts for :func:`symviz.data.ensembles.write_ensembles_npz` (``pos`` ``(1,
    N, 3)``) and a meta dict (counts, skips by reason, the offline set's SHA-256 and seed).
    """
    from rdkit import Chem

    from symviz.data import qm9
    from symviz.data.build_conformers import split_streams
    from symviz.data.conformer_pipeline import mapped_smiles
    from symviz.data.ensembles import DEFAULT_PATH, sha256_file

    offline = Path(offline_path or DEFAULT_PATH)
    with np.load(offline, allow_pickle=False) as d:
        seed = int(json.loads(str(d["meta"]))["molecule_seed"])
        have = {int(i) for i in d["source_index"]}
    records = {r.index: r for r in qm9.iter_qm9_records()}
    stream = [int(i) for i in split_streams(records, seed)["train"] if int(i) not in have]
    out, skipped = [], Counter()
    it = stream
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(stream, desc="QM9 B3LYP molecules", total=len(stream))
    for idx in it:
        if len(out) >= n:
            break
        mol, reason = qm9.mol_from_qm9_record(records[idx])
        if mol is None:
            skipped[reason] += 1
            continue
        if any(a.GetFormalCharge() for a in mol.GetAtoms()):
            skipped["charged"] += 1
            continue
        pos = mol.GetConformer().GetPositions()[None]
        z = np.array([a.GetAtomicNum() for a in mol.GetAtoms()])
        out.append(
            dict(
                smiles=mapped_smiles(Chem.Mol(mol)),
                z=z,
                pos=pos,
                weights=np.ones(1),
                energies=np.zeros(1),
                qm9_index=idx,
            )
        )
    meta = {
        "label": "QM9 B3LYP geometries (one per molecule), train stream of the offline set's split",
        "n_molecules": len(out),
        "skipped": dict(skipped),
        "offline_set": offline.name,
        "offline_sha256": sha256_file(offline),
        "molecule_seed": seed,
    }
    return out, meta


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m symviz.data.build_qm9_extra", description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=5000, help="molecules to add (default 5000)")
    p.add_argument("--out", type=Path, required=True, help="npz to write (atomically; a .sha256 beside it)")
    p.add_argument("--offline", type=Path, default=None, help="the offline set whose train stream is used")
    args = p.parse_args(argv)
    if args.n < 1:
        p.error("--n must be >= 1")
    try:
        from symviz.data.qm9 import qm9_csv_paths

        qm9_csv_paths()
    except Exception as exc:  # noqa: BLE001 (any failure to find the CSVs gets the same advice)
        p.error(f"the QM9 CSVs were not found ({exc}); install the data extra: pip install 'symviz[data]'")
    from symviz.data.ensembles import write_ensembles_npz

    t0 = time.perf_counter()
    ens, meta = build_extra(args.n, args.offline)
    meta["wall_seconds"] = round(time.perf_counter() - t0, 1)
    meta["command"] = shlex.join(
        ["python", "-m", "symviz.data.build_qm9_extra", *(sys.argv[1:] if argv is None else argv)]
    )
    digest = write_ensembles_npz(args.out, ens, ["train"] * len(ens), meta)
    print(f"{len(ens)} molecules -> {args.out} (sha256 {digest[:12]}...), skipped {meta['skipped']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
