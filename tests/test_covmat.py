"""COV/MAT: the pure function on hand-made RMSD matrices, and RDKit heavy-atom symmetry-aware RMSD."""

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem

from symviz.covmat import aggregate, cov_mat_from_rmsd, coverage_matching, format_table, heavy_rmsd_matrix


def test_hand_made_matrix():
    # K = 2 references (rows), G = 4 generated (columns); D[r, g] = RMSD(g, r)
    d = np.array([[0.05, 0.6, 0.3, 0.9], [0.7, 0.2, 0.8, 0.5]])
    m = cov_mat_from_rmsd(d, thresholds=(0.1, 0.25, 0.5))
    # row minima 0.05, 0.2; column minima 0.05, 0.2, 0.3, 0.5
    assert m["MAT-R"] == pytest.approx(0.125)
    assert m["MAT-P"] == pytest.approx((0.05 + 0.2 + 0.3 + 0.5) / 4)
    assert m["COV-R@0.1"] == pytest.approx(50.0)
    assert m["COV-R@0.25"] == pytest.approx(100.0)
    assert m["COV-P@0.25"] == pytest.approx(50.0)
    assert m["COV-P@0.5"] == pytest.approx(75.0)  # strict: 0.5 is NOT < 0.5
    assert cov_mat_from_rmsd(d, (0.5,), strict=False)["COV-P@0.5"] == pytest.approx(100.0)
    assert (m["K"], m["G"]) == (2, 4)


def test_failure_and_aggregation():
    per = [cov_mat_from_rmsd(np.zeros((2, 0)), (0.5,)), cov_mat_from_rmsd(np.array([[0.2, 0.4]]), (0.5,))]
    assert per[0]["COV-R@0.5"] == 0.0 and np.isnan(per[0]["MAT-R"])
    agg = aggregate(per)
    assert agg["mean"]["COV-R@0.5"] == pytest.approx(50.0)
    assert agg["mean"]["MAT-R"] == pytest.approx(0.2)  # NaN-mean: failure excluded from MAT
    res = coverage_matching(None, None, (0.5,), rmsd_matrices=[np.zeros((2, 0)), np.array([[0.2, 0.4]])])
    assert res["n_failed"] == 1 and res["median"]["MAT-P"] == pytest.approx(0.3)
    assert "COV-R@0.5" in format_table({"x": res}, thresholds=(0.5,))


def test_bad_matrices():
    with pytest.raises(ValueError, match="at least one reference"):
        cov_mat_from_rmsd(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="2-D"):
        cov_mat_from_rmsd(np.zeros(3))
    with pytest.raises(ValueError, match="finite"):
        cov_mat_from_rmsd(np.array([[np.nan]]))


def _confs(smiles, n, seed):
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMultipleConfs(mol, n, randomSeed=seed)
    return mol


def _random_rotation(rng):
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def _transformed_copy(mol, rng, permute=True):
    """Rigidly moved copy whose atoms are renumbered (a different atom order for the same molecule)."""
    out = Chem.Mol(mol)
    for conf in out.GetConformers():
        p = conf.GetPositions() @ _random_rotation(rng).T + rng.normal(size=3)
        for i, x in enumerate(p):
            conf.SetAtomPosition(i, x.tolist())
    if permute:
        out = Chem.RenumberAtoms(out, [int(i) for i in rng.permutation(out.GetNumAtoms())])
    return out


def test_identical_sets_give_full_coverage_and_zero():
    ref = _confs("CCCCO", 4, 7)
    res = coverage_matching([ref], [ref])
    assert res["mean"]["COV-R@0.1"] == 100.0 and res["mean"]["COV-P@0.1"] == 100.0
    assert res["mean"]["MAT-R"] == pytest.approx(0.0, abs=1e-4)
    assert res["mean"]["MAT-P"] == pytest.approx(0.0, abs=1e-4)


def test_rotated_and_permuted_copies_give_zero():
    rng = np.random.default_rng(0)
    ref = _confs("CC(C)CC(C)(C)O", 3, 3)
    gen = _transformed_copy(ref, rng)
    d = heavy_rmsd_matrix(gen, ref)
    assert np.diag(d).max() < 1e-5
    res = coverage_matching([gen], [ref])
    assert res["mean"]["MAT-R"] < 1e-5 and res["mean"]["COV-R@0.1"] == 100.0


def test_inputs_not_modified():
    ref = _confs("CCCO", 2, 5)
    gen = _transformed_copy(ref, np.random.default_rng(1), permute=False)
    before = gen.GetConformer(0).GetPositions().copy()
    heavy_rmsd_matrix(gen, ref)
    np.testing.assert_array_equal(gen.GetConformer(0).GetPositions(), before)


