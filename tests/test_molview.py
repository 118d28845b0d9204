"""The 3D conformer viewer (symviz.viz.molview), the molecule computations (symviz.molecules) and the
ConformerViewer widget: offline JS with our models in every mode, alignment against independent Kabsch and
RDKit references, the exact orbit target against a numpy brute force, equivariance on a padded batch, and
every widget control across its range plus bad values."""

from __future__ import annotations

import itertools
import json
import re

import numpy as np
import py3Dmol
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import AllChem, rdMolAlign

import symviz as sv
from symviz import molecules as M
from symviz.data.ensembles import MoleculeEnsemble
from symviz.data.molgraph import automorphism_group, automorphisms, pad_automorphisms
from symviz.viz import molview as mv

torch.set_num_threads(1)

CDN = re.compile(r"https?://|cdn|jsdelivr|unpkg", re.IGNORECASE)


def _embed(smiles: str, k: int, seed: int = 7):
    m = Chem.AddHs(Chem.MolFromSmiles(smiles))
    ps = AllChem.ETKDGv3()
    ps.randomSeed = seed
    cids = list(AllChem.EmbedMultipleConfs(m, numConfs=k, params=ps))
    assert len(cids) == k
    return m


def _ensemble(smiles: str, k: int, seed: int = 7) -> MoleculeEnsemble:
    """A MoleculeEnsemble like the shipped ones (atom-mapped SMILES, (K, N, 3) positions, weights)."""
    m = _embed(smiles, k, seed)
    for a in m.GetAtoms():
        a.SetAtomMapNum(a.GetIdx() + 1)
    mapped = Chem.MolToSmiles(m, canonical=False)
    for a in m.GetAtoms():
        a.SetAtomMapNum(0)
    pos = np.stack([c.GetPositions() for c in m.GetConformers()]).astype(np.float32)
    e = np.linspace(0.0, 2.0, k).astype(np.float32)
    w = np.exp(-e / 0.593)
    z = np.array([a.GetAtomicNum() for a in m.GetAtoms()])
    return MoleculeEnsemble(smiles=mapped, z=z, pos=pos, weights=(w / w.sum()).astype(np.float32), energies=e)


@pytest.fixture(scope="module")
def ens():
    return _ensemble("CC(C)CC(=O)O", 5)  # isovaleric acid: methyl and isopropyl symmetries, a carboxyl


@pytest.fixture(scope="module")
def ens2():
    return _ensemble("OCC1CC1", 3, seed=11)


def _js(view) -> str:
    return view.startjs + view.endjs


def _positions(mol) -> np.ndarray:
    return np.stack([c.GetPositions() for c in mol.GetConformers()])


def _heavy_rmsd(a, b, z) -> float:
    h = z > 1
    return float(np.sqrt(((a[h] - b[h]) ** 2).sum(-1).mean()))


def _kabsch_rmsd(a, b) -> float:
    """Independent reference: optimal proper rigid superposition RMSD of a onto b (numpy SVD)."""
    a0, b0 = a - a.mean(0), b - b.mean(0)
    u, _, vt = np.linalg.svd(a0.T @ b0)
    d = np.sign(np.linalg.det(u @ vt))
    r = u @ np.diag([1.0, 1.0, d]) @ vt
    return float(np.sqrt(((a0 @ r - b0) ** 2).sum(-1).mean()))


# ----------------------------------------------------------------------------------------------
# The viewer
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", mv.MODES)
def test_every_mode_draws_our_models_offline(ens, mode):
    mol = ens.to_rdkit()
    ids = [0] if mode == "single" else [0, 2, 4]
    ref = ens if mode == "overlay" else None
    view = mv.show_conformers(ens, conf_ids=ids, mode=mode, reference=ref, align=False)
    assert isinstance(view, py3Dmol.view) and isinstance(view, mv.ConformerView)
    js, html = _js(view), view._make_html()
    n_models = {"single": 1, "grid": 3, "overlay": 3 + ens.n_confs}[mode]
    assert js.count("addModel(") == n_models
    assert js.count('"sdf"') == n_models
    for text in (js, html):
        assert not CDN.search(text), CDN.search(text)
    assert "data:text/javascript," in js  # the offline fallback replaces py3Dmol's CDN address
    # every drawn conformer's coordinates are in the JS (stored frames, align=False)
    for c in ids:
        x, y, z = mol.GetConformer(c).GetPositions()[0]
        assert f"{x:10.4f}{y:10.4f}{z:10.4f}" in js
    if mode == "grid":
        assert "viewergrid_" in js and "conf 2" in js
    if mode == "overlay":
        assert mv.GENERATED_COLOR in js and mv.REFERENCE_COLOR in js


