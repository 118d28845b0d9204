"""Groups acting on point clouds ``x`` of shape ``(..., n, d)``.

A group is an object with the operations of the maths (UvA DL course style):

    g = G.sample(k, generator=gen)   # k elements, Haar for continuous groups, uniform for finite ones
    e = G.identity(k)
    y = G.act(g, x)                  # g's leading dims broadcast against x's leading dims
    G.compose(g, h)                  # act(compose(g, h), x) == act(g, act(h, x))
    G.inverse(g); G.elements()       # elements(): finite groups only, identity first

Element layouts (``k`` is the element axis, ``B`` an optional per-cloud batch):

- matrix groups (Reflection, Cyclic, Dihedral, SO2, O2, SO3, O3): orthogonal matrices ``(k, d, d)``;
  the action is ``g . x = x R^T`` (each point ``x_i -> R x_i``). PAPER.md §6.5 P1: the reference code's
  einsum scaled each axis by a row sum of ``R`` instead; ``tests/test_groups.py`` has a regression test.
- :class:`Permutations`: index tensors ``(k, n)`` or batched ``(B, k, n)``; ``act(p, x)[..., i, :] =
  x[..., p[i], :]``. Rows equal to -1 mark padding (invalid elements, see :meth:`Group.element_mask`).
- :class:`Product`: tuples ``(g1, g2)``; the two factors must commute (rotations act on coordinates,
  permutations on the point index), e.g. ``Product(SO3(), Permutations(automorphisms))``.
"""

from __future__ import annotations

import itertools
import math

import torch

__all__ = [
    "Group",
    "MatrixGroup",
    "Reflection",
    "Cyclic",
    "Dihedral",
    "SO2",
    "O2",
    "SO3",
    "O3",
    "Permutations",
    "Product",
    "rotation_2d",
]


def _dtype(dtype):
    return torch.get_default_dtype() if dtype is None else dtype


def _gen_device(generator, device):
    if device is not None:
        return torch.device(device)
    return generator.device if generator is not None else torch.device("cpu")


def rotation_2d(theta: torch.Tensor) -> torch.Tensor:
    """Rotation matrices ``(..., 2, 2)`` for angles ``theta (...)`` (counter-clockwise, radians)."""
    c, s = torch.cos(theta), torch.sin(theta)
    return torch.stack([c, -s, s, c], -1).reshape(*theta.shape, 2, 2)


