"""ReverseProcessViewer: the reverse process of one conformer on a t slider, in 3D, entirely in the browser.

    from symviz.conformers import load_model
    from symviz.widgets import ReverseProcessViewer
    net, meta = load_model()
    ReverseProcessViewer(net, mol, steps=50, seed=0)        # in a notebook cell: x_t | x0_hat, t from 1 to 0

A thin view over :func:`symviz.conformers.reverse_trajectory`: the ``S`` states ``x_t`` and predictions
``x0_hat = net(x_t, t)`` are computed once in Python, then every frame goes into the page with the output. The
viewer is ONE 3Dmol.js viewer grid (one WebGL canvas; one panel for ``x_t`` and one for ``x0_hat``, rotated
together), holding one model per frame; an HTML range input shows one frame and hides the others. A slider
move is pure JavaScript: no kernel round trip, no new viewer. Captions and the readout are HTML pinned to the
screen, not labels in 3D. 3Dmol.js comes from :func:`symviz.viz.offline_js.enable_offline_3dmol` (offline).

The pure parts (:func:`reverse_frames`, :func:`time_labels`, :func:`reverse_process_html`) are tested without a
browser; ``viewer.frame(i)`` returns what frame ``i`` shows.
"""

from __future__ import annotations

import html as _html
import json
import uuid
from dataclasses import dataclass

import numpy as np

__all__ = ["PANELS", "ReverseFrames", "reverse_frames", "time_labels", "reverse_process_html", "ReverseProcessViewer"]

#: panel key -> caption (HTML) of the panels a viewer can show
PANELS = {
    "xt": "x<sub>t</sub>: the noisy state",
    "x0_hat": "x&#770;<sub>0</sub> = net(x<sub>t</sub>, t): the network's prediction of x<sub>0</sub>",
}
_STYLE = {"stick": {"radius": 0.14}, "sphere": {"scale": 0.22}}  # ball and stick, element colours (as molview)


@dataclass(frozen=True)
class ReverseFrames:
    """The frames of a reverse trajectory: ``times`` ``(F,)`` from 1 down to 0, ``xt`` and ``x0_hat``
    ``(F, n, 3)`` (float64, Å). The last frame (``t = 0``) is the generated conformer in both arrays."""

    times: np.ndarray
    xt: np.ndarray
    x0_hat: np.ndarray

    @property
    def n_frames(self) -> int:
        return int(self.times.shape[0])

    @property
    def n_atoms(self) -> int:
        return int(self.xt.shape[1])

    def labels(self) -> list[str]:
        """One readout line per frame (:func:`time_labels`)."""
        return time_labels(self.times)

    def coords(self, panel: str) -> np.ndarray:
        """``(F, n, 3)`` coordinates of a panel (``"xt"`` or ``"x0_hat"``)."""
        if panel not in PANELS:
            raise ValueError(f"panel: expected one of {tuple(PANELS)}, got {panel!r}")
        return self.xt if panel == "xt" else self.x0_hat


def reverse_frames(times, xt, x0_hat, *, final: bool = True) -> ReverseFrames:
    """Check the arrays of :func:`symviz.conformers.reverse_trajectory` and make the slider's frames.

    Args:
        times: ``(S,)`` decreasing times in [0, 1]. xt, x0_hat: ``(S, n, 3)`` (numpy or torch).
        final: append a frame at ``t = 0`` showing the sampler's output ``x0_hat[-1]`` in both panels
            (default True; skipped when ``times[-1]`` is already 0).
    Raises ValueError naming the argument for bad shapes, non-finite values or times that do not decrease.
    """

    def arr(a, name):
        a = a.detach().cpu().numpy() if hasattr(a, "detach") else a
        a = np.asarray(a, dtype=np.float64)
        if not np.isfinite(a).all():
            raise ValueError(f"{name}: contains NaN or Inf")
        return a

    times, xt, x0_hat = arr(times, "times"), arr(xt, "xt"), arr(x0_hat, "x0_hat")
    if times.ndim != 1 or times.shape[0] < 1:
        raise ValueError(f"times: expected a 1D array with at least one time, got shape {times.shape}")
    s = times.shape[0]
    for name, a in (("xt", xt), ("x0_hat", x0_hat)):
        if a.ndim != 3 or a.shape[0] != s or a.shape[2] != 3 or a.shape[1] < 1:
            raise ValueError(f"{name}: expected shape ({s}, n, 3) (one cloud per time), got {a.shape}")
    if xt.shape != x0_hat.shape:
        raise ValueError(f"xt and x0_hat must have the same shape; got {xt.shape} and {x0_hat.shape}")
    if (times < 0).any() or (times > 1).any() or (np.diff(times) >= 0).any():
        raise ValueError("times: expected strictly decreasing times in [0, 1] (the reverse process runs 1 -> 0)")
    if final and times[-1] > 0:
        times = np.append(times, 0.0)
        xt = np.concatenate([xt, x0_hat[-1:]])
        x0_hat = np.concatenate([x0_hat, x0_hat[-1:]])
    return ReverseFrames(times=times, xt=xt, x0_hat=x0_hat)


