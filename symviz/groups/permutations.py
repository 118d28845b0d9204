"""Finite groups of permutations of the point index (e.g. molecular graph automorphisms)."""

from __future__ import annotations

import torch

from symviz.groups.base import Group, _check_count, _gen_device

__all__ = ["Permutations"]


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
        ar = torch.arange(n, device=p.device)
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

    def _with(self, perms: torch.Tensor, counts: torch.Tensor) -> Permutations:
        """A group over already-validated rows (no checks: they were done when ``self`` was built)."""
        g = object.__new__(type(self))
        g.perms, g.counts, g.num_points, g.batched = perms, counts, self.num_points, perms.dim() == 3
        return g

    def take(self, index: torch.Tensor) -> Permutations:
        """The per-cloud groups ``index`` ``(B,)`` of a batched group, without re-validating them: build the
        whole table once (e.g. every molecule's automorphisms) and take each training batch's rows from it."""
        if not self.batched:
            raise TypeError("take() selects clouds of a batched Permutations group (perms of shape (M, P, n))")
        index = torch.as_tensor(index, dtype=torch.long, device=self.perms.device)
        return self._with(self.perms[index], self.counts[index])

    def to(self, device) -> Permutations:
        """The same group with its tables on ``device``."""
        return self._with(self.perms.to(device), self.counts.to(device))

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
        k = _check_count(k)
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
