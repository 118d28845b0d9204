"""The 3D conformer viewer: one py3Dmol function for every molecule picture in symviz, offline.

    from symviz.viz.molview import show_conformers, aligned_coordinates
    show_conformers(ens)                                    # conformer 0 of an ensemble, ball and stick
    show_conformers(ens, mode="grid", conf_ids=[0, 1, 2])   # one linked panel per conformer
    show_conformers(generated, mode="overlay", reference=ens)  # generated (blue) vs reference (orange)
    xyz = aligned_coordinates(ens, reference=0)             # (K, N, 3) numpy, what the viewer draws

* **Offline.** :func:`show_conformers` calls :func:`symviz.viz.offline_js.enable_offline_3dmol` first (the
  vendored 3Dmol.js, inlined once per kernel), and its view carries no CDN address: py3Dmol's fallback
  loader gets a ``data:`` script that only prints how to reload the library (docs/architecture.md#offline-js).
* **Aligned.** Conformers are superimposed on a reference conformer before they are drawn: a rigid motion
  (rotation + translation, no reflection) fitted on heavy atoms, by default symmetry-aware
  (``rdMolAlign.GetBestAlignmentTransform``, the alignment behind the COV/MAT RMSD of
  :mod:`symviz.covmat`), else on the atom order (``rdMolAlign.AlignMol`` with an identity atom map).
  Molecules with fewer than 3 heavy atoms are aligned on all atoms. Alignment works on copies: the caller's
  molecule and the reference are never modified.
* **Inputs.** An RDKit ``Mol`` with conformers, a :class:`symviz.data.ensembles.MoleculeEnsemble` (anything
  with ``.to_rdkit()``), optionally with ``coords`` ``(K, N, 3)`` / ``(N, 3)`` (array or tensor) that
  replace the conformers, e.g. a noised ``x_t`` or a model's samples in the molecule's atom order.
"""

from __future__ import annotations

import math
from urllib.parse import quote

import numpy as np
import py3Dmol

from symviz.molecules.rdmol import _conf_ids, _heavy_copy, _same_atoms, aligned_coordinates, as_mol, conformers_to_mol

__all__ = [
    "MODES",
    "ConformerView",
    "GENERATED_COLOR",
    "REFERENCE_COLOR",
    "as_mol",
    "conformers_to_mol",
    "aligned_coordinates",
    "show_conformers",
]

MODES = ("single", "grid", "overlay")
GENERATED_COLOR = "#1f77b4"  # blue: the molecule shown (generated conformers in an overlay)
REFERENCE_COLOR = "#e6550d"  # orange: the reference conformers of an overlay
MAX_MODELS = 24  # default cap on the conformers drawn by one call (explicit conf_ids may not exceed it)

# py3Dmol only loads its ``js`` address when the page has no ``$3Dmolpromise`` (i.e. the vendored bundle was
# not shown on this page, e.g. after a browser reload). Instead of a CDN address it then gets this script,
# which writes the fix into every empty viewer box; no request leaves the machine.
_FALLBACK_MESSAGE = (
    "3Dmol.js is not loaded on this page (symviz never loads it from the internet). Run "
    "symviz.viz.offline_js.enable_offline_3dmol(force=True) in a cell, then re-run this cell."
)
_FALLBACK_JS = "data:text/javascript," + quote(
    "document.querySelectorAll('div[id^=\"3dmolviewer_\"]').forEach(function(d){"
    "if(!d.querySelector('canvas')){d.style.background='#ffcccc';d.textContent=" + repr(_FALLBACK_MESSAGE) + ";}});",
    safe="",
)

_BALL_AND_STICK = {"stick": {"radius": 0.14}, "sphere": {"scale": 0.22}}


# ----------------------------------------------------------------------------------------------
# The viewer
# ----------------------------------------------------------------------------------------------


# py3Dmol builds its viewer inside ``$3Dmolpromise.then(function() { ... })`` with
# ``document.getElementById("3dmolviewer_<id>")``. When that node is not in the page (an output replaced before
# the deferred callback ran, or not attached yet) 3Dmol gets ``null`` and throws an uncaught
# "TypeError: Cannot read properties of null (reading 'get')". ConformerView first waits for the node (up to
# 60 s) and skips the viewer silently if it never appears.
_PY3DMOL_START = "$3Dmolpromise.then(function() {\n"
_WAIT_FOR_NODE = (
    "$3Dmolpromise.then(function () { return new Promise(function (ok) { var t0 = Date.now();"
    " (function poll() { var el = document.getElementById('3dmolviewer_%s');"
    " if (el && el.isConnected) { ok(true); } else if (Date.now() - t0 > 60000) { ok(false); }"
    " else { window.setTimeout(poll, 30); } })(); }); }).then(function (attached) {"
    " if (!attached) { return; }\n"
)


