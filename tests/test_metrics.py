"""Metrics against known answers: the equivariance checker, distances, gradient variance."""

import math

import pytest
import torch

from symviz.data.toys import cloud_dataset
from symviz.diffusion import VPSchedule, center
from symviz.groups import SO2, SO3
from symviz.losses import DenoisingLoss
from symviz.metrics import (
    angle_ks,
    equivariance_error,
    gradient_variance,
    mmd,
    sliced_wasserstein,
    tolerance,
    w2_1d,
)
from symviz.nets import TimeMLP


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_equivariance_checker_on_known_functions(dtype, gen):
    x = center(torch.randn(4, 6, 3, generator=gen, dtype=dtype))

    def equi(y):
        return y * y.norm(dim=-1, keepdim=True)

    def not_equi(y):
        return y + torch.tensor([1.0, 0.0, 0.0], dtype=y.dtype)

    assert equivariance_error(equi, x, SO3(), generator=gen) < tolerance(dtype) / 10
    assert equivariance_error(not_equi, x, SO3(), generator=gen) > 0.1
    assert equivariance_error(lambda y: torch.cdist(y, y), x, SO3(), invariant=True, generator=gen) < tolerance(dtype)
    assert equivariance_error(lambda y: y.sum(-2), x, SO3(), invariant=True, generator=gen) > 1e-3


def test_w2_1d_known_answers():
    assert w2_1d(torch.tensor([0.0, 1.0]), torch.tensor([2.0, 1.0])) == pytest.approx(1.0)
    x = torch.randn(1000, dtype=torch.float64)
    assert w2_1d(x, x + 0.5) == pytest.approx(0.5, abs=1e-9)
    # toy-1D protocol: 50k -1 and 50k +1 against itself shifted by 1e-3
    target = torch.cat([-torch.ones(50000), torch.ones(50000)])
    assert w2_1d(target + 1e-3, target) == pytest.approx(1e-3, rel=1e-3)


def test_sliced_wasserstein_known_answers(gen):
    x = torch.randn(4000, 3, generator=gen, dtype=torch.float64)
    assert sliced_wasserstein(x, x, generator=gen) == 0.0
    v = torch.tensor([1.0, 2.0, 2.0], dtype=torch.float64)  # |v| = 3
    sw = sliced_wasserstein(x[:2000], x[:2000] + v, num_projections=1500, generator=gen)
    assert sw == pytest.approx(3 / math.sqrt(3), rel=0.08)  # E<v,u>^2 = |v|^2 / D
    with pytest.raises(ValueError, match="per-sample size"):
        sliced_wasserstein(x, x[:, :2])


def test_mmd_and_angle_ks(gen):
    x = torch.randn(500, 2, generator=gen)
    assert mmd(x, x) == pytest.approx(0.0, abs=1e-12)
    assert mmd(x, x + 2.0) > 0.1
    theta = (torch.arange(1000) + 0.5) / 1000 * 2 * math.pi - math.pi
    ring = torch.stack([theta.cos(), theta.sin()], -1)
    assert angle_ks(ring) < 2e-3
    assert angle_ks(torch.tensor([[1.0, 0.01]]).expand(100, 2)) > 0.45


def test_gradient_variance_matches_a_brute_force_loop(gen):
    torch.manual_seed(0)
    net = TimeMLP(4, 2, hidden=8, depth=1).double()
    data = cloud_dataset(64).double()
    loss = DenoisingLoss(VPSchedule(), "augment", SO2())
    gv = gradient_variance(loss, net, data, [0.5], num_samples=16, generator=torch.Generator().manual_seed(3))
    # brute force with plain autograd on the same draws
    g2 = torch.Generator().manual_seed(3)
    idx = torch.randint(0, 64, (16,), generator=g2)
    batch = loss.sample(data[idx], t=torch.full((16,), 0.5, dtype=torch.float64), generator=g2)
    grads = []
    for i in range(16):
        net.zero_grad()
        pred = net(batch.xt[i : i + 1], batch.t[i : i + 1])
        ((pred - batch.target[i : i + 1]).pow(2).mean() * batch.weight[i]).backward()
        grads.append(torch.cat([p.grad.reshape(-1) for p in net.parameters()]))
    g = torch.stack(grads)
    ref = ((g - g.mean(0)) ** 2).sum() / 15
    assert torch.allclose(gv[0], ref, rtol=1e-9)


def test_theorem_1_orbit_reduces_gradient_variance():
    torch.manual_seed(0)
    net = TimeMLP(4, 2, hidden=32, depth=2)
    data = cloud_dataset(256)
    ts = [0.3, 0.6, 0.9]
    aug = gradient_variance(
        DenoisingLoss(VPSchedule(), "augment", SO2()), net, data, ts, 256, torch.Generator().manual_seed(1)
    )
    orb = gradient_variance(
        DenoisingLoss(VPSchedule(), "orbit", SO2(), num_samples=64),
        net,
        data,
        ts,
        256,
        torch.Generator().manual_seed(1),
    )
    assert (orb < aug).all(), (orb, aug)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_equivariance_checker_reports_non_finite_outputs(bad, gen):
    """A function that returns NaN/Inf must not pass: the error is NaN, so ``err < tol`` is False."""
    x = center(torch.randn(2, 5, 3, generator=gen, dtype=torch.float64))
    calls = []

    def broken_after_first_call(y):  # f(x) is fine, f(g.x) is not
        calls.append(1)
        return y if len(calls) == 1 else torch.full_like(y, bad)

    def broken_everywhere(y):
        return torch.full_like(y, bad)

    for f in (broken_after_first_call, broken_everywhere):
        err = equivariance_error(f, x, SO3(), generator=gen)
        assert math.isnan(err)
        assert not err < tolerance(torch.float64)
    # an invariant check as well
    assert math.isnan(equivariance_error(lambda y: y.sum() * bad, x, SO3(), invariant=True, generator=gen))


