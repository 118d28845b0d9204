"""A time-conditioned MLP on flattened point clouds (no built-in symmetry)."""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["TimeMLP", "time_features", "mlp"]


def time_features(t: torch.Tensor, num: int = 16) -> torch.Tensor:
    """Fourier features of ``t (B,)``: ``[t, sin(pi 2^j t), cos(pi 2^j t)]``, ``j < num // 2``; ``(B, num + 1)``."""
    t = t.reshape(-1, 1)
    freqs = math.pi * 2.0 ** torch.arange(num // 2, dtype=t.dtype, device=t.device)
    ang = t * freqs
    return torch.cat([t, torch.sin(ang), torch.cos(ang)], dim=-1)


def mlp(sizes: list[int], act: type[nn.Module] = nn.SiLU) -> nn.Sequential:
    """Linear layers of the given sizes with ``act`` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


class TimeMLP(nn.Module):
    """``(x_t (B, n, d), t (B,)) -> x0_hat (B, n, d)``: an MLP on ``[flatten(x_t), time_features(t)]``.

    Args:
        num_points: n. dim: d. hidden: width (default 128). depth: hidden layers (default 3).
        time_dim: number of Fourier time features (default 16).
    """

    def __init__(self, num_points: int, dim: int, hidden: int = 128, depth: int = 3, time_dim: int = 16):
        super().__init__()
        self.num_points, self.dim, self.time_dim = num_points, dim, time_dim
        self.net = mlp([num_points * dim + time_dim + 1] + [hidden] * depth + [num_points * dim])

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        if x.shape[1:] != (self.num_points, self.dim):
            raise ValueError(
                f"TimeMLP was built for clouds of shape (n, d) = ({self.num_points}, {self.dim}); got x of shape "
                f"{tuple(x.shape)}"
            )
        h = torch.cat([x.reshape(b, -1), time_features(t.to(x.dtype).expand(b), self.time_dim)], dim=-1)
        return self.net(h).reshape(b, self.num_points, self.dim)
