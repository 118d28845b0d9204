"""A sane default thread count: small machines oversubscribe easily (docs/architecture.md#threads)."""

from __future__ import annotations

import os

import torch

__all__ = ["configure_threads", "default_num_threads"]


def default_num_threads() -> int:
    """One torch thread per two cores, at least 1 and at most 8 (1 on a 2-core laptop or CI runner)."""
    cores = os.cpu_count() or 1
    return max(1, min(8, cores // 2))


def configure_threads(num_threads: int | None = None) -> int:
    """Set torch's intra-op thread count (default :func:`default_num_threads`) and return it.

    Call it at the top of notebooks and scripts. ``OMP_NUM_THREADS`` in the environment wins when set.
    """
    if num_threads is None:
        env = os.environ.get("OMP_NUM_THREADS")
        num_threads = int(env) if env and env.isdigit() and int(env) > 0 else default_num_threads()
    torch.set_num_threads(num_threads)
    return num_threads
