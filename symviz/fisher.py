"""The matrix Fisher distribution on SO(3): exact normaliser, density and sampler.

``MF(F)`` has density ``exp(tr(F^T R)) / c(F)`` with respect to normalised Haar measure on SO(3), ``F`` a
real ``3 x 3`` parameter. It is the exact posterior over the rotation of Eq. (11) of Tong et al. 2025
(arXiv 2502.09890) for a Gaussian kernel: ``-||x_t - alpha R y||^2 / (2 sigma^2) = tr(F^T R) + const`` with
``F = (alpha / sigma^2) sum_i x_t,i y_i^T``.

Quaternion form (derived here). Take the proper SVD ``F = U diag(s) V^T`` with ``U, V`` in SO(3),
``s1 >= s2 >= |s3|`` (``s3`` carries the sign of ``det F``), write ``R = U Q V^T`` and ``Q = Q(q)`` for a unit
quaternion ``q = (w, x, y, z)``. Since ``Q_11 = w^2 + x^2 - y^2 - z^2`` etc.,

    tr(F^T R) = tr(diag(s) Q) = (s1 + s2 + s3) - q^T diag(lam) q,   lam = (0, 2(s2+s3), 2(s1+s3), 2(s1+s2)) >= 0.

Normalised Haar measure on SO(3) is the uniform law of ``q`` on the sphere S^3 (``q`` and ``-q`` give the same
rotation), so ``R ~ MF(F)`` iff ``q ~ Bingham(lam)``, density proportional to ``exp(-q^T diag(lam) q)``.

Normaliser. For uniform ``q``, ``u = w^2 + x^2 ~ U(0, 1)`` and the angles inside the pairs ``(w, x)`` and
``(y, z)`` are uniform and independent; averaging ``exp(-u lam1 sin^2 a)`` over the angle gives
``exp(-u lam1 / 2) I0(u lam1 / 2)``. With ``v = 1 - u`` and ``i0e(z) = exp(-z) I0(z)``:

    c~(lam) = E_unif exp(-q^T diag(lam) q) = int_0^1 i0e((1 - v) lam1 / 2) exp(-v lam2) i0e(v (lam3 - lam2) / 2) dv,
    log c(F) = s1 + s2 + s3 + log c~(lam).

The integrand is smooth in ``log v``; a composite Gauss-Legendre rule on panels uniform in ``log v``, scaled
per row to the integrand's scales ``1 / lam2`` and ``1 / (lam3 - lam2)``, gives float64 accuracy.

Sampler: Bingham by rejection from the angular central Gaussian envelope (Kent, Ganeiber and Mardia 2013,
"A new method to simulate the Bingham and related distributions"); acceptance is at least ~45% on S^3.
Everything is computed in float64.
"""

from __future__ import annotations

import numpy as np
import torch

from symviz.groups.matrix import _quaternion_to_matrix

__all__ = [
    "proper_svd",
    "bingham_log_normalizer",
    "log_normalizer",
    "log_normalizer_sv",
    "log_prob",
    "sample",
    "sample_bingham",
    "matrix_to_quaternion",
]

_PANELS, _NODES = 8, 8
_RULE: dict = {}