def test_viewer_waits_for_its_node_before_building(ens):
    """Issue 11: 3Dmol got a null element (an output replaced before the deferred callback ran) and threw an
    uncaught TypeError. The page code now waits for the node and skips the viewer when it never appears."""
    for mode in ("single", "grid"):
        html = mv.show_conformers(ens, conf_ids=[0, 1][: 1 if mode == "single" else 2], mode=mode)._make_html()
        uid = re.search(r'id="3dmolviewer_(\d+)"', html).group(1)
        guard = html.index(f"document.getElementById('3dmolviewer_{uid}')")
        create = html.index("$3Dmol.createViewerGrid(" if mode == "grid" else "$3Dmol.createViewer(")
        assert guard < create and "if (!attached) { return; }" in html[guard:create]
        assert html.count("$3Dmolpromise.then(") == 1  # py3Dmol's single entry point, wrapped once


def test_captions_and_legend_are_pinned_to_the_screen(ens):
    """Issue 11 §4: captions placed in model space were clipped after rotating; they now use screen pixels."""
    grid = _js(mv.show_conformers(ens, conf_ids=[0, 1], mode="grid", labels=["first", "second"]))
    for label in ('"first"', '"second"'):
        spec = re.search(r"addLabel\(" + label + r",(\{.*?\})\);", grid)
        assert spec and '"useScreen": true' in spec.group(1) and '"inFront": true' in spec.group(1)
    over = _js(mv.show_conformers(ens, coords=ens.pos[:2], mode="overlay", reference=ens, align=False))
    assert "blue: 2 conformers" in over and "orange: 5 references" in over and '"useScreen": true' in over


def test_overlay_styles_let_both_sets_show():
    """Issue 11 §4: thick opaque reference sticks hid the generated conformers. The reference is now
    translucent and the generated sticks are thin, so neither set covers the other."""
    gen, ref = mv.OVERLAY_STYLE["stick"], mv.OVERLAY_REFERENCE_STYLE["stick"]
    assert gen["color"] == mv.GENERATED_COLOR and ref["color"] == mv.REFERENCE_COLOR
    assert ref.get("opacity", 1.0) <= 0.6 and gen["radius"] <= 0.1 and ref["radius"] <= 0.1
    assert mv._overlay_legend(1, 0) == "blue: 1 conformer"


def test_grid_with_reference_draws_a_ghost_per_panel(ens):
    view = mv.show_conformers(ens, conf_ids=[1, 2], mode="grid", reference=ens, ref_conf_id=0, labels=["a", "b"])
    js = _js(view)
    assert js.count("addModel(") == 4 and "#9a9a9a" in js and '"a"' in js and '"b"' in js


def test_viewer_never_modifies_its_inputs(ens, ens2):
    mol = ens.to_rdkit()
    before = _positions(mol)
    pos_before = ens.pos.copy()
    for mode in mv.MODES:
        mv.show_conformers(mol, mode=mode, conf_ids=None if mode == "single" else [1, 3], reference=ens)
    mv.aligned_coordinates(mol, reference=ens)
    np.testing.assert_array_equal(_positions(mol), before)
    np.testing.assert_array_equal(ens.pos, pos_before)


def test_coords_override_and_hydrogen_free_view(ens):
    xyz = np.asarray(ens.pos[:2], dtype=float) + 1.0
    view = mv.show_conformers(ens, coords=torch.as_tensor(xyz), mode="overlay", align=False, hydrogens=False)
    js = _js(view)
    assert js.count("addModel(") == 2
    x, y, z = xyz[0, 0]
    assert f"{x:10.4f}{y:10.4f}{z:10.4f}" in js
    assert " H   0" not in js and " C   0" in js  # no hydrogen atom lines in the SDF blocks


