"""Per-molecule conformer pipeline for the offline set: ETKDGv3 seeds → (MMFF) → GFN2-xTB → filters.

Used by :mod:`symviz.data.build_conformers`; see its docstring and docs/data.md#recipe for the recipe. The xTB step
needs the optional ``tblite`` and ``ase`` packages (extra ``[xtb]``); they are imported lazily.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import numpy as np
from rdkit import Chem, RDLogger
from rdkit.Chem import AllChem, rdDetermineBonds, rdMolAlign, rdMolDescriptors

from symviz.data.qm9 import mol_from_qm9_record, set_positions, xyz_mol

__all__ = [
    "BuildParams",
    "embed_seeds",
    "derive_seed",
    "process_record",
    "process_mol",
    "boltzmann_weights",
    "mapped_smiles",
    "versions",
]

EV_PER_HARTREE = 27.211386
KCAL_PER_HARTREE = 627.509
KB_KCAL = 0.0019872043  # kcal/(mol K)


@dataclass
class BuildParams:
    """Thresholds of the recipe (all recorded in the output file)."""

    seed: int = 1
    max_seeds: int = 300  # recipe: n = min(300, 50 + 50 n_rot); may be capped lower for time
    mmff_preopt: bool = True
    mmff_max_iters: int = 2000
    pre_window_kcal: float = 10.0  # MMFF window before xTB (generous; the xTB window is 6)
    pre_dedup_rmsd: float = 0.1  # Å, heavy-atom; duplicates need BOTH this RMSD ...
    pre_dedup_de: float = 1.0  # ... and |ΔE_MMFF| below this (kcal/mol), so distinct OH/NH rotamers survive
    method: str = "GFN2-xTB"
    optimizer: str = "LBFGS"
    fmax: float = 0.05  # eV/Å
    max_steps: int = 400
    window_kcal: float = 6.0
    dedup_rmsd: float = 0.125  # Å, heavy-atom GetBestRMS, greedy in energy order
    temperature: float = 298.15
    include_dft_seed: bool = True

    def check(self):
        if self.seed == 0:
            raise ValueError("seed must be != 0: RDKit ETKDG with randomSeed=0 returns identical conformers")
        if self.max_seeds < 1:
            raise ValueError(f"max_seeds must be >= 1, got {self.max_seeds}")

    def as_dict(self):
        return asdict(self)


def versions() -> dict:
    import rdkit

    out = {"rdkit": rdkit.__version__, "numpy": np.__version__}
    try:
        import importlib.metadata as md

        for pkg in ("tblite", "ase", "qm9pack"):
            try:
                out[pkg] = md.version(pkg)
            except md.PackageNotFoundError:
                out[pkg] = None
    except Exception:
        pass
    return out


def derive_seed(base: int, index: int) -> int:
    """A per-molecule RDKit seed in [1, 2**31 - 2], never 0."""
    s = (int(base) * 1_000_003 + int(index) * 7919) % (2**31 - 1)
    return s if s != 0 else 1


def embed_seeds(mol: Chem.Mol, n: int, random_seed: int) -> Chem.Mol:
    """Copy of ``mol`` with up to ``n`` ETKDGv3 conformers (stereo from ``mol`` enforced).

    Raises ``ValueError`` for ``random_seed == 0`` (RDKit would return identical conformers; docs/data.md#qm9pack).
    """
    if int(random_seed) == 0:
        raise ValueError("random_seed must be != 0: ETKDG with randomSeed=0 returns identical conformers")
    out = Chem.Mol(mol)
    out.RemoveAllConformers()
    ps = AllChem.ETKDGv3()
    ps.randomSeed = int(random_seed)
    ps.numThreads = 1
    # Probe with one conformer first: strained cages can make every one of n embeddings exhaust its
    # attempts (~0.4 s each). If the probe fails, retry with random starting coordinates; else give up.
    probe = Chem.Mol(out)
    if AllChem.EmbedMolecule(probe, ps) < 0:
        ps.useRandomCoords = True
        if AllChem.EmbedMolecule(probe, ps) < 0:
            return out
    AllChem.EmbedMultipleConfs(out, numConfs=int(n), params=ps)
    return out


def _heavy(mol):
    return Chem.RemoveHs(mol, sanitize=False)


def heavy_rmsd(heavy_a, ia, heavy_b, ib) -> float:
    """Symmetry-aware heavy-atom RMSD between conformer ``ia`` of ``heavy_a`` and ``ib`` of ``heavy_b``."""
    return float(rdMolAlign.GetBestRMS(heavy_a, heavy_b, prbId=int(ia), refId=int(ib)))


def _greedy_dedup(heavy_mol, conf_ids, energies, rmsd_thr, de_thr=None):
    """Indices (into conf_ids) kept by greedy de-duplication in ascending energy order."""
    order = np.argsort(energies, kind="stable")
    kept = []
    for i in order:
        dup = False
        for j in kept:
            if de_thr is not None and abs(energies[i] - energies[j]) >= de_thr:
                continue
            if heavy_rmsd(heavy_mol, conf_ids[i], heavy_mol, conf_ids[j]) < rmsd_thr:
                dup = True
                break
        if not dup:
            kept.append(int(i))
    return kept


def boltzmann_weights(rel_kcal, temperature=298.15) -> np.ndarray:
    """w_i = exp(-ΔE_i / k_B T) / Σ_j exp(-ΔE_j / k_B T), ΔE in kcal/mol (no degeneracy factor)."""
    e = np.asarray(rel_kcal, dtype=np.float64)
    x = np.exp(-(e - e.min()) / (KB_KCAL * temperature))
    return x / x.sum()


def mapped_smiles(mol: Chem.Mol) -> str:
    """Explicit-H SMILES with atom-map numbers i+1, so the atom order can be rebuilt exactly."""
    m = Chem.Mol(mol)
    for a in m.GetAtoms():
        a.SetAtomMapNum(a.GetIdx() + 1)
    return Chem.MolToSmiles(m)


def _bond_set(mol):
    return {tuple(sorted((b.GetBeginAtomIdx(), b.GetEndAtomIdx()))) for b in mol.GetBonds()}


def _perceived_bonds(elements, pos):
    xm = xyz_mol(elements, pos)
    rdDetermineBonds.DetermineConnectivity(xm, charge=0)
    return _bond_set(xm)


def _stereo_key(mol, pos):
    m = set_positions(Chem.Mol(mol), pos)
    Chem.AssignStereochemistryFrom3D(m)
    return Chem.MolToSmiles(Chem.RemoveHs(m, sanitize=False))


def _xtb_optimize(numbers, pos, params):
    from ase import Atoms
    from ase import optimize as aseopt
    from tblite.ase import TBLite

    atoms = Atoms(numbers=numbers, positions=pos)
    atoms.calc = TBLite(method=params.method, verbosity=0)
    opt = getattr(aseopt, params.optimizer)(atoms, logfile=None)
    converged = bool(opt.run(fmax=params.fmax, steps=params.max_steps))
    return (
        atoms.get_positions(),
        float(atoms.get_potential_energy()),
        converged,
        int(opt.get_number_of_steps()),
    )


def process_record(rec, params: BuildParams) -> dict:
    """Run the pipeline on one :class:`~symviz.data.qm9.QM9Record`; returns a result dict (status ok/fail)."""
    mol, reason = mol_from_qm9_record(rec)
    if mol is None:
        return {"status": "fail", "reason": reason, "smiles_qm9": rec.smiles}
    return process_mol(mol, params, index=rec.index)


def process_mol(mol: Chem.Mol, params: BuildParams, index: int = 0) -> dict:
    """Pipeline on an explicit-H mol whose conformer 0 is the DFT geometry (stereo already assigned)."""
    params.check()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    RDLogger.DisableLog("rdApp.*")
    stats = {}
    dft_pos = mol.GetConformer().GetPositions()
    elements = [a.GetSymbol() for a in mol.GetAtoms()]
    numbers = [a.GetAtomicNum() for a in mol.GetAtoms()]
    ref_bonds, ref_stereo = _bond_set(mol), _stereo_key(mol, dft_pos)
    n_rot = rdMolDescriptors.CalcNumRotatableBonds(mol)
    n_seeds = min(params.max_seeds, 50 + 50 * n_rot)
    emb = embed_seeds(mol, n_seeds, derive_seed(params.seed, index))
    stats.update(n_rot=int(n_rot), n_seeds=int(n_seeds), n_embedded=emb.GetNumConformers())
    seeds = []
    if emb.GetNumConformers():
        cids = [c.GetId() for c in emb.GetConformers()]
        if params.mmff_preopt and AllChem.MMFFHasAllMoleculeParams(emb):
            res = AllChem.MMFFOptimizeMoleculeConfs(emb, numThreads=1, maxIters=params.mmff_max_iters)
            e = np.array([r[1] for r in res], dtype=np.float64)
            ok = np.nonzero(e - e.min() <= params.pre_window_kcal)[0]
            keep = _greedy_dedup(_heavy(emb), [cids[i] for i in ok], e[ok], params.pre_dedup_rmsd, params.pre_dedup_de)
            seeds = [emb.GetConformer(cids[ok[k]]).GetPositions() for k in keep]
        else:
            seeds = [emb.GetConformer(c).GetPositions() for c in cids]
    stats["n_xtb_seeds_etkdg"] = len(seeds)
    if params.include_dft_seed:
        seeds.append(dft_pos)
    opt_pos, opt_e, counts = [], [], {"xtb_error": 0, "not_converged": 0, "reacted": 0, "stereo_changed": 0}
    steps = []
    for p in seeds:
        try:
            pos, e_ev, conv, nstep = _xtb_optimize(numbers, p, params)
        except Exception:
            counts["xtb_error"] += 1
            continue
        steps.append(nstep)
        if not conv:
            counts["not_converged"] += 1
        elif _perceived_bonds(elements, pos) != ref_bonds:
            counts["reacted"] += 1
        elif _stereo_key(mol, pos) != ref_stereo:
            counts["stereo_changed"] += 1
        else:
            opt_pos.append(pos)
            opt_e.append(e_ev / EV_PER_HARTREE)
    stats.update(counts, n_xtb=len(seeds), mean_xtb_steps=float(np.mean(steps)) if steps else 0.0)
    if not opt_pos:
        return {"status": "fail", "reason": "no_valid_conformer", **stats}
    e_h = np.array(opt_e)
    rel = (e_h - e_h.min()) * KCAL_PER_HARTREE
    win = np.nonzero(rel <= params.window_kcal)[0]
    confmol = Chem.Mol(mol)
    confmol.RemoveAllConformers()
    for i in win:
        c = Chem.Conformer(mol.GetNumAtoms())
        for a, xyz in enumerate(opt_pos[i]):
            c.SetAtomPosition(a, xyz.tolist())
        confmol.AddConformer(c, assignId=True)
    heavy = _heavy(confmol)
    ids = [c.GetId() for c in heavy.GetConformers()]
    kept = _greedy_dedup(heavy, ids, rel[win], params.dedup_rmsd)  # ascending energy
    sel = win[kept]
    pos = np.stack([opt_pos[i] for i in sel]).astype(np.float32)
    rel_sel = rel[sel]
    # local-structure floor: heavy RMSD of the raw DFT geometry to its nearest kept conformer
    dft = set_positions(Chem.Mol(mol), dft_pos)
    hd = _heavy(dft)
    dft_nearest = min(heavy_rmsd(hd, 0, heavy, ids[k]) for k in kept)
    stats.update(n_window=int(len(win)), n_confs=int(len(sel)), dft_nearest_rmsd=round(float(dft_nearest), 4))
    return {
        "status": "ok",
        "smiles": mapped_smiles(mol),
        "z": np.array(numbers, dtype=np.int8),
        "pos": pos,
        "energies": rel_sel.astype(np.float32),
        "weights": boltzmann_weights(rel_sel, params.temperature).astype(np.float32),
        "lowest_energy_hartree": float(e_h.min()),
        **stats,
    }
