"""Coverage (COV) and matching (MAT/AMR) scores for conformer ensembles (docs/data.md#covmat).

For one molecule with K references S_r and generated set S_g (normally |S_g| = 2K) and the heavy-atom,
symmetry-aware RMSD after optimal alignment (RDKit ``rdMolAlign.GetBestRMS`` on hydrogen-stripped copies)::

    COV-R(δ) = 1/|S_r| · |{r : min_g RMSD(g, r) < δ}|      MAT-R = 1/|S_r| · Σ_r min_g RMSD(g, r)
    COV-P(δ) = 1/|S_g| · |{g : min_r RMSD(g, r) < δ}|      MAT-P = 1/|S_g| · Σ_g min_r RMSD(g, r)

(GeoDiff Eq. 10-11; TD App. G.3.) Thresholds are **strict** ``<`` as in TD and ET-Flow. Scores are computed
per molecule, then averaged (mean and median) over molecules. A molecule with no generated conformers counts
as COV 0 and is left out of the MAT averages (NaN-mean), as in TD.

:func:`cov_mat_from_rmsd` is the pure function on a precomputed RMSD matrix D[r, g] = RMSD(g, r) of shape
(K, G); :func:`coverage_matching` computes the matrices with RDKit and aggregates.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["cov_mat_from_rmsd", "heavy_rmsd_matrix", "coverage_matching", "aggregate", "format_table"]

DEFAULT_THRESHOLDS = (0.1, 0.25, 0.5)


def cov_mat_from_rmsd(rmsd, thresholds=DEFAULT_THRESHOLDS, strict: bool = True) -> dict:
    """COV-R/MAT-R/COV-P/MAT-P for one molecule from D (K references × G generated), D[r, g] = RMSD(g, r).

    Returns ``{"COV-R@δ": %, "COV-P@δ": %, "MAT-R": Å, "MAT-P": Å, "K": K, "G": G}`` (COV in percent).
    ``G == 0`` (no generated conformer) gives COV 0 and MAT NaN. Raises ValueError for K == 0, NaN, Inf or
    negative entries.
    """
    d = np.asarray(rmsd, dtype=np.float64)
    if d.ndim != 2:
        raise ValueError(f"rmsd: expected a 2-D matrix (K references, G generated), got shape {d.shape}")
    k, g = d.shape
    if k == 0:
        raise ValueError("rmsd: a molecule needs at least one reference conformer (K = 0)")
    if not np.isfinite(d).all() or (d < 0).any():
        bad = int((~(np.isfinite(d) & (d >= 0))).sum())
        raise ValueError(f"rmsd: entries must be finite, non-negative RMSDs; {bad} entry(ies) are NaN, Inf or < 0")
    out = {"K": int(k), "G": int(g)}
    if g == 0:
        for t in thresholds:
            out[f"COV-R@{t:g}"] = 0.0
            out[f"COV-P@{t:g}"] = 0.0
        out["MAT-R"] = out["MAT-P"] = float("nan")
        return out
    row_min, col_min = d.min(axis=1), d.min(axis=0)
    less = np.less if strict else np.less_equal
    for t in thresholds:
        out[f"COV-R@{t:g}"] = 100.0 * float(less(row_min, t).mean())
        out[f"COV-P@{t:g}"] = 100.0 * float(less(col_min, t).mean())
    out["MAT-R"] = float(row_min.mean())
    out["MAT-P"] = float(col_min.mean())
    return out


def _as_mol(item, template=None):
    """An RDKit mol with all conformers from a Mol, list of Mols, MoleculeEnsemble or (K, N, 3) array."""
    from rdkit import Chem

    if isinstance(item, Chem.Mol):
        return item
    if hasattr(item, "to_rdkit"):
        return item.to_rdkit()
    if isinstance(item, (list, tuple)) and item and all(isinstance(m, Chem.Mol) for m in item):
        out = Chem.Mol(item[0])
        out.RemoveAllConformers()
        for m in item:
            for c in m.GetConformers():
                out.AddConformer(Chem.Conformer(c), assignId=True)
        return out
    pos = np.asarray(item.detach().cpu() if hasattr(item, "detach") else item, dtype=np.float64)
    if pos.size == 0:
        return None
    if template is None:
        raise TypeError("generated: coordinate arrays need a reference molecule (Mol or ensemble) as template")
    pos = pos.reshape(-1, template.GetNumAtoms(), 3)
    out = Chem.Mol(template)
    out.RemoveAllConformers()
    for p in pos:
        c = Chem.Conformer(template.GetNumAtoms())
        for i, xyz in enumerate(p):
            c.SetAtomPosition(i, xyz.tolist())
        out.AddConformer(c, assignId=True)
    return out


def _strip_h(mol):
    from rdkit import Chem

    try:
        return Chem.RemoveHs(mol)
    except Exception:
        return Chem.RemoveHs(mol, sanitize=False)


def heavy_rmsd_matrix(generated, references, max_matches: int = 1_000_000) -> np.ndarray:
    """D[r, g] = heavy-atom symmetry-aware ``GetBestRMS(gen_g, ref_r)``, shape (K, G).

    Inputs: RDKit mols with several conformers (same graph), lists of single-conformer mols, ensembles
    (``.to_rdkit()``), or (for ``generated``) a (G, N, 3) array in the reference's atom order. The inputs are
    not modified: hydrogens are stripped from copies, and GetBestRMS aligns the copies only.
    """
    from rdkit import Chem
    from rdkit.Chem import rdMolAlign

    ref = _as_mol(references)
    gen = _as_mol(generated, template=ref)
    if ref is None or ref.GetNumConformers() == 0:
        raise ValueError("references: need at least one reference conformer")
    if gen is None or gen.GetNumConformers() == 0:
        return np.zeros((ref.GetNumConformers(), 0))
    ref_h, gen_h = _strip_h(Chem.Mol(ref)), _strip_h(Chem.Mol(gen))
    rids = [c.GetId() for c in ref_h.GetConformers()]
    gids = [c.GetId() for c in gen_h.GetConformers()]
    d = np.empty((len(rids), len(gids)))
    for a, r in enumerate(rids):
        for b, g in enumerate(gids):
            d[a, b] = rdMolAlign.GetBestRMS(gen_h, ref_h, prbId=g, refId=r, maxMatches=max_matches)
    return d


def aggregate(per_molecule: Sequence[dict]) -> dict:
    """Mean and median over molecules of every metric key (NaN-aware for MAT)."""
    keys = [k for k in per_molecule[0] if k not in ("K", "G")] if per_molecule else []
    res = {"mean": {}, "median": {}}
    for key in keys:
        v = np.array([m[key] for m in per_molecule], dtype=np.float64)
        ok = v[~np.isnan(v)]
        res["mean"][key] = float(ok.mean()) if ok.size else float("nan")
        res["median"][key] = float(np.median(ok)) if ok.size else float("nan")
    return res


def coverage_matching(
    generated: Sequence,
    references: Sequence,
    thresholds=DEFAULT_THRESHOLDS,
    *,
    rmsd_matrices: Sequence | None = None,
    strict: bool = True,
    progress: bool = False,
) -> dict:
    """COV-R, MAT-R, COV-P, MAT-P per molecule plus mean and median over molecules.

    Args:
        generated: one item per molecule (see :func:`heavy_rmsd_matrix`; an empty list/array = failure).
        references: one item per molecule (Mol with conformers, list of Mols or ``MoleculeEnsemble``).
        thresholds: δ values in Å (default 0.1, 0.25, 0.5); COV uses strict ``<`` unless ``strict=False``.
        rmsd_matrices: optional precomputed (K, G) matrices, one per molecule; then the mols are not used.

    Returns ``{"per_molecule": [dict, ...], "mean": {...}, "median": {...}, "n_molecules", "n_failed",
    "thresholds", "strict"}``.
    """
    if rmsd_matrices is None:
        if len(generated) != len(references):
            raise ValueError(
                f"generated/references: need one item per molecule, got {len(generated)} and {len(references)}"
            )
        it = zip(generated, references)
        if progress:
            from tqdm.auto import tqdm

            it = tqdm(it, total=len(references), desc="COV/MAT")
        rmsd_matrices = [heavy_rmsd_matrix(g, r) for g, r in it]
    per = [cov_mat_from_rmsd(d, thresholds, strict=strict) for d in rmsd_matrices]
    out = {
        "per_molecule": per,
        "n_molecules": len(per),
        "n_failed": sum(1 for m in per if m["G"] == 0),
        "thresholds": list(thresholds),
        "strict": strict,
    }
    out.update(aggregate(per))
    return out


def format_table(rows: dict, thresholds=DEFAULT_THRESHOLDS, label: str = "") -> str:
    """Markdown table ``{name: coverage_matching result}`` with mean / median cells."""
    cols = [f"COV-R@{t:g}" for t in thresholds] + ["MAT-R"] + [f"COV-P@{t:g}" for t in thresholds] + ["MAT-P"]
    head = "| " + (label or "method") + " | " + " | ".join(c + (" %" if "COV" in c else " Å") for c in cols)
    lines = [head + " |", "|" + "---|" * (len(cols) + 1)]
    for name, r in rows.items():
        cells = []
        for c in cols:
            fmt = "{:.1f} / {:.1f}" if "COV" in c else "{:.3f} / {:.3f}"
            cells.append(fmt.format(r["mean"][c], r["median"][c]))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
