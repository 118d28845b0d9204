"""The live training curve's data (smoothing of a loss history)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from symviz.explore._common import _short_repr

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
