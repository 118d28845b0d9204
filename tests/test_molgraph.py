"""Molecular graph tensors, padded batches, max-atoms errors and automorphisms (old capped table and the
factored tables of the whole group, vs brute force)."""

import itertools

import numpy as np
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import AllChem

from symviz.data.molgraph import (
    ATOM_TYPES,
    atom_onehot,
    automorphism_group,
    automorphism_tables,
    automorphisms,
    check_max_atoms,
    collate_molecules,
    mol_to_graph,
    pad_automorphism_tables,
)
from symviz.groups import AutomorphismGroup

torch.set_num_threads(1)


def molh(smiles, embed=False):
    m = Chem.AddHs(Chem.MolFromSmiles(smiles))
    if embed:
        AllChem.EmbedMolecule(m, randomSeed=3)
    return m


def test_graph_tensors():
    g = mol_to_graph(molh("C=O", embed=True))
    assert g.z.tolist() == [6, 8, 1, 1]
    assert g.atom_onehot.argmax(1).tolist() == [1, 3, 0, 0]
    assert g.bond_type[0, 1] == 2 and g.bond_type[1, 0] == 2 and g.bond_type[0, 2] == 1
    assert g.bond_type[1, 2] == 0 and torch.equal(g.bond_type, g.bond_type.T)
    assert g.is_h.tolist() == [False, False, True, True]
    assert g.pos.shape == (4, 3)
    aro = mol_to_graph(molh("c1ccccc1"))
    assert aro.bond_type[0, 1] == 4 and aro.pos is None


def test_unsupported_element():
    with pytest.raises(ValueError, match="only elements"):
        atom_onehot([6, 17])
    assert atom_onehot(list(ATOM_TYPES)).argmax(1).tolist() == [0, 1, 2, 3, 4]


def test_collate_and_mask():
    gs = [mol_to_graph(molh("CCO", embed=True)), mol_to_graph(molh("C", embed=True))]
    b = collate_molecules(gs)
    assert b["mask"].shape == (2, 9) and b["mask"].sum(1).tolist() == [9, 5]
    assert b["z"][1, 5:].eq(0).all() and b["pos"][1, 5:].eq(0).all()
    assert torch.allclose(b["pos"][0], gs[0].pos)
    assert b["bond_type"][1, :5, :5].equal(gs[1].bond_type)
    assert collate_molecules(gs, max_atoms=12)["mask"].shape == (2, 12)


def test_max_atoms_error():
    with pytest.raises(ValueError, match="max_atoms=5"):
        mol_to_graph(molh("CCO"), max_atoms=5)
    gs = [mol_to_graph(molh("CCO")), mol_to_graph(molh("C"))]
    with pytest.raises(ValueError, match="molecule 0 of the batch has 9 atoms"):
        collate_molecules(gs, max_atoms=6)
    check_max_atoms(5, None)


def brute_force_automorphisms(mol):
    z = [a.GetAtomicNum() for a in mol.GetAtoms()]
    g = mol_to_graph(mol).bond_type.numpy()
    n = len(z)
    out = set()
    for p in itertools.permutations(range(n)):
        if any(z[p[i]] != z[i] for i in range(n)):
            continue
        if np.array_equal(g[np.ix_(p, p)], g):
            out.add(p)
    return out


@pytest.mark.parametrize("smiles,expected", [("C", 24), ("CC", 72), ("C=O", 2), ("O", 2)])
def test_automorphisms_match_brute_force(smiles, expected):
    mol = molh(smiles)
    perms = automorphisms(mol)
    assert perms.dtype == torch.long and perms.shape == (expected, mol.GetNumAtoms())
    assert perms[0].tolist() == list(range(mol.GetNumAtoms()))  # identity first
    assert {tuple(p) for p in perms.tolist()} == brute_force_automorphisms(mol)


def test_automorphisms_preserve_types_and_bonds():
    mol = molh("CC(C)O")
    g = mol_to_graph(mol)
    perms = automorphisms(mol)
    for p in perms:
        assert torch.equal(g.z[p], g.z)
        assert torch.equal(g.bond_type[p][:, p], g.bond_type)
    assert len({tuple(p) for p in perms.tolist()}) == perms.shape[0]


def test_automorphism_cap_keeps_identity_and_is_reproducible():
    mol = molh("CC(C)(C)C")  # neopentane: 4! * (3!)^4 = 31104 automorphisms
    full = automorphisms(mol, max_count=10**6)
    assert full.shape[0] == 31104
    a = automorphisms(mol, max_count=50)
    b = automorphisms(mol, max_count=50)
    assert a.shape == (50, 17) and torch.equal(a, b)
    assert a[0].tolist() == list(range(17))
    assert len({tuple(p) for p in a.tolist()}) == 50
    assert {tuple(p) for p in a.tolist()} <= {tuple(p) for p in full.tolist()}
    c = automorphisms(mol, max_count=50, generator=torch.Generator().manual_seed(9))
    assert not torch.equal(a, c)
    with pytest.warns(RuntimeWarning, match="enumerate_limit"):
        automorphisms(mol, max_count=10, enumerate_limit=100)


def test_heavy_only_and_action():
    mol = molh("c1ccccc1", embed=True)
    heavy = automorphisms(mol, heavy_only=True)
    assert heavy.shape == (12, 6)  # D6 acting on the ring
    perms = automorphisms(mol)
    x = mol_to_graph(mol).pos
    # act(p, x)[i] = x[p[i]] relabels the same geometry: the multiset of bond lengths is unchanged
    g = mol_to_graph(mol).bond_type > 0
    d = torch.cdist(x, x)[g].sort().values
    for p in perms[:5]:
        y = x[p]
        assert torch.allclose(torch.cdist(y, y)[g].sort().values, d, atol=1e-5)


@pytest.mark.parametrize("smiles", ["C", "CC", "C=O", "O", "CO", "C#N"])
def test_automorphism_group_matches_itertools_brute_force(smiles):
    """The whole group from the factored tables equals every permutation that keeps elements and bonds."""
    mol = molh(smiles)
    g = automorphism_group(mol)
    brute = brute_force_automorphisms(mol)
    assert g.order == len(brute) and {tuple(p) for p in g.elements().tolist()} == brute


def test_pad_automorphism_tables():
    tables = [automorphism_tables(molh(s)) for s in ("CC", "O", "C=O")]  # 8, 3 and 4 atoms
    base, classes = pad_automorphism_tables(tables, n_pad=9)
    assert base.shape == (3, 2, 9) and classes.shape == (3, 9)
    for i, (b, c) in enumerate(tables):
        p, n = b.shape
        assert torch.equal(base[i, :p, :n], b) and torch.equal(base[i, :p, n:], torch.arange(n, 9).expand(p, -1))
        assert (base[i, p:] == -1).all()
        assert torch.equal(classes[i, :n], c) and torch.equal(classes[i, n:], torch.arange(n, 9))
    assert AutomorphismGroup(base, classes).orders.tolist() == [72.0, 2.0, 2.0]
    with pytest.raises(ValueError, match="has 8 atoms"):
        pad_automorphism_tables(tables, n_pad=5)
