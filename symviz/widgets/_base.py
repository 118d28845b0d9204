"""The common shell of every symviz widget: controls, a plotly FigureWidget and an HTML readout.

A view keeps its parameters in ``self.params``; :meth:`View.update` merges new values, calls the view's pure
function (from :mod:`symviz.explore`), and redraws. Invalid values (``K = 0``, ``t = 2``, an unknown group)
never raise out of a callback: the readout shows the message, the last good picture stays, and the next
valid value works again.
"""

from __future__ import annotations

import html
from copy import deepcopy

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go

__all__ = [
    "View",
    "new_figure",
    "as_widget",
    "sync_figure",
    "with_loading_note",
    "polyline",
    "segments",
    "curves",
    "slider_opts",
]

READOUT_CLASS = "symviz-readout"
LOADING_CLASS = "symviz-plot-loading"
LOADING_TEXT = (
    "\u23f3 Loading the interactive plot\u2026 The first plot of a notebook loads plotly.js (about 5 MB), "
    "which takes a few seconds; later plots appear at once."
)
FONT = dict(size=11)


def slider_opts(width: str = "300px", label_width: str = "30px") -> dict:
    """Keyword arguments for a slider: live updates and a *fresh* Layout (a Layout shared by two widgets
    would hide both when one is hidden)."""
    return dict(continuous_update=True, style={"description_width": label_width}, layout=W.Layout(width=width))


def new_figure(cols: int = 1, width: int = 520, height: int = 430, titles=None) -> go.Figure:
    """An empty figure with ``cols`` side-by-side panels; the first one has an equal aspect ratio.

    Views add their traces and draw their first frame on this plain figure, then turn it into a widget
    with :func:`as_widget`, so that the widget is *born* with all its traces and data (see there)."""
    if cols == 1:
        fig = go.Figure()
    else:
        from plotly.subplots import make_subplots

        fig = make_subplots(rows=1, cols=cols, subplot_titles=titles, horizontal_spacing=0.12)
    fig.update_layout(
        width=width,
        height=height,
        margin=dict(l=40, r=20, t=40, b=40),
        font=FONT,
        template="plotly_white",
        legend=dict(orientation="h", yanchor="bottom", y=-0.25, x=0),
        uirevision="keep",
    )
    fig.update_yaxes(scaleanchor="x", scaleratio=1, row=1 if cols > 1 else None, col=1 if cols > 1 else None)
    return fig


def as_widget(fig: go.Figure) -> go.FigureWidget:
    """The FigureWidget of a finished figure.

    Why not build the FigureWidget first: plotly's browser model (an anywidget) loads its 5 MB script
    asynchronously, and edit messages (add trace, restyle) that arrive before it is ready are dropped; a view
    can also render before a later full-state update is applied. A widget whose *opening* state already holds
    every trace renders correctly in either case; later edits (slider moves) come after it is ready.
    """
    return go.FigureWidget(fig)


def sync_figure(fig: go.FigureWidget) -> None:
    """Copy a FigureWidget's current traces and layout into the state a *new* browser view starts from.

    plotly does this only when the FigureWidget itself is displayed; inside a Box it would start from its
    construction-time state (no traces), and the updates sent before display are lost: an empty plot.
    """
    if hasattr(fig, "_widget_data") and hasattr(fig, "_layout_obj"):
        fig._widget_layout = deepcopy(fig._layout_obj._props)
        fig._widget_data = deepcopy(fig._data)


def with_loading_note(fig: go.FigureWidget) -> W.Box:
    """``fig`` in a box that says "Loading the interactive plot…" until plotly has drawn the figure.

    A FigureWidget's browser view is empty until its 5 MB script is loaded and run (several seconds for the
    first plot of a notebook). The note is a zero-height HTML placed *before* the figure, whose text is
    absolutely positioned over the figure's area; the box keeps the figure's height meanwhile. Once plotly
    draws, its opaque (white) plot covers the note: no browser code, nothing to remove.
    """
    height = fig.layout.height or 450
    note = W.HTML(
        value=(
            '<div style="position:relative;height:0;overflow:visible">'
            f'<div style="position:absolute;top:{int(height) // 3}px;left:40px;max-width:420px;padding:8px 12px;'
            'background:#f4f6fb;border:1px solid #d0d7e6;border-radius:4px;color:#333;font:13px sans-serif">'
            f"{html.escape(LOADING_TEXT)}</div></div>"
        ),
        layout=W.Layout(height="0px", min_height="0px", margin="0px", overflow="visible"),
    ).add_class(LOADING_CLASS)
    return W.VBox([note, fig], layout=W.Layout(min_height=f"{int(height)}px", overflow="visible"))