def test_gradient_variance_uses_the_losss_own_form_and_net_kwargs():
    """loss_type="norm" and node features: the variance is that of the loss actually trained (it used to be the
    squared loss, and no keyword reached the net). Brute force: autograd per sample with the norm loss by hand."""
    from symviz.nets import EGNN

    torch.manual_seed(0)
    net = EGNN(node_dim=3, hidden=8, layers=2).double()
    n_data, n, m = 32, 5, 12
    gen = torch.Generator().manual_seed(0)
    mask = torch.ones(n_data, n, dtype=torch.bool)
    mask[::3, -2:] = False  # some padded clouds
    data = center(torch.randn(n_data, n, 3, generator=gen, dtype=torch.float64), mask)
    atoms = torch.nn.functional.one_hot(torch.randint(0, 3, (n_data, n), generator=gen), 3).double()
    loss = DenoisingLoss(VPSchedule(), "orbit", SO3(), num_samples=6, loss_type="norm", weighting="snr")
    gv = gradient_variance(loss, net, data, [0.4], num_samples=m, generator=torch.Generator().manual_seed(5),
                           mask=mask, net_kwargs={"node_attr": atoms})  # fmt: skip
    g2 = torch.Generator().manual_seed(5)
    idx = torch.randint(0, n_data, (m,), generator=g2)
    batch = loss.sample(data[idx], t=torch.full((m,), 0.4, dtype=torch.float64), generator=g2, mask=mask[idx])
    grads = []
    for i in range(m):
        net.zero_grad()
        mk = mask[idx][i : i + 1]
        pred = net(batch.xt[i : i + 1], batch.t[i : i + 1], mask=mk, node_attr=atoms[idx][i : i + 1])
        dist = ((pred - batch.target[i : i + 1]) ** 2).sum(-1).add(1e-12).sqrt()  # per point, not squared
        value = batch.weight[i] * (dist * mk).sum() / mk.sum()
        value.backward()
        grads.append(torch.cat([p.grad.reshape(-1) for p in net.parameters() if p.grad is not None]))
    g = torch.stack(grads)
    ref = ((g - g.mean(0)) ** 2).sum() / (m - 1)
    assert torch.allclose(gv[0], ref, rtol=1e-8), (float(gv[0]), float(ref))
    with pytest.raises(ValueError, match="net_kwargs"):
        gradient_variance(loss, net, data, [0.4], num_samples=4, mask=mask, net_kwargs={"node_attr": atoms[:3]})


def test_gradient_variance_with_a_group_per_sample():
    """group_of: each sample's own group (SO(3) x its permutations) reaches loss.sample; brute force agrees, and
    the per-sample group changes the answer (so it is not ignored)."""
    from symviz.groups import Permutations, Product

    torch.manual_seed(0)
    net = TimeMLP(4, 3, hidden=8, depth=1).double()
    n_data, m = 16, 10
    gen = torch.Generator().manual_seed(0)
    data = center(torch.randn(n_data, 4, 3, generator=gen, dtype=torch.float64))
    swaps = torch.tensor([[0, 1, 2, 3], [1, 0, 3, 2]])
    perms = torch.stack([swaps if i % 2 else torch.stack([swaps[0], torch.full((4,), -1)]) for i in range(n_data)])

    def group_of(idx):
        return Product(SO3(), Permutations(perms[idx]))

    loss = DenoisingLoss(VPSchedule(), "orbit", SO3(), num_samples=8)
    gv = gradient_variance(loss, net, data, [0.3], num_samples=m, generator=torch.Generator().manual_seed(2),
                           group_of=group_of)  # fmt: skip
    g2 = torch.Generator().manual_seed(2)
    idx = torch.randint(0, n_data, (m,), generator=g2)
    batch = loss.sample(data[idx], t=torch.full((m,), 0.3, dtype=torch.float64), generator=g2, group=group_of(idx))
    grads = []
    for i in range(m):
        net.zero_grad()
        pred = net(batch.xt[i : i + 1], batch.t[i : i + 1])
        ((pred - batch.target[i : i + 1]).pow(2).mean() * batch.weight[i]).backward()
        grads.append(torch.cat([p.grad.reshape(-1) for p in net.parameters()]))
    g = torch.stack(grads)
    assert torch.allclose(gv[0], ((g - g.mean(0)) ** 2).sum() / (m - 1), rtol=1e-9)
    own = gradient_variance(loss, net, data, [0.3], num_samples=m, generator=torch.Generator().manual_seed(2))
    assert not torch.allclose(own, gv)


def test_gradient_variance_accepts_a_custom_loss_without_group():
    """A user loss with ``sample(x0, t, generator, mask)`` only (as tutorial 05 writes one) still works."""

    class Wrapped:
        def __init__(self, base):
            self.base = base

        def sample(self, x0, t=None, generator=None, mask=None):
            return self.base.sample(x0, t=t, generator=generator, mask=mask)

        def per_sample(self, pred, batch):
            return self.base.per_sample(pred, batch)

    torch.manual_seed(0)
    net = TimeMLP(4, 2, hidden=8, depth=1).double()
    data = cloud_dataset(32).double()
    base = DenoisingLoss(VPSchedule(), "augment", SO2())
    got = gradient_variance(Wrapped(base), net, data, [0.5], num_samples=8, generator=torch.Generator().manual_seed(1))
    ref = gradient_variance(base, net, data, [0.5], num_samples=8, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(got, ref)
