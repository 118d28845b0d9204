"""AtomTransformer: the EGNN's call, permutation- and translation-symmetric, deliberately not rotation-equivariant."""

import pytest
import torch

from symviz.diffusion import VPSchedule, add_noise, center
from symviz.groups import SO3
from symviz.metrics import equivariance_error, tolerance
from symviz.nets import EGNN, AtomTransformer

NODE, EDGE = 5, 4


def _inputs(gen, b=3, n=6, dtype=torch.float32):
    mask = torch.ones(b, n, dtype=torch.bool)
    mask[0, 4:] = False
    mask[1, 5:] = False
    x = center(torch.randn(b, n, 3, generator=gen, dtype=dtype), mask)
    node = torch.randn(b, n, NODE, generator=gen, dtype=dtype)
    edge = torch.randn(b, n, n, EDGE, generator=gen, dtype=dtype)
    t = torch.rand(b, generator=gen, dtype=dtype)
    return x, t, mask, node, edge


def _net(dtype=torch.float32, seed=0, **kw):
    torch.manual_seed(seed)
    kw = {"hidden": 32, "layers": 2, "heads": 4} | kw
    return AtomTransformer(NODE, EDGE, **kw).to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shapes_and_dtype(dtype, gen):
    x, t, mask, node, edge = _inputs(gen, dtype=dtype)
    out = _net(dtype)(x, t, mask=mask, node_attr=node, edge_attr=edge)
    assert out.shape == x.shape and out.dtype == dtype and torch.isfinite(out).all()
    # no mask: every atom real
    out = _net(dtype)(x, t, node_attr=node, edge_attr=edge)
    assert out.shape == x.shape and torch.allclose(out.sum(1), torch.zeros(3, 3, dtype=dtype), atol=1e-5)


def test_missing_features_and_bad_width_are_refused(gen):
    x, t, mask, node, edge = _inputs(gen)
    net = _net()
    with pytest.raises(ValueError, match="node_attr"):
        net(x, t, mask=mask, edge_attr=edge)
    with pytest.raises(ValueError, match="edge_attr"):
        net(x, t, mask=mask, node_attr=node)
    with pytest.raises(ValueError, match="divisible"):
        AtomTransformer(NODE, EDGE, hidden=30, heads=4)
    # without features
    out = AtomTransformer(0, 0, hidden=16, layers=1, heads=2)(x, t, mask=mask)
    assert out.shape == x.shape


def test_padding_is_zero_and_inert(gen):
    x, t, mask, node, edge = _inputs(gen, dtype=torch.float64)
    net = _net(torch.float64)
    out = net(x, t, mask=mask, node_attr=node, edge_attr=edge)
    assert (out[~mask] == 0).all()
    x2, node2, edge2 = x.clone(), node.clone(), edge.clone()
    x2[~mask] = 50.0
    node2[~mask] = -7.0
    pad_pair = ~(mask[:, :, None] & mask[:, None, :])
    edge2[pad_pair] = 3.0
    out2 = net(x2, t, mask=mask, node_attr=node2, edge_attr=edge2)
    assert torch.allclose(out, out2, atol=1e-12)


def test_permutation_equivariant(gen):
    """No positional encoding: permuting atoms with their node and edge features permutes the output."""
    x, t, _, node, edge = _inputs(gen, dtype=torch.float64)
    net = _net(torch.float64)
    out = net(x, t, node_attr=node, edge_attr=edge)
    p = torch.randperm(x.shape[1], generator=gen)
    outp = net(x[:, p], t, node_attr=node[:, p], edge_attr=edge[:, p][:, :, p])
    assert torch.allclose(outp, out[:, p], atol=1e-10)


def test_not_rotation_equivariant_unlike_egnn(gen):
    x, t, mask, node, edge = _inputs(gen)
    kw = {"mask": mask, "node_attr": node, "edge_attr": edge}
    net = _net()
    err = equivariance_error(lambda y: net(y, t, **kw), x, SO3(), generator=gen)
    assert err > 0.05
    torch.manual_seed(0)
    egnn = EGNN(NODE, EDGE, hidden=16, layers=2)
    assert equivariance_error(lambda y: egnn(y, t, **kw), x, SO3(), generator=gen) < tolerance(torch.float32)


def test_translation_invariant_and_centred(gen):
    x, t, mask, node, edge = _inputs(gen, dtype=torch.float64)
    net = _net(torch.float64)
    out = net(x, t, mask=mask, node_attr=node, edge_attr=edge)
    assert torch.allclose(out.sum(1), torch.zeros(3, 3, dtype=torch.float64), atol=1e-10)
    shifted = (x + torch.tensor([1.5, -2.0, 0.7], dtype=torch.float64)) * mask[..., None]
    assert torch.allclose(net(shifted, t, mask=mask, node_attr=node, edge_attr=edge), out, atol=1e-10)


def test_deterministic_under_seed(gen):
    x, t, mask, node, edge = _inputs(gen)
    a, b = _net(seed=3), _net(seed=3)
    assert torch.equal(a(x, t, mask, node, edge), b(x, t, mask, node, edge))
    assert not torch.equal(a(x, t, mask, node, edge), _net(seed=4)(x, t, mask, node, edge))
    # the Fourier frequencies do not depend on the global seed
    assert torch.equal(_net(seed=3).fourier, _net(seed=4).fourier)


def test_overfits_one_batch(gen):
    x0, _, mask, node, edge = _inputs(gen, b=4, n=6)
    x0 = 1.5 * x0
    t = torch.tensor([0.1, 0.3, 0.5, 0.7])
    xt, _ = add_noise(x0, t, VPSchedule("cosine"), generator=gen, mask=mask)
    net = _net()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    m = mask[..., None].float()

    def loss():
        return ((net(xt, t, mask, node, edge) - x0) ** 2 * m).sum() / m.sum()

    first = loss().item()
    for _ in range(200):
        opt.zero_grad()
        value = loss()
        value.backward()
        opt.step()
    assert loss().item() < first / 5


@pytest.mark.parametrize("kind", ["transformer", "egnn"])
def test_gradients_finite_with_an_all_padding_molecule(kind, gen):
    x, t, mask, node, edge = _inputs(gen)
    mask[2] = False
    x = (x * mask[..., None]).requires_grad_()
    torch.manual_seed(0)
    net = _net() if kind == "transformer" else EGNN(NODE, EDGE, hidden=16, layers=2)
    out = net(x, t, mask=mask, node_attr=node, edge_attr=edge)
    assert torch.isfinite(out).all() and (out[2] == 0).all()
    out.pow(2).sum().backward()
    assert torch.isfinite(x.grad).all()
    assert [n for n, p in net.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()] == []


def test_dropout_only_in_training(gen):
    x, t, mask, node, edge = _inputs(gen)
    net = _net(dropout=0.5)
    net.eval()
    assert torch.equal(net(x, t, mask, node, edge), net(x, t, mask, node, edge))
    net.train()
    assert not torch.equal(net(x, t, mask, node, edge), net(x, t, mask, node, edge))


def test_size_at_default_width():
    net = AtomTransformer(node_dim=30, edge_dim=11, hidden=128, layers=4)
    nbytes = sum(p.numel() * 4 for p in net.parameters())
    assert nbytes < 5 * 2**20
