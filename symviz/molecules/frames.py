"""Molecules as point clouds with their symmetry group: the pure computations behind tutorial 08 and
:class:`symviz.widgets.ConformerViewer`.

A conformer is a point cloud ``x0`` of shape ``(n, 3)`` (all atoms, hydrogens included). Translations are
removed by centring (the paper, App. C.1, centres molecules; a VP kernel ``N(alpha x0, sigma^2 I)`` is not
translation-equivariant), and what is left is the molecule's group

    G = SO(3) x Aut(graph) = Product(SO3(), AutomorphismGroup(...))      (molecule_group(mol))

acting by ``(R, p) . x0 = R x0[p]``. For a noised ``x_t = alpha_t x0 + sigma_t eps`` the orbit target of
Eq. (11) averages the candidates ``g_k . x0`` with weights ``softmax_k(-||x_t - alpha_t g_k . x0||^2 / 2 sigma_t^2)``
(:func:`symviz.orbit.orbit_target`).

    mol = prepare_molecule(ensemble)                 # automorphisms and aligned conformers, once per molecule
    fr = conformer_frame(mol, conf=2, t=0.4, K=64)   # x0, x_t, orbit target, weights, ESS (numpy)
    batch = molecule_batch(ensembles)                # a padded, centred batch with masks and its group
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from symviz._checks import DTYPE, MAX_K, check_k, check_seed, check_t
from symviz.diffusion import VPSchedule, add_noise, center
from symviz.groups import SO3, AutomorphismGroup, Product
from symviz.orbit import orbit_target

__all__ = [
    "MAX_K",
    "molecule_group",
    "cube_rotations",
    "product_elements",
    "PreparedMolecule",
    "prepare_molecule",
    "ConformerFrame",
    "conformer_frame",
    "MoleculeBatch",
    "molecule_batch",
]


def molecule_group(mol) -> Product:
    """``Product(SO3(), AutomorphismGroup)``: the group of a centred conformer of ``mol`` (the whole group).

    ``mol``: RDKit Mol with explicit hydrogens. The automorphism factor samples uniformly from every graph
    symmetry (heavy-atom automorphisms times hydrogen swaps, :func:`symviz.data.molgraph.automorphism_group`),
    never from a fixed subset, so the Monte Carlo orbit target estimates Eq. (11) over the true group.
    """
    from symviz.data.molgraph import automorphism_group

    return Product(SO3(), automorphism_group(mol))


def cube_rotations(dtype=DTYPE) -> torch.Tensor:
    """The 24 rotations of a cube (the octahedral group, a finite subgroup of SO(3)), identity first.

    Returns ``(24, 3, 3)``: the signed permutation matrices with determinant +1. Summing the orbit target over
    a *finite* group makes it exactly equivariant under that group, which lets a notebook check Theorem 2(1)
    to machine precision (Haar Monte Carlo is equivariant only in distribution).
    """
    mats = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1.0, -1.0), repeat=3):
            m = torch.zeros(3, 3, dtype=dtype)
            m[torch.arange(3), torch.tensor(perm)] = torch.tensor(signs, dtype=dtype)
            if torch.linalg.det(m) > 0:
                mats.append(m)
    return torch.stack(mats)


def product_elements(rotations: torch.Tensor, perms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every pair ``(R_i, p_j)``: elements of ``Product(SO3(), Permutations(perms))`` for explicit candidates.

    Args:
        rotations: ``(r, 3, 3)``. perms: ``(P, n)`` or batched ``(B, P, n)`` (rows of -1 = padding).
    Returns:
        ``(R, p)`` with ``R`` ``(r P, 3, 3)`` and ``p`` ``(r P, n)`` / ``(B, r P, n)``; pair ``i P + j`` is
        ``(R_i, p_j)``. Pass it as ``elements=`` to :func:`symviz.orbit.orbit_target` (exact sum) or to
        :func:`symviz.metrics.equivariance_error`.
    """
    if rotations.dim() != 3 or rotations.shape[-2:] != (3, 3):
        raise ValueError(f"rotations: expected shape (r, 3, 3), got {tuple(rotations.shape)}")
    if perms.dim() not in (2, 3):
        raise ValueError(f"perms: expected shape (P, n) or (B, P, n), got {tuple(perms.shape)}")
    r, p = rotations.shape[0], perms.shape[-2]
    rep = (r, 1) if perms.dim() == 2 else (1, r, 1)
    return rotations.repeat_interleave(p, dim=0), perms.repeat(*rep)


