"""MolPanels: side-by-side 3D panels of one molecule whose coordinates are updated in place (an anywidget).

    panels = MolPanels(width=900, height=320)
    panels.show(mol, [x0, xt, target], captions=["x0", "x_t", "target"], ghost=x0)   # first call: builds
    panels.show(mol, [x0, xt2, target2], captions=[...], ghost=x0)                  # later: moves the atoms

The browser side owns ONE 3Dmol.js viewer grid (one WebGL canvas, one viewer per panel, rotated together)
for the lifetime of each view of the widget. A call to :meth:`MolPanels.show` with the same molecule sends
only new coordinates and captions (a few kB); the page moves the atoms of the existing models and renders:
no new viewer, no new WebGL context, no kernel-side HTML. A new molecule (another graph) replaces the
models inside the same viewers. Captions and the legend are HTML pinned to the screen over each panel, so
rotating never hides them.

3Dmol.js is the vendored bundle (``symviz/static/3Dmol-min.js``, :func:`symviz.viz.offline_js.threedmol_js`),
shipped inside the widget's ES module and evaluated once per page (skipped when ``window.$3Dmol`` exists):
nothing is downloaded. After each update is drawn the view element fires a ``symviz-mol3d-rendered`` DOM
event (``detail = {revision, time}``, ``time`` from ``performance.now()`` one animation frame after the
render), which the browser tests and ``benchmarks/browser_latency.py`` listen to.
"""

from __future__ import annotations

import json

import anywidget
import numpy as np
import traitlets as T

__all__ = ["MolPanels", "BALL_AND_STICK", "GHOST_STYLE"]

BALL_AND_STICK = {"stick": {"radius": 0.14}, "sphere": {"scale": 0.22}}
GHOST_STYLE = {"stick": {"color": "#9a9a9a", "radius": 0.07, "opacity": 0.55}}

