"""Denoising losses: the constant offset of Theorem 1 / §3.4, P4, modes and parameterizations."""

import math

import pytest
import torch

from symviz.data.toys import cloud_dataset
from symviz.diffusion import VPSchedule
from symviz.groups import SO2, Cyclic
from symviz.losses import DenoisingBatch, DenoisingLoss
from symviz.nets import TimeMLP


def _nets():
    out = []
    for seed in (0, 1, 2):
        torch.manual_seed(seed)
        out.append(TimeMLP(4, 2, hidden=32, depth=2).double())
    out.append(lambda x, t: torch.zeros_like(x))
    return out


@pytest.mark.parametrize("group, k", [(Cyclic(6), None), (SO2(), 8)], ids=["C6-exact", "SO2-K8"])
def test_augment_minus_orbit_is_network_independent(group, k):
    """docs/theory.md#loss-offset: L_aug(phi) - L_orbit(phi) = E||x0 - E[x0|x_t]||^2 for every phi (common random
    numbers)."""
    sched = VPSchedule()
    x0 = cloud_dataset(20000).double()
    aug = DenoisingLoss(sched, "augment", group)
    orb = DenoisingLoss(sched, "orbit", group, num_samples=k)
    offsets, ses = [], []
    for net in _nets():
        with torch.no_grad():
            la = aug(net, x0, generator=torch.Generator().manual_seed(5))
            lo = orb(net, x0, generator=torch.Generator().manual_seed(5))
        d = la - lo
        offsets.append(float(d.mean()))
        ses.append(float(d.std()) / math.sqrt(len(d)))
    assert min(offsets) > 0.01, "the offset (the removed variance) should be clearly positive"
    for o, s in zip(offsets, ses):
        assert abs(o - offsets[-1]) < 4 * math.hypot(s, ses[-1]) + 1e-4, offsets


def test_same_draws_give_same_x0_and_xt_across_modes():
    sched = VPSchedule()
    x0 = cloud_dataset(16)
    b1 = DenoisingLoss(sched, "augment", SO2()).sample(x0, generator=torch.Generator().manual_seed(1))
    b2 = DenoisingLoss(sched, "orbit", SO2(), num_samples=4).sample(x0, generator=torch.Generator().manual_seed(1))
    assert torch.equal(b1.x0, b2.x0) and torch.equal(b1.xt, b2.xt)


def test_squared_loss_gradient_is_the_weighted_candidate_gradient_p4(gen):
    """For the squared loss grad(||p - sum_k w_k c_k||^2) = sum_k w_k grad(||p - c_k||^2); not for the norm loss."""
    w = torch.softmax(torch.randn(5, generator=gen, dtype=torch.float64), 0)
    cands = torch.randn(5, 1, 3, 2, generator=gen, dtype=torch.float64)
    target = (w[:, None, None, None] * cands).sum(0)
    pred = torch.randn(1, 3, 2, generator=gen, dtype=torch.float64)

    def grad_of(loss, tgt):
        p = pred.clone().requires_grad_(True)
        batch = DenoisingBatch(x0=tgt, xt=tgt, t=torch.zeros(1), target=tgt, weight=torch.ones(1, dtype=torch.float64))
        (g,) = torch.autograd.grad(loss.per_sample(p, batch).sum(), p)
        return g

    for loss_type, should_match in [("squared", True), ("norm", False)]:
        loss = DenoisingLoss(VPSchedule(), loss_type=loss_type)
        g_avg_target = grad_of(loss, target)
        g_avg_grad = sum(wi * grad_of(loss, c) for wi, c in zip(w, cands))
        assert torch.allclose(g_avg_target, g_avg_grad, atol=1e-12) == should_match


def test_modes_targets(gen):
    sched = VPSchedule()
    x0 = cloud_dataset(64)
    plain = DenoisingLoss(sched, "plain").sample(x0, generator=gen)
    assert torch.equal(plain.target, x0)
    aug = DenoisingLoss(sched, "augment", SO2()).sample(x0, generator=gen)
    assert torch.allclose(aug.target.norm(dim=-1), x0.norm(dim=-1), atol=1e-5)
    assert not torch.allclose(aug.target, x0)
    orb = DenoisingLoss(sched, "orbit", SO2(), num_samples=32).sample(x0, t=torch.full((64,), 1e-3), generator=gen)
    assert (orb.target - orb.x0).abs().max() < 0.05  # low noise: the target is (nearly) the generating sample
    hi = DenoisingLoss(sched, "orbit", SO2(), num_samples=256).sample(x0, t=torch.full((64,), 0.999), generator=gen)
    assert hi.target.norm(dim=-1).mean() < 0.5 * x0.norm(dim=-1).mean()  # high noise: shrinks to the orbit mean 0
    assert hi.ess.mean() > 100


def test_eps_parameterization_and_weighting(gen):
    sched = VPSchedule()
    x0 = cloud_dataset(32)
    t = torch.full((32,), 0.4)
    b = DenoisingLoss(sched, "plain", parameterization="eps").sample(
        x0, t=t, generator=torch.Generator().manual_seed(2)
    )
    a, s = sched.alpha_sigma(t[0])
    assert torch.allclose(b.xt, a * x0 + s * b.target, atol=1e-6)
    o = DenoisingLoss(sched, "orbit", SO2(), num_samples=8, parameterization="eps").sample(x0, t=t, generator=gen)
    x0_hat = (o.xt - s * o.target) / a  # the implied x0 target is the orbit average, an orbit-mean shrink of x0
    assert torch.isfinite(x0_hat).all() and (x0_hat.norm(dim=-1) <= o.x0.norm(dim=-1) + 1e-4).all()
    snr = DenoisingLoss(sched, weighting="snr").sample(x0, t=t)
    assert torch.allclose(snr.weight, (a / s) ** 2 * torch.ones(32))
    custom = DenoisingLoss(sched, weighting=lambda tt: 2 * tt).sample(x0, t=t)
    assert torch.allclose(custom.weight, 0.8 * torch.ones(32))


def test_loss_is_unreduced_and_differentiable():
    net = TimeMLP(4, 2, hidden=16, depth=1)
    loss = DenoisingLoss(VPSchedule(), "orbit", SO2(), num_samples=4)(net, cloud_dataset(10))
    assert loss.shape == (10,) and (loss >= 0).all()
    loss.mean().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_masked_loss_ignores_padding(gen):
    x0 = cloud_dataset(8)
    pad = torch.cat([x0, torch.zeros(8, 2, 2)], 1)
    mask = torch.tensor([True] * 4 + [False] * 2).expand(8, 6)

    def net(x, t, mask=None):
        return torch.zeros_like(x)

    loss = DenoisingLoss(VPSchedule(), "orbit", SO2(), num_samples=4)
    a = loss(net, pad, t=torch.full((8,), 0.3), generator=torch.Generator().manual_seed(0), mask=mask)
    assert torch.isfinite(a).all() and a.shape == (8,)
    # zero net: the loss is the mean squared target over real points only
    b = loss.sample(pad, t=torch.full((8,), 0.3), generator=torch.Generator().manual_seed(0), mask=mask)
    assert torch.allclose(a, b.target[:, :4].pow(2).mean((-1, -2)), atol=1e-6)
