"""Pure functions behind the symviz widgets and tutorials 01–04: tensors in, numpy arrays out.

Every widget in :mod:`symviz.widgets` is a thin view over one function here, and the tutorials and tests call
the same functions (STYLE.md: "widgets are thin views over pure functions"). Nothing here plots; the maths
is the core's (:mod:`symviz.orbit`, :mod:`symviz.diffusion`, :mod:`symviz.groups`).

    frame = orbit_explorer_frame("SO2", t=0.3, K=16, seed=0)  # candidates, weights, MC and exact target
    field = target_field("C6", "point", t=0.5)                 # arrows x_t -> phi*(x0, x_t) over a grid
    frames = forward_diffusion_frames("blobs", times)          # x_t for every t of a slider, precomputed
    act = group_action_frame("D4", element=3)                  # g.x0 for one group element

2D only: the groups are C_n, D_n, SO(2), O(2) and the reflection Z2 (names "C6", "D4", "SO2", "O2", "Z2").
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import torch

from symviz._checks import check_centered, check_point_cloud
from symviz.data.toys import asymmetric_cloud_2d
from symviz.diffusion import VPSchedule, add_noise
from symviz.groups import O2, SO2, Cyclic, Dihedral, Group, MatrixGroup, Reflection, rotation_2d
from symviz.orbit import closed_form_target, orbit_logits, orbit_target, orbit_weights

__all__ = [
    "GROUP_CHOICES",
    "DATA_CHOICES",
    "MAX_K",
    "make_group",
    "make_x0",
    "check_t",
    "check_k",
    "check_seed",
    "haar_quadrature",
    "quadrature_size",
    "exact_orbit_target",
    "element_angles",
    "group_posterior",
    "posterior_mean",
    "noisy_sample",
    "OrbitFrame",
    "orbit_explorer_frame",
    "FieldFrame",
    "field_grid",
    "target_field",
    "blobs_2d",
    "DiffusionFrames",
    "forward_diffusion_frames",
    "ActionFrame",
    "group_action_frame",
    "LossCurve",
    "loss_curve",
]

GROUP_CHOICES = ("C6", "D4", "SO2", "O2")
DATA_CHOICES = ("point", "cloud")
MAX_K = 4096  # interactive upper bound on the Monte Carlo sample count
DTYPE = torch.float64


# ----------------------------------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------------------------------


def make_group(name) -> MatrixGroup:
    """A 2D group from its name: ``"C<n>"``, ``"D<n>"``, ``"SO2"`` (or ``"SO(2)"``), ``"O2"``, ``"Z2"``.

    A :class:`symviz.groups.Group` passes through unchanged.
    """
    if isinstance(name, Group):
        return name
    if not isinstance(name, str):
        raise TypeError(f"group must be a name such as 'SO2' or a Group; got {type(name).__name__}")
    key = name.strip().upper().replace("(", "").replace(")", "").replace("_", "")
    if key == "SO2":
        return SO2()
    if key == "O2":
        return O2()
    if key in ("Z2", "REFLECTION"):
        return Reflection(2)
    m = re.fullmatch(r"([CD])(\d+)", key)
    if m and 1 <= int(m.group(2)) <= 360:
        return Cyclic(int(m.group(2))) if m.group(1) == "C" else Dihedral(int(m.group(2)))
    raise ValueError(
        f"unknown group {name!r}; choose one of {GROUP_CHOICES}, 'Z2', or 'C<n>' / 'D<n>' with 1 <= n <= 360"
    )


def make_x0(data="point") -> torch.Tensor:
    """The clean 2D sample ``(n, 2)`` in float64: ``"point"`` (one point, n = 1), ``"cloud"`` (the centred
    asymmetric 4-point cloud of :func:`symviz.data.toys.asymmetric_cloud_2d`), or an array ``(n, 2)``.
    Clouds with ``n > 1`` must be centred (rotation targets need zero centre of mass, PAPER.md §2.5)."""
    if isinstance(data, str):
        if data == "point":
            return torch.tensor([[1.2, 0.45]], dtype=DTYPE)
        if data == "cloud":
            return asymmetric_cloud_2d().to(DTYPE)
        raise ValueError(f"unknown data {data!r}; choose one of {DATA_CHOICES} or pass an (n, 2) array")
    x = check_point_cloud(data, "x0", d=2).to(DTYPE)
    if x.dim() != 2:
        raise ValueError(f"x0 must be one 2D point cloud of shape (n, 2); got shape {tuple(x.shape)}")
    check_centered(x, None, "x0")
    return x


def check_t(t) -> float:
    """Diffusion time as a float in [0, 1] (ValueError otherwise)."""
    try:
        tf = float(t)
    except (TypeError, ValueError):
        raise ValueError(f"t must be a number in [0, 1]; got {t!r}") from None
    if not (0.0 <= tf <= 1.0):
        raise ValueError(f"t must lie in [0, 1] (0 = data, 1 = pure noise); got {t!r}")
    return tf


def check_k(k, max_k: int = MAX_K) -> int:
    """Monte Carlo sample count K as an int in [1, max_k] (ValueError otherwise)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer, float)) or float(k) != int(k):
        raise ValueError(f"K must be a whole number between 1 and {max_k}; got {k!r}")
    if not 1 <= int(k) <= max_k:
        raise ValueError(f"K must be between 1 and {max_k} (candidates, identity included); got {k}")
    return int(k)


