"""Small time-conditioned networks ``net(x_t, t) -> x0_hat`` on point clouds ``(B, n, d)``.

- :class:`TimeMLP`: a plain (non-equivariant) MLP on the flattened cloud — what OrbDiff trains.
- :class:`OddNet`: ``f([x, t]) - f([-x, t])``, equivariant under x -> -x (the paper's 1D "EquiNet").
- :class:`RadialNet`: ``x_i h(|x_i|, t)``, equivariant under O(d) (SO2/SO3 single-point baseline).
- :class:`EGNN`: E(n)-equivariant graph network (Satorras et al. 2021), 2D or 3D, with padding masks.
- :class:`AtomTransformer`: a transformer on atom tokens with raw 3D coordinates (not rotation-equivariant, on
  purpose), the same call as :class:`EGNN`.
"""

from symviz.nets.egnn import EGNN
from symviz.nets.equivariant import OddNet, RadialNet
from symviz.nets.mlp import TimeMLP, time_features
from symviz.nets.transformer import AtomTransformer

__all__ = ["TimeMLP", "OddNet", "RadialNet", "EGNN", "AtomTransformer", "time_features"]