class Group:
    """Base class. Subclasses set ``dim`` (acts on R^dim, or None) and ``num_points`` (or None)."""

    dim: int | None = None
    num_points: int | None = None
    is_finite: bool = False

    # -- the group operations -------------------------------------------------------------
    def sample(self, k: int, generator: torch.Generator | None = None, dtype=None, device=None):
        """``k`` i.i.d. elements: Haar measure for compact continuous groups, uniform for finite ones."""
        raise NotImplementedError

    def identity(self, k: int = 1, dtype=None, device=None):
        """``k`` copies of the identity element."""
        raise NotImplementedError

    def act(self, g, x: torch.Tensor) -> torch.Tensor:
        """The group action ``g . x`` on point clouds ``(..., n, d)``."""
        raise NotImplementedError

    def compose(self, g, h):
        """The product ``g h``, defined so that ``act(compose(g, h), x) == act(g, act(h, x))``."""
        raise NotImplementedError

    def inverse(self, g):
        """The inverse element(s)."""
        raise NotImplementedError

    def elements(self, dtype=None, device=None):
        """All elements, identity first (finite groups only)."""
        raise TypeError(
            f"{self!r} is a continuous group: it has no finite list of elements. Use sample(k) for a "
            f"Monte Carlo estimate, or sv.orbit.closed_form_target where one exists"
        )

    @property
    def order(self) -> int:
        """Number of elements (finite groups only)."""
        raise TypeError(f"{self!r} is a continuous group and has no finite order")

    # -- element bookkeeping --------------------------------------------------------------
    def cat(self, gs):
        """Concatenate element batches along the element axis ``k``."""
        raise NotImplementedError

    def select(self, g, j: int):
        """Element ``j`` of a batch (removes the ``k`` axis)."""
        raise NotImplementedError

    def element_mask(self, g) -> torch.Tensor | None:
        """Bool mask ``(..., k)`` of valid elements, or None when all are valid (padding, see Permutations)."""
        return None

    elem_ndim: int = 0  # number of trailing axes of one element: 2 for matrices, 1 for permutations

    def sample_like(self, lead_shape, generator=None, dtype=None, device=None):
        """One Haar element per point cloud: leading shape ``lead_shape`` (data augmentation, q^G of Eq. 1)."""
        return self.select(self.sample_per_cloud(lead_shape, 1, generator=generator, dtype=dtype, device=device), 0)

    def sample_per_cloud(self, lead_shape, k: int, generator=None, dtype=None, device=None):
        """``k`` independent elements for each cloud: shape ``lead_shape + (k,) + element_shape``."""
        lead_shape = tuple(lead_shape)
        num = int(torch.Size(lead_shape).numel()) * k
        g = self.sample(num, generator=generator, dtype=dtype, device=device)
        return g.reshape(*lead_shape, k, *g.shape[g.dim() - self.elem_ndim :])

    def identity_per_cloud(self, lead_shape, k: int = 1, dtype=None, device=None):
        """``k`` identities per cloud: shape ``lead_shape + (k,) + element_shape``."""
        e = self.identity(k, dtype=dtype, device=device)
        return e.expand(*tuple(lead_shape), *e.shape[e.dim() - self.elem_ndim - 1 :])

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


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
        # (..., n, d) @ (*B, d, d)^T: each point x_i -> R x_i; batch dims broadcast.
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
    """Rotations of space; Haar sampling by Shoemake's uniform unit quaternion (PAPER.md §2.4)."""

    def __init__(self):
        super().__init__(3)

    def sample(self, k, generator=None, dtype=None, device=None):
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
        dev = _gen_device(generator, device)
        rot = SO3().sample(k, generator=generator, dtype=torch.float64, device=dev)
        sign = 1.0 - 2.0 * torch.randint(0, 2, (k,), generator=generator, device=dev).double()
        return (rot * sign[:, None, None]).to(_dtype(dtype))


# ----------------------------------------------------------------------------------------------
# Permutations of the point index
# ----------------------------------------------------------------------------------------------


