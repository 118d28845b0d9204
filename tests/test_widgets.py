"""Every widget, headless: each control moved across its whole range (and every group option), the shown
state checked against the pure function, and bad values shown as a message without breaking the widget."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

pytest.importorskip("ipywidgets")
pytest.importorskip("plotly")

import symviz as sv  # noqa: E402
import symviz.data.toys  # noqa: E402, F401
import symviz.train  # noqa: E402, F401
from symviz import explore as ex  # noqa: E402
from symviz import widgets as sw  # noqa: E402

go = pytest.importorskip("plotly.graph_objects")

torch.set_num_threads(1)


def shown(view) -> list:
    """A snapshot of what the view displays: every trace's x and y, and the readout."""
    data = [
        (
            np.asarray(tr.x, dtype=float).copy() if tr.x is not None else None,
            np.asarray(tr.y, dtype=float).copy() if tr.y is not None else None,
        )
        for tr in view.fig.data
    ]
    return [data, view.readout.value]


def same(a, b) -> bool:
    (da, ra), (db, rb) = a, b
    if ra != rb:
        return False
    for (xa, ya), (xb, yb) in zip(da, db):
        for u, v in ((xa, xb), (ya, yb)):
            if (u is None) != (v is None) or (
                u is not None and (u.shape != v.shape or not np.array_equal(u, v, equal_nan=True))
            ):
                return False
    return True


def slider_values(ctl, n: int = 5) -> list:
    if hasattr(ctl, "options"):  # a SelectionSlider (OrbitExplorer's K, on a log scale): every stop
        return list(ctl.options)
    vals = np.linspace(ctl.min, ctl.max, n)
    return [type(ctl.value)(v) if not isinstance(ctl.value, int) else int(round(v)) for v in vals]


def assert_ok(view):
    assert view.error is None, view.error
    assert "Invalid" not in view.readout.value
    assert "symviz-readout" in view.readout._dom_classes


def assert_error_then_recovers(view, bad: dict, good: dict, match: str):
    before = shown(view)
    assert view.update(**bad) is None
    assert view.error is not None and match in view.error
    assert "Invalid input" in view.readout.value and match.split()[0] in view.readout.value
    assert same(shown(view)[:1] + [None], before[:1] + [None])  # the last good picture stays
    assert view.update(**good) is not None
    assert_ok(view)


# ----------------------------------------------------------------------------------------------
# OrbitExplorer
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def explorer():
    return sw.OrbitExplorer(group="SO2", t=0.3, K=16, seed=0, max_k=256)


@pytest.mark.parametrize("group", ex.GROUP_CHOICES)
def test_orbit_explorer_t_and_k_sliders_over_their_range(explorer, group):
    explorer.update(group=group, t=0.3, K=16, data="cloud")
    assert_ok(explorer)
    c = explorer.controls
    assert c["group"].value == group
    for name in ("t", "K"):
        for v in slider_values(c[name]):
            before, prev = shown(explorer), c[name].value
            c[name].value = v  # what the browser does: the observer calls update()
            assert_ok(explorer)
            assert explorer.params[name] == v
            fr = explorer.frame
            ref = ex.orbit_explorer_frame(group, t=explorer.params["t"], K=explorer.params["K"], seed=0, data="cloud")
            np.testing.assert_allclose(fr.mc_target, ref.mc_target)
            assert f"K = {fr.K}" in explorer.readout.value and f"ESS = {fr.ess:.2f}" in explorer.readout.value
            # the candidates trace shows exactly the frame's candidates
            np.testing.assert_allclose(explorer.fig.data[1].x, fr.candidates.reshape(-1, 2)[:, 0])
            np.testing.assert_allclose(explorer.fig.data[8].y, fr.K * fr.weights)
            if v != prev:
                assert not same(shown(explorer), before), (name, v)


def test_orbit_explorer_other_controls(explorer):
    explorer.update(group="SO2", t=0.5, K=32, data="point", seed=0, include_identity=True)
    c = explorer.controls
    for ctl, vals in (
        (c["data"], ["cloud", "point"]),
        (c["seed"], [1, 2, 0]),
        (c["include_identity"], [False, True]),
        (c["group"], list(ex.GROUP_CHOICES)),
    ):
        for v in vals:
            before = shown(explorer)
            ctl.value = v
            assert_ok(explorer)
            assert not same(shown(explorer), before), (ctl.description, v)


