"""QM9 from the ``qm9pack`` wheel: SMILES + B3LYP geometries as RDKit molecules with stereo from 3D.

``qm9pack`` (MIT, R. Ramakrishnan) ships the QM9 CSVs (130,831 molecules) inside its wheel. Two traps
(docs/data.md#qm9pack):

1. ``import qm9pack`` fails with current setuptools (it imports ``pkg_resources``), so the CSVs are located
   through :mod:`importlib.metadata` and the package is **never imported**.
2. Its SMILES carry no stereo. The B3LYP coordinates are mapped onto the SMILES graph
   (``rdDetermineBonds.DetermineConnectivity`` + an element-only "skeleton" substructure match: every bond
   single, no aromaticity, no charges) and stereo is then assigned with ``Chem.AssignStereochemistryFrom3D``.

Molecules that cannot be built are *counted skips* (see :data:`FAILURE_REASONS`), never crashes.
``qm9pack`` is an optional build-time dependency (extra ``[data]``); nothing else in symviz needs it.
"""

from __future__ import annotations

import ast
import csv
import importlib.metadata
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rdkit import Chem, RDLogger
from rdkit.Chem import rdDetermineBonds
from rdkit.Geometry import Point3D

__all__ = [
    "FAILURE_REASONS",
    "QM9Record",
    "qm9_csv_paths",
    "iter_qm9_records",
    "read_qm9_records",
    "mol_from_qm9_record",
    "build_qm9_mols",
]

#: Reasons a QM9 row can be skipped by :func:`mol_from_qm9_record`.
FAILURE_REASONS = (
    "unparsable_smiles",  # RDKit cannot parse the SMILES
    "bad_row",  # Elements/XYZ_Ang missing or inconsistent
    "element_mismatch",  # the SMILES (with H) and the XYZ have different element counts
    "connectivity_failed",  # DetermineConnectivity raised
    "connectivity_mismatch",  # the distance-based graph of the DFT geometry differs from the SMILES graph
    "stereo_failed",  # AssignStereochemistryFrom3D raised
)


@dataclass(frozen=True)
class QM9Record:
    """One row of the qm9pack CSVs. ``xyz`` is (N, 3) float64 in Å, ``elements`` length-N symbols."""

    index: int
    smiles: str
    elements: tuple[str, ...]
    xyz: np.ndarray


def qm9_csv_paths() -> list[Path]:
    """Paths of ``qm9_part{1,2,3}.csv`` inside the installed ``qm9pack`` wheel (without importing it).

    Raises ``ImportError`` with the install command when ``qm9pack`` is not installed.
    """
    try:
        files = importlib.metadata.files("qm9pack")
    except importlib.metadata.PackageNotFoundError as exc:
        raise ImportError(
            "qm9pack is not installed; it is only needed to rebuild the offline QM9 data. "
            "Install it with `pip install -e .[data]` (or `pip install qm9pack`)."
        ) from exc
    paths = sorted(Path(f.locate()) for f in (files or []) if f.name.startswith("qm9_part") and f.name.endswith(".csv"))
    if not paths:
        raise ImportError("qm9pack is installed but ships no qm9_part*.csv files; reinstall qm9pack.")
    return paths


