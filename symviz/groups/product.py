"""Direct products of two commuting group actions, e.g. SO(3) x automorphisms."""

from __future__ import annotations

import itertools

import torch

from symviz.groups.base import Group
from symviz.groups.matrix import MatrixGroup

__all__ = ["Product"]


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
        return (_take(g1, e1, torch.tensor(i1, device=device)), _take(g2, e2, torch.tensor(i2, device=device)))

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
