"""symviz: learn and try symmetry-preserving diffusion via target symmetrization (Orbit Diffusion).

    import symviz as sv
    G = sv.groups.SO3()
    res = sv.orbit.orbit_target(x0, xt, alpha, sigma, G, num_samples=64)

Importing is light: nothing here downloads or computes at import time (RDKit readers, widgets and viewers are
imported explicitly: symviz.data.qm9, symviz.data.geom, symviz.widgets, symviz.viz.molview).
"""

from importlib import import_module

from symviz import data, diffusion, groups, losses, metrics, nets, orbit  # noqa: F401
from symviz.threads import configure_threads  # noqa: F401

# symviz.train is imported on first use of sv.train: importing it here would put it in sys.modules before
# ``python -m symviz.train`` runs it as __main__, which makes runpy warn (and run a second copy of the module).
_LAZY = ("train",)


def __getattr__(name):
    if name in _LAZY:
        return import_module(f"symviz.{name}")
    raise AttributeError(f"module 'symviz' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


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
