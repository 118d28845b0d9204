"""Conformers from trained models (symviz.conformers, qm9_eval): sampling, chirality, graphs, generate, errors."""

import json

import numpy as np
import pytest
import torch
from rdkit import Chem

from symviz import conformers as C
from symviz.diffusion import VPSchedule, ddim_sample
from symviz.experiments import qm9_eval, qm9_train

ALANINE = "C[C@H](N)C(=O)O"


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    """A 3-step EGNN checkpoint from the training command (the pipeline, not the quality, is under test)."""
    out = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    args = ["--steps", "3", "--hidden", "16", "--layers", "2", "--max-molecules", "4", "--threads", "1"]
    qm9_train.main([*args, "--out", str(out)])
    return out


@pytest.fixture(scope="module")
def tiny(tiny_ckpt):
    return C.load_model(str(tiny_ckpt))[0]


def test_samplers_pass_mask_and_keyword_arguments():
    seen = []

    def net(x, t, mask=None, node_attr=None):
        seen.append((mask, node_attr))
        return torch.zeros_like(x)

    mask = torch.tensor([[True, True, False]])
    feats = torch.ones(1, 3, 2)
    ddim_sample(net, (1, 3, 3), VPSchedule(), steps=3, mask=mask, node_attr=feats)
    assert len(seen) == 3 and all(m is mask and f is feats for m, f in seen)


def test_sampling_is_seeded_and_independent_of_batching(tiny):
    mols = [C.prepare_mol("CCO"), C.prepare_mol("CC(O)C=O"), C.prepare_mol("C1CC1")]
    a = C.sample_conformers(tiny, mols, [3, 2, 1], steps=4, seed=7, batch_size=2)
    b = C.sample_conformers(tiny, mols, [3, 2, 1], steps=4, seed=7, batch_size=64)
    c = C.sample_conformers(tiny, mols, [3, 2, 1], steps=4, seed=8)
    assert [x.shape for x in a] == [(3, 9, 3), (2, 11, 3), (1, 9, 3)]
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, atol=1e-5)
    assert not np.allclose(a[0], c[0])
    for x in a:  # centred clouds
        np.testing.assert_allclose(x.mean(1), 0, atol=1e-5)


def test_reverse_trajectory_ends_at_the_sampled_conformer(tiny):
    mol = C.prepare_mol("CC(O)C=O")
    times, xt, x0 = C.reverse_trajectory(tiny, mol, steps=5, seed=3)
    assert times[0] == 1.0 and np.all(np.diff(times) < 0) and xt.shape == x0.shape == (5, 11, 3)
    sampled = C.sample_conformers(tiny, [mol], [1], steps=5, seed=3)[0][0]
    np.testing.assert_allclose(x0[-1], sampled, atol=1e-6)


def _embedded(smiles, seed=3):
    from rdkit.Chem import AllChem

    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMolecule(mol, randomSeed=seed)
    return mol, mol.GetConformer().GetPositions()[None]


def test_chirality_fix_reflects_mirror_images_only():
    mol, x = _embedded(ALANINE)
    fixed, rep, ok = C.fix_chirality(mol, np.concatenate([x, -x]))
    assert rep.n_centres == 1 and rep.reflected == 1 and rep.wrong == 0 and ok.all()
    np.testing.assert_allclose(fixed[1], x[0])  # the mirror image was reflected back
    # Two centres, one inverted by hand (swap two substituents' positions): no reflection fixes it.
    mol2, y = _embedded("C[C@H](O)[C@@H](N)C")
    centres = sorted(C.stereo_centres(mol2))
    assert len(centres) == 2
    wrong = Chem.Mol(mol2)
    Chem.FindMolChiralCenters(wrong)
    a = wrong.GetAtomWithIdx(centres[0])
    a.SetChiralTag(
        Chem.ChiralType.CHI_TETRAHEDRAL_CW
        if a.GetChiralTag() == Chem.ChiralType.CHI_TETRAHEDRAL_CCW
        else Chem.ChiralType.CHI_TETRAHEDRAL_CCW
    )
    _, rep2, ok2 = C.fix_chirality(wrong, y)
    assert rep2.reflected == 0 and rep2.wrong == 1 and not ok2.any()
    # No stereocentre: nothing to do.
    mol3, z = _embedded("CCO")
    out, rep3, ok3 = C.fix_chirality(mol3, z)
    assert rep3.n_centres == 0 and ok3.all() and np.array_equal(out, z)