def test_orbit_explorer_programmatic_update_moves_the_controls(explorer):
    explorer.update(group="D4", t=0.7, K=100, seed=3)
    c = explorer.controls
    assert (c["group"].value, c["t"].value, c["K"].value, c["seed"].value) == ("D4", 0.7, 100, 3)
    assert "group D4" in explorer.readout.value


@pytest.mark.parametrize(
    "bad,match",
    [
        (dict(K=0), "K must be"),
        (dict(K=-5), "K must be"),
        (dict(t=1.5), "t must lie"),
        (dict(t=-0.1), "t must lie"),
        (dict(group="SO3"), "acts on R^3"),
        (dict(seed=-1), "seed"),
        (dict(K=10**7), "K must be"),
    ],
)
def test_orbit_explorer_bad_values_show_a_message(explorer, bad, match):
    explorer.update(group="SO2", t=0.4, K=16, seed=0)
    assert_error_then_recovers(explorer, bad, dict(t=0.45), match)
    # the controls were not moved to the bad value and still drive the widget
    explorer.controls["K"].value = 32
    assert_ok(explorer) and explorer.params["K"] == 32


def test_orbit_explorer_k_slider_is_a_log_scale():
    """K steps through the powers of two (the MC error falls like 1/sqrt(K): each stop doubles K), not 1..512."""
    w = sw.OrbitExplorer(t=0.3, K=16)  # default max_k = 512
    k = w.controls["K"]
    assert list(k.options) == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512] and k.value == 16
    assert sw.orbit.k_slider_options(300) == (1, 2, 4, 8, 16, 32, 64, 128, 256, 300)  # max_k is always a stop
    assert sw.orbit.k_slider_options(64, current=20) == (1, 2, 4, 8, 16, 20, 32, 64)
    assert sw.orbit.k_slider_options(64, current=100) == (1, 2, 4, 8, 16, 32, 64)  # outside the range: no stop
    assert sw.orbit.k_slider_options(1) == (1,)
    for bad in (0, -4, 2.5, True, "64"):
        with pytest.raises(ValueError, match="max_k must be"):
            sw.orbit.k_slider_options(bad)
    # one step right doubles K, and the widget computes with that K
    k.index += 1
    assert_ok(w)
    assert w.params["K"] == 32 and w.frame.K == 32 and "K = 32" in w.readout.value
    # a K set from code that is not a stop gets its own stop, so the slider shows the K in use ...
    w.update(K=100)
    assert k.value == 100 and list(k.options) == [1, 2, 4, 8, 16, 32, 64, 100, 128, 256, 512] and w.frame.K == 100
    # ... and the slider still drives the widget from there
    k.index += 1
    assert_ok(w)
    assert w.params["K"] == 128 and w.frame.K == 128
    # a widget built with such a K starts on it
    assert sw.OrbitExplorer(K=20, max_k=64).controls["K"].value == 20


def test_orbit_explorer_seed_box_typed_negative():
    w = sw.OrbitExplorer()
    w.controls["seed"].value = -3  # an IntText accepts it; the widget must explain, not crash
    assert w.error is not None and "seed" in w.readout.value
    w.controls["t"].value = 0.6
    assert w.error is None and w.params["seed"] == 0 and w.params["t"] == 0.6


def test_unknown_parameter_is_a_programming_error(explorer):
    with pytest.raises(TypeError, match="unknown parameter"):
        explorer.update(k=3)


# ----------------------------------------------------------------------------------------------
# TargetField
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("group", ex.GROUP_CHOICES)
def test_target_field_t_slider(group):
    w = sw.TargetField(group=group, grid=9)
    assert_ok(w)
    for t in slider_values(w.controls["t"], 6):
        before = shown(w)
        w.controls["t"].value = t
        assert_ok(w)
        ref = ex.target_field(group, t=t, grid=9)
        np.testing.assert_allclose(w.fig.data[2].x, ref.targets[:, 0])
        assert f"t = {t:.2f}" in w.readout.value
        assert not same(shown(w), before)
    assert_error_then_recovers(w, dict(t=2.0), dict(t=0.3), "t must lie")
    assert_error_then_recovers(w, dict(group="C0"), dict(group="D4"), "unknown group")


