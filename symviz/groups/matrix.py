"""Orthogonal matrix groups acting by ``x -> x R^T``: Reflection, C_n, D_n, SO(2), O(2), SO(3), O(3)."""

from __future__ import annotations

import math

import torch

from symviz.groups.base import Group, _check_count, _dtype, _gen_device

__all__ = ["MatrixGroup", "Reflection", "Cyclic", "Dihedral", "SO2", "O2", "SO3", "O3", "rotation_2d"]


def rotation_2d(theta: torch.Tensor) -> torch.Tensor:
    """Rotation matrices ``(..., 2, 2)`` for angles ``theta (...)`` (counter-clockwise, radians)."""
    c, s = torch.cos(theta), torch.sin(theta)
    return torch.stack([c, -s, s, c], -1).reshape(*theta.shape, 2, 2)


# ----------------------------------------------------------------------------------------------
# Orthogonal matrix groups
# ----------------------------------------------------------------------------------------------


class MatrixGroup(Group):
    """A group of orthogonal ``d x d`` matrices acting by ``x -> x R^T``. Elements are ``(k, d, d)``."""

    elem_ndim = 2

    def __init__(self, dim: int):
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be a positive integer; got {dim!r}")
        self.dim = dim

    def identity(self, k: int = 1, dtype=None, device=None):
        return torch.eye(self.dim, dtype=_dtype(dtype), device=device).expand(k, self.dim, self.dim).clone()

    def act(self, g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``x R^T``: each point ``x_i -> R x_i``; ``g (*B, d, d)`` and ``x (..., n, d)`` batch dims broadcast.

        The result has ``x``'s floating dtype. An integer (or bool) ``x`` is promoted to the dtype of ``g`` (the
        default float dtype if ``g`` is not floating either): casting rotations to integers would round them.
        """
        if not x.is_floating_point():
            x = x.to(g.dtype if g.is_floating_point() else torch.get_default_dtype())
        return torch.matmul(x, g.to(x.dtype).transpose(-1, -2))

    def compose(self, g, h):
        return torch.matmul(g, h)

    def inverse(self, g):
        return g.transpose(-1, -2)

    def cat(self, gs):
        return torch.cat(list(gs), dim=-3)

    def select(self, g, j: int):
        return g[..., j, :, :]

    def matrix(self, g) -> torch.Tensor:
        """The representation matrices ``rho(g)`` (identity map for matrix groups)."""
        return g

    def _from_index(self, idx: torch.Tensor, dtype, device) -> torch.Tensor:
        return self.elements(dtype=dtype, device=device)[idx]

    def _sample_finite(self, k, generator, dtype, device):
        k = _check_count(k)
        dev = _gen_device(generator, device)
        idx = torch.randint(0, self.order, (k,), generator=generator, device=dev)
        return self._from_index(idx, dtype, dev)


class Reflection(MatrixGroup):
    """Z2 = {I, -I} acting on R^d by x -> +-x (the paper's 1D toy group for d = 1)."""

    is_finite = True

    def __init__(self, dim: int = 1):
        super().__init__(dim)

    @property
    def order(self) -> int:
        return 2

    def elements(self, dtype=None, device=None):
        eye = torch.eye(self.dim, dtype=_dtype(dtype), device=device)
        return torch.stack([eye, -eye])

    def sample(self, k, generator=None, dtype=None, device=None):
        return self._sample_finite(k, generator, dtype, device)

    def __repr__(self):
        return f"Reflection(dim={self.dim})"


class Cyclic(MatrixGroup):
    """C_n: rotations of the plane by multiples of 2 pi / n."""

    is_finite = True

    def __init__(self, n: int):
        super().__init__(2)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"Cyclic(n) needs an integer n >= 1; got {n!r}")
        self.n = n

    @property
    def order(self) -> int:
        return self.n

    def elements(self, dtype=None, device=None):
        theta = torch.arange(self.n, dtype=torch.float64, device=device) * (2 * math.pi / self.n)
        return rotation_2d(theta).to(_dtype(dtype))

    def sample(self, k, generator=None, dtype=None, device=None):
        return self._sample_finite(k, generator, dtype, device)

    def __repr__(self):
        return f"Cyclic({self.n})"


