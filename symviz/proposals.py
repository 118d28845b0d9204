"""Aligned proposals for the SO(3) orbit target: candidates drawn where the posterior over rotations lives.

The orbit target (Eq. 11 of Tong et al. 2025, arXiv 2502.09890) is a posterior mean over group elements,
``pi(g) ∝ L(g) = q_t(x_t | g.x0)`` with respect to Haar measure. With K uniform Haar candidates almost all
of them get zero weight once sigma_t is small (ESS ~ 1-3 at K = 64 for a 20-point cloud). Section 3.4 of the
paper allows any proposal ``nu`` with the importance weights ``q_t(x_t | g.x0) / nu(g)``; this module builds
one for ``SO(3)`` and ``SO(3) x H`` (``H`` a finite group acting on the points, e.g. graph automorphisms,
elements ``(R, h)``, action ``R (h.x0)``).

**The proposal** (per cloud, per candidate). Draw ``h`` from ``H`` (uniformly, or with ``permutations=
"scored"`` in proportion to a Laplace approximation of its marginal posterior mass ``Z_h = int L(R, h) dR``,
a function of the Kabsch score), then ``R`` from the matrix Fisher
distribution ``MF(F_h)``, ``F_h = (alpha / sigma^2) sum_i x_t,i (h.x0)_i^T`` (masked points excluded): its mode
is the Kabsch rotation aligning ``h.x0`` to ``x_t`` (SVD with the determinant fix) and, for ``R = R* exp(w^)``,
its log density is ``-1/2 w^T (alpha/sigma^2)(tr S - S) w + O(|w|^3)`` with ``S = R*^T M`` — the Laplace
approximation of the rotation posterior, with the exact (non-Gaussian) shape. In fact ``MF(F_h)`` *is* the
exact conditional posterior of ``R`` given ``h`` for the Gaussian kernel, and its normaliser is known as a
one-dimensional integral (:mod:`symviz.fisher`), so the density is exact and needs no spread cap. With the
defensive weight ``beta`` (default 0.1) the candidate comes instead from Haar x uniform, so that

    nu(R, h) = beta + (1 - beta) pi_H(h) MF(R; F_h)         (density w.r.t. normalised Haar x uniform on H)

with ``pi_H = 1`` for uniform draws and ``pi_H(h) = |H| rho(h)`` for scored draws, ``rho`` the discrete
proposal over the enumerated table (see ``AlignedProposal._table``). ``nu >= beta > 0`` everywhere.

**Scored automorphisms without enumeration.** Molecular groups (:class:`symviz.groups.AutomorphismGroup`,
``|H| = |Aut_heavy| prod_v |H_v|!``, 31,104 for neopentane) are too large to score element by element, so a
scored ``h = sigma . tau`` is drawn in two exact stages (``AlignedProposal._aut_parts``): (1) the heavy-atom
automorphism ``sigma`` in proportion to the same Laplace score, computed from the *class-averaged* cloud
(every hydrogen replaced by the centroid of its swap class, which no ``tau`` changes: ``M_sigma`` is the mean
of ``M_(sigma, tau)`` over ``tau``); (2) the hydrogen swaps ``tau`` given ``sigma``, one position at a time
inside each swap class (Plackett-Luce), with logits ``kappa x_t,i . R_sigma y_j`` for the still-free atoms
``j`` of the class, ``R_sigma`` the Kabsch rotation of stage (1). Then ``rho(h) = rho_1(sigma)
rho_2(tau | sigma)``, evaluated exactly for any element (slot 0 included); both stages are functions of the
candidate cloud ``h.x0`` only (up to rotation), so the unbiasedness argument below holds unchanged.
At ``alpha = 0``, ``F = 0`` and ``nu = 1``: Haar. Concentrations are capped at ``max_concentration``
(largest singular value of ``F``); the cap changes the proposal, not the exactness, because the same ``F`` is
used to sample and to evaluate ``nu``.

**Weights.** ``l_k = -||x_t - alpha g_k.x0||^2 / (2 sigma^2) - log nu(g_k)``, softmax over k (log space;
slot 0 is the generating element, identity, and also gets its ``-log nu``).

**Why it stays exactly unbiased** (the importance-resampling argument of Eq. 11's estimator). Fix ``x_t`` and
an orbit representative ``y``; let ``x0 = g* y`` with ``g*`` the generating element, write the candidates in
absolute form ``a_k = g_k g*`` (so ``g_k.x0 = a_k.y``). (i) Kabsch-aligned Fisher draws are equivariant: for
``x0 = R' y`` the cross-covariance is ``M_y R'^T``, so ``F`` becomes ``F_y R'^T`` and ``R ~ MF(F_y R'^T)``
iff ``R R' ~ MF(F_y)``; a uniform draw of ``h`` composed with ``h*`` is again uniform, and a scored one is
again score-proportional (the score depends on ``h`` only through the singular values of ``F_h``, which a
rotation of ``x0`` does not change). Hence the law of ``a_k`` is a fixed density ``nu_y`` that does not depend
on ``g*``, and ``nu_x0(g_k) = nu_y(a_k)``. (ii) The ``a_2 .. a_K`` are drawn independently of
``a_1 = g*``. (iii) When the data are augmented (``g*`` Haar), ``a_1 = g*`` is distributed as the posterior
``L(a) / Z`` given ``(x_t, y)``. The joint density of ``(a_1 .. a_K)`` is then
``(L(a_1)/Z) prod_{k>=2} nu(a_k) = (w_1 / Z) prod_k nu(a_k)`` with ``w_k = L(a_k)/nu(a_k)``; the estimator
``T = sum_k w_k a_k.y / sum_k w_k`` is symmetric in the K slots, so averaging the special slot over k turns
``w_1`` into ``(1/K) sum_k w_k``, which cancels the denominator: ``E[T] = (1/(K Z)) sum_k int L(a) a.y da
= phi*``. Exactly unbiased for every K, like uniform Haar with identity inclusion.

**The coset estimator at high noise** (``coset_below``, proposal ``"aligned-coset"``; SO(3) alone; not in the
paper: a Rao-Blackwellisation over cosets, in the spirit of its Theorem 1). Where the posterior over rotations is
broad, no importance proposal does much better than Haar: K i.i.d. candidates leave an error ~ posterior
variance / K. Instead take the 60 rotations of the icosahedral group ``I``, conjugated by one Haar rotation
``Q`` per cloud (``H = Q I Q^T``, a subgroup that contains the identity), and use the candidates ``h . x0``,
``h in H``, with weights ``L`` (no ``-log nu``). Why it is exactly unbiased: the right cosets ``H a`` partition
SO(3); the candidates are the coset ``H g*`` of the generating element; given that coset, ``g*`` is distributed
as ``L`` restricted to it (the posterior is a density w.r.t. Haar, and Haar restricted to a coset of a finite
group is uniform on it), so the estimate is the exact conditional mean ``E[g*.y | coset]`` and its expectation is
``phi*`` — for every ``Q``. And the error is small: ``I`` integrates every Wigner function of degree 1 to 5
exactly (it has no invariants there), so for a smooth, broad ``L`` the coset average is nearly the integral
(benchmarks/proposals.py, ``mse``). Where the posterior is concentrated the coset has one point in it and the
Fisher draws are far better, so each cloud uses the coset only when its concentration ``kappa s1`` (``s1`` the
largest singular value of ``M``) is below ``coset_below``. ``s1`` does not change when ``x0`` is rotated, so the
choice depends on ``(x_t, y)`` only and both branches stay unbiased. The coset fills slots 0-59 (slot 0 the
identity); slots 60 to K - 1 get weight 0 (``log nu = +inf``): the option needs ``K >= 60`` and the identity slot.
"""