def test_target_field_group_dropdown_and_cache():
    w = sw.TargetField(grid=5)
    for g in ex.GROUP_CHOICES:
        w.controls["group"].value = g
        assert_ok(w) and w.params["group"] == g
    n = len(w._cache)
    w.update(group="C6", t=0.5)
    assert len(w._cache) == n  # revisiting a setting only redraws


# ----------------------------------------------------------------------------------------------
# ForwardDiffusion
# ----------------------------------------------------------------------------------------------


def test_forward_diffusion_slider_indexes_precomputed_frames():
    w = sw.ForwardDiffusion(num_frames=11)
    frames = w.frames
    for i, t in enumerate(np.linspace(0, 1, 11)):
        before = shown(w)
        w.controls["t"].value = float(t)
        assert_ok(w)
        np.testing.assert_allclose(w.fig.data[1].x, frames.xt[i].reshape(-1, 2)[:, 0])
        np.testing.assert_allclose(w.fig.data[2].y, frames.denoised[i].reshape(-1, 2)[:, 1])
        assert f"t = {t:.2f}" in w.readout.value
        if i:
            assert not same(shown(w), before)
    np.testing.assert_allclose(w.fig.data[1].x, frames.eps.reshape(-1, 2)[:, 0], atol=1e-12)  # t = 1: noise
    w.controls["show_denoised"].value = False
    assert w.fig.data[2].visible is False
    w.controls["show_denoised"].value = True
    assert w.fig.data[2].visible is True
    assert_error_then_recovers(w, dict(t=-1), dict(t=0.5), "t must lie")
    with pytest.raises(ValueError, match="num_frames"):
        sw.ForwardDiffusion(num_frames=1)


# ----------------------------------------------------------------------------------------------
# GroupActionExplorer
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("group", ["C6", "D4", "Z2"])
def test_group_action_explorer_finite(group):
    w = sw.GroupActionExplorer(group="C6")
    w.controls["group"].value = group
    assert_ok(w)
    order = ex.make_group(group).order
    el = w.controls["element"]
    assert el.max == order - 1 and el.layout.display is None and w.controls["angle"].layout.display == "none"
    for j in range(order):
        el.value = j
        assert_ok(w)
        ref = ex.group_action_frame(group, element=j)
        np.testing.assert_allclose(np.asarray(w.fig.data[2].x)[:4], ref.gx0[:, 0])
        assert ref.label in w.readout.value
    assert_error_then_recovers(w, dict(element=order), dict(element=0), "element must be")
    assert_error_then_recovers(w, dict(reflect=True), dict(reflect=False), "reflect")


@pytest.mark.parametrize("group", ["SO2", "O2"])
def test_group_action_explorer_continuous(group):
    w = sw.GroupActionExplorer(group="D4", element=7)
    w.controls["group"].value = group
    assert_ok(w)
    assert w.controls["angle"].layout.display is None and w.controls["element"].layout.display == "none"
    assert w.controls["reflect"].disabled == (group != "O2")
    reflects = [False, True] if group == "O2" else [False]
    for r in reflects:
        w.controls["reflect"].value = r
        for a in slider_values(w.controls["angle"], 7):
            before = shown(w)
            w.controls["angle"].value = a
            assert_ok(w)
            ref = ex.group_action_frame(group, element=a, reflect=r)
            np.testing.assert_allclose(np.asarray(w.fig.data[2].y)[:4], ref.gx0[:, 1], atol=1e-12)
            assert ref.label in w.readout.value
            assert not same(shown(w), before) or a in (0.0, 360.0)
    assert_error_then_recovers(w, dict(angle=float("inf")), dict(angle=10.0), "finite")


def test_group_action_explorer_switching_back_to_a_smaller_group():
    w = sw.GroupActionExplorer(group="D4", element=7)
    w.controls["group"].value = "C6"
    assert_ok(w) and w.params["element"] == 5 and w.controls["element"].value == 5


# ----------------------------------------------------------------------------------------------
# LiveTrainingPlot
# ----------------------------------------------------------------------------------------------