def _parse_list(text: str):
    """Parse a list string such as "['C','H']" or "[[0.1,0.2,0.3]]" safely (json, then literal_eval)."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return ast.literal_eval(text)


def _record_from_row(row: dict) -> QM9Record:
    elements = tuple(str(e) for e in _parse_list(row["Elements"]))
    xyz = np.asarray(_parse_list(row["XYZ_Ang"]), dtype=np.float64).reshape(-1, 3)
    return QM9Record(int(row["Index"]), row["SMILES"], elements, xyz)


def iter_qm9_records(paths: Iterable[Path] | None = None, *, skipped: Counter | None = None) -> Iterator[QM9Record]:
    """Yield :class:`QM9Record` per CSV row; unparsable rows are counted in ``skipped['bad_row']``."""
    csv.field_size_limit(1 << 30)
    for path in paths if paths is not None else qm9_csv_paths():
        with open(path, newline="") as fh:
            for row in csv.DictReader(fh):
                try:
                    yield _record_from_row(row)
                except (KeyError, ValueError, SyntaxError, TypeError):
                    if skipped is not None:
                        skipped["bad_row"] += 1


def read_qm9_records(indices: Iterable[int] | None = None, paths=None) -> dict[int, QM9Record]:
    """Read records into ``{qm9_index: record}``, restricted to ``indices`` if given (~20 s for all)."""
    wanted = None if indices is None else set(int(i) for i in indices)
    out = {}
    for rec in iter_qm9_records(paths):
        if wanted is None or rec.index in wanted:
            out[rec.index] = rec
    return out


def _skeleton(mol: Chem.Mol) -> Chem.Mol:
    """Element-only copy: all bonds single, no aromaticity, charges or radicals (unsanitized)."""
    rw = Chem.RWMol(mol)
    for atom in rw.GetAtoms():
        atom.SetIsAromatic(False)
        atom.SetFormalCharge(0)
        atom.SetNumRadicalElectrons(0)
        atom.SetNoImplicit(True)
        atom.SetNumExplicitHs(0)
        atom.SetChiralTag(Chem.ChiralType.CHI_UNSPECIFIED)
    for bond in rw.GetBonds():
        bond.SetBondType(Chem.BondType.SINGLE)
        bond.SetIsAromatic(False)
        bond.SetStereo(Chem.BondStereo.STEREONONE)
    out = rw.GetMol()
    out.UpdatePropertyCache(strict=False)
    return out


def xyz_mol(elements, xyz) -> Chem.Mol:
    """An RDKit molecule of bare atoms with one conformer at ``xyz`` (no bonds yet)."""
    rw = Chem.RWMol()
    for sym in elements:
        rw.AddAtom(Chem.Atom(str(sym)))
    conf = Chem.Conformer(len(elements))
    for i, (x, y, z) in enumerate(np.asarray(xyz, dtype=float)):
        conf.SetAtomPosition(i, Point3D(float(x), float(y), float(z)))
    mol = rw.GetMol()
    mol.AddConformer(conf, assignId=True)
    return mol


def map_coordinates_onto_graph(mol_h: Chem.Mol, elements, xyz) -> np.ndarray | None:
    """Positions (N, 3) of ``xyz`` reordered onto ``mol_h``'s atoms, or None if the graphs differ.

    ``mol_h`` must have explicit H atoms. Raises ``RuntimeError`` if ``DetermineConnectivity`` fails.
    """
    xmol = xyz_mol(elements, xyz)
    try:
        rdDetermineBonds.DetermineConnectivity(xmol, charge=0)
    except Exception as exc:  # RDKit raises ValueError/RuntimeError variants
        raise RuntimeError(str(exc)) from exc
    sk_ref, sk_xyz = _skeleton(mol_h), _skeleton(xmol)
    if sk_ref.GetNumBonds() != sk_xyz.GetNumBonds():
        return None
    match = sk_xyz.GetSubstructMatch(sk_ref, useChirality=False)
    if len(match) != mol_h.GetNumAtoms():
        return None
    return np.asarray(xyz, dtype=np.float64)[list(match)]


def set_positions(mol: Chem.Mol, pos: np.ndarray, conf_id: int = -1) -> Chem.Mol:
    """Replace all conformers of ``mol`` (in place) by one at ``pos`` (N, 3); returns ``mol``."""
    mol.RemoveAllConformers()
    conf = Chem.Conformer(mol.GetNumAtoms())
    for i, p in enumerate(np.asarray(pos, dtype=float)):
        conf.SetAtomPosition(i, Point3D(*map(float, p)))
    mol.AddConformer(conf, assignId=True)
    return mol


def mol_from_qm9_record(rec: QM9Record) -> tuple[Chem.Mol | None, str | None]:
    """Build an explicit-H RDKit mol with the DFT geometry as conformer 0 and stereo assigned from 3D.

    Returns ``(mol, None)`` on success or ``(None, reason)`` with a reason from :data:`FAILURE_REASONS`.
    The mol carries the property ``qm9_index``.
    """
    lg = RDLogger.logger()
    lg.setLevel(RDLogger.CRITICAL)
    try:
        mol = Chem.MolFromSmiles(rec.smiles) if isinstance(rec.smiles, str) and rec.smiles else None
    finally:
        lg.setLevel(RDLogger.WARNING)
    if mol is None:
        return None, "unparsable_smiles"
    if len(rec.elements) != len(rec.xyz) or len(rec.elements) == 0:
        return None, "bad_row"
    mol = Chem.AddHs(mol)
    want = Counter(a.GetSymbol() for a in mol.GetAtoms())
    if want != Counter(rec.elements):
        return None, "element_mismatch"
    try:
        pos = map_coordinates_onto_graph(mol, rec.elements, rec.xyz)
    except RuntimeError:
        return None, "connectivity_failed"
    if pos is None:
        return None, "connectivity_mismatch"
    set_positions(mol, pos)
    try:
        Chem.AssignStereochemistryFrom3D(mol)
    except Exception:
        return None, "stereo_failed"
    mol.SetIntProp("qm9_index", int(rec.index))
    return mol, None


def build_qm9_mols(records: Iterable[QM9Record]) -> tuple[list[Chem.Mol], Counter]:
    """Build molecules for ``records``; returns ``(mols, failures)`` with failures counted by reason."""
    mols, failures = [], Counter()
    for rec in records:
        mol, reason = mol_from_qm9_record(rec)
        if mol is None:
            failures[reason] += 1
        else:
            mols.append(mol)
    return mols, failures
