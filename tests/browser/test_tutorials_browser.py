"""Every tutorial in a real browser: JupyterLab + Debian Chromium, Run All Cells, no errors, no network.

Screenshots go to ``artifacts/browser/<notebook>.png``. Notebooks are discovered at collection time, so
new tutorials are picked up automatically; the widget tests for 03 and 08 skip until those notebooks exist.
Per-notebook time limit: ``$SYMVIZ_BROWSER_NB_TIMEOUT`` seconds (default 360).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import time
from pathlib import Path

import pytest

TUTORIALS = Path(os.environ.get("SYMVIZ_TUTORIALS_DIR", Path(__file__).resolve().parents[2] / "tutorials")).resolve()
NOTEBOOKS = sorted(p.name for p in TUTORIALS.glob("*.ipynb"))
RUN_TIMEOUT_S = float(os.environ.get("SYMVIZ_BROWSER_NB_TIMEOUT", "360"))
CHANGE_TIMEOUT_S = 30.0

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        shutil.which("chromium") is None or importlib.util.find_spec("playwright") is None,
        reason="browser tests need Debian's Chromium on PATH and the Python playwright package; enable "
        "with `apt-get install -y chromium` and `pip install -e .[browser]` (never `playwright install`)",
    ),
]

# What a widget shows: symviz readouts, plotly trace data, and images (matplotlib in Output widgets).
_SIGNATURE_JS = """() => {
  const h = (s) => { let x = 0; for (let i = 0; i < s.length; i++) { x = (x * 31 + s.charCodeAt(i)) | 0; }
                     return s.length + ':' + x; };
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)') || document;
  const readouts = [...panel.querySelectorAll('.symviz-readout')].map((e) => e.innerText.trim());
  const plotly = [...panel.querySelectorAll('.js-plotly-plot')].map((gd) => {
    try { return h(JSON.stringify(gd.data || [])); } catch (err) { return 'unserializable'; } });
  const images = [...panel.querySelectorAll('.jp-OutputArea-output img')].map((im) => h(im.src || ''));
  return {readouts, plotly, images};
}"""


def _require(name: str) -> None:
    if name not in NOTEBOOKS:
        pytest.skip(f"tutorials/{name} does not exist yet (written by the tutorial issue)")


def _run_clean(lab, name: str) -> dict:
    """Open ``name``, run all cells, and assert that every cell ran without error output."""
    lab.open(name)
    t0 = time.monotonic()
    st = lab.run_all(timeout_s=RUN_TIMEOUT_S)
    print(f"{name}: run-all took {time.monotonic() - t0:.1f} s")
    assert not st["errors"], f"{name}: error output:\n" + "\n-----\n".join(t[-3000:] for t in st["errors"])
    assert not st["problems"], f"{name}: broken outputs: {st['problems']}"
    unexecuted = [i for i, p in enumerate(st["prompts"]) if not p.strip("[]: ").isdigit()]
    assert not unexecuted, f"{name}: code cells {unexecuted} did not run (prompts {st['prompts']})"
    return st


def _slider(lab, label: str):
    """The first ipywidgets slider whose label is ``label`` (a word: 't' matches 't' or 't (time)')."""
    pattern = re.compile(rf"^\s*{re.escape(label)}(?![\w])")
    sliders = lab.page.locator(".widget-slider").filter(has=lab.page.locator(".widget-label", has_text=pattern))
    if sliders.count() == 0:
        labels = lab.page.locator(".widget-slider .widget-label").all_inner_texts()
        raise AssertionError(f"no slider labelled {label!r}; slider labels present: {labels}")
    return sliders.first


def _press(lab, slider, presses: int = 3) -> None:
    """Focus the slider's handle and press ArrowRight (ArrowLeft if it is already at its maximum)."""
    handle = slider.locator(".noUi-handle").first
    readout = slider.locator(".widget-readout").first
    handle.scroll_into_view_if_needed()
    before = readout.inner_text() if readout.count() else None
    handle.focus()
    for _ in range(presses):
        lab.page.keyboard.press("ArrowRight")
        lab.page.wait_for_timeout(150)
    if readout.count() and readout.inner_text() == before:  # at the maximum: go the other way
        for _ in range(2 * presses):
            lab.page.keyboard.press("ArrowLeft")
            lab.page.wait_for_timeout(150)
    if readout.count():
        assert readout.inner_text() != before, "the slider value did not change on arrow keys"


def _wait_for_change(check, timeout_s: float = CHANGE_TIMEOUT_S) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return False