# ----------------------------------------------------------------------------------------------
# Alignment
# ----------------------------------------------------------------------------------------------


def test_alignment_lowers_rmsd_and_matches_kabsch(ens):
    mol = ens.to_rdkit()
    ref_before = mol.GetConformer(0).GetPositions().copy()
    xyz = mv.aligned_coordinates(mol, reference=0, symmetric=False)
    assert xyz.shape == (ens.n_confs, ens.n_atoms, 3)
    ref = ens.pos[0].astype(float)
    h = ens.z > 1
    for k in range(ens.n_confs):
        before = _heavy_rmsd(ens.pos[k].astype(float), ref, ens.z)
        after = _heavy_rmsd(xyz[k], ref, ens.z)
        assert after <= before + 1e-9
        assert after == pytest.approx(_kabsch_rmsd(ens.pos[k][h].astype(float), ref[h]), abs=1e-5)
        # a rigid motion: all interatomic distances are kept
        d0 = np.linalg.norm(ens.pos[k][:, None] - ens.pos[k][None], axis=-1)
        d1 = np.linalg.norm(xyz[k][:, None] - xyz[k][None], axis=-1)
        np.testing.assert_allclose(d1, d0, atol=1e-4)
    np.testing.assert_allclose(xyz[0], ref, atol=1e-5)  # the reference conformer itself does not move
    np.testing.assert_array_equal(mol.GetConformer(0).GetPositions(), ref_before)


@pytest.mark.parametrize(("smiles", "extra"), [("CC(C)CCO", None), ("CC(C)CC(=O)O", (5, 6))])
def test_symmetric_alignment_reaches_get_best_rms(smiles, extra):
    """After the symmetric fit, the best RMSD over the heavy-atom symmetries (graph automorphisms, plus the
    carboxyl O swap that GetBestRMS adds for conjugated terminal groups) equals RDKit's GetBestRMS."""
    e = _ensemble(smiles, 5)
    heavy = Chem.RemoveHs(e.to_rdkit())
    xyz = mv.aligned_coordinates(e, reference=0, symmetric=True)
    perms = automorphisms(heavy).numpy()
    if extra is not None:
        swapped = perms.copy()
        swapped[:, list(extra)] = perms[:, list(extra[::-1])]
        perms = np.concatenate([perms, swapped])
    ref = heavy.GetConformer(0).GetPositions()
    h = e.z > 1
    for k in range(e.n_confs):
        best = rdMolAlign.GetBestRMS(Chem.Mol(heavy), heavy, prbId=k, refId=0)
        ours = min(np.sqrt(((xyz[k][h][p] - ref) ** 2).sum(-1).mean()) for p in perms)
        assert ours == pytest.approx(best, abs=1e-4)
        before = min(np.sqrt(((e.pos[k][h][p] - ref) ** 2).sum(-1).mean()) for p in perms)
        assert ours <= before + 1e-6


def test_alignment_undoes_a_rigid_motion(ens):
    mol = ens.to_rdkit()
    r = sv.groups.SO3().sample(1, generator=torch.Generator().manual_seed(3), dtype=torch.float64)[0].numpy()
    moved = ens.pos[2].astype(float) @ r.T + np.array([3.0, -1.0, 2.0])
    for symmetric in (True, False):
        xyz = mv.aligned_coordinates(mol, coords=moved, reference=ens, ref_conf_id=2, symmetric=symmetric)
        np.testing.assert_allclose(xyz[0], ens.pos[2], atol=1e-4)