def test_bond_graph_check():
    mol, x = _embedded("CC(=O)OC1CC1")
    stretched = x.copy()
    stretched[0, 0] += 5.0  # pull atom 0 far away: a bond breaks
    assert C.bond_graph_ok(mol, np.concatenate([x, stretched, 0.5 * x])).tolist() == [True, False, False]


def test_prepare_mol_errors_name_the_problem():
    with pytest.raises(ValueError, match="could not parse"):
        C.prepare_mol("C1CC(")
    with pytest.raises(ValueError, match="unsupported element"):
        C.prepare_mol("CCCl")
    with pytest.raises(ValueError, match="charged"):
        C.prepare_mol("C[NH3+]")
    with pytest.raises(ValueError, match="radical"):
        C.prepare_mol("C[CH2]")
    with pytest.raises(ValueError, match="more than the 10"):
        C.prepare_mol("CCCC", max_atoms=10)
    with pytest.raises(ValueError, match="implicit hydrogens"):
        C.prepare_mol(Chem.MolFromSmiles("CCO"))
    with pytest.raises(ValueError, match="fragments"):
        C.prepare_mol("CC.O")
    with pytest.raises(TypeError, match="SMILES string"):
        C.prepare_mol(42)


def test_generate_keeps_atom_order_and_is_seeded(tiny_ckpt):
    mol = Chem.AddHs(Chem.MolFromSmiles("OCC(C)=O"))
    order = list(range(mol.GetNumAtoms()))[::-1]
    mol = Chem.RenumberAtoms(mol, order)  # hydrogens first: an unusual order that must be kept
    out = C.generate(mol, 3, seed=1, steps=4, model=str(tiny_ckpt))
    assert out.GetNumConformers() == 3
    assert [a.GetAtomicNum() for a in out.GetAtoms()] == [a.GetAtomicNum() for a in mol.GetAtoms()]
    again = C.generate(mol, 3, seed=1, steps=4, model=str(tiny_ckpt))
    np.testing.assert_array_equal(out.GetConformer(2).GetPositions(), again.GetConformer(2).GetPositions())
    with pytest.raises(ValueError, match="num_confs"):
        C.generate("CCO", 0, model=str(tiny_ckpt))
    with pytest.raises(ValueError, match="unknown model"):
        C.generate("CCO", 1, model="no-such-model")


def test_checkpoint_sha256_is_checked(tiny_ckpt, tmp_path):
    p = tmp_path / "m.pt"
    p.write_bytes(tiny_ckpt.read_bytes())
    p.with_suffix(".sha256").write_text("0" * 64 + "  m.pt\n")
    with pytest.raises(ValueError, match="SHA-256"):
        C.load_model(str(p))


def test_shipped_model_generates_valid_conformers():
    """The default checkpoint (package data): graph kept and stereo right on small molecules."""
    net, meta = C.load_model("default")
    assert C.checkpoint_path("default").stat().st_size <= 5 * 2**20
    for key in ("command", "commit", "data_sha256", "wall_seconds", "hardware", "spec"):
        assert key in meta
    out = C.generate(ALANINE, 4, seed=0)
    x = np.stack([c.GetPositions() for c in out.GetConformers()])
    assert C.bond_graph_ok(out, x).mean() >= 0.5
    _, rep, ok = C.fix_chirality(out, x)
    assert ok.all()
    first = C.generate(ALANINE, 2, seed=5)
    second = C.generate(ALANINE, 2, seed=5)
    np.testing.assert_array_equal(first.GetConformer(0).GetPositions(), second.GetConformer(0).GetPositions())


