"""The one registry of group names: ``sv.groups.get("SO3")`` -> ``SO3()``, ``get("C6")`` -> ``Cyclic(6)``.

Every function that takes a group (:func:`symviz.orbit.orbit_target`, :class:`symviz.losses.DenoisingLoss`,
:func:`symviz.metrics.equivariance_error`, the explorers and widgets) accepts a :class:`~symviz.groups.Group`
object or one of these names, through one validator (:func:`symviz._checks.check_group`, which calls
:func:`get`).

Naming scheme (case-insensitive; spaces, ``_`` and parentheses are ignored, so ``"SO(3)"``, ``"so3"`` and
``"C_6"`` all work):

==================  ==========================  ================================================
name                group                       acts on
==================  ==========================  ================================================
``"C<n>"``          ``Cyclic(n)``, n >= 1       R^2 (rotations by multiples of 2 pi / n)
``"D<n>"``          ``Dihedral(n)``, n >= 1     R^2 (n rotations and n reflections, order 2n)
``"SO2"``           ``SO2()``                   R^2
``"O2"``            ``O2()``                    R^2
``"Z2"``            ``Reflection(dim)``         R^dim, x -> +-x; alias ``"Reflection"``
``"SO3"``           ``SO3()``                   R^3
``"O3"``            ``O3()``                    R^3
==================  ==========================  ================================================

``"Z2"`` is the only name whose dimension is not fixed: ``get("Z2", dim=d)`` gives ``Reflection(d)``
(default ``dim=1``, the paper's 1D toy; the core functions pass the data's ``d``). For the other names a
``dim`` that differs from the group's own is a ValueError. Groups built from data (``Permutations``,
``AutomorphismGroup``, ``Product``) have no name: pass the object.

A new group with a name: add a :class:`_Family` line to ``_FAMILIES`` below (pattern, example, dimension,
constructor) and, for :func:`name_of`, its class; ``tests/test_registry.py`` then checks it round-trips.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from symviz.groups.base import Group
from symviz.groups.matrix import O2, O3, SO2, SO3, Cyclic, Dihedral, Reflection

__all__ = ["get", "names", "examples", "name_of", "describe_names"]


@dataclass(frozen=True)
class _Family:
    """One registered name (``"SO2"``) or parametrised family (``"C<n>"``)."""

    pattern: str  # the canonical spelling; "<n>" marks the order parameter
    example: str  # a concrete name, for menus and tests
    dim: int | None  # the R^d it acts on; None = any (given by get(..., dim=))
    cls: type
    build: Callable  # build(n, dim) -> Group
    aliases: tuple[str, ...] = ()


_FAMILIES: tuple[_Family, ...] = (
    _Family("C<n>", "C6", 2, Cyclic, lambda n, dim: Cyclic(n)),
    _Family("D<n>", "D4", 2, Dihedral, lambda n, dim: Dihedral(n)),
    _Family("SO2", "SO2", 2, SO2, lambda n, dim: SO2()),
    _Family("O2", "O2", 2, O2, lambda n, dim: O2()),
    _Family("Z2", "Z2", None, Reflection, lambda n, dim: Reflection(dim), aliases=("Reflection",)),
    _Family("SO3", "SO3", 3, SO3, lambda n, dim: SO3()),
    _Family("O3", "O3", 3, O3, lambda n, dim: O3()),
)

_DEFAULT_DIM = 1  # Reflection's own default: the 1D toy of the paper


def _key(s: str) -> str:
    return re.sub(r"[\s_()]", "", s).upper()


def names() -> tuple[str, ...]:
    """The registered names, canonical spelling: ``("C<n>", "D<n>", "SO2", "O2", "Z2", "SO3", "O3")``.

    ``"C<n>"`` and ``"D<n>"`` stand for every ``n >= 1`` (``"C6"``, ``"D4"``, ...); see :func:`examples`
    for concrete names.
    """
    return tuple(f.pattern for f in _FAMILIES)


def examples(dim: int | None = None) -> tuple[str, ...]:
    """One concrete name per registered family, in registry order, e.g. for a menu.

    ``dim``: only the families that act on R^dim (``"Z2"`` acts on any). ``examples(2)`` is
    ``("C6", "D4", "SO2", "O2", "Z2")``, the explorers' menu (:data:`symviz.explore.GROUP_CHOICES`).
    """
    return tuple(f.example for f in _FAMILIES if dim is None or f.dim in (None, dim))


def describe_names() -> str:
    """The valid names as one line, for error messages."""
    parts = []
    for f in _FAMILIES:
        s = repr(f.pattern)
        if f.aliases:
            s += f" (alias {', '.join(repr(a) for a in f.aliases)})"
        parts.append(s)
    return ", ".join(parts) + " with n >= 1, or a symviz.groups.Group object"


def _parse(name: str) -> tuple[_Family, int | None] | None:
    key = _key(name)
    for f in _FAMILIES:
        if "<n>" in f.pattern:
            m = re.fullmatch(re.escape(_key(f.pattern.replace("<n>", ""))) + r"(\d+)", key)
            if m and int(m.group(1)) >= 1:
                return f, int(m.group(1))
        elif key in (_key(f.pattern), *(_key(a) for a in f.aliases)):
            return f, None
    return None


def _check_dim(dim) -> int | None:
    if dim is None:
        return None
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ValueError(f"dim must be None or an integer >= 1 (the d of R^d); got {dim!r}")
    return dim


def get(group, dim: int | None = None) -> Group:
    """The group named ``group`` (see the module docstring), or ``group`` itself if it is a Group already.

    Args:
        group: a :class:`~symviz.groups.Group` (returned unchanged) or a registered name (``"SO3"``, ``"C6"``,
            ``"D4"``, ``"Z2"``, ...; :func:`names`).
        dim: the dimension d of the data. Sets the dimension of ``"Z2"`` (``Reflection(dim)``, default 1) and
            must match the fixed dimension of every other name (ValueError otherwise). Ignored for objects.
    Raises:
        TypeError: ``group`` is neither a string nor a Group.
        ValueError: an unknown name (the message lists the valid ones) or a dimension mismatch.
    """
    if isinstance(group, Group):
        return group
    if not isinstance(group, str):
        raise TypeError(
            f"group must be a symviz.groups.Group or a name such as 'SO3' or 'C6'; got {type(group).__name__} "
            f"{group!r}. Valid names: {describe_names()}"
        )
    dim = _check_dim(dim)
    parsed = _parse(group)
    if parsed is None:
        raise ValueError(f"unknown group {group!r}; valid names: {describe_names()}")
    fam, n = parsed
    if fam.dim is not None and dim is not None and dim != fam.dim:
        raise ValueError(
            f"group {group!r} acts on R^{fam.dim} but the data have d = {dim} coordinates; pick a group of "
            f"matching dimension (for d = {dim}: {', '.join(repr(e) for e in examples(dim))})"
        )
    return fam.build(n, dim if dim is not None else _DEFAULT_DIM)


def name_of(group: Group) -> str | None:
    """The canonical name of a registered group object (``Cyclic(6)`` -> ``"C6"``), or None for a group
    without one (``Permutations``, ``AutomorphismGroup``, ``Product``, subclasses). ``get(name_of(G),
    dim=G.dim)`` builds a group with the same action as ``G``."""
    if not isinstance(group, Group):
        raise TypeError(f"name_of needs a symviz.groups.Group; got {type(group).__name__}")
    for f in _FAMILIES:
        if type(group) is f.cls:
            return f.pattern.replace("<n>", str(group.n)) if "<n>" in f.pattern else f.pattern
    return None
