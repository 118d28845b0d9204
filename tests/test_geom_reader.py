"""GEOM rdkit_folder + TD split/test-set readers on a fixture written in the exact GEOM layout."""

import numpy as np
import pytest
import torch
from _geom_fixture import write_geom_fixture, write_td_files

from symviz.data.ensembles import load_offline_ensembles
from symviz.data.geom import (
    GeomFormatError,
    GeomRdkitFolder,
    PickleNotAllowedError,
    TDTestSet,
    TorsionalDiffusionSplit,
    canonical_graph_smiles,
    geom_to_npz,
)

torch.set_num_threads(1)


@pytest.fixture()
def folder(tmp_path):
    return write_geom_fixture(tmp_path / "rdkit_folder")


def test_refuses_pickles_without_opt_in(folder):
    reader = GeomRdkitFolder(folder)  # the JSON summary is safe to read
    assert len(reader) == 4
    with pytest.raises(PickleNotAllowedError, match="execute arbitrary code"):
        reader.load("CCO")


def test_sorted_filtered_and_counted(folder):
    reader = GeomRdkitFolder(folder, allow_pickle=True)
    mols = {m.smiles: m for m in reader}
    assert set(mols) == {"CCO", "C/C=C/C", "CC(=O)O"}
    # reacted conformer (C.CO) dropped; the rest sorted by Boltzmann weight, descending
    np.testing.assert_allclose(mols["CCO"].weights, [0.5, 0.2])
    np.testing.assert_allclose(mols["C/C=C/C"].weights, [0.6, 0.4])
    assert mols["CCO"].n_reacted == 1
    assert reader.stats["reacted_conformers"] == 1
    assert reader.stats["missing_pickle"] == 1  # CCC's pickle was deleted: counted, not a crash
    assert reader.stats["molecules_loaded"] == 3


def test_pickle_path_used_for_slash_smiles(folder):
    reader = GeomRdkitFolder(folder, allow_pickle=True)
    assert reader.pickle_path("C/C=C/C").name == "C_C=C_C.pickle"
    assert reader.load("C/C=C/C") is not None


def test_top_k(folder):
    mol = GeomRdkitFolder(folder, allow_pickle=True, top_k=1).load("CCO")
    assert len(mol.mols) == 1 and mol.weights[0] == pytest.approx(0.5)