def test_tiny_molecule_aligns_on_all_atoms():
    m = _embed("C", 2)  # methane: one heavy atom, so hydrogens carry the orientation
    xyz = mv.aligned_coordinates(m, reference=0, symmetric=False)
    a, b = m.GetConformer(1).GetPositions(), m.GetConformer(0).GetPositions()
    assert np.sqrt(((xyz[1] - b) ** 2).sum(-1).mean()) == pytest.approx(_kabsch_rmsd(a, b), abs=1e-5)
    assert "addModel(" in _js(mv.show_conformers(m, mode="grid"))


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        (dict(mode="movie"), ValueError, "mode"),
        (dict(conf_ids=[0, 9]), ValueError, "conf_ids"),
        (dict(conf_ids=[0, 1], mode="single"), ValueError, "single"),
        (dict(conf_ids=[]), ValueError, "empty"),
        (dict(conf_ids="all"), TypeError, "conf_ids"),
        (dict(width=0), ValueError, "width"),
        (dict(height=10**6, mode="overlay"), ValueError, "height"),
        (dict(columns=0, mode="grid"), ValueError, "columns"),
        (dict(labels=["a", "b"], mode="grid", conf_ids=[0]), ValueError, "labels"),
        (dict(coords=np.zeros((2, 3, 3))), ValueError, "coords"),
        (dict(coords=np.full((1, 17, 3), np.nan)), ValueError, "coords"),
        (dict(reference=7), ValueError, "reference"),
    ],
)
def test_bad_viewer_input_is_named(ens, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        mv.show_conformers(ens, **kwargs)


def test_bad_molecule_and_reference(ens, ens2):
    with pytest.raises(TypeError, match="MoleculeEnsemble"):
        mv.show_conformers(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="same atom order"):
        mv.show_conformers(ens, mode="overlay", reference=ens2)
    with pytest.raises(ValueError, match="no conformers"):
        mv.show_conformers(Chem.AddHs(Chem.MolFromSmiles("CCO")))


# ----------------------------------------------------------------------------------------------
# symviz.molecules
# ----------------------------------------------------------------------------------------------


def test_cube_rotations_form_a_group():
    r = M.cube_rotations()
    assert r.shape == (24, 3, 3) and torch.equal(r[0], torch.eye(3, dtype=r.dtype))
    eye = torch.eye(3, dtype=r.dtype)
    assert torch.allclose(r @ r.transpose(-1, -2), eye.expand(24, 3, 3))
    assert torch.allclose(torch.linalg.det(r), torch.ones(24, dtype=r.dtype))
    keys = {tuple(m.flatten().tolist()) for m in r}
    assert len(keys) == 24
    assert all(tuple((a @ b).flatten().tolist()) in keys for a, b in itertools.product(r, r))


def test_product_elements_enumerates_all_pairs():
    r = M.cube_rotations()[:3]
    perms = torch.tensor([[[0, 1, 2], [1, 0, 2]], [[0, 1, 2], [-1, -1, -1]]])
    rr, pp = M.product_elements(r, perms)
    assert rr.shape == (6, 3, 3) and pp.shape == (2, 6, 3)
    for i, j in itertools.product(range(3), range(2)):
        assert torch.equal(rr[i * 2 + j], r[i]) and torch.equal(pp[:, i * 2 + j], perms[:, j])
    with pytest.raises(ValueError, match="rotations"):
        M.product_elements(torch.zeros(3, 2, 2), perms)


def test_exact_orbit_target_matches_numpy_brute_force(ens):
    """orbit_target over all of (cube rotations x Aut) equals an independent numpy softmax sum."""
    pm = M.prepare_molecule(ens)
    x0 = pm.aligned[1]
    xt, _ = sv.diffusion.add_noise(x0, 0.6, sv.diffusion.VPSchedule(), generator=torch.Generator().manual_seed(2))
    a, s = (float(v) for v in sv.diffusion.VPSchedule().alpha_sigma(torch.tensor(0.6, dtype=torch.float64)))
    aut = pm.group.factors[1]
    assert isinstance(aut, sv.groups.AutomorphismGroup)
    els = M.product_elements(M.cube_rotations(), aut.elements())  # the whole group: 24 x 144 candidates
    ours = sv.orbit.orbit_target(x0, xt, a, s, pm.group, elements=els).target.numpy()
    X0, XT = x0.numpy(), xt.numpy()
    perms = automorphisms(pm.mol, max_count=10**6).numpy()  # independent: RDKit self-matches with hydrogens
    assert len(perms) == aut.order == 144
    cands = np.array([X0[p] @ R.T for R in M.cube_rotations().numpy() for p in perms])
    logits = -((XT[None] - a * cands) ** 2).sum((-1, -2)) / (2 * s**2)
    w = np.exp(logits - logits.max())
    w /= w.sum()
    np.testing.assert_allclose(ours, np.einsum("k,knd->nd", w, cands), atol=1e-10)


def test_padded_batch_target_is_exactly_equivariant():
    """Theorem 2(1) on a padded batch: phi*(g x0, g xt) = g phi*(x0, xt) for g in (cube rotations x Aut)."""
    mols = [_embed(s, 1, seed=i + 3) for i, s in enumerate(["CC(C)O", "C=O", "CCN"])]
    batch = M.molecule_batch(mols)
    assert batch.x0.shape == (3, 12, 3) and batch.mask.sum(1).tolist() == [12, 4, 10]
    com = (batch.x0 * batch.mask[..., None]).sum(1) / batch.mask.sum(1, keepdim=True)
    assert com.abs().max() < 1e-6 and batch.x0[~batch.mask].abs().max() == 0
    gen = torch.Generator().manual_seed(5)
    eps = sv.diffusion.center(torch.randn(batch.x0.shape, generator=gen, dtype=torch.float64), batch.mask)
    xt = 0.7 * batch.x0 + 0.714 * eps
    assert isinstance(batch.group.factors[1], sv.groups.AutomorphismGroup)
    whole = [automorphism_group(m) for m in batch.mols]  # the whole groups: 72, 2 and 24 elements
    assert batch.group.factors[1].orders.tolist() == [72.0, 2.0, 24.0] == [float(g.order) for g in whole]
    els = M.product_elements(M.cube_rotations(), pad_automorphisms([g.elements() for g in whole], 12))

    def phi(pair):
        return sv.orbit.orbit_target(pair[0], pair[1], 0.7, 0.714, batch.group, mask=batch.mask, elements=els).target

    idx = torch.randint(0, els[0].shape[0], (6,), generator=gen)
    test_els = (els[0][idx], els[1][:, idx])
    err = sv.metrics.equivariance_error(phi, torch.stack([batch.x0, xt]), batch.group, elements=test_els)
    assert err < 1e-9
    # a generic rotation (not in the finite group) is *not* an exact symmetry of this finite-group target
    q = sv.groups.SO3().sample(1, generator=gen, dtype=torch.float64)
    assert (
        sv.metrics.equivariance_error(phi, torch.stack([batch.x0, xt]), batch.group, elements=(q, batch.perms[:, :1]))
        > 1e-6
    )


def test_conformer_frame_limits_and_invariants(ens):
    pm = M.prepare_molecule(ens)
    aut = pm.group.factors[1]
    assert isinstance(aut, sv.groups.AutomorphismGroup) and not hasattr(pm, "capped")
    assert pm.n_confs == ens.n_confs and pm.n_automorphisms == aut.order == 144  # 2 * 3! * 3! * 2! (isovaleric)
    brute = {tuple(p) for p in automorphisms(pm.mol, max_count=10**6).tolist()}
    assert {tuple(p) for p in aut.elements().tolist()} == brute  # the whole group, no cap
    assert M.conformer_frame(pm, conf=0, t=0.5, K=8).n_automorphisms == 144
    for conf in range(ens.n_confs):
        fr = M.conformer_frame(pm, conf=conf, t=0.0, K=32)
        np.testing.assert_allclose(fr.xt, fr.x0, atol=1e-12)
        np.testing.assert_allclose(fr.target, fr.x0, atol=1e-9)
        assert fr.identity_weight == pytest.approx(1.0) and fr.boltzmann_weight == pytest.approx(ens.weights[conf])
        assert abs(fr.x0.mean(0)).max() < 1e-9
    fr1 = M.conformer_frame(pm, conf=1, t=1.0, K=64)
    np.testing.assert_allclose(fr1.weights, np.full(64, 1 / 64), atol=1e-12)
    assert fr1.ess == pytest.approx(64.0) and fr1.target_scale < 0.5
    fk = M.conformer_frame(pm, conf=1, t=0.7, K=1)
    np.testing.assert_allclose(fk.target, fk.x0, atol=1e-12)
    # x_t = alpha x0 + sigma eps with the same centred eps for every t (fixed seed)
    a, b = M.conformer_frame(pm, conf=1, t=0.3), M.conformer_frame(pm, conf=1, t=0.8)
    eps_a, eps_b = (a.xt - a.alpha * a.x0) / a.sigma, (b.xt - b.alpha * b.x0) / b.sigma
    np.testing.assert_allclose(eps_a, eps_b, atol=1e-9)
    assert abs(eps_a.mean(0)).max() < 1e-9
    for t in np.linspace(0, 1, 11):
        fr = M.conformer_frame(pm, conf=2, t=float(t), K=128)
        assert 1 - 1e-9 <= fr.ess <= 128 + 1e-9 and np.isfinite(fr.target).all()
        assert fr.target_scale <= 1 + 1e-9 and abs(fr.target.mean(0)).max() < 1e-9


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [(dict(conf=5), "conf"), (dict(conf=-1), "conf"), (dict(conf=1.5), "conf"), (dict(t=1.2), "t must"),
     (dict(t="x"), "t must"), (dict(K=0), "K must"), (dict(K=10**6), "K must"), (dict(seed=-2), "seed")],
)  # fmt: skip
def test_conformer_frame_bad_values(ens, kwargs, match):
    with pytest.raises(ValueError, match=match):
        M.conformer_frame(M.prepare_molecule(ens), **kwargs)


