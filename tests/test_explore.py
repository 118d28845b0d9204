"""symviz.explore: the pure functions behind the widgets, checked against independent numpy references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import symviz as sv
from symviz import explore as ex

torch.set_num_threads(1)

COS = VPSCHED = sv.diffusion.VPSchedule("cosine")


def rot(theta: float, reflect: bool = False) -> np.ndarray:
    """Independent 2D rotation (times S = diag(1, -1) when reflect), numpy float64."""
    c, s = math.cos(theta), math.sin(theta)
    r = np.array([[c, -s], [s, c]])
    return r @ np.diag([1.0, -1.0]) if reflect else r


def brute_target(x0: np.ndarray, xt: np.ndarray, alpha: float, sigma: float, mats) -> np.ndarray:
    """phi* = sum_g w(g) g.x0 with w = softmax(-|x_t - alpha g x0|^2 / (2 sigma^2)): a plain loop."""
    cands = [x0 @ m.T for m in mats]
    logw = np.array([-np.sum((xt - alpha * c) ** 2) / (2 * sigma**2) for c in cands])
    w = np.exp(logw - logw.max())
    w /= w.sum()
    return sum(wi * c for wi, c in zip(w, cands))


def finite_mats(name: str):
    n = int(name[1:])
    rots = [rot(2 * math.pi * j / n) for j in range(n)]
    return rots if name[0] == "C" else rots + [rot(2 * math.pi * j / n, True) for j in range(n)]


def circle_mats(m: int, reflections: bool):
    mats = [rot(2 * math.pi * j / m) for j in range(m)]
    return mats + [rot(2 * math.pi * j / m, True) for j in range(m)] if reflections else mats


# ----------------------------------------------------------------------------------------------
# The orbit explorer frame
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("group", ["C6", "D4", "C3", "D5"])
@pytest.mark.parametrize("data", ["point", "cloud"])
@pytest.mark.parametrize("t", [0.05, 0.3, 0.7, 0.95])
def test_exact_target_of_finite_groups_is_the_brute_force_sum(group, data, t):
    fr = ex.orbit_explorer_frame(group, t=t, K=8, seed=3, data=data)
    ref = brute_target(fr.x0, fr.xt, fr.alpha, fr.sigma, finite_mats(group))
    np.testing.assert_allclose(fr.exact_target, ref, atol=1e-12)


@pytest.mark.parametrize("data", ["point", "cloud"])
@pytest.mark.parametrize("t", [0.1, 0.4, 0.8])
def test_exact_target_of_so2_matches_fine_quadrature(data, t):
    fr = ex.orbit_explorer_frame("SO2", t=t, K=8, seed=1, data=data)
    ref = brute_target(fr.x0, fr.xt, fr.alpha, fr.sigma, circle_mats(4000, False))
    np.testing.assert_allclose(fr.exact_target, ref, atol=1e-10)


@pytest.mark.parametrize("data", ["point", "cloud"])
@pytest.mark.parametrize("t", [0.03, 0.3, 0.8])
def test_exact_target_of_o2_matches_fine_quadrature(data, t):
    fr = ex.orbit_explorer_frame("O2", t=t, K=8, seed=2, data=data)
    ref = brute_target(fr.x0, fr.xt, fr.alpha, fr.sigma, circle_mats(3000, True))
    np.testing.assert_allclose(fr.exact_target, ref, atol=1e-9)


def test_o2_on_a_cloud_differs_from_so2():
    """Reflections matter for an asymmetric cloud (else the O2 branch would be untested)."""
    a = ex.orbit_explorer_frame("O2", t=0.7, K=4, seed=0, data="cloud").exact_target
    b = ex.orbit_explorer_frame("SO2", t=0.7, K=4, seed=0, data="cloud").exact_target
    assert np.abs(a - b).max() > 1e-3


@pytest.mark.parametrize("group", ex.GROUP_CHOICES)
@pytest.mark.parametrize("K", [1, 2, 17, 300])
def test_weights_candidates_and_ess(group, K):
    fr = ex.orbit_explorer_frame(group, t=0.4, K=K, seed=5, data="cloud")
    assert fr.weights.shape == (K,) and fr.candidates.shape == (K, 4, 2)
    assert abs(fr.weights.sum() - 1) < 1e-12 and (fr.weights >= 0).all()
    assert 1 - 1e-9 <= fr.ess <= K + 1e-9
    assert abs(fr.ess - 1 / np.sum(fr.weights**2)) < 1e-9
    np.testing.assert_allclose(fr.candidates[0], fr.x0, atol=1e-12)  # slot 0 = the generating element
    # the MC target is the weighted mean of its candidates
    np.testing.assert_allclose(fr.mc_target, np.einsum("k,knd->nd", fr.weights, fr.candidates), atol=1e-12)
    # every candidate lies on the orbit: same distances to the origin as x0, point by point
    np.testing.assert_allclose(
        np.linalg.norm(fr.candidates, axis=-1), np.linalg.norm(fr.x0, axis=-1)[None].repeat(K, 0), atol=1e-12
    )


@pytest.mark.parametrize("group", ex.GROUP_CHOICES)
def test_t0_gives_x0(group):
    fr = ex.orbit_explorer_frame(group, t=0.0, K=32, seed=0, data="cloud")
    assert fr.sigma == 0 and fr.alpha == 1
    for arr in (fr.xt, fr.mc_target, fr.exact_target):
        np.testing.assert_allclose(arr, fr.x0, atol=1e-12)


@pytest.mark.parametrize("group", ex.GROUP_CHOICES)
def test_t1_gives_uniform_weights_and_the_orbit_mean(group):
    fr = ex.orbit_explorer_frame(group, t=1.0, K=50, seed=0, data="point")
    assert fr.alpha == 0
    np.testing.assert_allclose(fr.weights, 1 / 50, atol=1e-12)
    assert abs(fr.ess - 50) < 1e-9
    np.testing.assert_allclose(fr.exact_target, 0.0, atol=1e-12)  # the orbit mean of one point is 0
    np.testing.assert_allclose(fr.post_density, 1.0, atol=1e-9)


def test_identity_can_be_left_out():
    fr = ex.orbit_explorer_frame("SO2", t=0.2, K=5, seed=0, include_identity=False)
    assert np.abs(fr.candidates[0] - fr.x0).max() > 1e-6
    assert not fr.include_identity


def test_seed_fixes_xt_across_K_and_moves_it_smoothly_in_t():
    a = ex.orbit_explorer_frame("SO2", t=0.5, K=4, seed=7)
    b = ex.orbit_explorer_frame("SO2", t=0.5, K=64, seed=7)
    c = ex.orbit_explorer_frame("SO2", t=0.5, K=4, seed=8)
    np.testing.assert_array_equal(a.xt, b.xt)
    assert np.abs(a.xt - c.xt).max() > 1e-6
    # x_t = alpha x0 + sigma eps with one eps for every t
    eps = (a.xt - a.alpha * a.x0) / a.sigma
    d = ex.orbit_explorer_frame("SO2", t=0.8, K=4, seed=7)
    np.testing.assert_allclose(d.xt, d.alpha * d.x0 + d.sigma * eps, atol=1e-12)


def test_mc_target_converges_to_the_exact_one():
    errs = [np.mean([ex.orbit_explorer_frame("SO2", t=0.6, K=k, seed=s).mc_error for s in range(6)]) for k in (4, 4096)]
    assert errs[1] < 0.3 * errs[0] and errs[1] < 0.02


@pytest.mark.parametrize("group", ex.GROUP_CHOICES)
@pytest.mark.parametrize("t", [0.0, 0.2, 0.9])
def test_group_posterior_is_a_density_wrt_haar(group, t):
    fr = ex.orbit_explorer_frame(group, t=t, K=4, seed=0, data="cloud")
    assert abs(fr.post_density.mean() - 1) < 1e-9 and (fr.post_density >= 0).all()
    assert fr.post_angle.min() >= -180 and fr.post_angle.max() < 180
    if group in ("SO2", "C6"):
        assert not fr.post_reflect.any()


def test_element_angles():
    g = torch.tensor(np.stack([rot(math.radians(30)), rot(math.radians(200), True)]))
    ang, refl = ex.element_angles(g)
    np.testing.assert_allclose(ang, [30, 200], atol=1e-9)
    assert refl.tolist() == [False, True]
    np.testing.assert_allclose(ex.element_angles(g, centred=True)[0], [30, -160], atol=1e-9)


# ----------------------------------------------------------------------------------------------
# The target field
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("group", ex.GROUP_CHOICES)
@pytest.mark.parametrize("t", [0.1, 0.5])
def test_field_is_equivariant(group, t):
    """Theorem 2(1): phi*(x0, h x_t) = h phi*(x0, x_t) for every h in G (finite: all; else 5 random)."""
    pts = ex.field_grid(7, 2.0).numpy()
    base = ex.target_field(group, t=t, grid=pts)
    if group in ("C6", "D4"):
        mats = finite_mats(group)
    elif group == "Z2":
        mats = [np.eye(2), -np.eye(2)]
    else:
        rng = np.random.default_rng(0)
        mats = [rot(a, group == "O2" and i % 2 == 1) for i, a in enumerate(rng.uniform(0, 2 * np.pi, 5))]
    for m in mats:
        moved = ex.target_field(group, t=t, grid=pts @ m.T)
        np.testing.assert_allclose(moved.targets, base.targets @ m.T, atol=1e-9)


def test_field_matches_the_one_equivariance_checker_and_brute_force():
    x0 = ex.make_x0("point")
    a, s = COS.alpha_sigma(torch.tensor(0.4, dtype=torch.float64))
    f = lambda xt: ex.exact_orbit_target(x0, xt, a, s, sv.groups.Cyclic(6))  # noqa: E731
    pts = ex.field_grid(5, 1.5)[:, None, :]
    g = sv.groups.Cyclic(6)
    assert sv.metrics.equivariance_error(f, pts, g, elements=g.elements(dtype=torch.float64)) < 1e-9
    fr = ex.target_field("C6", t=0.4, grid=5, extent=1.5)
    for p, tg in zip(fr.points, fr.targets):
        np.testing.assert_allclose(
            tg, brute_target(fr.x0, p[None], fr.alpha, fr.sigma, finite_mats("C6"))[0], atol=1e-12
        )


def test_field_shapes_and_limits():
    fr = ex.target_field("SO2", t=1.0, grid=6)
    assert fr.points.shape == (36, 2) and fr.targets.shape == (36, 2)
    np.testing.assert_allclose(fr.targets, 0.0, atol=1e-12)  # alpha = 0: the orbit mean
    fr0 = ex.target_field("C6", t=0.0, grid=6)  # sigma = 0: each arrow ends on the orbit
    r = np.linalg.norm(fr0.targets, axis=1)
    np.testing.assert_allclose(r, np.linalg.norm(fr0.x0), atol=1e-9)


# ----------------------------------------------------------------------------------------------
# Forward diffusion, posterior mean, group actions, loss curves
# ----------------------------------------------------------------------------------------------


def test_forward_diffusion_frames():
    times = np.linspace(0, 1, 11)
    fr = ex.forward_diffusion_frames("blobs", times=times, seed=0)
    assert fr.xt.shape == (11, 120, 1, 2) and fr.denoised.shape == (11, 120, 1, 2)
    a, s = (v.numpy() for v in COS.alpha_sigma(torch.tensor(times)))
    np.testing.assert_allclose(fr.alpha, a) and np.testing.assert_allclose(fr.sigma, s)
    for i in range(11):  # one eps per sample, shared by every t
        np.testing.assert_allclose(fr.xt[i], a[i] * fr.x0 + s[i] * fr.eps, atol=1e-12)
    np.testing.assert_allclose(fr.xt[0], fr.x0, atol=1e-12)
    np.testing.assert_allclose(fr.denoised[0], fr.x0, atol=1e-12)  # sigma = 0: the sample itself
    np.testing.assert_allclose(fr.denoised[-1], fr.x0.mean(0, keepdims=True).repeat(120, 0), atol=1e-12)


def test_posterior_mean_is_the_brute_force_bayes_mean():
    data = ex.blobs_2d(12, seed=1)
    xt = torch.tensor([[[0.3, -0.2]], [[1.0, 1.0]]], dtype=torch.float64)
    a, s = 0.7, math.sqrt(1 - 0.49)
    got = ex.posterior_mean(data, xt, a, s).numpy()
    d = data.numpy()
    for b in range(2):
        logw = np.array([-np.sum((xt[b].numpy() - a * x) ** 2) / (2 * s**2) for x in d])
        w = np.exp(logw - logw.max())
        np.testing.assert_allclose(got[b], np.einsum("k,knd->nd", w / w.sum(), d), atol=1e-12)


@pytest.mark.parametrize(
    "group,element,angle,refl,det",
    [
        ("C6", 2, 120, False, 1),
        ("D4", 1, 90, False, 1),
        ("D4", 5, 90, True, -1),
        ("Z2", 1, 180, False, 1),
    ],
)
def test_group_action_frame_finite(group, element, angle, refl, det):
    fr = ex.group_action_frame(group, element=element, data="cloud")
    m = rot(math.radians(angle), refl)
    np.testing.assert_allclose(fr.matrix, m, atol=1e-12)
    np.testing.assert_allclose(fr.gx0, fr.x0 @ m.T, atol=1e-12)
    assert round(np.linalg.det(fr.matrix)) == det and fr.num_elements == ex.make_group(group).order


def test_group_action_frame_continuous():
    fr = ex.group_action_frame("O2", element=30, reflect=True)
    np.testing.assert_allclose(fr.gx0, fr.x0 @ rot(math.radians(30), True).T, atol=1e-12)
    assert "reflection" in fr.label and fr.num_elements is None
    fr = ex.group_action_frame("SO2", element=-90.0)
    np.testing.assert_allclose(fr.gx0, fr.x0 @ rot(math.radians(-90)).T, atol=1e-12)
    assert fr.label == "rotation by 270°"


def test_loss_curve():
    c = ex.loss_curve([1, 2, 3, 4], [4.0, float("nan"), 2.0, 0.0], smooth=2)
    np.testing.assert_array_equal(c.step, [1, 3, 4])
    np.testing.assert_allclose(c.smooth, [4.0, 3.0, 1.0])
    assert c.num_bad == 1
    assert ex.loss_curve([], []).step.size == 0


# ----------------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(K=0), "K must be"),
        (dict(K=-3), "K must be"),
        (dict(K=10**6), "K must be"),
        (dict(t=-0.01), "t must lie"),
        (dict(t=1.5), "t must lie"),
        (dict(t="x"), "t must be"),
        (dict(t=float("nan")), "t must lie"),
        (dict(group="SO3"), "acts on R\\^3"),
        (dict(group="C0"), "unknown group"),
        (dict(seed=-1), "seed"),
        (dict(data="ring"), "unknown data"),
    ],
)
def test_frame_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ex.orbit_explorer_frame(**kwargs)


def test_frame_rejects_a_fractional_k():
    with pytest.raises(TypeError, match="K must be"):
        ex.orbit_explorer_frame(K=2.5)


def test_other_validation():
    with pytest.raises(ValueError, match="one point"):
        ex.target_field("SO2", x0="cloud")
    with pytest.raises(ValueError, match="index"):
        ex.group_action_frame("C6", element=6)
    with pytest.raises(ValueError, match="no reflections"):
        ex.group_action_frame("SO2", element=10, reflect=True)
    with pytest.raises(ValueError, match="centred"):
        ex.make_x0(np.array([[1.0, 0.0], [2.0, 0.0]]))
    with pytest.raises(ValueError, match="t must lie"):
        ex.forward_diffusion_frames(times=[0.0, 1.2])
    with pytest.raises(TypeError):
        ex.make_group(3)
    assert isinstance(ex.make_group("SO(2)"), sv.groups.SO2)
