"""What a conformer model is told about a molecule: node and pair features from the RDKit graph, padded.

One function, :func:`featurize`, turns an RDKit molecule with explicit hydrogens into tensors; training
(:mod:`symviz.molecules.training`), sampling (:mod:`symviz.conformers`) and the commands all use it, so a model
sees the same features everywhere. Atom order is the RDKit molecule's order, everywhere.

Node features (:data:`NODE_FEATURES`, 28 columns): element one-hot (H C N O F), aromatic, hybridisation
(SP, SP2, SP3, other), formal charge (-1, 0, +1), degree (1, 2, 3, 4, other), attached hydrogens
(0, 1, 2, >= 3), in a ring, chiral tag (CW, CCW, none) and CIP label (R, S).

Pair features (:data:`PAIR_FEATURES`, 11 columns, for every ordered atom pair ``i != j``; the diagonal is 0):
bond type one-hot (none, single, double, triple, aromatic), shortest-path distance in bonds (1, 2, 3, >= 4;
disconnected pairs count as >= 4), both atoms in one ring, and a conjugated bond.

An E(3)-equivariant network cannot use the chiral tag or CIP columns (a mirror image has the same distances);
a network that sees raw coordinates can (:class:`symviz.nets.AtomTransformer`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from symviz.data.molgraph import ATOM_SYMBOLS, ATOM_TYPES, automorphism_tables, check_max_atoms

__all__ = [
    "NODE_FEATURES",
    "PAIR_FEATURES",
    "NODE_DIM",
    "PAIR_DIM",
    "MolFeatures",
    "featurize",
    "collate_features",
    "check_explicit_hydrogens",
]

_HYBRID = ("SP", "SP2", "SP3")
NODE_FEATURES = (
    *(f"element={s}" for s in ATOM_SYMBOLS),
    "aromatic",
    *(f"hybridization={h}" for h in _HYBRID),
    "hybridization=other",
    "charge=-1",
    "charge=0",
    "charge=+1",
    *(f"degree={d}" for d in (1, 2, 3, 4)),
    "degree=other",
    *(f"num_hs={k}" for k in (0, 1, 2)),
    "num_hs>=3",
    "in_ring",
    "chiral_tag=CW",
    "chiral_tag=CCW",
    "chiral_tag=none",
    "cip=R",
    "cip=S",
)
PAIR_FEATURES = (
    "bond=none",
    "bond=single",
    "bond=double",
    "bond=triple",
    "bond=aromatic",
    "path=1",
    "path=2",
    "path=3",
    "path>=4",
    "same_ring",
    "conjugated",
)
NODE_DIM, PAIR_DIM = len(NODE_FEATURES), len(PAIR_FEATURES)
_BOND = {"SINGLE": 1, "DOUBLE": 2, "TRIPLE": 3, "AROMATIC": 4}


@dataclass
class MolFeatures:
    """One molecule's tensors. ``z`` ``(n,)`` long; ``node`` ``(n, NODE_DIM)`` float32; ``pair``
    ``(n, n, PAIR_DIM)`` float32; ``adjacency`` ``(n, n)`` bool (the bond graph); ``aut_base`` ``(P, n)`` and
    ``aut_classes`` ``(n,)`` long, the tables of its :class:`symviz.groups.AutomorphismGroup`."""

    z: torch.Tensor
    node: torch.Tensor
    pair: torch.Tensor
    adjacency: torch.Tensor
    aut_base: torch.Tensor
    aut_classes: torch.Tensor

    @property
    def n_atoms(self) -> int:
        return int(self.z.shape[0])


def check_explicit_hydrogens(mol, what: str = "mol") -> None:
    """ValueError unless every hydrogen is an explicit atom (``Chem.AddHs(mol)`` fixes that)."""
    implicit = sum(a.GetNumImplicitHs() for a in mol.GetAtoms())
    if implicit:
        raise ValueError(
            f"{what} has {implicit} implicit hydrogen(s); conformer models place every atom, so pass "
            f"Chem.AddHs(mol) (hydrogens as explicit atoms)"
        )


def _node_row(atom, cip: dict) -> list[float]:
    z = atom.GetAtomicNum()
    if z not in ATOM_TYPES:
        raise ValueError(f"element {atom.GetSymbol()} (atom {atom.GetIdx()}) is not supported; only {ATOM_SYMBOLS}")
    hyb = str(atom.GetHybridization())
    charge = atom.GetFormalCharge()
    if charge not in (-1, 0, 1):
        raise ValueError(f"atom {atom.GetIdx()} has formal charge {charge}; only -1, 0 and +1 are encoded")
    deg = atom.GetDegree()
    hs = atom.GetTotalNumHs(includeNeighbors=True)
    tag = str(atom.GetChiralTag())
    row = [float(z == t) for t in ATOM_TYPES]
    row.append(float(atom.GetIsAromatic()))
    row += [float(hyb == h) for h in _HYBRID] + [float(hyb not in _HYBRID)]
    row += [float(charge == c) for c in (-1, 0, 1)]
    row += [float(deg == d) for d in (1, 2, 3, 4)] + [float(deg not in (1, 2, 3, 4))]
    row += [float(hs == k) for k in (0, 1, 2)] + [float(hs >= 3)]
    row.append(float(atom.IsInRing()))
    cw, ccw = tag == "CHI_TETRAHEDRAL_CW", tag == "CHI_TETRAHEDRAL_CCW"
    row += [float(cw), float(ccw), float(not (cw or ccw))]
    label = cip.get(atom.GetIdx())
    row += [float(label == "R"), float(label == "S")]
    return row


def featurize(mol, max_atoms: int | None = None) -> MolFeatures:
    """Node and pair features, bond graph and automorphism tables of an RDKit mol with explicit hydrogens.

    Args:
        mol: ``rdkit.Chem.Mol`` with explicit hydrogens (``Chem.AddHs``); its stereo (chiral tags) is read
            as given. Not modified.
        max_atoms: raise ValueError above this many atoms (None = no limit).
    Raises ValueError (naming the problem) for implicit hydrogens, elements outside H C N O F, formal
    charges outside -1..+1 or too many atoms.
    """
    from rdkit import Chem

    check_max_atoms(mol.GetNumAtoms(), max_atoms)
    check_explicit_hydrogens(mol)
    work = Chem.Mol(mol)
    cip = dict(Chem.FindMolChiralCenters(work, includeUnassigned=False, useLegacyImplementation=False))
    n = work.GetNumAtoms()
    node = torch.tensor([_node_row(a, cip) for a in work.GetAtoms()], dtype=torch.float32).reshape(n, NODE_DIM)
    pair = torch.zeros(n, n, PAIR_DIM)
    bond = torch.zeros(n, n, dtype=torch.long)
    conj = torch.zeros(n, n)
    for b in work.GetBonds():
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        bond[i, j] = bond[j, i] = _BOND.get(str(b.GetBondType()), 1)
        conj[i, j] = conj[j, i] = float(b.GetIsConjugated())
    off = ~torch.eye(n, dtype=torch.bool)
    pair[..., :5] = torch.nn.functional.one_hot(bond, 5).float() * off[..., None]
    dist = torch.as_tensor(Chem.GetDistanceMatrix(work), dtype=torch.float32)  # 1e8 for disconnected pairs
    for k, d in enumerate((1, 2, 3)):
        pair[..., 5 + k] = (dist == d).float()
    pair[..., 8] = ((dist >= 4) & off).float()
    ring = torch.zeros(n, n, dtype=torch.bool)
    for atoms in work.GetRingInfo().AtomRings():
        idx = torch.tensor(atoms)
        ring[idx[:, None], idx[None, :]] = True
    pair[..., 9] = (ring & off).float()
    pair[..., 10] = conj
    base, classes = automorphism_tables(work)
    z = torch.tensor([a.GetAtomicNum() for a in work.GetAtoms()], dtype=torch.long)
    return MolFeatures(z=z, node=node, pair=pair, adjacency=bond > 0, aut_base=base, aut_classes=classes)


def collate_features(feats: Sequence[MolFeatures], n_pad: int | None = None) -> dict[str, torch.Tensor]:
    """Pad molecules to one batch.

    Returns ``node`` ``(B, n, NODE_DIM)``, ``pair`` ``(B, n, n, PAIR_DIM)``, ``mask`` ``(B, n)`` bool,
    ``z`` ``(B, n)`` (0 = padding), ``n_atoms`` ``(B,)``, ``aut_base`` ``(B, P, n)`` (-1 rows pad) and
    ``aut_classes`` ``(B, n)``; ``n`` is the largest molecule or ``n_pad``.
    """
    from symviz.data.molgraph import pad_automorphism_tables

    if not feats:
        raise ValueError("collate_features: need at least one molecule")
    n = max(f.n_atoms for f in feats) if n_pad is None else int(n_pad)
    for i, f in enumerate(feats):
        check_max_atoms(f.n_atoms, n, what=f"molecule {i} of the batch")
    b = len(feats)
    out = {
        "node": torch.zeros(b, n, NODE_DIM),
        "pair": torch.zeros(b, n, n, PAIR_DIM),
        "mask": torch.zeros(b, n, dtype=torch.bool),
        "z": torch.zeros(b, n, dtype=torch.long),
        "n_atoms": torch.tensor([f.n_atoms for f in feats], dtype=torch.long),
    }
    for i, f in enumerate(feats):
        a = f.n_atoms
        out["node"][i, :a] = f.node
        out["pair"][i, :a, :a] = f.pair
        out["mask"][i, :a] = True
        out["z"][i, :a] = f.z
    out["aut_base"], out["aut_classes"] = pad_automorphism_tables([(f.aut_base, f.aut_classes) for f in feats], n)
    return out
