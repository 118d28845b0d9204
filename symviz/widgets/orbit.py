"""OrbitExplorer and TargetField: views over :func:`symviz.explore.orbit_explorer_frame` and
:func:`symviz.explore.target_field` (tutorial 03)."""

from __future__ import annotations

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go

from symviz import explore
from symviz.widgets._base import View, as_widget, curves, legend_html, new_figure, polyline, segments, slider_opts

__all__ = ["OrbitExplorer", "TargetField", "k_slider_options"]


def k_slider_options(max_k: int = 512, current: int | None = None) -> tuple[int, ...]:
    """The stops of the K slider: the powers of two 1, 2, 4, ... up to ``max_k`` (and ``max_k`` itself), plus
    ``current`` when it lies in ``[1, max_k]`` and is not one of them, in increasing order.

    A log scale: the Monte Carlo error falls like 1/sqrt(K) (tutorial 03), so each stop doubles K. A K set
    from code (``OrbitExplorer.update(K=100)``) gets its own stop, so the slider always shows the K in use.
    Raises ValueError when ``max_k`` is not a whole number >= 1.
    """
    if isinstance(max_k, bool) or not isinstance(max_k, (int, np.integer)) or max_k < 1:
        raise ValueError(f"max_k must be a whole number >= 1 (the largest K on the slider); got {max_k!r}")
    stops = {2**i for i in range(int(max_k).bit_length()) if 2**i <= max_k} | {int(max_k)}
    if isinstance(current, (int, np.integer)) and not isinstance(current, bool) and 1 <= current <= max_k:
        stops.add(int(current))
    return tuple(sorted(stops))


def _orbit_xy(orbit: np.ndarray, finite: bool):
    """Finite groups: all orbit points; continuous ones: each point's circle as a line."""
    if finite:
        p = orbit.reshape(-1, 2)
        return p[:, 0], p[:, 1]
    return curves(orbit)


