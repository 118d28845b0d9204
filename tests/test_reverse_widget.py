"""ReverseProcessViewer (symviz.widgets.reverse): frames, time labels and the generated HTML (every frame, one
slider, one 3Dmol viewer grid, nothing loaded from the network), against a tiny untrained network."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from symviz.conformers import prepare_mol, reverse_trajectory, sample_conformers
from symviz.molecules.models import build_net, net_spec
from symviz.widgets import ReverseProcessViewer
from symviz.widgets.reverse import PANELS, reverse_frames, reverse_process_html, time_labels

torch.set_num_threads(1)

URL = re.compile(r"https?://|cdn|jsdelivr|unpkg", re.IGNORECASE)
DATA = re.compile(r"data = (\{.*?\});\n", re.DOTALL)


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return build_net(net_spec("egnn", hidden=8, layers=1)).eval()


@pytest.fixture(scope="module")
def mol():
    return prepare_mol("CC(C)(C)O")  # tert-butanol, 15 atoms with hydrogens


def _arrays(s=5, n=15, seed=0):
    rng = np.random.default_rng(seed)
    times = np.linspace(1.0, 0.2, s)
    return times, rng.normal(size=(s, n, 3)), rng.normal(size=(s, n, 3))


def _payload(html: str) -> dict:
    m = DATA.search(html)
    assert m, "the HTML should carry its frames as a JSON object"
    return json.loads(m.group(1).replace("<\\/", "</"))


def test_reverse_frames_appends_the_final_sample():
    times, xt, x0 = _arrays()
    fr = reverse_frames(times, xt, x0)
    assert fr.n_frames == 6 and fr.times[-1] == 0 and fr.n_atoms == 15
    np.testing.assert_array_equal(fr.xt[:5], xt)
    np.testing.assert_array_equal(fr.xt[-1], x0[-1])  # t = 0: the sampler's output in both panels
    np.testing.assert_array_equal(fr.x0_hat[-1], x0[-1])
    assert reverse_frames(times, xt, x0, final=False).n_frames == 5
    done = reverse_frames(np.append(times, 0.0), np.concatenate([xt, x0[-1:]]), np.concatenate([x0, x0[-1:]]))
    assert done.n_frames == 6  # already ends at t = 0: nothing appended
    tt = reverse_frames(torch.as_tensor(times), torch.as_tensor(xt), torch.as_tensor(x0))
    assert tt.xt.dtype == np.float64


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda t, a, b: (t[::-1].copy(), a, b), "decreasing"),
        (lambda t, a, b: (t, a[:, :, :2], b), "xt"),
        (lambda t, a, b: (t, a, b[:, :4]), "x0_hat"),
        (lambda t, a, b: (t, np.where(a > 2, np.nan, a), b), "NaN"),
        (lambda t, a, b: (t[:, None], a, b), "times"),
        (lambda t, a, b: (t + 0.5, a, b), r"\[0, 1\]"),
    ],
)
def test_reverse_frames_rejects_bad_arrays(change, match):
    with pytest.raises(ValueError, match=match):
        reverse_frames(*change(*_arrays()))


def test_time_labels():
    labels = time_labels([1.0, 0.5, 0.02, 0.0])
    assert labels[0] == "t = 1.00 (step 1 of 3)"
    assert labels[2] == "t = 0.02 (step 3 of 3)"
    assert labels[-1].startswith("t = 0: the generated conformer")
    assert time_labels([1.0, 0.5]) == ["t = 1.00 (step 1 of 2)", "t = 0.50 (step 2 of 2)"]


def test_html_holds_every_frame_one_slider_one_viewer(mol):
    times, xt, x0 = _arrays()
    fr = reverse_frames(times, xt, x0)
    html = reverse_process_html(mol, fr, uid="rev-test")
    assert html.count('type="range"') == 1 and 'id="rev-test-slider"' in html
    assert f'max="{fr.n_frames - 1}"' in html and 'min="0"' in html
    assert html.count("createViewerGrid(") == 1 and "createViewer(" not in html  # one viewer, made once
    assert "<script" in html and html.count("</script>") == 1
    assert not URL.search(html), "the view must not reference any network address"
    data = _payload(html)
    assert data["labels"] == fr.labels() and len(data["times"]) == fr.n_frames
    assert [p["key"] for p in data["panels"]] == ["xt", "x0_hat"]
    for p in data["panels"]:
        coords = np.asarray(p["coords"])
        assert coords.shape == (fr.n_frames, 15 * 3)
        np.testing.assert_allclose(coords.reshape(fr.n_frames, 15, 3), fr.coords(p["key"]), atol=5e-4)
    assert data["template"].count("V2000") == 1 and " 15 14  0" in data["template"]  # 15 atoms, 14 bonds
    # captions are HTML on top of the view (pinned to the screen), not 3D labels
    assert all(PANELS[k] in html for k in ("xt", "x0_hat")) and "addLabel" not in html


def test_html_options(mol):
    fr = reverse_frames(*_arrays())
    one = _payload(reverse_process_html(mol, fr, panels=("x0_hat",), hydrogens=False, uid="a"))
    assert [p["key"] for p in one["panels"]] == ["x0_hat"]
    heavy = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]
    coords = np.asarray(one["panels"][0]["coords"]).reshape(fr.n_frames, len(heavy), 3)
    np.testing.assert_allclose(coords, fr.x0_hat[:, heavy], atol=5e-4)
    a, b = reverse_process_html(mol, fr), reverse_process_html(mol, fr)
    assert re.search(r'id="(symviz-reverse-\w+)"', a).group(1) != re.search(r'id="(symviz-reverse-\w+)"', b).group(1)
    with pytest.raises(ValueError, match="panels"):
        reverse_process_html(mol, fr, panels=("xt", "noise"))
    with pytest.raises(ValueError, match="width"):
        reverse_process_html(mol, fr, width=10)
    with pytest.raises(ValueError, match="atoms"):
        reverse_process_html(prepare_mol("CCO"), fr)
    with pytest.raises(ValueError, match="uid"):
        reverse_process_html(mol, fr, uid='x"><script>')


def test_viewer_is_a_thin_view_over_reverse_trajectory(net, mol):
    v = ReverseProcessViewer(net, mol, steps=4, seed=3)
    times, xt, x0 = reverse_trajectory(net, mol, steps=4, seed=3)
    assert v.n_frames == len(times) + 1
    t, a, b = v.frame(0)
    assert t == pytest.approx(times[0]) and np.array_equal(a, xt[0]) and np.array_equal(b, x0[0])
    t_end, a_end, b_end = v.frame(-1)
    sample = sample_conformers(net, [mol], [1], steps=4, seed=3)[0][0]
    assert t_end == 0 and np.allclose(a_end, sample, atol=1e-5) and np.allclose(b_end, sample, atol=1e-5)
    html = v.to_html(uid="rev-v")
    assert len(_payload(html)["panels"][0]["coords"]) == v.n_frames
    assert "ReverseProcessViewer(5 frames" in repr(v)
    with pytest.raises(ValueError, match="frame index"):
        v.frame(v.n_frames)


def test_from_arrays_and_smiles(mol):
    times, xt, x0 = _arrays()
    v = ReverseProcessViewer.from_arrays("CC(C)(C)O", times, xt, x0, panels=("xt",), width=400)
    assert v.n_frames == 6 and v.mol.GetNumAtoms() == mol.GetNumAtoms()
    assert 'style="width:400px' in v.to_html()
    with pytest.raises(TypeError, match="unknown"):
        ReverseProcessViewer.from_arrays(mol, times, xt, x0, colour="red")