def time_labels(times, decimals: int = 2) -> list[str]:
    """Readout lines, e.g. ``"t = 0.52 (step 24 of 50)"``; a last ``t = 0`` frame reads as the final sample."""
    times = np.asarray(times, dtype=np.float64)
    steps = len(times) - (1 if len(times) > 1 and times[-1] == 0 else 0)
    out = []
    for i, t in enumerate(times):
        if t == 0 and i == len(times) - 1 and i > 0:
            out.append("t = 0: the generated conformer (x̂0 of the last step)")
        else:
            out.append(f"t = {t:.{decimals}f} (step {i + 1} of {steps})")
    return out


def _template(mol, hydrogens: bool) -> tuple[str, np.ndarray]:
    """(SDF block of the molecule's graph, indices of the atoms it holds, in its order)."""
    from rdkit import Chem

    from symviz.viz.molview import conformers_to_mol

    n = mol.GetNumAtoms()
    m = conformers_to_mol(mol, np.zeros((n, 3)))
    keep = np.arange(n)
    if not hydrogens:
        keep = np.array([a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1])
        if len(keep) == 0:
            raise ValueError("hydrogens=False: the molecule has no heavy atom to draw")
        m = Chem.RWMol(m)
        for i in sorted(set(range(n)) - set(keep.tolist()), reverse=True):
            m.RemoveAtom(int(i))
        m = m.GetMol()
    return Chem.MolToMolBlock(m), keep


def _payload(mol, frames: ReverseFrames, panels, hydrogens: bool, decimals: int = 3) -> dict:
    if mol.GetNumAtoms() != frames.n_atoms:
        raise ValueError(
            f"mol has {mol.GetNumAtoms()} atoms but the frames have {frames.n_atoms}; pass the molecule the "
            "trajectory was sampled for (same atom order, hydrogens included)"
        )
    panels = tuple(panels)
    if not panels or any(p not in PANELS for p in panels) or len(set(panels)) != len(panels):
        raise ValueError(f"panels: expected distinct entries of {tuple(PANELS)}, got {panels!r}")
    block, keep = _template(mol, hydrogens)
    return {
        "template": block,
        "labels": frames.labels(),
        "times": [round(float(t), 6) for t in frames.times],
        "panels": [
            {
                "key": p,
                "caption": PANELS[p],
                "coords": np.round(frames.coords(p)[:, keep].reshape(frames.n_frames, -1), decimals).tolist(),
            }
            for p in panels
        ],
        "style": _STYLE,
    }


_FALLBACK = (
    "3Dmol.js is not loaded on this page (symviz never loads it from the internet). Run "
    "symviz.viz.offline_js.enable_offline_3dmol(force=True) in a cell, then re-run this cell."
)

