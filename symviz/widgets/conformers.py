"""ConformerViewer: conformer, t and K sliders over :func:`symviz.molecules.conformer_frame`, drawn in three
linked 3D panels that are updated in place (:class:`symviz.widgets._mol3d.MolPanels`, offline 3Dmol.js;
tutorial 08)."""

from __future__ import annotations

import html

import ipywidgets as W

from symviz import molecules
from symviz.widgets._base import View, slider_opts
from symviz.widgets._mol3d import MolPanels

__all__ = ["ConformerViewer"]

#: the legend under the panels (HTML pinned to the screen)
LEGEND = "ball and stick: the panel's cloud (element colours) \u00b7 thin grey sticks: x0, the same in every panel"


def _opts(label_width: str = "20px") -> dict:
    """Slider options: live updates (a move only sends new coordinates to the existing 3D viewers)."""
    return slider_opts(width="280px", label_width=label_width)


class ConformerViewer(View):
    """Browse a conformer ensemble and watch the orbit target of the noised conformer.

    Three linked 3D panels: the conformer ``x0`` (centred, superimposed on conformer 0), its noised copy
    ``x_t = alpha_t x0 + sigma_t eps`` (same ``eps`` for every t) and the orbit target ``phi*(x0, x_t)`` over
    ``SO(3) x Aut(graph)`` with K candidates; the grey ghost in each panel is ``x0``. The readout (CSS class
    ``symviz-readout``) gives the Boltzmann weight and relative energy of the conformer, alpha, sigma, the
    ESS and the weight of the identity.

        cv = ConformerViewer(ensembles, molecule=3); cv        # in a notebook cell
        cv.update(conf=2, t=0.8, K=256)                       # what the sliders call

    Args:
        ensembles: one ``MoleculeEnsemble`` (or RDKit Mol with conformers) or a list of them (a dropdown).
        molecule, conf, t, K, seed: the initial setting. max_k: the K slider's maximum (default 1024).
    Each molecule is prepared once (automorphisms, aligned conformers: up to ~1 s) and cached; a slider move
    costs one orbit target (milliseconds) plus client-side rendering.
    """

    def __init__(
        self,
        ensembles,
        molecule: int = 0,
        conf: int = 0,
        t: float = 0.5,
        K: int = 64,
        seed: int = 0,
        max_k: int = 1024,
        width: int = 900,
        height: int = 320,
    ):
        super().__init__()
        items = list(ensembles) if isinstance(ensembles, (list, tuple)) else [ensembles]
        if not items:
            raise ValueError("ensembles: need at least one molecule")
        self.items, self.max_k, self.size = items, int(max_k), (width, height)
        self._prepared: dict[int, molecules.PreparedMolecule] = {}
        self.panels = MolPanels(width=width, height=height)
        self.view = None  # the 3D panels once a frame was drawn (the same MolPanels for the widget's life)
        self.params = dict(molecule=molecule, conf=conf, t=t, K=K, seed=seed)
        first = self.prepared(molecule) if 0 <= molecule < len(items) else self.prepared(0)
        self.controls = {
            "conf": W.IntSlider(value=conf, min=0, max=max(first.n_confs - 1, 0), description="conformer",
                                **_opts("70px")),
            "t": W.FloatSlider(value=t, min=0.0, max=1.0, step=0.01, description="t", readout_format=".2f",
                               **_opts()),
            "K": W.IntSlider(value=K, min=1, max=self.max_k, step=1, description="K", **_opts()),
        }  # fmt: skip
        if len(items) > 1:
            options = [(f"{i}: {self._label(i)}", i) for i in range(len(items))]
            self.controls["molecule"] = W.Dropdown(
                options=options,
                value=molecule if 0 <= molecule < len(items) else 0,
                description="molecule",
                layout=W.Layout(width="420px"),
                style={"description_width": "70px"},
            )
        self._wire()
        c = self.controls
        rows = [W.HBox([c["molecule"]])] if "molecule" in c else []
        self.widget = W.VBox(rows + [W.HBox([c["conf"], c["t"], c["K"]]), self.readout, self.panels])
        self.update()

    # -- molecules ------------------------------------------------------------------------------
    def _label(self, i: int) -> str:
        """Dropdown text: canonical SMILES without hydrogens or atom maps, and the conformer count."""
        it = self.items[i]
        k = getattr(it, "n_confs", None)
        try:
            from rdkit import Chem

            from symviz.data.ensembles import mol_from_mapped_smiles

            mol = it if isinstance(it, Chem.Mol) else mol_from_mapped_smiles(it.smiles)
            k = mol.GetNumConformers() if k is None else k
            smi = Chem.MolToSmiles(Chem.RemoveHs(mol))
        except Exception:  # noqa: BLE001 - a label must never stop the widget
            smi = str(getattr(it, "smiles", f"molecule {i}"))
        return f"{smi} ({k} conformer{'' if k == 1 else 's'})"

    def prepared(self, i: int) -> molecules.PreparedMolecule:
        """The cached :class:`symviz.molecules.PreparedMolecule` of molecule ``i``."""
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(self.items):
            raise ValueError(f"molecule must be an index between 0 and {len(self.items) - 1}; got {i!r}")
        if i not in self._prepared:
            self._prepared[i] = molecules.prepare_molecule(self.items[i])
        return self._prepared[i]

    # -- the View protocol ----------------------------------------------------------------------
    def update(self, **params):
        """Recompute and redraw; a new molecule resets the conformer to 0 unless ``conf`` is given. Returns
        the :class:`symviz.molecules.ConformerFrame`, or None for an invalid value (message in the readout)."""
        if "molecule" in params and "conf" not in params and params["molecule"] != self.params["molecule"]:
            params = {**params, "conf": 0}
        unknown = set(params) - set(self.params)
        if unknown:
            raise TypeError(
                f"ConformerViewer.update() got unknown parameter(s) {sorted(unknown)}; valid: {sorted(self.params)}"
            )
        new = {**self.params, **params}
        try:
            frame = self.compute(**new)
            view = self.render(frame, new["molecule"])
        except Exception as err:  # noqa: BLE001 - a widget callback must never die with a traceback
            self._show_error(err)
            return None
        self.params, self.frame, self.error, self.view = new, frame, None, view
        self._syncing = True
        try:
            self.controls["conf"].max = frame.n_confs - 1
        finally:
            self._syncing = False
        self._sync_controls()
        self.draw(frame)
        self.readout.value = self.describe(frame)
        return frame

    def compute(self, **p):
        return molecules.conformer_frame(
            self.prepared(p["molecule"]), conf=p["conf"], t=p["t"], K=p["K"], seed=p["seed"], max_k=self.max_k
        )

    def render(self, fr, molecule: int) -> MolPanels:
        """Push a frame into the 3D panels: x0 | x_t | orbit target, each over a grey ghost of x0 (stored
        frames, no alignment: the shrinking of the target towards the centre is part of the picture). The
        panels' viewers stay; only coordinates and captions travel (see :class:`MolPanels`)."""
        self.panels.show(
            self.prepared(molecule).mol,
            [fr.x0, fr.xt, fr.target],
            captions=[f"x0: conformer {fr.conf}", f"x_t at t = {fr.t:.2f}", f"orbit target, K = {fr.K}"],
            ghost=fr.x0,
            legend=LEGEND,
        )
        return self.panels

    def draw(self, fr) -> None:
        """Nothing to do: :meth:`render` already moved the atoms (the View protocol's redraw step)."""

    def describe(self, fr) -> str:
        note = ""
        if fr.t == 0:
            note = " · t = 0: σ = 0, all weight on the identity, the target is x0"
        elif fr.alpha == 0:
            note = " · t = 1: α = 0, uniform weights, the target is the orbit mean (≈ 0 for SO(3))"
        energy = "n/a" if fr.energy != fr.energy else f"{fr.energy:.2f} kcal/mol"
        return (
            f"<b>{html.escape(fr.smiles)}</b> · conformer {fr.conf} of {fr.n_confs}: Boltzmann weight "
            f"<b>{fr.boltzmann_weight:.3f}</b>, relative energy <b>{energy}</b><br>"
            f"t = {fr.t:.2f} (α = {fr.alpha:.3f}, σ = {fr.sigma:.3f}) · K = {fr.K} candidates from "
            f"SO(3) × Aut ({fr.n_automorphisms} automorphisms): <b>ESS = {fr.ess:.2f}</b>, weight of the "
            f"identity = {fr.identity_weight:.3f}, |φ*| / |x0| = {fr.target_scale:.3f}{note}"
        )
