"""The symmetrized (orbit) target of Orbit Diffusion — Eq. (11) of Tong et al. 2025 (arXiv 2502.09890).

For data ``x0``, a noisy ``x_t ~ N(alpha x0, sigma^2 I)`` and a group ``G``, the exact target is the posterior
mean over the orbit of ``x0``:

    phi*(x0, x_t) = sum_g w(g) g.x0,   w(g) = softmax_g( -||x_t - alpha g.x0||^2 / (2 sigma^2) )   (Eq. 11)

over all of ``G`` (finite groups: an exact sum; compact groups: a Haar integral). The Monte Carlo estimate
uses ``K`` candidates, slot 0 being the generating element (the identity: ``x_t`` was drawn from ``x0``), the
others i.i.d. Haar, or drawn from an aligned proposal ``nu`` with weights ``q_t / nu`` (``proposal="aligned"``,
:mod:`symviz.proposals`). Its expectation equals the exact target for every K only under two conditions: the
generating element is in slot 0, and ``x0`` was augmented (``x0 = g y`` with ``g ~ Haar``, as the
``augment``/``orbit`` losses draw it, Eq. 12), so that the generating element is distributed as the posterior
given ``x_t``. For a fixed, non-augmented ``x0``, or without the generating element, the finite-K estimate is
biased (consistent as K grows).

Numerics (docs/architecture.md#numerical-contract): log-space weights with max subtraction; ``sigma = 0`` gives the
limit (weights uniform on the nearest candidates, i.e. the target is x0 for ``x_t = x0``); ``alpha = 0`` gives
uniform weights; padded candidates (invalid permutations) get logit -inf before the softmax.
"""

from __future__ import annotations

import torch

from symviz._checks import (
    check_group,
    check_mask,
    check_point_cloud,
    check_positive_int,
)
from symviz.groups import SO2, SO3, Group, MatrixGroup, Reflection
from symviz.proposals import resolve_proposal

__all__ = ["OrbitTarget", "orbit_logits", "orbit_weights", "orbit_target", "closed_form_target", "ess"]


class OrbitTarget:
    """The result of :func:`orbit_target`.

    Attributes:
        target: ``(..., n, d)`` the self-normalized weighted average ``sum_k w_k g_k.x0``.
        weights: ``(..., K)`` softmax weights (sum to 1).
        candidates: ``(..., K, n, d)`` the orbit points ``g_k.x0`` (computed on first access: the training
            loss never needs them for matrix groups).
        logits: ``(..., K)`` the log weights before normalisation (-inf for masked candidates).
        ess: ``(...)`` effective sample size ``1 / sum_k w_k^2``, in [1, K].
        elements: the K group elements used (slot 0 = identity when included).
    """

    def __init__(self, target, weights, logits, ess, elements, candidates=None, make_candidates=None):
        self.target, self.weights, self.logits, self.ess, self.elements = target, weights, logits, ess, elements
        self._candidates, self._make = candidates, make_candidates

    @property
    def candidates(self) -> torch.Tensor:
        if self._candidates is None:
            self._candidates = self._make()
        return self._candidates

    def __repr__(self):
        return f"OrbitTarget(target {tuple(self.target.shape)}, K={self.weights.shape[-1]})"


def _per_cloud(v, x: torch.Tensor, name: str) -> torch.Tensor:
    """Turn alpha/sigma (number or ``(...)`` tensor) into a tensor broadcastable to x's leading dims."""
    t = torch.as_tensor(v, dtype=x.dtype, device=x.device)
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} must be finite; got {v!r}")
    if t.numel() and (t.min() < 0 or t.max() > 1):
        raise ValueError(
            f"{name} must lie in [0, 1] for a variance-preserving kernel; got values in "
            f"[{float(t.min()):.4g}, {float(t.max()):.4g}]. Get it from VPSchedule.alpha_sigma(t)"
        )
    lead = x.dim() - 2
    if t.dim() > lead:
        raise ValueError(
            f"{name} has shape {tuple(t.shape)} but x0 has only {lead} leading batch dim(s) "
            f"(x0 shape {tuple(x.shape)}); pass a scalar or one value per point cloud"
        )
    return t


