"""Aligned SO(3) proposals against independent references: SO(3) quadrature, closed forms, brute-force posteriors.

The references never use symviz.fisher: rotation integrals are product Gauss rules in exponential
coordinates around a numpy Kabsch rotation (Haar angle density (1 - cos t)/pi times the uniform axis sphere),
posterior draws are rejection samples from Haar.
"""

import math

import numpy as np
import pytest
import torch

from symviz import fisher
from symviz.diffusion import VPSchedule, center
from symviz.groups import SO2, SO3, AutomorphismGroup, Permutations, Product
from symviz.losses import DenoisingLoss
from symviz.molecules import cube_rotations
from symviz.orbit import closed_form_target, orbit_target
from symviz.proposals import AlignedProposal, resolve_proposal

F64 = torch.float64


# ----------------------------------------------------------------------------------------------
# Independent references
# ----------------------------------------------------------------------------------------------


def _kabsch(m: np.ndarray) -> np.ndarray:
    """argmax_R tr(M^T R) over SO(3), by numpy SVD with the determinant fix."""
    u, _, vt = np.linalg.svd(m)
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1.0, 1.0, d]) @ vt


def _rodrigues(theta: torch.Tensor, axis: torch.Tensor) -> torch.Tensor:
    k = torch.zeros(*axis.shape[:-1], 3, 3, dtype=F64)
    k[..., 0, 1], k[..., 0, 2], k[..., 1, 2] = -axis[..., 2], axis[..., 1], -axis[..., 0]
    k = k - k.transpose(-1, -2)
    t = theta[..., None, None]
    return torch.eye(3, dtype=F64) + torch.sin(t) * k + (1 - torch.cos(t)) * (k @ k)


def _so3_rule(center_rot=None, panels=((0.0, 0.12), (0.12, 0.5), (0.5, 1.4), (1.4, math.pi)), nt=40, nc=28, nphi=56):
    """Nodes R (N, 3, 3) and weights (N,) summing to 1 for normalised Haar measure on SO(3).

    R = C exp(theta u^); theta by Gauss-Legendre on panels with density (1 - cos theta)/pi, u uniform on the
    sphere (Gauss-Legendre in cos, trapezoid in the azimuth). Exact for Haar by left invariance."""
    xs, ws = np.polynomial.legendre.leggauss(nt)
    th, wt = [], []
    for a, b in panels:
        th.append(a + (b - a) * (xs + 1) / 2)
        wt.append((b - a) / 2 * ws * (1 - np.cos(a + (b - a) * (xs + 1) / 2)) / np.pi)
    th, wt = np.concatenate(th), np.concatenate(wt)
    cz, wc = np.polynomial.legendre.leggauss(nc)
    phi = np.arange(nphi) * 2 * np.pi / nphi
    cz_, ph_ = np.meshgrid(cz, phi, indexing="ij")
    sz = np.sqrt(1 - cz_**2)
    axes = np.stack([sz * np.cos(ph_), sz * np.sin(ph_), cz_], -1).reshape(-1, 3)
    wa = np.repeat(wc / 2, nphi) / nphi
    theta = torch.tensor(np.repeat(th, len(axes)), dtype=F64)
    axis = torch.tensor(np.tile(axes, (len(th), 1)), dtype=F64)
    w = torch.tensor(np.outer(wt, wa).reshape(-1), dtype=F64)
    r = _rodrigues(theta, axis)
    if center_rot is not None:
        r = torch.as_tensor(center_rot, dtype=F64) @ r
    return r, w, theta


def _cross(xt, y):
    return (xt.unsqueeze(-1) * y.unsqueeze(-2)).sum(-3)  # sum_i x_t,i y_i^T


def _posterior_mean_quadrature(y, xt, alpha, sigma, perms=None):
    """phi* = sum_h int L(R, h) R (h.y) dR / sum_h int L dR by SO(3) quadrature around each Kabsch rotation."""
    perms = [None] if perms is None else list(perms)
    logs, means = [], []
    for p in perms:
        yp = y if p is None else y[p]
        m = _cross(xt, yp)
        r, w, _ = _so3_rule(_kabsch(m.numpy()))
        ll = (alpha / sigma**2) * (r * m).sum((-1, -2))  # log L + const (same const for every h)
        top = ll.max()
        lw = w * torch.exp(ll - top)
        logs.append(torch.log(lw.sum()) + top)
        means.append(((lw[:, None, None] * r).sum(0) / lw.sum(), yp))
    post = torch.softmax(torch.stack(logs), 0)
    return sum(pi * (yp @ er.T) for pi, (er, yp) in zip(post, means))


def _posterior_draws(y, xt, alpha, sigma, n, gen, perms=None):
    """n exact posterior draws (R, h index) given (x_t, y), by rejection from Haar x uniform."""
    perms = [None] if perms is None else list(perms)
    ms = torch.stack([_cross(xt, y if p is None else y[p]) for p in perms])
    top = max(float(np.trace(_kabsch(m.numpy()).T @ m.numpy())) for m in ms)  # max <M, R> per h
    kappa = alpha / sigma**2
    rs, hs = [], []
    while sum(len(r) for r in rs) < n:
        r = SO3().sample(200_000, generator=gen, dtype=F64)
        h = torch.randint(0, len(perms), (200_000,), generator=gen)
        ll = kappa * ((r * ms[h]).sum((-1, -2)) - top)
        ok = torch.rand(200_000, generator=gen, dtype=F64) < torch.exp(ll)
        rs.append(r[ok])
        hs.append(h[ok])
    return torch.cat(rs)[:n], torch.cat(hs)[:n]


def _cloud(n, gen, scale=1.0):
    return center(torch.randn(n, 3, generator=gen, dtype=F64)) * scale


def _noisy(x0, t, gen):
    a, s = VPSchedule("cosine").alpha_sigma(torch.tensor(t, dtype=F64))
    xt = a * x0 + s * center(torch.randn(x0.shape, generator=gen, dtype=F64))
    return xt, float(a), float(s)