class Dihedral(MatrixGroup):
    """D_n: the n rotations of C_n and the n reflections ``R_j S``, with ``S = diag(1, -1)``."""

    is_finite = True

    def __init__(self, n: int):
        super().__init__(2)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"Dihedral(n) needs an integer n >= 1; got {n!r}")
        self.n = n

    @property
    def order(self) -> int:
        return 2 * self.n

    def elements(self, dtype=None, device=None):
        rot = Cyclic(self.n).elements(dtype=torch.float64, device=device)
        s = torch.diag(torch.tensor([1.0, -1.0], dtype=torch.float64, device=device))
        return torch.cat([rot, rot @ s]).to(_dtype(dtype))

    def sample(self, k, generator=None, dtype=None, device=None):
        return self._sample_finite(k, generator, dtype, device)

    def __repr__(self):
        return f"Dihedral({self.n})"


class SO2(MatrixGroup):
    """Rotations of the plane; Haar = uniform angle on [0, 2 pi)."""

    def __init__(self):
        super().__init__(2)

    def sample(self, k, generator=None, dtype=None, device=None):
        k = _check_count(k)
        dev = _gen_device(generator, device)
        theta = torch.rand(k, generator=generator, dtype=_dtype(dtype), device=dev) * (2 * math.pi)
        return rotation_2d(theta)

    def from_angle(self, theta) -> torch.Tensor:
        """Elements for given angles ``theta (...)`` (radians)."""
        return rotation_2d(torch.as_tensor(theta, dtype=torch.get_default_dtype()))

    def grid(self, m: int, dtype=None, device=None) -> torch.Tensor:
        """``m`` equally spaced rotations: the trapezoid rule, spectrally exact for smooth periodic
        integrands, so Haar integrals over SO(2) can be checked to float precision (tutorial 04)."""
        return Cyclic(m).elements(dtype=dtype, device=device)


class O2(MatrixGroup):
    """Rotations and reflections of the plane; Haar = uniform angle times a fair reflection coin."""

    def __init__(self):
        super().__init__(2)

    def sample(self, k, generator=None, dtype=None, device=None):
        k = _check_count(k)
        dev = _gen_device(generator, device)
        rot = SO2().sample(k, generator=generator, dtype=torch.float64, device=dev)
        flip = torch.randint(0, 2, (k,), generator=generator, device=dev).bool()
        s = torch.diag(torch.tensor([1.0, -1.0], dtype=torch.float64, device=dev))
        return torch.where(flip[:, None, None], rot @ s, rot).to(_dtype(dtype))


def _quaternion_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """Unit quaternions ``(..., 4)`` (w, x, y, z) to rotation matrices ``(..., 3, 3)``."""
    w, x, y, z = q.unbind(-1)
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ]
    return torch.stack([torch.stack(r, -1) for r in rows], -2)


class SO3(MatrixGroup):
    """Rotations of space; Haar sampling by Shoemake's uniform unit quaternion (docs/theory.md#monte-carlo)."""

    def __init__(self):
        super().__init__(3)

    def sample(self, k, generator=None, dtype=None, device=None):
        k = _check_count(k)
        dev = _gen_device(generator, device)
        u1, u2, u3 = torch.rand(3, k, generator=generator, dtype=_dtype(dtype), device=dev)
        a, b = torch.sqrt(1 - u1), torch.sqrt(u1)
        q = torch.stack(
            [
                a * torch.sin(2 * math.pi * u2),
                a * torch.cos(2 * math.pi * u2),
                b * torch.sin(2 * math.pi * u3),
                b * torch.cos(2 * math.pi * u3),
            ],
            -1,
        )
        return _quaternion_to_matrix(q)


class O3(MatrixGroup):
    """SO(3) times {I, -I}; Haar = Haar rotation times a fair inversion coin (d = 3 is odd, det(-I) = -1)."""

    def __init__(self):
        super().__init__(3)

    def sample(self, k, generator=None, dtype=None, device=None):
        k = _check_count(k)
        dev = _gen_device(generator, device)
        rot = SO3().sample(k, generator=generator, dtype=torch.float64, device=dev)
        sign = 1.0 - 2.0 * torch.randint(0, 2, (k,), generator=generator, device=dev).double()
        return (rot * sign[:, None, None]).to(_dtype(dtype))