def check_seed(seed) -> int:
    """Random seed as an int >= 0."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or int(seed) < 0:
        raise ValueError(f"seed must be an integer >= 0; got {seed!r}")
    return int(seed)


def _schedule(schedule) -> VPSchedule:
    return schedule if isinstance(schedule, VPSchedule) else VPSchedule(schedule)


# ----------------------------------------------------------------------------------------------
# Exact targets and posteriors over the group
# ----------------------------------------------------------------------------------------------


def haar_quadrature(group: MatrixGroup, m: int = 360) -> torch.Tensor:
    """Elements ``(M, 2, 2)`` whose uniform average is the Haar integral: all elements of a finite group,
    ``SO2().grid(m)`` for SO(2) (trapezoid rule, spectrally exact), ``Dihedral(m)`` elements for O(2)."""
    if group.is_finite:
        return group.elements(dtype=DTYPE)
    if isinstance(group, SO2):
        return group.grid(m, dtype=DTYPE)
    if isinstance(group, O2):
        return Dihedral(m).elements(dtype=DTYPE)
    raise TypeError(f"no Haar quadrature for {group!r}; explore covers 2D finite groups, SO2 and O2")


def quadrature_size(x0, xt, alpha, sigma, minimum: int = 360, maximum: int = 1 << 16) -> int:
    """Grid size ``m`` that resolves the von Mises posterior over the angle: the logits are
    ``kappa cos(theta - phi)`` with ``kappa <= alpha sum_i |x_t,i| |x0_i| / sigma^2``; the trapezoid error
    decays like ``exp(-m^2 / (2 kappa))``, so ``m = 10 sqrt(kappa)`` is exact to float64."""
    a, s = float(alpha), float(sigma)
    if s <= 0:
        return minimum  # sigma = 0: the limit puts all mass on the identity, which every grid contains
    kappa = a * float((xt.norm(dim=-1) * x0.norm(dim=-1)).sum(-1).max()) / s**2
    m = max(minimum, 8 * math.ceil(10 * math.sqrt(kappa) / 8))
    return min(m, maximum)


def exact_orbit_target(x0, xt, alpha, sigma, group: MatrixGroup) -> torch.Tensor:
    """The exact target ``phi*(x0, x_t)`` of Eq. (11), shape of ``xt``: the exact sum for finite groups
    (:func:`symviz.orbit.orbit_target` with ``num_samples=None``), the von Mises closed form for SO(2)
    (:func:`symviz.orbit.closed_form_target`; also O(2) on one point, whose Haar orbit law is the same) and
    an adaptive quadrature grid (:func:`quadrature_size`) for O(2) on clouds."""
    if group.is_finite:
        return orbit_target(x0, xt, alpha, sigma, group, num_samples=None).target
    if isinstance(group, SO2) or (isinstance(group, O2) and x0.shape[-2] == 1):
        # one point: Haar on O(2) moves it uniformly on its circle, exactly like Haar on SO(2)
        return closed_form_target(x0, xt, alpha, sigma, SO2())
    m = quadrature_size(x0, xt, alpha, sigma)
    return orbit_target(x0, xt, alpha, sigma, group, elements=haar_quadrature(group, m)).target


def element_angles(g: torch.Tensor, centred: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Angle in degrees and reflection flag of 2D orthogonal matrices ``(K, 2, 2)``.

    A rotation is ``R(theta)``, a reflection ``R(theta) S`` with ``S = diag(1, -1)``; both have first column
    ``(cos theta, sin theta)``. Angles lie in [0, 360), or in [-180, 180) with ``centred=True`` (the identity
    in the middle: how the posterior plots show the group).
    """
    theta = torch.rad2deg(torch.atan2(g[..., 1, 0], g[..., 0, 0])) % 360.0
    if centred:
        theta = (theta + 180.0) % 360.0 - 180.0
    det = g[..., 0, 0] * g[..., 1, 1] - g[..., 0, 1] * g[..., 1, 0]
    return theta.numpy(), (det < 0).numpy()


