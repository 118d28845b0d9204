"""The project's npz ensemble format: round trip, SHA-256 verification, truncation, missing data folder."""

import json

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem

from symviz.data.conformer_pipeline import mapped_smiles
from symviz.data.ensembles import (
    DataFileError,
    MoleculeEnsemble,
    load_offline_ensembles,
    mol_from_mapped_smiles,
    read_npz_meta,
    write_ensembles_npz,
)


def _ens(smiles, k, seed):
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMultipleConfs(mol, k, randomSeed=seed)
    pos = np.stack([c.GetPositions() for c in mol.GetConformers()])
    w = np.arange(1, k + 1, dtype=float)
    return MoleculeEnsemble(
        smiles=mapped_smiles(mol),
        z=np.array([a.GetAtomicNum() for a in mol.GetAtoms()]),
        pos=pos,
        weights=w / w.sum(),
        energies=np.linspace(0, 1, k),
    )


@pytest.fixture()
def written(tmp_path):
    ens = [_ens("CCO", 3, 1), _ens("C[C@H](N)O", 2, 2), _ens("c1ccncc1", 1, 3)]
    path = tmp_path / "data" / "set.npz"
    digest = write_ensembles_npz(path, ens, ["train", "test", "test"], {"label": "fixture", "seed": 1})
    return path, ens, digest


def test_roundtrip(written):
    path, ens, digest = written
    assert (path.parent / "set.sha256").read_text().split()[0] == digest
    test = load_offline_ensembles(path, split="test")
    assert [e.n_confs for e in test] == [2, 1]
    np.testing.assert_allclose(test[0].pos, ens[1].pos, atol=1e-5)
    np.testing.assert_array_equal(test[0].z, ens[1].z)
    assert test[0].weights.dtype == np.float32 and test[0].weights.sum() == pytest.approx(1.0)
    assert len(load_offline_ensembles(path, split=None)) == 3
    assert read_npz_meta(path)["label"] == "fixture"
    with np.load(path, allow_pickle=False) as f:  # no pickles inside
        assert f["z"].dtype == np.int8 and f["pos"].dtype == np.float32
        assert json.loads(str(f["meta"]))["seed"] == 1


def test_mapped_smiles_restores_atom_order_and_stereo(written):
    path, ens, _ = written
    e = load_offline_ensembles(path, split="test")[0]
    mol = e.to_rdkit()
    assert [a.GetAtomicNum() for a in mol.GetAtoms()] == e.z.tolist()
    assert mol.GetNumConformers() == 2
    assert Chem.MolToSmiles(Chem.RemoveHs(mol)) == Chem.MolToSmiles(Chem.MolFromSmiles("C[C@H](N)O"))
    with pytest.raises(ValueError, match="atom-map"):
        mol_from_mapped_smiles("CCO")


def test_checksum_mismatch(written):
    path, _, _ = written
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DataFileError, match="SHA-256 mismatch") as err:
        load_offline_ensembles(path)
    assert "set.npz" in str(err.value) and "build_conformers" in str(err.value)


def test_truncated_file(written):
    path, _, _ = written
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataFileError, match="SHA-256 mismatch"):
        load_offline_ensembles(path)
    with pytest.raises(DataFileError, match="not a readable npz|truncated"):
        load_offline_ensembles(path, verify=False)


def test_missing_folder_and_checksum(tmp_path, written):
    with pytest.raises(DataFileError, match="data folder not found") as err:
        load_offline_ensembles(tmp_path / "nowhere" / "qm9_xtb_confs_v2.npz")
    assert "python -m symviz.data.build_conformers" in str(err.value)
    path, _, _ = written
    with pytest.raises(DataFileError, match="file not found"):
        load_offline_ensembles(path.with_name("other.npz"))
    (path.parent / "set.sha256").unlink()
    with pytest.raises(DataFileError, match="checksum file missing"):
        load_offline_ensembles(path)


def test_bad_arguments(tmp_path, written):
    path, ens, _ = written
    with pytest.raises(ValueError, match="split"):
        load_offline_ensembles(path, split="validation")
    with pytest.raises(ValueError, match="one label per ensemble"):
        write_ensembles_npz(tmp_path / "x.npz", ens, ["train"], {})
    bad = MoleculeEnsemble("C", np.array([6]), np.zeros((2, 3, 3)), np.ones(2) / 2, np.zeros(2))
    with pytest.raises(ValueError, match="pos"):
        write_ensembles_npz(tmp_path / "x.npz", [bad], ["train"], {})


def test_shipped_offline_set_if_present():
    from symviz.data.ensembles import DEFAULT_PATH

    if not DEFAULT_PATH.exists():
        pytest.skip("symviz/data/files/qm9_xtb_confs_v2.npz not built in this checkout")
    meta = read_npz_meta()
    assert "not GEOM" in meta["label"]
    test = load_offline_ensembles(split="test")
    assert len(test) >= 1
    for e in test[:20]:
        assert e.pos.shape == (e.n_confs, e.n_atoms, 3)
        assert e.weights.sum() == pytest.approx(1.0, abs=1e-4)
        assert e.energies.min() == pytest.approx(0.0, abs=1e-4) and e.energies.max() <= 6.0 + 1e-3
        assert [a.GetAtomicNum() for a in e.to_rdkit().GetAtoms()] == e.z.tolist()
    splits = {s: {e.source_index for e in load_offline_ensembles(split=s)} for s in ("train", "val", "test")}
    assert not (splits["train"] & splits["test"]) and not (splits["val"] & splits["test"])
    assert not (splits["train"] & splits["val"])


def test_corrupt_file_without_verification_raises_data_file_error(written):
    """verify=False skips the SHA-256 check; a damaged byte must still give DataFileError (zlib.error and
    NotImplementedError used to leak), or, where the byte is unused, the very same ensembles."""
    path, _, _ = written
    raw = path.read_bytes()
    good = load_offline_ensembles(path, split=None)
    raised = 0
    for pos in range(0, len(raw), 3):
        data = bytearray(raw)
        data[pos] ^= 0xFF
        path.write_bytes(bytes(data))
        readers = (lambda: load_offline_ensembles(path, split=None, verify=False), lambda: read_npz_meta(path, False))
        for read in readers:
            try:
                got = read()
            except DataFileError:
                raised += 1
                continue
            if isinstance(got, list):
                assert len(got) == len(good) and all(np.array_equal(a.pos, b.pos) for a, b in zip(got, good)), pos
    assert raised > 0


@pytest.mark.parametrize("content", ["", "\n", "not-a-hash  set.npz\n", "abc"])
def test_empty_or_garbled_checksum_file(written, content):
    path, _, _ = written
    (path.parent / "set.sha256").write_text(content)
    with pytest.raises(DataFileError, match="not a SHA-256 checksum file"):
        load_offline_ensembles(path)
