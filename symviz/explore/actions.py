"""Frames for the group-action explorer (tutorial 01)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from symviz._checks import DTYPE
from symviz.explore._common import _short_repr, make_group, make_x0
from symviz.explore.posterior import element_angles, haar_quadrature
from symviz.groups import O2, rotation_2d

# ----------------------------------------------------------------------------------------------
# Group actions (tutorial 01)
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class ActionFrame:
    """One group element acting on x0. ``x0, gx0: (n, 2)``; ``matrix: (2, 2)``; ``orbit: (M, n, 2)``."""

    __repr__ = _short_repr

    group: str
    label: str
    x0: np.ndarray
    gx0: np.ndarray
    matrix: np.ndarray
    orbit: np.ndarray
    num_elements: int | None


def group_action_frame(group="C6", element=0, reflect: bool = False, data="cloud") -> ActionFrame:
    """``g.x0`` for one element of a 2D group (:meth:`symviz.groups.Group.act`).

    Args:
        element: finite groups: the index into ``G.elements()`` (0 = identity, ..., |G| - 1);
            SO2 / O2: the rotation angle in degrees.
        reflect: O2 only: compose with the reflection ``S = diag(1, -1)`` (``g = R(angle) S``).
    """
    g = make_group(group)
    x0 = make_x0(data)
    if g.is_finite:
        if reflect:
            raise ValueError(
                f"reflect applies to O2 only; for {group!r} pick the element index (D_n lists "
                f"its reflections after its rotations)"
            )
        is_int = isinstance(element, (int, np.integer)) and not isinstance(element, bool)
        if not is_int or not 0 <= element < g.order:
            raise ValueError(f"element must be an index in [0, {g.order - 1}] for {group!r}; got {element!r}")
        mat = g.elements(dtype=DTYPE)[int(element)]
        draw = g.elements(dtype=DTYPE)
        n_el = g.order
    else:
        try:
            ang = float(element)
        except (TypeError, ValueError):
            raise ValueError(f"element must be an angle in degrees for {group!r}; got {element!r}") from None
        if not math.isfinite(ang):
            raise ValueError(f"the angle must be finite; got {element!r}")
        if reflect and not isinstance(g, O2):
            raise ValueError(f"{group!r} has no reflections; choose O2 (or D_n) to reflect")
        mat = rotation_2d(torch.tensor(math.radians(ang), dtype=DTYPE))
        if reflect:
            mat = mat @ torch.diag(torch.tensor([1.0, -1.0], dtype=DTYPE))
        draw = haar_quadrature(g, 180)
        n_el = None
    ang, refl = element_angles(mat[None])
    kind = f"reflection R({ang[0]:.0f}°)·S" if refl[0] else f"rotation by {ang[0]:.0f}°"
    return ActionFrame(
        group=group if isinstance(group, str) else repr(group),
        label=kind,
        x0=x0.numpy(),
        gx0=g.act(mat, x0).numpy(),
        matrix=mat.numpy(),
        orbit=g.act(draw, x0).numpy(),
        num_elements=n_el,
    )