def group_posterior(x0, xt, alpha, sigma, group: MatrixGroup, m: int | None = None):
    """The posterior over group elements given ``x_t``, as a density relative to Haar measure.

    Returns ``(angle_deg (M,) in [-180, 180), reflect (M,), density (M,))`` on all elements of a finite group or on a
    quadrature grid of a continuous one: ``density = M * w`` with ``w`` the exact softmax weights of Eq. (11),
    so it averages to 1 over the group (uniform at t = 1, a spike at the generating element at t = 0).
    """
    if m is None and not group.is_finite:
        m = quadrature_size(x0, xt, alpha, sigma)
    g = haar_quadrature(group, m or 360)
    res = orbit_target(x0, xt, alpha, sigma, group, elements=g)
    ang, refl = element_angles(g, centred=True)
    order = np.lexsort((ang, refl))
    return ang[order], refl[order], (res.weights.numpy() * g.shape[0])[order]


def posterior_mean(data, xt, alpha, sigma) -> torch.Tensor:
    """``E[x0 | x_t]`` under the empirical distribution of ``data (N, n, d)`` (uniform over its N items):
    the softmax of ``-||x_t - alpha x_i||^2 / (2 sigma^2)`` over the items (the same weights as Eq. 11, with
    the data set in place of the orbit; :func:`symviz.orbit.orbit_logits`).
    ``xt (..., n, d)`` -> ``(..., n, d)``.
    """
    data = check_point_cloud(data, "data").to(DTYPE)
    xt = check_point_cloud(xt, "xt").to(DTYPE)
    if data.dim() != 3:
        raise ValueError(f"data must be a set of point clouds (N, n, d); got shape {tuple(data.shape)}")
    lead = xt.shape[:-2]
    cands = data.expand(*lead, *data.shape)
    a = torch.as_tensor(alpha, dtype=DTYPE).expand(lead)
    s = torch.as_tensor(sigma, dtype=DTYPE).expand(lead)
    w = orbit_weights(orbit_logits(cands, xt, a, s))
    return torch.einsum("...k,...knd->...nd", w, cands)


