"""Equivariant baselines for single points: an odd net (reflections) and a radial net (rotations)."""

from __future__ import annotations

import torch
from torch import nn

from symviz.nets.mlp import mlp, time_features

__all__ = ["OddNet", "RadialNet"]


class OddNet(nn.Module):
    """``D(x, t) = f([x, t]) - f([-x, t])``: odd in x, hence equivariant under ``x -> -x``
    (arXiv 2502.09890 §4.1; docs/theory.md#toy1d).

    The paper's 1D "EquiNet" is ``OddNet(1, 1, hidden=(10, 5), act=nn.Tanh)`` fed with ``t`` raw.

    Args:
        num_points, dim: cloud shape (n, d). hidden: hidden widths (default (10, 5)).
        act: activation class (default Tanh). time_dim: Fourier features of t; 0 = feed raw t (default 0).
    """

    def __init__(self, num_points: int = 1, dim: int = 1, hidden=(10, 5), act=nn.Tanh, time_dim: int = 0):
        super().__init__()
        self.num_points, self.dim, self.time_dim = num_points, dim, time_dim
        width = num_points * dim
        self.f = mlp([width + time_dim + 1, *hidden, width], act=act)

    def _t(self, t, b, dtype):
        t = t.to(dtype).expand(b)
        return time_features(t, self.time_dim) if self.time_dim else t.reshape(b, 1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        flat = x.reshape(b, -1)
        tf = self._t(t, b, x.dtype)
        out = self.f(torch.cat([flat, tf], -1)) - self.f(torch.cat([-flat, tf], -1))
        return out.reshape(x.shape)


class RadialNet(nn.Module):
    """``D(x, t)_i = x_i h(|x_i|, t)``: equivariant under O(d) acting on each point (and under permutations).

    Args:
        hidden: width (default 64). depth: hidden layers (default 3). time_dim: Fourier features (default 16).
    """

    def __init__(self, hidden: int = 64, depth: int = 3, time_dim: int = 16):
        super().__init__()
        self.time_dim = time_dim
        self.h = mlp([1 + time_dim + 1] + [hidden] * depth + [1])

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        b, n = x.shape[0], x.shape[1]
        r = x.pow(2).sum(-1, keepdim=True).add(1e-12).sqrt()  # (B, n, 1)
        tf = time_features(t.to(x.dtype).expand(b), self.time_dim)[:, None, :].expand(b, n, -1)
        return x * self.h(torch.cat([r, tf], -1))
