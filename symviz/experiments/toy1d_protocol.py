"""The 1D reflection toy's protocol as pure functions (Table 1 of Tong et al. 2025, arXiv 2502.09890 §4.1;
docs/theory.md#toy1d): schedule, network, variants and their training draws, targets, DDIM, metrics, the
acceptance band. No training loop, no files: the runs are in ``toy1d_unbatched`` (one run at a time) and
``toy1d_batched`` (all runs as one batched model); ``toy1d`` is the command.

- data: 200 copies of ``x0 = 1``; group ``Z2 = {x -> +-x}``; target law ``(delta_-1 + delta_+1) / 2``;
- schedule: discrete ``t in {0..99}``, ``sigma = linspace(0.01, 0.999, 100)``, ``alpha = sqrt(1 - sigma^2)``;
- "EquiNet": ``sv.nets.OddNet(1, 1, hidden=(10, 5), act=nn.Tanh)`` fed the raw ``t / 100``;
- loss: ``mean_batch (D - target)^2 alpha_t^2 / sigma_t^2``, full batch 200, Adam 1e-3, StepLR(8000, 0.8);
- variants: ``equinet`` (target x0 = 1), ``aug`` (x0 redrawn from {+-1} each step), ``orbdiff`` (x0 = 1, the
  exact 2-element orbit target ``x0 tanh(alpha x0 x_t / sigma^2)``, Eq. 11, via ``sv.orbit.orbit_target``);
- validation every 500 steps: DDIM from 1000 fixed ``|N(0,1)|`` starts, error ``mean |x - 1|`` over outputs > 0;
- evaluation of the best checkpoint: 100k DDIM samples (50k from ``+|N(0,1)|``, 50k from ``-|N(0,1)|``,
  seed 42); MAD ``= mean |x - sign(x)|`` (the paper's "RMSD") and W2 to exactly 50k -1 and 50k +1.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

import symviz as sv

__all__ = [
    "NUM_T",
    "BATCH",
    "VAL_STARTS",
    "VARIANTS",
    "LABELS",
    "PAPER_TABLE1",
    "LOSS_FLOOR",
    "schedule",
    "make_net",
    "orbit_target_1d",
    "tanh_target",
    "loss_floor",
    "draw_randoms",
    "make_batch",
    "ddim_1d",
    "validation_error",
    "mad",
    "w2_to_pm1",
    "evaluation_starts",
    "evaluate",
    "acceptance",
    "check_variant",
]

NUM_T = 100
BATCH = 200  # full batch: the 200 copies of x0 = 1
VAL_STARTS = 1000  # validation DDIM starts |N(0, 1)|
VARIANTS = ("equinet", "aug", "orbdiff")
LABELS = {"equinet": "EquiNet", "aug": "EquiNet + [Aug]", "orbdiff": "EquiNet + [OrbDiff]"}
# Table 1 of the paper (v4), quoted: MAD ("RMSD") in units of 1e-5 and W2 in units of 1e-3, mean +- std.
PAPER_TABLE1 = {
    "equinet": {"mad": (9.05e-5, 9.47e-5), "w2": (1.150e-3, 1.581e-3)},
    "aug": {"mad": (9.50e-5, 9.63e-5), "w2": (0.853e-3, 1.156e-3)},
    "orbdiff": {"mad": (0.37e-5, 0.09e-5), "w2": (0.004e-3, 0.001e-3)},
}
LOSS_FLOOR = (
    0.2056  # docs/theory.md#loss-floor: minimum SNR-weighted loss of EquiNet and +Aug (200-point Gauss-Hermite)
)


def check_variant(variant: str) -> str:
    """``variant`` if it is one of :data:`VARIANTS`, else a ValueError naming the choices."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}; got {variant!r}")
    return variant


