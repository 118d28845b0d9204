"""Train a conformer denoiser on the offline QM9 set with the orbit target over SO(3) x automorphisms.

    python -m symviz.experiments.qm9_train --steps 300 --out runs/qm9_orbit.pt              # a laptop CPU
    python -m symviz.experiments.qm9_train --device cuda --steps 20000 --out runs/qm9.pt    # one GPU
    torchrun --standalone --nproc_per_node=4 -m symviz.experiments.qm9_train --device cuda ...  # several

The same :func:`symviz.train.fit` as the 2D toys. Every conformer of the train split is one sample: a padded,
centred cloud ``x0 (n, 3)`` with its mask, atom types (one-hot H C N O F, the EGNN's node features) and the
index of its molecule. Each step takes the batch's group ``Product(SO3(), Permutations(...))`` from the
molecules' automorphisms (PAPER.md §2.5: rotations times graph symmetries), so the orbit target averages over
both. The network is an :class:`~symviz.nets.EGNN` with atom types as node features. At the end the mean loss
on the validation split (fixed times, noise and group draws) is printed and stored in the checkpoint's meta.

Data: ``data/qm9_xtb_confs_v2.npz`` (QM9 molecules, GFN2-xTB conformers; not GEOM; see data/README.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from symviz import distributed
from symviz.diffusion import VPSchedule, center
from symviz.groups import SO3, Permutations, Product
from symviz.losses import DenoisingLoss
from symviz.nets import EGNN
from symviz.train import fit, save_checkpoint

__all__ = ["conformer_tensors", "MoleculeLoss", "validation_loss", "main"]

NODE_DIM = 5  # one-hot H, C, N, O, F (symviz.data.molgraph.atom_onehot)


def conformer_tensors(ensembles, max_automorphisms: int = 64) -> dict[str, torch.Tensor]:
    """One row per conformer of every molecule in ``ensembles`` (a list of ``MoleculeEnsemble``).

    Returns ``x0`` ``(N, n, 3)`` float32 (centred over real atoms, padding 0), ``mask`` ``(N, n)`` bool,
    ``atoms`` ``(N, n, 5)`` float32 one-hot, ``mol`` ``(N,)`` long (index into ``perms``) and ``perms``
    ``(M, P, n)`` long: each molecule's automorphisms (identity first, at most ``max_automorphisms``, a
    uniform subsample above that), padded with -1 rows and extended by the identity on padding atoms.
    """
    from symviz.data.ensembles import mol_from_mapped_smiles
    from symviz.data.molgraph import atom_onehot, automorphisms, pad_automorphisms

    if not ensembles:
        raise ValueError("ensembles: need at least one molecule (is the split empty?)")
    n = max(e.n_atoms for e in ensembles)
    rows = sum(e.n_confs for e in ensembles)
    x0 = torch.zeros(rows, n, 3, dtype=torch.float64)
    mask = torch.zeros(rows, n, dtype=torch.bool)
    atoms = torch.zeros(rows, n, NODE_DIM)
    mol = torch.zeros(rows, dtype=torch.long)
    perms, r = [], 0
    for m, e in enumerate(ensembles):
        k, a = e.n_confs, e.n_atoms
        x0[r : r + k, :a] = torch.as_tensor(e.pos, dtype=torch.float64)
        mask[r : r + k, :a] = True
        atoms[r : r + k, :a] = atom_onehot(e.z)
        mol[r : r + k] = m
        perms.append(automorphisms(mol_from_mapped_smiles(e.smiles), max_count=max_automorphisms))
        r += k
    x0 = center(x0, mask).float()
    return {"x0": x0, "mask": mask, "atoms": atoms, "mol": mol, "perms": pad_automorphisms(perms, n)}


class MoleculeLoss:
    """A :class:`~symviz.losses.DenoisingLoss` whose group is built per batch from the molecules' automorphisms.

    ``loss_fn(net, x0, generator=, mask=, mol=, atoms=)`` -> ``(B,)``: group ``Product(SO3(), Permutations(
    perms[mol]))`` and ``net(x_t, t, mask=mask, node_attr=atoms)``. Pass ``mol`` and ``atoms`` as ``fit``'s
    ``extras``.
    """

    def __init__(self, loss: DenoisingLoss, perms: torch.Tensor):
        self.loss = loss
        self.mode = loss.mode
        self.automorphisms = Permutations(perms)  # validated once here; each batch only takes its rows

    def __call__(self, net, x0, generator=None, mask=None, mol=None, atoms=None) -> torch.Tensor:
        if mol is None or atoms is None:
            raise ValueError("MoleculeLoss needs mol= and atoms= for the batch (fit(..., extras={'mol', 'atoms'}))")
        if self.automorphisms.perms.device != x0.device:
            self.automorphisms = self.automorphisms.to(x0.device)
        group = Product(SO3(), self.automorphisms.take(mol))
        return self.loss(net, x0, generator=generator, mask=mask, group=group, node_attr=atoms)


@torch.no_grad()
def validation_loss(net, loss_fn: MoleculeLoss, tensors: dict, batch_size: int = 64, seed: int = 1234) -> float:
    """Mean loss over every conformer of ``tensors`` with fixed draws (seeded), in batches; no gradients."""
    device = next(net.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    total, count = 0.0, 0
    for i in range(0, tensors["x0"].shape[0], batch_size):
        sl = slice(i, i + batch_size)
        x0, mask = tensors["x0"][sl].to(device), tensors["mask"][sl].to(device)
        per = loss_fn(
            net, x0, generator=gen, mask=mask, mol=tensors["mol"][sl].to(device), atoms=tensors["atoms"][sl].to(device)
        )
        total, count = total + float(per.sum()), count + per.numel()
    return total / count


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m symviz.experiments.qm9_train", description=__doc__.split("\n\n")[0])
    p.add_argument("--mode", choices=["plain", "augment", "orbit"], default="orbit")
    p.add_argument("--num-samples", type=int, default=64, help="K candidates per sample, identity included")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=32, help="conformers per step (per rank under torchrun)")
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-molecules", type=int, default=None, help="use the first N train molecules (default all)")
    p.add_argument("--max-automorphisms", type=int, default=64)
    p.add_argument("--data", type=Path, default=None, help="npz file (default: the shipped offline set)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    p.add_argument("--out", type=Path, required=True, help="checkpoint path (written atomically by rank 0)")
    args = p.parse_args(argv)
    from symviz.data.ensembles import load_offline_ensembles

    ctx = distributed.setup(args.device)
    try:
        train = load_offline_ensembles(args.data, split="train")[: args.max_molecules]
        val = load_offline_ensembles(args.data, split="val")[: args.max_molecules]
        tr, va = conformer_tensors(train, args.max_automorphisms), conformer_tensors(val, args.max_automorphisms)
        base = DenoisingLoss(VPSchedule(), args.mode, SO3(), num_samples=args.num_samples)
        loss_fn = MoleculeLoss(base, tr["perms"])
        torch.manual_seed(args.seed)
        net = EGNN(node_dim=NODE_DIM, hidden=args.hidden, layers=args.layers)
        hist = fit(
            net,
            loss_fn,
            tr["x0"],
            mask=tr["mask"],
            extras={"mol": tr["mol"], "atoms": tr["atoms"]},
            steps=args.steps,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=args.seed,
            device=ctx.device,
            progress=ctx.is_main,
            log_every=max(1, min(50, args.steps)),
        )
        if ctx.is_main:
            val_loss = validation_loss(net, MoleculeLoss(base, va["perms"]), va)
            meta = {k: str(v) for k, v in vars(args).items()} | {
                "world_size": ctx.world_size,
                "train_conformers": int(tr["x0"].shape[0]),
                "val_loss": val_loss,
            }
            save_checkpoint(args.out, net, step=args.steps, history=hist, meta=meta)
            print(
                f"{args.mode}: {args.steps} steps on {tr['x0'].shape[0]} conformers of {len(train)} molecules, "
                f"{ctx.world_size} process(es) ({ctx.device.type}), {hist.seconds:.1f} s; train loss "
                f"{hist.loss[-1]:.4g}, validation loss {val_loss:.4g}; wrote {args.out}"
            )
    finally:
        distributed.teardown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