from __future__ import annotations

import functools
import math

import torch

from symviz import fisher
from symviz.groups import SO3, AutomorphismGroup, Group, Product
from symviz.groups.automorphisms import within_class_permutations

__all__ = ["PROPOSALS", "COSET_BELOW", "AlignedProposal", "icosahedral_rotations", "resolve_proposal"]

PROPOSALS = ("haar", "aligned", "aligned-scored", "aligned-coset")
#: ``coset_below`` of ``"aligned-coset"``: the concentration ``kappa s1`` below which a cloud uses the coset
#: estimator (chosen on the 20-point cloud of benchmarks/proposals.py: the errors of the two cross between
#: 4 and 6; 4 keeps the Fisher draws where they beat Haar K = 1024)
COSET_BELOW = 4.0
ICOSAHEDRAL_ORDER = 60


def _axis_angle(axis, angle: float) -> torch.Tensor:
    u = torch.tensor(axis, dtype=torch.float64)
    u = u / u.norm()
    k = torch.tensor([[0.0, -u[2], u[1]], [u[2], 0.0, -u[0]], [-u[1], u[0], 0.0]], dtype=torch.float64)
    return torch.eye(3, dtype=torch.float64) + math.sin(angle) * k + (1 - math.cos(angle)) * (k @ k)


@functools.cache
def _icosahedral_cpu() -> torch.Tensor:
    phi = (1 + math.sqrt(5)) / 2  # the icosahedron (0, +-1, +-phi) and its cyclic shifts
    gens = [_axis_angle((0.0, 1.0, phi), 2 * math.pi / 5), _axis_angle((0.0, 0.0, 1.0), math.pi)]
    elems, frontier, seen = [torch.eye(3, dtype=torch.float64)], [torch.eye(3, dtype=torch.float64)], set()
    seen.add(tuple(torch.round(elems[0] * 1e6).flatten().tolist()))
    while frontier:  # closure under the two generators (a 5-fold and a 2-fold axis of the same icosahedron)
        new = []
        for a in frontier:
            for g in gens:
                m = g @ a
                key = tuple(torch.round(m * 1e6).flatten().tolist())
                if key not in seen:
                    seen.add(key)
                    new.append(m)
        elems += new
        frontier = new
    out = torch.stack(elems)
    assert out.shape[0] == ICOSAHEDRAL_ORDER, out.shape
    return out


