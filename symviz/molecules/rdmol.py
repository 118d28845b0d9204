"""RDKit molecules with conformers as coordinates: copies in, copies out (no viewer, no py3Dmol).

The pure helpers behind the molecule frames (:mod:`symviz.molecules.frames`) and the 3D viewer
(:mod:`symviz.viz.molview`, which re-exports :func:`as_mol`, :func:`conformers_to_mol` and
:func:`aligned_coordinates` for its users):

    mol = as_mol(ens)                                   # a copy of a MoleculeEnsemble / Mol, with conformers
    mol2 = conformers_to_mol(mol, coords)               # a copy whose conformers are coords (K, N, 3)
    xyz = aligned_coordinates(ens, reference=0)         # (K, N, 3) numpy, superimposed on conformer 0

Alignment is a rigid motion (rotation + translation, no reflection) fitted on heavy atoms (all atoms for
molecules with < 3 heavy atoms), by default symmetry-aware (``rdMolAlign.GetBestAlignmentTransform``, the
alignment behind the COV/MAT RMSD of :mod:`symviz.covmat`), else on the atom order (``rdMolAlign.AlignMol``).
RDKit is imported inside the functions (the ``molecules`` extra).
"""

from __future__ import annotations

import numpy as np

__all__ = ["as_mol", "conformers_to_mol", "aligned_coordinates"]


def _check_coords(coords, n_atoms: int) -> np.ndarray:
    c = coords.detach().cpu().numpy() if hasattr(coords, "detach") else np.asarray(coords)
    c = np.asarray(c, dtype=np.float64)
    if c.ndim == 2:
        c = c[None]
    if c.ndim != 3 or c.shape[1:] != (n_atoms, 3) or c.shape[0] == 0:
        raise ValueError(
            f"coords: expected shape (K, {n_atoms}, 3) or ({n_atoms}, 3) in the molecule's atom order, "
            f"got {tuple(c.shape)}"
        )
    if not np.isfinite(c).all():
        raise ValueError("coords: contains NaN or Inf; only finite coordinates can be drawn")
    return c


def conformers_to_mol(template, coords):
    """A copy of ``template`` (RDKit Mol) whose conformers are ``coords`` (``(K, N, 3)`` or ``(N, 3)``, Å).

    Conformer ids are 0..K-1. ``template``'s own conformers are dropped; ``template`` is not modified.
    """
    from symviz.conformers import conformer_mol

    return conformer_mol(template, _check_coords(coords, template.GetNumAtoms()))


def as_mol(obj, coords=None):
    """A *copy* of ``obj`` as an RDKit Mol with conformers.

    Args:
        obj: an RDKit ``Mol`` or an object with ``.to_rdkit()`` (``MoleculeEnsemble``).
        coords: optional ``(K, N, 3)`` / ``(N, 3)`` coordinates that replace the conformers.
    Raises TypeError for other inputs and ValueError for a molecule without conformers.
    """
    from rdkit import Chem

    if isinstance(obj, Chem.Mol):
        mol = Chem.Mol(obj)
    elif hasattr(obj, "to_rdkit"):
        mol = obj.to_rdkit()
    else:
        raise TypeError(
            f"expected an RDKit Mol or a MoleculeEnsemble (anything with .to_rdkit()), got {type(obj).__name__}; "
            "for bare coordinates pass the molecule and coords=array"
        )
    if coords is not None:
        mol = conformers_to_mol(mol, coords)
    if mol.GetNumConformers() == 0:
        raise ValueError("the molecule has no conformers to show; embed one or pass coords=(K, N, 3)")
    return mol


def _conf_ids(mol, conf_ids, name: str = "conf_ids", max_models: int | None = None) -> list[int]:
    """Validated conformer ids; ``None`` = all (the first ``max_models`` when a cap is given)."""
    valid = [c.GetId() for c in mol.GetConformers()]
    if conf_ids is None:
        return valid[:max_models]
    if isinstance(conf_ids, (int, np.integer)) and not isinstance(conf_ids, bool):
        conf_ids = [int(conf_ids)]
    try:
        ids = [int(c) for c in conf_ids]
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected an int or a list of conformer ids, got {conf_ids!r}") from None
    bad = [c for c in ids if c not in valid]
    if bad:
        shown = f"0..{len(valid) - 1}" if valid == list(range(len(valid))) else str(valid)
        raise ValueError(f"{name}: conformer id(s) {bad} do not exist; this molecule has ids {shown}")
    if not ids:
        raise ValueError(f"{name}: empty selection; pass at least one conformer id (or None for all)")
    if max_models is not None and len(ids) > max_models:
        raise ValueError(f"{name}: {len(ids)} conformers selected but at most max_models={max_models} are drawn")
    return ids


