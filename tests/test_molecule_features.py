"""symviz.molecules.features on molecules whose features are known by hand (ethanol, acetic acid, benzene,
cyclopropane, L/D-alanine), path lengths against an independent Floyd-Warshall on the bond graph, padded
batches, and bad input."""

from __future__ import annotations

import pytest
import torch
from rdkit import Chem

from symviz.data.molgraph import automorphism_tables
from symviz.molecules import NODE_DIM, NODE_FEATURES, PAIR_DIM, PAIR_FEATURES, collate_features, featurize

torch.set_num_threads(1)

NODE = {name: i for i, name in enumerate(NODE_FEATURES)}
PAIR = {name: i for i, name in enumerate(PAIR_FEATURES)}
# one-hot groups: exactly one column of each is set for every atom / every off-diagonal pair
NODE_GROUPS = ("element=", "hybridization", "charge", "degree", "num_hs", "chiral_tag")
PAIR_GROUPS = ("bond=", "path")


def molh(smiles):
    return Chem.AddHs(Chem.MolFromSmiles(smiles))


def on(f, i, prefix):
    """The names of atom i's set columns starting with prefix."""
    return [name for name, j in NODE.items() if name.startswith(prefix) and f.node[i, j] == 1]


def pair_on(f, i, j, prefix):
    return [name for name, k in PAIR.items() if name.startswith(prefix) and f.pair[i, j, k] == 1]


def floyd_warshall(adj: torch.Tensor) -> torch.Tensor:
    n = adj.shape[0]
    d = torch.full((n, n), float("inf"))
    d[adj] = 1.0
    d.fill_diagonal_(0.0)
    for k in range(n):
        d = torch.minimum(d, d[:, k : k + 1] + d[k : k + 1, :])
    return d


def test_feature_names_and_sizes():
    assert NODE_DIM == len(NODE_FEATURES) == 28 and PAIR_DIM == len(PAIR_FEATURES) == 11
    assert len(set(NODE_FEATURES)) == 28 and len(set(PAIR_FEATURES)) == 11


@pytest.mark.parametrize("smiles", ["CCO", "CC(=O)O", "c1ccccc1", "C1CC1", "C[C@H](N)C(=O)O", "C.O", "OC1=CC=NC=C1F"])
def test_generic_invariants(smiles):
    mol = molh(smiles)
    f = featurize(mol)
    n = mol.GetNumAtoms()
    assert f.node.shape == (n, NODE_DIM) and f.pair.shape == (n, n, PAIR_DIM) and f.node.dtype == torch.float32
    assert f.z.tolist() == [a.GetAtomicNum() for a in mol.GetAtoms()]  # RDKit atom order
    assert torch.equal(f.adjacency, torch.as_tensor(Chem.GetAdjacencyMatrix(mol)) > 0)
    assert f.pair.diagonal(0, 0, 1).abs().max() == 0  # no self-pair features
    assert torch.equal(f.pair, f.pair.transpose(0, 1))
    assert set(f.node.unique().tolist()) <= {0.0, 1.0} and set(f.pair.unique().tolist()) <= {0.0, 1.0}
    for prefix in NODE_GROUPS:
        cols = [j for name, j in NODE.items() if name.startswith(prefix)]
        assert torch.equal(f.node[:, cols].sum(1), torch.ones(n)), prefix
    off = ~torch.eye(n, dtype=torch.bool)
    for prefix in PAIR_GROUPS:
        cols = [j for name, j in PAIR.items() if name.startswith(prefix)]
        assert torch.equal(f.pair[..., cols].sum(-1), off.float()), prefix
    # bonds: "none" exactly off the bond graph; path=1 exactly on it
    assert torch.equal(f.pair[..., PAIR["bond=none"]] == 1, off & ~f.adjacency)
    assert torch.equal(f.pair[..., PAIR["path=1"]] == 1, f.adjacency)
    # shortest paths against an independent Floyd-Warshall (disconnected pairs: ">= 4")
    d = floyd_warshall(f.adjacency)
    for k, name in ((1, "path=1"), (2, "path=2"), (3, "path=3")):
        assert torch.equal(f.pair[..., PAIR[name]] == 1, d == k), name
    assert torch.equal(f.pair[..., PAIR["path>=4"]] == 1, d >= 4)
    # degree, hydrogen count and ring membership straight from the bond graph
    is_h = f.z == 1
    deg = f.adjacency.sum(1)
    hs = (f.adjacency & is_h[None]).sum(1)
    for i in range(n):
        assert on(f, i, "degree") == [f"degree={int(deg[i])}"]
        assert on(f, i, "num_hs") == [f"num_hs={int(hs[i])}" if hs[i] < 3 else "num_hs>=3"]
    # the automorphism tables are those of automorphism_tables
    base, classes = automorphism_tables(mol)
    assert torch.equal(f.aut_base, base) and torch.equal(f.aut_classes, classes)


