"""Input validation shared by the library: one place for clear, actionable error messages.

Every public function validates at the boundary where data enters, then trusts its inputs internally.
Messages name the argument, say what was expected and what was received, and how to fix it.
Groups are checked here too (:func:`check_group`): every function that takes a group accepts a
:class:`symviz.groups.Group` or a registered name (:func:`symviz.groups.get`).
"""

from __future__ import annotations

import numbers

import torch

MAX_K = 4096  # the largest Monte Carlo candidate count an interactive frame (explorer, conformer viewer) accepts
DTYPE = torch.float64  # the dtype of the interactive frames (symviz.explore, symviz.molecules.frames)

__all__ = [
    "MAX_K",
    "DTYPE",
    "as_tensor",
    "check_point_cloud",
    "check_finite",
    "check_unit_interval",
    "check_mask",
    "check_positive_int",
    "check_k",
    "check_t",
    "check_seed",
    "check_group",
    "check_group_dim",
    "check_centered",
]


def as_tensor(x, name: str, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Convert ``x`` (tensor, array or number) to a floating tensor, or raise a TypeError naming ``name``."""
    if isinstance(x, torch.Tensor):
        t = x
    else:
        try:
            t = torch.as_tensor(x)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(
                f"{name} must be a torch.Tensor, a numpy array or a number; got {type(x).__name__}"
            ) from err
    if not (t.is_floating_point() or t.dtype in (torch.int8, torch.int16, torch.int32, torch.int64)):
        raise TypeError(f"{name} must hold real numbers; got dtype {t.dtype}")
    if dtype is not None:
        t = t.to(dtype)
    elif not t.is_floating_point():
        t = t.to(torch.get_default_dtype())
    return t


def check_finite(x: torch.Tensor, name: str) -> torch.Tensor:
    """Raise ValueError if ``x`` holds NaN or Inf."""
    if not torch.isfinite(x).all():
        n_bad = int((~torch.isfinite(x)).sum())
        raise ValueError(
            f"{name} contains {n_bad} non-finite value(s) (NaN or Inf); clean the input "
            f"(e.g. torch.nan_to_num) or find where it came from"
        )
    return x


def check_point_cloud(x, name: str = "x", d: int | None = None, n: int | None = None) -> torch.Tensor:
    """Validate a point cloud of shape ``(..., n, d)``; returns it as a finite floating tensor."""
    t = as_tensor(x, name)
    if t.dim() < 2:
        raise ValueError(
            f"{name} must be a point cloud of shape (..., n, d) with n points in R^d; got shape "
            f"{tuple(t.shape)}. A single point in R^d is (1, d); a batch of single points is (B, 1, d)"
        )
    if d is not None and t.shape[-1] != d:
        raise ValueError(f"{name} must have d = {d} coordinates in its last axis; got shape {tuple(t.shape)}")
    if n is not None and t.shape[-2] != n:
        raise ValueError(f"{name} must have n = {n} points (axis -2); got shape {tuple(t.shape)}")
    return check_finite(t, name)


def check_unit_interval(t, name: str = "t") -> torch.Tensor:
    """Validate that every entry of ``t`` lies in [0, 1] and is finite."""
    tt = check_finite(as_tensor(t, name), name)
    if tt.numel() and (tt.min() < 0 or tt.max() > 1):
        raise ValueError(
            f"{name} must lie in [0, 1]; got values in [{float(tt.min()):.4g}, {float(tt.max()):.4g}]. "
            f"Diffusion time is normalised: t = 0 is data, t = 1 is pure noise"
        )
    return tt


def check_mask(mask, x: torch.Tensor, name: str = "mask") -> torch.Tensor | None:
    """Validate a padding mask of shape ``x.shape[:-1]`` = (..., n); True marks real points."""
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor):
        mask = torch.as_tensor(mask)
    if mask.dtype != torch.bool:
        if mask.is_floating_point() or not ((mask == 0) | (mask == 1)).all():
            raise TypeError(f"{name} must be a boolean tensor (True = real point); got dtype {mask.dtype}")
        mask = mask.bool()
    expected = tuple(x.shape[:-1])
    try:
        torch.broadcast_shapes(tuple(mask.shape), expected)
        ok = mask.dim() <= len(expected) and tuple(mask.shape[-1:]) == expected[-1:]
    except RuntimeError:
        ok = False
    if not ok:
        raise ValueError(
            f"{name} must have shape (..., n) = {expected} matching the point cloud (..., n, d) = "
            f"{tuple(x.shape)}; got {tuple(mask.shape)}"
        )
    if not mask.any(dim=-1).all():
        raise ValueError(f"{name} marks every point of some cloud as padding; each cloud needs >= 1 real point")
    return mask


def check_positive_int(k, name: str, maximum: int | None = None) -> int:
    """Validate an integer >= 1 (and <= ``maximum`` when given), e.g. the Monte Carlo sample count K.

    Python and numpy integers and whole floats (``2.0``) pass; TypeError for anything else (``2.5``, ``"3"``,
    ``True``), ValueError for a value out of range."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        if isinstance(k, numbers.Real) and not isinstance(k, bool) and float(k).is_integer():
            k = int(k)
        else:
            raise TypeError(f"{name} must be an integer >= 1; got {k!r}")
    k = int(k)
    if maximum is not None and not 1 <= k <= maximum:
        raise ValueError(f"{name} must be between 1 and {maximum}; got {k}")
    if k < 1:
        raise ValueError(f"{name} must be >= 1; got {k}")
    return k


def check_k(k, max_k: int = MAX_K) -> int:
    """An interactive candidate count K: a whole number in [1, max_k] (default :data:`MAX_K`), identity
    included (:func:`check_positive_int`)."""
    return check_positive_int(k, "K", maximum=max_k)


def check_t(t, name: str = "t") -> float:
    """One diffusion time as a float in [0, 1] (0 = data, 1 = pure noise); ValueError otherwise.
    (:func:`check_unit_interval` checks a tensor of times.)"""
    try:
        tf = float(t)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in [0, 1]; got {t!r}") from None
    if not (0.0 <= tf <= 1.0):
        raise ValueError(f"{name} must lie in [0, 1] (0 = data, 1 = pure noise); got {t!r}")
    return tf


def check_seed(seed, name: str = "seed") -> int:
    """A random seed: an integer >= 0 (Python or numpy); ValueError otherwise."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or int(seed) < 0:
        raise ValueError(f"{name} must be an integer >= 0; got {seed!r}")
    return int(seed)


def check_group(group, x: torch.Tensor | None = None, name: str = "x", dim: int | None = None):
    """The one group validator: a :class:`symviz.groups.Group` or a registered name -> a Group.

    Names go through :func:`symviz.groups.get` (ValueError listing the valid names; TypeError for other
    types). ``x`` (``(..., n, d)``) or ``dim`` gives the dimension: it sets the dimension of ``"Z2"`` and must
    match the group's (:func:`check_group_dim`).
    """
    from symviz.groups import get  # groups import nothing from here; imported late to keep this module light

    if x is not None:
        dim = x.shape[-1]
    g = get(group, dim=dim)
    if x is not None:
        check_group_dim(g, x, name)
    elif dim is not None and getattr(g, "dim", None) not in (None, dim):
        raise ValueError(
            f"{type(g).__name__} acts on R^{g.dim} but d = {dim} is needed; pick a group of matching dimension, "
            f"e.g. SO2() for 2D, SO3() for 3D"
        )
    return g


def check_group_dim(group, x: torch.Tensor, name: str = "x") -> None:
    """Raise if the group acts on R^d with a d different from the data's last axis."""
    gd = getattr(group, "dim", None)
    if gd is not None and x.shape[-1] != gd:
        raise ValueError(
            f"{type(group).__name__} acts on R^{gd} but {name} has d = {x.shape[-1]} coordinates "
            f"(shape {tuple(x.shape)}); pick a group of matching dimension, e.g. SO2() for 2D, SO3() for 3D"
        )
    gn = getattr(group, "num_points", None)
    if gn is not None and x.shape[-2] != gn:
        raise ValueError(
            f"{type(group).__name__} permutes {gn} points but {name} has n = {x.shape[-2]} points "
            f"(shape {tuple(x.shape)})"
        )


def check_centered(x: torch.Tensor, mask: torch.Tensor | None = None, name: str = "x0", atol: float = 1e-4):
    """Raise if a point cloud ``(..., n, d)`` is not centred (zero centre of mass over real points)."""
    if x.shape[-2] < 2:
        return
    if mask is None:
        com = x.mean(-2)
    else:
        m = mask.unsqueeze(-1).to(x.dtype)
        com = (x * m).sum(-2) / m.sum(-2)
    scale = 1.0 + x.abs().amax()
    if (com.abs() > atol * scale).any():
        raise ValueError(
            f"{name} is not centred (largest centre-of-mass coordinate {float(com.abs().max()):.3g}); rotation "
            f"targets need zero centre of mass (docs/theory.md#centering). Call sv.diffusion.center({name}, mask) first"
        )