def test_eval_command_end_to_end(tiny_ckpt, tmp_path):
    out = tmp_path / "res"
    args = ["--ckpt", str(tiny_ckpt), "--name", "tiny", "--max-molecules", "3", "--steps", "3", "--out", str(out)]
    assert qm9_eval.main(args) == 0
    res = json.loads(out.with_suffix(".json").read_text())["runs"]["tiny"]
    assert res["n_molecules"] == 3 and 0.0 <= res["bond_graph_valid"] <= 1.0
    for key in ("COV-R@0.1", "COV-R@0.25", "COV-R@0.5", "MAT-R", "COV-P@0.5", "MAT-P"):
        assert key in res["with_fix"]["mean"] and key in res["with_fix"]["median"]
    md = out.with_suffix(".md").read_text()
    assert "| tiny |" in md and "ETKDGv3 raw" in md and "not GEOM" in md


def test_acceptance_table_marks_each_goal():
    mean = {"COV-R@0.5": 71.0, "MAT-R": 0.40}
    r = {
        "with_fix": {"mean": mean},
        "bond_graph_valid": 0.9,
        "chirality": {"molecules_right": 0.96, "conformers_right": 0.9},
        "sample_seconds": 700.0,
        "n_molecules": 200,
        "hardware": "CPU",
        "steps": 50,
    }
    etkdg = {"results": {"ETKDGv3 raw (no force field)": {"mean": {"COV-R@0.5": 87.0, "MAT-R": 0.229}}}}
    rows = qm9_eval.acceptance_table(r, etkdg)[2:]
    status = [row.rsplit("|", 2)[-2].strip() for row in rows]
    assert status == ["MET", "MISSED", "MISSED", "MISSED", "MET", "MET", "MISSED"]


def test_stereo_redraws_replace_only_wrong_conformers(monkeypatch):
    """sample_with_stereo: the fix, then redraws of the still-wrong conformers with a new stream per round."""
    mol, right = _embedded("C[C@H](O)[C@@H](N)C")
    _, bad = _embedded("C[C@@H](O)[C@@H](N)C")  # the diastereomer, same atom order: one centre inverted
    assert C.fix_chirality(mol, bad)[2].tolist() == [False]
    r, b = right[0], bad[0]
    draws = [np.stack([r, b, b]), np.stack([b, r]), np.stack([r])]
    seeds = []

    def fake_sample(net, mols, num_confs, *, seed=0, **kw):
        seeds.append(seed)
        out = draws[len(seeds) - 1]
        assert list(num_confs) == [len(out)]
        return [out.copy()]

    monkeypatch.setattr(C, "sample_conformers", fake_sample)
    for retries, wrong, redrawn in ((0, 2, 0), (1, 1, 2), (2, 0, 3)):
        seeds.clear()
        coords, info = C.sample_with_stereo(None, [mol], [3], retries=retries, repair=False, seed=5)
        assert int((~info[0].ok).sum()) == wrong and info[0].resampled == redrawn
        assert C.fix_chirality(mol, coords[0])[2].tolist() == info[0].ok.tolist()
        np.testing.assert_allclose(coords[0][0], r)  # a right first draw is never touched
        assert len(set(seeds)) == len(seeds)  # every round has its own stream
    with pytest.raises(ValueError, match="retries"):
        C.sample_with_stereo(None, [mol], [3], retries=-1)