# ----------------------------------------------------------------------------------------------
# One molecule: the computation behind ConformerViewer
# ----------------------------------------------------------------------------------------------


@dataclass
class PreparedMolecule:
    """What :func:`conformer_frame` needs, computed once per molecule by :func:`prepare_molecule`.

    ``ensemble`` (the input), ``mol`` (RDKit, all conformers), ``group`` (SO(3) x Aut), ``aligned``
    ``(K, n, 3)`` float64 tensor: every conformer superimposed on conformer 0 (heavy atoms, symmetry-aware)
    and centred; ``smiles`` (canonical, no H); ``n_automorphisms`` (the order of the whole automorphism group).
    """

    ensemble: object
    mol: object
    group: Product
    aligned: torch.Tensor
    smiles: str
    n_automorphisms: int
    weights: np.ndarray = field(repr=False, default=None)
    energies: np.ndarray = field(repr=False, default=None)

    @property
    def n_confs(self) -> int:
        return int(self.aligned.shape[0])


def prepare_molecule(ensemble) -> PreparedMolecule:
    """Automorphisms and aligned, centred conformers of one ``MoleculeEnsemble`` (or RDKit Mol).

    Costs milliseconds to a second (conformer alignment, heavy-atom automorphisms); everything a slider moves
    through is then an index into these arrays plus one orbit target (milliseconds).
    """
    from rdkit import Chem

    from symviz.molecules.rdmol import aligned_coordinates, as_mol

    mol = as_mol(ensemble)
    group = molecule_group(mol)
    n_aut = group.factors[1].order
    ids = [c.GetId() for c in mol.GetConformers()]
    xyz = aligned_coordinates(mol, ids, reference=ids[0])
    aligned = center(torch.as_tensor(xyz, dtype=DTYPE))
    k = len(ids)
    w = np.asarray(getattr(ensemble, "weights", np.full(k, 1.0 / k)), dtype=np.float64)
    e = np.asarray(getattr(ensemble, "energies", np.full(k, np.nan)), dtype=np.float64)
    smiles = Chem.MolToSmiles(Chem.RemoveHs(Chem.Mol(mol)))
    return PreparedMolecule(ensemble, mol, group, aligned, smiles, n_aut, w, e)


@dataclass
class ConformerFrame:
    """One setting of :class:`symviz.widgets.ConformerViewer` (numpy arrays, float64).

    ``x0`` ``(n, 3)`` centred conformer ``conf``; ``xt`` its noised copy ``alpha x0 + sigma eps`` (centred
    noise, fixed by ``seed``: the same ``eps`` for every t); ``target`` ``(n, 3)`` the orbit target (Eq. 11)
    with ``K`` candidates (identity in slot 0); ``weights`` ``(K,)``; ``ess``; ``identity_weight`` (weight of
    slot 0); ``target_scale`` = ``||target|| / ||x0||`` (1 at t = 0, about 0 at t = 1: the SO(3) orbit mean of
    a centred cloud is 0); ``boltzmann_weight`` and ``energy`` (kcal/mol, relative) of the conformer.
    """

    conf: int
    n_confs: int
    t: float
    alpha: float
    sigma: float
    K: int
    seed: int
    x0: np.ndarray
    xt: np.ndarray
    target: np.ndarray
    weights: np.ndarray
    ess: float
    identity_weight: float
    target_scale: float
    boltzmann_weight: float
    energy: float
    n_automorphisms: int
    smiles: str


def _check_conf(conf, n_confs: int) -> int:
    if isinstance(conf, bool) or not isinstance(conf, (int, np.integer, float)) or float(conf) != int(conf):
        raise ValueError(f"conf must be a whole number between 0 and {n_confs - 1}; got {conf!r}")
    if not 0 <= int(conf) < n_confs:
        raise ValueError(
            f"conf must be between 0 and {n_confs - 1} (this molecule has {n_confs} conformers); got {conf}"
        )
    return int(conf)