# ----------------------------------------------------------------------------------------------
# The matrix Fisher machinery
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("s", [(0.3, 0.1, 0.05), (4.0, 2.0, -1.5), (30.0, 25.0, 20.0), (6.0, 0.0, 0.0)])
def test_fisher_normalizer_against_so3_quadrature(s, gen):
    u, v = SO3().sample(2, generator=gen, dtype=F64)
    f = u @ torch.diag(torch.tensor(s, dtype=F64)) @ v.T
    r, w, _ = _so3_rule(_kabsch(f.numpy()))
    tr = (r * f).sum((-1, -2))
    ref = torch.log((w * torch.exp(tr - tr.max())).sum()) + tr.max()
    assert abs(float(fisher.log_normalizer(f) - ref)) < 1e-8


def _density_integral(log_density, center_rot):
    """int nu dHaar by quadrature."""
    r, w, _ = _so3_rule(center_rot)
    return float((w * torch.exp(log_density(r))).sum())


def _mf_inputs(gen, t=0.3, n=8):
    x0 = _cloud(n, gen)
    xt, a, s = _noisy(x0 @ SO3().sample(1, generator=gen, dtype=F64)[0].T, t, gen)
    return x0, xt, a, s


def _aligned_log_density(prop, x0, xt, a, s):
    group = SO3()

    def f(r):
        return prop.log_density(group, r, x0, xt, torch.tensor(a, dtype=F64), torch.tensor(s, dtype=F64))

    return f


@pytest.mark.parametrize("t", [0.15, 0.4, 0.9])
def test_proposal_density_integrates_to_one(t, gen):
    x0, xt, a, s = _mf_inputs(gen, t)
    mode = _kabsch(_cross(xt, x0).numpy())
    for beta in (0.1, 0.5):
        ld = _aligned_log_density(AlignedProposal(defensive=beta), x0, xt, a, s)
        assert abs(_density_integral(ld, mode) - 1) < 1e-6


def test_scored_product_density_integrates_to_one(gen):
    """sum_h (1/|H|) int nu(R, h) dR = 1 for the scored permutation draw."""
    x0 = _cloud(4, gen)
    perms = torch.tensor([[0, 1, 2, 3], [1, 0, 2, 3], [0, 1, 3, 2], [1, 0, 3, 2]])
    group = Product(SO3(), Permutations(perms))
    xt, a, s = _noisy(x0, 0.3, gen)
    prop = AlignedProposal(permutations="scored")
    total = 0.0
    for p in perms:
        mode = _kabsch(_cross(xt, x0[p]).numpy())
        r, w, _ = _so3_rule(mode)
        elems = (r, p[None])  # one permutation, broadcast against the quadrature rotations
        ld = prop.log_density(group, elems, x0, xt, torch.tensor(a, dtype=F64), torch.tensor(s, dtype=F64))
        total += float((w * torch.exp(ld)).sum()) / len(perms)
    assert abs(total - 1) < 1e-6


def _wrong_unnormalised(x0, xt, a, s):
    """A wrong density: the Fisher exponent without its normaliser."""
    f = (a / s**2) * _cross(xt, x0)
    top = float(np.trace(_kabsch(f.numpy()).T @ f.numpy()))
    return lambda r: torch.logaddexp(
        torch.tensor(math.log(0.1), dtype=F64), math.log(0.9) + (r * f).sum((-1, -2)) - top
    )


def _wrong_no_jacobian(x0, xt, a, s):
    """A wrong density: Gaussian in the Lie algebra (Laplace precision) times 8 pi^2, Haar Jacobian forgotten."""
    m = _cross(xt, x0).numpy()
    rs = _kabsch(m)
    sym = rs.T @ m
    prec = torch.tensor((a / s**2) * (np.trace(sym) * np.eye(3) - sym), dtype=F64)
    rs = torch.tensor(rs, dtype=F64)

    def f(r):
        q = fisher.matrix_to_quaternion(rs.T @ r)
        q = q * torch.sign(q[..., :1])
        ang = 2 * torch.atan2(q[..., 1:].norm(dim=-1), q[..., 0])
        w = q[..., 1:] / q[..., 1:].norm(dim=-1, keepdim=True).clamp_min(1e-300) * ang[..., None]
        logn = -0.5 * (w @ prec * w).sum(-1) + 0.5 * torch.logdet(prec) - 1.5 * math.log(2 * math.pi)
        return torch.logaddexp(torch.tensor(math.log(0.1), dtype=F64), math.log(0.9) + logn + math.log(8 * math.pi**2))

    return f


def test_wrong_densities_fail_the_integration_check(gen):
    """The quadrature check has teeth: a missing normaliser or a missing Haar Jacobian is caught."""
    x0, xt, a, s = _mf_inputs(gen, 0.6)
    mode = _kabsch(_cross(xt, x0).numpy())
    for wrong in (_wrong_unnormalised, _wrong_no_jacobian):
        assert abs(_density_integral(wrong(x0, xt, a, s), mode) - 1) > 0.05


def _angle_ks(angles: torch.Tensor, log_density, center_rot) -> float:
    """KS distance between sampled angles of C^T R and the angle marginal of the density (by quadrature)."""
    edges = torch.linspace(0, math.pi, 401, dtype=F64)
    mids = (edges[1:] + edges[:-1]) / 2
    cz, wc = np.polynomial.legendre.leggauss(24)
    phi = np.arange(48) * 2 * np.pi / 48
    cz_, ph_ = np.meshgrid(cz, phi, indexing="ij")
    sz = np.sqrt(1 - cz_**2)
    axes = torch.tensor(np.stack([sz * np.cos(ph_), sz * np.sin(ph_), cz_], -1).reshape(-1, 3), dtype=F64)
    wa = torch.tensor(np.repeat(wc / 2, 48) / 48, dtype=F64)
    c = torch.as_tensor(center_rot, dtype=F64)
    th = mids[:, None].expand(len(mids), len(axes))
    r = c @ _rodrigues(th.reshape(-1), axes.repeat(len(mids), 1))
    dens = (torch.exp(log_density(r)).reshape(len(mids), len(axes)) * wa).sum(-1) * (1 - torch.cos(mids)) / math.pi
    pdf = dens * (edges[1] - edges[0])
    cdf = torch.cat([torch.zeros(1, dtype=F64), torch.cumsum(pdf, 0)])
    cdf = cdf / cdf[-1]
    srt = torch.sort(angles).values
    model = torch.tensor(np.interp(srt.numpy(), edges.numpy(), cdf.numpy()), dtype=F64)
    n = len(srt)
    emp_hi = torch.arange(1, n + 1, dtype=F64) / n
    return float(torch.maximum((emp_hi - model).abs(), (model - (emp_hi - 1 / n)).abs()).max())