class OrbitExplorer(View):
    """Sliders for t and K (K on a log scale: the powers of two up to ``max_k``), a group dropdown
    (:data:`symviz.explore.GROUP_CHOICES`), a data choice and a seed.

    Left: the orbit of x0 (grey), the K candidates coloured by their weight, x0 (black), x_t (red), the Monte
    Carlo target (blue) and the exact target (green). Right: the exact posterior over the group as a density
    relative to Haar (line) and ``K w_k`` for the candidates (dots): the SNIS estimate of that density.
    The readout (CSS class ``symviz-readout``) gives the ESS, alpha, sigma and the MC error.

        ex = OrbitExplorer(group="SO2", t=0.3, K=16); ex          # in a notebook cell
        ex.update(t=0.8, K=128)                                  # what the sliders call
    """

    def __init__(
        self,
        group="SO2",
        t: float = 0.3,
        K: int = 16,
        seed: int = 0,
        data="point",
        include_identity: bool = True,
        max_k: int = 512,
    ):
        super().__init__()
        options, group = explore.group_menu(group)
        self.max_k = max_k
        k_opts = k_slider_options(max_k, K)
        self.params = dict(group=group, t=t, K=K, seed=seed, data=data, include_identity=include_identity)
        self.controls = {
            "group": W.Dropdown(
                options=options,
                value=group,
                description="group",
                layout=W.Layout(width="160px"),
                style={"description_width": "45px"},
            ),
            "data": W.Dropdown(
                options=list(explore.DATA_CHOICES),
                value=data,
                description="x0",
                layout=W.Layout(width="130px"),
                style={"description_width": "25px"},
            ),
            "t": W.FloatSlider(
                value=t, min=0.0, max=1.0, step=0.01, description="t", readout_format=".2f", **slider_opts()
            ),
            "K": W.SelectionSlider(  # a log scale: 1, 2, 4, ..., max_k (see k_slider_options)
                options=k_opts, value=K if K in k_opts else k_opts[0], description="K", **slider_opts()
            ),
            "seed": W.IntText(
                value=seed,
                description="seed",
                layout=W.Layout(width="140px"),
                style={"description_width": "35px"},
            ),
            "include_identity": W.Checkbox(
                value=include_identity,
                description="identity in slot 0",
                indent=False,
                layout=W.Layout(width="150px"),
            ),
        }
        self.fig = new_figure(
            cols=2,
            width=880,
            height=440,
            titles=("orbit, candidates and targets", "posterior over the group"),
        )
        f = self.fig
        # WebGL traces: at K = 512 a step restyles 1000 markers, each with its own colour and size, and plotly's
        # SVG renderer redrew every point (Plotly.update on this figure in headless Chromium: median 80 to 130 ms,
        # worst 190 ms; WebGL: median 30 to 50 ms, worst 70 ms). All traces, not only the candidates: WebGL is
        # painted above SVG, and x0 and the targets must stay on top. Two WebGL contexts per explorer (plotly's
        # drawing and hover-picking layers; Chromium keeps 16 alive).
        f.add_trace(go.Scattergl(name="orbit of x0", mode="lines", line=dict(color="#bbbbbb", width=1.5)), 1, 1)
        f.add_trace(
            go.Scattergl(
                name="candidates g_k·x0",
                mode="markers",
                marker=dict(colorscale="Viridis", cmin=0, cmax=1),  # w_k / max w; explained in the HTML legend
            ),
            1,
            1,
        )
        f.add_trace(
            go.Scattergl(
                name="x0",
                mode="markers+lines",
                line=dict(color="black", width=1),
                marker=dict(symbol="star", size=13, color="black"),
            ),
            1,
            1,
        )
        f.add_trace(
            go.Scattergl(
                name="x_t",
                mode="markers+lines",
                line=dict(color="#d62728", width=1, dash="dot"),
                marker=dict(symbol="x", size=10, color="#d62728"),
            ),
            1,
            1,
        )
        f.add_trace(
            go.Scattergl(
                name="MC target",
                mode="markers+lines",
                line=dict(color="#1f77b4", width=1),
                marker=dict(symbol="diamond", size=11, color="#1f77b4"),
            ),
            1,
            1,
        )
        f.add_trace(
            go.Scattergl(
                name="exact target",
                mode="markers+lines",
                line=dict(color="#2ca02c", width=1),
                marker=dict(symbol="circle-open", size=16, color="#2ca02c", line=dict(width=2)),
            ),
            1,
            1,
        )
        f.add_trace(
            go.Scattergl(name="exact posterior (rotations)", mode="lines", line=dict(color="#2ca02c")),
            1,
            2,
        )
        f.add_trace(
            go.Scattergl(
                name="exact posterior (reflections)",
                mode="lines",
                line=dict(color="#9467bd", dash="dash"),
            ),
            1,
            2,
        )
        f.add_trace(
            go.Scattergl(
                name="K·w_k",
                mode="markers",
                marker=dict(size=7, opacity=0.8, cmin=0, cmax=1, colorscale=[[0, "#1f77b4"], [1, "#9467bd"]]),
            ),
            1,
            2,
        )
        f.update_xaxes(range=[-2.4, 2.4], row=1, col=1)
        f.update_yaxes(range=[-2.4, 2.4], row=1, col=1)
        f.update_xaxes(title_text="angle of g (degrees, 0 = identity)", range=[-185, 185], row=1, col=2)
        f.update_yaxes(title_text="density w.r.t. Haar", rangemode="tozero", row=1, col=2)
        self.legend = legend_html(  # HTML below the plot: plotly would redraw its legend on every slider step
            f,
            ["—", "●", "★", "×", "◆", "○", "—", "- -", "●"],
            colors={1: "#3b528b", 8: "#1f77b4"},
            note="Candidates: colour (Viridis, dark = 0, yellow = the largest) and size grow with w_k / max w. "
            "Right: K·w_k in blue for rotations, purple for reflections.",
        )
        self._wire()
        self._drawn_orbit = self._drawn_posterior = None
        self.update()
        self.fig = as_widget(self.fig)  # born with every trace and the first frame
        c = self.controls
        self.widget = W.VBox(
            [
                W.HBox([c["group"], c["data"], c["seed"], c["include_identity"]]),
                W.HBox([c["t"], c["K"]]),
                self.readout,
                self.fig,
                self.legend,
            ]
        )

    def _sync_controls(self) -> None:
        """As :meth:`View._sync_controls`; a K that is not a stop of the slider (set from code) gets one first."""
        slider, k = self.controls["K"], self.params["K"]
        options = k_slider_options(self.max_k, k)
        if k not in slider.options and k in options:  # (a K above max_k leaves the slider where it is)
            self._syncing = True
            try:
                slider.options = options  # this moves the slider to its first stop, unobserved
            finally:
                self._syncing = False
        super()._sync_controls()

    def compute(self, **p):
        return explore.orbit_explorer_frame(
            p["group"],
            t=p["t"],
            K=p["K"],
            seed=p["seed"],
            data=p["data"],
            include_identity=p["include_identity"],
        )

    def draw(self, fr) -> None:
        d = self.fig.data
        key = (fr.group, fr.x0.tobytes())
        if key != self._drawn_orbit:  # the orbit changes only with the group or x0
            self._drawn_orbit = key
            finite = fr.orbit.shape[0] < 100
            ox, oy = _orbit_xy(fr.orbit, finite)
            d[0].update(x=ox, y=oy, mode="markers" if finite else "lines")
            x, y = polyline(fr.x0, fr.x0.shape[0] > 2)
            d[2].update(x=x, y=y)
            d[6].mode = d[7].mode = "lines" if fr.post_angle.size > 100 else "markers"
        n = fr.x0.shape[0]
        cands = fr.candidates.reshape(-1, 2)
        w = np.repeat(fr.weights, n)
        wmax = max(float(fr.weights.max()), 1e-12)
        d[1].update(x=cands[:, 0], y=cands[:, 1])
        d[1].marker.update(color=w / wmax, size=5 + 11 * np.sqrt(w / wmax))
        x, y = polyline(fr.mc_target, n > 2)
        d[4].update(x=x, y=y)
        # x_t, the exact target and the exact posterior do not depend on K: a K step leaves them alone, so the
        # browser gets (and re-parses) only the traces that changed
        key = (fr.group, fr.x0.tobytes(), fr.xt.tobytes(), fr.t)
        if key != self._drawn_posterior:
            self._drawn_posterior = key
            for i, pts in ((3, fr.xt), (5, fr.exact_target)):
                x, y = polyline(pts, n > 2)
                d[i].update(x=x, y=y)
            rot = ~fr.post_reflect
            d[6].update(x=fr.post_angle[rot], y=fr.post_density[rot])
            d[7].update(x=fr.post_angle[~rot], y=fr.post_density[~rot])
        d[8].update(x=fr.cand_angle, y=fr.K * fr.weights)
        d[8].marker.color = fr.cand_reflect.astype(float)

    def describe(self, fr) -> str:
        note = ""
        if fr.t == 0:
            note = " · t = 0: sigma = 0, all weight on the generating element, the target is x0"
        elif fr.alpha == 0:
            note = " · t = 1: alpha = 0, uniform weights, the target is the orbit mean"
        return (
            f"<b>ESS = {fr.ess:.2f}</b> of K = {fr.K} · t = {fr.t:.2f} (α = {fr.alpha:.3f}, "
            f"σ = {fr.sigma:.3f}) · group {fr.group} · |MC − exact| = {fr.mc_error:.4f}{note}"
        )


