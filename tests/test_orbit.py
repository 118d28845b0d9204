"""The orbit target (Eq. 11) against independent references: brute force, quadrature, closed forms, theory."""

import itertools
import math

import pytest
import torch

from symviz.diffusion import VPSchedule, center
from symviz.groups import SO2, SO3, Cyclic, Dihedral, MatrixGroup, Permutations, Product, Reflection
from symviz.metrics import equivariance_error
from symviz.orbit import closed_form_target, langevin, orbit_target

F64 = torch.float64


def _brute_force(x0, xt, alpha, sigma, elements):
    """Independent loop: Gaussian log-densities with torch.distributions, normalised by hand."""
    cands, logp = [], []
    for R in elements:
        c = x0 @ R.T
        cands.append(c)
        logp.append(torch.distributions.Normal(alpha * c, sigma).log_prob(xt).sum())
    logp = torch.stack(logp)
    w = torch.exp(logp - logp.max())
    w = w / w.sum()
    return sum(wi * ci for wi, ci in zip(w, cands)), w


@pytest.mark.parametrize("G", [Reflection(2), Cyclic(6), Dihedral(4)], ids=repr)
def test_exact_target_equals_brute_force(G, gen):
    x0 = center(torch.randn(5, 2, generator=gen, dtype=F64))
    xt = 0.8 * x0 @ G.elements(dtype=F64)[1].T + 0.6 * torch.randn(5, 2, generator=gen, dtype=F64)
    res = orbit_target(x0, xt, 0.8, 0.6, G, num_samples=None)
    ref, w = _brute_force(x0, xt, 0.8, 0.6, G.elements(dtype=F64))
    assert torch.allclose(res.target, ref, atol=1e-12)
    assert torch.allclose(res.weights, w, atol=1e-12)  # P5: weights = brute-force posterior over g
    assert torch.equal(res.candidates[0], x0)  # slot 0 is the generating element, exactly


def test_exact_target_over_permutations_and_products(gen):
    perms = torch.tensor(list(itertools.permutations(range(3))))
    x0 = center(torch.randn(3, 2, generator=gen, dtype=F64))
    xt = torch.randn(3, 2, generator=gen, dtype=F64)
    G = Product(Cyclic(4), Permutations(perms))
    res = orbit_target(x0, xt, 0.7, 0.5, G, num_samples=None)
    cands, logits = [], []
    for R in Cyclic(4).elements(dtype=F64):
        for p in perms:
            c = (x0 @ R.T)[p]
            cands.append(c)
            logits.append(-((xt - 0.7 * c) ** 2).sum() / (2 * 0.25))
    w = torch.softmax(torch.stack(logits), 0)
    assert torch.allclose(res.target, sum(wi * c for wi, c in zip(w, cands)), atol=1e-12)


def _sphere_mean_length(kappa):
    """Mean resultant length of vMF on S^2 by trapezoid quadrature over the polar angle (independent of coth)."""
    th = torch.linspace(0, math.pi, 200001, dtype=F64)
    dens = torch.exp(kappa * (torch.cos(th) - 1)) * torch.sin(th)
    return float(torch.trapezoid(dens * torch.cos(th), th) / torch.trapezoid(dens, th))


@pytest.mark.parametrize("kappa", [1e-4, 0.3, 2.0, 15.0, 300.0])
def test_langevin_against_quadrature(kappa):
    assert abs(float(langevin(torch.tensor(kappa, dtype=F64))) - _sphere_mean_length(kappa)) < 1e-7


