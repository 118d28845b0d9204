"""Data-parallel training with ``torchrun``: the same :func:`symviz.train.fit` on one CPU, one GPU or several.

    torchrun --standalone --nproc_per_node=4 -m symviz.train --device cuda --steps 20000 --out runs/ddp.pt

Under ``torchrun`` (which sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``) :func:`setup` joins the process
group (NCCL for CUDA, gloo for CPU) and picks this process's device (``cuda:LOCAL_RANK``). ``fit`` then wraps
the network in ``DistributedDataParallel``: every rank draws its own batches, noise and group samples (its
generator is seeded with ``seed + rank``), gradients are averaged across ranks, so the effective batch is
``world_size x batch_size``; rank 0 alone writes checkpoints and shows the progress bar. Without ``torchrun``
every function here is a no-op, and a single process behaves exactly as before.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["Context", "launched_by_torchrun", "setup", "teardown", "current", "mean_across_ranks", "gather_objects"]


@dataclass(frozen=True)
class Context:
    """Where this process sits: ``rank`` in ``0..world_size-1`` and its ``device``."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def launched_by_torchrun() -> bool:
    """True when ``torchrun`` (or another launcher) set ``RANK``/``WORLD_SIZE`` in the environment."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def setup(device: str | torch.device = "cpu") -> Context:
    """Join the process group if launched by ``torchrun``; return this process's :class:`Context`.

    ``device="cuda"`` becomes ``cuda:LOCAL_RANK`` (NCCL backend); ``"cpu"`` uses gloo. Not under ``torchrun``:
    returns ``Context(0, 1, device)`` and starts nothing.
    """
    device = torch.device(device)
    if not launched_by_torchrun():
        return Context(0, 1, device)
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("--device cuda was asked for, but torch sees no CUDA device; use --device cpu")
        local = int(os.environ.get("LOCAL_RANK", 0))
        if local >= torch.cuda.device_count():
            raise RuntimeError(
                f"LOCAL_RANK {local} but only {torch.cuda.device_count()} CUDA device(s): lower --nproc_per_node"
            )
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=rank, world_size=world)
    return Context(rank, world, device)


def teardown() -> None:
    """Leave the process group (no-op when none was joined)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def current(device: str | torch.device) -> Context:
    """The :class:`Context` of an already-joined process group (or the single-process one) on ``device``."""
    device = torch.device(device)
    if dist.is_available() and dist.is_initialized():
        return Context(dist.get_rank(), dist.get_world_size(), device)
    return Context(0, 1, device)


def mean_across_ranks(value: float, ctx: Context) -> float:
    """The mean of a Python float over all ranks (the value itself in a single process)."""
    if not ctx.active:
        return value
    t = torch.tensor([float(value)], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(t)
    return float(t.item()) / ctx.world_size


def gather_objects(obj, ctx: Context) -> list:
    """Every rank's picklable ``obj`` as a list indexed by rank, on every rank (``[obj]`` in a single process).

    A collective: every rank must call it (``fit`` gathers the ranks' random states into each checkpoint).
    """
    if not ctx.active:
        return [obj]
    out = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out
