"""Bad input gets a clear ValueError/TypeError naming the argument and the expected shape or range."""

import numpy as np
import pytest
import torch

from symviz.covmat import cov_mat_from_rmsd
from symviz.diffusion import VPSchedule, add_noise
from symviz.groups import SO2, SO3, Cyclic
from symviz.losses import DenoisingLoss
from symviz.metrics import equivariance_error
from symviz.orbit import closed_form_target, orbit_target

X3 = torch.randn(2, 5, 3)
X3 = X3 - X3.mean(-2, keepdim=True)


def _nan():
    x = X3.clone()
    x[0, 1, 2] = float("nan")
    return x


CASES = {
    "x0 not a cloud": (
        lambda: orbit_target(torch.randn(3), torch.randn(3), 0.5, 0.5, SO3()),
        ValueError,
        r"\(\.\.\., n, d\)",
    ),
    "group dim != data dim": (lambda: orbit_target(X3, X3, 0.5, 0.5, SO2()), ValueError, "acts on R\\^2"),
    "group name dim != data dim": (lambda: orbit_target(X3, X3, 0.5, 0.5, "SO2"), ValueError, "acts on R\\^2"),
    "unknown group name": (lambda: orbit_target(X3, X3, 0.5, 0.5, "SO(4)"), ValueError, "valid names: 'C<n>'"),
    "group not a group": (lambda: orbit_target(X3, X3, 0.5, 0.5, 3), TypeError, "Group or a name"),
    "loss unknown group name": (lambda: DenoisingLoss(VPSchedule(), "orbit", "S3"), ValueError, "unknown group"),
    "checker unknown group name": (lambda: equivariance_error(lambda x: x, X3, "SO"), ValueError, "unknown group"),
    "xt shape mismatch": (
        lambda: orbit_target(X3, X3[:, :4], 0.5, 0.5, SO3()),
        ValueError,
        "same \\(n, d\\)",
    ),
    "K = 0": (
        lambda: orbit_target(X3, X3, 0.5, 0.5, SO3(), num_samples=0),
        ValueError,
        "num_samples must be >= 1",
    ),
    "K negative": (lambda: orbit_target(X3, X3, 0.5, 0.5, SO3(), num_samples=-3), ValueError, "num_samples"),
    "K not an int": (
        lambda: orbit_target(X3, X3, 0.5, 0.5, SO3(), num_samples=2.5),
        TypeError,
        "num_samples",
    ),
    "sigma > 1": (lambda: orbit_target(X3, X3, 0.5, 1.5, SO3()), ValueError, "sigma must lie in \\[0, 1\\]"),
    "alpha < 0": (lambda: orbit_target(X3, X3, -0.1, 0.5, SO3()), ValueError, "alpha must lie in \\[0, 1\\]"),
    "alpha NaN": (lambda: orbit_target(X3, X3, float("nan"), 0.5, SO3()), ValueError, "alpha must be finite"),
    "x0 NaN": (lambda: orbit_target(_nan(), X3, 0.5, 0.5, SO3()), ValueError, "x0 contains 1 non-finite"),
    "xt Inf": (lambda: orbit_target(X3, X3 * float("inf"), 0.5, 0.5, SO3()), ValueError, "xt contains"),
    "mask wrong shape": (
        lambda: orbit_target(X3, X3, 0.5, 0.5, SO3(), mask=torch.ones(2, 4, dtype=torch.bool)),
        ValueError,
        "mask must have shape",
    ),
    "mask all padding": (
        lambda: orbit_target(X3, X3, 0.5, 0.5, SO3(), mask=torch.zeros(2, 5, dtype=torch.bool)),
        ValueError,
        "every point",
    ),
    "mask float": (
        lambda: orbit_target(X3, X3, 0.5, 0.5, SO3(), mask=torch.full((2, 5), 0.5)),
        TypeError,
        "boolean",
    ),
    "exact sum over SO3": (
        lambda: orbit_target(X3, X3, 0.5, 0.5, SO3(), num_samples=None),
        ValueError,
        "continuous",
    ),
    "no closed form": (
        lambda: closed_form_target(X3[..., :2], X3[..., :2], 0.5, 0.5, Cyclic(3)),
        TypeError,
        "no closed form",
    ),
    "t > 1": (lambda: add_noise(X3, 1.5, VPSchedule()), ValueError, "t must lie in \\[0, 1\\]"),
    "t < 0": (lambda: VPSchedule().alpha(torch.tensor([-0.1, 0.5])), ValueError, "t must lie in \\[0, 1\\]"),
    "t NaN": (lambda: VPSchedule().sigma(float("nan")), ValueError, "non-finite"),
    "t per cloud wrong": (
        lambda: add_noise(X3, torch.rand(2, 3), VPSchedule()),
        ValueError,
        "one t per point cloud",
    ),
    "unknown schedule": (lambda: VPSchedule("cosin"), ValueError, "kind must be one of"),
    "unknown loss mode": (
        lambda: DenoisingLoss(VPSchedule(), mode="orbitt"),
        ValueError,
        "mode must be one of",
    ),
    "loss without group": (lambda: DenoisingLoss(VPSchedule(), mode="orbit"), ValueError, "needs a group"),
    "loss K = 0": (
        lambda: DenoisingLoss(VPSchedule(), "orbit", SO3(), num_samples=0),
        ValueError,
        "num_samples",
    ),
    "loss t range": (lambda: DenoisingLoss(VPSchedule(), t_min=0.5, t_max=0.2), ValueError, "t_min"),
    "loss uncentred x0": (
        lambda: DenoisingLoss(VPSchedule(), "orbit", SO3())(None, X3 + 1.0),
        ValueError,
        "not centred",
    ),
    "loss group dim": (
        lambda: DenoisingLoss(VPSchedule(), "orbit", SO2())(None, X3),
        ValueError,
        "acts on R\\^2",
    ),
    "checker K = 0": (
        lambda: equivariance_error(lambda x: x, X3, SO3(), num_samples=0),
        ValueError,
        "num_samples",
    ),
    "not a tensor": (lambda: orbit_target("abc", X3, 0.5, 0.5, SO3()), TypeError, "x0 must"),
    "loss on an empty batch": (
        lambda: DenoisingLoss(VPSchedule())(None, torch.zeros(0, 5, 3)),
        ValueError,
        r"x0 is empty \(shape \(0, 5, 3\)\)",
    ),
    "orbit loss on an empty batch": (
        lambda: DenoisingLoss(VPSchedule(), "orbit", SO3(), num_samples=4)(None, torch.zeros(0, 5, 3)),
        ValueError,
        "x0 is empty",
    ),
    "loss on clouds of 0 points": (
        lambda: DenoisingLoss(VPSchedule())(None, torch.zeros(2, 0, 3)),
        ValueError,
        "n >= 1 points",
    ),
    "group sample k < 0": (lambda: SO3().sample(-2), ValueError, "must be >= 0; got -2"),
    "group sample k not an int": (lambda: Cyclic(3).sample(1.5), TypeError, "integer >= 0"),
    "rmsd with Inf": (lambda: cov_mat_from_rmsd(np.array([[np.inf, 0.3]])), ValueError, "finite.*1 entry"),
    "rmsd with -Inf": (lambda: cov_mat_from_rmsd(np.array([[0.2, -np.inf]])), ValueError, "finite"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_gives_clear_error(name):
    fn, exc, pattern = CASES[name]
    with pytest.raises(exc, match=pattern):
        fn()
