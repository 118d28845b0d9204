"""Schedules, forward noising and samplers."""

import math

import pytest
import torch

from symviz.diffusion import VPSchedule, add_noise, ancestral_sample, center, ddim_sample

F64 = torch.float64


@pytest.mark.parametrize("kind", VPSchedule.KINDS)
def test_variance_preserving(kind):
    s = VPSchedule(kind)
    t = torch.linspace(0, 1, 101, dtype=F64)
    a, sg = s.alpha_sigma(t)
    assert torch.allclose(a**2 + sg**2, torch.ones_like(t), atol=1e-12)
    assert (a[1:] <= a[:-1] + 1e-12).all(), "alpha must decrease"
    assert ((a >= 0) & (a <= 1)).all()


def test_schedule_endpoints_and_toy1d_grid():
    c = VPSchedule("cosine")
    assert float(c.alpha(torch.tensor(0.0))) == pytest.approx(1.0) and float(c.sigma(torch.tensor(0.0))) == 0.0
    assert float(c.alpha(torch.tensor(1.0))) == 0.0 and float(c.sigma(torch.tensor(1.0))) == 1.0
    toy = VPSchedule("toy1d")  # docs/theory.md#groups-per-experiment: sigma = linspace(0.01, 0.999, 100) at t = i / 99
    i = torch.arange(100, dtype=F64)
    assert torch.allclose(toy.sigma(i / 99), torch.linspace(0.01, 0.999, 100, dtype=F64), atol=1e-12)
    lin = VPSchedule("linear")
    assert float(lin.alpha(torch.tensor(1.0))) == pytest.approx(math.exp(-0.5 * (0.1 + 0.5 * 19.9)), rel=1e-6)


def test_add_noise_moments_and_centering(gen):
    s = VPSchedule()
    x0 = center(torch.randn(5, 2, generator=gen, dtype=F64)).expand(40000, 5, 2)
    t = torch.full((40000,), 0.5, dtype=F64)
    xt, eps = add_noise(x0, t, s, generator=gen)
    a, sg = s.alpha_sigma(torch.tensor(0.5, dtype=F64))
    assert torch.allclose(xt, a * x0 + sg * eps)
    assert eps.mean(-2).abs().max() < 1e-12  # centred noise: zero centre of mass
    # centred noise has covariance (I - 11^T/n) per coordinate: variance (n-1)/n
    assert abs(float(eps.var(0).mean()) - 4 / 5) < 0.02
    # single points are not centred
    xt1, eps1 = add_noise(torch.ones(1000, 1, 2), 0.3, s, generator=gen)
    assert eps1.abs().min() > 0 and abs(float(eps1.var()) - 1) < 0.1


def test_add_noise_with_mask(gen):
    x0 = torch.zeros(2, 4, 3)
    mask = torch.tensor([[True, True, True, False], [True, True, False, False]])
    xt, eps = add_noise(x0, torch.tensor([0.5, 0.9]), VPSchedule(), generator=gen, mask=mask)
    assert (eps[~mask] == 0).all()
    com = (eps * mask[..., None]).sum(-2) / mask.sum(-1, keepdim=True)
    assert com.abs().max() < 1e-6


class _GaussianOracle(torch.nn.Module):
    """Exact posterior mean E[x0 | x_t] for data x0 ~ N(m, v I): the optimal x0-predictor."""

    def __init__(self, m, v, sched):
        super().__init__()
        self.m, self.v, self.s = m, v, sched

    def forward(self, x, t):
        a, s = self.s.alpha_sigma(t[0])
        return self.m + a * self.v / (a**2 * self.v + s**2) * (x - a * self.m)


@pytest.mark.parametrize("sampler", [ddim_sample, ancestral_sample])
def test_samplers_recover_a_gaussian(sampler, gen):
    """With the exact denoiser of N(m, v) both samplers must return N(m, v) samples."""
    sched = VPSchedule("cosine")
    m, v = 1.5, 0.25
    net = _GaussianOracle(m, v, sched)
    x = sampler(net, (20000, 1, 1), sched, steps=200, generator=gen, dtype=F64)
    assert abs(float(x.mean()) - m) < 0.02
    assert abs(float(x.var()) - v) < 0.02


def test_ddim_progress_and_custom_times(gen):
    sched = VPSchedule("toy1d")
    net = _GaussianOracle(0.0, 1.0, sched)
    x = ddim_sample(net, (10, 1, 1), sched, times=torch.linspace(1, 0, 11), generator=gen, progress=True)
    assert x.shape == (10, 1, 1) and torch.isfinite(x).all()
    with pytest.raises(ValueError, match="decreasing"):
        ddim_sample(net, (10, 1, 1), sched, times=torch.tensor([0.0, 1.0]))


def test_center_of_an_all_padding_cloud_is_zero_not_nan():
    x = torch.tensor([[[1.0, 2.0], [3.0, 5.0]], [[7.0, 7.0], [1.0, 1.0]]], dtype=F64)
    mask = torch.tensor([[True, True], [False, False]])
    out = center(x, mask)
    assert torch.isfinite(out).all()
    assert torch.equal(out[1], torch.zeros(2, 2, dtype=F64))  # nothing real: nothing left
    assert torch.equal(out[0], torch.tensor([[-1.0, -1.5], [1.0, 1.5]], dtype=F64))  # by hand


def _sigma_reference(kind: str, t: float) -> float:
    """sigma_t = sqrt(1 - alpha_t^2) in float64 from the definitions (accurate to ~1e-7 relative for t >= 1e-7)."""
    if kind == "cosine":
        s = 0.008
        alpha = math.cos(0.5 * math.pi * (t + s) / (1 + s)) / math.cos(0.5 * math.pi * s / (1 + s))
    else:
        alpha = math.exp(-0.5 * (0.1 * t + 0.5 * 19.9 * t * t))
    return math.sqrt(1 - alpha * alpha)


@pytest.mark.parametrize("kind", ["cosine", "linear"])
def test_sigma_is_accurate_in_float32_at_small_t(kind):
    """The float32 sigma used to cancel in sqrt(1 - alpha^2): sigma(1e-6) was 0 and sigma(1e-5) 4 % off."""
    t32 = torch.cat([torch.logspace(-7, 0, 57), torch.tensor([0.3, 0.77, 0.999])]).float()
    got = VPSchedule(kind).sigma(t32)
    want = torch.tensor([_sigma_reference(kind, float(t)) for t in t32], dtype=F64)
    rel = ((got.double() - want).abs() / want).max()
    assert rel < 2e-6, f"largest relative error {float(rel):.2e}"
    got64 = VPSchedule(kind).sigma(t32.double())
    assert ((got64 - want).abs() / want).max() < 1e-6
    a, s = VPSchedule(kind).alpha_sigma(t32.double())
    assert torch.allclose(a**2 + s**2, torch.ones_like(a), atol=1e-13)
