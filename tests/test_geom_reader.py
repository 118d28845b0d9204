"""GEOM rdkit_folder + TD split/test-set readers on a fixture written in the exact GEOM layout."""

import numpy as np
import pytest
import torch
from _geom_fixture import write_geom_fixture, write_td_files

from symviz.data.ensembles import load_offline_ensembles
from symviz.data.geom import (
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
