"""Interactive views (ipywidgets 8 + plotly FigureWidget), each a thin layer over a pure function of
:mod:`symviz.explore`:

- :class:`OrbitExplorer` — t, K, group, seed: orbit, weighted candidates, MC vs exact, ESS (tutorial 03)
- :class:`TargetField` — arrows of the exact symmetrized target over a grid, t slider (tutorials 03, 04)
- :class:`ForwardDiffusion` — the forward process on a 2D data set, t slider over precomputed frames (02)
- :class:`GroupActionExplorer` — one group element acting on a 2D cloud, with its orbit (01)
- :class:`LiveTrainingPlot` — a live loss curve, ``sv.train.fit(..., callback=plot)``
- :class:`ReverseProcessViewer` — a conformer's reverse process on a t slider in 3D, pure JS (09)

Every view has ``.update(**params)`` (what its controls call), ``.widget`` (the box to display; the view
displays itself too), ``.fig`` (the FigureWidget) and ``.readout`` (an HTML with CSS class
``symviz-readout``). Invalid values show a message in the readout instead of raising.
"""

from symviz.widgets.actions import GroupActionExplorer
from symviz.widgets.conformers import ConformerViewer
from symviz.widgets.diffusion import ForwardDiffusion
from symviz.widgets.orbit import OrbitExplorer, TargetField
from symviz.widgets.reverse import ReverseProcessViewer
from symviz.widgets.training import LiveTrainingPlot

__all__ = [
    "OrbitExplorer",
    "TargetField",
    "ForwardDiffusion",
    "GroupActionExplorer",
    "LiveTrainingPlot",
    "ConformerViewer",
    "ReverseProcessViewer",
]