# ----------------------------------------------------------------------------------------------
# The widget
# ----------------------------------------------------------------------------------------------

W = pytest.importorskip("ipywidgets")


def _same_frame(a, b):
    return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in ("x0", "xt", "target", "weights"))


def _panel_xyz(cv, p: int) -> np.ndarray:
    return np.asarray(cv.panels.coords[p]).reshape(-1, 3)


def test_widget_every_control_over_its_range(ens, ens2):
    from symviz.widgets import ConformerViewer
    from symviz.widgets._mol3d import MolPanels

    cv = ConformerViewer([ens, ens2], t=0.4, K=16, max_k=256)
    assert "symviz-readout" in cv.readout._dom_classes and cv.error is None
    panels, revision = cv.view, cv.panels.revision
    assert isinstance(panels, MolPanels) and panels is cv.panels and panels in cv.widget.children
    c = cv.controls
    assert set(c) == {"molecule", "conf", "t", "K"}
    for mol_idx, e in enumerate([ens, ens2]):
        c["molecule"].value = mol_idx  # through the control, as a user would
        assert cv.params["molecule"] == mol_idx and cv.params["conf"] == 0
        assert c["conf"].max == e.n_confs - 1
        assert cv.panels.sdf.count("\n") > e.n_atoms and f"{e.n_atoms:3d}" in cv.panels.sdf.splitlines()[3]
        for conf in range(e.n_confs):
            c["conf"].value = conf
            assert cv.error is None, cv.error
            ref = M.conformer_frame(cv.prepared(mol_idx), conf=conf, t=0.4, K=cv.params["K"])
            assert _same_frame(cv.frame, ref)  # a thin view: exactly the pure function's output
            assert f"conformer {conf} of {e.n_confs}" in cv.readout.value
            assert f"{e.weights[conf]:.3f}" in cv.readout.value
            # the three panels show x0 | x_t | target over the x0 ghost, rounded to 1e-3 Å
            for p, x in enumerate((ref.x0, ref.xt, ref.target)):
                np.testing.assert_allclose(_panel_xyz(cv, p), x, atol=5e-4 + 1e-12)
            np.testing.assert_allclose(np.reshape(cv.panels.ghost, (-1, 3)), ref.x0, atol=5e-4 + 1e-12)
            assert cv.panels.captions[0] == f"x0: conformer {conf}"
    for t in np.linspace(0.0, 1.0, 11):
        c["t"].value = float(t)
        assert cv.error is None and cv.frame.t == pytest.approx(t)
        assert f"t = {t:.2f}" in cv.readout.value and cv.panels.captions[1] == f"x_t at t = {t:.2f}"
    assert "uniform weights" in cv.readout.value  # t = 1
    for k in (1, 2, 3, 17, 128, 255, 256):
        c["K"].value = k
        assert cv.error is None and cv.frame.weights.shape == (k,)
        assert f"K = {k} " in cv.readout.value and cv.panels.captions[2] == f"orbit target, K = {k}"
    c["t"].value = 0.0
    assert "the target is x0" in cv.readout.value
    np.testing.assert_allclose(_panel_xyz(cv, 2), _panel_xyz(cv, 0))  # t = 0: the target is x0
    # one 3D view for the widget's whole life: every move bumped its revision once, nothing was re-created
    assert cv.view is panels and cv.panels.revision > revision + 2 * (ens.n_confs + ens2.n_confs)


