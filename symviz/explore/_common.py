"""Inputs shared by the explorer functions: the 2D group menu, data names, a compact frame repr.

Input checks (t, K, seed, groups) are the library's own (:mod:`symviz._checks`); group names are those of
the registry (:func:`symviz.groups.get`).
"""

from __future__ import annotations

import numpy as np
import torch

from symviz._checks import DTYPE, check_centered, check_group, check_point_cloud
from symviz.data.toys import asymmetric_cloud_2d
from symviz.diffusion import VPSchedule
from symviz.groups import MatrixGroup, examples, name_of

__all__ = ["GROUP_CHOICES", "DATA_CHOICES", "make_group", "group_menu", "make_x0"]

GROUP_CHOICES = examples(dim=2)  # the 2D groups of the registry, one per family: the widgets' menu
DATA_CHOICES = ("point", "cloud")


# ----------------------------------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------------------------------


def make_group(group) -> MatrixGroup:
    """A 2D matrix group from a registry name (``"C<n>"``, ``"D<n>"``, ``"SO2"``/``"SO(2)"``, ``"O2"``,
    ``"Z2"`` = ``Reflection(2)``; :func:`symviz.groups.get`) or a Group object (returned unchanged).

    Raises TypeError for other types and ValueError for an unknown name or a group that is not a 2D
    orthogonal matrix group (the explorers draw the plane).
    """
    g = check_group(group, dim=2)
    if not isinstance(g, MatrixGroup) or g.dim != 2:
        raise ValueError(
            f"the explorers draw the plane: they need a 2D matrix group, e.g. one of {GROUP_CHOICES}; got {g!r}"
        )
    return g


def group_menu(group) -> tuple[list[tuple[str, object]], object]:
    """A group dropdown's ``(options, value)``: the ``(label, value)`` pairs of :data:`GROUP_CHOICES`, plus
    ``group`` when it is not among them (e.g. ``"C5"`` or an object), and the value that selects ``group``.

    A name is selected by its canonical spelling (``"so(2)"`` -> ``"SO2"``), and so is a registered group
    object (``Cyclic(6)`` -> ``"C6"``); other 2D matrix groups are their own value, labelled by their repr.
    Raises what :func:`make_group` raises for anything else.
    """
    g = make_group(group)
    name = name_of(g)
    value = name if name is not None else g
    options = [(c, c) for c in GROUP_CHOICES]
    if value not in GROUP_CHOICES:
        options.append((value if isinstance(value, str) else repr(value), value))
    return options, value


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
