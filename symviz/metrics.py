"""Metrics: the equivariance checker, per-noise-level gradient variance, distribution distances, COV/MAT.

``equivariance_error`` is the one checker that tests, tutorials and users all call (docs/architecture.md#conventions;
e3nn's
``assert_equivariant`` does its own transform in float64 so the test is never the source of error).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from symviz._checks import check_group, check_point_cloud, check_positive_int
from symviz.groups import Group

__all__ = [
    "equivariance_error",
    "gradient_variance",
    "sliced_wasserstein",
    "mmd",
    "w2_1d",
    "angle_ks",
    "coverage_matching",
    "tolerance",
]


def tolerance(dtype: torch.dtype) -> float:
    """Default equivariance tolerance: 1e-4 for float32 (and lower precisions), 1e-9 for float64."""
    return 1e-9 if dtype == torch.float64 else 1e-4


def equivariance_error(
    f: Callable[[torch.Tensor], torch.Tensor],
    x,
    group: Group | str,
    num_samples: int = 8,
    generator: torch.Generator | None = None,
    invariant: bool = False,
    elements=None,
) -> float:
    """Largest relative error ``||f(g.x) - g.f(x)|| / ||f(x)||`` over ``num_samples`` random ``g``.

    Args:
        f: maps a point cloud ``(..., n, d)`` to a point cloud of the same layout (or, with
            ``invariant=True``, to anything: then the check is ``f(g.x) == f(x)``).
        x: ``(..., n, d)`` inputs, any floating dtype; ``f`` is evaluated in that dtype.
        group: the group, an object or a registry name (``"SO3"``, ``"C6"``; :func:`symviz.groups.get`, ``"Z2"``
            takes ``x``'s d); elements are drawn in float64 and both transforms are done in float64, so the
            checker itself adds no error.
        elements: explicit elements to test instead of random draws (e.g. ``group.elements()``).
    Returns:
        The maximum relative error (a float); compare with :func:`tolerance` of the dtype. ``nan`` when ``f``
        returns NaN or Inf for ``x`` or for any transformed input: a broken function never passes a check
        ``err < tol`` (NaN compares False).
    """
    x = check_point_cloud(x, "x")
    group = check_group(group, x, "x")
    if elements is None:
        num_samples = check_positive_int(num_samples, "num_samples")
        elements = group.sample(num_samples, generator=generator, dtype=torch.float64)
    k = _num_elements(group, elements)
    x64 = x.double()
    with torch.no_grad():
        fx = f(x)
        if not torch.isfinite(fx).all():
            return float("nan")
        ref_norm = fx.double().norm().clamp_min(1e-300)
        worst = 0.0
        for j in range(k):
            g = group.select(elements, j)
            gx = group.act(_to64(g), x64).to(x.dtype)
            fgx = f(gx)
            if not torch.isfinite(fgx).all():
                return float("nan")
            ref = fx.double() if invariant else group.act(_to64(g), fx.double())
            err = float((fgx.double() - ref).norm() / ref_norm)
            if not math.isfinite(err):  # e.g. an overflow of the norm in float64
                return float("nan")
            worst = max(worst, err)
    return worst


def _to64(g):
    if isinstance(g, tuple):
        return tuple(_to64(a) for a in g)
    return g.double() if g.is_floating_point() else g


def _num_elements(group: Group, elements) -> int:
    from symviz.groups import _k_len

    if isinstance(elements, tuple):
        return _num_elements(group.factors[0], elements[0])
    return _k_len(group, elements)


def gradient_variance(
    loss_fn,
    net: torch.nn.Module,
    data,
    t_values,
    num_samples: int = 256,
    generator: torch.Generator | None = None,
    mask=None,
    net_kwargs: dict[str, torch.Tensor] | None = None,
    group_of=None,
) -> torch.Tensor:
    """Trace of the covariance of the per-sample parameter gradient, one value per noise level.

    For each ``t`` in ``t_values`` draws ``num_samples`` clean samples from ``data (N, n, d)`` (with
    replacement), a training pair from ``loss_fn`` (a :class:`symviz.losses.DenoisingLoss`) at that ``t``,
    and the per-sample gradients ``d loss_i / d theta`` (``torch.func.vmap``) of the loss ``loss_fn`` trains
    with: its own :meth:`~symviz.losses.DenoisingLoss.per_sample` (squared or ``loss_type="norm"``, its
    weighting, the mask). Returns ``(T,)``: ``E ||grad_i - mean grad||^2`` (unbiased). Theorem 1
    (arXiv 2502.09890 §3.2; docs/theory.md#theorem-1): orbit <= augment.

    Args:
        mask: optional ``(N, n)`` padding mask for ``data``; passed to the net as ``mask=``.
        net_kwargs: per-sample tensors ``{name: (N, ...)}`` (e.g. ``node_attr`` atom types) indexed like the
            samples and passed to ``net`` as keyword arguments, as ``fit``'s ``extras`` reach the net.
        group_of: optional ``idx (m,) -> group`` for data whose group differs per sample (molecules: SO(3) x each
            molecule's automorphisms); passed to ``loss_fn.sample(..., group=)``. Default: the loss's own group.
    """
    from torch.func import functional_call, grad, vmap

    from symviz.losses import DenoisingBatch

    data = check_point_cloud(data, "data")
    m = check_positive_int(num_samples, "num_samples")
    if m < 2:
        raise ValueError("num_samples must be >= 2 to estimate a variance")
    net_kwargs = dict(net_kwargs or {})
    for name, v in net_kwargs.items():
        if not isinstance(v, torch.Tensor) or v.shape[:1] != data.shape[:1]:
            raise ValueError(f"net_kwargs[{name!r}] must be a tensor with one row per data sample ({data.shape[0]})")
    names = list(net_kwargs)
    params = {k: v.detach() for k, v in net.named_parameters()}

    def single(p, xt, tt, target, w, mk, *extra):
        kwargs = {name: e[None] for name, e in zip(names, extra)}
        if mk is not None:
            kwargs["mask"] = mk[None]
        pred = functional_call(net, p, (xt[None], tt[None]), kwargs)
        one = DenoisingBatch(
            x0=target[None], xt=xt[None], t=tt[None], target=target[None], weight=w[None],
            mask=None if mk is None else mk[None],
        )  # fmt: skip
        return loss_fn.per_sample(pred, one)[0]

    out = []
    for t in torch.as_tensor(t_values, dtype=data.dtype).reshape(-1):
        idx = torch.randint(0, data.shape[0], (m,), generator=generator)
        msk = None if mask is None else mask[idx]
        extra_kw = {} if group_of is None else {"group": group_of(idx)}  # custom losses may not take group=
        batch = loss_fn.sample(data[idx], t=t.expand(m), generator=generator, mask=msk, **extra_kw)
        extra = [net_kwargs[name][idx] for name in names]
        dims = (None, 0, 0, 0, 0, None if msk is None else 0, *[0] * len(extra))
        grads = vmap(grad(single), in_dims=dims)(params, batch.xt, batch.t, batch.target, batch.weight, msk, *extra)
        flat = torch.cat([v.reshape(m, -1) for v in grads.values()], dim=1)
        out.append(((flat - flat.mean(0)) ** 2).sum(1).sum() / (m - 1))
    return torch.stack(out)


# ----------------------------------------------------------------------------------------------
# Distribution distances
# ----------------------------------------------------------------------------------------------


def _flat(x, name):
    x = torch.as_tensor(x)
    if not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    if x.dim() < 1 or x.shape[0] < 1:
        raise ValueError(f"{name} must be a non-empty batch of samples (N, ...); got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or Inf")
    return x.reshape(x.shape[0], -1)


def _quantile_match(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted samples on a common quantile grid (exact sort when sizes match)."""
    a, b = torch.sort(a, dim=0).values, torch.sort(b, dim=0).values
    if a.shape[0] == b.shape[0]:
        return a, b
    m = max(a.shape[0], b.shape[0])
    q = (torch.arange(m, dtype=a.dtype) + 0.5) / m
    return torch.quantile(a, q, dim=0), torch.quantile(b, q, dim=0)


def w2_1d(x, y) -> float:
    """1D Wasserstein-2 distance between two empirical samples (sorted-sample matching).

    For equal sizes this is ``sqrt(mean (sort(x) - sort(y))^2)`` (the 1D toy protocol, arXiv 2502.09890 §4.1;
    docs/theory.md#toy1d).
    """
    x, y = _flat(x, "x").reshape(-1, 1), _flat(y, "y").reshape(-1, 1)
    a, b = _quantile_match(x.double(), y.double())
    return float(torch.sqrt(((a - b) ** 2).mean()))


def sliced_wasserstein(x, y, num_projections: int = 256, generator: torch.Generator | None = None) -> float:
    """Sliced Wasserstein-2 distance: ``sqrt(E_u W2^2(<x, u>, <y, u>))`` over random unit directions u.

    Args:
        x: ``(N, ...)`` samples, flattened per sample. y: ``(M, ...)``, same per-sample size.
    """
    x, y = _flat(x, "x").double(), _flat(y, "y").double()
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same per-sample size; got {x.shape[1]} and {y.shape[1]}")
    num_projections = check_positive_int(num_projections, "num_projections")
    u = torch.randn(x.shape[1], num_projections, generator=generator, dtype=torch.float64)
    u = u / u.norm(dim=0, keepdim=True)
    a, b = _quantile_match(x @ u, y @ u)
    return float(torch.sqrt(((a - b) ** 2).mean()))


def mmd(x, y, bandwidth: float | None = None) -> float:
    """Squared maximum mean discrepancy with a Gaussian kernel (biased V-statistic, >= 0).

    ``bandwidth`` defaults to the median pairwise distance of the pooled sample.
    """
    x, y = _flat(x, "x").double(), _flat(y, "y").double()
    z = torch.cat([x, y])
    d2 = torch.cdist(z, z).pow(2)
    if bandwidth is None:
        bandwidth = float(d2[d2 > 0].median().sqrt()) if (d2 > 0).any() else 1.0
    k = torch.exp(-d2 / (2 * bandwidth**2))
    n = x.shape[0]
    return float(k[:n, :n].mean() + k[n:, n:].mean() - 2 * k[:n, n:].mean())


def angle_ks(points) -> float:
    """Kolmogorov-Smirnov statistic of the polar angles of 2D points against the uniform law on the circle.

    Args:
        points: ``(N, 2)`` or ``(N, 1, 2)``. 0 means perfectly uniform angles; a single orientation gives ~1.

    The value is ``scipy.stats.kstest(u, "uniform").statistic`` for ``u = (atan2(y, x) + pi) / (2 pi)``
    (tests/test_wheel.py checks this); it is computed here in torch so that the core needs no scipy.
    """
    p = _flat(points, "points").double()
    if p.shape[1] != 2:
        raise ValueError(f"angle_ks needs 2D points (N, 2); got per-sample size {p.shape[1]}")
    u = torch.sort((torch.atan2(p[:, 1], p[:, 0]) + math.pi) / (2 * math.pi)).values
    n = u.shape[0]
    i = torch.arange(1, n + 1, dtype=torch.float64)
    return float(torch.maximum((i / n - u).max(), (u - (i - 1) / n).max()))


def coverage_matching(*args, **kwargs):
    """COV-R/MAT-R/COV-P/MAT-P for conformer sets; see :func:`symviz.covmat.coverage_matching`."""
    from symviz.covmat import coverage_matching as _cm

    return _cm(*args, **kwargs)
