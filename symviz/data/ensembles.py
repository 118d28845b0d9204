"""Conformer ensembles in the project's own safe array format (npz without pickles, SHA-256 checked).

File layout (``np.savez_compressed``; every array loads with ``allow_pickle=False``), M molecules:

==========================  ==========================  ================================================
key                         dtype / shape               meaning
==========================  ==========================  ================================================
``smiles``                  str (M,)                    atom-mapped explicit-H SMILES (map number = idx+1)
``n_atoms``, ``n_confs``    int32 (M,)                  atoms N_m and conformers K_m per molecule
``z``                       int8 (Σ N_m,)               atomic numbers, concatenated
``pos``                     float32 (Σ K_m N_m, 3)      positions in Å, molecule-major then conformer
``weights``                 float32 (Σ K_m,)            Boltzmann weights (sum to 1 per molecule)
``energies``                float32 (Σ K_m,)            relative energies, kcal/mol
``lowest_energy_hartree``   float64 (M,)                absolute energy of the lowest conformer
``source_index``            int64 (M,)                  e.g. the QM9 index (-1 if unknown)
``split``                   str (M,)                    "train" / "val" / "test"
``meta``                    str ()                      JSON: label, command, versions, seeds, thresholds
==========================  ==========================  ================================================

The file ``<name>.sha256`` next to it holds ``"<hex>  <name>"``; :func:`load_offline_ensembles` verifies it.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from symviz._io import atomic_write, atomic_write_text

__all__ = [
    "MoleculeEnsemble",
    "DataFileError",
    "DEFAULT_PATH",
    "REBUILD_COMMAND",
    "write_ensembles_npz",
    "load_offline_ensembles",
    "read_npz_meta",
    "sha256_file",
    "mol_from_mapped_smiles",
]

DEFAULT_NAME = "qm9_xtb_confs_v2.npz"
# The shipped set is package data (symviz/data/files/, listed in pyproject's package-data), so it is found the same
# way in a clone, an editable install and an installed wheel. Wheels are unpacked on install, so the resource is
# a real file; a zipped install would give a path that does not exist, and loading then raises DataFileError.
DEFAULT_PATH = Path(str(resources.files("symviz.data") / "files" / DEFAULT_NAME))
REBUILD_COMMAND = (
    "pip install -e .[data,xtb,molecules] && OMP_NUM_THREADS=1 python -m symviz.data.build_conformers "
    "--out symviz/data/files/qm9_xtb_confs_v2.npz --n-train 2000 --n-val 200 --n-test 200 --seed 1 --workers 1"
)
SPLITS = ("train", "val", "test")


class DataFileError(RuntimeError):
    """A shipped data file is missing, truncated or fails its SHA-256 check."""


@dataclass
class MoleculeEnsemble:
    """One molecule's conformer ensemble.

    Attributes: ``smiles`` (atom-mapped explicit-H SMILES), ``z`` (N,) int64 atomic numbers, ``pos`` (K, N, 3)
    float32 Å, ``weights`` (K,) Boltzmann weights, ``energies`` (K,) relative kcal/mol, ``split``, ``meta``.
    """

    smiles: str
    z: np.ndarray
    pos: np.ndarray
    weights: np.ndarray
    energies: np.ndarray
    split: str = ""
    source_index: int = -1
    lowest_energy_hartree: float = float("nan")
    meta: dict = field(default_factory=dict, repr=False)

    @property
    def n_atoms(self) -> int:
        return int(self.z.shape[0])

    @property
    def n_confs(self) -> int:
        return int(self.pos.shape[0])

    def heavy_mask(self) -> np.ndarray:
        return self.z > 1

    def to_rdkit(self):
        """RDKit mol (atom order = ``z``) with all K conformers."""
        from rdkit import Chem
        from rdkit.Geometry import Point3D

        mol = mol_from_mapped_smiles(self.smiles)
        for k in range(self.n_confs):
            conf = Chem.Conformer(self.n_atoms)
            for i, p in enumerate(self.pos[k].astype(float)):
                conf.SetAtomPosition(i, Point3D(*p))
            mol.AddConformer(conf, assignId=True)
        return mol


def mol_from_mapped_smiles(smiles: str):
    """Parse an atom-mapped explicit-H SMILES and renumber atoms by map number (map n → index n-1)."""
    from rdkit import Chem

    ps = Chem.SmilesParserParams()
    ps.removeHs = False
    mol = Chem.MolFromSmiles(smiles, ps)
    if mol is None:
        raise ValueError(f"smiles: RDKit cannot parse {smiles!r}")
    maps = [a.GetAtomMapNum() for a in mol.GetAtoms()]
    if sorted(maps) != list(range(1, len(maps) + 1)):
        raise ValueError(f"smiles: expected atom-map numbers 1..N on every atom, got {maps}")
    order = [0] * len(maps)
    for i, m in enumerate(maps):
        order[m - 1] = i
    mol = Chem.RenumberAtoms(mol, order)
    for a in mol.GetAtoms():
        a.SetAtomMapNum(0)
    return mol


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_ensembles_npz(path, ensembles, splits, meta: dict) -> str:
    """Write ensembles (dicts or MoleculeEnsemble) atomically plus ``<stem>.sha256``; returns the hash.

    Each item needs ``smiles``, ``z`` (N,), ``pos`` (K, N, 3), ``weights`` (K,), ``energies`` (K,); optional
    ``lowest_energy_hartree`` and ``qm9_index``/``source_index``.
    """
    path = Path(path)
    if len(ensembles) != len(splits):
        raise ValueError(f"splits: expected one label per ensemble ({len(ensembles)}), got {len(splits)}")

    def get(e, k, default=None):
        return e.get(k, default) if isinstance(e, dict) else getattr(e, k, default)

    z, pos, w, en, na, nc, smi, low, src = [], [], [], [], [], [], [], [], []
    for e in ensembles:
        p = np.asarray(get(e, "pos"), dtype=np.float32)
        zz = np.asarray(get(e, "z"))
        if p.ndim != 3 or p.shape[1:] != (zz.shape[0], 3):
            raise ValueError(f"pos: expected shape (K, {zz.shape[0]}, 3), got {p.shape}")
        ww = np.asarray(get(e, "weights"), dtype=np.float32)
        ee = np.asarray(get(e, "energies"), dtype=np.float32)
        if ww.shape != (p.shape[0],) or ee.shape != (p.shape[0],):
            raise ValueError(f"weights/energies: expected shape ({p.shape[0]},), got {ww.shape}, {ee.shape}")
        z.append(zz.astype(np.int8))
        pos.append(p.reshape(-1, 3))
        w.append(ww)
        en.append(ee)
        na.append(zz.shape[0])
        nc.append(p.shape[0])
        smi.append(str(get(e, "smiles")))
        low.append(float(get(e, "lowest_energy_hartree", float("nan"))))
        src.append(int(get(e, "qm9_index", get(e, "source_index", -1))))
    cat = lambda xs, dt, shape: np.concatenate(xs).astype(dt) if xs else np.zeros(shape, dt)  # noqa: E731
    arrays = dict(
        smiles=np.array(smi, dtype=str),
        n_atoms=np.array(na, dtype=np.int32),
        n_confs=np.array(nc, dtype=np.int32),
        z=cat(z, np.int8, (0,)),
        pos=cat(pos, np.float32, (0, 3)),
        weights=cat(w, np.float32, (0,)),
        energies=cat(en, np.float32, (0,)),
        lowest_energy_hartree=np.array(low, dtype=np.float64),
        source_index=np.array(src, dtype=np.int64),
        split=np.array([str(s) for s in splits], dtype=str),
        meta=np.array(json.dumps(meta, sort_keys=True)),
    )
    atomic_write(path, lambda fh: np.savez_compressed(fh, **arrays))
    digest = sha256_file(path)
    atomic_write_text(path.with_name(path.stem + ".sha256"), f"{digest}  {path.name}\n")
    return digest


def _verify(path: Path) -> None:
    if not path.exists():
        where = "data folder" if not path.parent.exists() else "file"
        raise DataFileError(
            f"{path}: {where} not found. The offline conformer set ships inside the package (symviz/data/files/); "
            f"pass path=... or rebuild it with:\n  {REBUILD_COMMAND}"
        )
    sha = path.with_name(path.stem + ".sha256")
    if not sha.exists():
        raise DataFileError(f"{sha}: checksum file missing next to {path.name}; restore it from git or rebuild.")
    fields = sha.read_text(errors="replace").split()
    expected = fields[0].strip().lower() if fields else ""
    if not re.fullmatch(r"[0-9a-f]{64}", expected):
        raise DataFileError(
            f"{sha}: not a SHA-256 checksum file ({'empty' if not fields else f'first field {fields[0][:80]!r}'}; "
            f"expected '<64 hex digits>  {path.name}'). Restore it from git or rebuild with:\n  {REBUILD_COMMAND}"
        )
    actual = sha256_file(path)
    if actual != expected:
        raise DataFileError(
            f"{path}: SHA-256 mismatch (file is corrupt, truncated or was changed): expected {expected}, "
            f"got {actual}. Restore it (`git checkout -- {path.name}` in symviz/data/files/, or reinstall symviz) or "
            f"rebuild with:\n"
            f"  {REBUILD_COMMAND}"
        )


# What a damaged npz raises from numpy/zipfile/zlib (a flipped byte: a bad deflate block is zlib.error, a bad
# header can be NotImplementedError "zip file version"; a missing member is KeyError).
_UNREADABLE = (zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError, NotImplementedError, KeyError)


def _read_arrays(path: Path, keys=None) -> dict:
    """All (or the named) arrays of the npz, or :class:`DataFileError` for a missing, truncated or corrupt file."""
    if not path.exists():
        _verify(path)  # raises the "not found" message with the rebuild command
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in (f.files if keys is None else keys)}
    except _UNREADABLE as exc:
        raise DataFileError(
            f"{path}: not a readable ensembles npz (truncated or corrupt: {type(exc).__name__}: {exc}); restore it "
            f"or rebuild with:\n  {REBUILD_COMMAND}"
        ) from exc


def read_npz_meta(path=None, verify: bool = True) -> dict:
    """The JSON build metadata stored in an ensembles npz."""
    path = Path(path) if path is not None else DEFAULT_PATH
    if verify:
        _verify(path)
    meta = _read_arrays(path, ["meta"])["meta"]
    try:
        return json.loads(str(meta))
    except ValueError as exc:
        raise DataFileError(f"{path}: its 'meta' entry is not JSON ({exc}); rebuild it") from exc


def load_offline_ensembles(path=None, split: str | None = "test", verify: bool = True) -> list[MoleculeEnsemble]:
    """Load ensembles from the shipped npz (default :data:`DEFAULT_PATH`) after a SHA-256 check.

    ``split``: "train", "val", "test" or None for all. Raises :class:`DataFileError` (naming the file and
    the rebuild command) for a missing file/folder, checksum mismatch or truncated archive.
    """
    if split is not None and split not in SPLITS:
        raise ValueError(f"split: expected one of {SPLITS} or None, got {split!r}")
    path = Path(path) if path is not None else DEFAULT_PATH
    if verify:
        _verify(path)
    d = _read_arrays(path)
    try:
        return _ensembles_from_arrays(d, split)
    except (KeyError, ValueError, IndexError, TypeError) as exc:  # members missing or of inconsistent sizes
        raise DataFileError(
            f"{path}: the arrays do not form an ensembles file ({type(exc).__name__}: {exc}); rebuild with:\n"
            f"  {REBUILD_COMMAND}"
        ) from exc


def _ensembles_from_arrays(d: dict, split: str | None) -> list[MoleculeEnsemble]:
    meta = json.loads(str(d["meta"]))
    n_mol = len(d["smiles"])
    for key in ("n_atoms", "n_confs", "lowest_energy_hartree", "source_index", "split"):
        if len(d[key]) != n_mol:
            raise ValueError(f"'{key}' has {len(d[key])} entries for {n_mol} molecules")
    a_off = np.concatenate([[0], np.cumsum(d["n_atoms"])])
    c_off = np.concatenate([[0], np.cumsum(d["n_confs"])])
    p_off = np.concatenate([[0], np.cumsum(d["n_atoms"].astype(np.int64) * d["n_confs"])])
    sizes = (len(d["z"]), len(d["weights"]), len(d["energies"]), len(d["pos"]))
    if sizes != (a_off[-1], c_off[-1], c_off[-1], p_off[-1]):
        raise ValueError(
            f"the atom and conformer counts do not match the array lengths (z, weights, energies, pos) {sizes}"
        )
    out = []
    for m in range(len(d["smiles"])):
        if split is not None and d["split"][m] != split:
            continue
        n, k = int(d["n_atoms"][m]), int(d["n_confs"][m])
        out.append(
            MoleculeEnsemble(
                smiles=str(d["smiles"][m]),
                z=d["z"][a_off[m] : a_off[m + 1]].astype(np.int64),
                pos=d["pos"][p_off[m] : p_off[m + 1]].reshape(k, n, 3),
                weights=d["weights"][c_off[m] : c_off[m + 1]],
                energies=d["energies"][c_off[m] : c_off[m + 1]],
                split=str(d["split"][m]),
                source_index=int(d["source_index"][m]),
                lowest_energy_hartree=float(d["lowest_energy_hartree"][m]),
                meta=meta,
            )
        )
    return out
