"""Interactive views for the tutorials, each a thin layer over a pure, tested function:

- :class:`OrbitExplorer`: t, K, group, seed: orbit, weighted candidates, MC vs exact, ESS
  (:func:`symviz.explore.orbit_explorer_frame`; tutorial 03)
- :class:`TargetField`: arrows of the exact symmetrized target over a grid, t slider
  (:func:`symviz.explore.target_field`; tutorials 03, 04)
- :class:`ForwardDiffusion`: the forward process on a 2D data set, t slider over precomputed frames
  (:func:`symviz.explore.forward_diffusion_frames`; 02)
- :class:`GroupActionExplorer`: one group element acting on a 2D cloud, with its orbit
  (:func:`symviz.explore.group_action_frame`; 01)
- :class:`LiveTrainingPlot`: a live loss curve, ``sv.train.fit(..., callback=plot)``
  (:func:`symviz.explore.loss_curve`)
- :class:`ConformerViewer`: conformer, t and K sliders over a molecule's orbit target in 3D, py3Dmol
  (:func:`symviz.molecules.conformer_frame`; 08)
- :class:`ReverseProcessViewer`: a conformer's reverse process on a t slider in 3D, pure JavaScript
  (:func:`symviz.conformers.reverse_trajectory`; 09)

Groups are chosen by name (the menu is :data:`symviz.explore.GROUP_CHOICES`, any name of
:func:`symviz.groups.get` works) or as objects.

The slider views (the first four and :class:`ConformerViewer`, built on ``symviz.widgets._base.View``) have
``.update(**params)`` (what their controls call), ``.widget`` (the box to display; the view displays itself
too) and ``.readout`` (an HTML with CSS class ``symviz-readout``); invalid values show a message in the readout
instead of raising. The plotly ones draw into ``.fig`` (a FigureWidget); :class:`ConformerViewer` draws py3Dmol
viewers into ``.output``. :class:`LiveTrainingPlot` is a callback ``plot(step, loss)`` with ``.new_run()``,
``.fig`` and ``.readout``. :class:`ReverseProcessViewer` is not an ipywidget: one HTML page (``.to_html()``)
whose slider runs in the browser, ``.frame(i)`` gives what frame ``i`` shows.
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
