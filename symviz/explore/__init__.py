"""Pure functions behind the symviz widgets and tutorials 01–04: tensors in, numpy arrays out.

Every widget in :mod:`symviz.widgets` is a thin view over one function here, and the tutorials and tests call
the same functions (docs/architecture.md#conventions: "widgets are thin views over pure,
tested functions"). Nothing here plots; the maths
is the core's (:mod:`symviz.orbit`, :mod:`symviz.diffusion`, :mod:`symviz.groups`).

    frame = orbit_explorer_frame("SO2", t=0.3, K=16, seed=0)  # candidates, weights, MC and exact target
    field = target_field("C6", "point", t=0.5)                 # arrows x_t -> phi*(x0, x_t) over a grid
    frames = forward_diffusion_frames("blobs", times)          # x_t for every t of a slider, precomputed
    act = group_action_frame("D4", element=3)                  # g.x0 for one group element

2D only: the groups are C_n, D_n, SO(2), O(2) and the reflection Z2, by name ("C6", "D4", "SO2", "O2", "Z2"; the
registry's names, :func:`symviz.groups.get`) or as objects. Inputs are checked by :mod:`symviz._checks`
(``check_t``, ``check_k``, ``check_seed`` are re-exported here).
"""

from symviz._checks import MAX_K, check_k, check_seed, check_t
from symviz.explore._common import DATA_CHOICES, GROUP_CHOICES, group_menu, make_group, make_x0
from symviz.explore.actions import ActionFrame, group_action_frame
from symviz.explore.diffusion import DiffusionFrames, blobs_2d, forward_diffusion_frames
from symviz.explore.orbit import FieldFrame, OrbitFrame, field_grid, noisy_sample, orbit_explorer_frame, target_field
from symviz.explore.posterior import (
    element_angles,
    exact_orbit_target,
    group_posterior,
    haar_quadrature,
    posterior_mean,
    quadrature_size,
)
from symviz.explore.training import LossCurve, loss_curve

__all__ = [
    "GROUP_CHOICES",
    "DATA_CHOICES",
    "MAX_K",
    "make_group",
    "group_menu",
    "make_x0",
    "check_t",
    "check_k",
    "check_seed",
    "haar_quadrature",
    "quadrature_size",
    "exact_orbit_target",
    "element_angles",
    "group_posterior",
    "posterior_mean",
    "noisy_sample",
    "OrbitFrame",
    "orbit_explorer_frame",
    "FieldFrame",
    "field_grid",
    "target_field",
    "blobs_2d",
    "DiffusionFrames",
    "forward_diffusion_frames",
    "ActionFrame",
    "group_action_frame",
    "LossCurve",
    "loss_curve",
]
