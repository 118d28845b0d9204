"""The training loop (seeded, progress bar, loss history, atomic checkpoints) and its command line.

    history = sv.train.fit(net, loss_fn, data, steps=2000, batch_size=256, seed=0)
    history = sv.train.fit(..., checkpoint_path="runs/c.pt", checkpoint_every=500, resume=True)  # survives crashes

Command line (2D toys; the molecule and 1D experiments have their own commands in ``symviz.experiments``):

    python -m symviz.train --data blob --group SO2 --mode orbit --net mlp --steps 3000 --out runs/blob.pt
    python -m symviz.train ... --out runs/blob.pt --resume                     # continue after a crash
    python -m symviz.train --device cuda ...                                   # one GPU
    torchrun --standalone --nproc_per_node=4 -m symviz.train --device cuda ... # data parallel (symviz.distributed)
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from symviz import distributed
from symviz._checks import check_mask, check_point_cloud, check_positive_int
from symviz._io import atomic_write, check_writable
from symviz.threads import configure_threads

__all__ = ["History", "CheckpointError", "fit", "save_checkpoint", "load_checkpoint", "state_digest", "main"]


@dataclass
class History:
    """Loss history: ``step[i]`` and the mean training ``loss[i]`` over the last ``log_every`` steps."""

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {"step": list(self.step), "loss": list(self.loss), "seconds": float(self.seconds)}


def fit(
    net: torch.nn.Module,
    loss_fn,
    data,
    steps: int = 1000,
    batch_size: int = 256,
    lr: float = 1e-3,
    seed: int = 0,
    mask=None,
    progress: bool = True,
    log_every: int = 10,
    callback: Callable[[int, float], None] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler=None,
    grad_clip: float | None = None,
    checkpoint_path: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    num_threads: int | None = None,
    device: str | torch.device | None = None,
    extras: dict[str, torch.Tensor] | None = None,
    resume: bool = False,
    checkpoint_meta: dict | None = None,
) -> History:
    """Train ``net`` on ``loss_fn(net, x0).mean()`` with Adam; returns the :class:`History`.

    Args:
        net: a module ``net(x_t, t) -> x0_hat`` (or eps). loss_fn: a :class:`symviz.losses.DenoisingLoss`.
        data: ``(N, n, d)`` training clouds; batches of ``batch_size`` are drawn with replacement.
        mask: optional ``(N, n)`` padding mask for ``data``.
        seed: seeds the batch draws, the noise and the group samples (one local ``torch.Generator``) and, for
            layers that draw from torch's global RNG (dropout), the global RNG *inside* fit only: fit forks the
            global RNG and hands the caller's state back unchanged. The net's initial weights are the caller's
            (seed before building the net, as ``python -m symviz.train`` does).
        callback: called as ``callback(step, loss)`` every ``log_every`` steps (the live plot uses it).
        grad_clip: clip the gradient norm to this value (a finite number > 0); default None, no clipping.
        checkpoint_path: write a checkpoint there (atomically, with a checksum) every ``checkpoint_every`` steps
            (default None: only at the end) and at the end. It holds everything a resume needs: model,
            optimizer, ``scheduler``, step, history and the random states. The path is checked for
            writability before the first step.
        resume: continue from ``checkpoint_path`` if that file exists (default False: start afresh and
            overwrite it). Pass the same net architecture, data, ``seed``, ``batch_size``, optimizer type and
            scheduler as the interrupted run; then the resumed run matches an uninterrupted one exactly. A
            checkpoint at or past ``steps`` returns its history without training; a larger ``steps`` extends
            training. With no file there, training starts from step 0 (so one command line both starts and
            restarts a run).
        checkpoint_meta: plain Python values stored as the checkpoint's ``meta`` (e.g. the command line).
        num_threads: torch threads while fit runs (default None: leave them as they are; set them once per
            process with :func:`symviz.configure_threads`). The caller's thread count is restored on return.
        device: where to train (default: the device of the net's parameters); data, noise and group samples
            are drawn there, so the same call scales from a laptop CPU to a GPU.
        extras: per-sample tensors ``{name: (N, ...)}`` indexed with each batch and passed to ``loss_fn`` as
            keyword arguments, e.g. atom types and molecule ids (``symviz.experiments.qm9_train``).

    Under ``torchrun`` (after :func:`symviz.distributed.setup`) the net is wrapped in DistributedDataParallel:
    each rank draws ``batch_size`` samples with its own generator (``seed + rank``), gradients are averaged, the
    logged loss is the mean over ranks, and only rank 0 writes checkpoints and shows the progress bar. The
    checkpoint stores every rank's random state; resume with the same number of processes (every rank reads the
    checkpoint, so it must be on a filesystem they share).
    """
    data = check_point_cloud(data, "data")
    if data.dim() != 3:
        raise ValueError(f"data must be a dataset of point clouds (N, n, d); got shape {tuple(data.shape)}")
    mask = check_mask(mask, data)
    steps = check_positive_int(steps, "steps")
    batch_size = check_positive_int(batch_size, "batch_size")
    log_every = check_positive_int(log_every, "log_every")
    grad_clip = _check_grad_clip(grad_clip)
    if checkpoint_every is not None:
        checkpoint_every = check_positive_int(checkpoint_every, "checkpoint_every")
    if not isinstance(resume, bool):
        raise TypeError(f"resume must be True or False; got {resume!r}")
    if resume and checkpoint_path is None:
        raise ValueError("resume=True needs checkpoint_path=... (the checkpoint to continue from)")
    if device is None:
        device = next(net.parameters()).device if any(True for _ in net.parameters()) else torch.device("cpu")
    device = torch.device(device)
    net.to(device)
    data = data.to(device)
    mask = None if mask is None else mask.to(device)
    extras = dict(extras or {})
    for name, v in extras.items():
        if not isinstance(v, torch.Tensor) or v.shape[:1] != data.shape[:1]:
            raise ValueError(f"extras[{name!r}] must be a tensor with one row per data sample ({data.shape[0]})")
        extras[name] = v.to(device)
    with _caller_state_kept(device, num_threads):
        return _train(
            net,
            loss_fn,
            data,
            mask,
            extras,
            device,
            steps=steps,
            batch_size=batch_size,
            lr=lr,
            seed=seed,
            progress=progress,
            log_every=log_every,
            callback=callback,
            optimizer=optimizer,
            scheduler=scheduler,
            grad_clip=grad_clip,
            checkpoint_path=checkpoint_path,
            checkpoint_every=checkpoint_every,
            resume=resume,
            checkpoint_meta=checkpoint_meta,
        )


@contextlib.contextmanager
def _caller_state_kept(device: torch.device, num_threads: int | None):
    """Run a block with ``num_threads`` torch threads (None: as they are) and a forked global RNG (CPU, and
    ``device``'s when it is a GPU), then give the caller back its thread count and RNG states unchanged."""
    if num_threads is not None:
        num_threads = check_positive_int(num_threads, "num_threads")
    threads_before = torch.get_num_threads()
    rng_devices = [_cuda_index(device)] if device.type == "cuda" else []
    try:
        if num_threads is not None:
            torch.set_num_threads(num_threads)
        with torch.random.fork_rng(devices=rng_devices, device_type="cuda"):
            yield
    finally:
        torch.set_num_threads(threads_before)


def _train(
    net,
    loss_fn,
    data,
    mask,
    extras,
    device,
    *,
    steps,
    batch_size,
    lr,
    seed,
    progress,
    log_every,
    callback,
    optimizer,
    scheduler,
    grad_clip,
    checkpoint_path,
    checkpoint_every,
    resume,
    checkpoint_meta,
) -> History:
    """:func:`fit`'s loop on validated inputs already on ``device`` (inside :func:`_caller_state_kept`)."""
    ctx = distributed.current(device)
    if checkpoint_path is not None and ctx.is_main:
        check_writable(checkpoint_path, "checkpoint_path")  # now, not after the last step
    _seed_global(seed, device)  # dropout draws from the global RNG; fork_rng gives it back on return
    gen = torch.Generator(device=device).manual_seed(seed + ctx.rank)
    opt = optimizer or torch.optim.Adam(net.parameters(), lr=lr)
    run_info = {"seed": int(seed), "batch_size": batch_size, "world_size": ctx.world_size}
    run_info["data_shape"] = list(data.shape)
    hist = History()
    start_step, acc, cnt, seconds_before = 0, 0.0, 0, 0.0
    if ctx.active and resume:  # every rank sees the same file: rank 0 may just have written it
        torch.distributed.barrier()
    if resume and Path(checkpoint_path).exists():
        state = load_checkpoint(checkpoint_path)
        start_step, acc, cnt = _restore(state, net, opt, scheduler, gen, ctx, run_info, checkpoint_path)
        hist = History(**{k: state["history"][k] for k in ("step", "loss")})
        seconds_before = float(state["history"]["seconds"])
        if start_step >= steps:
            hist.seconds = seconds_before
            return hist
    model = net
    if ctx.active:
        ids = [device.index] if device.type == "cuda" else None
        model = torch.nn.parallel.DistributedDataParallel(net, device_ids=ids)  # broadcasts rank 0's weights

    def save(step):
        ranks = distributed.gather_objects(_rank_state(gen, device, acc, cnt), ctx)  # every rank takes part
        if ctx.is_main:
            hist.seconds = seconds_before + time.perf_counter() - start
            training = {"ranks": ranks, "fit": run_info}
            save_checkpoint(checkpoint_path, net, opt, step, hist, checkpoint_meta, scheduler, training)
        if ctx.active:  # no rank moves on (e.g. to a resume that reads this file) before rank 0 has written it
            torch.distributed.barrier()

    it = range(start_step + 1, steps + 1)
    bar = None
    if progress and ctx.is_main:
        from tqdm.auto import tqdm

        bar = tqdm(it, desc=f"{getattr(loss_fn, 'mode', 'train')}", leave=False, total=steps, initial=start_step)
        it = bar
    start = time.perf_counter()
    for step in it:
        idx = torch.randint(0, data.shape[0], (batch_size,), generator=gen, device=device)
        kw = {name: v[idx] for name, v in extras.items()}
        loss = loss_fn(model, data[idx], generator=gen, mask=None if mask is None else mask[idx], **kw).mean()
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"non-finite loss at step {step}; lower the learning rate or check the data and weighting"
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(net.parameters(), grad_clip)
        opt.step()
        if scheduler is not None:
            scheduler.step()
        acc += loss.detach().item()
        cnt += 1
        if step % log_every == 0 or step == steps:
            mean_loss = distributed.mean_across_ranks(acc / cnt, ctx)
            hist.step.append(step)
            hist.loss.append(mean_loss)
            if bar is not None:
                bar.set_postfix(loss=f"{mean_loss:.4g}")
            if callback is not None:
                callback(step, mean_loss)
            acc, cnt = 0.0, 0
        if checkpoint_path and checkpoint_every and step % checkpoint_every == 0 and step != steps:
            save(step)
    hist.seconds = seconds_before + time.perf_counter() - start
    if checkpoint_path:
        save(steps)
    return hist


def _cuda_index(device: torch.device) -> int:
    return device.index if device.index is not None else torch.cuda.current_device()


def _seed_global(seed: int, device: torch.device) -> None:
    """Seed the global CPU RNG and, on a GPU, that device's RNG (inside fit's ``fork_rng``, never outside)."""
    torch.default_generator.manual_seed(seed)
    if device.type == "cuda":
        with torch.cuda.device(device):
            torch.cuda.manual_seed(seed)  # this device only (torch.manual_seed would seed every GPU)


def _rank_state(gen: torch.Generator, device: torch.device, acc: float, cnt: int) -> dict:
    """What one rank needs to resume: its batch/noise generator, torch's global RNGs, its unlogged losses."""
    out = {"generator": gen.get_state(), "torch": torch.get_rng_state(), "acc": float(acc), "cnt": int(cnt)}
    if device.type == "cuda":
        out["cuda"] = torch.cuda.get_rng_state(device)
    return out


def _restore(state, net, opt, scheduler, gen, ctx, run_info, path) -> tuple[int, float, int]:
    """Load a checkpoint written by :func:`fit` into the training objects; returns ``(step, acc, cnt)``."""
    training = state.get("training")
    if not training or state.get("optimizer") is None:
        raise CheckpointError(
            f"{path} has no training state (optimizer and random states), so training cannot resume exactly "
            f"from it; it was written by save_checkpoint without them. Start afresh (resume=False / no --resume)"
        )
    saved = training["fit"]
    diff = {k: (saved.get(k), v) for k, v in run_info.items() if saved.get(k) != v}
    if diff:
        said = ", ".join(f"{k}: checkpoint {a!r}, now {b!r}" for k, (a, b) in diff.items())
        raise CheckpointError(
            f"{path} was written by a different run ({said}); resume with the same settings, or start afresh"
        )
    if (scheduler is None) != (state.get("scheduler") is None):
        raise CheckpointError(
            f"{path} was written {'with' if state.get('scheduler') is not None else 'without'} a learning-rate "
            f"scheduler; pass the same scheduler to resume"
        )
    net.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])
    mine = training["ranks"][ctx.rank]
    gen.set_state(mine["generator"])
    torch.set_rng_state(mine["torch"])
    if "cuda" in mine and gen.device.type == "cuda":
        torch.cuda.set_rng_state(mine["cuda"], gen.device)
    return int(state["step"]), float(mine["acc"]), int(mine["cnt"])


