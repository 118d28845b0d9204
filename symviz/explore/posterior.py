"""Exact orbit targets and posteriors over a 2D group, by quadrature or enumeration (tutorials 03, 04)."""

from __future__ import annotations

import math

import numpy as np
import torch

from symviz._checks import DTYPE, check_point_cloud
from symviz.groups import O2, SO2, Dihedral, MatrixGroup
from symviz.orbit import closed_form_target, orbit_logits, orbit_target, orbit_weights

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