def test_closed_forms_against_exact_references(gen):
    # Reflection: the 2-element exact sum
    x0 = torch.randn(3, 1, 1, generator=gen, dtype=F64)
    xt = torch.randn(3, 1, 1, generator=gen, dtype=F64)
    R = Reflection(1)
    assert torch.allclose(closed_form_target(x0, xt, 0.6, 0.8, R), orbit_target(x0, xt, 0.6, 0.8, R, None).target)
    assert torch.allclose(closed_form_target(x0, xt, 0.6, 0.8, R), x0 * torch.tanh(0.6 * x0 * xt / 0.64))
    # SO(2) on a 4-point cloud: the trapezoid rule on 720 angles is exact to float precision
    x0 = center(torch.randn(2, 4, 2, generator=gen, dtype=F64))
    xt = torch.randn(2, 4, 2, generator=gen, dtype=F64)
    quad = orbit_target(x0, xt, 0.8, 0.6, SO2(), elements=SO2().grid(720, dtype=F64)).target
    assert torch.allclose(closed_form_target(x0, xt, 0.8, 0.6, SO2()), quad, atol=1e-12)
    # SO(2) one point: rho I1/I0 x_t/|x_t|
    p0, pt = torch.tensor([[2.0, 0.0]], dtype=F64), torch.tensor([[0.3, -0.9]], dtype=F64)
    kappa = 0.8 * 2.0 * pt.norm() / 0.36
    ratio = torch.special.i1(kappa) / torch.special.i0(kappa)
    assert torch.allclose(closed_form_target(p0, pt, 0.8, 0.6, SO2()), 2.0 * ratio * pt / pt.norm(), atol=1e-12)
    # SO(3) one point against polar-angle quadrature
    p0, pt = torch.tensor([[0.0, 0.0, 1.5]], dtype=F64), torch.tensor([[0.2, 0.4, -0.3]], dtype=F64)
    kappa = float(0.8 * 1.5 * pt.norm() / 0.36)
    ref = 1.5 * _sphere_mean_length(kappa) * pt / pt.norm()
    assert torch.allclose(closed_form_target(p0, pt, 0.8, 0.6, SO3()), ref, atol=1e-7)


@pytest.mark.parametrize("G, x_shape", [(SO2(), (1, 1, 2)), (SO3(), (1, 1, 3))], ids=["SO2", "SO3"])
def test_monte_carlo_converges_like_inverse_sqrt_k(G, x_shape):
    x0 = torch.zeros(x_shape, dtype=F64)
    x0[..., 0] = 1.0
    xt = 0.7 * G.act(G.sample(1, generator=torch.Generator().manual_seed(3), dtype=F64)[0], x0) + 0.5
    alpha, sigma = 0.7, 0.71
    exact = closed_form_target(x0, xt, alpha, sigma, G)
    ks, rmse = [16, 64, 256, 1024], []
    for k in ks:
        errs = []
        for r in range(100):
            gen = torch.Generator().manual_seed(1000 * k + r)
            est = orbit_target(x0, xt, alpha, sigma, G, num_samples=k, generator=gen).target
            errs.append(float(((est - exact) ** 2).sum()))
        rmse.append(math.sqrt(sum(errs) / len(errs)))
    slope = (math.log(rmse[-1]) - math.log(rmse[0])) / (math.log(ks[-1]) - math.log(ks[0]))
    assert -0.65 < slope < -0.35, (rmse, slope)
    assert rmse[-1] < 0.05


@pytest.mark.parametrize("G", [Cyclic(6), Dihedral(3)], ids=repr)
def test_theorem_2_equivariance_exact_finite(G, gen):
    """phi*(x0, h x_t) = h phi*(x0, x_t) for every h in G, to 1e-10 in float64 (Theorem 2(1))."""
    x0 = center(torch.randn(4, 5, 2, generator=gen, dtype=F64))
    xt = torch.randn(4, 5, 2, generator=gen, dtype=F64)

    def f(x):
        return orbit_target(x0, x, 0.7, 0.4, G, num_samples=None).target

    assert equivariance_error(f, xt, G, elements=G.elements(dtype=F64)) < 1e-10


def test_theorem_2_equivariance_so2_closed_form(gen):
    x0 = center(torch.randn(3, 4, 2, generator=gen, dtype=F64))
    xt = torch.randn(3, 4, 2, generator=gen, dtype=F64)
    err = equivariance_error(lambda x: closed_form_target(x0, x, 0.7, 0.4, SO2()), xt, SO2(), num_samples=16)
    assert err < 1e-10


class _RowSumBugGroup(MatrixGroup):
    """C_6 whose 'action' is the reference code's einsum (scales axes by row sums of R): not an action."""

    is_finite = True

    def __init__(self):
        super().__init__(2)

    @property
    def order(self):
        return 6

    def elements(self, dtype=None, device=None):
        return Cyclic(6).elements(dtype=dtype, device=device)

    def act(self, g, x):
        return torch.einsum("...np,...pq->...np", x, g.to(x.dtype))


def test_equivariance_check_fails_on_a_wrong_action(gen):
    x0 = center(torch.randn(2, 5, 2, generator=gen, dtype=F64))
    xt = torch.randn(2, 5, 2, generator=gen, dtype=F64)
    bad = _RowSumBugGroup()

    def f(x):
        return orbit_target(x0, x, 0.7, 0.4, bad, num_samples=None).target

    assert equivariance_error(f, xt, bad, elements=bad.elements(dtype=F64)) > 1e-2