# __UID__, __DATA__, __FALLBACK__ are replaced; the data is JSON (no "</" inside: escaped below).
_JS = """
(function () {
  var uid = "__UID__", data = __DATA__;
  var root = document.getElementById(uid);
  function fail(msg) {
    var box = document.getElementById(uid + "-view");
    if (box) { box.style.background = "#ffcccc"; box.textContent = msg; }
  }
  function build() {
    var box = document.getElementById(uid + "-view");
    var slider = document.getElementById(uid + "-slider");
    var label = document.getElementById(uid + "-label");
    var play = document.getElementById(uid + "-play");
    if (!box || typeof window.$3Dmol === "undefined") { fail(__FALLBACK__); return; }
    var grid = window.$3Dmol.createViewerGrid(box, {rows: 1, cols: data.panels.length, control_all: true},
                                              {backgroundColor: "white"});
    var viewers = grid[0];
    var models = data.panels.map(function (panel, p) {
      var v = viewers[p], out = [];
      panel.coords.forEach(function (c, f) {
        var m = v.addModel(data.template, "sdf");
        var atoms = m.selectedAtoms({});
        for (var i = 0; i < atoms.length; i++) {
          atoms[i].x = c[3 * i]; atoms[i].y = c[3 * i + 1]; atoms[i].z = c[3 * i + 2];
        }
        m.setStyle({}, data.style);
        if (f !== 0) { m.hide(); }
        out.push(m);
      });
      v.zoomTo();
      v.render();
      return out;
    });
    var current = 0, timer = null;
    function show(f) {
      f = Math.max(0, Math.min(data.labels.length - 1, f | 0));
      if (f !== current) {
        models.forEach(function (ms, p) { ms[current].hide(); ms[f].show(); viewers[p].render(); });
        current = f;
      }
      slider.value = String(f);
      label.textContent = data.labels[f];
      return f;
    }
    function stop() {
      if (timer !== null) { window.clearInterval(timer); timer = null; }
      play.textContent = "\\u25B6 play";
    }
    slider.addEventListener("input", function () { stop(); show(parseInt(slider.value, 10)); });
    play.addEventListener("click", function () {
      if (timer !== null) { stop(); return; }
      if (current >= data.labels.length - 1) { show(0); }
      play.textContent = "\\u275A\\u275A pause";
      timer = window.setInterval(function () {
        if (current >= data.labels.length - 1) { stop(); } else { show(current + 1); }
      }, 120);
    });
    window.symvizReverse = window.symvizReverse || {};
    window.symvizReverse[uid] = {show: show, viewers: viewers, models: models,
                                 frame: function () { return current; }};
    if (root) { root.setAttribute("data-ready", "1"); }
  }
  if (typeof window.$3Dmolpromise !== "undefined" && typeof window.$3Dmol !== "undefined") {
    window.$3Dmolpromise.then(build);
  } else {
    window.setTimeout(function () { fail(__FALLBACK__); }, 0);
  }
})();
"""


def _size(v, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 100 <= int(v) <= 4000:
        raise ValueError(f"{name}: expected a whole number of pixels between 100 and 4000, got {v!r}")
    return int(v)


def reverse_process_html(
    mol,
    frames: ReverseFrames,
    *,
    panels=("xt", "x0_hat"),
    width: int = 760,
    height: int = 340,
    hydrogens: bool = True,
    uid: str | None = None,
) -> str:
    """The HTML of the viewer: a play button, a range input over the frames, a readout, and one 3Dmol viewer
    grid (one column per panel) with one model per frame; captions are HTML over each panel.

    Args:
        mol: RDKit Mol with explicit hydrogens, in the atom order of ``frames``.
        frames: :class:`ReverseFrames`. panels: which clouds to show, ``"xt"`` and/or ``"x0_hat"``.
        width, height: pixels of the whole view. hydrogens: draw hydrogens (default True).
        uid: the element id prefix (default: a fresh one, so that the same view can be shown twice).
    Needs 3Dmol.js on the page (:func:`symviz.viz.offline_js.enable_offline_3dmol`); without it the view box
    says how to load it. Nothing is loaded from the network.
    """
    width, height = _size(width, "width"), _size(height, "height")
    data = _payload(mol, frames, panels, hydrogens)
    uid = uid or f"symviz-reverse-{uuid.uuid4().hex[:12]}"
    if not uid.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"uid: letters, digits, '-' and '_' only, got {uid!r}")
    cols = len(data["panels"])
    captions = "".join(
        f'<div class="symviz-caption" style="position:absolute;top:4px;left:{int(p * width / cols) + 6}px;'
        f"z-index:10;pointer-events:none;padding:1px 4px;background:rgba(255,255,255,0.8);"
        f'font:12px sans-serif;color:#222">{panel["caption"]}</div>'
        for p, panel in enumerate(data["panels"])
    )
    js_data = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    script = _JS.replace("__UID__", uid).replace("__FALLBACK__", json.dumps(_FALLBACK)).replace("__DATA__", js_data)
    last = frames.n_frames - 1
    first_label = _html.escape(data["labels"][0])
    return (
        f'<div id="{uid}" class="symviz-reverse" style="width:{width}px;font:12px sans-serif">'
        f'<div style="display:flex;align-items:center;gap:8px;margin-bottom:4px">'
        f'<button id="{uid}-play" type="button" style="min-width:78px">&#9654; play</button>'
        f'<span style="white-space:nowrap">t = 1</span>'
        f'<input id="{uid}-slider" class="symviz-reverse-slider" type="range" min="0" max="{last}" step="1" '
        f'value="0" style="flex:1" aria-label="reverse process step">'
        f'<span style="white-space:nowrap">t = 0</span></div>'
        f'<div id="{uid}-label" class="symviz-readout" style="margin-bottom:4px">{first_label}</div>'
        f'<div style="position:relative;width:{width}px;height:{height}px">'
        f'<div id="{uid}-view" style="position:absolute;left:0;top:0;width:{width}px;height:{height}px"></div>'
        f"{captions}</div></div>"
        f'<script type="text/javascript">{script}</script>'
    )