class Permutations(Group):
    """A finite group of permutations of the ``n`` points, e.g. molecular graph automorphisms.

    Args:
        perms: LongTensor ``(P, n)``, or ``(B, P, n)`` for one group per cloud in a batch of ``B`` (molecules
            with different automorphism groups). Every row is a permutation of ``range(n)``, the identity
            must be among them; in the batched form, rows filled with -1 pad groups with fewer than ``P``
            elements. The action is ``act(p, x)[..., i, :] = x[..., p[i], :]``.

    The rows are assumed to form a group (closure is checked by :meth:`is_closed`, O(P^2 n)).
    """

    is_finite = True
    elem_ndim = 1

    def __init__(self, perms):
        p = torch.as_tensor(perms)
        if p.is_floating_point() or p.dtype == torch.bool:
            raise TypeError(f"perms must be an integer tensor of point indices; got dtype {p.dtype}")
        p = p.long()
        if p.dim() not in (2, 3) or p.shape[-1] < 1 or p.shape[-2] < 1:
            raise ValueError(f"perms must have shape (P, n) or (B, P, n); got {tuple(p.shape)}")
        n = p.shape[-1]
        valid = (p >= 0).all(-1)
        padded = (p == -1).all(-1)
        if not (valid | padded).all():
            raise ValueError("each row of perms must be a permutation of range(n) or a padding row of -1")
        ar = torch.arange(n)
        ok = torch.sort(p.clamp_min(0), dim=-1).values.eq(ar).all(-1) | padded
        if not ok.all():
            raise ValueError(f"every valid row of perms must be a permutation of range({n})")
        is_id = (p == ar).all(-1)
        if not is_id.any(-1).all():
            raise ValueError("perms must contain the identity permutation (for every batch entry)")
        # Identity first, padding last, order of the rest kept.
        key = torch.where(is_id, 0, torch.where(padded, 2, 1))
        order = torch.sort(key, dim=-1, stable=True).indices
        self.perms = torch.gather(p, -2, order[..., None].expand_as(p))
        self.num_points = n
        self.batched = p.dim() == 3
        self.counts = (~padded).sum(-1)  # () or (B,)
        if (self.counts > 1).any():
            # Duplicate rows would double-count elements in exact sums.
            for row_set, c in zip(self.perms.reshape(-1, *self.perms.shape[-2:]), self.counts.reshape(-1)):
                if torch.unique(row_set[: int(c)], dim=0).shape[0] != int(c):
                    raise ValueError("perms contains duplicate rows; pass each group element once")

    @property
    def order(self) -> int:
        if self.batched:
            raise TypeError("a batched Permutations group has one order per cloud; see .counts")
        return int(self.counts)

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return tuple(self.perms.shape[:-2])

    def elements(self, dtype=None, device=None):
        return self.perms.to(device) if device is not None else self.perms

    def identity(self, k: int = 1, dtype=None, device=None):
        e = torch.arange(self.num_points, device=device)
        return e.expand(*self.batch_shape, k, self.num_points).clone()

    def sample(self, k, generator=None, dtype=None, device=None):
        dev = _gen_device(generator, device)
        u = torch.rand(*self.batch_shape, k, generator=generator, dtype=torch.float64, device=dev)
        idx = (u * self.counts.to(dev).unsqueeze(-1)).long().clamp_max(self.counts.to(dev).unsqueeze(-1) - 1)
        perms = self.perms.to(dev)
        return torch.gather(perms, -2, idx[..., None].expand(*idx.shape, self.num_points))

    def element_mask(self, g):
        return (g >= 0).all(-1)

    def act(self, g, x):
        n, d = x.shape[-2], x.shape[-1]
        if g.shape[-1] != n:
            raise ValueError(f"permutations of {g.shape[-1]} points cannot act on a cloud of {n} points")
        g = torch.where(g >= 0, g, torch.arange(n, device=g.device))  # padding rows act as identity
        shape = torch.broadcast_shapes(g.shape[:-1], x.shape[:-2])
        idx = g.expand(*shape, n).unsqueeze(-1).expand(*shape, n, d)
        return torch.gather(x.expand(*shape, n, d), -2, idx)

    def compose(self, g, h):
        g, h = torch.broadcast_tensors(g, h)
        return torch.gather(h, -1, g)  # (g h)[i] = h[g[i]]

    def inverse(self, g):
        return torch.argsort(g, dim=-1)

    def cat(self, gs):
        return torch.cat(list(gs), dim=-2)

    def select(self, g, j: int):
        return g[..., j, :]

    def _check_lead(self, lead_shape):
        if tuple(lead_shape)[-1:] != self.batch_shape:
            raise ValueError(
                f"this batched Permutations group holds {self.batch_shape[0]} per-cloud groups but the data "
                f"has leading shape {tuple(lead_shape)}"
            )

    def sample_per_cloud(self, lead_shape, k, generator=None, dtype=None, device=None):
        if not self.batched:
            return super().sample_per_cloud(lead_shape, k, generator=generator, dtype=dtype, device=device)
        self._check_lead(lead_shape)
        g = self.sample(int(torch.Size(tuple(lead_shape)[:-1]).numel()) * k, generator=generator, device=device)
        g = g.reshape(self.batch_shape[0], -1, k, self.num_points).movedim(1, 0)
        return g.reshape(*lead_shape, k, self.num_points)

    def identity_per_cloud(self, lead_shape, k=1, dtype=None, device=None):
        if self.batched:
            self._check_lead(lead_shape)
        e = torch.arange(self.num_points, device=device)
        return e.expand(*tuple(lead_shape), k, self.num_points)

    def is_closed(self) -> bool:
        """Check closure under composition by brute force (every batch entry)."""
        flat = self.perms.reshape(-1, *self.perms.shape[-2:])
        for row_set, c in zip(flat, self.counts.reshape(-1)):
            s = row_set[: int(c)]
            prod = self.compose(s[:, None, :], s[None, :, :]).reshape(-1, self.num_points)
            members = {tuple(r.tolist()) for r in s}
            if any(tuple(r.tolist()) not in members for r in prod):
                return False
        return True

    def __repr__(self):
        return f"Permutations(perms of shape {tuple(self.perms.shape)})"