def test_folder_without_summary(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="summary_qm9.json"):
        GeomRdkitFolder(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        GeomRdkitFolder(tmp_path / "nope")


def test_canonical_graph_smiles_reacted_rule():
    from _geom_fixture import conformer_mol

    assert canonical_graph_smiles(conformer_mol("CCO", 1)) == canonical_graph_smiles("OCC")
    assert canonical_graph_smiles(conformer_mol("C.CO", 1)) != canonical_graph_smiles("CCO")
    assert canonical_graph_smiles("not a smiles((") is None


def test_split_applied_to_sorted_paths(folder):
    files = write_td_files(folder)
    with pytest.raises(PickleNotAllowedError):
        TorsionalDiffusionSplit(files["split"])
    split = TorsionalDiffusionSplit(files["split"], allow_pickle=True)
    reader = GeomRdkitFolder(folder, allow_pickle=True)
    paths = reader.sorted_pickle_paths()
    names = [p.name for p in paths]
    assert names == sorted(names)
    # an unsorted listing must give the same result: the split sorts first
    shuffled = list(reversed(paths))
    assert split.paths(shuffled, "train") == [paths[0], paths[2]]
    assert split.paths(shuffled, "val") == [paths[1]]
    assert split.paths(paths, "test") == []
    mol = reader.load_path(split.paths(paths, "val")[0])
    assert mol is not None


def test_td_test_set(folder):
    files = write_td_files(folder)
    with pytest.raises(PickleNotAllowedError):
        TDTestSet(files["csv"], files["pkl"])
    ts = TDTestSet(files["csv"], files["pkl"], allow_pickle=True)
    rows = list(ts)
    assert len(ts) == 3 and len(rows) == 2
    assert rows[0][0] == "CCO" and rows[0][1] == 2 and len(rows[0][3]) == 2
    assert ts.stats["missing_mols"] == 1


def test_geom_to_npz_roundtrip(folder, tmp_path):
    reader = GeomRdkitFolder(folder, allow_pickle=True)
    out = tmp_path / "geom.npz"
    meta = geom_to_npz(reader, out, split_of={"CCO": "test"})
    assert meta["reader_stats"]["reacted_conformers"] == 1
    test = load_offline_ensembles(out, split="test")
    assert len(test) == 1
    e = test[0]
    assert e.pos.shape == (2, 9, 3) and e.z.tolist().count(1) == 6
    np.testing.assert_allclose(e.weights, [0.5 / 0.7, 0.2 / 0.7], rtol=1e-6)
    src = reader.load("CCO").mols[0].GetConformer().GetPositions()
    np.testing.assert_allclose(e.pos[0], src, atol=1e-5)
    assert e.to_rdkit().GetNumConformers() == 2
    assert len(load_offline_ensembles(out, split="train")) == 2


def _add_molecule(root, key, payload, rel=None):
    """Write ``payload`` as a pickle and list it in the summary under ``key``."""
    import json
    import pickle

    rel = f"qm9/{key.replace('/', '_')}_extra.pickle" if rel is None else rel
    summary = json.loads((root / "summary_qm9.json").read_text())
    summary[key] = {"pickle_path": rel}
    (root / "summary_qm9.json").write_text(json.dumps(summary))
    if rel and not rel.startswith(("/", "..")):
        with open(root / rel, "wb") as fh:
            pickle.dump(payload, fh)


def _conformer(mol, weight):
    return {"rd_mol": mol, "boltzmannweight": weight, "totalenergy": -10.0, "relativeenergy": 0.0}


@pytest.mark.parametrize("flag", ["no", "False", 1, None, np.bool_(True)])
def test_allow_pickle_must_be_a_real_bool(folder, flag):
    files = write_td_files(folder)
    with pytest.raises(TypeError, match="allow_pickle must be True or False"):
        GeomRdkitFolder(folder, allow_pickle=flag)
    with pytest.raises(TypeError, match="allow_pickle must be True or False"):
        TorsionalDiffusionSplit(files["split"], allow_pickle=flag)
    with pytest.raises(TypeError, match="allow_pickle must be True or False"):
        TDTestSet(files["csv"], files["pkl"], allow_pickle=flag)


def test_conformer_in_another_atom_order_is_mapped_by_graph(folder, tmp_path):
    """Same element sequence, different graph: swapping a methyl H with the hydroxyl H keeps [C C O H H H H H H]."""
    from _geom_fixture import conformer_mol
    from rdkit import Chem

    ref, other, reordered = conformer_mol("CCO", 21), conformer_mol("CCO", 22), conformer_mol("CCO", 23)
    ho = [a.GetIdx() for a in other.GetAtomWithIdx(2).GetNeighbors() if a.GetAtomicNum() == 1][0]  # the OH
    ch = [a.GetIdx() for a in other.GetAtomWithIdx(0).GetNeighbors() if a.GetAtomicNum() == 1][0]  # a methyl H
    perm = list(range(other.GetNumAtoms()))
    perm[ho], perm[ch] = ch, ho
    swapped = Chem.RenumberAtoms(other, perm)
    assert [a.GetAtomicNum() for a in swapped.GetAtoms()] == [a.GetAtomicNum() for a in ref.GetAtoms()]
    rev = Chem.RenumberAtoms(reordered, list(range(reordered.GetNumAtoms()))[::-1])  # a different element order
    payload = {"smiles": "OCC", "conformers": [_conformer(ref, 0.5), _conformer(swapped, 0.3), _conformer(rev, 0.2)]}
    _add_molecule(folder, "OCC", payload)
    reader = GeomRdkitFolder(folder, allow_pickle=True)
    ens = reader.load("OCC").to_ensemble()
    assert ens.pos.shape == (3, 9, 3)
    for k in range(3):  # every bond of conformer 0's graph is a real bond (< 1.25 A) in every mapped conformer
        for b in ref.GetBonds():
            i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
            assert np.linalg.norm(ens.pos[k, i] - ens.pos[k, j]) < (1.25 if 1 in (ens.z[i], ens.z[j]) else 1.6)
    np.testing.assert_allclose(ens.pos[0], ref.GetConformer().GetPositions(), atol=1e-5)
    # the heavy atoms have no symmetry: they must land exactly where they were
    np.testing.assert_allclose(ens.pos[1, :3], other.GetConformer().GetPositions()[:3], atol=1e-5)
    np.testing.assert_allclose(ens.pos[2, :3], reordered.GetConformer().GetPositions()[:3], atol=1e-5)
    assert reader.stats["unmapped_conformers"] == 0


def test_rd_mol_without_coordinates_is_skipped_and_counted(folder, tmp_path):
    from _geom_fixture import conformer_mol
    from rdkit import Chem

    empty = Chem.Mol(conformer_mol("CCO", 31))
    empty.RemoveAllConformers()
    good = conformer_mol("CCO", 32)
    _add_molecule(folder, "OCC", {"smiles": "OCC", "conformers": [_conformer(empty, 0.9), _conformer(good, 0.1)]})
    reader = GeomRdkitFolder(folder, allow_pickle=True)
    meta = geom_to_npz(reader, tmp_path / "g.npz")  # used to end with RDKit's "Bad Conformer Id"
    assert meta["reader_stats"]["conformers_without_coordinates"] == 1
    occ = [e for e in load_offline_ensembles(tmp_path / "g.npz", split=None) if e.n_atoms == 9 and e.n_confs == 1]
    assert any(np.allclose(e.pos[0], good.GetConformer().GetPositions(), atol=1e-5) for e in occ)


@pytest.mark.parametrize("rel", ["../outside.pickle", "/etc/passwd", "qm9/../../x.pickle", ""])
def test_pickle_path_outside_the_folder_is_refused(folder, rel):
    _add_molecule(folder, "CN", None, rel=rel)
    reader = GeomRdkitFolder(folder, allow_pickle=True)
    with pytest.raises(GeomFormatError, match="pickle_path of 'CN'"):
        reader.load("CN")


def test_unpickled_objects_that_are_not_dicts(folder):
    _add_molecule(folder, "CN", ["not", "a", "dict"])
    reader = GeomRdkitFolder(folder, allow_pickle=True)
    with pytest.raises(GeomFormatError, match=r"CN_extra\.pickle: expected a GEOM molecule dict.*list"):
        reader.load("CN")
    _add_molecule(folder, "CN", {"smiles": "CN", "conformers": "oops"})
    with pytest.raises(GeomFormatError, match="'conformers' must be a list"):
        GeomRdkitFolder(folder, allow_pickle=True).load("CN")
    files = write_td_files(folder)
    import pickle

    files["pkl"].write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(GeomFormatError, match="test_mols.pkl: expected a dict"):
        TDTestSet(files["csv"], files["pkl"], allow_pickle=True)
