"""ForwardDiffusion: a t slider over frames precomputed by :func:`symviz.explore.forward_diffusion_frames`
(tutorial 02). The slider only indexes arrays; nothing is recomputed while it moves."""

from __future__ import annotations

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go

from symviz import explore
from symviz.widgets._base import View, as_widget, legend_html, new_figure

__all__ = ["ForwardDiffusion"]


class ForwardDiffusion(View):
    """The forward process ``x_t = alpha_t x0 + sigma_t eps`` on a small 2D data set, with a t slider.

    Shows the data x0 (grey), the noisy samples x_t (red) and, optionally, the exact posterior mean
    ``E[x0 | x_t]`` under the data set (blue): the ideal x0-prediction of a denoiser.

        fd = ForwardDiffusion(); fd.update(t=0.5); fd.update(show_denoised=False)
    """

    def __init__(
        self,
        data="blobs",
        num_frames: int = 51,
        t: float = 0.3,
        schedule="cosine",
        seed: int = 0,
        show_denoised: bool = True,
    ):
        super().__init__()
        if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames < 2:
            raise ValueError(f"num_frames must be an integer >= 2; got {num_frames!r}")
        times = np.linspace(0.0, 1.0, num_frames)
        self.frames = explore.forward_diffusion_frames(data, times=times, schedule=schedule, seed=seed)
        self.params = dict(t=t, show_denoised=show_denoised)
        self.controls = {
            "t": W.FloatSlider(
                value=t,
                min=0.0,
                max=1.0,
                step=1.0 / (num_frames - 1),
                description="t",
                readout_format=".2f",
                continuous_update=True,
                style={"description_width": "30px"},
                layout=W.Layout(width="320px"),
            ),
            "show_denoised": W.Checkbox(value=show_denoised, description="show E[x0 | x_t]", indent=False),
        }
        self.fig = new_figure(width=520, height=500)
        f = self.fig
        x0 = self.frames.x0.reshape(-1, 2)
        # markers only, so WebGL (drawn in trace order) and an HTML legend: in Chromium the SVG markers and
        # plotly's own legend were most of each step's redraw (measured with Plotly.update on this figure)
        f.add_trace(
            go.Scattergl(name="x0 (data)", x=x0[:, 0], y=x0[:, 1], mode="markers", marker=dict(color="#bbbbbb", size=6))
        )
        f.add_trace(go.Scattergl(name="x_t", mode="markers", marker=dict(color="#d62728", size=5, opacity=0.7)))
        f.add_trace(
            go.Scattergl(name="E[x0 | x_t]", mode="markers", marker=dict(color="#1f77b4", size=6, symbol="diamond"))
        )
        f.update_xaxes(range=[-3.5, 3.5])
        f.update_yaxes(range=[-3.5, 3.5])
        self.legend = legend_html(f, ["●", "●", "◆"])
        self._wire()
        self.update()
        self.fig = as_widget(self.fig)  # born with every trace and the first frame
        c = self.controls
        self.widget = W.VBox([W.HBox([c["t"], c["show_denoised"]]), self.readout, self.fig, self.legend])

    def index(self, t) -> int:
        """The precomputed frame nearest to ``t``."""
        t = explore.check_t(t)
        return int(np.argmin(np.abs(self.frames.times - t)))

    def compute(self, **p):
        i = self.index(p["t"])
        return i, bool(p["show_denoised"])

    def draw(self, frame) -> None:
        i, show = frame
        fr, d = self.frames, self.fig.data
        xt = fr.xt[i].reshape(-1, 2)
        d[1].update(x=xt[:, 0], y=xt[:, 1])
        den = fr.denoised[i].reshape(-1, 2)
        d[2].update(x=den[:, 0], y=den[:, 1], visible=show)

    def describe(self, frame) -> str:
        i, _ = frame
        fr = self.frames
        a, s = fr.alpha[i], fr.sigma[i]
        snr = "∞" if s == 0 else f"{a**2 / s**2:.3g}"
        return f"t = {fr.times[i]:.2f} · α = {a:.3f} · σ = {s:.3f} · SNR α²/σ² = {snr} · α² + σ² = {a**2 + s**2:.6f}"
