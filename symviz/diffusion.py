"""Variance-preserving diffusion: schedules, forward noising and samplers for x0-predicting networks.

Forward kernel (arXiv 2502.09890 §2–3, Eq. 2; docs/theory.md#setting): ``q(x_t | x0) = N(alpha_t x0, sigma_t^2 I)``
with ``alpha_t^2 + sigma_t^2 = 1``, ``t in [0, 1]`` (t = 0 data, t = 1 noise). For point clouds with ``n > 1`` the
noise is centred (zero centre of mass, docs/theory.md#centering): a VP kernel is not translation-equivariant, so
translations are removed.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from symviz._checks import check_mask, check_point_cloud, check_positive_int, check_unit_interval

__all__ = ["VPSchedule", "add_noise", "center", "ddim_sample", "ancestral_sample"]


class VPSchedule:
    """A variance-preserving noise schedule ``t -> (alpha_t, sigma_t)`` on ``t in [0, 1]``.

    Args:
        kind: ``"cosine"`` (default; Nichol & Dhariwal with offset ``s = 0.008``, ``alpha_1 = 0``),
            ``"linear"`` (continuous-time DDPM, ``beta`` from 0.1 to 20) or ``"toy1d"``
            (arXiv 2502.09890 §4.1, docs/theory.md#groups-per-experiment: the 1D toy's
            ``sigma = linspace(0.01, 0.999, 100)`` made continuous: ``sigma_t = 0.01 + 0.989 t``).
    """

    KINDS = ("cosine", "linear", "toy1d")

    def __init__(self, kind: str = "cosine"):
        if kind not in self.KINDS:
            raise ValueError(f"VPSchedule kind must be one of {self.KINDS}; got {kind!r}")
        self.kind = kind

    _S = 0.008  # the cosine schedule's offset s

    def alpha(self, t) -> torch.Tensor:
        """Signal scale ``alpha_t``, same shape as ``t``."""
        t = check_unit_interval(t, "t")
        if self.kind == "cosine":
            s = self._S
            f = torch.cos(0.5 * math.pi * (t + s) / (1 + s)) / math.cos(0.5 * math.pi * s / (1 + s))
            return torch.where(t >= 1, torch.zeros_like(t), f.clamp(0.0, 1.0))
        if self.kind == "linear":
            return torch.exp(-0.5 * self._linear_exponent(t))
        return torch.sqrt(1 - self.sigma(t) ** 2)

    @staticmethod
    def _linear_exponent(t):
        """``int_0^t beta = b0 t + (b1 - b0) t^2 / 2`` of the linear schedule, so that ``alpha = exp(-it / 2)``."""
        b0, b1 = 0.1, 20.0
        return b0 * t + 0.5 * (b1 - b0) * t**2

    def sigma(self, t) -> torch.Tensor:
        """Noise scale ``sigma_t = sqrt(1 - alpha_t^2)``, same shape as ``t``.

        Computed without the cancellation of ``1 - alpha^2`` at small t (which gave sigma(1e-6) = 0 and a 4 %
        error at 1e-5 in float32): for ``cosine``, with ``theta = pi/2 (t + s)/(1 + s)`` and ``theta_0`` its
        value at t = 0, ``cos^2 theta_0 - cos^2 theta = sin(theta - theta_0) sin(theta + theta_0)``, and
        ``theta - theta_0 = pi/2 t/(1 + s)`` is exact; for ``linear``, ``1 - alpha^2 = -expm1(-int beta)``.
        """
        t = check_unit_interval(t, "t")
        if self.kind == "toy1d":
            return 0.01 + 0.989 * t
        if self.kind == "linear":
            return torch.sqrt(-torch.expm1(-self._linear_exponent(t)))
        s = self._S
        theta0 = 0.5 * math.pi * s / (1 + s)
        diff = (0.5 * math.pi / (1 + s)) * t  # theta - theta_0
        sq = torch.sin(diff) * torch.sin(diff + 2 * theta0)  # cos^2 theta_0 - cos^2 theta
        out = torch.sqrt(sq.clamp_min(0.0)) / math.cos(theta0)
        return torch.where(t >= 1, torch.ones_like(t), out.clamp(0.0, 1.0))

    def alpha_sigma(self, t) -> tuple[torch.Tensor, torch.Tensor]:
        return self.alpha(t), self.sigma(t)

    def snr(self, t) -> torch.Tensor:
        """Signal-to-noise ratio ``alpha_t^2 / sigma_t^2`` (inf at sigma = 0)."""
        a, s = self.alpha_sigma(t)
        return a**2 / s**2

    def __repr__(self):
        return f"VPSchedule({self.kind!r})"


def center(x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Subtract the centre of mass over the points axis; padded points (mask False) stay 0.

    Args:
        x: ``(..., n, d)``. mask: ``(..., n)`` bool or None.
    Returns:
        ``(..., n, d)``. A cloud whose points are all padding has no centre of mass; it comes back as zeros
        (not NaN from 0 / 0).
    """
    if mask is None:
        return x - x.mean(dim=-2, keepdim=True)
    m = mask.unsqueeze(-1).to(x.dtype)
    com = (x * m).sum(-2, keepdim=True) / m.sum(-2, keepdim=True).clamp_min(1)
    return (x - com) * m