def schedule(dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """``(alpha, sigma)``, each ``(100,)``.

    ``sigma = linspace(0.01, 0.999, 100)`` and ``alpha = sqrt(1 - sigma^2)``
    (arXiv 2502.09890 §4.1; docs/theory.md#groups-per-experiment).
    """
    sigma = torch.linspace(0.01, 0.999, NUM_T, dtype=torch.float64)
    return torch.sqrt(1 - sigma**2).to(dtype), sigma.to(dtype)


def make_net() -> nn.Module:
    """The paper's EquiNet: ``D(x, t) = f([x, t]) - f([-x, t])``, f an MLP 2 -> 10 -> 5 -> 1 with tanh."""
    return sv.nets.OddNet(1, 1, hidden=(10, 5), act=nn.Tanh)


def orbit_target_1d(x0, xt, alpha, sigma) -> torch.Tensor:
    """The exact orbit target over ``Z2`` (Eq. 11, 2 terms). x0, xt: ``(B, 1, 1)``; alpha, sigma: ``(B,)``."""
    return sv.orbit.orbit_target(x0, xt, alpha, sigma, sv.groups.Reflection(1), num_samples=None).target


def tanh_target(x0, xt, alpha, sigma) -> torch.Tensor:
    """Its closed form ``x0 tanh(alpha x0 x_t / sigma^2)`` (docs/theory.md#closed-forms), same shapes."""
    a, s = alpha.reshape(-1, 1, 1), sigma.reshape(-1, 1, 1)
    return x0 * torch.tanh(a * x0 * xt / s**2)


def loss_floor(num_nodes: int = 200) -> float:
    """Minimum SNR-weighted loss of EquiNet / +Aug by Gauss-Hermite quadrature (docs/theory.md#loss-floor, ~0.2056).

    ``(1/100) sum_t (alpha^2/sigma^2) E_{x ~ N(alpha, sigma^2)} (1 - tanh(alpha x / sigma^2))^2``: the optimal
    odd denoiser is ``E[x0 | x_t] = tanh(alpha x_t / sigma^2)`` and by symmetry ``x0 = 1`` suffices.
    """
    y, w = np.polynomial.hermite.hermgauss(num_nodes)  # int exp(-y^2) f(y) dy ~ sum w f(y)
    alpha, sigma = (v.double().numpy() for v in schedule(torch.float64))
    x = alpha[:, None] + np.sqrt(2.0) * sigma[:, None] * y[None, :]
    inner = (w[None, :] * (1 - np.tanh(alpha[:, None] * x / sigma[:, None] ** 2)) ** 2).sum(1) / np.sqrt(np.pi)
    return float(np.mean(alpha**2 / sigma**2 * inner))


def draw_randoms(variant: str, gen: torch.Generator, batch: int = BATCH):
    """One training step's random numbers from ``gen``, in the reference code's order: ``t (batch,)`` uniform on
    {0..99}, then (``aug`` only, else None) the flips ``(batch, 1, 1)`` in {0, 1}, then the noise ``(batch, 1, 1)``.

    This order is what makes "seed 0" mean the same numbers as the reference code; both training paths call it
    once per run and step, each run on its own generator.
    """
    t = torch.randint(0, NUM_T, (batch,), generator=gen)
    flips = torch.randint(0, 2, (batch, 1, 1), generator=gen) if variant == "aug" else None
    noise = torch.randn(batch, 1, 1, generator=gen)
    return t, flips, noise


def make_batch(variant: str, t, flips, noise, alpha, sigma):
    """The training batch of :func:`draw_randoms`'s numbers: ``(x_t, net time t/100, target, SNR weight)``.

    t: ``(B,)`` integer; flips: ``(B, 1, 1)`` or None; noise: ``(B, 1, 1)``; alpha, sigma: ``(100,)``.
    Returns x_t and target ``(B, 1, 1)``, time and weight ``(B,)``; ``x_t = alpha_t x0 + sigma_t noise`` with
    ``x0 = 1`` (``2 flips - 1`` for ``aug``); target ``x0``, or the orbit target (Eq. 11) for ``orbdiff``.
    Element-wise in B, so B may hold several runs' draws concatenated.
    """
    check_variant(variant)
    a, s = alpha[t], sigma[t]
    x0 = torch.ones(t.shape[0], 1, 1, dtype=noise.dtype)
    if variant == "aug":
        x0 = (flips * 2 - 1).to(noise.dtype)
    xt = a.reshape(-1, 1, 1) * x0 + s.reshape(-1, 1, 1) * noise
    target = orbit_target_1d(x0, xt, a, s) if variant == "orbdiff" else x0
    return xt, t.to(noise.dtype) / NUM_T, target, a**2 / s**2


@torch.no_grad()
def ddim_1d(net, x_start: torch.Tensor) -> torch.Tensor:
    """Deterministic DDIM on the discrete grid (docs/theory.md#sampling): for t = 99..0, ``x0_hat = D(x, t/100)``,
    ``eps_hat = (x - alpha_t x0_hat) / sigma_t``, ``x <- alpha_{t-1} x0_hat + sigma_{t-1} eps_hat``; returns
    ``x0_hat`` at t = 0.

    x_start: ``(N, 1, 1)``, the t = 99 state, or ``(R, N, 1, 1)`` for a batched net of R runs; ``net`` is called
    with times of shape ``x_start.shape[:-2]`` (``(N,)`` or ``(R, N)``).
    """
    alpha, sigma = schedule(x_start.dtype)
    x = x_start
    for t in range(NUM_T - 1, -1, -1):
        x0_hat = net(x, torch.full(x.shape[:-2], t / NUM_T, dtype=x.dtype))
        if t == 0:
            return x0_hat
        eps_hat = (x - alpha[t] * x0_hat) / sigma[t]
        x = alpha[t - 1] * x0_hat + sigma[t - 1] * eps_hat
    raise AssertionError("unreachable")


def validation_error(samples: torch.Tensor) -> float:
    """``mean |x - 1|`` over the samples > 0 (inf when none is positive), the paper's validation error."""
    x = samples.reshape(-1).double()
    pos = x[x > 0]
    return float((pos - 1).abs().mean()) if pos.numel() else float("inf")


def mad(samples) -> float:
    """MAD ``= mean |x - sign(x)|``: the paper's "RMSD" (a mean absolute deviation despite the name)."""
    x = torch.as_tensor(samples).reshape(-1).double()
    return float((x - torch.sign(x)).abs().mean())


def w2_to_pm1(samples) -> float:
    """W2 between the samples and exactly half -1, half +1 (``N`` must be even), by ``sv.metrics.w2_1d``."""
    x = torch.as_tensor(samples).reshape(-1).double()
    if x.numel() % 2:
        raise ValueError(f"w2_to_pm1 needs an even number of samples (half -1, half +1); got {x.numel()}")
    half = x.numel() // 2
    ref = torch.cat([-torch.ones(half, dtype=torch.float64), torch.ones(half, dtype=torch.float64)])
    return sv.metrics.w2_1d(x, ref)


def evaluation_starts(num: int = 100_000, seed: int = 42) -> torch.Tensor:
    """The ``(num, 1, 1)`` DDIM starts of the evaluation: half ``+|N(0,1)|``, half ``-|N(0,1)|`` (seed 42).

    Drawn in chunks of 1000 (500 positive, then 500 negative), the order of the reference evaluation script, so
    seed 42 gives the same starts; ``num`` must be a multiple of 1000 (or an even number below 1000).
    """
    chunk = min(num, 1000)
    if num < 2 or num % chunk or chunk % 2:
        raise ValueError(f"num must be an even number <= 1000 or a multiple of 1000; got {num}")
    gen = torch.Generator().manual_seed(seed)
    starts = []
    for _ in range(num // chunk):
        starts += [
            torch.randn(chunk // 2, 1, 1, generator=gen).abs(),
            -torch.randn(chunk // 2, 1, 1, generator=gen).abs(),
        ]
    return torch.cat(starts)


def evaluate(net, num: int = 100_000, seed: int = 42) -> dict:
    """``{"mad", "w2"}`` of ``num`` DDIM samples of ``net`` from :func:`evaluation_starts` (seed 42)."""
    x = ddim_1d(net, evaluation_starts(num, seed))
    return {"mad": mad(x), "w2": w2_to_pm1(x)}


def acceptance(result: dict) -> dict:
    """The acceptance band (issue 3): OrbDiff MAD <= 1e-5 and W2 <= 2e-5; both baselines >= 5x worse on both;
    the quadrature floor within 5e-4 of 0.2056 and each baseline's last-half training loss in
    [0.97, 1.10] x floor. ``result``: a run's dict with ``summary`` and ``loss_floor``.
    Returns ``{check: bool}``; meaningful for the full protocol only."""
    s = result["summary"]
    orb = s["orbdiff"]
    checks = {
        "orbdiff_mad_le_1e-5": orb["mad_mean"] <= 1e-5,
        "orbdiff_w2_le_2e-5": orb["w2_mean"] <= 2e-5,
        "floor_quadrature": abs(result["loss_floor"] - LOSS_FLOOR) <= 5e-4,
    }
    for v in ("equinet", "aug"):
        checks[f"{v}_mad_ge_5x"] = s[v]["mad_mean"] >= 5 * orb["mad_mean"]
        checks[f"{v}_w2_ge_5x"] = s[v]["w2_mean"] >= 5 * orb["w2_mean"]
        checks[f"{v}_loss_near_floor"] = 0.97 <= s[v]["loss_last_half_mean"] / result["loss_floor"] <= 1.10
    return checks
