"""Frames for the forward-diffusion explorer (tutorial 02)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from symviz._checks import DTYPE, check_point_cloud, check_seed, check_t
from symviz.diffusion import add_noise
from symviz.explore._common import _schedule, _short_repr
from symviz.explore.posterior import posterior_mean

# ----------------------------------------------------------------------------------------------
# Forward diffusion (tutorial 02)
# ----------------------------------------------------------------------------------------------


def blobs_2d(num: int = 120, seed: int = 0) -> torch.Tensor:
    """A small 2D data set ``(num, 1, 2)``: three Gaussian blobs (std 0.15) at radius 1.2, float64."""
    gen = torch.Generator().manual_seed(check_seed(seed))
    ang = torch.tensor([90.0, 210.0, 330.0], dtype=DTYPE).deg2rad()
    centres = 1.2 * torch.stack([ang.cos(), ang.sin()], -1)
    idx = torch.arange(num) % 3
    return (centres[idx] + 0.15 * torch.randn(num, 2, generator=gen, dtype=DTYPE)).reshape(num, 1, 2)


@dataclass(frozen=True, repr=False)
class DiffusionFrames:
    """Precomputed forward-process frames: ``xt[i]`` is the data at ``times[i]``; ``denoised[i]`` is the
    exact posterior mean ``E[x0 | x_t]`` under the data set (the ideal x0-prediction). Shapes:
    ``times, alpha, sigma: (T,)``; ``x0, eps: (N, n, 2)``; ``xt, denoised: (T, N, n, 2)``."""

    __repr__ = _short_repr

    times: np.ndarray
    alpha: np.ndarray
    sigma: np.ndarray
    x0: np.ndarray
    eps: np.ndarray
    xt: np.ndarray
    denoised: np.ndarray


def forward_diffusion_frames(data="blobs", times=None, schedule="cosine", seed: int = 0) -> DiffusionFrames:
    """``x_t = alpha_t x0 + sigma_t eps`` (:func:`symviz.diffusion.add_noise`) for every t in ``times``
    (default ``linspace(0, 1, 51)``), with one eps per sample shared by all t, and ``E[x0 | x_t]``.

    Args:
        data: ``"blobs"`` (:func:`blobs_2d`) or point clouds ``(N, n, 2)``.
    """
    x0 = blobs_2d() if isinstance(data, str) and data == "blobs" else check_point_cloud(data, "data", d=2)
    if isinstance(data, str) and data != "blobs":
        raise ValueError(f"unknown data {data!r}; use 'blobs' or pass point clouds (N, n, 2)")
    x0 = x0.to(DTYPE)
    if x0.dim() != 3:
        raise ValueError(f"data must be point clouds (N, n, 2); got shape {tuple(x0.shape)}")
    tg = torch.linspace(0, 1, 51, dtype=DTYPE) if times is None else torch.as_tensor(times, dtype=DTYPE)
    if tg.dim() != 1 or tg.numel() < 1:
        raise ValueError("times must be a non-empty 1D sequence of values in [0, 1]")
    for t in tg.tolist():
        check_t(t)
    sched = _schedule(schedule)
    seed = check_seed(seed)
    xts, dens = [], []
    for t in tg:
        xt, eps = add_noise(x0, t, sched, generator=torch.Generator().manual_seed(seed))
        a, s = sched.alpha_sigma(t)
        xts.append(xt)
        dens.append(posterior_mean(x0, xt, a, s))
    a, s = sched.alpha_sigma(tg)
    return DiffusionFrames(
        times=tg.numpy(),
        alpha=a.numpy(),
        sigma=s.numpy(),
        x0=x0.numpy(),
        eps=eps.numpy(),
        xt=torch.stack(xts).numpy(),
        denoised=torch.stack(dens).numpy(),
    )