def _short_repr(self) -> str:
    """A one-line repr: scalars and strings in full, arrays as their shapes (frames hold many arrays)."""
    parts = []
    for k, v in self.__dict__.items():
        if isinstance(v, np.ndarray):
            parts.append(f"{k}: {tuple(v.shape)}")
        elif isinstance(v, float):
            parts.append(f"{k}={v:.4g}")
        else:
            parts.append(f"{k}={v!r}")
    return f"{type(self).__name__}({', '.join(parts)})"


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
        K: candidates, identity included when ``include_identity`` (default True, PAPER.md §3.6), 1..MAX_K.
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


# ----------------------------------------------------------------------------------------------
# Forward diffusion (tutorial 02)
# ----------------------------------------------------------------------------------------------


def blobs_2d(num: int = 120, seed: int = 0) -> torch.Tensor:
    """A small 2D data set ``(num, 1, 2)``: three Gaussian blobs (std 0.15) at radius 1.2, float64."""
    gen = torch.Generator().manual_seed(check_seed(seed))
    ang = torch.tensor([90.0, 210.0, 330.0], dtype=DTYPE).deg2rad()
    centres = 1.2 * torch.stack([ang.cos(), ang.sin()], -1)
    idx = torch.arange(num) % 3
    return (centres[idx] + 0.15 * torch.randn(num, 2, generator=gen, dtype=DTYPE)).reshape(num, 1, 2)


@dataclass(frozen=True, repr=False)
class DiffusionFrames:
    """Precomputed forward-process frames: ``xt[i]`` is the data at ``times[i]``; ``denoised[i]`` is the
    exact posterior mean ``E[x0 | x_t]`` under the data set (the ideal x0-prediction). Shapes:
    ``times, alpha, sigma: (T,)``; ``x0, eps: (N, n, 2)``; ``xt, denoised: (T, N, n, 2)``."""

    __repr__ = _short_repr

    times: np.ndarray
    alpha: np.ndarray
    sigma: np.ndarray
    x0: np.ndarray
    eps: np.ndarray
    xt: np.ndarray
    denoised: np.ndarray


def forward_diffusion_frames(data="blobs", times=None, schedule="cosine", seed: int = 0) -> DiffusionFrames:
    """``x_t = alpha_t x0 + sigma_t eps`` (:func:`symviz.diffusion.add_noise`) for every t in ``times``
    (default ``linspace(0, 1, 51)``), with one eps per sample shared by all t, and ``E[x0 | x_t]``.

    Args:
        data: ``"blobs"`` (:func:`blobs_2d`) or point clouds ``(N, n, 2)``.
    """
    x0 = blobs_2d() if isinstance(data, str) and data == "blobs" else check_point_cloud(data, "data", d=2)
    if isinstance(data, str) and data != "blobs":
        raise ValueError(f"unknown data {data!r}; use 'blobs' or pass point clouds (N, n, 2)")
    x0 = x0.to(DTYPE)
    if x0.dim() != 3:
        raise ValueError(f"data must be point clouds (N, n, 2); got shape {tuple(x0.shape)}")
    tg = torch.linspace(0, 1, 51, dtype=DTYPE) if times is None else torch.as_tensor(times, dtype=DTYPE)
    if tg.dim() != 1 or tg.numel() < 1:
        raise ValueError("times must be a non-empty 1D sequence of values in [0, 1]")
    for t in tg.tolist():
        check_t(t)
    sched = _schedule(schedule)
    seed = check_seed(seed)
    xts, dens = [], []
    for t in tg:
        xt, eps = add_noise(x0, t, sched, generator=torch.Generator().manual_seed(seed))
        a, s = sched.alpha_sigma(t)
        xts.append(xt)
        dens.append(posterior_mean(x0, xt, a, s))
    a, s = sched.alpha_sigma(tg)
    return DiffusionFrames(
        times=tg.numpy(),
        alpha=a.numpy(),
        sigma=s.numpy(),
        x0=x0.numpy(),
        eps=eps.numpy(),
        xt=torch.stack(xts).numpy(),
        denoised=torch.stack(dens).numpy(),
    )