def _angles(c, r):
    q = fisher.matrix_to_quaternion(torch.as_tensor(c, dtype=F64).T @ r)
    return 2 * torch.atan2(q[..., 1:].norm(dim=-1), q[..., 0].abs())


@pytest.mark.parametrize("t", [0.2, 0.5, 0.8])
def test_draws_match_the_density(t, gen):
    """Angle of R*^T R for 3000 proposal draws vs the angle marginal of nu (KS, 99.9% level)."""
    x0, xt, a, s = _mf_inputs(gen, t)
    n = 3000
    prop = AlignedProposal(defensive=0.3)
    al, sl = torch.tensor(a, dtype=F64), torch.tensor(s, dtype=F64)
    r, _ = prop.sample(SO3(), x0, xt, al, sl, n, include_identity=False, generator=gen)
    mode = _kabsch(_cross(xt, x0).numpy())
    ld = _aligned_log_density(prop, x0, xt, a, s)
    assert _angle_ks(_angles(mode, r), ld, mode) < 1.95 / math.sqrt(n)
    # a density that is off by a factor 2 in concentration is caught by the same check
    wrong = _aligned_log_density(prop, x0, xt, a / 2, s)
    assert _angle_ks(_angles(mode, r), wrong, mode) > 1.95 / math.sqrt(n)


@pytest.mark.parametrize("s", [(5.0, 4.0, -3.0), (60.0, 10.0, 0.0), (0.2, 0.1, 0.0)])
def test_fisher_mean_rotation_matches_quadrature(s, gen):
    """E[R] of 20000 Fisher draws vs int R MF(R) dR by quadrature (checks orientation, not just angle)."""
    u, v = SO3().sample(2, generator=gen, dtype=F64)
    f = u @ torch.diag(torch.tensor(s, dtype=F64)) @ v.T
    draws = fisher.sample(f.expand(20000, 3, 3), generator=gen)
    assert torch.allclose(draws.transpose(-1, -2) @ draws, torch.eye(3, dtype=F64).expand(20000, 3, 3), atol=1e-12)
    assert torch.allclose(torch.linalg.det(draws), torch.ones(20000, dtype=F64), atol=1e-12)
    r, w, _ = _so3_rule(_kabsch(f.numpy()))
    tr = (r * f).sum((-1, -2))
    p = w * torch.exp(tr - tr.max())
    ref = (p[:, None, None] * r).sum(0) / p.sum()
    se = draws.std(0) / math.sqrt(20000)
    assert ((draws.mean(0) - ref).abs() < 5 * se + 1e-9).all()


# ----------------------------------------------------------------------------------------------
# The estimator
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [0.05, 0.3, 0.8])
def test_single_point_matches_langevin_closed_form(sigma, gen):
    x0 = torch.tensor([[1.3, 0.2, -0.4]], dtype=F64)
    alpha = math.sqrt(1 - sigma**2)
    xt = alpha * x0 @ SO3().sample(1, generator=gen, dtype=F64)[0].T + sigma * torch.randn(
        1, 3, generator=gen, dtype=F64
    )
    exact = closed_form_target(x0, xt, alpha, sigma, SO3())
    res = orbit_target(x0, xt, alpha, sigma, SO3(), num_samples=20000, generator=gen, proposal="aligned")
    assert float(res.ess) > 15000
    assert (res.target - exact).norm() < 0.02 * x0.norm()


@pytest.mark.parametrize("t", [0.1, 0.3, 0.6])
def test_cloud_matches_so3_quadrature(t, gen):
    """8-point cloud: aligned K = 20000 vs the posterior mean by quadrature; Haar K = 20000 is far worse at low t."""
    y = _cloud(8, gen)
    xt, a, s = _noisy(y @ SO3().sample(1, generator=gen, dtype=F64)[0].T, t, gen)
    ref = _posterior_mean_quadrature(y, xt, a, s)
    res = orbit_target(y, xt, a, s, SO3(), num_samples=20000, generator=gen, proposal="aligned")
    assert (res.target - ref).norm() < 0.01 * y.norm()
    if t <= 0.1:
        haar = orbit_target(y, xt, a, s, SO3(), num_samples=20000, generator=gen)
        assert float(haar.ess) < 20 and float(res.ess) > 15000


def _cube_perms():
    """The cube's 8 vertices and the 24 vertex permutations p with y[p] = Q y (Q the cube rotations)."""
    y = torch.tensor([[a, b, c] for a in (-1, 1) for b in (-1, 1) for c in (-1, 1)], dtype=F64)
    perms = []
    for q in cube_rotations(dtype=F64):
        qy = y @ q.T
        perms.append(torch.cdist(qy, y).argmin(-1))
    return y, torch.stack(perms)


@pytest.mark.parametrize("proposal", ["aligned", "aligned-scored"])
def test_product_with_cube_permutations(proposal, gen):
    """SO(3) x (the cube's 24 vertex permutations) on a cube: the orbit is the SO(3) orbit, so phi* equals the
    SO(3) quadrature reference; and the per-permutation sum of quadratures (any cloud) agrees too."""
    y, perms = _cube_perms()
    assert all(torch.allclose(y[p], y @ q.T) for p, q in zip(perms, cube_rotations(dtype=F64)))
    group = Product(SO3(), Permutations(perms))
    xt, a, s = _noisy(y @ SO3().sample(1, generator=gen, dtype=F64)[0].T, 0.35, gen)
    ref = _posterior_mean_quadrature(y, xt, a, s)
    ref_sum = _posterior_mean_quadrature(y, xt, a, s, perms)
    assert torch.allclose(ref, ref_sum, atol=1e-6)
    res = orbit_target(y, xt, a, s, group, num_samples=20000, generator=gen, proposal=proposal)
    assert (res.target - ref).norm() < 0.01 * y.norm()