# ----------------------------------------------------------------------------------------------
# Direct products
# ----------------------------------------------------------------------------------------------


class Product(Group):
    """The direct product ``G1 x G2`` of two commuting actions; elements are tuples ``(g1, g2)``.

    ``act((g1, g2), x) = G1.act(g1, G2.act(g2, x))``. Sampling draws the factors independently, which is
    the Haar measure of the product. Typical use: ``Product(SO3(), Permutations(automorphisms))``.
    """

    def __init__(self, g1: Group, g2: Group):
        if not isinstance(g1, Group) or not isinstance(g2, Group):
            raise TypeError("Product(G1, G2) needs two symviz.groups.Group objects")
        if g1.dim is not None and g2.dim is not None and g1.dim != g2.dim:
            raise ValueError(f"{g1!r} acts on R^{g1.dim} but {g2!r} on R^{g2.dim}")
        self.factors = (g1, g2)
        self.dim = g1.dim if g1.dim is not None else g2.dim
        self.num_points = g1.num_points if g1.num_points is not None else g2.num_points
        self.is_finite = g1.is_finite and g2.is_finite

    @property
    def order(self) -> int:
        return self.factors[0].order * self.factors[1].order

    def _both(self, fn_name, *args, **kw):
        return tuple(getattr(f, fn_name)(*args, **kw) for f in self.factors)

    def sample(self, k, generator=None, dtype=None, device=None):
        return self._both("sample", k, generator=generator, dtype=dtype, device=device)

    def identity(self, k=1, dtype=None, device=None):
        return self._both("identity", k, dtype=dtype, device=device)

    def elements(self, dtype=None, device=None):
        g1, g2 = self.factors
        e1, e2 = g1.elements(dtype=dtype, device=device), g2.elements(dtype=dtype, device=device)
        n1 = e1[0].shape[0] if isinstance(e1, tuple) else _k_len(g1, e1)
        n2 = e2[0].shape[0] if isinstance(e2, tuple) else _k_len(g2, e2)
        i1, i2 = zip(*itertools.product(range(n1), range(n2)))
        return (_take(g1, e1, torch.tensor(i1)), _take(g2, e2, torch.tensor(i2)))

    def act(self, g, x):
        return self.factors[0].act(g[0], self.factors[1].act(g[1], x))

    def compose(self, g, h):
        return tuple(f.compose(a, b) for f, a, b in zip(self.factors, g, h))

    def inverse(self, g):
        return tuple(f.inverse(a) for f, a in zip(self.factors, g))

    def cat(self, gs):
        gs = list(gs)
        return tuple(f.cat([g[i] for g in gs]) for i, f in enumerate(self.factors))

    def select(self, g, j):
        return tuple(f.select(a, j) for f, a in zip(self.factors, g))

    def sample_per_cloud(self, lead_shape, k, generator=None, dtype=None, device=None):
        return self._both("sample_per_cloud", lead_shape, k, generator=generator, dtype=dtype, device=device)

    def identity_per_cloud(self, lead_shape, k=1, dtype=None, device=None):
        return self._both("identity_per_cloud", lead_shape, k, dtype=dtype, device=device)

    def element_mask(self, g):
        masks = [m for f, a in zip(self.factors, g) if (m := f.element_mask(a)) is not None]
        if not masks:
            return None
        out = masks[0]
        for m in masks[1:]:
            out = out & m
        return out

    def __repr__(self):
        return f"Product({self.factors[0]!r}, {self.factors[1]!r})"


def _k_len(group: Group, e) -> int:
    """Length of the element axis of a batch ``e``."""
    return e.shape[-3] if isinstance(group, MatrixGroup) else e.shape[-2]


def _take(group: Group, e, idx: torch.Tensor):
    """Index a batch of elements along its element axis."""
    if isinstance(e, tuple):
        return tuple(_take(f, a, idx) for f, a in zip(group.factors, e))
    axis = -3 if isinstance(group, MatrixGroup) else -2
    return torch.index_select(e, e.dim() + axis, idx.to(e.device))