def test_live_training_plot_with_fit():
    plot = sw.LiveTrainingPlot()
    data = sv.data.toys.blob_2d(64, generator=torch.Generator().manual_seed(0))
    net = sv.nets.TimeMLP(num_points=1, dim=2, hidden=16, depth=2)
    loss = sv.losses.DenoisingLoss(
        sv.diffusion.VPSchedule("cosine"), mode="orbit", group=sv.groups.SO2(), num_samples=8
    )
    hist = sv.train.fit(net, loss, data, steps=30, batch_size=16, log_every=5, progress=False, callback=plot)
    np.testing.assert_allclose(plot.fig.data[0].x, hist.step)
    np.testing.assert_allclose(plot.fig.data[0].y, hist.loss)
    assert "step 30" in plot.readout.value and "symviz-readout" in plot.readout._dom_classes
    plot.new_run("second")
    assert len(plot.fig.data) == 4 and plot.fig.data[-1].name == "second"
    plot(1, float("nan"))
    plot(2, 0.5)
    assert "1 non-finite" in plot.readout.value and list(plot.fig.data[-2].y) == [0.5]
    plot(3, "not a number")
    assert "2 non-finite" in plot.readout.value
    with pytest.raises(ValueError, match="exists"):
        plot.new_run("second")


def test_live_training_plot_throttles():
    plot = sw.LiveTrainingPlot(min_interval=3600)
    for i in range(1, 6):
        plot(i, 1.0 / i)
    assert len(plot.fig.data[0].x) == 1  # only the first call drew
    plot.flush()
    assert len(plot.fig.data[0].x) == 5


def test_every_view_displays_as_a_widget():
    for view in (
        sw.OrbitExplorer(),
        sw.TargetField(grid=5),
        sw.ForwardDiffusion(num_frames=3),
        sw.GroupActionExplorer(),
        sw.LiveTrainingPlot(),
    ):
        # born with every trace: the opening state of the browser model already holds the first frame
        assert isinstance(view.fig, go.FigureWidget)
        assert deep_equal(view.fig._widget_data, view.fig._data) and len(view.fig.data) > 0
        view.fig.data[0].update(x=[0.0, 1.0], y=[1.0, 0.0])  # a change before display is synced on display
        bundle = view._repr_mimebundle_()
        assert "application/vnd.jupyter.widget-view+json" in bundle
        # a new browser view starts from _widget_data/_widget_layout: they must hold the current figure
        # (plotly syncs them only when the FigureWidget itself is displayed, not inside a Box)
        assert len(view.fig._widget_data) == len(view.fig.data) > 0
        assert deep_equal(view.fig._widget_data, view.fig._data)
        assert deep_equal(view.fig._widget_layout, view.fig._layout_obj._props)


