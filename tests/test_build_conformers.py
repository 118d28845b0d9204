"""Offline-set build: seed-0 guard, split streams, resumable shards (fake pipeline) and a tiny real xTB run."""

import importlib.util

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem

from symviz.data import build_conformers as bc
from symviz.data import conformer_pipeline as cp
from symviz.data.ensembles import load_offline_ensembles, read_npz_meta
from symviz.data.qm9 import QM9Record

HAVE_XTB = importlib.util.find_spec("tblite") is not None and importlib.util.find_spec("ase") is not None


def test_seed_zero_guard():
    mol = Chem.AddHs(Chem.MolFromSmiles("CCO"))
    with pytest.raises(ValueError, match="identical conformers"):
        cp.embed_seeds(mol, 3, 0)
    with pytest.raises(ValueError, match="seed must be != 0"):
        cp.BuildParams(seed=0).check()
    with pytest.raises(SystemExit, match="seed must be != 0"):
        bc.main(["--seed", "0", "--out", "unused.npz"])
    assert all(cp.derive_seed(b, i) != 0 for b in (1, 2, 5) for i in range(2000))
    confs = cp.embed_seeds(mol, 5, 17)
    pos = [c.GetPositions() for c in confs.GetConformers()]
    assert len(pos) == 5 and not np.allclose(pos[0], pos[1])


def test_split_streams_disjoint_and_stable():
    s = bc.split_streams(range(1, 1001), seed=3)
    sets = [set(s[k].tolist()) for k in ("train", "val", "test")]
    assert sum(map(len, sets)) == 1000 and len(set.union(*sets)) == 1000
    assert (len(s["test"]), len(s["val"])) == (100, 100)
    again = bc.split_streams(range(1, 1001), seed=3)
    assert all(np.array_equal(s[k], again[k]) for k in s)
    assert not np.array_equal(s["test"], bc.split_streams(range(1, 1001), seed=4)["test"])


def test_boltzmann_weights():
    w = cp.boltzmann_weights([0.0, 1.0, 6.0])
    kt = 0.0019872043 * 298.15
    np.testing.assert_allclose(w[1] / w[0], np.exp(-1.0 / kt))
    assert w.sum() == pytest.approx(1.0)


def _records(n):
    smiles = ["CCO", "CCN", "CCC", "CC=O", "COC", "CC#N", "OCO", "CNC"]
    out = {}
    for i in range(1, n + 1):
        mol = Chem.AddHs(Chem.MolFromSmiles(smiles[i % len(smiles)]))
        AllChem.EmbedMolecule(mol, randomSeed=i)
        els = tuple(a.GetSymbol() for a in mol.GetAtoms())
        out[i] = QM9Record(i, smiles[i % len(smiles)], els, mol.GetConformer().GetPositions())
    return out


def test_resume_skips_finished_molecules(tmp_path, monkeypatch):
    calls = []

    def fake(rec, params):
        calls.append(rec.index)
        if rec.index % 5 == 0:
            return {"status": "fail", "reason": "connectivity_mismatch"}
        n = len(rec.elements)
        z = np.array([Chem.Atom(e).GetAtomicNum() for e in rec.elements], dtype=np.int8)
        return {
            "status": "ok",
            "smiles": "[C:1]",
            "z": z,
            "pos": np.repeat(rec.xyz[None].astype(np.float32), 2, axis=0).reshape(2, n, 3),
            "energies": np.array([0.0, 1.0], dtype=np.float32),
            "weights": np.array([0.8, 0.2], dtype=np.float32),
            "lowest_energy_hartree": -1.0,
        }

    monkeypatch.setattr(cp, "process_record", fake)
    recs = _records(60)
    out = tmp_path / "set.npz"
    base = ["--out", str(out), "--seed", "2", "--workers", "1", "--assemble-every", "0"]
    bc.build(bc.parse_args(base + ["--n-train", "3", "--n-val", "1", "--n-test", "2"]), records=recs)
    first = list(calls)
    meta = read_npz_meta(out)
    assert meta["counts"] == {"test": 2, "val": 1, "train": 3}
    assert len(first) >= 6 and len(first) == len(set(first))
    # a stale temporary file in the cache is ignored
    (tmp_path / "set.npz.cache" / "999.npz.tmp123.npz").write_bytes(b"partial")
    calls.clear()
    bc.build(bc.parse_args(base + ["--n-train", "3", "--n-val", "1", "--n-test", "2"]), records=recs)
    assert calls == []  # everything finished: nothing recomputed
    bc.build(bc.parse_args(base + ["--n-train", "5", "--n-val", "1", "--n-test", "2"]), records=recs)
    assert calls and not set(calls) & set(first)  # only new molecules, failures not retried
    meta = read_npz_meta(out)
    assert meta["counts"]["train"] == 5
    test_ids = {e.source_index for e in load_offline_ensembles(out, split="test")}
    train_ids = {e.source_index for e in load_offline_ensembles(out, split="train")}
    assert len(test_ids) == 2 and not test_ids & train_ids
    # other recipe parameters must not be mixed into the same cache
    with pytest.raises(RuntimeError, match="other recipe parameters"):
        bc.build(bc.parse_args(base + ["--n-train", "6", "--fmax", "0.01"]), records=recs)


@pytest.mark.skipif(not HAVE_XTB, reason="tblite/ase not installed (optional extra [xtb])")
def test_tiny_xtb_build_one_molecule():
    mol = Chem.AddHs(Chem.MolFromSmiles("CCO"))
    AllChem.EmbedMolecule(mol, randomSeed=4)
    Chem.AssignStereochemistryFrom3D(mol)
    res = cp.process_mol(mol, cp.BuildParams(max_seeds=4, seed=3), index=1)
    assert res["status"] == "ok", res
    k = len(res["weights"])
    assert res["pos"].shape == (k, 9, 3) and 1 <= k <= 5
    assert res["energies"][0] == 0.0 and res["energies"].max() <= 6.0
    assert res["weights"].sum() == pytest.approx(1.0, abs=1e-5)
    assert -12.0 < res["lowest_energy_hartree"] < -10.0  # GFN2-xTB ethanol ≈ -11.4 Eh
    # optimised geometry keeps the graph: C-O and C-C bond lengths are sane
    p = res["pos"][0]
    assert 1.35 < np.linalg.norm(p[1] - p[2]) < 1.50 and 1.45 < np.linalg.norm(p[0] - p[1]) < 1.60
