"""GroupActionExplorer: a view over :func:`symviz.explore.group_action_frame` (tutorial 01)."""

from __future__ import annotations

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go

from symviz import explore
from symviz.groups import O2
from symviz.widgets._base import View, as_widget, curves, legend_html, new_figure, polyline, slider_opts

__all__ = ["GroupActionExplorer"]


class GroupActionExplorer(View):
    """Pick a group and one of its elements; see ``g.x0`` next to x0 and the whole orbit.

    ``group``: a 2D group by name (the menu is :data:`symviz.explore.GROUP_CHOICES`; any registry name such as
    ``"C5"`` joins it) or as an object. Finite groups (C6, D4, Z2) use the element slider ``g`` (index into
    ``G.elements()``, 0 = identity); SO2 and O2 use the ``angle`` slider (degrees), and O2 also the ``reflect``
    box. Points are numbered so that a reflection (orientation reversed) is visible.

        ga = GroupActionExplorer("D4"); ga.update(element=5); ga.update(group="O2", angle=30, reflect=True)
    """

    def __init__(self, group="C6", element: int = 1, angle: float = 30.0, reflect: bool = False, data="cloud"):
        super().__init__()
        options, group = explore.group_menu(group)
        self.params = dict(group=group, element=element, angle=angle, reflect=reflect, data=data)
        opts = dict(width="320px", label_width="45px")
        self.controls = {
            "group": W.Dropdown(
                options=options,
                value=group,
                description="group",
                layout=W.Layout(width="160px"),
                style={"description_width": "45px"},
            ),
            "element": W.IntSlider(value=element, min=0, max=5, description="g", **slider_opts(**opts)),
            "angle": W.FloatSlider(
                value=angle, min=0.0, max=360.0, step=1.0, description="angle", **slider_opts(**opts)
            ),
            "reflect": W.Checkbox(value=reflect, description="reflect (O2)", indent=False),
        }
        self.fig = new_figure(width=520, height=500)
        f = self.fig
        f.add_trace(go.Scatter(name="orbit", mode="lines", line=dict(color="#cccccc", width=1.5)))
        f.add_trace(
            go.Scatter(
                name="x0",
                mode="markers+lines+text",
                line=dict(color="#999999", dash="dot"),
                marker=dict(size=11, color="#999999"),
                textposition="top center",
            )
        )
        f.add_trace(
            go.Scatter(
                name="g·x0",
                mode="markers+lines+text",
                line=dict(color="#1f77b4", width=2),
                marker=dict(size=13, color="#1f77b4"),
                textposition="top center",
            )
        )
        f.update_xaxes(range=[-1.6, 1.6])
        f.update_yaxes(range=[-1.6, 1.6])
        # an HTML legend: plotly's own was redrawn on every step (half of plotly's time per step in Chromium)
        self.legend = legend_html(f, ["—", "●", "●"], note="The orbit: a circle for SO2 and O2, its points otherwise.")
        self._wire()
        self._drawn_orbit = None
        self.update()
        self.fig = as_widget(self.fig)  # born with every trace and the first frame
        c = self.controls
        self.widget = W.VBox(
            [
                W.HBox([c["group"], c["reflect"]]),
                W.HBox([c["element"], c["angle"]]),
                self.readout,
                self.fig,
                self.legend,
            ]
        )

    def compute(self, **p):
        g = explore.make_group(p["group"])
        if g.is_finite:
            return explore.group_action_frame(p["group"], element=p["element"], reflect=p["reflect"], data=p["data"])
        return explore.group_action_frame(p["group"], element=p["angle"], reflect=p["reflect"], data=p["data"])

    def _sync_controls(self) -> None:
        g = explore.make_group(self.params["group"])
        el = self.controls["element"]
        self._syncing = True
        try:
            if g.is_finite:
                el.max = g.order - 1
            el.layout.display = None if g.is_finite else "none"
            self.controls["angle"].layout.display = "none" if g.is_finite else None
            self.controls["reflect"].disabled = not isinstance(g, O2)
        finally:
            self._syncing = False
        super()._sync_controls()

    def update(self, **params):
        # a new finite group starts at an element that exists; only O2 keeps the reflect box
        if "group" in params:
            try:
                g = explore.make_group(params["group"])
            except (ValueError, TypeError):
                g = None  # reported by View.update
            if g is not None and g.is_finite and "element" not in params and self.params["element"] >= g.order:
                params["element"] = g.order - 1
            if g is not None and not isinstance(g, O2) and "reflect" not in params:
                params["reflect"] = False
        return super().update(**params)

    def draw(self, fr) -> None:
        d = self.fig.data
        labels = [str(i) for i in range(fr.x0.shape[0])]
        key = (fr.group, fr.x0.tobytes())
        if key != self._drawn_orbit:  # the orbit and x0 change only with the group or the data
            self._drawn_orbit = key
            if fr.num_elements is not None:
                p = fr.orbit.reshape(-1, 2)
                d[0].update(x=p[:, 0], y=p[:, 1], mode="markers", marker=dict(color="#cccccc", size=7))
            else:
                x, y = curves(fr.orbit)
                d[0].update(x=x, y=y, mode="lines")
            x, y = polyline(fr.x0, closed=True)
            d[1].update(x=x, y=y, text=labels + [""] * (len(x) - len(labels)))
        x, y = polyline(fr.gx0, closed=True)
        d[2].update(x=x, y=y, text=labels + [""] * (len(x) - len(labels)))

    def describe(self, fr) -> str:
        m = fr.matrix
        det = float(np.linalg.det(m))
        size = f"|G| = {fr.num_elements}" if fr.num_elements is not None else "a continuous group"
        return (
            f"group {fr.group} ({size}) · g = {fr.label} · ρ(g) = [[{m[0, 0]:+.3f}, {m[0, 1]:+.3f}], "
            f"[{m[1, 0]:+.3f}, {m[1, 1]:+.3f}]] · det = {det:+.0f}"
        )