def _check_grad_clip(grad_clip):
    """None, or a finite max gradient norm > 0 (``clip_grad_norm_`` flips the gradient for a negative norm
    and zeroes it for 0, so training would go uphill or stop without an error)."""
    if grad_clip is None:
        return None
    if isinstance(grad_clip, bool) or not isinstance(grad_clip, (int, float)):
        raise TypeError(f"grad_clip must be None or a positive number (a max gradient norm); got {grad_clip!r}")
    if not (math.isfinite(grad_clip) and grad_clip > 0):
        raise ValueError(
            f"grad_clip must be a finite max gradient norm > 0 (e.g. 1.0), or None for no clipping; got {grad_clip}"
        )
    return float(grad_clip)


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: unreadable, changed since it was written (checksum), or from another run."""


CHECKPOINT_FORMAT = 2


def save_checkpoint(
    path,
    net: torch.nn.Module,
    optimizer=None,
    step: int = 0,
    history: History | None = None,
    meta: dict | None = None,
    scheduler=None,
    training: dict | None = None,
) -> Path:
    """Write ``{model, optimizer, scheduler, step, history, meta, training}`` atomically, with a SHA-256 checksum.

    An interrupted write never leaves a half-written checkpoint at ``path`` (temp file + ``os.replace``), and
    :func:`load_checkpoint` detects a file changed afterwards (a flipped byte) by its ``"sha256"`` entry: the
    hash of every tensor's bytes, dtype and shape and of every other value, in a fixed order. ``meta`` must hold
    only plain Python values (str, int, float, bool, lists, dicts) so that ``torch.load(weights_only=True)`` can
    read it. ``training`` is :func:`fit`'s resume state (random states per rank, run settings).
    """
    path = Path(path)
    state = {
        "format": CHECKPOINT_FORMAT,
        "model": net.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "step": int(step),
        "history": history.as_dict() if history is not None else None,
        "meta": meta or {},
        "training": training,
    }
    state["sha256"] = state_digest(state)
    return atomic_write(path, lambda fh: torch.save(state, fh))


def state_digest(state: dict) -> str:
    """SHA-256 (hex) of a checkpoint dict without its ``"sha256"`` entry; independent of where tensors live."""
    h = hashlib.sha256()
    _feed(h, {k: v for k, v in state.items() if k != "sha256"})
    return h.hexdigest()


def _feed(h, obj) -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}:".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(obj, dict):
        h.update(f"D{len(obj)}:".encode())
        for k in sorted(obj, key=repr):
            _feed(h, k)
            _feed(h, obj[k])
    elif isinstance(obj, (list, tuple)):
        h.update(f"{type(obj).__name__}{len(obj)}:".encode())
        for v in obj:
            _feed(h, v)
    else:
        h.update(f"{type(obj).__name__}:{obj!r};".encode())


def load_checkpoint(path, net: torch.nn.Module | None = None, optimizer=None, scheduler=None) -> dict:
    """Read a checkpoint with ``torch.load(weights_only=True)`` and verify its checksum; load it into
    ``net``/``optimizer``/``scheduler`` if given. Returns the checkpoint dict.

    Raises FileNotFoundError (no file) or :class:`CheckpointError` (a ValueError: truncated, corrupt, or changed
    since it was written). Checkpoints written before checksums existed (no ``"format"`` entry) load unchecked.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no checkpoint at {path}; train one first (python -m symviz.train --help) or fix the path"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle/zip errors differ across torch versions
        raise CheckpointError(
            f"{path} is not a readable symviz checkpoint (truncated or corrupt?): {err}. Delete it and retrain"
        ) from err
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(f"{path} is not a symviz checkpoint (no 'model' entry)")
    if "format" in state or "sha256" in state:
        if state.get("sha256") != state_digest(state):
            raise CheckpointError(
                f"{path} failed its SHA-256 check: the file changed after it was written (disk or copy error). "
                f"Its weights cannot be trusted; use an earlier checkpoint or retrain"
            )
    if net is not None:
        net.load_state_dict(state["model"])
    if optimizer is not None and state.get("optimizer") is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state.get("scheduler") is not None:
        scheduler.load_state_dict(state["scheduler"])
    return state