def icosahedral_rotations(dtype=torch.float64, device=None) -> torch.Tensor:
    """The 60 rotations of the icosahedral group ``(60, 3, 3)``, identity first: the largest finite subgroup of
    SO(3) other than the cyclic and dihedral ones (which keep to one or two axes); its averages integrate the
    Wigner functions of degree 1 to 5 exactly (it has no invariants there)."""
    return _icosahedral_cpu().to(dtype=dtype, device=device)


def _finite_factor(group: Group) -> Group | None:
    """None for ``SO3()``; the finite factor ``H`` for ``Product(SO3(), H)``; ValueError otherwise."""
    if isinstance(group, SO3):
        return None
    if isinstance(group, Product) and isinstance(group.factors[0], SO3) and group.factors[1].is_finite:
        return group.factors[1]
    raise ValueError(
        f"proposal='aligned' needs group SO3() or Product(SO3(), H) with H finite (e.g. Permutations of the "
        f"atoms); got {group!r}. Use proposal='haar' for other groups"
    )


def _proper_singular_values(m: torch.Tensor) -> torch.Tensor:
    """``s1 >= s2 >= |s3|`` of ``m (..., 3, 3)``, ``s3`` signed by ``det m``: closed-form eigenvalues of the
    symmetric ``m^T m`` (trigonometric solution of the cubic; cheaper than an SVD per table row)."""
    a = m.transpose(-1, -2) @ m
    q = a.diagonal(dim1=-2, dim2=-1).sum(-1) / 3
    p1 = a[..., 0, 1] ** 2 + a[..., 0, 2] ** 2 + a[..., 1, 2] ** 2
    p = torch.sqrt(((a.diagonal(dim1=-2, dim2=-1) - q[..., None]) ** 2).sum(-1) / 6 + p1 / 3)
    b = (a - q[..., None, None] * torch.eye(3, dtype=a.dtype, device=a.device)) / p.clamp_min(1e-300)[..., None, None]
    phi = torch.acos((torch.linalg.det(b) / 2).clamp(-1, 1)) / 3
    e1 = q + 2 * p * torch.cos(phi)
    e3 = q + 2 * p * torch.cos(phi + 2 * math.pi / 3)
    e = torch.stack([e1, 3 * q - e1 - e3, e3], -1).clamp_min(0).sqrt()
    sign = torch.where(torch.linalg.det(m) < 0, -1.0, 1.0).to(e.dtype)
    return torch.cat([e[..., :2], e[..., 2:] * sign[..., None]], -1)


def _gather(table: torch.Tensor, idx: torch.Tensor, elem_ndim: int) -> torch.Tensor:
    """Rows ``idx (..., k)`` of a finite group's element table ``(..., P, *elem)`` (leading dims broadcast)."""
    elem = table.shape[table.dim() - elem_ndim :]
    p = table.shape[table.dim() - elem_ndim - 1]
    flat = table.expand(*idx.shape[:-1], p, *elem).reshape(*idx.shape[:-1], p, -1)
    out = torch.gather(flat, -2, idx[..., None].expand(*idx.shape, flat.shape[-1]))
    return out.reshape(*idx.shape, *elem)