def test_ethanol():
    f = featurize(molh("CCO"))  # C0 C1 O2, H3-5 on C0, H6-7 on C1, H8 on O2
    assert [on(f, i, "element")[0] for i in range(9)] == ["element=C"] * 2 + ["element=O"] + ["element=H"] * 6
    assert [on(f, i, "degree")[0] for i in range(4)] == ["degree=4", "degree=4", "degree=2", "degree=1"]
    assert [on(f, i, "num_hs")[0] for i in range(4)] == ["num_hs>=3", "num_hs=2", "num_hs=1", "num_hs=0"]
    assert [on(f, i, "hybridization")[0] for i in range(4)] == ["hybridization=SP3"] * 3 + ["hybridization=other"]
    assert f.node[:, NODE["aromatic"]].sum() == 0 and f.node[:, NODE["in_ring"]].sum() == 0
    assert (f.node[:, NODE["charge=0"]] == 1).all() and (f.node[:, NODE["chiral_tag=none"]] == 1).all()
    assert pair_on(f, 0, 1, "bond") == ["bond=single"] and pair_on(f, 0, 2, "path") == ["path=2"]
    assert pair_on(f, 3, 2, "path") == ["path=3"] and pair_on(f, 6, 8, "path") == ["path=3"]  # H-C-C-O, H-C-O-H
    assert pair_on(f, 3, 8, "path") == ["path>=4"] and pair_on(f, 3, 8, "bond") == ["bond=none"]  # H-C-C-O-H
    assert f.pair[..., PAIR["conjugated"]].sum() == 0 and f.pair[..., PAIR["same_ring"]].sum() == 0


def test_acetic_acid_double_bond_and_conjugation():
    f = featurize(molh("CC(=O)O"))  # C0 C1 O2(=) O3(H)
    assert pair_on(f, 1, 2, "bond") == ["bond=double"] and pair_on(f, 1, 3, "bond") == ["bond=single"]
    conj = f.pair[..., PAIR["conjugated"]]
    assert conj[1, 2] == 1 and conj[1, 3] == 1  # the carboxyl C=O and C-O are conjugated
    assert conj[0, 1] == 0 and conj.sum() == 4  # the methyl C-C is not; nothing else is
    assert on(f, 1, "hybridization") == ["hybridization=SP2"] and on(f, 0, "hybridization") == ["hybridization=SP3"]
    assert on(f, 2, "degree") == ["degree=1"] and on(f, 2, "num_hs") == ["num_hs=0"]


def test_benzene_aromatic_ring_and_paths():
    f = featurize(molh("c1ccccc1"))  # C0..C5 around the ring, H(6 + i) on C(i)
    assert (f.node[:6, NODE["aromatic"]] == 1).all() and (f.node[6:, NODE["aromatic"]] == 0).all()
    assert (f.node[:6, NODE["in_ring"]] == 1).all() and (f.node[6:, NODE["in_ring"]] == 0).all()
    assert all(on(f, i, "hybridization") == ["hybridization=SP2"] for i in range(6))
    for i in range(6):
        assert pair_on(f, i, (i + 1) % 6, "bond") == ["bond=aromatic"]
        assert pair_on(f, i, (i + 1) % 6, "path") == ["path=1"]  # ortho
        assert pair_on(f, i, (i + 2) % 6, "path") == ["path=2"]  # meta
        assert pair_on(f, i, (i + 3) % 6, "path") == ["path=3"]  # para
        assert pair_on(f, 6 + i, 6 + (i + 3) % 6, "path") == ["path>=4"]  # H to para H: 5 bonds
        assert pair_on(f, 6 + i, 6 + (i + 1) % 6, "path") == ["path=3"]  # H to ortho H
        assert pair_on(f, i, 6 + i, "bond") == ["bond=single"]
    same = f.pair[..., PAIR["same_ring"]]
    assert same[:6, :6].sum() == 30 and same[6:].sum() == 0 and same[:, 6:].sum() == 0
    assert f.pair[:6, :6, PAIR["conjugated"]].sum() == 12  # the 6 ring bonds, both directions


def test_cyclopropane_ring():
    f = featurize(molh("C1CC1"))
    same = f.pair[..., PAIR["same_ring"]]
    assert torch.equal(same[:3, :3], 1 - torch.eye(3)) and same.sum() == 6
    assert (f.pair[:3, :3, PAIR["path=1"]] == 1 - torch.eye(3)).all()
    assert (f.node[:3, NODE["in_ring"]] == 1).all() and (f.node[:3, NODE["aromatic"]] == 0).all()