def test_candidate_count_reaches_the_estimator(gen):
    """docs/theory.md#num-rotations: a non-default K is what the estimator uses."""
    x0 = center(torch.randn(2, 6, 3, generator=gen))
    res = orbit_target(x0, x0, 0.9, 0.3, SO3(), num_samples=37, generator=gen)
    assert res.candidates.shape == (2, 37, 6, 3) and res.weights.shape == (2, 37)
    assert torch.equal(res.candidates[:, 0], x0)


def _enumerated_mean(G, y, xt, alpha, sigma, k, include_identity):
    """E[T_K | x_t, y] computed exactly by enumerating g* ~ posterior and all candidate tuples in G^(K-1)."""
    el = G.elements(dtype=F64)
    n_el = el.shape[0]
    logp = torch.stack([-((xt - alpha * (y @ g.T)) ** 2).sum() / (2 * sigma**2) for g in el])
    post = torch.softmax(logp, 0)
    free = k - 1 if include_identity else k
    tuples = torch.tensor(list(itertools.product(range(n_el), repeat=free)), dtype=torch.long)
    total = torch.zeros_like(y)
    for i_star in range(n_el):
        x0 = y @ el[i_star].T  # the generating sample
        cand = el[tuples]  # (T, free, 2, 2)
        if include_identity:
            cand = torch.cat([torch.eye(2, dtype=F64).expand(len(tuples), 1, 2, 2), cand], 1)
        res = orbit_target(
            x0.expand(len(tuples), *x0.shape),
            xt.expand(len(tuples), *xt.shape),
            alpha,
            sigma,
            G,
            elements=cand,
        )
        total = total + post[i_star] * res.target.mean(0)
    return total


@pytest.mark.parametrize("k", [1, 2, 3])
def test_identity_inclusion_is_exactly_unbiased(k, gen):
    """docs/theory.md#finite-k: with the generating element in the set, E[T_K | x_t, y] = phi* for every K (exact)."""
    G = Cyclic(5)
    y = center(torch.randn(3, 2, generator=gen, dtype=F64))
    xt = 0.8 * y + 0.6 * torch.randn(3, 2, generator=gen, dtype=F64)
    exact = orbit_target(y, xt, 0.8, 0.6, G, num_samples=None).target
    with_id = _enumerated_mean(G, y, xt, 0.8, 0.6, k, include_identity=True)
    assert torch.allclose(with_id, exact, atol=1e-12)
    without = _enumerated_mean(G, y, xt, 0.8, 0.6, k, include_identity=False)
    assert (without - exact).abs().max() > 1e-3  # plain SNIS is biased at finite K


def test_identity_inclusion_bias_so3_monte_carlo():
    """docs/theory.md#snis-bias: bias proxy E<T_K - phi*, x_t/|x_t|> is ~0 with identity, strongly negative without."""
    gen = torch.Generator().manual_seed(7)
    n, sigma = 20000, 0.1
    alpha = math.sqrt(1 - sigma**2)
    e1 = torch.tensor([1.0, 0.0, 0.0], dtype=F64)
    x0 = SO3().act(SO3().sample(n, generator=gen, dtype=F64), e1.expand(n, 1, 3))  # augmented data
    xt = alpha * x0 + sigma * torch.randn(n, 1, 3, generator=gen, dtype=F64)
    exact = closed_form_target(x0, xt, alpha, sigma, SO3())
    xhat = xt / xt.norm(dim=-1, keepdim=True)
    for k, no_id_expected in [(1, -0.99), (4, -0.39)]:
        with_id = orbit_target(x0, xt, alpha, sigma, SO3(), num_samples=k, generator=gen).target
        proxy = ((with_id - exact) * xhat).sum((-1, -2))
        assert abs(float(proxy.mean())) < 4 * float(proxy.std()) / math.sqrt(n) + 1e-4
        no_id = orbit_target(x0, xt, alpha, sigma, SO3(), num_samples=k, include_identity=False, generator=gen)
        bias = float((((no_id.target - exact) * xhat).sum((-1, -2))).mean())
        assert abs(bias - no_id_expected) < 0.05, (k, bias)