# The view. Globals: window.$3Dmol (the vendored bundle, loaded once per page by load3Dmol).
_ESM_TEMPLATE = r"""
const BUNDLE = __BUNDLE__;

function load3Dmol() {
  if (typeof window.$3Dmol === "undefined") {
    // A classic script (not module code): the UMD wrapper takes its CommonJS branch with these local
    // exports/module objects (so JupyterLab's AMD loader never sees it) and sets window.$3Dmol itself.
    const s = document.createElement("script");
    s.type = "text/javascript";
    s.textContent = "(function () { var exports = {}; var module = {exports: exports};\n" + BUNDLE +
      "\nif (typeof window.$3Dmol === 'undefined') { window.$3Dmol = module.exports; } })();";
    document.head.appendChild(s);
  }
  return window.$3Dmol;
}

function attached(el, isDisposed) {
  // JupyterLab renders a widget view before its node is in the page; a viewer built in a detached node
  // gets a 0x0 canvas (and 3Dmol throws for a missing element). Wait until it is attached and has a size
  // (a collapsed output has none): every 30 ms for 5 s, then every 250 ms, until the view is removed.
  return new Promise((resolve) => {
    const t0 = performance.now();
    (function poll() {
      if (isDisposed()) { resolve(false); }
      else if (el.isConnected && el.offsetWidth > 0) { resolve(true); }
      else { window.setTimeout(poll, performance.now() - t0 < 5000 ? 30 : 250); }
    })();
  });
}

function setXYZ(model, flat) {
  const atoms = model.selectedAtoms({});
  for (let i = 0; i < atoms.length && 3 * i + 2 < flat.length; i++) {
    atoms[i].x = flat[3 * i]; atoms[i].y = flat[3 * i + 1]; atoms[i].z = flat[3 * i + 2];
  }
}

function render({ model, el }) {
  const width = model.get("width"), height = model.get("height");
  const root = document.createElement("div");
  root.className = "symviz-mol3d";
  root.style.cssText = `position:relative;width:${width}px;height:${height}px;font:12px sans-serif`;
  const box = document.createElement("div");
  box.className = "symviz-mol3d-view";
  box.style.cssText = `position:absolute;left:0;top:0;width:${width}px;height:${height}px`;
  const status = document.createElement("div");
  status.className = "symviz-mol3d-status";
  status.style.cssText = "position:absolute;left:8px;top:28px;color:#666";
  status.textContent = "drawing the molecule\u2026";
  root.append(box, status);
  el.appendChild(root);

  let grid = null, viewers = [], mains = [], ghosts = [], sdf = null, captions = [], legend = null;
  let disposed = false;

  function overlay() {
    const n = model.get("coords").length, texts = model.get("captions");
    while (captions.length < n) {
      const c = document.createElement("div");
      c.className = "symviz-caption";
      c.style.cssText = "position:absolute;top:4px;z-index:10;pointer-events:none;padding:1px 4px;" +
        "background:rgba(255,255,255,0.85);font:12px sans-serif;color:#222;white-space:nowrap";
      root.appendChild(c); captions.push(c);
    }
    captions.forEach((c, p) => {
      c.style.left = `${Math.round((p * width) / n) + 6}px`;
      c.style.display = p < n ? "" : "none";
      c.textContent = texts[p] || "";
    });
    const text = model.get("legend");
    if (text && !legend) {
      legend = document.createElement("div");
      legend.className = "symviz-legend";
      legend.style.cssText = "position:absolute;bottom:4px;left:6px;z-index:10;pointer-events:none;" +
        "padding:1px 4px;background:rgba(255,255,255,0.85);font:11px sans-serif;color:#444";
      root.appendChild(legend);
    }
    if (legend) { legend.textContent = text || ""; legend.style.display = text ? "" : "none"; }
  }

  function draw() {
    if (disposed || grid === null) { return; }
    const coords = model.get("coords"), ghost = model.get("ghost");
    const style = model.get("mol_style"), ghostStyle = model.get("ghost_style");
    const newMolecule = model.get("sdf") !== sdf || mains.length !== coords.length;
    viewers.forEach((v, p) => {
      if (p >= coords.length) { return; }
      if (newMolecule) {
        v.removeAllModels();
        mains[p] = v.addModel(model.get("sdf"), "sdf");
        ghosts[p] = ghost.length ? v.addModel(model.get("sdf"), "sdf") : null;
      }
      setXYZ(mains[p], coords[p]);
      mains[p].setStyle({}, style);  // also drops the cached geometry: the atoms are drawn where they now are
      if (ghosts[p]) { setXYZ(ghosts[p], ghost); ghosts[p].setStyle({}, ghostStyle); }
      if (newMolecule) { v.zoomTo(); }
      v.render();
    });
    sdf = model.get("sdf");
    overlay();
    const revision = model.get("revision");
    window.requestAnimationFrame(() => {
      root.dataset.revision = String(revision);
      root.dispatchEvent(new CustomEvent("symviz-mol3d-rendered",
        { bubbles: true, detail: { revision, time: performance.now() } }));
    });
  }

  attached(root, () => disposed).then((ok) => {
    if (!ok || disposed) { return; }
    let $3Dmol;
    try { $3Dmol = load3Dmol(); } catch (err) { $3Dmol = undefined; }
    if (!$3Dmol || typeof $3Dmol.createViewerGrid !== "function") {
      box.style.background = "#ffcccc";
      box.textContent = "3Dmol.js could not be loaded from the symviz package.";
      return;
    }
    const n = Math.max(1, model.get("coords").length);
    grid = $3Dmol.createViewerGrid(box, { rows: 1, cols: n, control_all: true }, { backgroundColor: "white" });
    viewers = grid[0];
    status.remove();
    draw();
  });
  model.on("change:revision", draw);
  return () => {
    disposed = true;
    model.off("change:revision", draw);
    // Give the WebGL context back now instead of waiting for garbage collection (Chromium keeps at most
    // 16 live contexts per page and warns "Too many active WebGL contexts").
    const canvas = box.querySelector("canvas");
    const gl = canvas && (canvas.getContext("webgl2") || canvas.getContext("webgl"));
    const lose = gl && gl.getExtension("WEBGL_lose_context");
    if (lose) { lose.loseContext(); }
  };
}

export default { render };
"""

_esm_cache: str | None = None


def _esm() -> str:
    """The widget's ES module with the vendored 3Dmol.js inlined (read once per process)."""
    global _esm_cache
    if _esm_cache is None:
        from symviz.viz.offline_js import threedmol_js

        _esm_cache = _ESM_TEMPLATE.replace("__BUNDLE__", json.dumps(threedmol_js()))
    return _esm_cache


