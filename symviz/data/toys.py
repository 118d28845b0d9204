"""Toy datasets as point clouds ``(N, n, d)``: the paper's 1D reflection toy and symviz's 2D toys.

The empirical data are *not* symmetric (one orientation); the group makes the target distribution symmetric.
:func:`symmetrize` samples that distribution, ``q^G`` of Eq. (1): draw ``x0``, draw ``g ~ Haar``, return ``g.x0``.
"""

from __future__ import annotations

import torch

from symviz.groups import Group

__all__ = ["toy1d", "blob_2d", "asymmetric_cloud_2d", "cloud_dataset", "symmetrize"]


def toy1d(num: int = 200) -> torch.Tensor:
    """The paper's 1D toy (arXiv 2502.09890 §4.1; docs/theory.md#toy1d): ``num`` copies of the single point
    ``x0 = 1``, shape ``(num, 1, 1)``."""
    return torch.ones(num, 1, 1)


def blob_2d(num: int = 2048, center=(1.5, 0.0), std: float = 0.25, generator: torch.Generator | None = None):
    """A Gaussian blob of single 2D points seen in one orientation, shape ``(num, 1, 2)``.

    Under SO(2) its symmetrization is a ring of radius ~|center|; under C_6 six blobs.
    """
    c = torch.as_tensor(center, dtype=torch.get_default_dtype())
    return (c + std * torch.randn(num, 2, generator=generator)).reshape(num, 1, 2)


def asymmetric_cloud_2d() -> torch.Tensor:
    """A centred asymmetric 4-point cloud ``(4, 2)`` with no rotational or reflection symmetry."""
    x = torch.tensor([[1.2, 0.1], [-0.4, 0.7], [-0.6, -0.5], [0.3, -0.6]])
    return x - x.mean(0)


def cloud_dataset(num: int = 2048, jitter: float = 0.0, generator: torch.Generator | None = None):
    """``num`` copies of :func:`asymmetric_cloud_2d` (optionally jittered, re-centred): ``(num, 4, 2)``."""
    x = asymmetric_cloud_2d().expand(num, 4, 2).clone()
    if jitter:
        x = x + jitter * torch.randn(x.shape, generator=generator)
        x = x - x.mean(-2, keepdim=True)
    return x


def symmetrize(x0: torch.Tensor, group: Group, generator: torch.Generator | None = None) -> torch.Tensor:
    """Sample the symmetrized distribution: each cloud of ``x0 (N, n, d)`` moved by its own Haar element."""
    g = group.sample_like(x0.shape[:-2], generator=generator, dtype=x0.dtype)
    return group.act(g, x0)
