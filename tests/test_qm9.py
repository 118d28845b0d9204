"""QM9 reader: coordinate→graph mapping, stereo from 3D, counted failures; qm9pack parts skipped if absent."""

import importlib.metadata
import itertools
from collections import Counter

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem

from symviz.data.qm9 import QM9Record, build_qm9_mols, mol_from_qm9_record

try:
    importlib.metadata.version("qm9pack")
    HAVE_QM9PACK = True
except importlib.metadata.PackageNotFoundError:
    HAVE_QM9PACK = False


def _record(smiles_3d, smiles_csv, seed=1, shuffle=True, index=7):
    """A synthetic QM9 row: stereo-free SMILES plus an XYZ block in a shuffled atom order."""
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles_3d))
    AllChem.EmbedMolecule(mol, randomSeed=seed)
    AllChem.MMFFOptimizeMolecule(mol)
    pos = mol.GetConformer().GetPositions()
    order = np.random.default_rng(seed).permutation(len(pos)) if shuffle else np.arange(len(pos))
    elements = tuple(mol.GetAtomWithIdx(int(i)).GetSymbol() for i in order)
    return QM9Record(index, smiles_csv, elements, pos[order]), mol


def test_maps_dft_coordinates_and_assigns_stereo():
    rec, src = _record("C[C@@H](O)C#N", "CC(O)C#N")  # the CSV SMILES has no stereo (Trap 2)
    mol, reason = mol_from_qm9_record(rec)
    assert reason is None and mol.GetIntProp("qm9_index") == 7
    assert Chem.MolToSmiles(Chem.RemoveHs(mol)) == Chem.MolToSmiles(Chem.MolFromSmiles("C[C@@H](O)C#N"))
    # coordinates are the record's, reordered onto the SMILES graph: same multiset of points per element
    pos = mol.GetConformer().GetPositions()
    for el in "CNOH":
        a = sorted(map(tuple, pos[[x.GetSymbol() == el for x in mol.GetAtoms()]].round(6)))
        b = sorted(map(tuple, rec.xyz[[e == el for e in rec.elements]].round(6)))
        assert a == b
    # bonded atoms in the graph are at bonding distance in the mapped geometry
    for b in mol.GetBonds():
        assert np.linalg.norm(pos[b.GetBeginAtomIdx()] - pos[b.GetEndAtomIdx()]) < 1.6


def test_double_bond_stereo_from_3d():
    rec, _ = _record("C/C=C/C", "CC=CC", seed=3)
    mol, reason = mol_from_qm9_record(rec)
    assert reason is None
    assert Chem.MolToSmiles(Chem.RemoveHs(mol)) == Chem.MolToSmiles(Chem.MolFromSmiles("C/C=C/C"))


def test_counted_failures():
    good, _ = _record("CCO", "CCO")
    bad_smiles = QM9Record(1, "C1CC(", good.elements, good.xyz)
    wrong_elements = QM9Record(2, "CCN", good.elements, good.xyz)
    stretched = good.xyz.copy()
    c_idx = [i for i, e in enumerate(good.elements) if e == "C"]
    stretched[c_idx[0]] += 3.0  # break a C-C bond: the distance graph no longer matches the SMILES
    broken = QM9Record(3, "CCO", good.elements, stretched)
    empty = QM9Record(4, "CCO", (), np.zeros((0, 3)))
    mols, fails = build_qm9_mols([good, bad_smiles, wrong_elements, broken, empty])
    assert len(mols) == 1
    assert fails == Counter({"unparsable_smiles": 1, "element_mismatch": 1, "connectivity_mismatch": 1, "bad_row": 1})


@pytest.mark.skipif(not HAVE_QM9PACK, reason="qm9pack not installed (optional extra [data])")
def test_qm9pack_csvs_located_without_import():
    import sys

    from symviz.data.qm9 import iter_qm9_records, qm9_csv_paths

    paths = qm9_csv_paths()
    assert [p.name for p in paths] == ["qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv"]
    assert "qm9pack" not in sys.modules  # located via importlib.metadata, never imported
    recs = list(itertools.islice(iter_qm9_records(paths[:1]), 300))
    assert recs[0].index == 1 and recs[0].smiles == "C" and recs[0].elements == ("C", "H", "H", "H", "H")
    mols, fails = build_qm9_mols(recs)
    assert len(mols) + sum(fails.values()) == 300
    assert len(mols) >= 0.85 * 300  # docs/data.md#qm9pack: ~94% succeed
