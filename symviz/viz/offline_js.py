"""Offline 3Dmol.js for py3Dmol viewers in Jupyter (no CDN request).

py3Dmol builds every viewer inside ``$3Dmolpromise.then(...)``, and only loads 3Dmol.js from its default
CDN when the page has no ``$3Dmolpromise`` yet. :func:`enable_offline_3dmol` therefore puts the vendored
bundle (``symviz/static/3Dmol-min.js``, 3Dmol.js 2.5.5, BSD-3-Clause, see ``3Dmol-LICENSE.txt``) into the
page once per kernel and defines ``$3Dmolpromise`` as a small *deferred* thenable. Every later
``py3Dmol.view()`` in the notebook then finds the library already present and never touches the network.

Why deferred: in JupyterLab a cell's HTML output runs its ``<script>`` before the output node is attached
to the document. If the viewer callback ran immediately (``Promise.resolve()``), py3Dmol would build its
viewer in a detached ``div`` and get a 0x0 canvas. Queuing the callback with ``setTimeout(..., 0)`` runs it
after the output is in the page.

Typical use, in the first cell that draws molecules::

    from symviz.viz.offline_js import enable_offline_3dmol
    enable_offline_3dmol()        # ~540 KB of inline JS, shown once per kernel
    view = py3Dmol.view(width=400, height=300)
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["enable_offline_3dmol", "offline_3dmol_html", "threedmol_js"]

#: package and path (relative to the package) of the vendored bundle
_PACKAGE = "symviz"
_BUNDLE = ("static", "3Dmol-min.js")

#: set once the bundle was displayed in this kernel (see :func:`enable_offline_3dmol`)
_displayed = False

# The bundle is evaluated inside a function that provides empty ``exports``/``module`` objects: the UMD
# wrapper then takes its CommonJS branch (and skips the AMD ``define`` that JupyterLab's require.js would
# otherwise grab); the bundle assigns ``window.$3Dmol`` itself. The evaluation is skipped if an earlier
# output of the same page already defined ``$3Dmol``.
_HTML_TEMPLATE = """<script type="text/javascript">
if (typeof window.$3Dmol === "undefined") {
  (function () {
    var exports = {};
    var module = {exports: exports};
__SYMVIZ_3DMOL_JS__
  })();
}
// Deferred thenable: run py3Dmol's viewer callback on the next macrotask (after the output is attached).
window.$3Dmolpromise = {
  then: function (onReady) {
    return new Promise(function (resolve) {
      window.setTimeout(function () { resolve(onReady ? onReady() : undefined); }, 0);
    });
  }
};
</script>
<div class="symviz-3dmol-offline" style="display:none">3Dmol.js 2.5.5 loaded from symviz</div>
"""


def threedmol_js() -> str:
    """Return the vendored 3Dmol.js bundle (``symviz/static/3Dmol-min.js``) as text.

    Read through :mod:`importlib.resources`, so it works from a source checkout, an editable install and
    an installed wheel alike.
    """
    try:
        resource = resources.files(_PACKAGE).joinpath(*_BUNDLE)
    except (NotADirectoryError, TypeError, ModuleNotFoundError):
        # importlib.resources cannot read a namespace package whose path holds an editable-install
        # hook; fall back to the file next to this module (same file in a checkout or a wheel).
        resource = Path(__file__).resolve().parent.parent.joinpath(*_BUNDLE)
    if not resource.is_file():
        raise FileNotFoundError(
            f"the vendored 3Dmol.js bundle {'/'.join((_PACKAGE, *_BUNDLE))} is missing from the installed "
            "symviz package; reinstall with `pip install -e .` (package-data must include static/*.js)"
        )
    return resource.read_text(encoding="utf-8")


def offline_3dmol_html(js: str | None = None) -> str:
    """Return the ``<script>`` block that defines ``$3Dmol`` and the deferred ``$3Dmolpromise``.

    Parameters
    ----------
    js:
        JavaScript source of 3Dmol.js; default ``None`` reads the vendored bundle (:func:`threedmol_js`).
    """
    if js is None:
        js = threedmol_js()
    if not isinstance(js, str):
        raise TypeError(f"js must be a str of JavaScript source or None, got {type(js).__name__}")
    if "</script" in js.lower():
        raise ValueError("js must not contain '</script': it would end the inline <script> block early")
    return _HTML_TEMPLATE.replace("__SYMVIZ_3DMOL_JS__", js)


def enable_offline_3dmol(force: bool = False) -> None:
    """Display the vendored 3Dmol.js inline, once per kernel, so py3Dmol viewers work offline.

    Call it before the first ``py3Dmol.view()`` of a notebook. Later calls do nothing (the page keeps
    ``window.$3Dmol`` for the rest of the session), unless ``force=True``: use that after reloading the
    browser page while the kernel kept running, since a reloaded page has lost the library.

    Parameters
    ----------
    force:
        display the bundle again even if this kernel already did (default ``False``).

    Returns ``None`` (so the call leaves no ``True``/``False`` line in the notebook); the module flag
    ``symviz.viz.offline_js._displayed`` records whether the bundle was shown.
    """
    global _displayed
    if _displayed and not force:
        return
    from IPython.display import HTML, display

    display(HTML(offline_3dmol_html()))
    _displayed = True
