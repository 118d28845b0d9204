"""Conformers from a trained model: batched sampling, the chirality fix, graph checks and ``generate``.

    from symviz.conformers import generate
    mol = generate("CC(=O)OC1CC1", 10, seed=0)      # rdkit Mol with hydrogens and 10 conformers

Sampling is the unchanged reverse process of the base model (the paper, §4: Orbit Diffusion changes the
training target, not the sampler): DDIM (:func:`symviz.diffusion.ddim_sample`) from a centred Gaussian prior,
with the molecule's node and pair features (:func:`symviz.molecules.featurize`) passed to the network. Many
molecules are sampled together in padded batches; each conformer's prior noise comes from its own seeded
generator, so results do not depend on how conformers are batched.

Chirality: an E(3)-equivariant network cannot tell mirror images apart, so about half of its conformers of a
chiral molecule come out mirrored. :func:`fix_chirality` assigns the tetrahedral stereo of each conformer from
its 3D coordinates, compares it with the molecule's, and reflects (x -> -x) a conformer whose stereocentres are
*all* inverted (as ET-Flow does); conformers with some but not all centres wrong stay as they are and are
counted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from symviz._checks import check_positive_int
from symviz.diffusion import VPSchedule, center, ddim_sample
from symviz.molecules.features import collate_features, featurize
from symviz.molecules.stereo import chiral_centres, invert_wrong_centres

__all__ = [
    "MODELS",
    "SUPPORTED_ELEMENTS",
    "checkpoint_path",
    "load_model",
    "prepare_mol",
    "sample_conformers",
    "reverse_trajectory",
    "fix_chirality",
    "bond_graph_ok",
    "stereo_centres",
    "conformer_mol",
    "generate",
]

# Shipped models: name -> checkpoint file in symviz/checkpoints/ (package data; README.md there says how each
# was made). "default" is the orbit-trained AtomTransformer with 5000 extra QM9 B3LYP molecules: the best MAT of the
# three (data/results/qm9_conformers.md), and 6x faster to sample than the EGNN.
MODELS = {
    "default": "qm9_transformer_orbit_extra.pt",
    "qm9_egnn_orbit": "qm9_egnn_orbit.pt",
    "qm9_transformer_orbit": "qm9_transformer_orbit.pt",
    "qm9_transformer_orbit_extra": "qm9_transformer_orbit_extra.pt",
}
SUPPORTED_ELEMENTS = ("H", "C", "N", "O", "F")


# ----------------------------------------------------------------------------------------------
# Checkpoints
# ----------------------------------------------------------------------------------------------


def checkpoint_path(model: str = "default") -> Path:
    """Path of a shipped checkpoint (found in the installed package, clone or wheel), or ``model`` as a path."""
    if model in MODELS:
        return Path(str(resources.files("symviz") / "checkpoints" / MODELS[model]))
    p = Path(model)
    if p.suffix == ".pt" or p.exists():
        return p
    raise ValueError(f"model: unknown model {model!r}; shipped models are {sorted(MODELS)}, or pass a .pt path")


def _verify_sha256(path: Path) -> None:
    side = path.with_suffix(".sha256")
    if not side.is_file():
        return
    text = side.read_text().split()
    if not text:
        raise ValueError(f"{side} is empty; it should hold the SHA-256 of {path.name}")
    h = hashlib.sha256(path.read_bytes()).hexdigest()
    if h != text[0]:
        raise ValueError(
            f"{path}: SHA-256 {h[:16]}... does not match {side.name} ({text[0][:16]}...); the checkpoint is "
            f"corrupt or was changed: reinstall symviz or retrain it with the command in its README"
        )


def load_model(model: str = "default", device="cpu"):
    """``(net, meta)``: a shipped model by name (or a checkpoint path), SHA-256-verified when a ``.sha256``
    file sits beside it, read with ``torch.load(weights_only=True)``, in eval mode."""
    from symviz.molecules.models import build_net
    from symviz.train import load_checkpoint

    path = checkpoint_path(model)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; train one with python -m symviz.experiments.qm9_train")
    _verify_sha256(path)
    state = load_checkpoint(path)
    meta = state.get("meta") or {}
    if "spec" not in meta:
        raise ValueError(f"{path} has no network spec in its meta; was it written by symviz.experiments.qm9_train?")
    net = build_net(json.loads(meta["spec"]))
    net.load_state_dict(state["model"])
    return net.to(device).eval(), meta


# ----------------------------------------------------------------------------------------------
# Input molecules
# ----------------------------------------------------------------------------------------------


def prepare_mol(mol_or_smiles, max_atoms: int | None = None):
    """An RDKit Mol with explicit hydrogens from a SMILES or a Mol (a Mol keeps its atom order).

    Raises ValueError naming the problem for an unparsable SMILES, elements outside H C N O F, charged or
    radical species (the shipped models were trained on neutral closed-shell QM9 molecules), more than
    ``max_atoms`` atoms (hydrogens included) or several fragments.
    """
    from rdkit import Chem

    if isinstance(mol_or_smiles, str):
        mol = Chem.MolFromSmiles(mol_or_smiles)
        if mol is None:
            raise ValueError(f"could not parse the SMILES {mol_or_smiles!r} (RDKit returned None); check its syntax")
        mol = Chem.AddHs(mol)
    elif isinstance(mol_or_smiles, Chem.Mol):
        mol = Chem.Mol(mol_or_smiles)
        if any(a.GetNumImplicitHs() for a in mol.GetAtoms()):
            raise ValueError(
                "the Mol has implicit hydrogens; pass Chem.AddHs(mol) so that the conformers' atom order "
                "(hydrogens included) is the one you chose"
            )
        mol.RemoveAllConformers()
    else:
        raise TypeError(f"expected a SMILES string or an rdkit.Chem.Mol; got {type(mol_or_smiles).__name__}")
    bad = sorted({a.GetSymbol() for a in mol.GetAtoms()} - set(SUPPORTED_ELEMENTS))
    if bad:
        raise ValueError(f"unsupported element(s) {bad}: the model knows only {SUPPORTED_ELEMENTS} (QM9)")
    if any(a.GetFormalCharge() for a in mol.GetAtoms()):
        raise ValueError("charged species are not supported: the model was trained on neutral QM9 molecules")
    if any(a.GetNumRadicalElectrons() for a in mol.GetAtoms()):
        raise ValueError("radicals are not supported: the model was trained on closed-shell QM9 molecules")
    if len(Chem.GetMolFrags(mol)) > 1:
        raise ValueError("the molecule has several disconnected fragments; generate each fragment separately")
    if max_atoms is not None and mol.GetNumAtoms() > max_atoms:
        raise ValueError(
            f"the molecule has {mol.GetNumAtoms()} atoms with hydrogens, more than the {max_atoms} the model "
            f"supports (QM9 molecules have at most 29)"
        )
    return mol


# ----------------------------------------------------------------------------------------------
# Sampling
# ----------------------------------------------------------------------------------------------


def _prior(seed: int, mol_index: int, conf_index: int, n: int) -> torch.Tensor:
    """The prior draw of one conformer, ``(n, 3)`` float32, from its own generator (batch-independent)."""
    key = hashlib.sha256(f"{seed}:{mol_index}:{conf_index}".encode()).digest()
    gen = torch.Generator().manual_seed(int.from_bytes(key[:8], "little") & ((1 << 63) - 1))
    return torch.randn(n, 3, generator=gen)


@torch.no_grad()
def sample_conformers(
    net,
    mols: Sequence,
    num_confs: Sequence[int],
    *,
    steps: int = 50,
    seed: int = 0,
    batch_size: int = 256,
    schedule: VPSchedule | None = None,
    progress: bool = False,
    device="cpu",
    start: Sequence[np.ndarray] | None = None,
    t_start: float = 1.0,
) -> list[np.ndarray]:
    """Sample ``num_confs[i]`` conformers of each molecule ``mols[i]`` (RDKit Mols with explicit hydrogens).

    Args:
        net: ``net(x_t, t, mask=, node_attr=, edge_attr=) -> x0_hat``. steps: DDIM steps (default 50), on
            ``linspace(t_start, 0, steps + 1)``.
        seed: with the molecule and conformer index, fixes each conformer's prior noise (deterministic).
        batch_size: conformers per padded batch (molecules are sorted by size to limit padding).
        start, t_start: partial sampling (SDEdit): ``start[i]`` ``(num_confs[i], n_i, 3)`` conformers are
            noised to ``t_start`` in (0, 1], ``x = alpha x0 + sigma eps`` (the forward kernel, docs/theory.md, with
            the seeded noise above), and denoised from there. Default: from the prior at t = 1.
    Returns:
        one ``(num_confs[i], n_i, 3)`` float64 array per molecule, in its atom order (Å, centred).
    """
    if len(mols) != len(num_confs):
        raise ValueError(f"mols and num_confs need one entry per molecule; got {len(mols)} and {len(num_confs)}")
    for k in num_confs:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"num_confs: every entry must be an integer >= 1; got {k!r}")
    steps = check_positive_int(steps, "steps")
    if not 0.0 < float(t_start) <= 1.0:
        raise ValueError(f"t_start must be in (0, 1]; got {t_start!r}")
    schedule = schedule or VPSchedule("cosine")
    feats = [featurize(m) for m in mols]
    if start is not None:
        start = [np.asarray(s, dtype=np.float64) for s in start]
        shapes = [(int(k), f.n_atoms, 3) for k, f in zip(num_confs, feats)]
        if len(start) != len(mols) or any(s.shape != sh for s, sh in zip(start, shapes)):
            raise ValueError(
                f"start needs one (num_confs[i], n_i, 3) array per molecule, shapes {shapes}; "
                f"got {[s.shape for s in start]}"
            )
    alpha, sigma = (float(v) for v in schedule.alpha_sigma(torch.tensor(float(t_start), dtype=torch.float64)))
    jobs = sorted(((f.n_atoms, i, j) for i, f in enumerate(feats) for j in range(int(num_confs[i]))), reverse=True)
    out = [np.zeros((int(k), f.n_atoms, 3)) for k, f in zip(num_confs, feats)]
    batches = [jobs[s : s + batch_size] for s in range(0, len(jobs), batch_size)]
    it = batches
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(batches, desc="sampling conformers", unit="batch")
    for batch in it:
        tab = collate_features([feats[i] for _, i, _ in batch])
        mask = tab["mask"]
        x = torch.zeros(len(batch), mask.shape[1], 3)
        for r, (n, i, j) in enumerate(batch):
            x[r, :n] = _prior(seed, i, j, n)
        x = center(x, mask)
        if start is not None:
            x0 = torch.zeros_like(x)
            for r, (n, i, j) in enumerate(batch):
                x0[r, :n] = torch.as_tensor(start[i][j], dtype=x.dtype)
            x = alpha * center(x0, mask) + sigma * x
        y = ddim_sample(
            net,
            tuple(x.shape),
            schedule,
            times=torch.linspace(float(t_start), 0.0, steps + 1, dtype=torch.float64),
            x_init=x.to(device),
            mask=mask.to(device),
            node_attr=tab["node"].to(device),
            edge_attr=tab["pair"].to(device),
        ).cpu()
        for r, (n, i, j) in enumerate(batch):
            out[i][j] = y[r, :n].double().numpy()
    return out


@torch.no_grad()
def reverse_trajectory(net, mol, *, steps: int = 50, seed: int = 0, conf_index: int = 0, schedule=None):
    """The reverse process of one conformer, for a t slider: ``(times (S,), xt (S, n, 3), x0_hat (S, n, 3))``.

    ``times`` runs from 1 down to the last step; ``xt[i]`` is the noisy state at ``times[i]`` and ``x0_hat[i]``
    the network's prediction there (float64 numpy). The final conformer is ``x0_hat[-1]``, identical to
    conformer ``conf_index`` of :func:`sample_conformers` with the same ``seed`` (molecule index 0).
    """
    schedule = schedule or VPSchedule("cosine")
    f = featurize(mol)
    tab = collate_features([f])
    x = center(_prior(seed, 0, conf_index, f.n_atoms)[None], tab["mask"])
    rec = []
    ddim_sample(
        net,
        tuple(x.shape),
        schedule,
        steps=steps,
        x_init=x,
        mask=tab["mask"],
        node_attr=tab["node"],
        edge_attr=tab["pair"],
        callback=lambda t, xt, x0: rec.append((t, xt[0].double().numpy(), x0[0].double().numpy())),
    )
    times = np.array([r[0] for r in rec])
    return times, np.stack([r[1] for r in rec]), np.stack([r[2] for r in rec])


# ----------------------------------------------------------------------------------------------
# Checks and the chirality fix
# ----------------------------------------------------------------------------------------------


# What a reflection makes of each CIP label: R <-> S; a pseudo-asymmetric centre (r, s) keeps its label, since
# the mirror inverts both its arrangement and the chirality of the ligands that rank it (tests check both).
_MIRROR = {"R": "S", "S": "R", "r": "r", "s": "s"}


def stereo_centres(mol) -> dict[int, str]:
    """The molecule's specified tetrahedral stereocentres, ``{atom index: "R" | "S" | "r" | "s"}`` (from its chiral
    tags; lower case: a pseudo-asymmetric centre, e.g. in a cage, whose label a reflection keeps)."""
    from rdkit import Chem

    return dict(Chem.FindMolChiralCenters(Chem.Mol(mol), includeUnassigned=False, useLegacyImplementation=False))


def _centres_from_3d(mol, coords: np.ndarray, centres: Sequence[int]) -> list[str | None]:
    """CIP labels (R, S, r, s) of ``centres`` assigned from the coordinates ``(n, 3)`` (None where none is
    perceived)."""
    from rdkit import Chem

    m = conformer_mol(mol, coords[None])
    Chem.AssignStereochemistryFrom3D(m)
    labels = dict(Chem.FindMolChiralCenters(m, includeUnassigned=True, useLegacyImplementation=False))
    return [labels.get(c) if labels.get(c) in _MIRROR else None for c in centres]


@dataclass
class ChiralityReport:
    """What :func:`fix_chirality` did: conformers ``checked``, ``reflected`` (all centres inverted, fixed by
    x -> -x), ``wrong`` (some centres still wrong after the fix); ``n_centres`` specified stereocentres."""

    checked: int
    reflected: int
    wrong: int
    n_centres: int


def fix_chirality(mol, coords: np.ndarray) -> tuple[np.ndarray, ChiralityReport, np.ndarray]:
    """Reflect conformers whose stereocentres are all inverted; report those that stay wrong.

    Args:
        mol: the molecule (its chiral tags define the wanted stereo). coords: ``(k, n, 3)``.
    Returns:
        ``(fixed coords, ChiralityReport, ok (k,) bool: every stereocentre right after the fix)``. A molecule
        without specified stereocentres is returned unchanged with every conformer ``ok``.
    """
    coords = np.array(coords, dtype=np.float64, copy=True)
    want = stereo_centres(mol)
    k = coords.shape[0]
    if not want:
        return coords, ChiralityReport(k, 0, 0, 0), np.ones(k, dtype=bool)
    centres = sorted(want)
    target = [want[c] for c in centres]
    ok = np.zeros(k, dtype=bool)
    reflected = 0
    for j in range(k):
        got = _centres_from_3d(mol, coords[j], centres)
        if got == target:
            ok[j] = True
        elif all(g is not None and _MIRROR[g] == w for g, w in zip(got, target)):
            coords[j] = -coords[j]
            reflected += 1
            ok[j] = _centres_from_3d(mol, coords[j], centres) == target
    return coords, ChiralityReport(k, reflected, int((~ok).sum()), len(centres)), ok


@dataclass
class StereoSampling:
    """What :func:`sample_with_stereo` did per molecule: the chirality fix's report on the first draw, how many
    conformers were ``repaired`` (right after the local inversion and re-denoising) and ``resampled`` (drawn
    again), and ``ok`` ``(k,)``: every stereocentre right at the end."""

    report: ChiralityReport
    resampled: int
    ok: np.ndarray
    repaired: int = 0


def _repair(net, mols, coords, oks, *, t_start: float, steps: int, seed: int, **kwargs) -> list[np.ndarray]:
    """Local inversion of the wrong centres (:func:`symviz.molecules.stereo.invert_wrong_centres`) of the
    conformers not ``ok``, then partial sampling from ``t_start`` to relax them; returns per molecule the
    ``(k,)`` mask of conformers now right, whose new coordinates are written into ``coords`` in place."""
    centres = {i: chiral_centres(mols[i]) for i, ok in enumerate(oks) if not ok.all()}
    todo = [i for i, cs in centres.items() if any(c.pivot >= 0 for c in cs)]
    fixed = [np.zeros(len(ok), dtype=bool) for ok in oks]
    if not todo:
        return fixed
    start = [invert_wrong_centres(coords[i][~oks[i]], centres[i])[0] for i in todo]
    relaxed = sample_conformers(
        net,
        [mols[i] for i in todo],
        [len(x) for x in start],
        start=start,
        t_start=t_start,
        steps=steps,
        seed=seed,
        **kwargs,
    )
    for i, y in zip(todo, relaxed):
        y, _, ok_new = fix_chirality(mols[i], y)
        wrong = np.flatnonzero(~oks[i])
        coords[i][wrong[ok_new]] = y[ok_new]
        fixed[i][wrong[ok_new]] = True
    return fixed


def sample_with_stereo(
    net,
    mols: Sequence,
    num_confs: Sequence[int],
    *,
    retries: int = 3,
    repair: bool = True,
    repair_t: float = 0.05,
    repair_steps: int = 5,
    seed: int = 0,
    first=None,
    **kwargs,
):
    """:func:`sample_conformers`, then the stereo checks a chemist expects of a conformer generator.

    1. The chirality fix (:func:`fix_chirality`): a conformer with *every* stereocentre inverted is mirrored.
    2. Up to ``retries`` redraws of the conformers still wrong (a rejection step, like ETKDG re-embedding on a
       wrong chiral volume), each followed by 1.
    3. ``repair``, last (a fresh draw that is right is better than a repaired one): a conformer with only *some*
       centres still inverted gets those centres inverted locally (each centre and its smallest free branch
       reflected through the plane of its other three neighbours, see :mod:`symviz.molecules.stereo`), then is
       noised to ``repair_t`` and denoised in ``repair_steps`` DDIM steps so the model relaxes the moved atoms.
       Like ETKDG's chiral-volume constraints, this enforces the stereo the molecule asks for; the model's
       geometry is kept everywhere else.

    Redraws and repairs use their own deterministic streams (``seed`` and the round), so the result depends only
    on the inputs. A conformer still wrong at the end is its last draw (after the fix).
    ``retries=0, repair=False``: the fix only. ``kwargs`` go to :func:`sample_conformers` (``steps``,
    ``batch_size``, ``progress``, ``device``, ``schedule``); ``first``: the first draw if already sampled
    (``sample_conformers``'s output for the same arguments; not modified).
    Returns ``(coords, info)``: one ``(k_i, n_i, 3)`` array and one :class:`StereoSampling` per molecule.
    """
    if isinstance(retries, bool) or not isinstance(retries, (int, np.integer)) or retries < 0:
        raise ValueError(f"retries must be an integer >= 0; got {retries!r}")
    coords = list(sample_conformers(net, mols, num_confs, seed=seed, **kwargs) if first is None else first)
    info = []
    for i, mol in enumerate(mols):
        coords[i], rep, ok = fix_chirality(mol, coords[i])
        info.append(StereoSampling(rep, 0, ok))
    kwargs.pop("progress", None)
    steps = kwargs.pop("steps", 50)
    relax = dict(t_start=repair_t, steps=repair_steps, **kwargs)
    for r in range(1, retries + 1):
        todo = [i for i, s in enumerate(info) if not s.ok.all()]
        if not todo:
            break
        redo = sample_conformers(
            net,
            [mols[i] for i in todo],
            [int((~info[i].ok).sum()) for i in todo],
            seed=seed + 7919 * r,
            steps=steps,
            **kwargs,
        )
        for i, c in zip(todo, redo):
            fixed, _, ok_new = fix_chirality(mols[i], c)
            wrong = np.flatnonzero(~info[i].ok)
            info[i].resampled += len(wrong)
            coords[i][wrong] = fixed  # the newest draw replaces a wrong conformer, right or not
            info[i].ok[wrong[ok_new]] = True
    if repair:
        fixed = _repair(net, mols, coords, [s.ok for s in info], seed=seed + 104729, **relax)
        for s, f in zip(info, fixed):
            s.repaired += int(f.sum())
            s.ok |= f
    return coords, info


def bond_graph_ok(mol, coords: np.ndarray) -> np.ndarray:
    """``(k,)`` bool: the bond graph re-perceived from each conformer (RDKit ``DetermineConnectivity``, all
    atoms) equals the molecule's bond graph."""
    from rdkit import Chem
    from rdkit.Chem import rdDetermineBonds

    n = mol.GetNumAtoms()
    want = np.zeros((n, n), dtype=bool)
    for b in mol.GetBonds():
        want[b.GetBeginAtomIdx(), b.GetEndAtomIdx()] = want[b.GetEndAtomIdx(), b.GetBeginAtomIdx()] = True
    bare = Chem.RWMol()
    for a in mol.GetAtoms():
        bare.AddAtom(Chem.Atom(a.GetAtomicNum()))
    out = np.zeros(coords.shape[0], dtype=bool)
    for j, p in enumerate(np.asarray(coords, dtype=np.float64)):
        m = conformer_mol(bare.GetMol(), p[None])
        try:
            rdDetermineBonds.DetermineConnectivity(m)
        except (ValueError, RuntimeError):
            continue
        got = np.zeros((n, n), dtype=bool)
        for b in m.GetBonds():
            got[b.GetBeginAtomIdx(), b.GetEndAtomIdx()] = got[b.GetEndAtomIdx(), b.GetBeginAtomIdx()] = True
        out[j] = bool((got == want).all())
    return out


def conformer_mol(mol, coords: np.ndarray):
    """A copy of ``mol`` (its own conformers dropped) with one conformer per ``coords[j]`` ``(k, n, 3)``, ids
    0..k-1; ``mol`` is not modified. (The viewer's :func:`symviz.viz.molview.conformers_to_mol` adds input
    checks on top of this.)"""
    from rdkit import Chem

    out = Chem.Mol(mol)
    out.RemoveAllConformers()
    for p in np.asarray(coords, dtype=np.float64):
        conf = Chem.Conformer(out.GetNumAtoms())
        for i, xyz in enumerate(p):
            conf.SetAtomPosition(i, xyz.tolist())
        out.AddConformer(conf, assignId=True)
    return out


# ----------------------------------------------------------------------------------------------
# One call
# ----------------------------------------------------------------------------------------------

_CACHE: dict = {}


def generate(
    mol_or_smiles,
    num_confs: int,
    *,
    seed: int | None = None,
    steps: int = 50,
    model: str = "default",
    stereo_retries: int = 10,
    stereo_repair: bool = True,
):
    """``num_confs`` conformers of a molecule from a shipped model, as an ``rdkit.Chem.Mol``.

    Args:
        mol_or_smiles: a SMILES string or an RDKit Mol (with explicit hydrogens; its atom order is kept).
        num_confs: how many conformers (>= 1). seed: fixes the result (None: a fresh random seed).
        steps: DDIM steps (default 50). model: a shipped model name (``"default"``) or a checkpoint path.
        stereo_retries: redraws of conformers whose stereocentres are wrong after the chirality fix (default 10;
            0 keeps them as drawn), see :func:`sample_with_stereo`. stereo_repair: invert single wrong
            stereocentres locally and re-denoise (default True; same function).
    Returns:
        the molecule with hydrogens and ``num_confs`` conformers (Å), after the chirality fix and redraws.
    Raises ValueError naming the problem for bad input (see :func:`prepare_mol`) or ``num_confs < 1``.
    """
    if isinstance(num_confs, bool) or not isinstance(num_confs, (int, np.integer)) or num_confs < 1:
        raise ValueError(f"num_confs must be an integer >= 1; got {num_confs!r}")
    if model not in _CACHE:
        _CACHE[model] = load_model(model)
    net, meta = _CACHE[model]
    mol = prepare_mol(mol_or_smiles, max_atoms=int(meta.get("max_atoms", 29)))
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    coords, _ = sample_with_stereo(
        net, [mol], [int(num_confs)], retries=stereo_retries, repair=stereo_repair, steps=steps, seed=int(seed)
    )
    return conformer_mol(mol, coords[0])
