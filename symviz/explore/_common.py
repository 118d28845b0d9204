"""Inputs shared by the explorer functions: group and data names, slider checks, a compact frame repr."""

from __future__ import annotations

import re

import numpy as np
import torch

from symviz._checks import check_centered, check_point_cloud
from symviz.data.toys import asymmetric_cloud_2d
from symviz.diffusion import VPSchedule
from symviz.groups import O2, SO2, Cyclic, Dihedral, Group, MatrixGroup, Reflection

GROUP_CHOICES = ("C6", "D4", "SO2", "O2")
DATA_CHOICES = ("point", "cloud")
MAX_K = 4096  # interactive upper bound on the Monte Carlo sample count
DTYPE = torch.float64


# ----------------------------------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------------------------------


def make_group(name) -> MatrixGroup:
    """A 2D group from its name: ``"C<n>"``, ``"D<n>"``, ``"SO2"`` (or ``"SO(2)"``), ``"O2"``, ``"Z2"``.

    A :class:`symviz.groups.Group` passes through unchanged.
    """
    if isinstance(name, Group):
        return name
    if not isinstance(name, str):
        raise TypeError(f"group must be a name such as 'SO2' or a Group; got {type(name).__name__}")
    key = name.strip().upper().replace("(", "").replace(")", "").replace("_", "")
    if key == "SO2":
        return SO2()
    if key == "O2":
        return O2()
    if key in ("Z2", "REFLECTION"):
        return Reflection(2)
    m = re.fullmatch(r"([CD])(\d+)", key)
    if m and 1 <= int(m.group(2)) <= 360:
        return Cyclic(int(m.group(2))) if m.group(1) == "C" else Dihedral(int(m.group(2)))
    raise ValueError(
        f"unknown group {name!r}; choose one of {GROUP_CHOICES}, 'Z2', or 'C<n>' / 'D<n>' with 1 <= n <= 360"
    )


def make_x0(data="point") -> torch.Tensor:
    """The clean 2D sample ``(n, 2)`` in float64: ``"point"`` (one point, n = 1), ``"cloud"`` (the centred
    asymmetric 4-point cloud of :func:`symviz.data.toys.asymmetric_cloud_2d`), or an array ``(n, 2)``.
    Clouds with ``n > 1`` must be centred (rotation targets need zero centre of mass, docs/theory.md#centering)."""
    if isinstance(data, str):
        if data == "point":
            return torch.tensor([[1.2, 0.45]], dtype=DTYPE)
        if data == "cloud":
            return asymmetric_cloud_2d().to(DTYPE)
        raise ValueError(f"unknown data {data!r}; choose one of {DATA_CHOICES} or pass an (n, 2) array")
    x = check_point_cloud(data, "x0", d=2).to(DTYPE)
    if x.dim() != 2:
        raise ValueError(f"x0 must be one 2D point cloud of shape (n, 2); got shape {tuple(x.shape)}")
    check_centered(x, None, "x0")
    return x


def check_t(t) -> float:
    """Diffusion time as a float in [0, 1] (ValueError otherwise)."""
    try:
        tf = float(t)
    except (TypeError, ValueError):
        raise ValueError(f"t must be a number in [0, 1]; got {t!r}") from None
    if not (0.0 <= tf <= 1.0):
        raise ValueError(f"t must lie in [0, 1] (0 = data, 1 = pure noise); got {t!r}")
    return tf


def check_k(k, max_k: int = MAX_K) -> int:
    """Monte Carlo sample count K as an int in [1, max_k] (ValueError otherwise)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer, float)) or float(k) != int(k):
        raise ValueError(f"K must be a whole number between 1 and {max_k}; got {k!r}")
    if not 1 <= int(k) <= max_k:
        raise ValueError(f"K must be between 1 and {max_k} (candidates, identity included); got {k}")
    return int(k)


def check_seed(seed) -> int:
    """Random seed as an int >= 0."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or int(seed) < 0:
        raise ValueError(f"seed must be an integer >= 0; got {seed!r}")
    return int(seed)


def _schedule(schedule) -> VPSchedule:
    return schedule if isinstance(schedule, VPSchedule) else VPSchedule(schedule)


def _short_repr(self) -> str:
    """A one-line repr: scalars and strings in full, arrays as their shapes (frames hold many arrays)."""
    parts = []
    for k, v in self.__dict__.items():
        if isinstance(v, np.ndarray):
            parts.append(f"{k}: {tuple(v.shape)}")
        elif isinstance(v, float):
            parts.append(f"{k}={v:.4g}")
        else:
            parts.append(f"{k}={v!r}")
    return f"{type(self).__name__}({', '.join(parts)})"
