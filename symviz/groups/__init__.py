"""Groups acting on point clouds ``x`` of shape ``(..., n, d)``.

A group is an object with the operations of the maths (UvA DL course style):

    g = G.sample(k, generator=gen)   # k elements, Haar for continuous groups, uniform for finite ones
    e = G.identity(k)
    y = G.act(g, x)                  # g's leading dims broadcast against x's leading dims
    G.compose(g, h)                  # act(compose(g, h), x) == act(g, act(h, x))
    G.inverse(g); G.elements()       # elements(): finite groups only, identity first

Element layouts (``k`` is the element axis, ``B`` an optional per-cloud batch):

- matrix groups (Reflection, Cyclic, Dihedral, SO2, O2, SO3, O3): orthogonal matrices ``(k, d, d)``;
  the action is ``g . x = x R^T`` (each point ``x_i -> R x_i``). docs/theory.md#rotation-einsum: the reference code's
  einsum scaled each axis by a row sum of ``R`` instead; ``tests/test_groups.py`` has a regression test.
- :class:`Permutations`: index tensors ``(k, n)`` or batched ``(B, k, n)``; ``act(p, x)[..., i, :] =
  x[..., p[i], :]``. Rows equal to -1 mark padding (invalid elements, see :meth:`Group.element_mask`).
- :class:`Product`: tuples ``(g1, g2)``; the two factors must commute (rotations act on coordinates,
  permutations on the point index), e.g. ``Product(SO3(), Permutations(automorphisms))``.

Names: ``get("SO3")``, ``get("C6")``, ``get("Z2", dim=2)``; every function that takes a group accepts a name too.
The scheme (``"C<n>"``, ``"D<n>"``, ``"SO2"``, ``"O2"``, ``"Z2"``, ``"SO3"``, ``"O3"``) is in
:mod:`symviz.groups.registry`; :func:`names` lists it, :func:`examples` gives concrete names for menus.
"""

from symviz.groups.automorphisms import AutomorphismGroup
from symviz.groups.base import Group
from symviz.groups.matrix import O2, O3, SO2, SO3, Cyclic, Dihedral, MatrixGroup, Reflection, rotation_2d
from symviz.groups.permutations import Permutations
from symviz.groups.product import Product, _k_len, _take  # noqa: F401  (element-axis helpers)
from symviz.groups.registry import examples, get, name_of, names

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
    "AutomorphismGroup",
    "Product",
    "rotation_2d",
    "get",
    "names",
    "examples",
    "name_of",
]