def _expand_time(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Shape a per-cloud quantity ``(...)`` to broadcast against ``(..., n, d)``."""
    v = v.to(x.dtype)
    lead = x.dim() - 2
    if v.dim() > lead:
        raise ValueError(
            f"t has shape {tuple(v.shape)} but the data {tuple(x.shape)} only has {lead} leading batch dim(s); "
            f"pass one t per point cloud"
        )
    return v.reshape(*v.shape, 1, 1)


def add_noise(
    x0,
    t,
    schedule: VPSchedule,
    generator: torch.Generator | None = None,
    mask: torch.Tensor | None = None,
    centered: bool | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``x_t = alpha_t x0 + sigma_t eps`` (the forward kernel).

    Args:
        x0: ``(..., n, d)`` clean data. t: scalar or ``(...)``, in [0, 1].
        mask: ``(..., n)`` bool, True = real point; padded points get no noise.
        centered: centre the noise (zero centre of mass). Default: True when ``n > 1``.
    Returns:
        ``(xt, eps)``, both ``(..., n, d)``.
    """
    x0 = check_point_cloud(x0, "x0")
    t = check_unit_interval(t, "t")
    mask = check_mask(mask, x0)
    a, s = (_expand_time(v, x0) for v in schedule.alpha_sigma(t))
    eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
    if centered is None:
        centered = x0.shape[-2] > 1
    if centered:
        eps = center(eps, mask)
    elif mask is not None:
        eps = eps * mask.unsqueeze(-1)
    return a * x0 + s * eps, eps


def _time_grid(steps: int, times) -> torch.Tensor:
    if times is not None:
        tg = check_unit_interval(times, "times").to(torch.float64)
        if tg.dim() != 1 or tg.numel() < 2 or not (tg[1:] < tg[:-1]).all():
            raise ValueError("times must be a 1D decreasing sequence of at least 2 values in [0, 1]")
        return tg
    steps = check_positive_int(steps, "steps")
    return torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64)


def _prior(shape, generator, dtype, device, mask, centered):
    x = torch.randn(shape, generator=generator, dtype=dtype, device=device)
    if centered is None:
        centered = shape[-2] > 1
    if centered:
        return center(x, mask)
    return x if mask is None else x * mask.unsqueeze(-1)


Net = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _sample_device(device, generator, x_init) -> torch.device:
    if device is not None:
        return torch.device(device)
    if x_init is not None:
        return x_init.device
    return generator.device if generator is not None else torch.device("cpu")


def _net_kwargs(mask, net_kwargs: dict) -> dict:
    """What every network call gets: ``mask=`` for padded clouds, plus the caller's keyword arguments."""
    return dict(net_kwargs) if mask is None else {"mask": mask, **net_kwargs}


def _progress(it, progress: bool, desc: str):
    if not progress:
        return it
    from tqdm.auto import tqdm

    return tqdm(it, desc=desc, leave=False)


