"""Each network's equivariance (or deliberate non-equivariance), checked with the one checker."""

import pytest
import torch

from symviz.diffusion import center
from symviz.groups import O3, SO2, SO3, Permutations, Reflection
from symviz.metrics import equivariance_error, tolerance
from symviz.nets import EGNN, OddNet, RadialNet, TimeMLP


def _at(net, t=0.37, **kw):
    return lambda x: net(x, torch.full((x.shape[0],), t, dtype=x.dtype), **kw)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_odd_net_is_reflection_equivariant(dtype, gen):
    net = OddNet(1, 1).to(dtype)
    x = torch.randn(64, 1, 1, generator=gen, dtype=dtype)
    G = Reflection(1)
    assert equivariance_error(_at(net), x, G, elements=G.elements(dtype=torch.float64)) < tolerance(dtype)


@pytest.mark.parametrize("G, d", [(SO2(), 2), (SO3(), 3), (O3(), 3)], ids=repr)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_radial_net_is_rotation_equivariant(G, d, dtype, gen):
    net = RadialNet(hidden=16).to(dtype)
    x = torch.randn(32, 1, d, generator=gen, dtype=dtype)
    assert equivariance_error(_at(net), x, G, generator=gen) < tolerance(dtype)


@pytest.mark.parametrize("d, G", [(2, SO2()), (3, SO3()), (3, O3())], ids=["2D", "3D", "O3"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_egnn_is_equivariant_with_masks(d, G, dtype, gen):
    torch.manual_seed(0)
    net = EGNN(hidden=16, layers=2).to(dtype)
    mask = torch.tensor([[True] * 5 + [False] * 2, [True] * 7])
    x = center(torch.randn(2, 7, d, generator=gen, dtype=dtype), mask)
    assert equivariance_error(_at(net, mask=mask), x, G, generator=gen) < tolerance(dtype)
    # permutation equivariance among the real atoms of molecule 0 (padding fixed)
    perms = torch.tensor([[0, 1, 2, 3, 4, 5, 6], [4, 3, 2, 1, 0, 5, 6]])
    P = Permutations(perms)
    m0 = mask[:1]
    assert equivariance_error(_at(net, mask=m0), x[:1], P, elements=P.elements()) < tolerance(dtype)
    # padding does not influence the real atoms
    out = net(x, torch.full((2,), 0.3, dtype=dtype), mask=mask)
    x2 = x.clone()
    x2[0, 5:] = 50.0
    out2 = net(x2, torch.full((2,), 0.3, dtype=dtype), mask=mask)
    assert torch.allclose(out[0, :5], out2[0, :5]) and (out2[0, 5:] == 0).all()


def test_egnn_gradients_finite_with_coincident_points():
    net = EGNN(hidden=8, layers=2)
    x = torch.zeros(1, 4, 3, requires_grad=True)
    net(x, torch.tensor([0.5])).sum().backward()
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


def test_mlp_is_deliberately_not_equivariant(gen):
    torch.manual_seed(0)
    net = TimeMLP(4, 2, hidden=32)
    x = center(torch.randn(8, 4, 2, generator=gen))
    assert equivariance_error(_at(net), x, SO2(), generator=gen) > 1e-2
    with pytest.raises(ValueError, match="built for clouds"):
        net(torch.randn(8, 3, 2), torch.zeros(8))


def test_every_egnn_parameter_gets_a_gradient():
    """No dead parameters (the last layer has no feature update): DistributedDataParallel needs every gradient."""
    net = EGNN(hidden=16, layers=3)
    x = torch.randn(4, 5, 3)
    net(x, torch.rand(4)).pow(2).sum().backward()
    assert [n for n, p in net.named_parameters() if p.grad is None] == []
