"""Extra training molecules (symviz.data.build_qm9_extra) and their leak check in qm9_train."""

import importlib.util

import numpy as np
import pytest
from rdkit import Chem

from symviz.data.ensembles import load_offline_ensembles, mol_from_mapped_smiles, write_ensembles_npz
from symviz.experiments.qm9_train import load_extra


def _write(path, ensembles, split="train"):
    write_ensembles_npz(path, ensembles, [split] * len(ensembles), {"label": "test"})
    return path


def test_extra_set_with_a_validation_molecule_is_refused(tmp_path):
    every = load_offline_ensembles(split=None)
    val = [e for e in every if e.split == "val"][:2]
    train = [e for e in every if e.split == "train"][:3]
    ok = load_extra(_write(tmp_path / "ok.npz", train), every)
    assert [e.smiles for e in ok] == [e.smiles for e in train]
    with pytest.raises(ValueError, match="validation/test"):
        load_extra(_write(tmp_path / "leak.npz", train + val), every)
    with pytest.raises(ValueError, match="train molecules only"):
        load_extra(_write(tmp_path / "split.npz", train, split="val"), every)
    assert load_extra(None, every) == []


@pytest.mark.skipif(importlib.util.find_spec("qm9pack") is None, reason="needs the [data] extra (qm9pack)")
def test_built_extra_molecules_come_from_the_train_stream_only():
    from symviz.data.build_qm9_extra import build_extra

    ens, meta = build_extra(3, progress=False)
    every = load_offline_ensembles(split=None)
    assert len(ens) == 3 and meta["n_molecules"] == 3
    held = {Chem.MolToSmiles(Chem.RemoveHs(mol_from_mapped_smiles(e.smiles))) for e in every}
    for e in ens:
        mol = mol_from_mapped_smiles(e["smiles"])
        assert Chem.MolToSmiles(Chem.RemoveHs(mol)) not in held  # neither an offline molecule nor val/test
        assert e["pos"].shape == (1, mol.GetNumAtoms(), 3)
        assert [a.GetAtomicNum() for a in mol.GetAtoms()] == list(e["z"])
        assert np.isfinite(e["pos"]).all()