@torch.no_grad()
def ddim_sample(
    net: Net,
    shape: tuple[int, ...],
    schedule: VPSchedule,
    steps: int = 50,
    generator: torch.Generator | None = None,
    x_init: torch.Tensor | None = None,
    times=None,
    mask: torch.Tensor | None = None,
    centered: bool | None = None,
    progress: bool = False,
    dtype=None,
    device=None,
    callback=None,
    **net_kwargs,
) -> torch.Tensor:
    """Deterministic DDIM (eta = 0) for an x0-predicting ``net(x_t, t) -> x0_hat``.

    Update (docs/theory.md#sampling): ``x0_hat = net(x, t)``, ``eps_hat = (x - alpha_t x0_hat) / sigma_t``,
    ``x <- alpha_s x0_hat + sigma_s eps_hat``. Returns ``x0_hat`` at the last time.

    Args:
        shape: ``(B, n, d)`` of the samples. steps: number of steps on ``linspace(1, 0, steps + 1)``,
            or give ``times`` (decreasing, in [0, 1]). x_init: start instead of the prior draw.
        device: where to sample (default: ``x_init``'s device, else the generator's, else the CPU).
        mask: ``(B, n)`` real points of padded clouds: the prior is centred over them, and ``net`` gets
            ``mask=mask``. net_kwargs: passed to every ``net`` call (e.g. ``node_attr=``, ``edge_attr=``).
        progress: a tqdm bar over the steps. callback: called as ``callback(t, x_t, x0_hat)`` at every step
            (before the update), e.g. to record the reverse trajectory.
        ``t`` is passed to ``net`` as a ``(B,)`` tensor on that device.
    """
    tg = _time_grid(steps, times)
    dtype = dtype or torch.get_default_dtype()
    device = _sample_device(device, generator, x_init)
    tg = tg.to(device)
    x = _prior(shape, generator, dtype, device, mask, centered) if x_init is None else x_init.clone()
    b = x.shape[0]
    x0_hat = x
    kw = _net_kwargs(mask, net_kwargs)
    for i in _progress(range(len(tg) - 1), progress, "DDIM"):
        t, s = tg[i].to(dtype), tg[i + 1].to(dtype)
        x0_hat = net(x, t.expand(b), **kw)
        if callback is not None:
            callback(float(t), x, x0_hat)
        a_t, s_t = schedule.alpha_sigma(t)
        a_s, s_s = schedule.alpha_sigma(s)
        eps_hat = (x - a_t * x0_hat) / s_t.clamp_min(1e-12)
        x = a_s * x0_hat + s_s * eps_hat
    return x0_hat if tg[-1] == 0 else x


@torch.no_grad()
def ancestral_sample(
    net: Net,
    shape: tuple[int, ...],
    schedule: VPSchedule,
    steps: int = 100,
    generator: torch.Generator | None = None,
    times=None,
    mask: torch.Tensor | None = None,
    centered: bool | None = None,
    progress: bool = False,
    dtype=None,
    device=None,
    **net_kwargs,
) -> torch.Tensor:
    """Ancestral (DDPM) sampling from the Gaussian posterior ``q(x_s | x_t, x0 = net(x_t, t))``.

    With ``alpha_ts = alpha_t / alpha_s`` and ``sigma_ts^2 = sigma_t^2 - alpha_ts^2 sigma_s^2``:
    mean ``= (alpha_ts sigma_s^2 x_t + alpha_s sigma_ts^2 x0_hat) / sigma_t^2``,
    variance ``= sigma_ts^2 sigma_s^2 / sigma_t^2``. Returns ``x0_hat`` at the last step (t -> 0).
    ``device``: where to sample (default: the generator's device, else the CPU). ``mask`` and ``net_kwargs``
    reach the network as in :func:`ddim_sample`.
    """
    tg = _time_grid(steps, times)
    dtype = dtype or torch.get_default_dtype()
    device = _sample_device(device, generator, None)
    tg = tg.to(device)
    x = _prior(shape, generator, dtype, device, mask, centered)
    b = x.shape[0]
    x0_hat = x
    kw = _net_kwargs(mask, net_kwargs)
    for i in _progress(range(len(tg) - 1), progress, "ancestral"):
        t, s = tg[i].to(dtype), tg[i + 1].to(dtype)
        x0_hat = net(x, t.expand(b), **kw)
        a_t, s_t = schedule.alpha_sigma(t)
        a_s, s_s = schedule.alpha_sigma(s)
        if s == 0:
            x = x0_hat
            break
        a_ts = a_t / a_s
        var_ts = (s_t**2 - a_ts**2 * s_s**2).clamp_min(0.0)
        s_t2 = (s_t**2).clamp_min(1e-12)
        mean = (a_ts * s_s**2 * x + a_s * var_ts * x0_hat) / s_t2
        noise = _prior(x.shape, generator, dtype, x.device, mask, centered)
        x = mean + torch.sqrt(var_ts * s_s**2 / s_t2) * noise
    return x0_hat if tg[-1] == 0 else x
