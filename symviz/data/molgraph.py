"""Molecular graphs as tensors: atom types, bond types, hydrogens, padded batches, and automorphisms.

Conventions (shared with :mod:`symviz.groups`): point clouds are (..., n, 3); masks are bool (..., n) with
True = real atom; a permutation ``p`` acts as ``act(p, x)[i] = x[p[i]]``.

* Atom types: one-hot over :data:`ATOM_TYPES` = (H, C, N, O, F) (QM9's elements).
* Bond types: integer adjacency over :data:`BOND_TYPES` = none 0, single 1, double 2, triple 3, aromatic 4.
* Automorphisms: graph symmetries from RDKit substructure self-matching (``uniquify=False``), i.e.
  permutations that keep every atom's element and map the bond set (with bond types) onto itself. Stereo is
  ignored (``useChirality=False``): these are symmetries of the *graph*, as in ``GetBestRMS``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "ATOM_TYPES",
    "BOND_TYPES",
    "MolGraph",
    "mol_to_graph",
    "collate_molecules",
    "automorphisms",
    "pad_automorphisms",
    "check_max_atoms",
    "automorphism_tables",
    "automorphism_group",
    "pad_automorphism_tables",
]

ATOM_TYPES = (1, 6, 7, 8, 9)
ATOM_SYMBOLS = ("H", "C", "N", "O", "F")
BOND_TYPES = ("none", "single", "double", "triple", "aromatic")
_BOND_INDEX = {"SINGLE": 1, "DOUBLE": 2, "TRIPLE": 3, "AROMATIC": 4}


@dataclass
class MolGraph:
    """One molecule. ``z`` (n,) long; ``atom_onehot`` (n, 5) float; ``bond_type`` (n, n) long symmetric;
    ``is_h`` (n,) bool; ``pos`` (n, 3) or (K, n, 3) float or None."""

    z: torch.Tensor
    atom_onehot: torch.Tensor
    bond_type: torch.Tensor
    is_h: torch.Tensor
    pos: torch.Tensor | None = None

    @property
    def n_atoms(self) -> int:
        return int(self.z.shape[0])


def check_max_atoms(n_atoms: int, max_atoms: int | None, what: str = "molecule") -> None:
    """Raise a clear ValueError when ``n_atoms > max_atoms`` (None = no limit)."""
    if max_atoms is not None and n_atoms > max_atoms:
        raise ValueError(
            f"{what} has {n_atoms} atoms but max_atoms={max_atoms}; the model was built for at most "
            f"{max_atoms} atoms. Drop the molecule, strip hydrogens, or raise max_atoms (and retrain)."
        )


def atom_onehot(z) -> torch.Tensor:
    """(n,) atomic numbers → (n, 5) one-hot over H, C, N, O, F; ValueError for other elements."""
    z = torch.as_tensor(z, dtype=torch.long)
    table = torch.full((max(ATOM_TYPES) + 1,), -1, dtype=torch.long)
    table[list(ATOM_TYPES)] = torch.arange(len(ATOM_TYPES))
    bad = (z < 0) | (z > max(ATOM_TYPES))
    idx = torch.where(bad, torch.full_like(z, -1), table[z.clamp(0, max(ATOM_TYPES))])
    if (idx < 0).any():
        raise ValueError(
            f"z: only elements {ATOM_SYMBOLS} (Z={ATOM_TYPES}) are supported, got Z={sorted(set(z[idx < 0].tolist()))}"
        )
    return torch.nn.functional.one_hot(idx, len(ATOM_TYPES)).float()


def mol_to_graph(mol, pos=None, max_atoms: int | None = None, conformers: bool = False) -> MolGraph:
    """Graph tensors for an RDKit mol (hydrogens should be explicit atoms).

    ``pos``: optional (n, 3) / (K, n, 3) array; else conformer 0 (or all conformers if ``conformers``).
    Raises ValueError when the molecule exceeds ``max_atoms`` or contains unsupported elements.
    """
    n = mol.GetNumAtoms()
    check_max_atoms(n, max_atoms)
    z = torch.tensor([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=torch.long)
    bonds = torch.zeros(n, n, dtype=torch.long)
    for b in mol.GetBonds():
        t = _BOND_INDEX.get(str(b.GetBondType()), 1)
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        bonds[i, j] = bonds[j, i] = t
    if pos is None and mol.GetNumConformers():
        confs = [c.GetPositions() for c in mol.GetConformers()]
        pos = np.stack(confs) if conformers else confs[0]
    p = None if pos is None else torch.as_tensor(np.asarray(pos), dtype=torch.float32)
    return MolGraph(z=z, atom_onehot=atom_onehot(z), bond_type=bonds, is_h=z == 1, pos=p)


def collate_molecules(graphs: Sequence[MolGraph], max_atoms: int | None = None, pos=None) -> dict:
    """Pad a list of graphs to a batch.

    Returns a dict with ``z`` (B, n) long (0 = padding), ``atom_onehot`` (B, n, 5), ``bond_type`` (B, n, n),
    ``is_h`` (B, n), ``mask`` (B, n) bool (True = real atom), ``n_atoms`` (B,), and ``pos`` (B, n, 3) if every
    graph (or the ``pos`` list) has single-conformer positions; padding positions are 0. ``n`` is the largest
    molecule, or ``max_atoms`` when given (ValueError if a molecule is larger).
    """
    if not graphs:
        raise ValueError("graphs: need at least one molecule to collate")
    sizes = [g.n_atoms for g in graphs]
    for i, s in enumerate(sizes):
        check_max_atoms(s, max_atoms, what=f"molecule {i} of the batch")
    n = max_atoms if max_atoms is not None else max(sizes)
    b = len(graphs)
    out = {
        "z": torch.zeros(b, n, dtype=torch.long),
        "atom_onehot": torch.zeros(b, n, len(ATOM_TYPES)),
        "bond_type": torch.zeros(b, n, n, dtype=torch.long),
        "is_h": torch.zeros(b, n, dtype=torch.bool),
        "mask": torch.zeros(b, n, dtype=torch.bool),
        "n_atoms": torch.tensor(sizes, dtype=torch.long),
    }
    poss = pos if pos is not None else [g.pos for g in graphs]
    have_pos = all(p is not None and torch.as_tensor(p).dim() == 2 for p in poss)
    if have_pos:
        out["pos"] = torch.zeros(b, n, 3)
    for i, (g, s) in enumerate(zip(graphs, sizes)):
        out["z"][i, :s] = g.z
        out["atom_onehot"][i, :s] = g.atom_onehot
        out["bond_type"][i, :s, :s] = g.bond_type
        out["is_h"][i, :s] = g.is_h
        out["mask"][i, :s] = True
        if have_pos:
            out["pos"][i, :s] = torch.as_tensor(poss[i], dtype=torch.float32)
    return out


def automorphisms(
    mol,
    max_count: int = 1024,
    enumerate_limit: int = 100_000,
    generator: torch.Generator | None = None,
    heavy_only: bool = False,
) -> torch.Tensor:
    """Graph automorphisms as a LongTensor (P, n), identity first; usable by ``Permutations(perms)``.

    Each row ``p`` satisfies z[p[i]] == z[i] and bond_type[p[i], p[j]] == bond_type[i, j], so
    ``act(p, x)[i] = x[p[i]]`` turns a conformer into an equivalent one. Enumeration uses
    ``mol.GetSubstructMatches(mol, uniquify=False, useChirality=False)``.

    **Cap.** Explicit hydrogens multiply the count (neopentane with H: 4!·(3!)^4 = 31,104). At most
    ``enumerate_limit`` matches are enumerated; if more than ``max_count`` are found, the identity is kept
    and ``max_count - 1`` others are drawn uniformly without replacement with ``generator`` (default: a fixed
    ``torch.Generator().manual_seed(0)``, so results are reproducible). If the enumeration limit itself is
    reached, the subsample is uniform over the enumerated matches only (not the whole group) and a
    ``RuntimeWarning`` says so. ``heavy_only``: enumerate on the H-stripped graph (indices then refer to the
    heavy-atom graph).
    """
    from rdkit import Chem

    if max_count < 1:
        raise ValueError(f"max_count: must be >= 1, got {max_count}")
    m = Chem.RemoveHs(mol) if heavy_only else mol
    n = m.GetNumAtoms()
    matches = m.GetSubstructMatches(m, uniquify=False, useChirality=False, maxMatches=int(enumerate_limit))
    ident = tuple(range(n))
    perms = [ident] + [t for t in matches if t != ident]
    if len(matches) >= enumerate_limit:
        warnings.warn(
            f"automorphisms: enumeration stopped at enumerate_limit={enumerate_limit}; the returned "
            f"{min(max_count, len(perms))} permutations are a subsample of the first {len(perms)} found only",
            RuntimeWarning,
            stacklevel=2,
        )
    out = torch.tensor(perms, dtype=torch.long).reshape(-1, n)
    if out.shape[0] > max_count:
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        pick = torch.randperm(out.shape[0] - 1, generator=gen)[: max_count - 1] + 1
        out = torch.cat([out[:1], out[pick.sort().values]], dim=0)
    return out


def pad_automorphisms(perms_list: Sequence[torch.Tensor], n_pad: int | None = None) -> torch.Tensor:
    """Stack per-molecule automorphisms (P_b, n_b) into (B, P_max, n_pad) for a padded batch.

    Each row is extended by the identity on the padding atoms (i ↦ i for i ≥ n_b); molecules with fewer than
    P_max automorphisms get rows of -1, which ``Permutations`` treats as invalid (padding) elements.
    """
    if not perms_list:
        raise ValueError("perms_list: need at least one molecule")
    n_max = max(int(p.shape[-1]) for p in perms_list)
    n_pad = n_max if n_pad is None else int(n_pad)
    check_max_atoms(n_max, n_pad, what="a molecule's automorphism table")
    p_max = max(int(p.shape[0]) for p in perms_list)
    out = torch.full((len(perms_list), p_max, n_pad), -1, dtype=torch.long)
    for b, p in enumerate(perms_list):
        p = torch.as_tensor(p, dtype=torch.long)
        n = p.shape[-1]
        out[b, : p.shape[0], :n] = p
        out[b, : p.shape[0], n:] = torch.arange(n, n_pad)
    return out


def automorphism_tables(mol) -> tuple[torch.Tensor, torch.Tensor]:
    """The tables of :class:`symviz.groups.AutomorphismGroup` for an RDKit mol with explicit hydrogens.

    Returns ``(base, classes)``: ``base`` ``(P, n)`` long, one full permutation per automorphism of the
    heavy-atom graph (elements and bond types kept, stereo ignored as in ``GetBestRMS``; identity first), its
    hydrogens matched in index order; ``classes`` ``(n,)`` long, the swap class of each atom (heavy atom ``v``:
    ``v``; a hydrogen: the smallest hydrogen index on its heavy atom). Every automorphism of the full graph is
    ``base[s][tau]`` for exactly one row ``s`` and one within-class permutation ``tau``.

    Raises ValueError for a hydrogen that is not bonded to exactly one heavy atom (e.g. H2).
    """
    n = mol.GetNumAtoms()
    heavy = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]
    if not heavy:
        raise ValueError("automorphism_tables: the molecule has no heavy atom")
    hs_of = {v: [] for v in heavy}
    for a in mol.GetAtoms():
        if a.GetAtomicNum() == 1:
            nbrs = [b.GetIdx() for b in a.GetNeighbors() if b.GetAtomicNum() > 1]
            if len(nbrs) != 1 or a.GetDegree() != 1:
                raise ValueError(
                    f"automorphism_tables: hydrogen {a.GetIdx()} is not bonded to exactly one heavy atom; "
                    f"only molecules whose hydrogens are terminal on heavy atoms are supported"
                )
            hs_of[nbrs[0]].append(a.GetIdx())
    heavy_mol = _heavy_subgraph(mol, heavy)
    matches = heavy_mol.GetSubstructMatches(heavy_mol, uniquify=False, useChirality=False, maxMatches=1_000_000)
    classes = list(range(n))
    for hs in hs_of.values():
        for h in hs:
            classes[h] = min(hs)
    rows = []
    for m in matches:  # m[i] = image (in the heavy graph) of heavy atom i
        p = list(range(n))
        ok = True
        for i, j in enumerate(m):
            v, w = heavy[i], heavy[j]
            p[v] = w
            if len(hs_of[v]) != len(hs_of[w]):
                ok = False
                break
            for h_v, h_w in zip(hs_of[v], hs_of[w]):
                p[h_v] = h_w
        if ok:
            rows.append(tuple(p))
    ident = tuple(range(n))
    rows = [ident] + sorted(set(rows) - {ident})
    return torch.tensor(rows, dtype=torch.long), torch.tensor(classes, dtype=torch.long)


def _heavy_subgraph(mol, heavy: list[int]):
    """The heavy-atom graph (atom ``i`` = ``heavy[i]``), bond types kept, without re-sanitising."""
    from rdkit import Chem

    rw = Chem.RWMol(mol)
    for idx in sorted({a.GetIdx() for a in mol.GetAtoms()} - set(heavy), reverse=True):
        rw.RemoveAtom(idx)
    return rw.GetMol()


def automorphism_group(mol):
    """:class:`symviz.groups.AutomorphismGroup` of an RDKit mol with explicit hydrogens (the whole group)."""
    from symviz.groups import AutomorphismGroup

    return AutomorphismGroup(*automorphism_tables(mol))


def pad_automorphism_tables(tables, n_pad: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack per-molecule ``(base (P_b, n_b), classes (n_b,))`` into ``(B, P_max, n_pad)`` and ``(B, n_pad)``.

    Bases are padded as in :func:`pad_automorphisms`; padding atoms get classes of their own (their index).
    """
    tables = list(tables)
    base = pad_automorphisms([b for b, _ in tables], n_pad)
    n = base.shape[-1]
    classes = torch.arange(n).repeat(len(tables), 1)
    for i, (_, c) in enumerate(tables):
        classes[i, : c.shape[0]] = c
    return base, classes