def test_product_with_a_deformed_cloud_and_swaps(gen):
    """A cloud whose permutations are not rotations: aligned (uniform and scored h) vs the sum over h of
    SO(3) quadratures."""
    y = _cloud(5, gen)
    perms = torch.tensor([[0, 1, 2, 3, 4], [1, 0, 2, 3, 4], [0, 1, 3, 2, 4], [1, 0, 3, 2, 4]])
    group = Product(SO3(), Permutations(perms))
    for t in (0.25, 0.5):
        xt, a, s = _noisy(y @ SO3().sample(1, generator=gen, dtype=F64)[0].T, t, gen)
        ref = _posterior_mean_quadrature(y, xt, a, s, perms)
        for proposal in ("aligned", "aligned-scored"):
            res = orbit_target(y, xt, a, s, group, num_samples=20000, generator=gen, proposal=proposal)
            assert (res.target - ref).norm() < 0.01 * y.norm(), (t, proposal)


def _unbiasedness_z(proposal, k, gen, perms=None, wrong=False, monkeypatch=None, group=None):
    """z-score of E[T_K | x_t, y] - phi* with g* drawn from the exact posterior (augmented data). ``group``
    (optional) acts like ``Product(SO3(), Permutations(perms))`` but samples differently (cloud: _aut_cloud)."""
    y = _cloud(5, gen) if group is None else _aut_cloud(gen)
    if group is None:
        group = SO3() if perms is None else Product(SO3(), Permutations(perms))
    xt, a, s = _noisy(y @ SO3().sample(1, generator=gen, dtype=F64)[0].T, 0.4, gen)
    ref = _posterior_mean_quadrature(y, xt, a, s, perms)
    n = 20000
    r, h = _posterior_draws(y, xt, a, s, n, gen, perms)
    x0 = y.expand(n, *y.shape) if perms is None else y[perms[h]]
    x0 = x0 @ r.transpose(-1, -2)  # g* . y, g* ~ posterior
    if wrong:  # forget the proposal density in the weights
        monkeypatch.setattr(AlignedProposal, "_log_nu", lambda self, r, svd, tbl: torch.zeros(r.shape[:-2], dtype=F64))
    res = orbit_target(x0, xt, a, s, group, num_samples=k, generator=gen, proposal=proposal)
    diff = res.target - ref
    return (diff.mean(0) / (diff.std(0) / math.sqrt(n))).abs().max().item()


@pytest.mark.parametrize("k", [2, 4])
@pytest.mark.parametrize("proposal", ["aligned", AlignedProposal(defensive=0.5)], ids=["beta0.1", "beta0.5"])
def test_aligned_estimator_is_exactly_unbiased(k, proposal, gen):
    """Generating element in slot 0 + x0 augmented: E[T_K | x_t, y] = phi* at small K (15 coordinates)."""
    assert _unbiasedness_z(proposal, k, gen) < 4.0


@pytest.mark.parametrize("proposal", ["aligned", "aligned-scored"])
def test_aligned_product_estimator_is_exactly_unbiased(proposal, gen):
    perms = torch.tensor([[0, 1, 2, 3, 4], [1, 0, 2, 3, 4], [0, 1, 3, 2, 4], [1, 0, 3, 2, 4]])
    assert _unbiasedness_z(proposal, 2, gen, perms) < 4.0


def test_unbiasedness_check_catches_a_wrong_weight(gen, monkeypatch):
    """Weights without -log nu (the proposal density forgotten) are biased, and the check sees it."""
    assert _unbiasedness_z("aligned", 2, gen, wrong=True, monkeypatch=monkeypatch) > 8.0


# ----------------------------------------------------------------------------------------------
# Contract: slots, masks, limits, errors
# ----------------------------------------------------------------------------------------------


def test_identity_slot_count_and_shapes(gen):
    x0 = center(torch.randn(3, 6, 3, generator=gen))
    res = orbit_target(x0, x0, 0.9, 0.3, SO3(), num_samples=37, generator=gen, proposal="aligned")
    assert res.elements.shape == (3, 37, 3, 3) and res.weights.shape == (3, 37)
    assert torch.equal(res.elements[:, 0], torch.eye(3).expand(3, 3, 3))
    assert torch.equal(res.candidates[:, 0], x0)
    perms = Permutations(torch.tensor([[0, 1, 2, 3, 4, 5], [1, 0, 2, 3, 4, 5]]))
    for proposal in ("aligned", "aligned-scored"):
        res = orbit_target(x0, x0, 0.9, 0.3, Product(SO3(), perms), 9, generator=gen, proposal=proposal)
        r, p = res.elements
        assert r.shape == (3, 9, 3, 3) and p.shape == (3, 9, 6)
        assert torch.equal(p[:, 0], torch.arange(6).expand(3, 6)) and torch.equal(r[:, 0], torch.eye(3).expand(3, 3, 3))
    res = orbit_target(x0, x0, 0.9, 0.3, SO3(), num_samples=1, generator=gen, proposal="aligned")
    assert torch.equal(res.target, x0)
    res = orbit_target(x0, x0, 0.9, 0.3, SO3(), 5, include_identity=False, generator=gen, proposal="aligned")
    assert res.weights.shape == (3, 5) and not torch.allclose(res.elements[:, 0], torch.eye(3))