class ReverseProcessViewer:
    """The reverse process of one conformer: x_t and the network's x0_hat on a t slider (1 -> 0), in 3D.

        v = ReverseProcessViewer(net, mol, steps=50, seed=0); v       # in a notebook cell
        t, xt, x0_hat = v.frame(10)                                   # what frame 10 shows

    Args:
        net: a conformer network (``symviz.conformers.load_model()[0]``). mol: RDKit Mol with explicit
            hydrogens, a SMILES, or a ``MoleculeEnsemble`` (its ``to_rdkit()``).
        steps, seed, conf_index: passed to :func:`symviz.conformers.reverse_trajectory` (the final frame is
            conformer ``conf_index`` of ``sample_conformers(net, [mol], ..., seed=seed)``).
        panels, width, height, hydrogens: see :func:`reverse_process_html`.
    Use :meth:`from_arrays` to show a trajectory computed elsewhere.
    """

    def __init__(
        self,
        net,
        mol,
        *,
        steps: int = 50,
        seed: int = 0,
        conf_index: int = 0,
        panels=("xt", "x0_hat"),
        width: int = 760,
        height: int = 340,
        hydrogens: bool = True,
    ):
        from symviz.conformers import reverse_trajectory

        mol = self._as_mol(mol)
        times, xt, x0_hat = reverse_trajectory(net, mol, steps=steps, seed=seed, conf_index=conf_index)
        self._init(mol, reverse_frames(times, xt, x0_hat), panels, width, height, hydrogens)

    @classmethod
    def from_arrays(cls, mol, times, xt, x0_hat, **kwargs) -> ReverseProcessViewer:
        """A viewer over given arrays ``times (S,)``, ``xt``/``x0_hat`` ``(S, n, 3)`` (no network call)."""
        self = cls.__new__(cls)
        opts = {"panels": ("xt", "x0_hat"), "width": 760, "height": 340, "hydrogens": True} | kwargs
        unknown = set(opts) - {"panels", "width", "height", "hydrogens"}
        if unknown:
            raise TypeError(f"from_arrays() got unknown keyword argument(s) {sorted(unknown)}")
        self._init(cls._as_mol(mol), reverse_frames(times, xt, x0_hat), **opts)
        return self

    @staticmethod
    def _as_mol(mol):
        if isinstance(mol, str):
            from symviz.conformers import prepare_mol

            return prepare_mol(mol)
        if hasattr(mol, "to_rdkit"):
            return mol.to_rdkit()
        return mol

    def _init(self, mol, frames, panels, width, height, hydrogens) -> None:
        self.mol, self.frames = mol, frames
        self.options = {"panels": tuple(panels), "width": width, "height": height, "hydrogens": hydrogens}
        self.to_html(uid="symviz-reverse-check")  # validate everything now, not at display time

    @property
    def n_frames(self) -> int:
        return self.frames.n_frames

    def frame(self, i: int) -> tuple[float, np.ndarray, np.ndarray]:
        """``(t, x_t, x0_hat)`` of frame ``i`` (negative indices count from the end)."""
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not -self.n_frames <= i < self.n_frames:
            raise ValueError(f"frame index must be an integer in [0, {self.n_frames - 1}], got {i!r}")
        return float(self.frames.times[i]), self.frames.xt[i], self.frames.x0_hat[i]

    def to_html(self, uid: str | None = None) -> str:
        """The HTML (see :func:`reverse_process_html`); a fresh element id unless ``uid`` is given."""
        return reverse_process_html(self.mol, self.frames, uid=uid, **self.options)

    def _ipython_display_(self) -> None:
        from IPython.display import HTML, display

        from symviz.viz.offline_js import enable_offline_3dmol

        enable_offline_3dmol()
        display(HTML(self.to_html()))

    def __repr__(self) -> str:
        n, panels = self.frames.n_atoms, self.options["panels"]
        return f"ReverseProcessViewer({self.n_frames} frames, {n} atoms, panels={panels})"