class ConformerView(py3Dmol.view):
    """A ``py3Dmol.view`` that displays itself once, without py3Dmol's extra text line (its ``_repr_html_``
    publishes the HTML and returns None, so a cell also printed ``<py3Dmol.view at 0x...>``), and builds its
    viewer only once its node is in the page (no uncaught TypeError for a node that is not there)."""

    def _ipython_display_(self):
        self.show()

    def _make_html(self):
        html = super()._make_html()
        if html.count(_PY3DMOL_START) != 1:  # another py3Dmol version: keep its page code as it is
            return html
        return html.replace(_PY3DMOL_START, _WAIT_FOR_NODE % self.uniqueid)


def _blocks(mol, coords: np.ndarray, hydrogens: bool) -> list[str]:
    """One SDF block per row of ``coords`` (K, N, 3) on ``mol``'s graph."""
    from rdkit import Chem

    m = conformers_to_mol(mol, coords)
    if not hydrogens:
        m = _heavy_copy(m)
    return [Chem.MolToMolBlock(m, confId=k) for k in range(coords.shape[0])]


def _check_size(v, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 50 <= int(v) <= 4000:
        raise ValueError(f"{name}: expected a whole number of pixels between 50 and 4000, got {v!r}")
    return int(v)


def _label_spec(row: int = 0) -> dict:
    """A caption pinned to the screen: ``row`` lines below the top-left corner of its panel (3Dmol's
    ``useScreen``: pixel coordinates, not model coordinates), so rotating or zooming never moves or clips it."""
    return {
        "useScreen": True,
        "position": {"x": 6, "y": 6 + 18 * int(row), "z": 0},
        "alignment": "topLeft",
        "fontSize": 11,
        "fontColor": "black",
        "backgroundColor": "white",
        "backgroundOpacity": 0.8,
        "inFront": True,
    }


#: overlay styles: thin opaque sticks for the conformers shown, thinner translucent ones for the reference,
#: so neither set hides the other
OVERLAY_STYLE = {"stick": {"color": GENERATED_COLOR, "radius": 0.05}}
OVERLAY_REFERENCE_STYLE = {"stick": {"color": REFERENCE_COLOR, "radius": 0.08, "opacity": 0.5}}


def _overlay_legend(n: int, n_ref: int) -> str:
    shown = f"blue: {n} conformer{'' if n == 1 else 's'}"
    return shown if n_ref == 0 else f"{shown} \u00b7 orange: {n_ref} reference{'' if n_ref == 1 else 's'}"


def show_conformers(
    mol_or_ensemble,
    conf_ids=None,
    mode: str = "single",
    reference=None,
    align: bool = True,
    width: int = 640,
    height: int | None = None,
    *,
    coords=None,
    reference_ids=None,
    ref_conf_id=None,
    columns: int = 4,
    labels=None,
    hydrogens: bool = True,
    symmetric: bool = True,
):
    """Draw conformers with py3Dmol, offline; returns a :class:`ConformerView` (a ``py3Dmol.view``; a cell's
    last value shows it, or call ``.show()``).

    Args:
        mol_or_ensemble: RDKit Mol with conformers or ``MoleculeEnsemble``; never modified.
        conf_ids: conformer ids to draw. Default: the first conformer (``"single"``), else all (at most 24).
        mode: ``"single"``: one conformer, element colours. ``"grid"``: one panel per conformer, ``columns``
            per row, captions, mouse-linked; a Mol/ensemble ``reference`` is drawn faintly (grey) in every panel.
            ``"overlay"``: all selected conformers in one panel as thin blue sticks (:data:`GENERATED_COLOR`),
            plus the conformers ``reference_ids`` (default all, at most 24) of a Mol/ensemble ``reference`` as
            thinner translucent orange sticks (:data:`REFERENCE_COLOR`), and a legend with both counts.
            Captions and the legend are pinned to the screen (they stay readable while rotating).
        reference: the alignment target, as in :func:`aligned_coordinates`: ``None`` (the first selected
            conformer), an ``int`` conformer id, or a Mol/ensemble with the same atoms (its conformer
            ``ref_conf_id``, default the first of ``reference_ids``).
        align: superimpose everything on the reference first (default True). ``False`` keeps the stored
            frames, e.g. to show a rotation, a noised cloud or an orbit target where it is.
        width, height: pixels of the whole view; ``height`` defaults to 360 (single, overlay) or 240 per row.
        coords: ``(K, N, 3)`` coordinates that replace the molecule's conformers (ids become 0..K-1).
        columns: panels per row in ``"grid"`` (default 4).
        labels: captions, one per selected conformer (``"grid"`` default ``"conf <id>"``).
        hydrogens: draw hydrogens (default True).
        symmetric: symmetry-aware alignment (default True; see :func:`aligned_coordinates`).
    Raises ValueError/TypeError naming the argument for an unknown mode, missing conformer ids, a reference
    with other atoms, bad sizes or caption counts.
    """
    from symviz.viz.offline_js import enable_offline_3dmol

    if mode not in MODES:
        raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")
    width = _check_size(width, "width")
    if isinstance(columns, bool) or not isinstance(columns, (int, np.integer)) or columns < 1:
        raise ValueError(f"columns: expected an integer >= 1, got {columns!r}")
    mol = as_mol(mol_or_ensemble, coords)
    if mode == "single" and conf_ids is None:
        conf_ids = [mol.GetConformers()[0].GetId()]
    ids = _conf_ids(mol, conf_ids, max_models=MAX_MODELS)
    if mode == "single" and len(ids) != 1:
        raise ValueError(f"conf_ids: mode='single' draws one conformer, got {len(ids)}; use mode='grid' or 'overlay'")
    ref_mol = ref_ids = None
    if reference is not None and not (isinstance(reference, (int, np.integer)) and not isinstance(reference, bool)):
        ref_mol = as_mol(reference)
        _same_atoms(mol, ref_mol)
        ref_ids = _conf_ids(ref_mol, reference_ids, "reference_ids", max_models=MAX_MODELS)
        ref_conf_id = ref_ids[0] if ref_conf_id is None else _conf_ids(ref_mol, ref_conf_id, "ref_conf_id")[0]
        if mode == "grid":
            ref_ids = [ref_conf_id]
    elif reference is None:
        reference = ids[0]
    if labels is not None:
        labels = [str(s) for s in (labels if isinstance(labels, (list, tuple)) else [labels])]
        if len(labels) != len(ids):
            raise ValueError(f"labels: expected one caption per conformer ({len(ids)}), got {len(labels)}")

    target = ref_mol if ref_mol is not None else reference

    def coordinates(m, sel):
        if align:
            return aligned_coordinates(m, sel, target, ref_conf_id, symmetric=symmetric)
        return np.stack([m.GetConformer(c).GetPositions() for c in sel])

    xyz = coordinates(mol, ids)
    blocks = _blocks(mol, xyz, hydrogens)
    ref_blocks = _blocks(ref_mol, coordinates(ref_mol, ref_ids), hydrogens) if ref_mol is not None else []

    # panels: [(sdf block, style), ...] per viewer
    if mode == "grid":
        ghost = {"stick": {"color": "#9a9a9a", "radius": 0.07, "opacity": 0.55}}
        panels = [[(b, _BALL_AND_STICK)] + [(r, ghost) for r in ref_blocks] for b in blocks]
    elif mode == "single":
        panels = [[(blocks[0], _BALL_AND_STICK)]]
    else:
        panels = [[(b, OVERLAY_STYLE) for b in blocks] + [(r, OVERLAY_REFERENCE_STYLE) for r in ref_blocks]]
    if labels is None and mode == "grid":
        labels = [f"conf {c}" for c in ids]

    enable_offline_3dmol()
    if mode == "grid":
        cols = min(int(columns), len(panels))
        rows = math.ceil(len(panels) / cols)
        h = _check_size(240 * rows if height is None else height, "height")
        view = ConformerView(width=width, height=h, viewergrid=(rows, cols), linked=True, js=_FALLBACK_JS)
        cells = [{"viewer": (i // cols, i % cols)} for i in range(len(panels))]
    else:
        h = _check_size(360 if height is None else height, "height")
        view = ConformerView(width=width, height=h, js=_FALLBACK_JS)
        cells = [{}]
    for p, (models, cell) in enumerate(zip(panels, cells)):
        for i, (block, style) in enumerate(models):
            view.addModel(block, "sdf", **cell)
            view.setStyle({"model": i}, style, **cell)
        if labels is not None and mode != "overlay":
            view.addLabel(labels[p], _label_spec(), **cell)
    if mode == "overlay":
        view.addLabel(_overlay_legend(len(blocks), len(ref_blocks)), _label_spec())
    view.zoomTo()
    return view