class TargetField(View):
    """The exact symmetrized target as arrows ``x_t -> phi*(x0, x_t)`` over a grid, with a t slider and a
    group dropdown. Frames are cached per (group, t), so revisiting a slider position only redraws.

        tf = TargetField(group="C6"); tf.update(t=0.1)
    """

    def __init__(self, group="C6", t: float = 0.5, grid: int = 15, extent: float = 2.0):
        super().__init__()
        options, group = explore.group_menu(group)
        self.params = dict(group=group, t=t)
        self.grid, self.extent, self._cache = grid, extent, {}
        self.controls = {
            "group": W.Dropdown(
                options=options,
                value=group,
                description="group",
                layout=W.Layout(width="160px"),
                style={"description_width": "45px"},
            ),
            "t": W.FloatSlider(
                value=t, min=0.0, max=1.0, step=0.02, description="t", readout_format=".2f", **slider_opts()
            ),
        }
        self.fig = new_figure(width=520, height=500)
        f = self.fig
        f.add_trace(go.Scatter(name="orbit of x0", mode="lines", line=dict(color="#bbbbbb", width=1.5)))
        f.add_trace(go.Scatter(name="x_t → φ*(x0, x_t)", mode="lines", line=dict(color="#1f77b4", width=1)))
        # the 225 target markers and x0 in WebGL (painted above the SVG lines, in trace order): SVG styled each
        # marker on every step (about 12 ms of plotly's 45-60 ms per step in Chromium, measured on this figure)
        f.add_trace(go.Scattergl(name="φ*", mode="markers", marker=dict(color="#1f77b4", size=4)))
        f.add_trace(go.Scattergl(name="x0", mode="markers", marker=dict(symbol="star", size=14, color="black")))
        lim = extent * 1.1
        f.update_xaxes(range=[-lim, lim])
        f.update_yaxes(range=[-lim, lim])
        self.legend = legend_html(f, ["○", "—", "●", "★"], colors={0: "#999999"})  # HTML: no redraw per step
        self._wire()
        self._drawn_orbit = None
        self.update()
        self.fig = as_widget(self.fig)  # born with every trace and the first frame
        self.widget = W.VBox(
            [W.HBox([self.controls["group"], self.controls["t"]]), self.readout, self.fig, self.legend]
        )

    def compute(self, **p):
        key = (p["group"], float(p["t"]))
        if key not in self._cache:
            self._cache[key] = explore.target_field(p["group"], "point", t=p["t"], grid=self.grid, extent=self.extent)
        return self._cache[key]

    def draw(self, fr) -> None:
        d = self.fig.data
        key = (fr.group, fr.x0.tobytes())
        if key != self._drawn_orbit:  # the orbit and x0 change only with the group, not with t
            self._drawn_orbit = key
            finite = fr.orbit.shape[0] < 100
            ox, oy = _orbit_xy(fr.orbit[:, None, :], finite)
            d[0].update(
                x=ox,
                y=oy,
                mode="markers" if finite else "lines",
                marker=dict(color="#999999", size=8, symbol="circle-open"),
            )
            d[3].update(x=fr.x0[:, 0], y=fr.x0[:, 1])
        sx, sy = segments(fr.points, fr.targets)
        d[1].update(x=sx, y=sy)
        d[2].update(x=fr.targets[:, 0], y=fr.targets[:, 1])

    def describe(self, fr) -> str:
        r = np.linalg.norm(fr.targets, axis=1)
        return (
            f"t = {fr.t:.2f} (α = {fr.alpha:.3f}, σ = {fr.sigma:.3f}) · group {fr.group} · "
            f"|φ*| from {r.min():.3f} to {r.max():.3f} (|x0| = {np.linalg.norm(fr.x0):.3f})"
        )