def test_alanine_enantiomers_differ_in_chiral_tag_and_cip():
    lf, df = featurize(molh("C[C@H](N)C(=O)O")), featurize(molh("C[C@@H](N)C(=O)O"))
    for smiles, f, want in (("C[C@H](N)C(=O)O", lf, "S"), ("C[C@@H](N)C(=O)O", df, "R")):  # L-Ala is (S)
        mol = molh(smiles)
        centres = dict(Chem.FindMolChiralCenters(mol))
        assert centres == {1: want}
        assert on(f, 1, "cip") == [f"cip={want}"]
        assert f.node[[i for i in range(f.n_atoms) if i != 1]][:, [NODE["cip=R"], NODE["cip=S"]]].sum() == 0
        tag = str(mol.GetAtomWithIdx(1).GetChiralTag())
        assert on(f, 1, "chiral_tag") == [
            {"CHI_TETRAHEDRAL_CW": "chiral_tag=CW", "CHI_TETRAHEDRAL_CCW": "chiral_tag=CCW"}[tag]
        ]
    assert on(lf, 1, "chiral_tag") != on(df, 1, "chiral_tag")
    # everything else is the same graph: only the chirality columns differ
    chiral_cols = [NODE[k] for k in ("chiral_tag=CW", "chiral_tag=CCW", "cip=R", "cip=S")]
    keep = [j for j in range(NODE_DIM) if j not in chiral_cols]
    assert torch.equal(lf.node[:, keep], df.node[:, keep]) and torch.equal(lf.pair, df.pair)
    # an unspecified centre has no tag and no CIP label
    u = featurize(molh("CC(N)C(=O)O"))
    assert on(u, 1, "chiral_tag") == ["chiral_tag=none"] and on(u, 1, "cip") == []


def test_formal_charges():
    f = featurize(molh("C[NH3+]"))
    assert on(f, 1, "charge") == ["charge=+1"] and on(f, 1, "num_hs") == ["num_hs>=3"]
    g = featurize(molh("CC(=O)[O-]"))
    assert on(g, 3, "charge") == ["charge=-1"] and on(g, 2, "charge") == ["charge=0"]


def test_featurize_does_not_modify_the_molecule():
    mol = molh("C[C@H](N)C(=O)O")
    before = Chem.MolToMolBlock(mol)
    featurize(mol)
    assert Chem.MolToMolBlock(mol) == before


def test_collate_pads_with_zeros():
    mols = [molh(s) for s in ("CCO", "c1ccccc1", "O")]
    feats = [featurize(m) for m in mols]
    b = collate_features(feats)
    sizes = [9, 12, 3]
    assert b["node"].shape == (3, 12, NODE_DIM) and b["pair"].shape == (3, 12, 12, PAIR_DIM)
    assert b["mask"].sum(1).tolist() == sizes and b["n_atoms"].tolist() == sizes
    p_max = max(f.aut_base.shape[0] for f in feats)
    assert b["aut_base"].shape == (3, p_max, 12) and b["aut_classes"].shape == (3, 12)
    for i, (f, n) in enumerate(zip(feats, sizes)):
        assert torch.equal(b["node"][i, :n], f.node) and torch.equal(b["pair"][i, :n, :n], f.pair)
        assert torch.equal(b["z"][i, :n], f.z) and (b["z"][i, n:] == 0).all()
        assert (b["node"][i, n:] == 0).all() and (b["pair"][i, n:] == 0).all() and (b["pair"][i, :, n:] == 0).all()
        assert b["mask"][i, :n].all() and not b["mask"][i, n:].any()
        p = f.aut_base.shape[0]
        assert torch.equal(b["aut_base"][i, :p, :n], f.aut_base)
        assert torch.equal(b["aut_base"][i, :p, n:], torch.arange(n, 12).expand(p, -1))  # padding fixed
        assert (b["aut_base"][i, p:] == -1).all()
        assert torch.equal(b["aut_classes"][i, :n], f.aut_classes)
        assert torch.equal(b["aut_classes"][i, n:], torch.arange(n, 12))  # padding: a class each
    wide = collate_features(feats, n_pad=15)
    assert wide["node"].shape == (3, 15, NODE_DIM) and wide["aut_base"].shape[-1] == 15
    with pytest.raises(ValueError, match="molecule 1 of the batch has 12 atoms"):
        collate_features(feats, n_pad=10)
    with pytest.raises(ValueError, match="at least one"):
        collate_features([])


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="AddHs"):
        featurize(Chem.MolFromSmiles("CCO"))
    with pytest.raises(ValueError, match="element Cl"):
        featurize(molh("CCCl"))
    with pytest.raises(ValueError, match="formal charge 2"):
        featurize(molh("C[N+2]C"))
    with pytest.raises(ValueError, match="max_atoms=5"):
        featurize(molh("CCO"), max_atoms=5)
