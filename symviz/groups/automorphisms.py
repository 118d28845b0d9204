"""The full automorphism group of a molecular graph with explicit hydrogens, sampled uniformly.

Every automorphism of such a graph maps heavy atoms to heavy atoms and the hydrogens on a heavy atom ``v`` to
the hydrogens on its image ``sigma(v)``. So the group factors as

    Aut(G) = { heavy automorphism sigma } x { a bijection H_v -> H_sigma(v) for every heavy atom v }
    |Aut(G)| = |Aut_heavy| * prod_v |H_v|!

(neopentane with hydrogens: 4! * (3!)^4 = 31,104 elements). A fixed subset of such a group is not a group, and
averaging over it is not Eq. (11) of the paper; this class samples the *whole* group uniformly without ever
enumerating it: draw ``sigma`` uniformly from the (small) heavy-atom table, then an independent uniform
permutation of the hydrogens inside every "swap class" (the hydrogens on one heavy atom).

Layout: ``base`` holds one full permutation per heavy automorphism, extended to the hydrogens by a fixed
matching ``H_v[k] -> H_sigma(v)[k]``; ``classes`` labels each atom's swap class. A draw is
``p = base[sigma][tau]`` (``p[i] = base[sigma][tau[i]]``) with ``tau`` a uniform within-class permutation, so
each element of Aut(G) arises from exactly one ``(sigma, tau)`` pair and the draw is uniform.
"""

from __future__ import annotations

import itertools
import math

import torch

from symviz.groups.base import _gen_device
from symviz.groups.permutations import Permutations

__all__ = ["AutomorphismGroup", "within_class_permutations"]


def within_class_permutations(classes: torch.Tensor, k: int, generator=None, device=None) -> torch.Tensor:
    """``k`` uniform random permutations ``tau`` that only move atoms inside their class.

    Args:
        classes: ``(..., n)`` integer class labels (atoms with equal labels may be swapped).
    Returns:
        ``(..., k, n)`` long: ``tau[i]`` has the class of ``i``, and ``tau`` restricted to each class is a
        uniformly random bijection (independent across classes and draws).
    """
    dev = _gen_device(generator, device)
    cls = classes.to(dev).unsqueeze(-2).expand(*classes.shape[:-1], k, classes.shape[-1]).to(torch.float64)
    canonical = torch.argsort(cls, dim=-1, stable=True)  # atoms grouped by class, in index order
    u = torch.rand(cls.shape, generator=generator, dtype=torch.float64, device=dev)
    shuffled = torch.argsort(cls + 0.5 * u, dim=-1)  # same class blocks, random order inside each block
    tau = torch.empty_like(canonical)
    return tau.scatter_(-1, canonical, shuffled)


