"""Frames for the orbit-target explorer and the target field (tutorials 03, 04)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from symviz._checks import DTYPE, check_k, check_point_cloud, check_seed, check_t
from symviz.diffusion import add_noise
from symviz.explore._common import _schedule, _short_repr, make_group, make_x0
from symviz.explore.posterior import element_angles, exact_orbit_target, group_posterior, haar_quadrature
from symviz.orbit import orbit_target

# ----------------------------------------------------------------------------------------------
# The orbit-target explorer (tutorial 03)
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class OrbitFrame:
    """Everything the orbit explorer draws for one setting of (group, t, K, seed). Arrays are numpy float64.

    Attributes:
        x0, xt: ``(n, 2)`` the clean sample and the noisy one (``x_t = alpha x0 + sigma eps``, eps from seed).
        orbit: ``(M, n, 2)`` the orbit of x0 (all elements of a finite group; a 180-point grid otherwise).
        candidates: ``(K, n, 2)`` the Monte Carlo candidates ``g_k.x0`` (slot 0 = x0 when the identity is in).
        weights: ``(K,)`` their softmax weights (Eq. 11), summing to 1.
        cand_angle, cand_reflect: ``(K,)`` the candidates' elements: angle (degrees, [-180, 180)), reflection.
        mc_target, exact_target: ``(n, 2)`` the K-sample estimate and the exact target ``phi*(x0, x_t)``.
        ess: effective sample size ``1 / sum w_k^2`` in [1, K]. mc_error: RMS distance per point, MC vs exact.
        post_angle, post_reflect, post_density: the exact posterior over the group (:func:`group_posterior`).
    """

    __repr__ = _short_repr

    group: str
    t: float
    K: int
    seed: int
    include_identity: bool
    alpha: float
    sigma: float
    x0: np.ndarray
    xt: np.ndarray
    orbit: np.ndarray
    candidates: np.ndarray
    weights: np.ndarray
    cand_angle: np.ndarray
    cand_reflect: np.ndarray
    mc_target: np.ndarray
    exact_target: np.ndarray
    ess: float
    mc_error: float
    post_angle: np.ndarray
    post_reflect: np.ndarray
    post_density: np.ndarray


def noisy_sample(x0: torch.Tensor, t: float, seed: int = 0, schedule="cosine"):
    """``(x_t, alpha, sigma)`` from :func:`symviz.diffusion.add_noise` with a fresh generator seeded ``seed``:
    the same eps for every t, so a t slider moves x_t smoothly from x0 (t = 0) to pure noise (t = 1)."""
    sched = _schedule(schedule)
    tt = torch.tensor(check_t(t), dtype=DTYPE)
    gen = torch.Generator().manual_seed(check_seed(seed))
    xt, _ = add_noise(x0, tt, sched, generator=gen)
    alpha, sigma = sched.alpha_sigma(tt)
    return xt, alpha, sigma


def orbit_explorer_frame(
    group="SO2",
    t: float = 0.3,
    K: int = 16,
    seed: int = 0,
    data="point",
    include_identity: bool = True,
    schedule="cosine",
) -> OrbitFrame:
    """The orbit target for one x0 and one x_t: Monte Carlo with K candidates vs the exact target (Eq. 11).

    Args:
        group: a name in :data:`GROUP_CHOICES` (or any :func:`make_group` name). t: diffusion time in [0, 1].
        K: candidates, identity included when ``include_identity`` (default True, docs/theory.md#finite-k), 1..MAX_K.
        seed: seeds the noise eps (generator ``seed``) and the Haar draws (generator ``seed + 1``), so
            moving K keeps x_t fixed.
        data: ``"point"``, ``"cloud"`` or an ``(n, 2)`` array (see :func:`make_x0`).
    Raises:
        ValueError: t outside [0, 1], K < 1 or > MAX_K, a negative seed, an unknown group or data name.
    """
    g = make_group(group)
    t, K, seed = check_t(t), check_k(K), check_seed(seed)
    x0 = make_x0(data)
    xt, alpha, sigma = noisy_sample(x0, t, seed, schedule)
    gen = torch.Generator().manual_seed(seed + 1)
    res = orbit_target(x0, xt, alpha, sigma, g, num_samples=K, include_identity=include_identity, generator=gen)
    exact = exact_orbit_target(x0, xt, alpha, sigma, g)
    draw = g.elements(dtype=DTYPE) if g.is_finite else haar_quadrature(g, 180)
    cand_angle, cand_reflect = element_angles(res.elements, centred=True)
    post = group_posterior(x0, xt, alpha, sigma, g)
    return OrbitFrame(
        group=group if isinstance(group, str) else repr(group),
        t=t,
        K=K,
        seed=seed,
        include_identity=bool(include_identity),
        alpha=float(alpha),
        sigma=float(sigma),
        x0=x0.numpy(),
        xt=xt.numpy(),
        orbit=g.act(draw, x0).numpy(),
        candidates=res.candidates.numpy(),
        weights=res.weights.numpy(),
        cand_angle=cand_angle,
        cand_reflect=cand_reflect,
        mc_target=res.target.numpy(),
        exact_target=exact.numpy(),
        ess=float(res.ess),
        mc_error=float((res.target - exact).pow(2).sum(-1).mean().sqrt()),
        post_angle=post[0],
        post_reflect=post[1],
        post_density=post[2],
    )


# ----------------------------------------------------------------------------------------------
# The target field (tutorials 03, 04)
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class FieldFrame:
    """Arrows ``x_t -> phi*(x0, x_t)`` over a grid. ``points, targets: (P, 2)``; ``orbit: (M, 2)``."""

    __repr__ = _short_repr

    group: str
    t: float
    alpha: float
    sigma: float
    x0: np.ndarray
    points: np.ndarray
    targets: np.ndarray
    orbit: np.ndarray


def field_grid(num: int = 15, extent: float = 2.0) -> torch.Tensor:
    """A ``num x num`` square grid of 2D points on ``[-extent, extent]^2``, shape ``(num^2, 2)``."""
    if isinstance(num, bool) or not isinstance(num, int) or not 2 <= num <= 101:
        raise ValueError(f"grid must be an int in [2, 101] (points per side) or a (P, 2) array; got {num!r}")
    u = torch.linspace(-extent, extent, num, dtype=DTYPE)
    gx, gy = torch.meshgrid(u, u, indexing="xy")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], -1)


def target_field(
    group="SO2", x0="point", t: float = 0.5, grid=15, extent: float = 2.0, schedule="cosine"
) -> FieldFrame:
    """The exact symmetrized target as a vector field: for every grid point ``x_t``, where the orbit
    target of Eq. (11) sends it, ``phi*(x0, x_t)``, computed in one vectorised call.

    Args:
        group: a group name or object. x0: one point, ``"point"`` or an array ``(1, 2)``.
        t: diffusion time in [0, 1]. grid: points per side (int) or explicit points ``(P, 2)``.
    Theorem 2(1): the field is equivariant, ``phi*(x0, h x_t) = h phi*(x0, x_t)`` for h in the group.
    """
    g = make_group(group)
    t = check_t(t)
    x = make_x0(x0)
    if x.shape[0] != 1:
        raise ValueError(f"target_field needs one point: x0 of shape (1, 2); got {tuple(x.shape)}")
    if isinstance(grid, int):
        pts = field_grid(grid, extent)
    else:
        pts = check_point_cloud(grid, "grid", d=2).to(DTYPE)
    if pts.dim() != 2:
        raise ValueError(f"grid points must have shape (P, 2); got {tuple(pts.shape)}")
    sched = _schedule(schedule)
    alpha, sigma = sched.alpha_sigma(torch.tensor(t, dtype=DTYPE))
    tgt = exact_orbit_target(x, pts[:, None, :], alpha, sigma, g)[:, 0, :]
    draw = g.elements(dtype=DTYPE) if g.is_finite else haar_quadrature(g, 180)
    return FieldFrame(
        group=group if isinstance(group, str) else repr(group),
        t=t,
        alpha=float(alpha),
        sigma=float(sigma),
        x0=x.numpy(),
        points=pts.numpy(),
        targets=tgt.numpy(),
        orbit=g.act(draw, x)[:, 0, :].numpy(),
    )
