"""symviz: learn and try symmetry-preserving diffusion via target symmetrization (Orbit Diffusion).

    import symviz as sv
    G = sv.groups.SO3()
    res = sv.orbit.orbit_target(x0, xt, alpha, sigma, G, num_samples=64)

Importing is light: nothing here downloads or computes at import time (RDKit readers, widgets and viewers are
imported explicitly: symviz.data.qm9, symviz.data.geom, symviz.widgets, symviz.viz.molview).
"""

from symviz import data, diffusion, groups, losses, metrics, nets, orbit, train  # noqa: F401
from symviz.threads import configure_threads  # noqa: F401

__version__ = "0.1.0"
__all__ = [
    "groups",
    "diffusion",
    "orbit",
    "losses",
    "metrics",
    "nets",
    "train",
    "data",
    "configure_threads",
    "__version__",
]
