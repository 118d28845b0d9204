"""Train a graph-conditioned conformer denoiser on the offline QM9 set (plain, augment or orbit target).

    python -m symviz.experiments.qm9_train --net egnn --mode orbit --minutes 50 --out runs/egnn_orbit.pt
    python -m symviz.experiments.qm9_train --net transformer --mode orbit --steps 3000 --out runs/tf.pt
    python -m symviz.experiments.qm9_train ... --resume                       # continue from --out
    torchrun --standalone --nproc_per_node=4 -m symviz.experiments.qm9_train --device cuda ...

Every conformer of the train split is one sample (:func:`symviz.molecules.conformer_tensors`); the network
sees the molecule's node and pair features (:mod:`symviz.molecules.features`) and, in ``orbit`` mode, is
regressed on the orbit target over SO(3) x the whole automorphism group (Eq. 11 of the paper, K candidates,
identity in slot 0). ``--net egnn`` is E(3)-equivariant; ``--net transformer`` is not (raw coordinates in,
chiral tags as input): the paper's claim is that the orbit target teaches it the symmetry.

The checkpoint (written atomically every ``--checkpoint-every`` steps, with the optimizer and RNG states, so
``--resume`` continues a killed run) stores the network spec in its meta; :func:`symviz.conformers.load_model`
rebuilds the network from it. Data: ``symviz/data/files/qm9_xtb_confs_v2.npz`` (QM9 molecules, GFN2-xTB
conformers; not GEOM).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from symviz import distributed
from symviz.diffusion import VPSchedule
from symviz.experiments.reporting import command_line, git_commit, versions
from symviz.groups import SO3
from symviz.losses import DenoisingLoss
from symviz.molecules import MoleculeLoss, conformer_tensors, validation_loss
from symviz.molecules.models import build_net, net_spec
from symviz.threads import configure_threads
from symviz.train import fit, load_checkpoint, save_checkpoint

__all__ = ["main", "make_loss", "load_extra"]


def make_loss(mode: str, num_samples: int = 64, proposal: str = "haar") -> DenoisingLoss:
    """The base loss of the molecule models: cosine VP schedule, x0 target, squared error, K candidates."""
    return DenoisingLoss(VPSchedule("cosine"), mode, SO3(), num_samples=num_samples, proposal=proposal)


def load_extra(path, held_out) -> list:
    """The train molecules of an extra set (:mod:`symviz.data.build_qm9_extra`; [] for None). ValueError if one of
    them is also among ``held_out``'s non-train molecules (same structure, stereo included), or the file holds
    a non-train split."""
    if path is None:
        return []
    from rdkit import Chem

    from symviz.data.ensembles import load_offline_ensembles, mol_from_mapped_smiles

    extra = load_offline_ensembles(path, split=None)
    if any(e.split != "train" for e in extra):
        raise ValueError(f"{path}: an extra set may hold train molecules only; rebuild it with build_qm9_extra")

    def key(e):
        return Chem.MolToSmiles(Chem.RemoveHs(mol_from_mapped_smiles(e.smiles)))

    leaked = {key(e) for e in held_out if e.split != "train"} & {key(e) for e in extra}
    if leaked:
        raise ValueError(
            f"{path}: {len(leaked)} molecule(s) of the validation/test splits are in the extra set, e.g. "
            f"{sorted(leaked)[0]}; rebuild it with python -m symviz.data.build_qm9_extra"
        )
    return extra


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m symviz.experiments.qm9_train", description=__doc__.split("\n\n")[0])
    p.add_argument("--net", choices=["egnn", "transformer"], default="egnn")
    p.add_argument("--mode", choices=["plain", "augment", "orbit"], default="orbit")
    p.add_argument("--num-samples", type=int, default=64, help="K candidates per sample, identity included")
    p.add_argument(
        "--proposal",
        choices=["haar", "aligned"],
        default="haar",
        help="rotation proposal of the orbit target: uniform Haar, or aligned per drawn automorphism (Kabsch-"
        "centred matrix Fisher mixed with Haar, symviz.proposals)",
    )
    p.add_argument("--steps", type=int, default=3000, help="optimizer steps (the learning-rate cosine spans them)")
    p.add_argument("--batch-size", type=int, default=32, help="conformers per step (per rank under torchrun)")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-molecules", type=int, default=None, help="use the first N train molecules (default all)")
    p.add_argument("--data", type=Path, default=None, help="npz file (default: the shipped offline set)")
    p.add_argument(
        "--extra-data",
        type=Path,
        default=None,
        help="more train molecules (python -m symviz.data.build_qm9_extra; must not hold a validation molecule)",
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: symviz's default)")
    p.add_argument("--checkpoint-every", type=int, default=250)
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint at --out if it exists")
    p.add_argument("--out", type=Path, required=True, help="checkpoint path (written atomically by rank 0)")
    args = p.parse_args(argv)
    from symviz.data.ensembles import DEFAULT_PATH, load_offline_ensembles, sha256_file

    ctx = distributed.setup(args.device)
    try:
        data_path = args.data or DEFAULT_PATH
        train = load_offline_ensembles(data_path, split="train")[: args.max_molecules]
        val = load_offline_ensembles(data_path, split="val")[: args.max_molecules]
        extra = load_extra(args.extra_data, held_out=load_offline_ensembles(data_path, split=None))
        train = train + extra
        tr, va = conformer_tensors(train), conformer_tensors(val)
        base = make_loss(args.mode, args.num_samples, args.proposal)
        loss_fn = MoleculeLoss(base, tr)
        spec = net_spec(args.net, hidden=args.hidden, layers=args.layers)
        threads = configure_threads(args.threads)  # fit leaves threads alone: the command chooses
        torch.manual_seed(args.seed)  # the initial weights: one --seed means one run
        net = build_net(spec)
        opt = torch.optim.Adam(net.parameters(), lr=args.lr)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, _warmup_cosine(args.steps))
        meta = {
            "spec": json.dumps(spec),
            "args": json.dumps({k: str(v) for k, v in vars(args).items()}),
            "command": command_line(p.prog, argv),
            "commit": git_commit() or "unknown",
            "versions": versions(),
            "data_sha256": sha256_file(data_path),
            "hardware": _hardware(ctx, threads),
            "train_conformers": int(tr["x0"].shape[0]),
            "train_molecules": len(train),
        }
        if args.extra_data is not None:
            meta |= {"extra_data_sha256": sha256_file(args.extra_data), "extra_molecules": len(extra)}
        t0 = time.perf_counter()
        hist = fit(
            net,
            loss_fn,
            tr["x0"],
            mask=tr["mask"],
            extras={"mol": tr["mol"]},
            steps=args.steps,
            batch_size=args.batch_size,
            seed=args.seed,
            optimizer=opt,
            scheduler=sched,
            grad_clip=1.0,
            device=ctx.device,
            progress=ctx.is_main,
            log_every=max(1, min(50, args.steps)),
            checkpoint_path=args.out,
            checkpoint_every=args.checkpoint_every,
            checkpoint_meta=meta,
            resume=args.resume,
        )
        if ctx.is_main:
            val_loss = validation_loss(net, MoleculeLoss(base, va), va)
            meta |= {"val_loss": val_loss, "wall_seconds": hist.seconds, "session_seconds": time.perf_counter() - t0}
            # fit wrote the final checkpoint with its resume state; add the validation loss and times to its meta.
            training = load_checkpoint(args.out).get("training")
            save_checkpoint(args.out, net, opt, args.steps, hist, meta, sched, training)
            print(
                f"{args.net}/{args.mode}: {args.steps} steps on {tr['x0'].shape[0]} conformers of {len(train)} "
                f"molecules, {ctx.world_size} process(es) ({ctx.device.type}), {hist.seconds:.1f} s; train loss "
                f"{hist.loss[-1]:.4g}, validation loss {val_loss:.4g}; wrote {args.out}"
            )
    finally:
        distributed.teardown()
    return 0


def _hardware(ctx, threads) -> str:
    """Where the run trained, e.g. ``"x86_64 CPU, 1 torch thread(s), world size 1"``."""
    if ctx.device.type == "cuda":
        return f"{torch.cuda.get_device_name(ctx.device)}, world size {ctx.world_size}"
    return f"{platform.machine()} CPU, {threads} torch thread(s), world size {ctx.world_size}"


def _warmup_cosine(steps: int, warmup: int = 100):
    """Linear warm-up over ``warmup`` steps, then a cosine decay to 5% of the learning rate at ``steps``."""
    import math

    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        frac = min(1.0, (step - warmup) / max(1, steps - warmup))
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac))

    return f


if __name__ == "__main__":
    raise SystemExit(main())
