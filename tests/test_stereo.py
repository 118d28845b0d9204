"""Signed volumes of stereocentres and their local inversion (symviz.molecules.stereo), against RDKit's own
perception of stereo from 3D coordinates."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rdkit import Chem
from rdkit.Chem import AllChem

from symviz.molecules.stereo import chiral_centres, invert_wrong_centres, signed_volumes

CHIRAL = [
    "C[C@H](N)C(=O)O",
    "C[C@@H](N)C(=O)O",
    "C[C@H](O)[C@@H](N)C",
    "C[C@@H]1CC[C@H](O)C1",
    "O[C@H]1C[C@@H]2C[C@H]1C2",  # a bicycle: bridgehead centres with a free H
    "CC[C@@](C)(O)C#N",  # a quaternary centre: the smallest free branch is a methyl, not a single atom
    "CN1C[C@]2(CO2)C1(C)C",  # a spiro centre: every bond in a ring, no free branch
]


def _embed(smiles, seed=7, n=3):
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    ids = AllChem.EmbedMultipleConfs(mol, numConfs=n, randomSeed=seed)
    assert len(ids) == n
    return mol, np.stack([c.GetPositions() for c in mol.GetConformers()])


def _cip_from_3d(mol, x):
    m = Chem.Mol(mol)
    m.RemoveAllConformers()
    conf = Chem.Conformer(m.GetNumAtoms())
    for i, p in enumerate(x):
        conf.SetAtomPosition(i, p.tolist())
    m.AddConformer(conf)
    Chem.AssignStereochemistryFrom3D(m)
    return dict(Chem.FindMolChiralCenters(m, includeUnassigned=True, useLegacyImplementation=False))


def _want(mol):
    return dict(Chem.FindMolChiralCenters(mol, includeUnassigned=False, useLegacyImplementation=False))


@pytest.mark.parametrize("smiles", CHIRAL)
def test_sign_convention_agrees_with_rdkit_perception(smiles):
    """ETKDG conformers have the tagged stereo: every signed volume has the wanted sign, the mirror image has
    every sign flipped, and RDKit's perception from 3D reads back the molecule's CIP labels."""
    mol, x = _embed(smiles)
    centres = chiral_centres(mol)
    assert [c.atom for c in centres] == sorted(_want(mol))
    v = signed_volumes(x, centres)
    sign = np.array([c.sign for c in centres])
    assert (v * sign > 0).all()
    assert (signed_volumes(-x, centres) * sign < 0).all()
    for p in x:
        got = _cip_from_3d(mol, p)
        assert {c: got[c] for c in _want(mol)} == _want(mol)


def test_enantiomers_have_opposite_wanted_signs_on_the_same_atoms():
    a, _ = _embed("C[C@H](N)C(=O)O")
    b, _ = _embed("C[C@@H](N)C(=O)O")
    ca, cb = chiral_centres(a), chiral_centres(b)
    assert [c.neighbours for c in ca] == [c.neighbours for c in cb]
    assert [c.sign for c in ca] == [-c.sign for c in cb]


def test_free_branches():
    mol, _ = _embed("CC[C@@](C)(O)C#N")
    (c,) = chiral_centres(mol)
    moved = {mol.GetAtomWithIdx(a).GetSymbol() for a in c.branch}
    assert c.pivot >= 0 and moved == {"O", "H"} and len(c.branch) == 2  # the OH, the smallest branch
    spiro, _ = _embed("CN1C[C@]2(CO2)C1(C)C")
    (s,) = chiral_centres(spiro)
    assert s.pivot == -1 and s.branch == ()


@pytest.mark.parametrize(
    "target,drawn",
    [
        ("C[C@H](O)[C@@H](N)C", "C[C@@H](O)[C@@H](N)C"),  # one of two centres inverted
        ("C[C@@H]1CC[C@H](O)C1", "C[C@@H]1CC[C@@H](O)C1"),  # a ring centre (cis -> trans)
        ("CC[C@@](C)(O)C#N", "CC[C@](C)(O)C#N"),  # a quaternary centre
    ],
)
def test_inversion_turns_the_drawn_diastereomer_into_the_target(target, drawn):
    """The same atom order, one centre inverted: after invert_wrong_centres RDKit perceives the target's labels
    from 3D, every bond length is unchanged, and so is every angle at the inverted centre."""
    mol, _ = _embed(target)
    wrong_mol, x = _embed(drawn)
    assert [a.GetSymbol() for a in mol.GetAtoms()] == [a.GetSymbol() for a in wrong_mol.GetAtoms()]
    centres = chiral_centres(mol)
    assert (signed_volumes(x, centres) * [c.sign for c in centres] < 0).any()
    y, n_inv = invert_wrong_centres(x, centres)
    assert (n_inv >= 1).all()
    assert (signed_volumes(y, centres) * [c.sign for c in centres] > 0).all()
    bonds = np.array([(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()])
    for p, q in zip(x, y):
        got = _cip_from_3d(mol, q)
        assert {c: got[c] for c in _want(mol)} == _want(mol)
        np.testing.assert_allclose(
            np.linalg.norm(q[bonds[:, 0]] - q[bonds[:, 1]], axis=1),
            np.linalg.norm(p[bonds[:, 0]] - p[bonds[:, 1]], axis=1),
            atol=1e-9,
        )
    np.testing.assert_array_equal(invert_wrong_centres(y, centres)[1], 0)  # right centres are left alone


def test_spiro_centre_is_not_moved():
    mol, x = _embed("CN1C[C@]2(CO2)C1(C)C")
    y, n_inv = invert_wrong_centres(-x, chiral_centres(mol))
    np.testing.assert_array_equal(y, -x)
    np.testing.assert_array_equal(n_inv, 0)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_reflection_is_local_and_exactly_negates_the_volume(seed):
    """On arbitrary coordinates: one inversion negates that centre's signed volume exactly, keeps every distance
    inside the moved part, inside the unmoved part, and from the centre to its three plane neighbours."""
    mol = Chem.AddHs(Chem.MolFromSmiles("C[C@H](O)[C@@H](N)C"))
    centres = chiral_centres(mol)
    x = np.random.default_rng(seed).normal(size=(1, mol.GetNumAtoms(), 3)) * 1.5
    c = centres[0]
    v = signed_volumes(x, [c])[0, 0]
    if v * c.sign > 0:  # make this centre the wrong one
        x = -x
        v = -v
    y, n_inv = invert_wrong_centres(x, [c], passes=1)
    assert n_inv[0] == 1
    np.testing.assert_allclose(signed_volumes(y, [c])[0, 0], -v, rtol=1e-9, atol=1e-9)
    moved = np.array([c.atom, *c.branch])
    still = np.setdiff1d(np.arange(x.shape[1]), moved)
    dist = lambda p, a, b: np.linalg.norm(p[0][a][:, None] - p[0][b][None], axis=-1)  # noqa: E731
    np.testing.assert_allclose(dist(y, moved, moved), dist(x, moved, moved), atol=1e-9)
    np.testing.assert_array_equal(y[0][still], x[0][still])
    plane = [a for k, a in enumerate(c.neighbours) if k != c.pivot]
    np.testing.assert_allclose(dist(y, [c.atom], plane), dist(x, [c.atom], plane), atol=1e-9)
