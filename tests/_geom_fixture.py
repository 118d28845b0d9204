"""Writes a tiny GEOM ``rdkit_folder`` (docs/data.md#geom-fixtures) plus TD split/test files into a directory."""

from __future__ import annotations

import csv
import json
import pickle
from pathlib import Path

import numpy as np
from rdkit import Chem
from rdkit.Chem import AllChem


def conformer_mol(smiles: str, seed: int) -> Chem.Mol:
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    assert AllChem.EmbedMolecule(mol, randomSeed=seed) == 0
    return mol


def _conf(smiles, seed, weight, energy, geom_id):
    return {
        "geom_id": geom_id,
        "set": 1,
        "degeneracy": 1,
        "totalenergy": -10.0 + energy / 627.509,
        "relativeenergy": energy,
        "boltzmannweight": weight,
        "conformerweights": [weight],
        "rd_mol": conformer_mol(smiles, seed),
    }


# smiles -> list of (conformer smiles, seed, weight, relative energy); unsorted weights on purpose
MOLECULES = {
    "CCO": [("CCO", 1, 0.2, 1.0), ("CCO", 2, 0.5, 0.0), ("C.CO", 3, 0.3, 0.5)],  # one reacted
    "C/C=C/C": [("C/C=C/C", 4, 0.4, 0.3), ("C/C=C/C", 5, 0.6, 0.0)],  # '/' in the file name
    "CC(=O)O": [("CC(=O)O", 6, 1.0, 0.0)],
    "CCC": [("CCC", 7, 1.0, 0.0)],  # its pickle is deleted: a missing pickle
}


def write_geom_fixture(root: Path) -> Path:
    root = Path(root)
    (root / "qm9").mkdir(parents=True, exist_ok=True)
    summary = {}
    for gid, (smi, confs) in enumerate(MOLECULES.items()):
        rel = f"qm9/{smi.replace('/', '_')}.pickle"
        conformers = [_conf(s, seed, w, e, 100 * gid + k) for k, (s, seed, w, e) in enumerate(confs)]
        entry = {
            "charge": 0,
            "temperature": 298.15,
            "totalconfs": len(confs) + 2,
            "uniqueconfs": len(confs) + 1,  # != len(conformers), as in the real data
            "lowestenergy": -10.0,
            "poplowestpct": 50.0,
            "ensembleenergy": 0.1,
            "pickle_path": rel,
        }
        summary[smi] = entry
        with open(root / rel, "wb") as fh:
            pickle.dump({"smiles": smi, **entry, "conformers": conformers}, fh)
    (root / "qm9" / "CCC.pickle").unlink()
    (root / "summary_qm9.json").write_text(json.dumps(summary))
    return root


def write_td_files(root: Path) -> dict:
    """split.npy (object array of 3 index arrays), test_smiles.csv and test_mols.pkl."""
    root = Path(root)
    split = np.empty(3, dtype=object)
    split[0], split[1], split[2] = np.array([0, 2]), np.array([1]), np.array([], dtype=np.int64)
    np.save(root / "split.npy", split, allow_pickle=True)
    with open(root / "test_smiles.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["smiles", "n_conformers", "corrected_smiles"])
        w.writerow(["CCO", 2, "CCO"])
        w.writerow(["CC(=O)O", 1, "CC(=O)O"])
        w.writerow(["CCN", 1, "CCN"])  # not in the pickle: counted as missing
    mols = {
        "CCO": [conformer_mol("CCO", 11), conformer_mol("CCO", 12)],
        "CC(=O)O": [conformer_mol("CC(=O)O", 13)],
    }
    with open(root / "test_mols.pkl", "wb") as fh:
        pickle.dump(mols, fh)
    return {"split": root / "split.npy", "csv": root / "test_smiles.csv", "pkl": root / "test_mols.pkl"}