def proper_svd(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``F = U diag(s) V^T`` with ``U, V`` in SO(3) and ``s1 >= s2 >= |s3|`` (``s3 < 0`` when ``det F < 0``).

    Args: f ``(..., 3, 3)``. Returns ``U (..., 3, 3)``, ``s (..., 3)``, ``V (..., 3, 3)``. The mode of MF(F)
    (the Kabsch rotation) is ``U V^T``.
    """
    u, s, vh = torch.linalg.svd(f)
    v = vh.transpose(-1, -2)
    du, dv = torch.linalg.det(u), torch.linalg.det(v)
    u = torch.cat([u[..., :2], u[..., 2:] * du[..., None, None]], -1)
    v = torch.cat([v[..., :2], v[..., 2:] * dv[..., None, None]], -1)
    fix = torch.stack([torch.ones_like(du), torch.ones_like(du), du * dv], -1)
    return u, s * fix, v


def _lam(s: torch.Tensor) -> torch.Tensor:
    """Bingham eigenvalues ``(..., 4)``: ``(0, 2(s2+s3), 2(s1+s3), 2(s1+s2))``, increasing, clamped at 0."""
    s1, s2, s3 = s.unbind(-1)
    lam = torch.stack([torch.zeros_like(s1), 2 * (s2 + s3), 2 * (s1 + s3), 2 * (s1 + s2)], -1)
    return lam.clamp_min(0)


def _rule(device) -> tuple[torch.Tensor, torch.Tensor]:
    """``_NODES``-point Gauss-Legendre nodes and weights on [0, 1] (cached per device)."""
    key = str(device)
    if key not in _RULE:
        x, w = np.polynomial.legendre.leggauss(_NODES)
        _RULE[key] = (
            torch.tensor((x + 1) / 2, dtype=torch.float64, device=device),
            torch.tensor(w / 2, dtype=torch.float64, device=device),
        )
    return _RULE[key]


def bingham_log_normalizer(lam: torch.Tensor) -> torch.Tensor:
    """``log E_{q ~ unif(S^3)} exp(-sum_j lam_j q_j^2)`` for ``lam (..., 4) = (0, l1, l2, l3)``, l1 <= l2 <= l3.

    The one-dimensional integral of the module docstring over ``v``, per row: one Gauss-Legendre panel on
    ``[0, v_lo]`` (``v_lo = 1 / (4 max(1, l2, l3 - l2))``, below every scale of the integrand) and ``_PANELS``
    panels uniform in ``log v`` on ``[v_lo, v_hi]``, ``v_hi = min(1, 80 / l2)`` (beyond it the integrand is
    below ``e^-80`` of its peak). Float64; relative error ~1e-13. Returns ``(...)``.
    """
    lam = lam.to(torch.float64)
    l1, l2, l3 = (t.unsqueeze(-1) for t in lam[..., 1:].unbind(-1))
    x, w = _rule(lam.device)
    v_lo = 0.25 / torch.maximum(torch.maximum(l2, l3 - l2), torch.ones_like(l2))
    v_hi = torch.clamp(80 / l2.clamp_min(1e-300), max=1.0)
    z_lo, z_hi = torch.log(v_lo), torch.log(torch.maximum(v_hi, v_lo))
    width = (z_hi - z_lo) / _PANELS
    z = z_lo + width * (torch.arange(_PANELS, dtype=torch.float64, device=lam.device)[:, None] + x).reshape(-1)
    v = torch.cat([v_lo * x, torch.exp(z)], -1)
    wv = torch.cat([v_lo * w.expand_as(v_lo * x), width * w.repeat(_PANELS) * torch.exp(z)], -1)
    f = torch.special.i0e((1 - v) * l1 / 2) * torch.exp(-v * l2) * torch.special.i0e(v * (l3 - l2) / 2)
    return torch.log((f * wv).sum(-1))


def log_normalizer(f: torch.Tensor) -> torch.Tensor:
    """``log c(F) = log int_SO(3) exp(tr(F^T R)) dR`` (normalised Haar), ``F (..., 3, 3)`` -> ``(...)``."""
    return log_normalizer_sv(proper_svd(f.to(torch.float64))[1])


def log_normalizer_sv(s: torch.Tensor) -> torch.Tensor:
    """``log c(F)`` from the proper singular values ``s (..., 3)`` of F: ``s1 + s2 + s3 + log c~(lam)``."""
    return s.sum(-1) + bingham_log_normalizer(_lam(s))


def matrix_to_quaternion(r: torch.Tensor) -> torch.Tensor:
    """Unit quaternions ``(..., 4)`` (w, x, y, z; sign arbitrary) of rotation matrices ``(..., 3, 3)``.

    Shepperd's method: divide by the largest of ``4w^2, 4x^2, 4y^2, 4z^2`` (each read off the diagonal), so
    small components come from antisymmetric parts and keep their absolute accuracy near the identity.
    """
    m = r
    t = torch.stack(
        [
            1 + m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2],
            1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
            1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2],
            1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2],
        ],
        -1,
    )  # 4 w^2, 4 x^2, 4 y^2, 4 z^2
    a = m[..., 2, 1] - m[..., 1, 2]  # 4 w x
    b = m[..., 0, 2] - m[..., 2, 0]  # 4 w y
    c = m[..., 1, 0] - m[..., 0, 1]  # 4 w z
    d = m[..., 1, 0] + m[..., 0, 1]  # 4 x y
    e = m[..., 0, 2] + m[..., 2, 0]  # 4 x z
    g = m[..., 2, 1] + m[..., 1, 2]  # 4 y z
    cands = torch.stack(
        [
            torch.stack([t[..., 0], a, b, c], -1),
            torch.stack([a, t[..., 1], d, e], -1),
            torch.stack([b, d, t[..., 2], g], -1),
            torch.stack([c, e, g, t[..., 3]], -1),
        ],
        -2,
    )  # row j = 4 q_j q
    j = t.argmax(-1)
    row = torch.gather(cands, -2, j[..., None, None].expand(*j.shape, 1, 4)).squeeze(-2)
    return row / row.norm(dim=-1, keepdim=True)


def log_prob(r: torch.Tensor, f: torch.Tensor | None = None, svd=None) -> torch.Tensor:
    """``log MF(R; F) = tr(F^T R) - log c(F)`` w.r.t. normalised Haar, computed as ``-q^T diag(lam) q - log c~``.

    Args:
        r: ``(..., 3, 3)`` rotations. f: ``(..., 3, 3)`` parameters (broadcast against ``r``).
        svd: instead of ``f``, its ``proper_svd(f)``.
    Returns ``(...)`` float64. The quaternion form avoids the cancellation of the two large terms when ``F``
    is concentrated.
    """
    u, s, v = proper_svd(f.to(torch.float64)) if svd is None else svd
    q = matrix_to_quaternion(u.transpose(-1, -2) @ r.to(torch.float64) @ v)
    lam = _lam(s)
    return -(lam * q.pow(2)).sum(-1) - bingham_log_normalizer(lam)


def _acg_b(lam: torch.Tensor) -> torch.Tensor:
    """The envelope parameter: the root ``b`` in [1, 4] of ``sum_j 1 / (b + 2 lam_j) = 1``.

    Newton from ``b = 1``: the left side minus 1 is convex and decreasing with a non-negative value at 1 (the
    ``lam_0 = 0`` term alone is 1), so the iterates increase monotonically to the root."""
    b = torch.ones(lam.shape[:-1], dtype=lam.dtype, device=lam.device)
    for _ in range(40):
        r = 1 / (b.unsqueeze(-1) + 2 * lam)
        step = (r.sum(-1) - 1) / r.pow(2).sum(-1)
        b = b + step
        if not b.numel() or float(step.max()) < 1e-12:
            break
    return b.clamp(1, 4)


def sample_bingham(lam: torch.Tensor, generator: torch.Generator | None = None, num: int | None = None) -> torch.Tensor:
    """Draws ``q`` on S^3 from ``exp(-q^T diag(lam) q)`` (uniform at ``lam = 0``), ``lam (..., 4)``.

    Returns ``(..., 4)`` (one draw per row), or ``(..., num, 4)`` with ``num`` i.i.d. draws per row.
    Rejection from the angular central Gaussian ``ACG(Omega)``, ``Omega = I + 2 diag(lam) / b``: propose
    ``y ~ N(0, Omega^-1)``, ``q = y / |y|``, accept with probability
    ``exp(-q^T lam q) (q^T Omega q)^2 exp((4 - b) / 2) (b / 4)^2`` (<= 1 for every ``q``).
    """
    lam = lam.to(torch.float64)
    shape, flat = lam.shape[:-1], lam.reshape(-1, 4)
    b = _acg_b(flat)
    if num is not None:
        flat, b = flat.repeat_interleave(num, 0), b.repeat_interleave(num, 0)
        shape = (*shape, num)
    n, batch = flat.shape[0], 2  # acceptance >= ~45%: each round fills >= ~70% of the rows left
    scale = torch.rsqrt(1 + 2 * flat / b[:, None])  # sd of y
    log_m = (4 - b) / 2 + 2 * torch.log(b / 4)
    out = torch.zeros(n, 4, dtype=torch.float64, device=lam.device)
    todo = torch.arange(n, device=lam.device)
    while todo.numel():
        m = todo.numel()
        z = torch.randn(m, batch, 4, generator=generator, dtype=torch.float64, device=lam.device)
        y = z * scale[todo, None, :]
        q = y / y.norm(dim=-1, keepdim=True)
        quad = (flat[todo, None, :] * q.pow(2)).sum(-1)
        log_acc = -quad + 2 * torch.log1p(2 * quad / b[todo, None]) + log_m[todo, None]
        u = torch.rand(m, batch, generator=generator, dtype=torch.float64, device=lam.device)
        ok = torch.log(u) < log_acc
        hit = ok.any(-1)
        first = ok.to(torch.int8).argmax(-1)
        out[todo[hit]] = q[hit, first[hit]]
        todo = todo[~hit]
    return out.reshape(*shape, 4)


def sample(
    f: torch.Tensor | None = None, generator: torch.Generator | None = None, svd=None, num: int | None = None
) -> torch.Tensor:
    """Rotations ``R ~ MF(F)`` for parameters ``F (..., 3, 3)`` (or their ``svd=proper_svd(F)``):
    ``R = U Q(q) V^T`` with ``q ~ Bingham(lam)``.

    Returns ``(..., 3, 3)`` float64 (one per ``F``), or ``(..., num, 3, 3)`` with ``num`` draws per ``F``.
    """
    u, s, v = proper_svd(f.to(torch.float64)) if svd is None else svd
    q = sample_bingham(_lam(s), generator, num)
    if num is not None:
        u, v = u.unsqueeze(-3), v.unsqueeze(-3)
    return u @ _quaternion_to_matrix(q) @ v.transpose(-1, -2)