def test_slot_zero_weight_includes_its_density(gen):
    """logit_0 - logit_k = log L_0 - log L_k - log nu_0 + log nu_k, nu from log_density (independent call)."""
    x0 = _cloud(6, gen)
    xt, a, s = _noisy(x0, 0.3, gen)
    res = orbit_target(x0, xt, a, s, SO3(), num_samples=8, generator=gen, proposal="aligned")
    ld = AlignedProposal().log_density(
        SO3(), res.elements, x0, xt, torch.tensor(a, dtype=F64), torch.tensor(s, dtype=F64)
    )
    logl = -((xt - a * res.candidates) ** 2).sum((-1, -2)) / (2 * s**2)
    expect = torch.log_softmax(logl - ld, 0)
    assert torch.allclose(torch.log_softmax(res.logits, 0), expect, atol=1e-8)


def test_scored_slot_weights_match_log_density(gen):
    """Scored permutations: logits = log L - log nu with nu re-evaluated by log_density (table lookup)."""
    x0 = _cloud(5, gen)
    xt, a, s = _noisy(x0, 0.3, gen)
    perms = torch.tensor([[0, 1, 2, 3, 4], [1, 0, 2, 3, 4], [0, 1, 3, 2, 4], [1, 0, 3, 2, 4]])
    group = Product(SO3(), Permutations(perms))
    prop = AlignedProposal(permutations="scored")
    res = orbit_target(x0, xt, a, s, group, num_samples=16, generator=gen, proposal=prop)
    al, sl = torch.tensor(a, dtype=F64), torch.tensor(s, dtype=F64)
    ld = prop.log_density(group, res.elements, x0, xt, al, sl)
    logl = -((xt - a * res.candidates) ** 2).sum((-1, -2)) / (2 * s**2)
    assert torch.allclose(torch.log_softmax(res.logits, 0), torch.log_softmax(logl - ld, 0), atol=1e-8)


def test_closed_form_singular_values(gen):
    from symviz.proposals import _proper_singular_values

    m = torch.randn(500, 3, 3, generator=gen, dtype=F64) * torch.logspace(-3, 3, 500, dtype=F64)[:, None, None]
    m[:50, :, 2] = m[:50, :, 0]  # rank-deficient rows
    _, s, _ = fisher.proper_svd(m)
    assert ((_proper_singular_values(m) - s).abs() <= 1e-6 * s[..., :1]).all()


def test_masks_ignore_padded_atoms(gen):
    """Padding with garbage in x_t changes nothing (same draws, same weights, zero target on padding)."""
    x0 = _cloud(5, gen)
    xt, a, s = _noisy(x0, 0.3, gen)
    perms = torch.tensor([[0, 1, 2, 3, 4], [1, 0, 2, 3, 4]])
    pad = torch.cat([perms, torch.tensor([5, 6]).expand(2, 2)], 1)
    mask = torch.tensor([True] * 5 + [False] * 2)
    x0p = torch.cat([x0, torch.zeros(2, 3, dtype=F64)])
    xtp = torch.cat([xt, 50 * torch.ones(2, 3, dtype=F64)])
    for proposal in ("aligned", "aligned-scored"):
        ref = orbit_target(
            x0,
            xt,
            a,
            s,
            Product(SO3(), Permutations(perms)),
            16,
            generator=torch.Generator().manual_seed(5),
            proposal=proposal,
        )
        res = orbit_target(
            x0p,
            xtp,
            a,
            s,
            Product(SO3(), Permutations(pad)),
            16,
            generator=torch.Generator().manual_seed(5),
            mask=mask,
            proposal=proposal,
        )
        assert torch.allclose(res.weights, ref.weights, atol=1e-10)
        assert torch.allclose(res.target[:5], ref.target, atol=1e-10) and (res.target[5:] == 0).all()


def test_padded_permutation_rows_are_never_drawn(gen):
    perms = torch.tensor([[[0, 1, 2], [1, 0, 2]], [[0, 1, 2], [-1, -1, -1]]])
    x0 = center(torch.randn(2, 3, 3, generator=gen, dtype=F64))
    xt, a, s = _noisy(x0, 0.4, gen)
    for proposal in ("aligned", "aligned-scored"):
        res = orbit_target(x0, xt, a, s, Product(SO3(), Permutations(perms)), 64, generator=gen, proposal=proposal)
        assert (res.elements[1] >= 0).all() and torch.isfinite(res.target).all()
        assert (res.elements[1][1] == torch.arange(3)).all()


@pytest.mark.parametrize("proposal", ["aligned", "aligned-scored"])
def test_float32_sigma_to_zero_stays_finite(proposal, gen):
    x0 = center(torch.randn(2, 7, 3, generator=gen)) * 10
    perms = Permutations(torch.tensor([[0, 1, 2, 3, 4, 5, 6], [1, 0, 2, 3, 4, 5, 6]]))
    for group in (SO3(), Product(SO3(), perms)):
        for sigma in (1e-3, 1e-6, 1e-20, 1e-30, 0.0):
            xt = x0 + sigma * torch.randn(x0.shape, generator=gen)
            res = orbit_target(x0, xt, 1.0, sigma, group, 64, generator=gen, proposal=proposal)
            for v in (res.target, res.weights, res.ess):
                assert torch.isfinite(v).all(), (group, sigma)
            assert torch.allclose(res.weights.sum(-1), torch.ones(2), atol=1e-5)
            assert (res.target - x0).abs().max() < 1e-2 + 100 * sigma


def test_alpha_zero_is_haar(gen):
    """alpha = 0: F = 0, nu = 1 everywhere (the weights are those of Haar) and the draws are Haar."""
    x0 = _cloud(6, gen)
    xt = torch.randn(6, 3, generator=gen, dtype=F64)
    zero, one = torch.tensor(0.0, dtype=F64), torch.tensor(1.0, dtype=F64)
    r, log_nu = AlignedProposal().sample(SO3(), x0, xt, zero, one, 20000, generator=gen)
    assert log_nu.abs().max() < 1e-12
    mean = r[1:].mean(0)
    assert mean.abs().max() < 4.5 / math.sqrt(20000) * math.sqrt(1 / 3)
    res = orbit_target(x0, xt, 0.0, 1.0, SO3(), 16, generator=gen, proposal="aligned")
    assert torch.allclose(res.weights, torch.full((16,), 1 / 16, dtype=F64))


