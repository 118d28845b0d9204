"""Readers for real GEOM data (``rdkit_folder``) and the Torsional Diffusion split/test files
(docs/data.md#geom-format).

Layout::

    rdkit_folder/summary_qm9.json      {smiles: {..., "pickle_path": "qm9/<smiles>.pickle"}}
    rdkit_folder/qm9/<smiles>.pickle   {"smiles", ..., "conformers": [{"rd_mol", "boltzmannweight", ...}]}

**Pickles can run arbitrary code when loaded.** Every reader here that unpickles needs ``allow_pickle=True``
and refuses otherwise. Convert trusted GEOM data once with :func:`geom_to_npz` into the project's own safe
array format (:mod:`symviz.data.ensembles`), which everything else reads.

Rules followed: paths come from the summary's ``pickle_path`` (never rebuilt from SMILES); conformers are
sorted by ``boltzmannweight`` (GEOM does not sort them) and the top ``top_k`` kept; conformers that reacted
during CREST are dropped with TD's rule (canonical non-isomeric SMILES of the H-stripped conformer ≠ that of
the key
SMILES); an ``rd_mol`` without coordinates is skipped and counted; every kept conformer is renumbered onto the
atom order of the top conformer by matching the molecular graph (elements and bonds, never the element sequence
alone); ``split.npy`` indexes the **sorted** list of ``<partition>/*.pickle`` paths.
"""

from __future__ import annotations

import csv
import json
import pickle
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePath

import numpy as np

__all__ = [
    "PickleNotAllowedError",
    "GeomFormatError",
    "GeomMolecule",
    "GeomRdkitFolder",
    "TorsionalDiffusionSplit",
    "TDTestSet",
    "geom_to_npz",
    "canonical_graph_smiles",
    "atom_map",
]

_PICKLE_MSG = (
    "{what} is a Python pickle. Unpickling can execute arbitrary code, so only load files from a source you "
    "trust (e.g. the GEOM release you downloaded yourself). Pass allow_pickle=True to opt in, and consider "
    "converting once with symviz.data.geom.geom_to_npz(...) into the safe npz format."
)


class PickleNotAllowedError(PermissionError):
    """Raised when a pickle would be loaded without ``allow_pickle=True``."""


class GeomFormatError(ValueError):
    """A GEOM file or summary entry does not have the expected layout (names the file and what was wrong)."""


def _check_allow_pickle(allow_pickle) -> bool:
    """Only a real bool opts in: ``allow_pickle="no"`` (a non-empty string, truthy) must not unpickle."""
    if not isinstance(allow_pickle, bool):
        raise TypeError(
            f"allow_pickle must be True or False; got {allow_pickle!r} ({type(allow_pickle).__name__}). Unpickling "
            f"can run arbitrary code, so only the bool True opts in"
        )
    return allow_pickle


def _load_pickle(path: Path, allow_pickle: bool, what: str):
    if not _check_allow_pickle(allow_pickle):
        raise PickleNotAllowedError(_PICKLE_MSG.format(what=str(path) if what is None else what))
    with open(path, "rb") as fh:
        return pickle.load(fh)  # noqa: S301 - explicit opt-in above


def _bond_set(mol) -> set:
    return {tuple(sorted((b.GetBeginAtomIdx(), b.GetEndAtomIdx()))) for b in mol.GetBonds()}


def _skeleton(mol):
    """A copy with every bond single and nothing aromatic: graph matching by elements and connectivity only, so
    two Kekulé forms of one conformer's bonds still match."""
    from rdkit import Chem

    rw = Chem.RWMol(mol)
    rw.RemoveAllConformers()
    for b in rw.GetBonds():
        b.SetBondType(Chem.BondType.SINGLE)
        b.SetIsAromatic(False)
    for a in rw.GetAtoms():
        a.SetIsAromatic(False)
        a.SetNoImplicit(True)
    out = rw.GetMol()
    out.UpdatePropertyCache(strict=False)
    return out


def atom_map(ref, mol) -> list[int] | None:
    """Indices ``m`` with ``mol`` atom ``m[i]`` playing the role of ``ref`` atom ``i``, or None.

    Matches the molecular graphs (atomic numbers, formal charges and bonds, explicit hydrogens included): the
    identity when it already is a graph isomorphism, else an RDKit substructure match of the same size. None
    when the graphs differ (different atom or bond count, or no isomorphism).
    """
    n = ref.GetNumAtoms()
    if mol.GetNumAtoms() != n or mol.GetNumBonds() != ref.GetNumBonds():
        return None
    key = [(a.GetAtomicNum(), a.GetFormalCharge()) for a in ref.GetAtoms()]
    if key == [(a.GetAtomicNum(), a.GetFormalCharge()) for a in mol.GetAtoms()] and _bond_set(ref) == _bond_set(mol):
        return list(range(n))
    match = _skeleton(mol).GetSubstructMatch(_skeleton(ref))
    return list(match) if len(match) == n else None