def polyline(points: np.ndarray, closed: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` of a polyline through ``points (n, 2)`` (closed: back to the first point)."""
    p = np.concatenate([points, points[:1]]) if closed and len(points) > 2 else points
    return p[:, 0], p[:, 1]


def segments(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` for one line trace drawing segments ``starts[i] -> ends[i]`` (NaN-separated)."""
    n = len(starts)
    xy = np.full((n, 3, 2), np.nan)
    xy[:, 0], xy[:, 1] = starts, ends
    xy = xy.reshape(-1, 2)
    return xy[:, 0], xy[:, 1]


def curves(orbit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` tracing each point's orbit ``orbit[:, i]`` (``(M, n, 2)``) as one NaN-separated line."""
    m, n, _ = orbit.shape
    xy = np.full((n, m + 2, 2), np.nan)
    xy[:, :m] = orbit.transpose(1, 0, 2)
    xy[:, m] = orbit[0]  # close the loop
    xy = xy.reshape(-1, 2)
    return xy[:, 0], xy[:, 1]


class View:
    """Base class: subclasses set ``self.params``, build ``self.controls`` and ``self.fig``, and implement
    ``compute(**params)`` (a pure function call) and ``draw(frame)`` (set trace data) and ``describe(frame)``
    (readout HTML)."""

    #: names of the controls that map 1:1 to parameters: {param: widget}
    controls: dict

    def __init__(self):
        self.readout = W.HTML(value="").add_class(READOUT_CLASS)
        self.error: str | None = None
        self.frame = None
        self._syncing = False

    # -- to implement ----------------------------------------------------------------------
    def compute(self, **params):
        raise NotImplementedError

    def draw(self, frame) -> None:
        raise NotImplementedError

    def describe(self, frame) -> str:
        raise NotImplementedError

    # -- the callback ----------------------------------------------------------------------
    def update(self, **params):
        """Recompute and redraw with ``params`` merged into the current ones; returns the new frame, or
        None when a value is invalid (the message is shown in the readout and the old picture stays)."""
        unknown = set(params) - set(self.params)
        if unknown:
            raise TypeError(
                f"{type(self).__name__}.update() got unknown parameter(s) {sorted(unknown)}; "
                f"valid: {sorted(self.params)}"
            )
        new = {**self.params, **params}
        try:
            frame = self.compute(**new)
        except Exception as err:  # noqa: BLE001 - a widget callback must never die with a traceback
            self._show_error(err)
            return None
        self.params, self.frame, self.error = new, frame, None
        self._sync_controls()
        with self.fig.batch_update():
            self.draw(frame)
        self.readout.value = self.describe(frame)
        return frame

    def _show_error(self, err: Exception) -> None:
        kind = "" if isinstance(err, (ValueError, TypeError)) else f"{type(err).__name__}: "
        self.error = f"{kind}{err}"
        self.readout.value = (
            f'<span style="color:#b00020"><b>Invalid input</b> — {html.escape(self.error)}. '
            f"The picture still shows the last valid setting.</span>"
        )

    def _sync_controls(self) -> None:
        """Move the controls to ``self.params`` (after a programmatic update) without re-triggering."""
        self._syncing = True
        try:
            for name, ctl in self.controls.items():
                if name in self.params and ctl.value != self.params[name]:
                    try:
                        ctl.value = self.params[name]
                    except Exception:  # noqa: BLE001 - e.g. a value outside the slider's range
                        pass
        finally:
            self._syncing = False

    def _wire(self) -> None:
        """Observe every control: a change calls :meth:`update` with that parameter."""
        for name, ctl in self.controls.items():
            ctl.observe(lambda ch, name=name: self._on_change(name, ch["new"]), names="value")

    def _on_change(self, name, value) -> None:
        if not self._syncing:
            self.update(**{name: value})

    # -- display ---------------------------------------------------------------------------
    @property
    def widget(self):
        """The box to display (controls, readout, figure); the figure state is synced for a new view, and the
        figure sits in a box with a loading note (:func:`with_loading_note`)."""
        fig = getattr(self, "fig", None)
        if fig is not None:
            sync_figure(fig)
            box = self._widget
            if isinstance(fig, go.FigureWidget) and any(c is fig for c in box.children):
                box.children = tuple(with_loading_note(fig) if c is fig else c for c in box.children)
        return self._widget

    @widget.setter
    def widget(self, box) -> None:
        self._widget = box

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