def test_aligned_raises_ess_at_low_noise(gen):
    x0 = _cloud(20, gen, 0.5)
    xt, a, s = _noisy(x0, 0.2, gen)
    haar = orbit_target(x0.expand(8, 20, 3), xt, a, s, SO3(), 64, generator=gen)
    al = orbit_target(x0.expand(8, 20, 3), xt, a, s, SO3(), 64, generator=gen, proposal="aligned")
    assert float(haar.ess.mean()) < 3 and float(al.ess.mean()) > 40


def test_bad_input_names_the_problem(gen):
    x0 = _cloud(4, gen)
    with pytest.raises(ValueError, match="proposal must be one of"):
        orbit_target(x0, x0, 0.9, 0.3, SO3(), 8, proposal="vmf")
    with pytest.raises(ValueError, match="needs group SO3"):
        orbit_target(x0[:, :2], x0[:, :2], 0.9, 0.3, SO2(), 8, proposal="aligned")
    perms = Permutations(torch.tensor([[0, 1, 2, 3], [1, 0, 2, 3]]))
    with pytest.raises(ValueError, match="needs group SO3"):
        orbit_target(x0, x0, 0.9, 0.3, Product(perms, SO3()), 8, proposal="aligned")
    with pytest.raises(ValueError, match="num_samples=K"):
        orbit_target(x0, x0, 0.9, 0.3, SO3(), None, proposal="aligned")
    with pytest.raises(ValueError, match="num_samples=K"):
        orbit_target(x0, x0, 0.9, 0.3, SO3(), 8, elements=SO3().sample(8, dtype=F64), proposal="aligned")
    with pytest.raises(ValueError, match="defensive"):
        AlignedProposal(defensive=0.05)
    with pytest.raises(ValueError, match="permutations"):
        AlignedProposal(permutations="greedy")
    with pytest.raises(ValueError, match="proposal must be one of"):
        DenoisingLoss(VPSchedule(), "orbit", SO3(), proposal="nope")
    with pytest.raises(ValueError, match="needs group SO3"):
        DenoisingLoss(VPSchedule(), "orbit", SO2(), proposal="aligned")
    with pytest.raises(ValueError, match="num_samples=K"):
        DenoisingLoss(VPSchedule(), "orbit", SO3(), num_samples=None, proposal="aligned")
    assert resolve_proposal("haar", SO2()) is None


def test_denoising_loss_passes_the_proposal_through(gen):
    x0 = center(torch.randn(16, 10, 3, generator=gen))
    t = torch.full((16,), 0.2)
    haar = DenoisingLoss(VPSchedule(), "orbit", SO3(), num_samples=32).sample(x0, t, generator=gen)
    al = DenoisingLoss(VPSchedule(), "orbit", SO3(), num_samples=32, proposal="aligned").sample(x0, t, generator=gen)
    assert float(al.ess.median()) > 20 > float(haar.ess.median())


# ----------------------------------------------------------------------------------------------
# Scored automorphisms without enumeration (AutomorphismGroup: heavy automorphism x hydrogen swaps)
# ----------------------------------------------------------------------------------------------

# Heavy atoms 0, 1, 2 (a heavy automorphism swaps 0 and 1), two hydrogens on each of 0 (atoms 3, 4) and 1
# (atoms 5, 6): |Aut| = 2 * 2! * 2! = 8; the references enumerate it, the proposal never does. Clouds are
# molecule-like (hydrogens close to their heavy atom), which is where the class-averaged alignment of stage 1
# is accurate and the proposal efficient; exactness holds for any cloud.
_AUT_BASE = torch.tensor([[0, 1, 2, 3, 4, 5, 6], [1, 0, 2, 5, 6, 3, 4]])
_AUT_CLASSES = torch.tensor([0, 1, 2, 3, 3, 4, 4])


def _aut_group():
    return AutomorphismGroup(_AUT_BASE, _AUT_CLASSES)


def _aut_cloud(gen):
    heavy = 1.5 * torch.randn(3, 3, generator=gen, dtype=F64)
    hyd = heavy[torch.tensor([0, 0, 1, 1])] + 0.6 * torch.randn(4, 3, generator=gen, dtype=F64)
    return center(torch.cat([heavy, hyd]))


def _aut_inputs(gen, t):
    y = _aut_cloud(gen)
    xt, a, s = _noisy(y @ SO3().sample(1, generator=gen, dtype=F64)[0].T, t, gen)
    return y, xt, torch.tensor(a, dtype=F64), torch.tensor(s, dtype=F64)


@pytest.mark.parametrize("t", [0.2, 0.6])
def test_scored_automorphism_density_integrates_to_one(t, gen):
    """sum_h (1/|H|) int nu(R, h) dR = 1 over the enumerated group, by SO(3) quadrature per element."""
    aut = _aut_group()
    group = Product(SO3(), aut)
    y, xt, a, s = _aut_inputs(gen, t)
    prop = AlignedProposal(permutations="scored")
    total = 0.0
    for p in aut.elements():
        r, w, _ = _so3_rule(_kabsch(_cross(xt, y[p]).numpy()))
        total += float((w * torch.exp(prop.log_density(group, (r, p[None]), y, xt, a, s))).sum()) / aut.order
    assert abs(total - 1) < 1e-6