def test_perturbed_copy_known_rmsd():
    """Two ring atoms pushed out of plane by ±δ: RDKit equals the Kabsch RMSD, ≤ δ·sqrt(2/6)."""
    ref = _confs("c1ccccc1", 1, 1)  # benzene: 6 heavy atoms, planar and rigid
    gen = Chem.Mol(ref)
    conf = gen.GetConformer()
    p = conf.GetPositions()
    delta = 0.3
    # push two opposite carbons out of plane by +δ and -δ: the best fit cannot remove this
    for idx, s in ((0, 1.0), (3, -1.0)):
        p[idx] = p[idx] + s * delta * np.array([0, 0, 1.0])
        conf.SetAtomPosition(idx, p[idx].tolist())
    d = heavy_rmsd_matrix(gen, ref)[0, 0]
    # independent reference: Kabsch (SVD) RMSD over the heavy atoms with the identity mapping
    heavy = [a.GetIdx() for a in ref.GetAtoms() if a.GetAtomicNum() > 1]
    a, b = p[heavy], ref.GetConformer().GetPositions()[heavy]
    a0, b0 = a - a.mean(0), b - b.mean(0)
    u, _, vt = np.linalg.svd(a0.T @ b0)
    s = np.diag([1, 1, np.sign(np.linalg.det(u @ vt))])
    kabsch = np.sqrt((((a0 @ u @ s @ vt) - b0) ** 2).sum(1).mean())
    assert d == pytest.approx(kabsch, abs=1e-4)
    assert 0.05 < d <= delta * np.sqrt(2 / 6) + 1e-9


def test_uniform_noise_rmsd_matches_kabsch():
    rng = np.random.default_rng(3)
    ref = _confs("CC(=O)NC", 1, 2)
    gen = Chem.Mol(ref)
    conf = gen.GetConformer()
    p = conf.GetPositions() + rng.normal(scale=0.1, size=(gen.GetNumAtoms(), 3))
    for i, x in enumerate(p):
        conf.SetAtomPosition(i, x.tolist())
    heavy = [a.GetIdx() for a in ref.GetAtoms() if a.GetAtomicNum() > 1]
    a, b = p[heavy], ref.GetConformer().GetPositions()[heavy]
    a0, b0 = a - a.mean(0), b - b.mean(0)
    u, _, vt = np.linalg.svd(a0.T @ b0)
    s = np.diag([1, 1, np.sign(np.linalg.det(u @ vt))])
    kabsch = np.sqrt((((a0 @ u @ s @ vt) - b0) ** 2).sum(1).mean())
    # symmetry-aware RMSD can only be <= the identity-mapping Kabsch RMSD
    assert heavy_rmsd_matrix(gen, ref)[0, 0] <= kabsch + 1e-6
    assert heavy_rmsd_matrix(gen, ref)[0, 0] > 0.02


def test_benzene_permuted_is_zero_and_mirror_is_not():
    rng = np.random.default_rng(5)
    benz = _confs("c1ccccc1", 1, 1)
    assert heavy_rmsd_matrix(_transformed_copy(benz, rng), benz)[0, 0] < 1e-5
    chiral = _confs("C[C@H](N)C(C)(O)CC", 1, 4)
    mirror = Chem.Mol(chiral)
    conf = mirror.GetConformer()
    for i, x in enumerate(conf.GetPositions() * np.array([-1.0, 1.0, 1.0])):
        conf.SetAtomPosition(i, x.tolist())
    assert heavy_rmsd_matrix(mirror, chiral)[0, 0] > 0.05


def test_coordinate_arrays_use_reference_graph():
    ref = _confs("CCO", 2, 9)
    arr = np.stack([c.GetPositions() for c in ref.GetConformers()])
    res = coverage_matching([arr], [ref])
    assert res["mean"]["MAT-R"] < 1e-5
    assert coverage_matching([np.zeros((0, 9, 3))], [ref])["n_failed"] == 1


def test_etkdg_baseline_on_tiny_set(tmp_path):
    from symviz.data.conformer_pipeline import mapped_smiles
    from symviz.data.ensembles import load_offline_ensembles, write_ensembles_npz
    from symviz.experiments import etkdg_baseline

    ens = []
    for smi, seed in (("CCO", 1), ("c1ccncc1", 2)):
        mol = _confs(smi, 2, seed)
        pos = np.stack([c.GetPositions() for c in mol.GetConformers()])
        z = np.array([a.GetAtomicNum() for a in mol.GetAtoms()])
        ens.append({"smiles": mapped_smiles(mol), "z": z, "pos": pos, "weights": [0.5, 0.5], "energies": [0, 0]})
    path = tmp_path / "tiny.npz"
    write_ensembles_npz(path, ens, ["test", "test"], {"label": "tiny"})
    with pytest.raises(ValueError, match="seed must be != 0"):
        etkdg_baseline.generate(load_offline_ensembles(path)[0], 4, 0, False)
    res = etkdg_baseline.run(path)
    assert res["n_molecules"] == 2 and "not GEOM" in res["label"]
    raw = res["results"]["ETKDGv3 raw (no force field)"]
    assert raw["n_failed"] == 0 and 0 < raw["mean"]["MAT-R"] < 0.5
    assert "| ETKDGv3 + MMFF94 |" in res["table_md"]