def test_limits_sigma_zero_and_alpha_zero(gen):
    x0 = center(torch.randn(6, 3, generator=gen, dtype=F64))
    # sigma = 0: the target is x0 itself (x_t = x0)
    res = orbit_target(x0, x0, 1.0, 0.0, SO3(), num_samples=50, generator=gen)
    assert torch.equal(res.target, x0) and float(res.ess) == 1.0
    # sigma -> 0 continuously approaches x0
    xt = x0 + 1e-7 * torch.randn(6, 3, generator=gen, dtype=F64)
    assert torch.allclose(orbit_target(x0, xt, 1.0, 1e-6, SO3(), num_samples=50, generator=gen).target, x0)
    # alpha = 0: uniform weights, target = mean of candidates; exact C_n orbit mean of a centred cloud = 0
    res = orbit_target(x0[:, :2], torch.randn(6, 2, generator=gen, dtype=F64), 0.0, 1.0, Cyclic(8), None)
    assert torch.allclose(res.weights, torch.full((8,), 1 / 8, dtype=F64))
    assert res.target.abs().max() < 1e-12


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_no_nan_or_inf_anywhere(dtype, gen):
    sched = VPSchedule("cosine")
    x0 = center(torch.randn(3, 5, 3, generator=gen, dtype=dtype)) * 10
    for t in torch.linspace(0, 1, 11, dtype=dtype):
        a, s = sched.alpha_sigma(t)
        xt = a * x0 + s * torch.randn(x0.shape, generator=gen, dtype=dtype)
        for k in (1, 10_000):
            res = orbit_target(x0, xt, a, s, SO3(), num_samples=k, generator=gen)
            for v in (res.target, res.weights, res.ess):
                assert torch.isfinite(v).all(), (float(t), k)
            assert torch.allclose(res.weights.sum(-1), torch.ones(3, dtype=dtype), atol=1e-5)
            assert ((res.ess >= 1 - 1e-4) & (res.ess <= k * (1 + 1e-4))).all()
    # tiny but non-zero sigma (sigma^2 underflows in float32)
    res = orbit_target(x0, x0, 1.0, 1e-30, SO3(), num_samples=100, generator=gen)
    assert torch.isfinite(res.target).all()


def test_mask_ignores_padded_points(gen):
    x0 = center(torch.randn(4, 3, generator=gen, dtype=F64))
    xt = torch.randn(4, 3, generator=gen, dtype=F64)
    g = SO3().sample(20, generator=gen, dtype=F64)
    ref = orbit_target(x0, xt, 0.8, 0.5, SO3(), elements=g)
    pad_x0 = torch.cat([x0, torch.zeros(2, 3, dtype=F64)])
    pad_xt = torch.cat([xt, 99 * torch.ones(2, 3, dtype=F64)])  # garbage in the padding
    mask = torch.tensor([True] * 4 + [False] * 2)
    res = orbit_target(pad_x0, pad_xt, 0.8, 0.5, SO3(), elements=g, mask=mask)
    assert torch.allclose(res.weights, ref.weights, atol=1e-12)
    assert torch.allclose(res.target[:4], ref.target, atol=1e-12) and (res.target[4:] == 0).all()


def test_padded_permutations_get_zero_weight(gen):
    """docs/theory.md#numerics: invalid (padding) elements get logit -inf before the softmax; no NaN if only one is
    valid."""
    perms = torch.tensor([[[0, 1, 2], [1, 0, 2]], [[0, 1, 2], [-1, -1, -1]]])
    P = Permutations(perms)
    x0 = center(torch.randn(2, 3, 2, generator=gen, dtype=F64))
    xt = torch.randn(2, 3, 2, generator=gen, dtype=F64)
    res = orbit_target(x0, xt, 0.5, 0.9, P, num_samples=None)
    assert res.weights[1, 1] == 0 and res.weights[1, 0] == 1
    assert torch.isfinite(res.target).all() and torch.equal(res.target[1], x0[1])
    assert res.weights[0, 1] > 0


def test_temperature_is_explicit(gen):
    """docs/theory.md#temperature: default tau = 1 matches the closed form; tau != 1 changes the weights."""
    x0 = torch.tensor([[1.0, 0.0]], dtype=F64)
    xt = torch.tensor([[0.2, 0.5]], dtype=F64)
    grid = SO2().grid(720, dtype=F64)
    exact = closed_form_target(x0, xt, 0.8, 0.6, SO2())
    assert torch.allclose(orbit_target(x0, xt, 0.8, 0.6, SO2(), elements=grid).target, exact, atol=1e-12)
    hot = orbit_target(x0, xt, 0.8, 0.6, SO2(), elements=grid, temperature=0.4).target
    assert (hot - exact).abs().max() > 1e-2