def conformer_frame(
    molecule,
    conf: int = 0,
    t: float = 0.3,
    K: int = 64,
    seed: int = 0,
    schedule="cosine",
    max_k: int = MAX_K,
) -> ConformerFrame:
    """x0, x_t and the orbit target over ``SO(3) x Aut`` for conformer ``conf`` of a molecule.

    Args:
        molecule: a :class:`PreparedMolecule` (fast) or anything :func:`prepare_molecule` accepts.
        conf: conformer index in ``[0, K_mol)``. t: diffusion time in [0, 1]. K: candidates in [1, max_k],
            identity included. seed: fixes the noise ``eps`` (generator ``seed``) and the candidates
            (generator ``seed + 1``).
        schedule: a :class:`symviz.diffusion.VPSchedule` or its name (default ``"cosine"``).
    Raises ValueError with the valid range for a bad conf, t, K or seed.
    """
    mol = molecule if isinstance(molecule, PreparedMolecule) else prepare_molecule(molecule)
    conf = _check_conf(conf, mol.n_confs)
    t, K, seed = check_t(t), check_k(K, max_k), check_seed(seed)
    sched = schedule if isinstance(schedule, VPSchedule) else VPSchedule(schedule)
    x0 = mol.aligned[conf]
    tt = torch.tensor(t, dtype=DTYPE)
    xt, _ = add_noise(x0, tt, sched, generator=torch.Generator().manual_seed(seed))
    alpha, sigma = sched.alpha_sigma(tt)
    gen = torch.Generator().manual_seed(seed + 1)
    res = orbit_target(x0, xt, alpha, sigma, mol.group, num_samples=K, generator=gen)
    w = res.weights.numpy()
    return ConformerFrame(
        conf=conf,
        n_confs=mol.n_confs,
        t=t,
        alpha=float(alpha),
        sigma=float(sigma),
        K=K,
        seed=seed,
        x0=x0.numpy(),
        xt=xt.numpy(),
        target=res.target.numpy(),
        weights=w,
        ess=float(res.ess),
        identity_weight=float(w[0]),
        target_scale=float(res.target.norm() / x0.norm().clamp_min(1e-12)),
        boltzmann_weight=float(mol.weights[conf]),
        energy=float(mol.energies[conf]),
        n_automorphisms=mol.n_automorphisms,
        smiles=mol.smiles,
    )


# ----------------------------------------------------------------------------------------------
# A padded batch of molecules
# ----------------------------------------------------------------------------------------------


@dataclass
class MoleculeBatch:
    """A padded batch: ``x0`` ``(B, n, 3)`` float64, centred over real atoms (padding rows are 0); ``mask``
    ``(B, n)`` bool; ``perms`` ``(B, P, n)`` heavy-atom automorphism tables padded with -1 rows; ``group`` =
    ``Product(SO3(), AutomorphismGroup(perms, classes))`` (the whole automorphism group of each molecule);
    ``n_atoms`` ``(B,)``; ``mols`` the RDKit molecules."""

    x0: torch.Tensor
    mask: torch.Tensor
    perms: torch.Tensor
    group: Product
    n_atoms: torch.Tensor
    mols: list


def molecule_batch(items: Sequence, conf: int = 0) -> MoleculeBatch:
    """Conformer ``conf`` of each molecule (``MoleculeEnsemble`` or RDKit Mol), padded, masked and centred.

    Uses :func:`symviz.data.molgraph.collate_molecules` and :func:`~symviz.data.molgraph.pad_automorphism_tables`.
    """
    from symviz.data.molgraph import automorphism_tables, collate_molecules, mol_to_graph, pad_automorphism_tables
    from symviz.molecules.rdmol import as_mol

    if not items:
        raise ValueError("items: need at least one molecule")
    mols = [as_mol(it) for it in items]
    pos = []
    for i, m in enumerate(mols):
        ids = [c.GetId() for c in m.GetConformers()]
        if isinstance(conf, bool) or not isinstance(conf, int) or not 0 <= conf < len(ids):
            raise ValueError(f"conf must be an integer in [0, {len(ids) - 1}] for molecule {i}; got {conf!r}")
        pos.append(m.GetConformer(ids[conf]).GetPositions())
    graphs = [mol_to_graph(m, pos=p) for m, p in zip(mols, pos)]
    batch = collate_molecules(graphs)
    mask = batch["mask"]
    x0 = center(batch["pos"].to(DTYPE), mask)
    perms, classes = pad_automorphism_tables([automorphism_tables(m) for m in mols], x0.shape[1])
    group = Product(SO3(), AutomorphismGroup(perms, classes))
    return MoleculeBatch(x0=x0, mask=mask, perms=perms, group=group, n_atoms=batch["n_atoms"], mols=mols)