def canonical_graph_smiles(mol_or_smiles) -> str | None:
    """Canonical, non-isomeric SMILES of the H-stripped, unsanitized graph (TD's reacted-conformer key)."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    try:
        if isinstance(mol_or_smiles, str):
            mol = Chem.MolFromSmiles(mol_or_smiles)
            if mol is None:
                return None
        else:
            mol = Chem.RemoveHs(mol_or_smiles, sanitize=False)
        return Chem.MolToSmiles(mol, isomericSmiles=False)
    except Exception:
        return None
    finally:
        RDLogger.EnableLog("rdApp.*")


@dataclass
class GeomMolecule:
    """One GEOM molecule after filtering: conformers sorted by weight (descending)."""

    smiles: str
    mols: list  # RDKit mols, one conformer each
    weights: np.ndarray
    total_energies: np.ndarray  # Hartree (GFN2-xTB)
    relative_energies: np.ndarray  # kcal/mol
    n_reacted: int = 0
    summary: dict = field(default_factory=dict, repr=False)

    def to_ensemble(self, split: str = ""):
        """:class:`~symviz.data.ensembles.MoleculeEnsemble` in the atom order of the first conformer.

        Each conformer's positions are mapped onto the first conformer's atoms by graph matching
        (:func:`atom_map`), so a conformer stored in another atom order, even one with the same element
        sequence, lands on the right atoms. Conformers whose graph does not match or that have no coordinates
        are left out. Weights are renormalised over the kept conformers; energies are relative to the kept
        minimum (kcal/mol). Raises :class:`GeomFormatError` when no conformer has coordinates.
        """
        from symviz.data.conformer_pipeline import mapped_smiles
        from symviz.data.ensembles import MoleculeEnsemble

        with_coords = [i for i, m in enumerate(self.mols) if m.GetNumConformers() > 0]
        if not with_coords:
            raise GeomFormatError(f"{self.smiles}: none of its {len(self.mols)} rd_mol(s) has coordinates")
        ref = self.mols[with_coords[0]]
        z = np.array([a.GetAtomicNum() for a in ref.GetAtoms()])
        pos, keep = [], []
        for i in with_coords:
            match = atom_map(ref, self.mols[i])
            if match is not None:
                pos.append(self.mols[i].GetConformer().GetPositions()[match])
                keep.append(i)
        w = self.weights[keep] / self.weights[keep].sum()
        e = self.relative_energies[keep] - self.relative_energies[keep].min()
        return MoleculeEnsemble(
            smiles=mapped_smiles(ref),
            z=z,
            pos=np.stack(pos).astype(np.float32),
            weights=w.astype(np.float32),
            energies=e.astype(np.float32),
            split=split,
            lowest_energy_hartree=float(self.total_energies[keep].min()),
        )


class GeomRdkitFolder:
    """GEOM ``rdkit_folder`` reader: ``GeomRdkitFolder(root, partition="qm9", allow_pickle=False, top_k=30)``.

    The summary JSON is read at construction (safe). :meth:`load` / iteration unpickle and therefore need
    ``allow_pickle=True`` (the bool; anything else is a TypeError). ``stats`` counts ``missing_pickle``,
    ``reacted_conformers``, ``conformers_without_coordinates`` (an ``rd_mol`` with no conformer),
    ``unmapped_conformers`` (graph does not match the top conformer's), ``no_conformers``, ``unreadable_pickle``,
    ``molecules_loaded`` and ``conformers_kept``.
    """

    def __init__(self, root, partition: str = "qm9", allow_pickle: bool = False, top_k: int | None = 30):
        self.root = Path(root)
        self.partition = partition
        self.allow_pickle = _check_allow_pickle(allow_pickle)
        self.top_k = top_k
        if not self.root.is_dir():
            raise FileNotFoundError(f"root: GEOM rdkit_folder {self.root} does not exist")
        summary = self.root / f"summary_{partition}.json"
        if not summary.exists():
            raise FileNotFoundError(
                f"{summary}: no summary file. Expected the GEOM rdkit_folder layout "
                f"(summary_{partition}.json next to {partition}/*.pickle); check root and partition."
            )
        with open(summary) as fh:
            self.summary: dict = json.load(fh)
        self.stats: Counter = Counter()

    def __len__(self) -> int:
        return len(self.summary)

    @property
    def smiles(self) -> list[str]:
        return list(self.summary)

    def sorted_pickle_paths(self) -> list[Path]:
        """``sorted(glob(root/partition/*.pickle))`` — the list TD's ``split.npy`` indexes."""
        return sorted((self.root / self.partition).glob("*.pickle"), key=lambda p: str(p))

    def pickle_path(self, smiles: str) -> Path:
        entry = self.summary.get(smiles)
        if entry is None:
            raise KeyError(f"smiles: {smiles!r} is not in summary_{self.partition}.json")
        if not isinstance(entry, dict) or "pickle_path" not in entry:
            raise KeyError(f"summary entry for {smiles!r} has no 'pickle_path'")
        rel = entry["pickle_path"]
        parts = PurePath(rel).parts if isinstance(rel, str) else ()
        if not parts or PurePath(rel).is_absolute() or ".." in parts:
            raise GeomFormatError(
                f"summary_{self.partition}.json: the pickle_path of {smiles!r} is {rel!r}; it must be a relative "
                f"path inside {self.root} (like '{self.partition}/<name>.pickle'), never absolute or with '..'"
            )
        return self.root / rel

    def load(self, smiles: str) -> GeomMolecule | None:
        """Load one molecule by its summary key; None (and a counted skip) if its pickle is missing."""
        path = self.pickle_path(smiles)
        if not path.exists():
            self.stats["missing_pickle"] += 1
            return None
        return self.load_path(path, smiles)

    def load_path(self, path, smiles: str | None = None) -> GeomMolecule | None:
        """Load a pickle file directly (e.g. from :class:`TorsionalDiffusionSplit`).

        Returns None (and counts why in ``stats``) for an unreadable pickle or one without usable conformers.
        Raises :class:`GeomFormatError` naming the file when it is not a GEOM molecule dict.
        """
        _check_allow_pickle(self.allow_pickle)
        try:
            data = _load_pickle(Path(path), self.allow_pickle, f"GEOM file {path}")
        except PickleNotAllowedError:
            raise
        except Exception:
            self.stats["unreadable_pickle"] += 1
            return None
        if not isinstance(data, dict):
            raise GeomFormatError(
                f"{path}: expected a GEOM molecule dict with 'smiles' and 'conformers'; the pickle holds a "
                f"{type(data).__name__}. Is this a GEOM rdkit_folder file?"
            )
        conformers = data.get("conformers", [])
        if not isinstance(conformers, (list, tuple)) or not all(isinstance(c, dict) for c in conformers):
            raise GeomFormatError(f"{path}: 'conformers' must be a list of dicts (each with an 'rd_mol')")
        key = smiles or data.get("smiles")
        ref = canonical_graph_smiles(key) if key else None
        confs, reacted, empty = [], 0, 0
        for c in conformers:
            mol = c.get("rd_mol")
            if mol is not None and hasattr(mol, "GetNumConformers") and mol.GetNumConformers() == 0:
                empty += 1  # RDKit would fail later with "Bad Conformer Id"
                continue
            if mol is None or ref is None or canonical_graph_smiles(mol) != ref:
                reacted += 1
                continue
            confs.append(c)
        self.stats["reacted_conformers"] += reacted
        self.stats["conformers_without_coordinates"] += empty
        confs.sort(key=lambda c: -float(c.get("boltzmannweight", 0.0)))
        if confs:  # one atom order for all: the top conformer's, matched by graph
            from rdkit import Chem

            top, mapped = confs[0]["rd_mol"], []
            for c in confs:
                match = atom_map(top, c["rd_mol"])
                if match is None:
                    self.stats["unmapped_conformers"] += 1
                    continue
                if match != list(range(len(match))):
                    c = {**c, "rd_mol": Chem.RenumberAtoms(c["rd_mol"], match)}
                mapped.append(c)
            confs = mapped
        if not confs:
            self.stats["no_conformers"] += 1
            return None
        if self.top_k is not None:
            confs = confs[: self.top_k]
        self.stats["molecules_loaded"] += 1
        self.stats["conformers_kept"] += len(confs)
        return GeomMolecule(
            smiles=key,
            mols=[c["rd_mol"] for c in confs],
            weights=np.array([float(c.get("boltzmannweight", np.nan)) for c in confs]),
            total_energies=np.array([float(c.get("totalenergy", np.nan)) for c in confs]),
            relative_energies=np.array([float(c.get("relativeenergy", np.nan)) for c in confs]),
            n_reacted=reacted,
            summary=self.summary.get(key, {}),
        )

    def __iter__(self):
        for smi in self.summary:
            mol = self.load(smi)
            if mol is not None:
                yield mol


class TorsionalDiffusionSplit:
    """TD/GeoMol ``split.npy``: three index arrays (train, val, test) into the SORTED pickle list.

    ``split.npy`` is an object array, i.e. a pickle: loading it needs ``allow_pickle=True`` (it is tried
    without first, which works for plain integer arrays).
    """

    NAMES = ("train", "val", "test")

    def __init__(self, path, allow_pickle: bool = False):
        _check_allow_pickle(allow_pickle)
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"{self.path}: split file not found")
        try:
            arr = np.load(self.path, allow_pickle=False)
        except ValueError as exc:
            if not allow_pickle:
                raise PickleNotAllowedError(_PICKLE_MSG.format(what=f"{self.path} (an object array)")) from exc
            arr = np.load(self.path, allow_pickle=True)
        if len(arr) != 3:
            raise ValueError(f"{self.path}: expected 3 index arrays (train, val, test), got {len(arr)}")
        self.indices = {n: np.asarray(a, dtype=np.int64) for n, a in zip(self.NAMES, arr)}

    def paths(self, sorted_paths, name: str) -> list:
        """Select ``name``'s entries from a list of paths, sorted first (as TD does)."""
        if name not in self.NAMES:
            raise ValueError(f"name: expected one of {self.NAMES}, got {name!r}")
        lst = sorted(sorted_paths, key=lambda p: str(p))
        idx = self.indices[name]
        if len(idx) and (idx.max() >= len(lst) or idx.min() < 0):
            raise IndexError(f"split '{name}' indexes up to {idx.max()} but only {len(lst)} pickle paths given")
        return [lst[i] for i in idx]


class TDTestSet:
    """TD ``test_smiles.csv`` (smiles, n_conformers, corrected_smiles) + ``test_mols.pkl`` {smiles: [Mol]}.

    Iterating yields ``(smiles, n_conformers, corrected_smiles, reference_mols)``; molecules whose smiles is
    missing from the pickle are counted in ``stats["missing_mols"]``.
    """

    def __init__(self, smiles_csv, mols_pkl, allow_pickle: bool = False):
        self.rows = []
        with open(smiles_csv, newline="") as fh:
            for row in csv.reader(fh):
                if not row or row[0] == "smiles":
                    continue
                self.rows.append((row[0], int(row[1]), row[2] if len(row) > 2 else row[0]))
        self.mols: dict = _load_pickle(Path(mols_pkl), allow_pickle, f"TD test set {mols_pkl}")
        if not isinstance(self.mols, dict):
            raise GeomFormatError(
                f"{mols_pkl}: expected a dict {{smiles: [Mol, ...]}} (TD's test_mols.pkl); the pickle holds a "
                f"{type(self.mols).__name__}"
            )
        self.stats: Counter = Counter()

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        for smi, n, corr in self.rows:
            mols = self.mols.get(smi)
            if mols is None:
                self.stats["missing_mols"] += 1
                continue
            yield smi, n, corr, mols


def geom_to_npz(folder: GeomRdkitFolder, out, smiles=None, split_of=None, max_molecules=None) -> dict:
    """Convert GEOM molecules into the safe npz format (see :mod:`symviz.data.ensembles`).

    ``smiles``: keys to convert (default: all in the summary); ``split_of``: dict smiles → split label
    (default "train"). Returns the metadata written (with the reader's skip counts).
    """
    from symviz.data.ensembles import write_ensembles_npz

    keys = list(smiles) if smiles is not None else folder.smiles
    ens, splits = [], []
    for smi in keys[:max_molecules]:
        mol = folder.load(smi)
        if mol is None:
            continue
        label = (split_of or {}).get(smi, "train")
        ens.append(mol.to_ensemble(split=label))
        splits.append(label)
    meta = {
        "label": f"GEOM-{folder.partition.upper()} (CREST/GFN2-xTB), top_k={folder.top_k}",
        "source": str(folder.root),
        "reader_stats": dict(folder.stats),
        "reacted_rule": "TD: canonical non-isomeric SMILES of H-stripped conformer must equal the key's",
    }
    write_ensembles_npz(out, ens, splits, meta)
    return meta