def _same_atoms(a, b) -> None:
    za = [x.GetAtomicNum() for x in a.GetAtoms()]
    zb = [x.GetAtomicNum() for x in b.GetAtoms()]
    if za != zb:
        raise ValueError(
            f"reference: must be the same molecule with the same atom order ({len(za)} atoms {za[:8]}...), "
            f"got {len(zb)} atoms {zb[:8]}...; build both from the same SMILES/ensemble"
        )


def _resolve_reference(mol, reference, ref_conf_id):
    """(reference mol, its conformer id used as the alignment target)."""
    if reference is None or (isinstance(reference, (int, np.integer)) and not isinstance(reference, bool)):
        ref = mol
        rid = _conf_ids(mol, [mol.GetConformers()[0].GetId()] if reference is None else reference, "reference")[0]
        return ref, rid
    ref = as_mol(reference)
    _same_atoms(mol, ref)
    rid = ref.GetConformers()[0].GetId() if ref_conf_id is None else _conf_ids(ref, ref_conf_id, "ref_conf_id")[0]
    return ref, rid


def _heavy_copy(mol):
    from rdkit import Chem

    try:
        return Chem.RemoveHs(mol)
    except Exception:  # noqa: BLE001 - e.g. an unsanitizable valence; alignment needs no chemistry
        return Chem.RemoveHs(mol, sanitize=False)


def _align_in_place(work, ref, ids, rid, symmetric: bool) -> None:
    """Superimpose conformers ``ids`` of ``work`` on conformer ``rid`` of ``ref`` (both copies)."""
    from rdkit.Chem import rdMolAlign, rdMolTransforms

    n_heavy = sum(a.GetAtomicNum() > 1 for a in work.GetAtoms())
    use_heavy = n_heavy >= 3
    if symmetric:
        prb = _heavy_copy(work) if use_heavy else work
        tgt = _heavy_copy(ref) if use_heavy else ref
        for cid in ids:
            _, transform, _ = rdMolAlign.GetBestAlignmentTransform(prb, tgt, prbCid=cid, refCid=rid)
            rdMolTransforms.TransformConformer(work.GetConformer(cid), np.asarray(transform))
    else:
        atoms = [a.GetIdx() for a in work.GetAtoms() if a.GetAtomicNum() > 1 or not use_heavy]
        amap = [(i, i) for i in atoms]
        for cid in ids:
            rdMolAlign.AlignMol(work, ref, prbCid=cid, refCid=rid, atomMap=amap)


def aligned_coordinates(
    mol_or_ensemble,
    conf_ids=None,
    reference=None,
    ref_conf_id=None,
    coords=None,
    symmetric: bool = True,
) -> np.ndarray:
    """Coordinates ``(K, N, 3)`` (numpy, Å) of the selected conformers superimposed on a reference.

    The fit is the rigid motion (rotation + translation) minimising the heavy-atom RMSD to the reference
    conformer (all atoms for molecules with < 3 heavy atoms); ``symmetric=True`` (default) also minimises over
    graph symmetries (``rdMolAlign.GetBestAlignmentTransform``; the returned coordinates keep the atom order),
    ``symmetric=False`` uses the atom order as it is (``rdMolAlign.AlignMol``, plain Kabsch).

    Args:
        mol_or_ensemble: RDKit Mol with conformers or a ``MoleculeEnsemble``; not modified.
        conf_ids: conformer ids to return (default: all).
        reference: ``None`` (the first conformer of the molecule), an ``int`` (that conformer id of the
            molecule), or another Mol/ensemble with the same atoms in the same order (its ``ref_conf_id``,
            default its first conformer). Not modified.
        coords: optional ``(K, N, 3)`` coordinates that replace the molecule's conformers.
        symmetric: symmetry-aware fit (default True).
    """
    mol = as_mol(mol_or_ensemble, coords)
    ids = _conf_ids(mol, conf_ids)
    ref, rid = _resolve_reference(mol, reference, ref_conf_id)
    from rdkit import Chem

    work = Chem.Mol(mol)  # as_mol already copied; this keeps the reference (possibly mol) untouched
    ref = Chem.Mol(ref)
    _align_in_place(work, ref, ids, rid, symmetric)
    return np.stack([work.GetConformer(c).GetPositions() for c in ids])
