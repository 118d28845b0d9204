"""LiveTrainingPlot: a live loss curve for :func:`symviz.train.fit` (``callback=plot``)."""

from __future__ import annotations

import html
import math
import time

import ipywidgets as W
import plotly.graph_objects as go

from symviz import explore
from symviz.widgets._base import READOUT_CLASS, as_widget, new_figure, sync_figure

__all__ = ["LiveTrainingPlot"]


class LiveTrainingPlot:
    """A callback object ``plot(step, loss)`` that draws the loss curve while training runs.

        plot = LiveTrainingPlot(); display(plot)
        sv.train.fit(net, loss_fn, data, steps=2000, callback=plot)
        plot.new_run("orbit")                       # a second curve on the same axes
        sv.train.fit(net2, loss2, data, steps=2000, callback=plot)

    Non-finite losses are not drawn; the readout (CSS class ``symviz-readout``) says how many were skipped.

    Args:
        title: the figure title. log_y: logarithmic loss axis (default True). smooth: running-mean window.
        min_interval: seconds between redraws (default 0: every call redraws); with > 0, call
            :meth:`flush` after training to draw the last points.
    """

    def __init__(self, title: str = "training loss", log_y: bool = True, smooth: int = 5, min_interval: float = 0.0):
        self.smooth, self.min_interval = smooth, float(min_interval)
        self.runs: dict[str, tuple[list, list]] = {}
        self.current: str | None = None
        self._last_draw = -math.inf
        self._t0 = time.perf_counter()
        self.readout = W.HTML(value="waiting for the first loss value…").add_class(READOUT_CLASS)
        self.fig = new_figure(width=620, height=360)
        self.fig.update_yaxes(scaleanchor=None, dtick="D2" if log_y else None, exponentformat="power")
        self.fig.update_layout(
            title=dict(text=title, font=dict(size=13)),
            legend=dict(y=1.0, x=1.02, orientation="v", yanchor="top"),
            xaxis_title="step",
            yaxis_title="loss",
            yaxis_type="log" if log_y else "linear",
        )
        self.new_run("run 1")
        self.fig = as_widget(self.fig)  # born with its traces (see symviz.widgets._base.as_widget)
        self._widget = W.VBox([self.readout, self.fig])

    def new_run(self, name: str | None = None) -> None:
        """Start a new curve (label ``name``; default ``run <i>``)."""
        name = name or f"run {len(self.runs) + 1}"
        if name in self.runs:
            raise ValueError(f"a run named {name!r} exists already; pick another name")
        if self.current is not None and not self.runs[self.current][0]:
            del self.runs[self.current]  # drop an empty placeholder run
            self.fig.data = self.fig.data[:-2]
        self.runs[name] = ([], [])
        self.current = name
        self._t0 = time.perf_counter()
        color = f"hsl({(len(self.runs) - 1) * 67 % 360}, 65%, 45%)"
        self.fig.add_trace(
            go.Scatter(
                name=f"{name} (logged)",
                mode="lines",
                line=dict(color=color, width=1),
                opacity=0.35,
                showlegend=False,
            )
        )
        self.fig.add_trace(go.Scatter(name=name, mode="lines", line=dict(color=color, width=2)))

    def __call__(self, step, loss) -> None:
        """The training callback: record ``(step, loss)`` and redraw (at most every ``min_interval`` s)."""
        steps, losses = self.runs[self.current]
        try:
            point = (float(step), float(loss))
        except (TypeError, ValueError):
            point = (math.nan, math.nan)  # counted and reported as a non-finite value
        steps.append(point[0])
        losses.append(point[1])
        now = time.perf_counter()
        if now - self._last_draw >= self.min_interval:
            self.flush()

    def flush(self) -> None:
        """Redraw the current run now."""
        self._last_draw = time.perf_counter()
        steps, losses = self.runs[self.current]
        curve = explore.loss_curve(steps, losses, smooth=self.smooth)
        with self.fig.batch_update():
            self.fig.data[-2].update(x=curve.step, y=curve.loss)
            self.fig.data[-1].update(x=curve.step, y=curve.smooth)
        name = html.escape(self.current)
        if curve.loss.size:
            msg = (
                f"{name}: step {int(curve.step[-1])} · loss {curve.loss[-1]:.4g} · "
                f"{time.perf_counter() - self._t0:.1f} s"
            )
        else:
            msg = f"{name}: no finite loss yet"
        if curve.num_bad:
            msg += (
                f' · <span style="color:#b00020">{curve.num_bad} non-finite loss value(s) skipped '
                f"(lower the learning rate?)</span>"
            )
        self.readout.value = msg

    @property
    def widget(self):
        """The box to display (readout and figure); the figure state is synced for a new view."""
        sync_figure(self.fig)
        return self._widget

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
