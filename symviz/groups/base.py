"""The Group interface shared by every group (see symviz.groups for the element layouts)."""

from __future__ import annotations

import operator

import torch

__all__ = ["Group"]


def _dtype(dtype):
    return torch.get_default_dtype() if dtype is None else dtype


def _check_count(k, name: str = "k") -> int:
    """Validate a number of elements: an integer >= 0 (0 gives an empty batch)."""
    if isinstance(k, bool):
        raise TypeError(f"{name} (the number of group elements) must be an integer >= 0; got {k!r}")
    try:
        k = operator.index(k)  # int, numpy and 0-d torch integers; not 2.0 or 2.5
    except TypeError:
        raise TypeError(
            f"{name} (the number of group elements) must be an integer >= 0; got {k!r} of type {type(k).__name__}"
        ) from None
    if k < 0:
        raise ValueError(f"{name} (the number of group elements) must be >= 0; got {k}")
    return k


def _gen_device(generator, device):
    if device is not None:
        return torch.device(device)
    return generator.device if generator is not None else torch.device("cpu")


class Group:
    """Base class. Subclasses set ``dim`` (acts on R^dim, or None) and ``num_points`` (or None)."""

    dim: int | None = None
    num_points: int | None = None
    is_finite: bool = False

    # -- the group operations -------------------------------------------------------------
    def sample(self, k: int, generator: torch.Generator | None = None, dtype=None, device=None):
        """``k`` i.i.d. elements: Haar measure for compact continuous groups, uniform for finite ones.

        ``k`` is an integer >= 0 (TypeError for a non-integer such as 2.5, ValueError for k < 0)."""
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