def test_stereo_repair_inverts_the_wrong_centre_and_relaxes(monkeypatch):
    """repair: a conformer with one of two centres inverted is inverted locally, then handed to partial sampling
    (start=, t_start=); what comes back right is kept and counted, what stays wrong is left as drawn."""
    mol, right = _embedded("C[C@H](O)[C@@H](N)C")
    _, bad = _embedded("C[C@@H](O)[C@@H](N)C")
    calls = []

    def fake_sample(net, mols, num_confs, *, seed=0, start=None, t_start=1.0, steps=50, **kw):
        calls.append((t_start, steps, seed))
        if start is None:  # the first draw
            return [np.stack([right[0], bad[0], bad[0]])]
        return [s.copy() for s in start]  # a "relaxation" that keeps the inverted coordinates

    monkeypatch.setattr(C, "sample_conformers", fake_sample)
    coords, info = C.sample_with_stereo(None, [mol], [3], retries=0, repair_t=0.1, repair_steps=4, seed=2)
    assert info[0].ok.all() and info[0].repaired == 2 and info[0].resampled == 0
    assert calls[1][:2] == (0.1, 4) and calls[1][2] != calls[0][2]
    assert C.fix_chirality(mol, coords[0])[2].all()
    np.testing.assert_allclose(coords[0][0], right[0])  # a right conformer is never touched
    bonds = np.array([(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()])
    length = lambda p: np.linalg.norm(p[bonds[:, 0]] - p[bonds[:, 1]], axis=1)  # noqa: E731
    np.testing.assert_allclose(length(coords[0][1]), length(bad[0]), atol=1e-9)

    calls.clear()

    def redraw_then_repair(net, mols, num_confs, *, seed=0, start=None, t_start=1.0, **kw):
        calls.append(t_start)
        if start is not None:
            return [s.copy() for s in start]
        return [np.stack([right[0], bad[0], bad[0]])] if len(calls) == 1 else [np.stack([right[0], bad[0]])]

    monkeypatch.setattr(C, "sample_conformers", redraw_then_repair)
    coords, info = C.sample_with_stereo(None, [mol], [3], retries=1, seed=2)
    assert calls == [1.0, 1.0, 0.05]  # first draw, one redraw round, then the repair (last)
    assert info[0].ok.all() and info[0].resampled == 2 and info[0].repaired == 1
    np.testing.assert_allclose(coords[0][1], right[0])  # the fresh right draw, not a repaired one

    def undo(net, mols, num_confs, *, seed=0, start=None, **kw):  # a relaxation that brings the wrong centre back
        return [np.stack([right[0], bad[0], bad[0]])] if start is None else [np.stack([bad[0]] * len(start[0]))]

    monkeypatch.setattr(C, "sample_conformers", undo)
    coords, info = C.sample_with_stereo(None, [mol], [3], retries=0, seed=2)
    assert info[0].ok.tolist() == [True, False, False] and info[0].repaired == 0
    np.testing.assert_allclose(coords[0][1], bad[0])


def test_partial_sampling_from_t_start_with_an_oracle_net():
    """sample_conformers(start=, t_start=): with a net that always predicts the start conformer, DDIM from any
    t_start returns it exactly (centred); bad starts are refused."""
    mol, x = _embedded(ALANINE)
    x = x - x.mean(axis=1, keepdims=True)
    target = torch.as_tensor(x[0], dtype=torch.float32)

    def oracle(x_t, t, mask=None, **kw):
        out = torch.zeros_like(x_t)
        out[:, : target.shape[0]] = target
        return out

    for t0 in (0.05, 0.5, 1.0):
        (y,) = C.sample_conformers(oracle, [mol], [2], start=[np.repeat(x, 2, axis=0)], t_start=t0, steps=3)
        np.testing.assert_allclose(y, np.repeat(x, 2, axis=0), atol=1e-5)
    with pytest.raises(ValueError, match="t_start"):
        C.sample_conformers(oracle, [mol], [1], start=[x], t_start=0.0)
    with pytest.raises(ValueError, match="start needs one"):
        C.sample_conformers(oracle, [mol], [2], start=[x], t_start=0.5)


def test_chirality_fix_reads_pseudo_asymmetric_centres():
    """A cage with a pseudo-asymmetric centre (CIP label r/s): an ETKDG conformer is right, its mirror image is
    reflected back. (Reading only R/S once counted every such molecule as wrong.)"""
    mol, x = _embedded("CC[C@]12[C@@H]3CN1C[C@H]2O3")
    assert set(C.stereo_centres(mol).values()) & {"r", "s"}
    fixed, rep, ok = C.fix_chirality(mol, np.concatenate([x, -x]))
    assert ok.all() and rep.reflected == 1 and rep.wrong == 0