class AutomorphismGroup(Permutations):
    """Aut(G) of a molecular graph: heavy-atom automorphisms times hydrogen swaps (see the module docstring).

    Args:
        base: ``(P, n)`` or batched ``(B, P, n)`` long: one permutation of all ``n`` atoms per heavy-atom
            automorphism (identity included; rows of -1 pad a batch), as in :class:`Permutations`.
        classes: ``(n,)`` or ``(B, n)`` long swap classes: hydrogens bonded to the same heavy atom share a
            label, every other atom (heavy or padding) has a label of its own.

    Elements are permutations ``(..., n)`` acting as ``act(p, x)[i] = x[p[i]]``. :meth:`sample` is uniform over
    the whole group; :attr:`order` is ``P * prod |class|!``; :meth:`elements` enumerates it (small groups only).
    Build one from an RDKit molecule with :func:`symviz.data.molgraph.automorphism_group`.
    """

    ENUMERATE_LIMIT = 200_000

    def __init__(self, base, classes):
        super().__init__(base)
        c = torch.as_tensor(classes)
        if c.is_floating_point() or c.dtype == torch.bool:
            raise TypeError(f"classes must be an integer tensor of labels; got dtype {c.dtype}")
        want = self.perms.shape[:-2] + (self.num_points,)
        if tuple(c.shape) != tuple(want):
            raise ValueError(f"classes must have shape {tuple(want)} (one label per atom); got {tuple(c.shape)}")
        self.classes = c.long().to(self.perms.device)
        # Every base row must map each class onto a class of the same size (hydrogens on sigma(v)).
        rows = torch.where(self.perms >= 0, self.perms, torch.arange(self.num_points, device=self.perms.device))
        moved = torch.gather(self.classes.unsqueeze(-2).expand_as(rows), -1, rows)
        same = (self.classes.unsqueeze(-1) == self.classes.unsqueeze(-2)).unsqueeze(-3)  # (.., 1, n, n)
        img_same = moved.unsqueeze(-1) == moved.unsqueeze(-2)  # (.., P, n, n)
        if not (same == img_same).all():
            raise ValueError(
                "classes: every base permutation must map each swap class onto one whole class (the hydrogens "
                "of a heavy atom onto the hydrogens of its image); build the tables with "
                "symviz.data.molgraph.automorphism_group"
            )
        # Two base rows that differ only by swaps inside classes would count (and sample) those elements twice:
        # base[s][tau] and base[s'][tau'] coincide iff classes[base[s]] == classes[base[s']].
        flat_moved = moved.reshape(-1, *moved.shape[-2:])
        for row_classes, c in zip(flat_moved, self.counts.reshape(-1)):
            if torch.unique(row_classes[: int(c)], dim=0).shape[0] != int(c):
                raise ValueError(
                    "base: two rows differ only by permutations inside swap classes (e.g. the full automorphism "
                    "table was passed as base); pass one row per heavy-atom automorphism, as "
                    "symviz.data.molgraph.automorphism_tables does"
                )

    def _with(self, perms, counts, classes=None):
        g = super()._with(perms, counts)
        g.classes = self.classes if classes is None else classes
        return g

    def take(self, index: torch.Tensor) -> AutomorphismGroup:
        """The per-molecule groups ``index`` ``(B,)`` of a batched table (no re-validation)."""
        if not self.batched:
            raise TypeError("take() selects molecules of a batched AutomorphismGroup (base of shape (M, P, n))")
        index = torch.as_tensor(index, dtype=torch.long, device=self.perms.device)
        return self._with(self.perms[index], self.counts[index], self.classes[index])

    def to(self, device) -> AutomorphismGroup:
        return self._with(self.perms.to(device), self.counts.to(device), self.classes.to(device))

    def class_sizes_factorial(self) -> torch.Tensor:
        """``prod_c |c|!`` over the swap classes, ``()`` or ``(B,)`` (as float64; exact up to 2^53)."""
        # Labels are arbitrary integers (not necessarily < n): size each class by label equality, counted once
        # at its first member.
        same = self.classes.unsqueeze(-1) == self.classes.unsqueeze(-2)  # (..., n, n)
        sizes = same.sum(-1).to(torch.float64)  # (..., n) size of each atom's class
        first = ~torch.tril(same, diagonal=-1).any(-1)  # no earlier atom with the same label
        return torch.exp(torch.where(first, torch.lgamma(sizes + 1), 0.0).sum(-1)).round()

    @property
    def order(self) -> int:
        if self.batched:
            raise TypeError("a batched AutomorphismGroup has one order per molecule; see .orders")
        return int(self.counts) * int(self.class_sizes_factorial())

    @property
    def orders(self) -> torch.Tensor:
        """Group order per molecule, float64 ``()`` or ``(B,)``."""
        return self.counts.to(torch.float64) * self.class_sizes_factorial()

    def sample(self, k, generator=None, dtype=None, device=None):
        """``k`` elements per group, uniform over the whole group: ``(*batch, k, n)``."""
        base = super().sample(k, generator=generator, device=device)  # uniform heavy automorphism
        tau = within_class_permutations(self.classes, k, generator=generator, device=base.device)
        return torch.gather(base, -1, tau)

    def elements(self, dtype=None, device=None):
        """Every element, identity first (unbatched groups of order <= ENUMERATE_LIMIT only)."""
        if self.batched:
            raise TypeError("elements() needs an unbatched AutomorphismGroup (one molecule)")
        if self.order > self.ENUMERATE_LIMIT:
            raise ValueError(
                f"this group has {self.order} elements (> {self.ENUMERATE_LIMIT}); sample it instead of enumerating"
            )
        members = [torch.nonzero(self.classes == c).flatten().tolist() for c in torch.unique(self.classes).tolist()]
        per_class = [list(itertools.permutations(m)) for m in members]
        taus = []
        for combo in itertools.product(*per_class):
            tau = list(range(self.num_points))
            for m, image in zip(members, combo):
                for i, j in zip(m, image):
                    tau[i] = j
            taus.append(tau)
        tau = torch.tensor(taus, dtype=torch.long, device=self.perms.device)  # (T, n); identity first
        base = self.perms[: int(self.counts)]  # (P, n); identity first
        out = torch.gather(base[:, None, :].expand(-1, len(taus), -1), -1, tau[None].expand(base.shape[0], -1, -1))
        out = out.reshape(-1, self.num_points)
        assert out.shape[0] == base.shape[0] * math.prod(len(p) for p in per_class)
        return out.to(device) if device is not None else out

    def __repr__(self):
        return f"AutomorphismGroup(base of shape {tuple(self.perms.shape)})"