def test_mc_candidates_are_independent_across_clouds_and_batched_groups_work(gen):
    x0 = center(torch.randn(3, 4, 3, generator=gen))
    res = orbit_target(x0, x0, 0.9, 0.3, SO3(), num_samples=5, generator=gen)
    assert res.elements.shape == (3, 5, 3, 3)
    assert not torch.allclose(res.elements[0, 1], res.elements[1, 1])
    assert torch.equal(res.elements[:, 0], torch.eye(3).expand(3, 3, 3))
    perms = torch.tensor([[[0, 1, 2, 3], [1, 0, 2, 3]], [[0, 1, 2, 3], [-1, -1, -1, -1]], [[0, 1, 2, 3], [0, 1, 3, 2]]])
    G = Product(SO3(), Permutations(perms))
    res = orbit_target(x0, x0, 0.9, 0.3, G, num_samples=6, generator=gen)
    assert res.candidates.shape == (3, 6, 4, 3) and torch.isfinite(res.target).all()
    assert (res.elements[1][1] == torch.arange(4)).all()  # cloud 1's group is trivial


def _langevin_reference(kappa: float) -> float:
    """coth(k) - 1/k with 80 significant digits (Python's decimal: no cancellation problem at that precision)."""
    from decimal import Decimal, localcontext

    with localcontext() as ctx:
        ctx.prec = 80
        k = Decimal(repr(kappa))
        e = (2 * k).exp()
        return float((e + 1) / (e - 1) - 1 / k)


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-6), (torch.float64, 1e-13)])
def test_langevin_is_accurate_over_a_kappa_grid(dtype, tol):
    """Just above the old series cut-off (1e-3) the float32 cancellation gave up to 10-20 % relative error."""
    kappa = torch.cat([torch.logspace(-8, 2.5, 1051, dtype=dtype), torch.tensor([0.3, 1.0], dtype=dtype)])
    kappa = torch.cat([kappa, torch.nextafter(kappa[-2:], torch.zeros(2, dtype=dtype))])  # both sides of cut-offs
    want = torch.tensor([_langevin_reference(float(k)) for k in kappa], dtype=F64)
    got = langevin(kappa)
    assert got.dtype == dtype
    rel = ((got.double() - want).abs() / want).max()
    assert rel < tol, f"largest relative error {float(rel):.2e}"
    assert torch.equal(langevin(-kappa), -got)  # odd
    assert float(langevin(torch.tensor(0.0, dtype=dtype))) == 0.0
    assert float(langevin(torch.tensor(1e30, dtype=dtype))) == 1.0


def test_closed_forms_at_sigma_zero_with_ties_are_finite(gen):
    """x0 = 0 (or x_t orthogonal to the orbit) at sigma = 0: every orbit point is equally near, the target is their
    mean 0; sign(0) * inf used to make the Reflection form NaN. Checked against the exact finite sum."""
    zero = torch.zeros(3, 2, dtype=F64)
    xt = torch.randn(3, 2, generator=gen, dtype=F64)
    for x0, x_t in ((zero, xt), (xt, zero)):
        got = closed_form_target(x0, x_t, 1.0, 0.0, Reflection(2))
        exact = orbit_target(x0, x_t, 1.0, 0.0, Reflection(2), num_samples=None).target
        assert torch.isfinite(got).all() and torch.equal(got, torch.zeros_like(got))
        assert torch.allclose(got, exact, atol=1e-15)
    x0 = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=F64)
    x_t = torch.tensor([[0.0, 1.0], [-1.0, 0.0]], dtype=F64)  # <x0, x_t> = 0: +-x0 tie
    assert torch.equal(closed_form_target(x0, x_t, 0.8, 0.0, Reflection(2)), torch.zeros(2, 2, dtype=F64))
    # SO(2): x_t = 0 is equally far from the whole orbit (mean 0); SO(3): alpha = 0 makes x_t uninformative
    assert torch.equal(closed_form_target(xt, zero, 1.0, 0.0, SO2()), torch.zeros(3, 2, dtype=F64))
    one = torch.tensor([[1.0, 2.0, 2.0]], dtype=F64)
    assert torch.equal(closed_form_target(one, one, 0.0, 0.0, SO3()), torch.zeros(1, 3, dtype=F64))
    # no tie: still the nearest orbit point
    assert torch.equal(closed_form_target(xt, xt, 1.0, 0.0, Reflection(2)), xt)
    assert torch.allclose(closed_form_target(xt, xt, 1.0, 0.0, SO2()), xt, atol=1e-12)