def test_panels_send_the_molecule_once_and_then_only_coordinates(ens):
    """A slider move must not resend the molecule (the page then only moves atoms in the existing viewers)."""
    from symviz.widgets import ConformerViewer

    cv = ConformerViewer(ens, K=8)
    sent = []
    cv.panels.observe(lambda ch: sent.append(ch["name"]), names=["sdf", "coords", "captions", "revision"])
    cv.update(t=0.7)
    cv.update(conf=1)
    assert "sdf" not in sent and sent.count("revision") == 2 and "coords" in sent
    from symviz.viz.offline_js import threedmol_js
    from symviz.widgets import _mol3d

    # offline: the view's own code names no address, and 3Dmol.js is the vendored bundle, inlined
    assert not CDN.search(_mol3d._ESM_TEMPLATE) and json.dumps(threedmol_js()) in cv.panels._esm


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda p, m, x: p.show(m, []), "at least one"),
        (lambda p, m, x: p.show(m, [x[:-1]]), r"panels\[0\]: expected shape"),
        (lambda p, m, x: p.show(m, [x * np.nan]), "NaN"),
        (lambda p, m, x: p.show(m, [x, x], captions=["one"]), "one per panel"),
        (lambda p, m, x: p.show(m, [x], ghost=x[:, :2]), "ghost: expected shape"),
    ],
)
def test_panels_reject_bad_input_with_a_message(ens, call, match):
    from symviz.widgets._mol3d import MolPanels

    mol, x = ens.to_rdkit(), np.asarray(ens.pos[0], dtype=float)
    p = MolPanels(width=300, height=200)
    with pytest.raises(ValueError, match=match):
        call(p, mol, x)
    p.show(mol, [x, x])
    with pytest.raises(ValueError, match="this view has 2 panels"):
        p.show(mol, [x])
    with pytest.raises(ValueError, match="width"):
        MolPanels(width=20)