def test_scored_automorphism_draws_match_their_density(gen):
    """Chi-square of the drawn automorphisms against the discrete marginal beta/|H| + (1 - beta) rho(h),
    rho evaluated for each enumerated element through the decomposition path (not the sampling path)."""
    from scipy.stats import chisquare

    aut = _aut_group()
    group = Product(SO3(), aut)
    y, xt, a, s = _aut_inputs(gen, 0.5)
    prop = AlignedProposal(permutations="scored", defensive=0.2)
    n = 40000
    (_, h), _ = prop.sample(group, y, xt, a, s, n, include_identity=False, generator=gen)
    els = aut.elements()
    counts = (h.unsqueeze(1) == els.unsqueeze(0)).all(-1).sum(0).double()
    assert int(counts.sum()) == n  # every draw is a group element
    parts = prop._aut_parts(aut, y, xt, a, s, None)
    idx, tau, member = prop._aut_decompose(aut, els)
    rho = torch.exp(prop._aut_log_pi(aut, parts, idx, tau, xt, a, None)) / aut.order
    assert member.all() and abs(float(rho.sum()) - 1) < 1e-9
    expected = n * (0.2 / aut.order + 0.8 * rho)
    assert chisquare(counts.numpy(), expected.numpy()).pvalue > 1e-3
    # the check has teeth: the uniform marginal is rejected (the score concentrates on few elements)
    assert chisquare(counts.numpy(), torch.full_like(rho, n / aut.order).numpy()).pvalue < 1e-6


@pytest.mark.parametrize("t", [0.25, 0.5])
def test_scored_automorphisms_match_the_posterior_mean(t, gen):
    """orbit_target with scored AutomorphismGroup draws vs the sum over the 8 elements of SO(3) quadratures."""
    aut = _aut_group()
    y, xt, a, s = _aut_inputs(gen, t)
    ref = _posterior_mean_quadrature(y, xt, float(a), float(s), aut.elements())
    res = orbit_target(y, xt, a, s, Product(SO3(), aut), num_samples=20000, generator=gen, proposal="aligned-scored")
    assert (res.target - ref).norm() < 0.01 * y.norm()


def test_scored_automorphism_estimator_is_exactly_unbiased(gen):
    aut = _aut_group()
    group = Product(SO3(), aut)
    assert _unbiasedness_z("aligned-scored", 2, gen, aut.elements(), group=group) < 4.0


def test_scored_automorphisms_batched_padded_and_masked(gen):
    """A batch of two molecules (the second has only the identity heavy row, plus two padded atoms): every
    draw is in its molecule's group, slot 0 is the identity, and each molecule's weights equal its own
    unbatched, unpadded computation under the same draws (log_density re-evaluated per molecule)."""
    ident_only = torch.stack([_AUT_BASE[0], torch.full((7,), -1)])
    aut_b = AutomorphismGroup(torch.stack([_AUT_BASE, ident_only]), torch.stack([_AUT_CLASSES, _AUT_CLASSES]))
    y, xt, a, s = _aut_inputs(gen, 0.4)
    x0 = torch.stack([y, y])
    xt_b = torch.stack([xt, xt])
    res = orbit_target(x0, xt_b, a, s, Product(SO3(), aut_b), 64, generator=gen, proposal="aligned-scored")
    r, h = res.elements
    assert torch.equal(h[:, 0], torch.arange(7).expand(2, 7))
    assert (h[1, :, :2] == torch.arange(2)).all()  # molecule 2: heavy atoms never swapped
    assert torch.isfinite(res.target).all()
    prop = AlignedProposal(permutations="scored")
    for b, grp in ((0, _aut_group()), (1, AutomorphismGroup(_AUT_BASE[:1], _AUT_CLASSES))):
        ld = prop.log_density(Product(SO3(), grp), (r[b], h[b]), y, xt, a, s)
        logl = -((xt - a * res.candidates[b]) ** 2).sum((-1, -2)) / (2 * s**2)
        assert torch.allclose(torch.log_softmax(res.logits[b], 0), torch.log_softmax(logl - ld, 0), atol=1e-8)
    # masked padding atoms with garbage coordinates: the padded call's weights equal the unpadded evaluation
    # of its own draws (padding never moves, never scores)
    pad = AutomorphismGroup(
        torch.cat([_AUT_BASE, torch.tensor([7, 8]).expand(2, 2)], 1), torch.cat([_AUT_CLASSES, torch.tensor([8, 9])])
    )
    mask = torch.tensor([True] * 7 + [False] * 2)
    x0p = torch.cat([y, torch.zeros(2, 3, dtype=F64)])
    xtp = torch.cat([xt, 40 * torch.ones(2, 3, dtype=F64)])
    got = orbit_target(x0p, xtp, a, s, Product(SO3(), pad), 32, generator=gen, mask=mask, proposal="aligned-scored")
    r, h = got.elements
    assert (h[:, 7:] == torch.tensor([7, 8])).all() and (got.target[7:] == 0).all()
    ld = prop.log_density(Product(SO3(), _aut_group()), (r, h[:, :7]), y, xt, a, s)
    logl = -((xt - a * got.candidates[:, :7]) ** 2).sum((-1, -2)) / (2 * s**2)
    assert torch.allclose(torch.log_softmax(got.logits, 0), torch.log_softmax(logl - ld, 0), atol=1e-8)


def test_scored_automorphisms_lift_the_ess_at_low_noise(gen):
    """Where uniform automorphism draws waste candidates on badly aligned hydrogens, scored draws do not."""
    aut = _aut_group()
    y = _aut_cloud(gen)
    y_b = y.expand(16, 7, 3)
    xt, a, s = _noisy(y_b, 0.25, gen)
    uni = orbit_target(y_b, xt, a, s, Product(SO3(), aut), 64, generator=gen, proposal="aligned")
    sco = orbit_target(y_b, xt, a, s, Product(SO3(), aut), 64, generator=gen, proposal="aligned-scored")
    assert float(sco.ess.median()) > 1.5 * float(uni.ess.median())


# ----------------------------------------------------------------------------------------------
# The coset estimator (a randomly conjugated icosahedral group where the posterior is broad)
# ----------------------------------------------------------------------------------------------


def _haar_moment(idx, rule):
    """E[prod_m R[i_m, j_m]] under Haar, by the quadrature rule (independent of any finite group)."""
    r, w, _ = rule
    prod = torch.ones_like(w)
    for i, j in idx:
        prod = prod * r[:, i, j]
    return float((w * prod).sum())


def _group_moment(idx, table):
    prod = torch.ones(table.shape[0], dtype=F64)
    for i, j in idx:
        prod = prod * table[:, i, j]
    return float(prod.mean())


