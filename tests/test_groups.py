"""Group actions are actions: orthogonal, norm-preserving, compatible with composition, Haar-distributed."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from symviz.data.toys import cloud_dataset, symmetrize
from symviz.groups import O2, O3, SO2, SO3, Cyclic, Dihedral, Permutations, Product, Reflection

MATRIX_GROUPS = [
    Reflection(1),
    Reflection(2),
    Reflection(3),
    Cyclic(5),
    Dihedral(4),
    SO2(),
    O2(),
    SO3(),
    O3(),
]
FINITE = [Reflection(1), Reflection(3), Cyclic(1), Cyclic(6), Dihedral(3), Dihedral(4)]
DET = {
    "SO2": [1.0],
    "SO3": [1.0],
    "Cyclic": [1.0],
    "O2": [-1.0, 1.0],
    "O3": [-1.0, 1.0],
    "Dihedral": [-1.0, 1.0],
}


def _rand(shape, seed):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("G", MATRIX_GROUPS, ids=repr)
def test_matrices_orthogonal_with_right_determinant(G, gen):
    g = G.sample(200, generator=gen, dtype=torch.float64)
    eye = torch.eye(G.dim, dtype=torch.float64)
    assert torch.allclose(g @ g.transpose(-1, -2), eye.expand_as(g), atol=1e-12)
    dets = torch.linalg.det(g)
    allowed = DET.get(type(G).__name__)
    if allowed is not None:
        assert all(min(abs(float(x) - a) for a in allowed) < 1e-10 for x in dets)
    if isinstance(G, (O2, O3, Dihedral)):  # both components are hit
        assert (dets < 0).any() and (dets > 0).any()


@pytest.mark.parametrize("G", MATRIX_GROUPS, ids=repr)
@given(seed=st.integers(0, 10_000))
def test_action_axioms(G, seed):
    gen = torch.Generator().manual_seed(seed)
    g, h = G.sample(3, generator=gen, dtype=torch.float64), G.sample(3, generator=gen, dtype=torch.float64)
    x = _rand((3, 7, G.dim), seed)
    # norms and pairwise distances preserved
    assert torch.allclose(G.act(g, x).norm(dim=-1), x.norm(dim=-1), atol=1e-12)
    assert torch.allclose(torch.cdist(G.act(g, x), G.act(g, x)), torch.cdist(x, x), atol=1e-10)
    # compatibility with composition, identity, inverse
    assert torch.allclose(G.act(G.compose(g, h), x), G.act(g, G.act(h, x)), atol=1e-12)
    assert torch.allclose(G.act(G.identity(3, dtype=torch.float64), x), x)
    assert torch.allclose(G.act(G.inverse(g), G.act(g, x)), x, atol=1e-12)
    # linearity: the action is x -> R x per point
    assert torch.allclose(G.act(g, x)[:, 2], (g @ x[:, 2].unsqueeze(-1)).squeeze(-1), atol=1e-12)


def _rowsum_bug_act(g, x):
    """The reference code's einsum (docs/theory.md#rotation-einsum): scales axis p by sum_q R[p, q] instead of
    rotating."""
    return torch.einsum("...np,...pq->...np", x, g)


def _action_checks(act, G, gen):
    g = G.sample(8, generator=gen, dtype=torch.float64)
    h = G.sample(8, generator=gen, dtype=torch.float64)
    x = torch.randn(8, 6, G.dim, generator=gen, dtype=torch.float64)
    norms = torch.allclose(act(g, x).norm(dim=-1), x.norm(dim=-1), atol=1e-9)
    comp = torch.allclose(act(G.compose(g, h), x), act(g, act(h, x)), atol=1e-9)
    return norms and comp


@pytest.mark.parametrize("G", [SO2(), SO3(), O3()], ids=repr)
def test_rowsum_einsum_bug_is_caught(G, gen):
    """Named regression test: the 'scale by row sums of R' pseudo-action fails our action checks."""
    assert _action_checks(G.act, G, gen)
    assert not _action_checks(_rowsum_bug_act, G, gen)
    g = G.sample(1, generator=gen, dtype=torch.float64)
    x = torch.randn(1, 4, G.dim, generator=gen, dtype=torch.float64)
    assert not torch.allclose(G.act(g, x), _rowsum_bug_act(g, x), atol=1e-3)
    # R x != diag(rowsum R) x, and the identity slot is the only place where they agree
    e = G.identity(1, dtype=torch.float64)
    assert torch.allclose(G.act(e, x), _rowsum_bug_act(e, x))


@pytest.mark.parametrize("G", FINITE, ids=repr)
def test_finite_groups_closed_with_identity_first(G):
    el = G.elements(dtype=torch.float64)
    assert el.shape[0] == G.order
    assert torch.allclose(el[0], torch.eye(G.dim, dtype=torch.float64))
    prods = (el[:, None] @ el[None, :]).reshape(-1, G.dim, G.dim)
    dist = (prods[:, None] - el[None]).abs().amax((-1, -2))
    assert (dist.min(1).values < 1e-12).all(), "product left the group"
    assert torch.unique(el.round(decimals=9), dim=0).shape[0] == G.order  # no duplicates


@pytest.mark.parametrize("G", FINITE, ids=repr)
def test_finite_sampling_is_uniform(G, gen):
    g = G.sample(6000, generator=gen, dtype=torch.float64)
    el = G.elements(dtype=torch.float64)
    idx = (g[:, None] - el[None]).abs().amax((-1, -2)).argmin(1)
    freq = torch.bincount(idx, minlength=G.order).double() / 6000
    assert (freq - 1 / G.order).abs().max() < 4 * math.sqrt(1 / G.order / 6000) + 1e-3


@pytest.mark.parametrize("G", [SO2(), O2(), SO3(), O3()], ids=repr)
def test_haar_moments(G, gen):
    n = 20000
    g = G.sample(n, generator=gen, dtype=torch.float64)
    se = 1 / math.sqrt(n)
    assert g.mean(0).abs().max() < 5 * se  # E[R] = 0
    assert ((g**2).mean(0) - 1 / G.dim).abs().max() < 6 * se  # E[R_ij^2] = 1/d


def test_so3_haar_is_conjugation_invariant(gen):
    """Haar: the law of the rotation angle is (1 - cos w)/pi; E[tr R] = 0 and E[tr(R)^2] = 1."""
    g = SO3().sample(20000, generator=gen, dtype=torch.float64)
    tr = g.diagonal(dim1=-1, dim2=-2).sum(-1)
    assert abs(float(tr.mean())) < 0.04
    assert abs(float((tr**2).mean()) - 1.0) < 0.05


def test_so2_grid_is_exact_quadrature():
    grid = SO2().grid(16, dtype=torch.float64)
    # int cos(k theta) dtheta/2pi = 0 for 0 < k < 16
    th = torch.atan2(grid[:, 1, 0], grid[:, 0, 0])
    for k in range(1, 16):
        assert abs(float(torch.cos(k * th).mean())) < 1e-14


# -- permutations and products ----------------------------------------------------------------


def _sym3():
    import itertools

    return torch.tensor(list(itertools.permutations(range(3))))


def test_permutations_action_axioms(gen):
    P = Permutations(_sym3())
    assert P.order == 6 and P.is_closed()
    assert (P.elements()[0] == torch.arange(3)).all()
    x = torch.randn(5, 3, 2, generator=gen)
    p, q = P.sample(5, generator=gen), P.sample(5, generator=gen)
    assert torch.equal(P.act(P.compose(p, q), x), P.act(p, P.act(q, x)))
    assert torch.equal(P.act(P.inverse(p), P.act(p, x)), x)
    assert torch.equal(P.act(p, x)[0, 1], x[0, p[0, 1]])


def test_permutations_validation():
    with pytest.raises(ValueError, match="identity"):
        Permutations(torch.tensor([[1, 0, 2]]))
    with pytest.raises(ValueError, match="permutation"):
        Permutations(torch.tensor([[0, 1, 2], [0, 0, 2]]))
    with pytest.raises(ValueError, match="duplicate"):
        Permutations(torch.tensor([[0, 1], [1, 0], [1, 0]]))
    with pytest.raises(TypeError):
        Permutations(torch.tensor([[0.0, 1.0]]))
    assert not Permutations(torch.tensor([[0, 1, 2], [1, 2, 0]])).is_closed()


def test_batched_permutations_with_padding(gen):
    perms = torch.tensor([[[0, 1, 2], [1, 0, 2]], [[0, 1, 2], [-1, -1, -1]]])
    P = Permutations(perms)
    assert P.batch_shape == (2,) and P.counts.tolist() == [2, 1]
    s = P.sample(50, generator=gen)
    assert s.shape == (2, 50, 3)
    assert (s[1] == torch.arange(3)).all()  # the padded group only has the identity
    assert P.element_mask(P.elements()).tolist() == [[True, True], [True, False]]


def test_product_group(gen):
    G = Product(SO3(), Permutations(_sym3()))
    assert G.dim == 3 and G.num_points == 3 and not G.is_finite
    x = torch.randn(4, 3, 3, generator=gen, dtype=torch.float64)
    g, h = G.sample(4, generator=gen, dtype=torch.float64), G.sample(4, generator=gen, dtype=torch.float64)
    assert torch.allclose(G.act(G.compose(g, h), x), G.act(g, G.act(h, x)), atol=1e-12)
    assert torch.allclose(G.act(G.inverse(g), G.act(g, x)), x, atol=1e-12)
    F = Product(Cyclic(4), Permutations(_sym3()))
    el = F.elements(dtype=torch.float64)
    assert F.is_finite and F.order == 24 and el[0].shape == (24, 2, 2) and el[1].shape == (24, 3)
    assert torch.allclose(el[0][0], torch.eye(2, dtype=torch.float64)) and (el[1][0] == torch.arange(3)).all()


def test_continuous_groups_have_no_elements():
    with pytest.raises(TypeError, match="continuous"):
        SO3().elements()
    with pytest.raises(TypeError):
        _ = SO2().order


def test_sample_like_gives_one_element_per_cloud(gen):
    g = SO3().sample_like((4, 5), generator=gen)
    assert g.shape == (4, 5, 3, 3)
    x = symmetrize(cloud_dataset(7), SO2(), generator=gen)
    assert x.shape == (7, 4, 2)
    assert torch.allclose(torch.cdist(x, x), torch.cdist(cloud_dataset(7), cloud_dataset(7)), atol=1e-5)


@pytest.mark.parametrize("bad", [0, -1, 2.5, "3"])
def test_bad_group_sizes(bad):
    with pytest.raises((ValueError, TypeError)):
        Cyclic(bad)


def test_take_selects_validated_per_cloud_groups_without_rebuilding():
    perms = torch.tensor(
        [
            [[0, 1, 2], [0, 2, 1], [-1, -1, -1]],
            [[1, 0, 2], [0, 1, 2], [-1, -1, -1]],
            [[0, 1, 2], [-1, -1, -1], [-1, -1, -1]],
        ]
    )
    table = Permutations(perms)
    idx = torch.tensor([2, 0, 1, 1])
    taken, rebuilt = table.take(idx), Permutations(perms[idx])
    assert torch.equal(taken.perms, rebuilt.perms) and torch.equal(taken.counts, rebuilt.counts)
    x = torch.randn(4, 3, 2)
    g = taken.sample_per_cloud((4,), 5, generator=torch.Generator().manual_seed(0))
    h = rebuilt.sample_per_cloud((4,), 5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(taken.act(g, x[:, None]), rebuilt.act(h, x[:, None]))
    with pytest.raises(TypeError, match="batched"):
        Permutations(perms[0]).take(idx)


@pytest.mark.parametrize("G", [*MATRIX_GROUPS, Permutations(torch.tensor([[0, 1, 2], [1, 2, 0], [2, 0, 1]]))], ids=repr)
def test_sample_rejects_bad_counts_and_accepts_zero(G):
    with pytest.raises(ValueError, match=r"k \(the number of group elements\) must be >= 0; got -1"):
        G.sample(-1)
    for bad in (2.5, 2.0, "3", True, None):
        with pytest.raises(TypeError, match="must be an integer >= 0"):
            G.sample(bad)
    assert G.sample(0).shape[0] == 0
    assert G.sample(torch.tensor(3)).shape[0] == 3  # 0-d integer tensors are integers


@pytest.mark.parametrize("G", MATRIX_GROUPS, ids=repr)
def test_matrix_action_promotes_integer_clouds(G, gen):
    """An integer cloud must not round the rotation matrices to integers (which gave zeros)."""
    x_int = torch.randint(-5, 6, (3, 4, G.dim), generator=gen)
    g = G.sample(3, generator=gen, dtype=torch.float64)
    got = G.act(g, x_int)
    want = torch.einsum("bij,bnj->bni", g, x_int.double())  # R x_i, computed independently in float64
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    # with integer elements as well (e.g. Reflection as +-1 matrices), the default float dtype is used
    assert G.act(G.identity(1, dtype=torch.int64)[0], x_int).dtype == torch.get_default_dtype()
    assert torch.equal(G.act(G.identity(1, dtype=torch.int64)[0], x_int), x_int.to(torch.get_default_dtype()))