@pytest.mark.parametrize(
    ("bad", "match"),
    [(dict(conf=99), "conf must"), (dict(t=-0.1), "t must"), (dict(K=0), "K must"), (dict(K=10**5), "K must"),
     (dict(molecule=5), "molecule must"), (dict(seed=-1), "seed")],
)  # fmt: skip
def test_widget_bad_values_show_a_message_and_recover(ens, ens2, bad, match):
    from symviz.widgets import ConformerViewer

    cv = ConformerViewer([ens, ens2], conf=1, K=8)
    view_before, frame_before = cv.view, cv.frame
    assert cv.update(**bad) is None
    assert re.search(match, cv.error) and "Invalid input" in cv.readout.value
    assert cv.view is view_before and cv.frame is frame_before  # the last good picture stays
    assert cv.update(conf=2, t=0.9, K=32) is not None and cv.error is None
    assert "Invalid" not in cv.readout.value
    with pytest.raises(TypeError, match="unknown parameter"):
        cv.update(temperature=2)


def test_widget_single_molecule_and_speed(ens):
    import time

    from symviz.widgets import ConformerViewer

    cv = ConformerViewer(ens, K=1024, max_k=1024)
    assert "molecule" not in cv.controls
    cv.update(t=0.5)
    t0 = time.perf_counter()
    for t in np.linspace(0, 1, 6):
        cv.update(t=float(t))
    per_update = (time.perf_counter() - t0) / 6
    assert per_update < 0.5, f"{per_update * 1e3:.0f} ms per update (budget: < 100 ms on an idle core)"