def deep_equal(a, b) -> bool:
    """Equality of nested dicts / lists / numpy arrays."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(deep_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(deep_equal(u, v) for u, v in zip(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)
    return a == b


# ----------------------------------------------------------------------------------------------
# The plotly shell (issue 11): no delta round trip, a loading note in a kernel
# ----------------------------------------------------------------------------------------------


def test_browser_deltas_close_the_edit_without_touching_the_figure():
    """The browser's trace/layout deltas only end the edit; plotly's own handler would fold them into the
    figure and echo them back (the kernel stayed busy after every redraw)."""
    from symviz.widgets._base import FigureWidget

    view = sw.GroupActionExplorer(group="D4")
    fig = view.fig
    assert isinstance(fig, FigureWidget) and isinstance(fig, go.FigureWidget)
    for name in ("_js2py_traceDeltas", "_js2py_layoutDelta"):
        assert fig.trait_metadata(name, "echo_update") is False and fig.trait_metadata(name, "sync") is True
    before = shown(view)
    dict_before = copy.deepcopy(fig.to_dict())
    done = []
    fig._trace_edit_in_process = fig._layout_edit_in_process = True
    fig._waiting_edit_callbacks.append(lambda: done.append(1))
    delta = [{"uid": fig.data[0].uid, "x": [99.0], "marker": {"color": "red"}}]
    fig._js2py_traceDeltas = {"trace_deltas": delta, "trace_edit_id": fig._last_trace_edit_id - 1}  # stale
    assert fig._trace_edit_in_process and not done
    fig._js2py_traceDeltas = {"trace_deltas": delta, "trace_edit_id": fig._last_trace_edit_id}
    assert not fig._trace_edit_in_process and not done  # the layout edit is still open
    fig._js2py_layoutDelta = {"layout_delta": {"width": 1}, "layout_edit_id": fig._last_layout_edit_id}
    assert not fig._layout_edit_in_process and done == [1]
    assert same(shown(view), before) and deep_equal(fig.to_dict(), dict_before)
    view.update(element=3)  # the view still redraws
    assert not same(shown(view), before)


def test_lean_bundle_sends_only_edit_ids_and_keeps_the_rest_of_plotlys_module():
    """The browser module of symviz's FigureWidget is plotly's, with the bodies of the two delta senders replaced
    by a message that carries the edit id only (and the layout one sent to the trait the kernel observes)."""
    import re

    from symviz.widgets import _base
    from symviz.widgets._base import FigureWidget, lean_widget_bundle

    original = str(go.FigureWidget._esm)
    lean = lean_widget_bundle(original)
    assert lean is not None, "plotly's widget bundle changed: update the patterns in symviz/widgets/_base.py"
    assert FigureWidget._esm == lean and str(go.FigureWidget._esm) == original  # plotly's own class untouched
    bodies = {
        name: re.search(rf"{name}\((\w+)\)\{{(.*?this\.touch\(\))\}}", lean)
        for name in ("_sendTraceDeltas", "_sendLayoutDelta")
    }
    arg = bodies["_sendTraceDeltas"][1]
    assert bodies["_sendTraceDeltas"][2] == (
        f'this.model.set("_js2py_traceDeltas",{{trace_deltas:[],trace_edit_id:{arg}}}),this.touch()'
    )
    arg = bodies["_sendLayoutDelta"][1]
    assert bodies["_sendLayoutDelta"][2] == (
        f'this.model.set("_js2py_layoutDelta",{{layout_delta:{{}},layout_edit_id:{arg}}}),this.touch()'
    )
    assert "getFullData()" not in bodies["_sendTraceDeltas"][0] and "getFullData()" in original
    # outside the two methods nothing changed: cut them out of both and compare
    cut = lambda src: re.sub(r"_send(TraceDeltas|LayoutDelta)\(\w+\)\{.*?this\.touch\(\)\}", "", src)  # noqa: E731
    assert cut(lean) == cut(original) and len(lean) < len(original)
    # another plotly version, whose methods look different: plotly's module is used as it is
    assert lean_widget_bundle(original.replace("_sendTraceDeltas(", "_sendDeltas(")) is None
    assert lean_widget_bundle("export default {}") is None
    doubled = original + ";" + _base._LAYOUT_DELTA_JS.search(original)[0]
    assert lean_widget_bundle(doubled) is None  # a pattern found twice is not trusted either


def test_axes_do_not_measure_tick_labels_per_step():
    for view in (sw.GroupActionExplorer(group="D4"), sw.OrbitExplorer(group="SO2")):
        axes = [v for k, v in view.fig.layout.to_plotly_json().items() if k.startswith(("xaxis", "yaxis"))]
        assert len(axes) >= 2 and all(ax.get("ticklabeloverflow") == "allow" for ax in axes)


def test_orbit_explorer_traces_are_webgl_so_x0_and_targets_stay_on_top():
    """WebGL traces are painted above SVG ones: all OrbitExplorer traces are WebGL, drawn in trace order, so the
    candidates (many markers) lie under x0, x_t and both targets."""
    view = sw.OrbitExplorer(group="SO2", K=512)
    assert {tr.type for tr in view.fig.data} == {"scattergl"}
    names = [tr.name for tr in view.fig.data]
    assert names.index("candidates g_k·x0") < min(names.index(n) for n in ("x0", "x_t", "MC target", "exact target"))


def test_loading_note_only_in_a_kernel_and_hides_itself(monkeypatch):
    from symviz.widgets import _base

    html = _base.loading_note_html(uid="symviz-loading-test")
    assert 'id="symviz-loading-test"' in html and _base.LOADING_CLASS in html and "Loading the interactive plot" in html
    script = html.split("<script", 1)[1]
    assert '"symviz-loading-test"' in script and "js-plotly-plot" in script and 'display = "none"' in script
    shown_notes = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown_notes.append(obj))
    _base.as_widget(go.Figure())  # plain Python (no kernel): nothing is displayed
    assert shown_notes == []

    class FakeShell:
        kernel = object()

    monkeypatch.setattr("IPython.get_ipython", lambda: FakeShell())
    fig = _base.as_widget(go.Figure())
    assert len(shown_notes) == 1 and _base.LOADING_CLASS in shown_notes[0].data
    assert isinstance(fig, go.FigureWidget)


@pytest.mark.parametrize(
    "make",
    [
        lambda: sw.OrbitExplorer(t=0.3, K=16),
        lambda: sw.TargetField(group="C6", t=0.3),
        lambda: sw.GroupActionExplorer(group="D4", element=5),
        lambda: sw.ForwardDiffusion(t=0.3),
    ],
    ids=["OrbitExplorer", "TargetField", "GroupActionExplorer", "ForwardDiffusion"],
)
def test_legend_is_static_html_not_redrawn_by_plotly(make):
    """Plotly redraws its own legend and colour bars on every slider step; these views show an HTML legend
    instead, naming every trace, and the figure has neither."""
    w = make()
    assert w.fig.layout.showlegend is False
    assert not any(getattr(getattr(tr, "marker", None), "showscale", None) for tr in w.fig.data)
    assert w.legend in w.widget.children
    for tr in w.fig.data:
        assert tr.name.split(" (")[0] in w.legend.value or tr.name in w.legend.value


def test_orbit_explorer_skipping_unchanged_traces_leaves_the_same_picture():
    """draw() resends only the traces a step changed; after any sequence of steps every trace equals what a
    freshly built explorer at the final setting shows."""
    w = sw.OrbitExplorer(group="SO2", t=0.3, K=16, seed=0)
    for step in ({"K": 64}, {"t": 0.6}, {"K": 8}, {"group": "O2"}, {"seed": 3}, {"K": 32}, {"t": 0.2}):
        w.update(**step)
    fresh = sw.OrbitExplorer(**{k: w.params[k] for k in ("group", "t", "K", "seed")})
    for a, b in zip(w.fig.data, fresh.fig.data):
        for key in ("x", "y"):
            np.testing.assert_allclose(np.asarray(getattr(a, key), float), np.asarray(getattr(b, key), float))


def test_group_action_explorer_skipping_unchanged_traces_leaves_the_same_picture():
    """The orbit and x0 are resent only when the group or the data change; after any sequence of steps the
    picture equals a freshly built explorer's (a stale orbit after a group switch would differ)."""
    w = sw.GroupActionExplorer(group="D4", element=5)
    steps = ({"element": 2}, {"group": "O2", "angle": 40.0}, {"reflect": True}, {"group": "C6"}, {"element": 3})
    for step in steps:
        w.update(**step)
    fresh = sw.GroupActionExplorer(**w.params)
    assert same(shown(w), shown(fresh))
    assert [tr.mode for tr in w.fig.data] == [tr.mode for tr in fresh.fig.data]
    w.update(group="SO2", angle=10.0)
    assert w.fig.data[0].mode == "lines" and not same(shown(w), shown(fresh))


def test_marker_heavy_traces_are_webgl_and_paint_order_keeps_targets_on_top():
    """WebGL is painted above SVG: the views that moved markers to WebGL keep what must stay visible on top."""
    fd = sw.ForwardDiffusion(t=0.3)
    assert [tr.type for tr in fd.fig.data] == ["scattergl"] * 3  # x0, x_t, E[x0|x_t], drawn in this order
    tf = sw.TargetField(group="C6", t=0.3)
    assert [tr.type for tr in tf.fig.data] == ["scatter", "scatter", "scattergl", "scattergl"]  # lines under markers


def test_target_field_skipping_unchanged_traces_leaves_the_same_picture():
    w = sw.TargetField(group="C6", t=0.3)
    for step in ({"t": 0.5}, {"group": "D4"}, {"t": 0.1}, {"group": "SO2"}, {"t": 0.7}):
        w.update(**step)
    fresh = sw.TargetField(**w.params)
    assert same(shown(w), shown(fresh))
    assert [tr.mode for tr in w.fig.data] == [tr.mode for tr in fresh.fig.data]