def orbit_logits(
    candidates: torch.Tensor,
    xt: torch.Tensor,
    alpha,
    sigma,
    mask: torch.Tensor | None = None,
    valid: torch.Tensor | None = None,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Log weights ``-||x_t - alpha c_k||^2 / (2 sigma^2 tau)`` of candidates ``c_k`` (Eq. 11's softmax argument).

    Shifted by the per-cloud minimum distance (softmax is shift-invariant), which keeps them finite for tiny
    sigma. At ``sigma = 0`` returns the limit: 0 on the nearest candidates (ties within float tolerance) and
    -inf elsewhere.

    Args:
        candidates: ``(..., K, n, d)``. xt: ``(..., n, d)``. alpha, sigma: scalars or ``(...)``.
        mask: ``(..., n)`` real points. valid: ``(..., K)`` valid candidates (others get -inf).
        temperature: tau; 1 is the exact posterior (docs/theory.md#temperature — the reference code's 0.4/(1-t)
            temperature is not the default).
    Returns:
        ``(..., K)`` logits.
    """
    a = alpha.reshape(*alpha.shape, 1, 1, 1)
    sq = (xt.unsqueeze(-3) - a * candidates).pow(2).sum(-1)  # (..., K, n)
    if mask is not None:
        sq = sq * mask.unsqueeze(-2).to(sq.dtype)
    cand_sq = candidates.pow(2).sum((-1, -2)).amax(-1, keepdim=True)  # (..., 1)
    scale = xt.pow(2).sum((-1, -2)).unsqueeze(-1) + alpha.reshape(*alpha.shape, 1) ** 2 * cand_sq
    return _logits_from_sqdist(sq.sum(-1), sigma, scale, valid, temperature)


def _logits_from_sqdist(d2, sigma, scale, valid, temperature):
    """Shared tail of the logits: ``d2 (..., K)`` squared distances (up to a per-cloud constant) to logits."""
    s2 = (sigma**2).reshape(*sigma.shape, 1)
    if valid is not None:
        d2 = torch.where(valid, d2, torch.full_like(d2, float("inf")))
    d2 = d2 - d2.amin(-1, keepdim=True)
    tiny = torch.finfo(d2.dtype).tiny
    zero = s2 <= tiny * 1e6
    smooth = -d2 / (2 * s2.clamp_min(tiny * 1e6) * temperature)
    tol = 64 * torch.finfo(d2.dtype).eps * (1 + scale)
    limit = torch.where(d2 <= tol, torch.zeros_like(d2), torch.full_like(d2, float("-inf")))
    out = torch.where(zero, limit, smooth)
    if valid is not None:
        out = torch.where(valid, out, torch.full_like(out, float("-inf")))
    return out


def _matrix_group_logits(x0, xt, alpha, sigma, mats, mask, temperature):
    """Logits for orthogonal matrices without forming candidates (O(K d^2) instead of O(K n d)).

    ``||x_t - alpha R x0||^2 = ||x_t||^2 + alpha^2 ||x0||^2 - 2 alpha <M, R>_F`` with ``M = sum_i x_t,i x0,i^T``;
    the first two terms do not depend on R and cancel in the softmax.
    """
    if mask is not None:
        xt = xt * mask.unsqueeze(-1).to(xt.dtype)
    m = torch.einsum("...ip,...iq->...pq", xt, x0)  # (..., d, d)
    ip = (mats * m.unsqueeze(-3)).sum((-1, -2))  # (..., K)
    d2 = -2 * alpha.unsqueeze(-1) * ip
    x0n = (x0 if mask is None else x0 * mask.unsqueeze(-1).to(x0.dtype)).pow(2).sum((-1, -2))
    scale = (xt.pow(2).sum((-1, -2)) + alpha**2 * x0n).unsqueeze(-1)
    return _logits_from_sqdist(d2, sigma, scale, None, temperature)


def orbit_weights(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis, max-subtracted (log-sum-exp stable)."""
    return torch.softmax(logits, dim=-1)


def ess(weights: torch.Tensor) -> torch.Tensor:
    """Effective sample size ``1 / sum_k w_k^2`` of normalized weights ``(..., K)``."""
    return 1.0 / weights.pow(2).sum(-1)


def _candidate_elements(group: Group, lead, num_samples, include_identity, generator, dtype, device):
    """Candidates per cloud, ``lead + (K,) + element_shape``: identity in slot 0, then i.i.d. Haar draws
    (independent across clouds); or all elements of a finite group (shared) when ``num_samples`` is None."""
    if num_samples is None:
        if not group.is_finite:
            raise ValueError(
                f"num_samples=None asks for the exact sum over the group, but {group!r} is continuous; pass "
                f"num_samples=K for a Monte Carlo estimate or use closed_form_target"
            )
        return group.elements(dtype=dtype, device=device)
    k = check_positive_int(num_samples, "num_samples")
    if not include_identity:
        return group.sample_per_cloud(lead, k, generator=generator, dtype=dtype, device=device)
    e = group.identity_per_cloud(lead, 1, dtype=dtype, device=device)
    if k == 1:
        return e
    draws = group.sample_per_cloud(lead, k - 1, generator=generator, dtype=dtype, device=device)
    return group.cat([e, draws])


def orbit_target(
    x0,
    xt,
    alpha,
    sigma,
    group: Group | str,
    num_samples: int | None = 64,
    include_identity: bool = True,
    generator: torch.Generator | None = None,
    mask: torch.Tensor | None = None,
    temperature: float = 1.0,
    elements=None,
    proposal="haar",
) -> OrbitTarget:
    """The symmetrized target of Eq. (11): the posterior mean of ``g.x0`` given ``x_t`` over the orbit of x0.

    Args:
        x0: ``(..., n, d)`` the clean sample that generated ``xt`` (centred for rotation groups).
        xt: ``(..., n, d)`` the noisy sample.
        alpha, sigma: kernel scales, scalars or ``(...)``, in [0, 1].
        group: a :class:`symviz.groups.Group` acting on ``R^d`` (or on the ``n`` points), or its registry name
            (``"SO3"``, ``"C6"``, ``"Z2"``, ...; :func:`symviz.groups.get`, ``"Z2"`` takes the data's d).
        num_samples: K, the number of candidates (default 64), *including* the identity when
            ``include_identity``; ``None`` = exact sum over a finite group.
        include_identity: put the generating element in slot 0 (default True). With an augmented ``x0``
            (``g.x0``, ``g ~ Haar``) this makes the estimate unbiased for every K; see the module docstring.
        generator: torch.Generator for the Haar draws (drawn independently for every cloud in the batch).
        mask: ``(..., n)`` bool, True = real point; padded points do not enter the weights and are 0 in the target.
        temperature: tau (default 1, the exact posterior).
        elements: optional explicit group elements to use as candidates (overrides sampling).
        proposal: how the K - 1 (K without identity) candidates are drawn: ``"haar"`` (default, i.i.d. Haar
            x uniform), ``"aligned"`` (matrix-Fisher draws around the Kabsch alignment of each candidate
            permutation, mixed with Haar; ``SO3()`` or ``Product(SO3(), H)`` only), ``"aligned-scored"`` (the
            finite factor drawn by its posterior mass too), ``"aligned-coset"`` (``SO3()``: where the posterior is
            broad, the coset of a randomly conjugated icosahedral group instead; K >= 60;
            docs/theory.md#coset-estimator) or a :class:`symviz.proposals.AlignedProposal`.
            The logits then subtract ``log nu(g_k)`` (paper §3.4), slot 0 included; see symviz.proposals.
    Returns:
        :class:`OrbitTarget`.
    """
    x0 = check_point_cloud(x0, "x0")
    xt = check_point_cloud(xt, "xt")
    if xt.shape[-2:] != x0.shape[-2:]:
        raise ValueError(f"xt must have the same (n, d) as x0; got x0 {tuple(x0.shape)} and xt {tuple(xt.shape)}")
    group = check_group(group, x0, "x0")
    xt = xt.to(x0.dtype)
    mask = check_mask(mask, x0)
    a = _per_cloud(alpha, x0, "alpha")
    s = _per_cloud(sigma, x0, "sigma")
    if not (isinstance(temperature, (int, float)) and temperature > 0):
        raise ValueError(f"temperature must be a positive number; got {temperature!r}")
    prop = resolve_proposal(proposal, group)
    lead = torch.broadcast_shapes(x0.shape[:-2], xt.shape[:-2], a.shape, s.shape)
    xt_l, a_l, s_l = xt.expand(*lead, *xt.shape[-2:]), a.expand(lead), s.expand(lead)
    n, d = x0.shape[-2:]
    log_nu = None
    if prop is not None:
        if elements is not None or num_samples is None:
            raise ValueError(f"proposal={proposal!r} draws K candidates: pass num_samples=K and no elements=")
        k = check_positive_int(num_samples, "num_samples")
        m_l = None if mask is None else mask.expand(*lead, n)
        elements, log_nu = prop.sample(
            group, x0.expand(*lead, n, d), xt_l, a_l, s_l, k, include_identity, generator, m_l
        )
    elif elements is None:
        elements = _candidate_elements(group, lead, num_samples, include_identity, generator, x0.dtype, x0.device)

    def make_candidates():
        c = group.act(elements, x0.unsqueeze(-3))  # (..., K, n, d)
        return c.expand(*lead, *c.shape[-3:])

    if isinstance(group, MatrixGroup) and type(group).act is MatrixGroup.act:  # the linear action x -> R x
        mats = elements.to(x0.dtype)
        x0_l = x0.expand(*lead, n, d)
        logits = _matrix_group_logits(x0_l, xt_l, a_l, s_l, mats, mask, temperature)
        if log_nu is not None:
            logits = logits - log_nu.to(logits.dtype)
        w = orbit_weights(logits)
        avg = (w[..., None, None] * mats).sum(-3)  # sum_k w_k R_k, (..., d, d)
        target, cands = torch.matmul(x0_l, avg.transpose(-1, -2)), None
    else:
        cands = make_candidates()
        valid = group.element_mask(elements)
        if valid is not None:
            valid = valid.expand(*lead, cands.shape[-3])
        logits = orbit_logits(cands, xt_l, a_l, s_l, mask, valid, temperature)
        if log_nu is not None:
            logits = logits - log_nu.to(logits.dtype)
        w = orbit_weights(logits)
        target = torch.einsum("...k,...knd->...nd", w, cands)
    if mask is not None:
        target = target * mask.unsqueeze(-1).to(target.dtype)
    return OrbitTarget(target, w, logits, ess(w), elements, candidates=cands, make_candidates=make_candidates)


# ----------------------------------------------------------------------------------------------
# Closed forms (docs/theory.md#closed-forms)
# ----------------------------------------------------------------------------------------------


def _bessel_ratio(kappa: torch.Tensor) -> torch.Tensor:
    """``I1(k) / I0(k)`` via the exponentially scaled ``i1e / i0e`` (stable for large kappa)."""
    return torch.special.i1e(kappa) / torch.special.i0e(kappa)


# Taylor coefficients of coth(k) - 1/k = sum_n 2^(2n) B_2n k^(2n-1) / (2n)!  (B_2n Bernoulli numbers)
_LANGEVIN_SERIES = (1 / 3, -1 / 45, 2 / 945, -1 / 4725, 2 / 93555, -1382 / 638512875, 4 / 18243225)


def langevin(kappa: torch.Tensor) -> torch.Tensor:
    """The Langevin function ``coth(k) - 1/k`` (odd; ``k/3 - k^3/45 + ...`` near 0, 1 at infinity).

    ``coth(k) - 1/k`` cancels for small ``k`` (relative error ~ eps / k^2), so below a cut-off the 7-term Taylor
    series is used instead: ``|k| < 1`` in float32 and lower precisions, ``|k| < 0.3`` in float64, where both
    the series' truncation and the cancellation stay at a few ulps (about 3e-7 and 1e-14 relative at worst).
    """
    cut = 0.3 if kappa.dtype == torch.float64 else 1.0
    small = kappa.abs() < cut
    kk = torch.where(small, torch.ones_like(kappa), kappa)
    big = 1.0 / torch.tanh(kk) - 1.0 / kk
    k2 = kappa * kappa
    poly = torch.full_like(kappa, _LANGEVIN_SERIES[-1])
    for c in reversed(_LANGEVIN_SERIES[:-1]):  # Horner in k^2
        poly = poly * k2 + c
    return torch.where(small, kappa * poly, big)


def closed_form_target(x0, xt, alpha, sigma, group: Group | str) -> torch.Tensor:
    """The exact orbit target (Eq. 11) in closed form, ``(..., n, d)``. ``group``: an object or a registry name.

    Supported (docs/theory.md#closed-forms, derivations there):

    - ``Reflection(d)`` on any cloud: ``phi* = x0 tanh(alpha <x0, x_t> / sigma^2)`` (inner product over all
      points and coordinates).
    - ``SO2()`` on a 2D cloud (one point or many): the posterior over the angle is von Mises with
      ``kappa = alpha A / sigma^2``, where ``A cos(theta - phi) = sum_i <x_t,i, R_theta x0,i>``; then
      ``phi* = I1(kappa)/I0(kappa) R_phi x0``. For one point at radius rho this is
      ``rho I1(kappa)/I0(kappa) x_t/|x_t|`` with ``kappa = alpha rho |x_t| / sigma^2``.
    - ``SO3()`` on one point: ``phi* = rho (coth kappa - 1/kappa) x_t/|x_t|`` (Langevin), same kappa.
    ``sigma = 0`` gives the limit (the nearest orbit point, weighted equally on ties).
    """
    x0 = check_point_cloud(x0, "x0")
    xt = check_point_cloud(xt, "xt").to(x0.dtype)
    group = check_group(group, x0, "x0")
    if xt.shape[-2:] != x0.shape[-2:]:
        raise ValueError(f"xt must have the same (n, d) as x0; got {tuple(x0.shape)} and {tuple(xt.shape)}")
    a = _per_cloud(alpha, x0, "alpha")
    s = _per_cloud(sigma, x0, "sigma")
    a4, s4 = a.reshape(*a.shape, 1, 1), s.reshape(*s.shape, 1, 1)
    tiny = torch.finfo(x0.dtype).tiny
    s2 = (s4**2).clamp_min(tiny * 1e6)
    inf = torch.tensor(float("inf"), dtype=x0.dtype, device=x0.device)
    if isinstance(group, Reflection):
        ip = (x0 * xt).sum((-1, -2), keepdim=True)
        # sigma = 0: the nearer of +-x0, or (a tie, a alpha <x0, x_t> = 0, e.g. x0 = 0) their mean 0; sign(0) * inf
        # would be NaN
        limit = torch.where(a4 * ip == 0, torch.zeros_like(ip), torch.sign(a4 * ip) * inf)
        arg = torch.where(s4**2 <= tiny * 1e6, limit, a4 * ip / s2)
        return x0 * torch.tanh(arg)
    if isinstance(group, SO2):
        j = torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=x0.dtype, device=x0.device)
        c = (xt * x0).sum((-1, -2))  # coefficient of cos(theta)
        d = (xt * (x0 @ j.T)).sum((-1, -2))  # coefficient of sin(theta)
        amp = torch.sqrt(c**2 + d**2)
        phi = torch.atan2(d, c)
        kappa = a * amp / (s**2).clamp_min(tiny * 1e6)
        kappa = torch.where((s**2 <= tiny * 1e6) & (a * amp > 0), inf, kappa)  # a * amp = 0: a tie, kappa 0
        r = torch.where(torch.isinf(kappa), torch.ones_like(kappa), _bessel_ratio(kappa.clamp_max(1e30)))
        rot = torch.stack([torch.stack([phi.cos(), -phi.sin()], -1), torch.stack([phi.sin(), phi.cos()], -1)], -2)
        return r.reshape(*r.shape, 1, 1) * (x0 @ rot.transpose(-1, -2))
    if isinstance(group, SO3):
        if x0.shape[-2] != 1:
            raise ValueError("the SO(3) closed form covers one point (n = 1); use orbit_target for clouds")
        rho = x0.norm(dim=-1, keepdim=True)
        rt = xt.norm(dim=-1, keepdim=True)
        kappa = torch.where((s4**2 <= tiny * 1e6) & (a4 * rho * rt > 0), inf, a4 * rho * rt / s2)
        lv = torch.where(torch.isinf(kappa), torch.ones_like(kappa), langevin(kappa.clamp_max(1e30)))
        return rho * lv * xt / rt.clamp_min(tiny)
    raise TypeError(
        f"no closed form for {group!r}; supported: Reflection, SO2 (any 2D cloud), SO3 (one point). "
        f"Use orbit_target (exact for finite groups with num_samples=None)"
    )
