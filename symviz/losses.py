"""Denoising losses: plain (Eq. 2), augmented (Eq. 3) and orbit (Eq. 12) — Tong et al. 2025, arXiv 2502.09890.

Like NVlabs/edm's ``loss.py``: a loss object holds hyper-parameters and its ``__call__(net, x0)`` returns the
*unreduced* per-sample loss ``(B,)``; the caller reduces.

- ``plain``:   target ``x0``, no group (Eq. 2).
- ``augment``: ``x0 <- g.x0`` with ``g ~ Haar`` each step, target ``g.x0`` (Eq. 3, data augmentation).
- ``orbit``:   ``x0 <- g.x0`` as in ``augment`` (the paper's loss draws x0 from the symmetrized data, Eq. 12),
  then the target is the orbit posterior mean of :func:`symviz.orbit.orbit_target` (Eq. 11) with K candidates.

The difference ``L_augment - L_orbit`` does not depend on the network (arXiv 2502.09890 §3.2, Theorem 1;
docs/theory.md#loss-offset).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from symviz._checks import check_centered, check_group, check_mask, check_point_cloud, check_positive_int
from symviz.diffusion import VPSchedule, add_noise
from symviz.groups import Group
from symviz.orbit import orbit_target
from symviz.proposals import resolve_proposal

__all__ = ["DenoisingBatch", "DenoisingLoss", "MODES"]

MODES = ("plain", "augment", "orbit")


@dataclass
class DenoisingBatch:
    """One draw of the training pair. ``xt, target: (B, n, d)``; ``t, weight: (B,)``; ``mask: (B, n)``."""

    x0: torch.Tensor
    xt: torch.Tensor
    t: torch.Tensor
    target: torch.Tensor
    weight: torch.Tensor
    mask: torch.Tensor | None = None
    ess: torch.Tensor | None = None


class DenoisingLoss:
    """Per-sample denoising loss ``w(t) * mean_{points, coords} (net(x_t, t) - target)^2``.

    Args:
        schedule: a :class:`symviz.diffusion.VPSchedule`.
        mode: ``"plain"``, ``"augment"`` or ``"orbit"``.
        group: the symmetry group (required for augment / orbit): a :class:`symviz.groups.Group` or a registry
            name (``"SO2"``, ``"C6"``, ``"SO3"``, ...; :func:`symviz.groups.get`). ``"Z2"`` takes each batch's d;
            ``self.group`` holds the group built from the name (``Reflection(1)`` for ``"Z2"``).
        num_samples: K candidates for the orbit target, identity included (default 64); ``None`` = exact sum
            over a finite group.
        parameterization: ``"x0"`` (the net predicts x0; default) or ``"eps"`` (the net predicts the noise;
            the orbit target becomes ``(x_t - alpha phi*) / sigma``,
            docs/theory.md#other-targets).
        weighting: ``"none"`` (default), ``"snr"`` (``alpha^2 / sigma^2``, the 1D toy's weight) or a callable
            ``t -> w``.
        include_identity: keep the generating element among the candidates (default True, docs/theory.md#finite-k).
        t_min, t_max: ``t ~ U[t_min, t_max]`` when ``t`` is not given (default ``[1e-3, 1]``).
        loss_type: ``"squared"`` (default; the theory) or ``"norm"`` (per-point L2 norm, not squared, as in
            the ET-Flow reference code — outside the theory, docs/theory.md#norm-loss).
        temperature: softmax temperature of the orbit weights (default 1 = exact posterior).
        proposal: how the orbit candidates are drawn (default ``"haar"``; ``"aligned"``, ``"aligned-scored"`` or
            a :class:`symviz.proposals.AlignedProposal` for SO(3) and SO(3) x permutations, ``"aligned-coset"``
            for SO(3) alone), passed to
            :func:`symviz.orbit.orbit_target`.
    """

    def __init__(
        self,
        schedule: VPSchedule,
        mode: str = "plain",
        group: Group | str | None = None,
        num_samples: int | None = 64,
        parameterization: str = "x0",
        weighting: str | Callable = "none",
        include_identity: bool = True,
        t_min: float = 1e-3,
        t_max: float = 1.0,
        loss_type: str = "squared",
        temperature: float = 1.0,
        proposal="haar",
    ):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}; got {mode!r}")
        if mode != "plain" and group is None:
            raise ValueError(f"mode={mode!r} needs a group, e.g. group=sv.groups.SO2()")
        if parameterization not in ("x0", "eps"):
            raise ValueError(f"parameterization must be 'x0' or 'eps'; got {parameterization!r}")
        if not (callable(weighting) or weighting in ("none", "snr")):
            raise ValueError(f"weighting must be 'none', 'snr' or a callable t -> w; got {weighting!r}")
        if loss_type not in ("squared", "norm"):
            raise ValueError(f"loss_type must be 'squared' or 'norm'; got {loss_type!r}")
        if not (0.0 <= t_min <= t_max <= 1.0):
            raise ValueError(f"need 0 <= t_min <= t_max <= 1; got t_min={t_min}, t_max={t_max}")
        if num_samples is not None:
            check_positive_int(num_samples, "num_samples")
        self.schedule, self.mode, self.group = schedule, mode, group
        self.num_samples, self.parameterization, self.weighting = num_samples, parameterization, weighting
        self.include_identity, self.t_min, self.t_max = include_identity, t_min, t_max
        self.loss_type, self.temperature = loss_type, temperature
        # ValueError for a bad name or group; a proposal draws K candidates, it has no exact sum
        if resolve_proposal(proposal, self.group if mode == "orbit" else None) is not None and num_samples is None:
            raise ValueError(f"proposal={proposal!r} needs num_samples=K (it draws candidates, no exact sum)")
        self.proposal = proposal

    @property
    def group(self):
        """The loss's group (None for a plain loss), built from the name when a name was given."""
        return self._group

    @group.setter
    def group(self, group) -> None:
        self._group_arg = group  # a name is built again for each batch's d ("Z2" -> Reflection(d))
        self._group = None if group is None else check_group(group, name="x0")

    # -- the training pair -------------------------------------------------------------------
    def sample(self, x0, t=None, generator: torch.Generator | None = None, mask=None, group=None) -> DenoisingBatch:
        """Draw ``(x_t, target)`` for clean data ``x0 (B, n, d)`` at times ``t (B,)`` (sampled if None).

        ``group``: this batch's group (an object or a name) instead of the loss's own, e.g.
        ``Product(SO3(), Permutations(perms))`` with per-molecule automorphisms ``perms (B, P, n)`` (their batch
        changes from step to step).
        """
        group = self._group_arg if group is None else group
        x0 = check_point_cloud(x0, "x0")
        if x0.dim() != 3:
            raise ValueError(f"x0 must be a batch of point clouds (B, n, d); got shape {tuple(x0.shape)}")
        if x0.shape[0] == 0 or x0.shape[1] == 0:
            raise ValueError(
                f"x0 is empty (shape {tuple(x0.shape)}): the loss needs B >= 1 clouds of n >= 1 points. "
                f"Check the batch selection (an empty split or index?)"
            )
        mask = check_mask(mask, x0)
        b = x0.shape[0]
        if group is not None:
            group = check_group(group, x0, "x0")
            check_centered(x0, mask, "x0")
        if t is None:
            u = torch.rand(b, generator=generator, dtype=x0.dtype, device=x0.device)
            t = self.t_min + (self.t_max - self.t_min) * u
        t = torch.as_tensor(t, dtype=x0.dtype).expand(b)
        if self.mode != "plain":
            g = group.sample_like((b,), generator=generator, dtype=x0.dtype, device=x0.device)
            x0 = group.act(g, x0)
        xt, eps = add_noise(x0, t, self.schedule, generator=generator, mask=mask)
        alpha, sigma = self.schedule.alpha_sigma(t)
        ess = None
        if self.mode == "orbit":
            res = orbit_target(
                x0,
                xt,
                alpha,
                sigma,
                group,
                num_samples=self.num_samples,
                include_identity=self.include_identity,
                generator=generator,
                mask=mask,
                temperature=self.temperature,
                proposal=self.proposal,
            )
            target, ess = res.target, res.ess
        else:
            target = x0
        if self.parameterization == "eps":
            if (sigma <= 0).any():
                raise ValueError("eps-prediction needs sigma_t > 0: use t_min > 0 for this schedule")
            s = sigma.reshape(b, 1, 1)
            target = eps if self.mode != "orbit" else (xt - alpha.reshape(b, 1, 1) * target) / s
        return DenoisingBatch(x0=x0, xt=xt, t=t, target=target, weight=self._weight(t), mask=mask, ess=ess)

    def _weight(self, t: torch.Tensor) -> torch.Tensor:
        if self.weighting == "none":
            return torch.ones_like(t)
        if self.weighting == "snr":
            return self.schedule.snr(t)
        return torch.as_tensor(self.weighting(t), dtype=t.dtype).expand_as(t)

    # -- the regression ----------------------------------------------------------------------
    def per_sample(self, pred: torch.Tensor, batch: DenoisingBatch) -> torch.Tensor:
        """Weighted per-sample error ``(B,)`` between a prediction ``(B, n, d)`` and ``batch.target``."""
        diff = pred - batch.target
        if self.loss_type == "squared":
            per_point = diff.pow(2).mean(-1)  # (B, n)
        else:
            per_point = diff.pow(2).sum(-1).add(1e-12).sqrt()
        if batch.mask is None:
            err = per_point.mean(-1)
        else:
            m = batch.mask.to(per_point.dtype)
            err = (per_point * m).sum(-1) / m.sum(-1)
        return batch.weight * err

    def predict(self, net, batch: DenoisingBatch, **net_kwargs) -> torch.Tensor:
        """Call ``net(x_t, t, **net_kwargs)`` (with ``mask=`` when the batch is padded), e.g. ``node_attr=``."""
        if batch.mask is None:
            return net(batch.xt, batch.t, **net_kwargs)
        return net(batch.xt, batch.t, mask=batch.mask, **net_kwargs)

    def __call__(
        self, net, x0, t=None, generator: torch.Generator | None = None, mask=None, group=None, **net_kwargs
    ) -> torch.Tensor:
        """The unreduced loss ``(B,)``: draw a batch with :meth:`sample` (optionally with this batch's ``group``),
        then regress ``net(x_t, t, **net_kwargs)`` on its target."""
        batch = self.sample(x0, t=t, generator=generator, mask=mask, group=group)
        return self.per_sample(self.predict(net, batch, **net_kwargs), batch)

    def __repr__(self):
        g = f", group={self.group!r}, K={self.num_samples}" if self.group is not None else ""
        return f"DenoisingLoss(mode={self.mode!r}{g}, param={self.parameterization!r}, weighting={self.weighting!r})"
