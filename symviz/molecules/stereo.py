"""Tetrahedral stereocentres as signed volumes, and the local inversion of a wrong centre.

A specified stereocentre ``c`` with neighbours ``(n0, n1, n2, n3)``, in the order of its bonds (the order RDKit's
chiral tags refer to), has the signed volume

    V = (p1 - p0) . ((p2 - p0) x (p3 - p0)),

positive for ``CHI_TETRAHEDRAL_CW`` and negative for ``CHI_TETRAHEDRAL_CCW`` (tests/test_stereo.py checks this
against RDKit's own perception from 3D, ``AssignStereochemistryFrom3D``, on ETKDG conformers).

Inverting one centre (:func:`invert_wrong_centres`): reflect the centre and its smallest *free branch* (the
atoms reached from one neighbour through a non-ring bond, the centre excluded) through the plane of its other
three neighbours. A reflection is an isometry and the three plane atoms stay where they are, so every bond
length and angle at the centre and inside the moved branch is kept; only torsions and contacts change, which a
short re-denoising relaxes (:func:`symviz.conformers.sample_with_stereo`). This is the tetrahedral analogue of
the mirror fix x -> -x, for conformers where only some centres came out inverted. A stereocentre whose four
bonds all lie in rings (a bridgehead) has no free branch and is not inverted.

Stereocentres inside a moved branch are mirrored with it; :func:`invert_wrong_centres` therefore re-checks every
centre and repeats, up to ``passes`` times.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["ChiralCentre", "chiral_centres", "signed_volumes", "invert_wrong_centres"]

_SIGN = {"CHI_TETRAHEDRAL_CW": 1, "CHI_TETRAHEDRAL_CCW": -1}


@dataclass(frozen=True)
class ChiralCentre:
    """One specified tetrahedral stereocentre: its ``atom``, its four ``neighbours`` in bond order, the wanted
    ``sign`` of the signed volume (+1 or -1), and the atoms moved to invert it (``branch``: the smallest free
    branch; empty when every bond of the centre is in a ring)."""

    atom: int
    neighbours: tuple[int, int, int, int]
    sign: int
    branch: tuple[int, ...]
    pivot: int  # the position in ``neighbours`` of the branch's first atom (-1: no free branch)


def _branch(mol, centre: int, start: int) -> tuple[int, ...]:
    """Atoms reached from ``start`` without passing ``centre`` (``start`` included)."""
    seen, todo = {start}, [start]
    while todo:
        a = todo.pop()
        for nb in mol.GetAtomWithIdx(a).GetNeighbors():
            j = nb.GetIdx()
            if j != centre and j not in seen:
                seen.add(j)
                todo.append(j)
    return tuple(sorted(seen))


def chiral_centres(mol) -> list[ChiralCentre]:
    """The specified tetrahedral stereocentres of ``mol`` (explicit hydrogens; RDKit's chiral tags), ordered by
    atom index. Centres with fewer than four explicit neighbours are left out (they carry no signed volume)."""
    from rdkit import Chem

    work = Chem.Mol(mol)
    specified = dict(Chem.FindMolChiralCenters(work, includeUnassigned=False, useLegacyImplementation=False))
    out = []
    for c in sorted(specified):
        atom = work.GetAtomWithIdx(c)
        sign = _SIGN.get(str(atom.GetChiralTag()))
        bonds = list(atom.GetBonds())
        if sign is None or len(bonds) != 4:
            continue
        nbs = tuple(b.GetOtherAtomIdx(c) for b in bonds)
        free = [(len(br), k, br) for k, b in enumerate(bonds) if not b.IsInRing() for br in [_branch(work, c, nbs[k])]]
        _, pivot, branch = min(free) if free else (0, -1, ())
        out.append(ChiralCentre(c, nbs, sign, branch, pivot))
    return out


def signed_volumes(coords: np.ndarray, centres: Sequence[ChiralCentre]) -> np.ndarray:
    """``(k, C)`` signed volumes ``V`` (Å^3) of ``centres`` in conformers ``coords`` ``(k, n, 3)`` (see the module
    docstring); ``V * centre.sign > 0`` where the centre is right."""
    x = np.asarray(coords, dtype=np.float64)
    if not centres:
        return np.zeros((x.shape[0], 0))
    nb = np.array([c.neighbours for c in centres])  # (C, 4)
    p = x[:, nb]  # (k, C, 4, 3)
    d = p[:, :, 1:] - p[:, :, :1]
    return np.einsum("kci,kci->kc", d[:, :, 0], np.cross(d[:, :, 1], d[:, :, 2]))


def _reflect(x: np.ndarray, centre: ChiralCentre) -> None:
    """Reflect the centre and its branch through the plane of the other three neighbours, in place ``(n, 3)``."""
    plane = [a for k, a in enumerate(centre.neighbours) if k != centre.pivot]
    p0, p1, p2 = x[plane]
    normal = np.cross(p1 - p0, p2 - p0)
    norm = np.linalg.norm(normal)
    if norm < 1e-9:  # collinear plane atoms: no plane to reflect through
        return
    normal /= norm
    moved = [centre.atom, *centre.branch]
    x[moved] -= 2.0 * ((x[moved] - p0) @ normal)[:, None] * normal


def invert_wrong_centres(
    coords: np.ndarray, centres: Sequence[ChiralCentre], passes: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """Invert every centre whose signed volume has the wrong sign, by the local reflection of the module docstring.

    Args:
        coords: ``(k, n, 3)`` conformers (not modified). centres: from :func:`chiral_centres`.
        passes: re-check and repeat up to this many times (a moved branch mirrors the centres inside it).
    Returns:
        ``(coords (k, n, 3) float64, inverted (k,) int)``: new coordinates and how many reflections each
        conformer got. Centres without a free branch are left as they are.
    """
    x = np.array(coords, dtype=np.float64, copy=True)
    inverted = np.zeros(x.shape[0], dtype=np.int64)
    movable = [c for c in centres if c.pivot >= 0]
    for j in range(x.shape[0]):
        for _ in range(passes):
            wrong = [c for c in movable if signed_volumes(x[j : j + 1], [c])[0, 0] * c.sign <= 0]
            if not wrong:
                break
            for c in wrong:
                if signed_volumes(x[j : j + 1], [c])[0, 0] * c.sign <= 0:  # an earlier move may have fixed it
                    _reflect(x[j], c)
                    inverted[j] += 1
    return x, inverted