class AlignedProposal:
    """Matrix-Fisher proposal centred on the Kabsch alignment, mixed with Haar (see the module docstring).

    Args:
        defensive: ``beta`` in [0.1, 1] (default 0.1), weight of the Haar x uniform component.
        permutations: ``"uniform"`` (default: the finite factor drawn uniformly, one Fisher rotation per
            drawn element) or ``"scored"`` (drawn in proportion to a Laplace approximation of its posterior
            mass, which scores every element of the table: cost O(|H| n) per cloud).
        max_concentration: cap on the largest singular value of ``F`` (default 1e12).
        coset_below: None (default) or a concentration: for ``SO3()`` with the identity slot and ``K >= 60``,
            each cloud whose ``kappa s1`` is below it uses the icosahedral coset estimator instead of Fisher
            draws (module docstring; ``float("inf")``: always). ``log_density`` describes the Fisher proposal only.
    """

    def __init__(
        self,
        defensive: float = 0.1,
        permutations: str = "uniform",
        max_concentration: float = 1e12,
        coset_below: float | None = None,
    ):
        if not (isinstance(defensive, (int, float)) and 0.1 <= defensive <= 1):
            raise ValueError(
                f"defensive (the Haar weight beta) must lie in [0.1, 1] so that weights stay below L / beta; "
                f"got {defensive!r}"
            )
        if permutations not in ("uniform", "scored"):
            raise ValueError(f"permutations must be 'uniform' or 'scored'; got {permutations!r}")
        if not (isinstance(max_concentration, (int, float)) and 0 < max_concentration < math.inf):
            raise ValueError(f"max_concentration must be a positive finite number; got {max_concentration!r}")
        if coset_below is not None and not (
            isinstance(coset_below, (int, float)) and not isinstance(coset_below, bool) and 0 < coset_below <= math.inf
        ):
            raise ValueError(f"coset_below must be None or a positive concentration (e.g. 4.0); got {coset_below!r}")
        self.defensive, self.permutations, self.max_concentration = float(defensive), permutations, max_concentration
        self.coset_below = None if coset_below is None else float(coset_below)

    def check_group(self, group: Group) -> None:
        """Raise ValueError unless ``group`` is ``SO3()`` or ``Product(SO3(), H)`` with ``H`` finite (``SO3()``
        alone with ``coset_below``)."""
        if _finite_factor(group) is not None and self.coset_below is not None:
            raise ValueError(
                f"the coset estimator (coset_below, proposal 'aligned-coset') works for SO3() alone; got {group!r}. "
                f"Use proposal='aligned' or 'aligned-scored' for a product with a finite group"
            )

    # -- the Fisher parameters ------------------------------------------------------------------
    def _cross(self, xt, y, alpha, sigma, mask):
        """``(M, kappa)``: ``M = sum_i x_t,i y_i^T`` ``(..., k, 3, 3)`` (float64) and ``kappa (..., 1)`` =
        ``alpha / sigma^2`` (0 at alpha = 0). ``xt (..., n, 3)``, ``y (..., k, n, 3)``, ``mask (..., n)``."""
        xt = xt.to(torch.float64)
        if mask is not None:
            xt = xt * mask.unsqueeze(-1).to(xt.dtype)
        m = torch.einsum("...ip,...kiq->...kpq", xt, y.to(torch.float64))
        a, s2 = alpha.to(torch.float64), sigma.to(torch.float64) ** 2
        return m, torch.where(a > 0, a / s2.clamp_min(1e-300), torch.zeros_like(a)).unsqueeze(-1)

    def _capped(self, kappa, s1):
        """``kappa`` scaled down where ``kappa s1`` exceeds ``max_concentration``."""
        top = kappa * s1
        return torch.where(top > self.max_concentration, self.max_concentration / top.clamp_min(1e-300), 1) * kappa

    def _svd(self, xt, y, alpha, sigma, mask):
        """Proper SVD ``(U, s, V)`` of ``F = kappa M`` (capped), each ``(..., k, ...)``."""
        m, kappa = self._cross(xt, y, alpha, sigma, mask)
        u, s, v = fisher.proper_svd(m)
        return u, s * self._capped(kappa, s[..., 0]).unsqueeze(-1), v

    def _score(self, m, kappa):
        """Laplace log-mass ``sum(s) - 1/2 sum_j log(1 + pi^(1/3) lam_j)`` of ``F = kappa m`` (see ``_table``)."""
        s = _proper_singular_values(m)
        s = s * self._capped(kappa, s[..., 0]).unsqueeze(-1)
        return s.sum(-1) - 0.5 * torch.log1p(math.pi ** (1 / 3) * fisher._lam(s)).sum(-1)

    def _table(self, h_group, x0, xt, alpha, sigma, mask):
        """Scored draws: ``(table, valid, log_pi)``, ``log_pi (..., P)`` = ``log |H| + log rho(h)`` for every
        element of ``H`` (-inf on padding rows), ``rho = softmax(score)``.

        ``score_h = sum(s) - 1/2 sum_j log(1 + pi^(1/3) lam_j)`` from the proper singular values ``s`` of
        ``F_h``: the log of a Laplace approximation of ``Z_h = int exp(tr(F_h^T R)) dR`` (exact at ``F = 0``
        and as ``lam -> inf``, where ``c~ ~ (pi lam1 lam2 lam3)^(-1/2)``). Any score gives exact weights, as
        long as the drawn elements' ``log_pi`` is read from this table (it is)."""
        table = h_group.elements(device=x0.device)
        m, kappa = self._cross(xt, h_group.act(table, x0.unsqueeze(-3)), alpha, sigma, mask)
        score = self._score(m, kappa)
        valid = h_group.element_mask(table)
        if valid is not None:
            score = torch.where(valid, score, torch.full_like(score, -math.inf))
            count = valid.sum(-1).to(torch.float64).expand(score.shape[:-1])
        else:
            count = torch.full(score.shape[:-1], float(score.shape[-1]), dtype=torch.float64, device=x0.device)
        return table, valid, torch.log(count).unsqueeze(-1) + torch.log_softmax(score, -1)

    def _log_nu(self, r, svd, log_pi):
        """``log nu = log(beta + (1 - beta) pi_H(h) MF(R; F_h))`` ``(..., K)`` (``log_pi`` None: ``pi_H = 1``)."""
        log_mf = fisher.log_prob(r, svd=svd)
        if log_pi is not None:
            log_mf = log_mf + log_pi
        b = self.defensive
        if b >= 1:
            return torch.zeros_like(log_mf)
        return torch.logaddexp(torch.full_like(log_mf, math.log(b)), math.log1p(-b) + log_mf)

    # -- scored automorphisms, factored (see the module docstring) -------------------------------
    def _aut_heavy(self, h_group, x0, xt, alpha, sigma, mask):
        """Stage 1 for every heavy-atom row: ``(log_rho1 (..., P), rot (..., P, 3, 3), ys (..., P, n, 3),
        kappa (..., P))``; ``ys`` the clouds ``base[sigma].x0`` (float64), ``rot`` their class-averaged Kabsch
        rotations, ``kappa`` the capped ``alpha / sigma^2`` used for the stage-2 logits."""
        base, classes = h_group.perms, h_group.classes
        ys = h_group.act(base, x0.unsqueeze(-3)).to(torch.float64)
        same = (classes.unsqueeze(-1) == classes.unsqueeze(-2)).to(torch.float64)  # (.., n, n)
        ybar = (same / same.sum(-1, keepdim=True)).unsqueeze(-3) @ ys  # hydrogens -> their class centroid
        m, kappa = self._cross(xt, ybar, alpha, sigma, mask)
        score = self._score(m, kappa)
        valid = torch.arange(base.shape[-2], device=base.device) < h_group.counts.unsqueeze(-1)
        score = torch.where(valid, score, torch.full_like(score, -math.inf))
        u, s, v = fisher.proper_svd(m)
        kappa = self._capped(kappa, s[..., 0])
        return torch.log_softmax(score, -1), u @ v.transpose(-1, -2), ys, kappa

    def _aut_tau(self, classes, xt, alpha, rot, ys, kappa, mask, tau=None, generator=None):
        """Stage 2: ``(tau, log rho2(tau | sigma))`` per candidate, ``tau (..., K, n)``, log prob ``(..., K)``.

        ``rot (..., K, 3, 3)``, ``ys (..., K, n, 3)``, ``kappa (..., K)`` for each candidate's ``sigma``. Draws
        ``tau`` when it is None (Gumbel-max per position), else scores the given one. Position ``i`` (in index
        order inside its class) picks ``tau[i]`` among the class members not yet picked, with probability
        ``softmax_j(-|x_t,i - alpha R y_j|^2 / (2 sigma^2))`` (``alpha (...)``, sigma through ``kappa``)."""
        xt = xt.to(torch.float64)
        if mask is not None:
            xt = xt * mask.unsqueeze(-1).to(xt.dtype)
        # Candidates of position i: the members of its class, in index order, (.., n, M) with M the largest class.
        same = classes.unsqueeze(-1) == classes.unsqueeze(-2)  # (.., n, n)
        width = int(same.sum(-1).max())
        members = torch.sort(torch.where(same, torch.arange(same.shape[-1], device=same.device), same.shape[-1]), -1)
        members = members.values[..., :width]  # (.., n, M); n marks "no member"
        is_member = members < same.shape[-1]
        members = torch.where(is_member, members, 0)
        rank = torch.tril(same, diagonal=-1).sum(-1)  # (.., n): earlier members of the own class
        # logits -|x_t,i - alpha R y_j|^2 / (2 sigma^2) up to a constant in j: kappa (x_t,i . R y_j - alpha |y_j|^2 / 2)
        ry = ys @ rot.transpose(-1, -2)  # (..., K, n, 3): R y_j
        lead = ry.shape[:-2]
        n = ry.shape[-2]
        flat = members.reshape(*members.shape[:-2], 1, -1).expand(*lead, n * width)  # (..., K, n M)
        ry_m = torch.gather(ry, -2, flat.unsqueeze(-1).expand(*flat.shape, 3)).reshape(*lead, n, width, 3)
        y2_m = torch.gather((ys * ys).sum(-1), -1, flat).reshape(*lead, n, width)
        alpha = alpha.to(torch.float64)[..., None, None, None]
        logits = kappa[..., None, None] * ((xt.unsqueeze(-2).unsqueeze(-4) * ry_m).sum(-1) - alpha / 2 * y2_m)
        members = members.unsqueeze(-3).expand(*lead, n, width)  # a K axis for the candidates
        is_member = is_member.unsqueeze(-3).expand(*lead, n, width)
        rank = rank.unsqueeze(-2)
        used = torch.zeros(*lead, n, dtype=torch.bool, device=ry.device)
        if tau is None:
            slot = torch.zeros(*lead, n, dtype=torch.long, device=ry.device)
        else:  # the slot of tau[i] among position i's members (a non-member scores -inf below)
            slot = (members == tau.unsqueeze(-1)).to(torch.int8).argmax(-1)
        logp = torch.zeros(lead, dtype=torch.float64, device=ry.device)
        for r in range(int(rank.max()) + 1):
            pos = (rank == r).expand(*lead, n)  # at most one deciding position per class
            free = is_member & ~torch.gather(used, -1, members.reshape(*lead, -1)).reshape(*lead, n, width)
            lg = torch.where(free, logits, -math.inf)
            lg = torch.where(pos.unsqueeze(-1), lg, 0.0)  # idle rows: harmless finite logits
            lsm = torch.log_softmax(lg, -1)
            if tau is None:
                u = torch.rand(lg.shape, generator=generator, dtype=torch.float64, device=lg.device)
                slot = torch.where(pos, (lg - torch.log(-torch.log(u.clamp_min(1e-300)))).argmax(-1), slot)
            lp = torch.gather(lsm, -1, slot.unsqueeze(-1)).squeeze(-1)
            logp = logp + torch.where(pos, lp, 0.0).sum(-1)
            pick = torch.gather(members, -1, slot.unsqueeze(-1)).squeeze(-1)
            hits = torch.zeros(used.shape, dtype=torch.long, device=used.device).scatter_add_(-1, pick, pos.long())
            used = used | (hits > 0)
        out = torch.gather(members, -1, slot.unsqueeze(-1)).squeeze(-1)
        if tau is not None:
            logp = torch.where((out == tau).all(-1), logp, -math.inf)
        return out, logp

    def _aut_parts(self, h_group, x0, xt, alpha, sigma, mask):
        """Shared stage-1 quantities plus ``log |H|`` ``(..., 1)``."""
        log_rho1, rot, ys, kappa = self._aut_heavy(h_group, x0, xt, alpha, sigma, mask)
        log_order = torch.log(h_group.orders.to(torch.float64)).expand(log_rho1.shape[:-1]).unsqueeze(-1)
        return log_rho1, rot, ys, kappa, log_order

    def _aut_log_pi(self, h_group, parts, idx, tau, xt, alpha, mask):
        """``log pi_H = log |H| + log rho1(sigma) + log rho2(tau | sigma)`` ``(..., K)`` for rows ``idx``."""
        log_rho1, rot, ys, kappa, log_order = parts
        rot_k, ys_k = _gather(rot, idx, 2), _gather(ys, idx, 2)
        kappa_k = torch.gather(kappa.expand(*idx.shape[:-1], kappa.shape[-1]), -1, idx)
        _, lp2 = self._aut_tau(h_group.classes, xt, alpha, rot_k, ys_k, kappa_k, mask, tau=tau)
        lp1 = torch.gather(log_rho1.expand(*idx.shape[:-1], log_rho1.shape[-1]), -1, idx)
        return log_order + lp1 + lp2

    def _aut_decompose(self, h_group, h):
        """``(idx, tau, member)`` with ``h = base[idx][tau]``; ``member`` False where ``h`` is not in the group.

        ``h (..., K, n)``; a batched group's molecule axis is ``h``'s axis -3 (right-aligned broadcasting)."""
        base = h_group.perms
        classes = h_group.classes.unsqueeze(-2) if h_group.batched else h_group.classes  # (B, 1, n) or (n,)
        hs = h.clamp_min(0)
        cls_h = torch.gather(classes.expand(*h.shape), -1, hs)  # class of each image
        cls_b = torch.gather(classes.expand(*base.shape), -1, base.clamp_min(0))  # (.., P, n)
        eq = (cls_h.unsqueeze(-2) == cls_b.unsqueeze(-3)).all(-1) & (base >= 0).all(-1).unsqueeze(-2)  # (.., K, P)
        idx = eq.to(torch.int8).argmax(-1)
        tau = torch.gather(torch.argsort(_gather(base, idx, 1), -1), -1, hs)  # base[idx][tau] = h
        same_class = (torch.gather(classes.expand(*h.shape), -1, tau) == classes.expand(*h.shape)).all(-1)
        return idx, tau, eq.any(-1) & same_class & (h >= 0).all(-1)

    def _aut_draw(self, h_group, x0, xt, alpha, sigma, mask, free, haar, include_identity, generator):
        """Scored draws from an AutomorphismGroup: ``(h (..., K, n), log_pi (..., K))``."""
        lead, dev = x0.shape[:-2], x0.device
        parts = self._aut_parts(h_group, x0, xt, alpha, sigma, mask)
        log_rho1, rot, ys, kappa, _ = parts
        rho1 = log_rho1.exp().expand(*lead, log_rho1.shape[-1])
        counts = h_group.counts.to(dev).expand(lead)
        idx = torch.zeros(*lead, 0, dtype=torch.long, device=dev)
        tau = torch.zeros(*lead, 0, x0.shape[-2], dtype=torch.long, device=dev)
        if free > 0:
            scored = torch.multinomial(rho1.reshape(-1, rho1.shape[-1]), free, replacement=True, generator=generator)
            u = torch.rand(*lead, free, generator=generator, dtype=torch.float64, device=dev)
            unif = (u * counts.unsqueeze(-1)).long().clamp_max(counts.unsqueeze(-1) - 1)
            idx = torch.where(haar, unif, scored.reshape(*lead, free))
            rot_k, ys_k = _gather(rot, idx, 2), _gather(ys, idx, 2)
            kappa_k = torch.gather(kappa.expand(*lead, kappa.shape[-1]), -1, idx)
            tau_s, _ = self._aut_tau(h_group.classes, xt, alpha, rot_k, ys_k, kappa_k, mask, generator=generator)
            cls = h_group.classes.expand(*lead, x0.shape[-2])
            tau_u = within_class_permutations(cls, free, generator=generator, device=dev)
            tau = torch.where(haar.unsqueeze(-1), tau_u, tau_s)
        if include_identity:
            idx = torch.cat([torch.zeros(*lead, 1, dtype=torch.long, device=dev), idx], -1)
            ident = torch.arange(x0.shape[-2], device=dev).expand(*lead, 1, x0.shape[-2])
            tau = torch.cat([ident, tau], -2)
        base = h_group.perms.expand(*lead, *h_group.perms.shape[-2:])
        h = torch.gather(_gather(base, idx, 1), -1, tau)  # h = base[idx][tau]
        return h, self._aut_log_pi(h_group, parts, idx, tau, xt, alpha, mask)

    # -- public ---------------------------------------------------------------------------------
    def log_density(self, group: Group, elements, x0, xt, alpha, sigma, mask=None) -> torch.Tensor:
        """``log nu(g_k)`` ``(..., K)`` (float64) of given elements w.r.t. normalised Haar (x uniform on H).

        Args:
            group: ``SO3()`` or ``Product(SO3(), H)``. elements: ``(..., K, 3, 3)`` or a tuple ``(R, h)``.
            x0, xt: ``(..., n, 3)`` (same leading shape). alpha, sigma: ``(...)``. mask: ``(..., n)`` or None.
        """
        h_group = _finite_factor(group)
        r, h = (elements, None) if h_group is None else elements
        y = x0.unsqueeze(-3) if h is None else h_group.act(h, x0.unsqueeze(-3))
        log_pi = None
        if isinstance(h_group, AutomorphismGroup) and self.permutations == "scored":
            idx, tau, member = self._aut_decompose(h_group, h)
            parts = self._aut_parts(h_group, x0, xt, alpha, sigma, mask)
            log_pi = self._aut_log_pi(h_group, parts, idx, tau, xt, alpha, mask)
            log_pi = torch.where(member, log_pi, torch.full_like(log_pi, -math.inf))
        elif h is not None and self.permutations == "scored":
            table, _, log_pi_t = self._table(h_group, x0, xt, alpha, sigma, mask)
            flat_t = table.reshape(*table.shape[: table.dim() - h_group.elem_ndim], -1)
            flat_h = h.reshape(*h.shape[: h.dim() - h_group.elem_ndim], -1)
            eq = (flat_h.unsqueeze(-2) == flat_t.unsqueeze(-3)).all(-1)  # (..., k, P)
            idx = eq.to(torch.int8).argmax(-1)
            log_pi = torch.gather(log_pi_t.expand(*idx.shape[:-1], log_pi_t.shape[-1]), -1, idx)
            log_pi = torch.where(eq.any(-1), log_pi, torch.full_like(log_pi, -math.inf))
        return self._log_nu(r, self._svd(xt, y, alpha, sigma, mask), log_pi)

    def sample(
        self,
        group: Group,
        x0: torch.Tensor,
        xt: torch.Tensor,
        alpha: torch.Tensor,
        sigma: torch.Tensor,
        num_samples: int,
        include_identity: bool = True,
        generator: torch.Generator | None = None,
        mask: torch.Tensor | None = None,
    ):
        """K candidates per cloud and their log proposal densities.

        Args:
            x0, xt: ``(..., n, 3)`` (same leading shape ``lead``). alpha, sigma: ``lead``. mask: ``(..., n)``.
            num_samples: K, identity included in slot 0 when ``include_identity`` (default True).
        Returns:
            ``(elements, log_nu)``: elements ``(..., K, 3, 3)`` (``SO3``) or ``(R, h)`` (products), in x0's
            dtype; ``log_nu`` ``(..., K)`` float64, ``log nu(g_k)`` including slot 0.
        """
        h_group = _finite_factor(group)
        lead, dev, dt, nl = x0.shape[:-2], x0.device, x0.dtype, x0.dim() - 2
        k0 = 1 if include_identity else 0
        free = num_samples - k0
        haar = torch.rand(*lead, free, generator=generator, dtype=torch.float64, device=dev) < self.defensive
        h, log_pi = None, None
        if h_group is not None:
            if self.permutations == "uniform":
                h = h_group.sample_per_cloud(lead, free, generator=generator, dtype=dt, device=dev)
            elif isinstance(h_group, AutomorphismGroup):
                h, log_pi = self._aut_draw(h_group, x0, xt, alpha, sigma, mask, free, haar, include_identity, generator)
            else:
                table, valid, log_pi_t = self._table(h_group, x0, xt, alpha, sigma, mask)
                log_pi_t = log_pi_t.expand(*lead, log_pi_t.shape[-1])
                unif = torch.ones_like(log_pi_t) if valid is None else valid.to(log_pi_t.dtype).expand_as(log_pi_t)
                idx = torch.zeros(2, *lead, free, dtype=torch.long, device=dev)
                if free > 0:
                    flat = torch.cat([log_pi_t.exp(), unif]).reshape(-1, log_pi_t.shape[-1])
                    idx = torch.multinomial(flat, free, replacement=True, generator=generator).reshape(2, *lead, free)
                idx = torch.where(haar, idx[1], idx[0])
                if include_identity:  # the identity is row 0 of a finite group's element table
                    idx = torch.cat([torch.zeros(*lead, 1, dtype=torch.long, device=dev), idx], -1)
                h = _gather(table, idx, h_group.elem_ndim)
                log_pi = torch.gather(log_pi_t, -1, idx)
            if include_identity and self.permutations == "uniform":
                h = h_group.cat([h_group.identity_per_cloud(lead, 1, dtype=dt, device=dev), h])
        y = x0.unsqueeze(-3) if h is None else h_group.act(h, x0.unsqueeze(-3))
        svd = self._svd(xt, y, alpha, sigma, mask)  # (..., K or 1, ...)
        if h is None:  # one Fisher parameter per cloud: draw ``free`` rotations from it
            r = fisher.sample(svd=tuple(t.squeeze(nl) for t in svd), generator=generator, num=free)
        else:
            r = fisher.sample(svd=tuple(t.narrow(nl, k0, free) for t in svd), generator=generator)
        r_haar = SO3().sample_per_cloud(lead, free, generator=generator, dtype=torch.float64, device=dev)
        r = torch.where(haar[..., None, None], r_haar, r)
        if include_identity:
            r = torch.cat([torch.eye(3, dtype=torch.float64, device=dev).expand(*lead, 1, 3, 3), r], -3)
        log_nu = self._log_nu(r, svd, log_pi)
        if h is None and self.coset_below is not None and include_identity and num_samples >= ICOSAHEDRAL_ORDER:
            r, log_nu = self._coset(r, log_nu, svd, generator)
        r = r.to(dt)
        return (r if h is None else (r, h)), log_nu

    def _coset(self, r, log_nu, svd, generator):
        """Clouds whose concentration ``kappa s1`` (from ``svd``, the cloud's Fisher parameter) is below
        ``coset_below``: candidates ``Q I Q^T`` (identity in slot 0) and log nu 0, the slots after the 60th
        log nu = +inf (weight 0). ``r (..., K, 3, 3)``, ``log_nu (..., K)`` float64."""
        lead, k, dev = log_nu.shape[:-1], log_nu.shape[-1], log_nu.device
        q = SO3().sample_per_cloud(lead, 1, generator=generator, dtype=torch.float64, device=dev)  # (..., 1, 3, 3)
        coset = q @ icosahedral_rotations(device=dev) @ q.transpose(-1, -2)  # (..., 60, 3, 3)
        coset[..., 0, :, :] = torch.eye(3, dtype=torch.float64, device=dev)
        pad = torch.eye(3, dtype=torch.float64, device=dev).expand(*lead, k - ICOSAHEDRAL_ORDER, 3, 3)
        coset = torch.cat([coset, pad], -3)
        nu = torch.zeros_like(log_nu)
        nu[..., ICOSAHEDRAL_ORDER:] = math.inf
        use = svd[1][..., 0, 0] < self.coset_below
        return torch.where(use[..., None, None, None], coset, r), torch.where(use[..., None], nu, log_nu)

    def __repr__(self):
        coset = "" if self.coset_below is None else f", coset_below={self.coset_below}"
        return f"AlignedProposal(defensive={self.defensive}, permutations={self.permutations!r}{coset})"


def resolve_proposal(proposal, group: Group | None = None) -> AlignedProposal | None:
    """``"haar"`` -> None (uniform Haar draws); ``"aligned"`` -> ``AlignedProposal()``; ``"aligned-scored"`` ->
    ``AlignedProposal(permutations="scored")``; ``"aligned-coset"`` -> ``AlignedProposal(coset_below=COSET_BELOW)``
    (SO(3): the icosahedral coset where the posterior is broad); an :class:`AlignedProposal` passes through.
    Checks ``group``."""
    if isinstance(proposal, AlignedProposal):
        prop = proposal
    elif proposal == "haar":
        return None
    elif proposal == "aligned":
        prop = AlignedProposal()
    elif proposal == "aligned-scored":
        prop = AlignedProposal(permutations="scored")
    elif proposal == "aligned-coset":
        prop = AlignedProposal(coset_below=COSET_BELOW)
    else:
        raise ValueError(f"proposal must be one of {PROPOSALS} or an AlignedProposal; got {proposal!r}")
    if group is not None:
        prop.check_group(group)
    return prop