# ----------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------


def _build(args):
    import symviz as sv
    from symviz.data import toys

    if args.data == "blob":
        data = toys.blob_2d(args.num_data, generator=torch.Generator().manual_seed(args.seed))
    else:
        data = toys.cloud_dataset(args.num_data)
    n, d = data.shape[-2:]
    group = None if args.group == "none" else sv.groups.get(args.group, dim=d)
    nets = {
        "mlp": lambda: sv.nets.TimeMLP(n, d, hidden=args.hidden),
        "radial": lambda: sv.nets.RadialNet(hidden=args.hidden),
        "egnn": lambda: sv.nets.EGNN(hidden=args.hidden),
    }
    net = nets[args.net]()
    loss_fn = sv.losses.DenoisingLoss(
        sv.diffusion.VPSchedule(args.schedule), mode=args.mode, group=group, num_samples=args.num_samples
    )
    return net, loss_fn, data


# the settings that define a run: --resume refuses a checkpoint written with other values
_RUN_ARGS = ("data", "group", "mode", "net", "schedule", "num_samples", "num_data", "hidden", "batch_size", "lr")
_RUN_ARGS += ("seed",)


def main(argv=None) -> int:
    from symviz import groups as sv_groups

    p = argparse.ArgumentParser(prog="python -m symviz.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", choices=["blob", "cloud"], default="blob")
    p.add_argument(
        "--group",
        default="SO2",
        help="a 2D group by name: C<n>, D<n>, SO2, O2, Z2 (symviz.groups.get), or none (default SO2)",
    )
    p.add_argument("--mode", choices=["plain", "augment", "orbit"], default="orbit")
    p.add_argument("--net", choices=["mlp", "radial", "egnn"], default="mlp")
    p.add_argument("--schedule", choices=["cosine", "linear", "toy1d"], default="cosine")
    p.add_argument("--num-samples", type=int, default=64, help="K, identity included")
    p.add_argument("--num-data", type=int, default=2048)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    p.add_argument("--out", type=Path, required=True, help="checkpoint path (written atomically)")
    p.add_argument("--checkpoint-every", type=int, default=500, help="also write --out every N steps (default 500)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from --out if it exists (same settings; exactly as if never interrupted)",
    )
    args = p.parse_args(argv)
    if args.group != "none":
        try:  # the toys are 2D; the canonical name keeps --resume's settings check exact ("so(2)" = "SO2")
            args.group = sv_groups.name_of(sv_groups.get(args.group, dim=2))
        except (TypeError, ValueError) as err:
            p.error(f"--group: {err}")
    if args.mode != "plain" and args.group == "none":
        p.error("--mode augment/orbit needs a --group")
    if args.checkpoint_every < 1:
        p.error("--checkpoint-every must be >= 1")
    try:
        check_writable(args.out, "--out")
    except ValueError as err:
        p.error(str(err))
    if args.resume and args.out.exists():
        saved = load_checkpoint(args.out).get("meta", {})
        changed = [a for a in _RUN_ARGS if a in saved and saved[a] != str(getattr(args, a))]
        if changed:
            p.error(
                f"--resume: {args.out} was trained with different settings ("
                + ", ".join(f"--{a.replace('_', '-')} {saved[a]} there, {getattr(args, a)} now" for a in changed)
                + "); use the same settings or another --out"
            )
    threads_before = torch.get_num_threads()  # main() is also called in-process (tests): give them back
    ctx = distributed.setup(args.device)  # joins the process group under torchrun; a no-op otherwise
    try:
        configure_threads()  # the command's thread count, OMP_NUM_THREADS wins (fit leaves threads as it finds them)
        torch.manual_seed(args.seed)  # the net's initial weights, set by the command: one --seed means one run
        net, loss_fn, data = _build(args)
        meta = {k: str(v) for k, v in vars(args).items() if k != "resume"} | {"world_size": ctx.world_size}
        hist = fit(
            net,
            loss_fn,
            data,
            steps=args.steps,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=args.seed,
            checkpoint_path=args.out,
            checkpoint_every=args.checkpoint_every,
            resume=args.resume,
            checkpoint_meta=meta,
            device=ctx.device,
            progress=ctx.is_main,
        )
        if ctx.is_main:
            print(
                f"trained {args.steps} steps on {ctx.world_size} process(es) ({ctx.device.type}) in "
                f"{hist.seconds:.1f} s; final loss {hist.loss[-1]:.4g}; wrote {args.out}"
            )
    finally:
        distributed.teardown()
        torch.set_num_threads(threads_before)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