def test_icosahedral_rotations_form_a_group_that_integrates_low_degrees_like_haar(gen):
    from symviz.proposals import icosahedral_rotations

    g = icosahedral_rotations()
    assert g.shape == (60, 3, 3) and torch.equal(g[0], torch.eye(3, dtype=F64))
    assert torch.allclose(g @ g.transpose(-1, -2), torch.eye(3, dtype=F64).expand(60, 3, 3), atol=1e-12)
    assert torch.allclose(torch.linalg.det(g), torch.ones(60, dtype=F64), atol=1e-12)
    flat = g.reshape(60, 9)
    assert torch.cdist(flat, flat).add(torch.eye(60, dtype=F64)).min() > 0.5  # 60 distinct rotations
    prods = (g[:, None] @ g[None]).reshape(-1, 9)  # closed under composition
    assert (prods[:, None] - flat[None]).norm(dim=-1).min(-1).values.max() < 1e-9
    # moments of degree 1 to 4 of the entries equal Haar's (the group has no invariants of degree 1..5)
    rule = _so3_rule()
    octa = cube_rotations(F64)  # the cube's group has an invariant of degree 4: the same check must fail there
    worst, worst_oct = 0.0, 0.0
    for degree in (1, 2, 3, 4):
        for _ in range(12):
            idx = torch.randint(0, 3, (degree, 2), generator=gen).tolist()
            ref = _haar_moment(idx, rule)
            worst = max(worst, abs(_group_moment(idx, g) - ref))
            if degree == 4:
                worst_oct = max(worst_oct, abs(_group_moment(idx, octa) - ref))
    assert worst < 1e-9
    quartic = [[0, 0], [0, 0], [0, 0], [0, 0]]  # E[R_00^4]: 1/5 under Haar; 1/3 over the cube's rotations
    assert abs(_group_moment(quartic, g) - _haar_moment(quartic, rule)) < 1e-9
    assert abs(_group_moment(quartic, octa) - _haar_moment(quartic, rule)) > 0.1 and worst_oct >= 0.0


def _always_coset():
    return AlignedProposal(coset_below=math.inf)


def test_coset_estimator_is_exactly_unbiased(gen):
    """The coset H g* of the generating element, weighted by L: the exact conditional mean given the coset."""
    assert _unbiasedness_z(_always_coset(), 60, gen) < 4.0


def test_unbiasedness_check_catches_coset_weights_with_a_proposal_density(gen, monkeypatch):
    """The coset's weights are L alone; dividing by the Fisher density as well (as for the draws) is biased."""
    keep = AlignedProposal._coset

    def wrong(self, r, log_nu, svd, generator):
        r2, nu = keep(self, r, log_nu, svd, generator)
        return r2, torch.where(torch.isinf(nu), nu, self._log_nu(r2, svd, None))

    monkeypatch.setattr(AlignedProposal, "_coset", wrong)
    assert _unbiasedness_z(_always_coset(), 60, gen) > 8.0


def test_coset_only_where_the_posterior_is_broad_and_the_choice_ignores_the_pose(gen):
    from symviz.proposals import COSET_BELOW

    x0 = _cloud(20, gen, 0.5)
    rot = SO3().sample(1, generator=gen, dtype=F64)[0]
    for t, coset in ((0.15, False), (0.9, True)):
        xt, a, s = _noisy(x0, t, gen)
        for y in (x0, x0 @ rot.T):  # a rotated x0 (and its x_t) makes the same choice
            xt_y = xt if y is x0 else xt @ rot.T
            res = orbit_target(y, xt_y, a, s, SO3(), 64, generator=gen, proposal="aligned-coset")
            kappa = a / s**2 * float(torch.linalg.svdvals(_cross(xt_y, y))[0])
            assert (kappa < COSET_BELOW) == coset
            r = res.elements
            if coset:  # slots 0-59: a conjugated icosahedral group, the rest weight 0
                flat = r[:60].reshape(60, 9)
                prods = (r[:60, None] @ r[None, :60]).reshape(-1, 9)
                assert (prods[:, None] - flat[None]).norm(dim=-1).min(-1).values.max() < 1e-9
                assert torch.all(res.weights[60:] == 0) and res.ess > 20
            else:
                assert torch.all(res.weights[60:] > 0)


def test_coset_target_matches_quadrature_at_high_noise(gen):
    x0 = _cloud(20, gen, 0.5)
    xt, a, s = _noisy(x0, 0.8, gen)
    ref = _posterior_mean_quadrature(x0, xt, a, s)
    err = {}
    for name, prop, k in (("coset", "aligned-coset", 64), ("haar", "haar", 1024)):
        res = orbit_target(x0.expand(16, 20, 3), xt, a, s, SO3(), k, generator=gen, proposal=prop)
        err[name] = float((res.target - ref).pow(2).sum((-1, -2)).mean())
    assert err["coset"] < 0.05 * err["haar"], err


def test_coset_needs_the_identity_slot_and_60_slots_and_checks_its_threshold(gen):
    x0 = _cloud(8, gen)
    xt, a, s = _noisy(x0, 0.95, gen)  # broad posterior: the coset would be used
    for k, ident in ((32, True), (64, False)):
        res = orbit_target(x0, xt, a, s, SO3(), k, generator=gen, include_identity=ident, proposal=_always_coset())
        assert torch.all(res.weights > 0)  # Fisher / Haar draws, no zero-weight padding
    for bad in (0, -1.0, True, "6", math.nan):
        with pytest.raises(ValueError, match="coset_below"):
            AlignedProposal(coset_below=bad)
    assert "coset_below=4.0" in repr(resolve_proposal("aligned-coset", SO3()))
    perms = Product(SO3(), Permutations(torch.tensor([[0, 1, 2, 3, 4, 5, 6, 7], [1, 0, 2, 3, 4, 5, 6, 7]])))
    with pytest.raises(ValueError, match="SO3\\(\\) alone"):
        orbit_target(x0, xt, a, s, perms, 64, proposal="aligned-coset")
