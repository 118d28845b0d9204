"""The common shell of every symviz widget: controls, a plotly FigureWidget and an HTML readout.

A view keeps its parameters in ``self.params``; :meth:`View.update` merges new values, calls the view's pure
function (from :mod:`symviz.explore`), and redraws. Invalid values (``K = 0``, ``t = 2``, an unknown group)
never raise out of a callback: the readout shows the message, the last good picture stays, and the next
valid value works again.
"""

from __future__ import annotations

import html
import re
import uuid
from copy import deepcopy
from pathlib import Path

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go
from plotly.serializers import custom_serializers
from traitlets import Dict, observe

__all__ = [
    "View",
    "FigureWidget",
    "new_figure",
    "as_widget",
    "sync_figure",
    "loading_note_html",
    "polyline",
    "segments",
    "curves",
    "slider_opts",
    "legend_html",
]

READOUT_CLASS = "symviz-readout"
LOADING_CLASS = "symviz-plot-loading"
LOADING_TEXT = (
    "Loading the interactive plot\u2026 (plotly.js, about 5 MB, is loaded into the page first: a few "
    "seconds, longest for the first plot of a notebook)"
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
    # plotly hides tick labels that stick out of the plot by measuring every label after every redraw (a forced
    # layout per step); the axes here leave room for their labels, so nothing needs hiding
    fig.update_xaxes(ticklabeloverflow="allow")
    fig.update_yaxes(ticklabeloverflow="allow")
    return fig


# plotly's browser view, after each restyle, deep-merges plotly.js's whole internal figure state (``_fullData``,
# ``_fullLayout``) with the traces, diffs it against the widget's copy and sends the kernel the result (tens of kB),
# synchronously, before the new frame is painted. symviz never reads those defaults. The two patterns below
# replace the bodies of ``_sendTraceDeltas`` and ``_sendLayoutDelta`` in plotly's widget bundle with a message that
# carries only the edit id (what ``batch_update`` and edit-completed callbacks wait for); the layout one goes to the
# trait the kernel listens on (plotly 7.1 writes it to ``_js2py_widget_layoutDelta``, which no kernel trait has).
_TRACE_DELTAS_JS = re.compile(
    r"_sendTraceDeltas\((\w+)\)\{[^{}]*\{[^{}]*\}var (\w+)=\{trace_deltas:\w+,trace_edit_id:\1\};"
    r'this\.model\.set\("_js2py_traceDeltas",\2\),this\.touch\(\)\}'
)
_LAYOUT_DELTA_JS = re.compile(
    r"_sendLayoutDelta\((\w+)\)\{var (\w+)=[^{}]*?,(\w+)=\{layout_delta:\2,layout_edit_id:\1\};"
    r'this\.model\.set\("_js2py_(?:widget_)?layoutDelta",\3\),this\.touch\(\)\}'
)


def lean_widget_bundle(source: str) -> str | None:
    """plotly's FigureWidget bundle ``source`` with the per-edit delta computation taken out (see above), or None
    when either method is not found exactly once (another plotly version: then plotly's bundle is used as is)."""
    if len(_TRACE_DELTAS_JS.findall(source)) != 1 or len(_LAYOUT_DELTA_JS.findall(source)) != 1:
        return None
    source = _TRACE_DELTAS_JS.sub(
        lambda m: (
            f'_sendTraceDeltas({m[1]}){{this.model.set("_js2py_traceDeltas",'
            f"{{trace_deltas:[],trace_edit_id:{m[1]}}}),this.touch()}}"
        ),
        source,
    )
    return _LAYOUT_DELTA_JS.sub(
        lambda m: (
            f'_sendLayoutDelta({m[1]}){{this.model.set("_js2py_layoutDelta",'
            f"{{layout_delta:{{}},layout_edit_id:{m[1]}}}),this.touch()}}"
        ),
        source,
    )


def _plotly_bundle() -> str:
    """The JS module of symviz's FigureWidget (read once, when the class is defined): :func:`lean_widget_bundle`
    of plotly's, or plotly's own."""
    own = go.FigureWidget._esm  # anywidget turns plotly's path into a FileContents, whose str() is the text
    source = own.read_text(encoding="utf-8") if isinstance(own, Path) else str(own)
    return lean_widget_bundle(source) or source


class FigureWidget(go.FigureWidget):
    """plotly's FigureWidget without the work that follows every redraw and is never used.

    After each restyle or relayout plotly's browser view sends the kernel the values plotly.js filled in
    (``_js2py_traceDeltas``, ``_js2py_layoutDelta``: tens of kB for a few hundred points); the kernel folds
    them into the figure's defaults and ipywidgets echoes them back. symviz never reads those defaults. Two
    changes, both measured by ``benchmarks/browser_latency.py``:

    * kernel: the deltas only close the edit (what ``batch_update`` and edit-completed callbacks wait for), and
      none is echoed back (the kernel stayed busy for 0.1-1 s after each slider step, so the next step waited);
    * browser: the view runs :func:`lean_widget_bundle` of plotly's module, which does not compute the deltas at
      all (a deep merge and diff of plotly.js's whole figure state before every paint).

    Everything else is plotly's.
    """

    _esm = _plotly_bundle()

    _js2py_traceDeltas = Dict(allow_none=True).tag(sync=True, echo_update=False, **custom_serializers)
    _js2py_layoutDelta = Dict(allow_none=True).tag(sync=True, echo_update=False, **custom_serializers)

    @observe("_js2py_traceDeltas")
    def _handler_js2py_traceDeltas(self, change):
        msg = change["new"]
        if msg and msg.get("trace_edit_id") == self._last_trace_edit_id:
            self._trace_edit_in_process = False
            if not self._layout_edit_in_process:
                while self._waiting_edit_callbacks:
                    self._waiting_edit_callbacks.pop()()

    @observe("_js2py_layoutDelta")
    def _handler_js2py_layoutDelta(self, change):
        msg = change["new"]
        if msg and msg.get("layout_edit_id") == self._last_layout_edit_id:
            self._layout_edit_in_process = False
            if not self._trace_edit_in_process:
                while self._waiting_edit_callbacks:
                    self._waiting_edit_callbacks.pop()()


def as_widget(fig: go.Figure) -> go.FigureWidget:
    """The FigureWidget of a finished figure.

    Why not build the FigureWidget first: plotly's browser model (an anywidget) loads its 5 MB script
    asynchronously, and edit messages (add trace, restyle) that arrive before it is ready are dropped; a view
    can also render before a later full-state update is applied. A widget whose *opening* state already holds
    every trace renders correctly in either case; later edits (slider moves) come after it is ready.

    In a Jupyter kernel it first displays a note that says the plot is loading (:func:`loading_note_html`).
    """
    _show_loading_note()
    return FigureWidget(fig)


def _show_loading_note() -> None:
    """Display :func:`loading_note_html` when running in a Jupyter kernel (a no-op in plain Python and tests)."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        return
    if shell is None or getattr(shell, "kernel", None) is None:
        return
    from IPython.display import HTML, display

    display(HTML(loading_note_html()))


def sync_figure(fig: go.FigureWidget) -> None:
    """Copy a FigureWidget's current traces and layout into the state a *new* browser view starts from.

    plotly does this only when the FigureWidget itself is displayed; inside a Box it would start from its
    construction-time state (no traces), and the updates sent before display are lost: an empty plot.
    """
    if hasattr(fig, "_widget_data") and hasattr(fig, "_layout_obj"):
        fig._widget_layout = deepcopy(fig._layout_obj._props)
        fig._widget_data = deepcopy(fig._data)


_LOADING_JS = """
(function () {
  var id = "__ID__", t0 = Date.now(), known = null;
  (function poll() {
    var note = document.getElementById(id);
    if (!note) { if (Date.now() - t0 < 20000) { window.setTimeout(poll, 100); } return; }
    if (known === null) { known = new Set(document.querySelectorAll(".js-plotly-plot")); }
    var drawn = [].some.call(document.querySelectorAll(".js-plotly-plot .main-svg"), function (svg) {
      return !known.has(svg.closest(".js-plotly-plot"));
    });
    if (drawn) {
      var child = note.closest(".jp-OutputArea-child, .output_area");
      (child || note).style.display = "none";
      return;
    }
    if (Date.now() - t0 > 180000) {
      note.textContent = "The interactive plot has not appeared after 3 minutes: look for an error in the browser " +
        "console, or run the cell again.";
      return;
    }
    window.setTimeout(poll, 100);
  })();
})();
"""


def loading_note_html(uid: str | None = None) -> str:
    """HTML (with a small script) that says "Loading the interactive plot…" and hides itself (its whole output)
    as soon as a new plotly plot has been drawn on the page.

    Why: every FigureWidget ships plotly's 5 MB script to the page, which parses and runs it before the widget
    (controls included) appears: seconds with nothing to see, longest for the first plot of a notebook. The
    note is displayed by :func:`as_widget` *before* the FigureWidget exists, so it reaches the page and is
    painted before the large message that keeps the browser busy.
    """
    uid = uid or f"symviz-loading-{uuid.uuid4().hex[:12]}"
    return (
        f'<div id="{uid}" class="{LOADING_CLASS}" style="padding:6px 10px;margin:2px 0;background:#f4f6fb;'
        f'border:1px solid #d0d7e6;border-radius:4px;color:#333;font:13px sans-serif;max-width:640px">'
        # a spinner: a transform animation runs on the compositor, so it turns while the page is busy
        "<style>@keyframes symviz-spin { to { transform: rotate(360deg); } }</style>"
        '<span style="display:inline-block;width:10px;height:10px;margin-right:8px;border:2px solid #7a86a8;'
        'border-top-color:transparent;border-radius:50%;animation:symviz-spin 0.9s linear infinite"></span>'
        f"{html.escape(LOADING_TEXT)}</div>"
        f'<script type="text/javascript">{_LOADING_JS.replace("__ID__", uid)}</script>'
    )


def legend_html(fig, symbols, note: str = "", colors=None) -> W.HTML:
    """Turn off ``fig``'s plotly legend and return a static HTML legend of its traces instead.

    Why: a slider step restyles the traces, and plotly then redraws the whole plot, its legend and colour bars
    included, on every step; a legend in HTML beside the plot costs nothing per step (measured by
    ``benchmarks/browser_latency.py``). Names and colours are read from the traces (marker colour if it is one
    colour, else line colour); ``symbols``: one legend symbol per trace, e.g. ``"★"``; ``colors``: ``{trace
    index: css colour}`` for traces whose colour is a scale; ``note``: plain text after the entries.
    """
    fig.update_layout(showlegend=False)
    colors = colors or {}
    parts = []
    for i, (tr, sym) in enumerate(zip(fig.data, symbols, strict=True)):
        marker = tr.marker.color if isinstance(tr.marker.color, str) else None
        c = colors.get(i) or marker or tr.line.color or "black"
        parts.append(
            f'<span style="white-space:nowrap;margin-right:14px"><span style="color:{html.escape(c)};'
            f'font-weight:bold">{html.escape(sym)}</span> {html.escape(tr.name)}</span>'
        )
    if note:
        parts.append(f'<span style="color:#555">{html.escape(note)}</span>')
    return W.HTML('<div style="font:12px sans-serif;line-height:1.6;max-width:880px">' + " ".join(parts) + "</div>")


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
        """The box to display (controls, readout, figure); the figure state is synced for a new view."""
        fig = getattr(self, "fig", None)
        if fig is not None:
            sync_figure(fig)
        return self._widget

    @widget.setter
    def widget(self, box) -> None:
        self._widget = box

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