def _flat(coords, n_atoms: int, name: str, decimals: int = 3) -> list[float]:
    c = np.asarray(coords.detach().cpu().numpy() if hasattr(coords, "detach") else coords, dtype=np.float64)
    if c.shape != (n_atoms, 3):
        raise ValueError(f"{name}: expected shape ({n_atoms}, 3) in the molecule's atom order, got {c.shape}")
    if not np.isfinite(c).all():
        raise ValueError(f"{name}: contains NaN or Inf; only finite coordinates can be drawn")
    return np.round(c, decimals).reshape(-1).tolist()


class MolPanels(anywidget.AnyWidget):
    """Side-by-side 3D panels of one molecule, updated in place (see the module docstring).

    Args:
        width, height: pixels of the whole view (100..4000). mol_style: 3Dmol style of the panels' molecule
            (default ball and stick, element colours); ghost_style: style of the ghost (thin grey sticks).
    Traits (synced): ``mol_style``, ``ghost_style``, ``sdf`` (the molecule graph as an SDF block), ``coords``
    (per panel, ``3 n`` floats, Å),
    ``ghost`` (``3 n`` floats or empty), ``captions`` (one per panel), ``legend``, ``revision`` (bumped once
    per :meth:`show`; the page redraws on it).
    """

    _esm = T.Unicode().tag(sync=True)
    sdf = T.Unicode("").tag(sync=True)
    coords = T.List(T.List(T.Float())).tag(sync=True)
    ghost = T.List(T.Float()).tag(sync=True)
    captions = T.List(T.Unicode()).tag(sync=True)
    legend = T.Unicode("").tag(sync=True)
    mol_style = T.Dict().tag(sync=True)  # not "style": ipywidgets reserves that name for a Style widget
    ghost_style = T.Dict().tag(sync=True)
    width = T.Int(900).tag(sync=True)
    height = T.Int(320).tag(sync=True)
    revision = T.Int(0).tag(sync=True)

    def __init__(self, width: int = 900, height: int = 320, mol_style=None, ghost_style=None, **kwargs):
        for name, v in (("width", width), ("height", height)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 100 <= int(v) <= 4000:
                raise ValueError(f"{name}: expected a whole number of pixels between 100 and 4000, got {v!r}")
        super().__init__(
            _esm=_esm(),
            width=int(width),
            height=int(height),
            mol_style=dict(BALL_AND_STICK if mol_style is None else mol_style),
            ghost_style=dict(GHOST_STYLE if ghost_style is None else ghost_style),
            **kwargs,
        )

    def show(self, mol, panels, captions=None, ghost=None, legend: str = "") -> None:
        """Draw ``panels`` (a list of ``(n, 3)`` coordinate arrays in ``mol``'s atom order, hydrogens included)
        side by side, each over ``ghost`` (``(n, 3)`` or None), with one caption per panel.

        The first call (or a molecule with another graph) sends the molecule; later calls send only
        coordinates and captions. The number of panels is fixed by the first call. Raises ValueError naming
        the argument for wrong shapes, non-finite values or a caption count that does not match.
        """
        from rdkit import Chem

        from symviz.viz.molview import conformers_to_mol

        n = mol.GetNumAtoms()
        panels = list(panels)
        if not panels:
            raise ValueError("panels: expected at least one (n, 3) coordinate array")
        if self.coords and len(panels) != len(self.coords):
            raise ValueError(f"panels: this view has {len(self.coords)} panels, got {len(panels)}")
        flat = [_flat(p, n, f"panels[{i}]") for i, p in enumerate(panels)]
        captions = [""] * len(panels) if captions is None else [str(c) for c in captions]
        if len(captions) != len(panels):
            raise ValueError(f"captions: expected one per panel ({len(panels)}), got {len(captions)}")
        ghost_flat = [] if ghost is None else _flat(ghost, n, "ghost")
        graph = Chem.MolToMolBlock(conformers_to_mol(mol, np.zeros((n, 3))))  # atoms and bonds, no geometry
        with self.hold_sync():
            if graph != self.sdf:
                self.sdf = graph
            self.coords = flat
            self.ghost = ghost_flat
            self.captions = captions
            self.legend = str(legend)
            self.revision = self.revision + 1