_VISIBLE_LOADING_NOTES_JS = """() => [...document.querySelectorAll(
  '.jp-NotebookPanel:not(.lm-mod-hidden) .symviz-plot-loading')].filter((e) => e.offsetParent !== null).length"""


@pytest.mark.parametrize(
    "name",
    NOTEBOOKS or [pytest.param("none", marks=pytest.mark.skip(reason="no tutorials/*.ipynb yet"))],
)
def test_notebook_runs_in_jupyterlab(lab, name):
    _run_clean(lab, name)
    assert _wait_for_change(lambda: lab.page.evaluate(_VISIBLE_LOADING_NOTES_JS) == 0, timeout_s=90), (
        f"{name}: a 'Loading the interactive plot' note is still shown 90 s after Run All (its plot never drew)"
    )
    lab.screenshot(Path(name).stem)
    lab.assert_no_external_requests()
    lab.page.wait_for_timeout(2000)  # late callbacks (deferred viewers, widget views) run and may throw
    lab.assert_no_page_errors()


def test_03_t_and_k_sliders_update_the_view(lab):
    name = "03_symmetrized_target.ipynb"
    _require(name)
    _run_clean(lab, name)
    lab.page.locator(".widget-slider").first.wait_for(state="visible", timeout=60_000)
    for label in ("t", "K"):
        slider = _slider(lab, label)
        before = lab.page.evaluate(_SIGNATURE_JS)
        _press(lab, slider)
        changed = _wait_for_change(lambda b=before: lab.page.evaluate(_SIGNATURE_JS) != b)
        assert changed, (
            f"moving the {label} slider changed neither a .symviz-readout text nor plotly trace data "
            f"nor an output image within {CHANGE_TIMEOUT_S} s (before: {before})"
        )
    lab.screenshot("03_symmetrized_target_sliders")
    st = lab.state()
    assert not st["errors"], "slider callbacks printed errors:\n" + "\n".join(st["errors"])
    lab.assert_no_external_requests()
    lab.assert_no_page_errors()


_MOL3D_JS = """() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .symviz-mol3d')]
  .map((e) => ({revision: e.dataset.revision || null, canvases: e.querySelectorAll('canvas').length,
                captions: [...e.querySelectorAll('.symviz-caption')].map((c) => c.textContent)}))"""


def test_08_molecule_viewer_renders_and_reacts(lab):
    name = "08_molecules.ipynb"
    _require(name)
    _run_clean(lab, name)
    canvases = lab.page.locator("div[id^='3dmolviewer_'] canvas")
    canvases.first.wait_for(state="visible", timeout=60_000)
    canvases.first.scroll_into_view_if_needed()
    box = canvases.first.bounding_box()
    assert box and box["width"] > 0 and box["height"] > 0, f"3Dmol canvas has no size: {box}"

    # The ConformerViewer: one viewer grid (one canvas) whose atoms move in place on every slider step.
    view = lab.page.locator(".symviz-mol3d").first
    view.wait_for(state="visible", timeout=60_000)
    assert _wait_for_change(lambda: (lab.page.evaluate(_MOL3D_JS) or [{}])[0].get("revision") is not None), (
        f"the ConformerViewer never drew a frame: {lab.page.evaluate(_MOL3D_JS)}"
    )
    canvas = view.locator("canvas").first
    start = lab.page.evaluate(_MOL3D_JS)[0]
    assert start["canvases"] == 1, f"expected one WebGL canvas for the three panels, got {start}"
    pixels = canvas.screenshot()
    for label in ("t", "K", "conformer"):
        before = lab.page.evaluate(_MOL3D_JS)[0]
        _press(lab, _slider(lab, label), presses=6)  # 6 steps per slider: 18 redraws in all
        assert _wait_for_change(lambda b=before: lab.page.evaluate(_MOL3D_JS)[0]["revision"] != b["revision"]), (
            f"the {label} slider did not redraw the 3D panels (before: {before})"
        )
    after = lab.page.evaluate(_MOL3D_JS)[0]
    assert after["canvases"] == 1, f"a slider move added a canvas (a new WebGL context): {after}"
    assert after["captions"] != start["captions"], f"captions did not follow the sliders: {start} -> {after}"
    assert _wait_for_change(lambda: canvas.screenshot() != pixels, timeout_s=15), "the 3D panels' pixels never changed"
    lab.screenshot("08_molecules_viewer")
    st = lab.state()
    assert not st["errors"], "slider callbacks printed errors:\n" + "\n".join(st["errors"])
    lab.assert_no_external_requests()
    lab.page.wait_for_timeout(2000)
    lab.assert_no_page_errors()