# ----------------------------------------------------------------------------------------------
# Group actions (tutorial 01)
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class ActionFrame:
    """One group element acting on x0. ``x0, gx0: (n, 2)``; ``matrix: (2, 2)``; ``orbit: (M, n, 2)``."""

    __repr__ = _short_repr

    group: str
    label: str
    x0: np.ndarray
    gx0: np.ndarray
    matrix: np.ndarray
    orbit: np.ndarray
    num_elements: int | None


def group_action_frame(group="C6", element=0, reflect: bool = False, data="cloud") -> ActionFrame:
    """``g.x0`` for one element of a 2D group (:meth:`symviz.groups.Group.act`).

    Args:
        element: finite groups: the index into ``G.elements()`` (0 = identity, ..., |G| - 1);
            SO2 / O2: the rotation angle in degrees.
        reflect: O2 only: compose with the reflection ``S = diag(1, -1)`` (``g = R(angle) S``).
    """
    g = make_group(group)
    x0 = make_x0(data)
    if g.is_finite:
        if reflect:
            raise ValueError(
                f"reflect applies to O2 only; for {group!r} pick the element index (D_n lists "
                f"its reflections after its rotations)"
            )
        is_int = isinstance(element, (int, np.integer)) and not isinstance(element, bool)
        if not is_int or not 0 <= element < g.order:
            raise ValueError(f"element must be an index in [0, {g.order - 1}] for {group!r}; got {element!r}")
        mat = g.elements(dtype=DTYPE)[int(element)]
        draw = g.elements(dtype=DTYPE)
        n_el = g.order
    else:
        try:
            ang = float(element)
        except (TypeError, ValueError):
            raise ValueError(f"element must be an angle in degrees for {group!r}; got {element!r}") from None
        if not math.isfinite(ang):
            raise ValueError(f"the angle must be finite; got {element!r}")
        if reflect and not isinstance(g, O2):
            raise ValueError(f"{group!r} has no reflections; choose O2 (or D_n) to reflect")
        mat = rotation_2d(torch.tensor(math.radians(ang), dtype=DTYPE))
        if reflect:
            mat = mat @ torch.diag(torch.tensor([1.0, -1.0], dtype=DTYPE))
        draw = haar_quadrature(g, 180)
        n_el = None
    ang, refl = element_angles(mat[None])
    kind = f"reflection R({ang[0]:.0f}°)·S" if refl[0] else f"rotation by {ang[0]:.0f}°"
    return ActionFrame(
        group=group if isinstance(group, str) else repr(group),
        label=kind,
        x0=x0.numpy(),
        gx0=g.act(mat, x0).numpy(),
        matrix=mat.numpy(),
        orbit=g.act(draw, x0).numpy(),
        num_elements=n_el,
    )


# ----------------------------------------------------------------------------------------------
# Live training curves
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class LossCurve:
    """A loss history ready to draw: finite points only, plus a running mean (window ``smooth``)."""

    __repr__ = _short_repr

    step: np.ndarray
    loss: np.ndarray
    smooth: np.ndarray
    num_bad: int


def loss_curve(steps, losses, smooth: int = 5) -> LossCurve:
    """Clean a ``(step, loss)`` history: drop non-finite losses (counted in ``num_bad``) and add a running
    mean over ``smooth`` logged points."""
    s = np.asarray(steps, dtype=float).reshape(-1)
    v = np.asarray(losses, dtype=float).reshape(-1)
    if s.shape != v.shape:
        raise ValueError(f"steps and losses must have the same length; got {s.size} and {v.size}")
    ok = np.isfinite(v) & np.isfinite(s)
    s, v = s[ok], v[ok]
    w = max(1, int(smooth))
    c = np.cumsum(np.insert(v, 0, 0.0))
    lo = np.maximum(np.arange(v.size) + 1 - w, 0)
    sm = (c[1:] - c[lo]) / (np.arange(v.size) + 1 - lo) if v.size else v
    return LossCurve(step=s, loss=v, smooth=sm, num_bad=int((~ok).sum()))
