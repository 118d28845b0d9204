"""The scale-up path on a CUDA device: the same functions as on the CPU, with the same answers.

Skipped (with the reason) on machines without CUDA; `scripts/gpu_check.sh` runs it on a GPU machine.
"""

import math
import os
import subprocess
import sys

import pytest
import torch

import symviz as sv
from symviz import train
from symviz.data.toys import blob_2d

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: the GPU checks need one")
CUDA = torch.device("cuda")
F64 = torch.float64


def test_exact_finite_group_target_matches_cpu():
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(64, 5, 2, generator=gen, dtype=F64)
    xt = torch.randn(64, 5, 2, generator=gen, dtype=F64)
    alpha, sigma = torch.rand(64, generator=gen, dtype=F64), 0.05 + 0.9 * torch.rand(64, generator=gen, dtype=F64)
    group = sv.groups.Dihedral(6)
    cpu = sv.orbit.orbit_target(x0, xt, alpha, sigma, group, num_samples=None)
    gpu = sv.orbit.orbit_target(x0.cuda(), xt.cuda(), alpha.cuda(), sigma.cuda(), group, num_samples=None)
    assert gpu.target.device.type == "cuda"
    torch.testing.assert_close(gpu.target.cpu(), cpu.target, rtol=0, atol=1e-12)
    torch.testing.assert_close(gpu.weights.cpu(), cpu.weights, rtol=0, atol=1e-12)


def test_monte_carlo_so3_target_on_gpu_is_its_weighted_candidates():
    """Recompute the posterior weights on the CPU in float64 from the candidates the GPU drew (Eq. 11)."""
    gen = torch.Generator(device=CUDA).manual_seed(0)
    x0 = torch.randn(16, 9, 3, device=CUDA, dtype=F64, generator=gen)
    x0 = x0 - x0.mean(-2, keepdim=True)
    alpha = torch.full((16,), 0.8, device=CUDA, dtype=F64)
    sigma = (1 - alpha**2).sqrt()
    xt = alpha[:, None, None] * x0 + sigma[:, None, None] * torch.randn(x0.shape, device=CUDA, dtype=F64, generator=gen)
    res = sv.orbit.orbit_target(x0, xt, alpha, sigma, sv.groups.SO3(), num_samples=256, generator=gen)
    cand = res.candidates.cpu()  # (B, K, n, d)
    assert cand.shape[1] == 256 and torch.equal(cand[:, 0], x0.cpu())  # identity in slot 0
    logits = -((xt.cpu()[:, None] - 0.8 * cand) ** 2).sum((-1, -2)) / (2 * sigma.cpu()[:, None] ** 2)
    w = torch.softmax(logits, -1)
    torch.testing.assert_close(res.target.cpu(), (w[..., None, None] * cand).sum(1), rtol=1e-9, atol=1e-9)


def test_fit_on_gpu_learns_and_its_checkpoint_loads_on_cpu(tmp_path):
    torch.manual_seed(0)
    net = sv.nets.TimeMLP(1, 2, hidden=64, depth=2)
    loss = sv.losses.DenoisingLoss(sv.diffusion.VPSchedule(), "orbit", sv.groups.SO2(), num_samples=64)
    data = blob_2d(2048, generator=torch.Generator().manual_seed(0))
    hist = train.fit(net, loss, data, steps=300, batch_size=256, seed=0, progress=False, log_every=50,
                     device="cuda", checkpoint_path=tmp_path / "gpu.pt")  # fmt: skip
    assert next(net.parameters()).device.type == "cuda"
    assert hist.loss[-1] < 0.7 * hist.loss[0]
    cpu_net = sv.nets.TimeMLP(1, 2, hidden=64, depth=2)
    train.load_checkpoint(tmp_path / "gpu.pt", cpu_net)
    x, t = torch.randn(32, 1, 2), torch.rand(32)
    torch.testing.assert_close(cpu_net(x, t), net(x.cuda(), t.cuda()).cpu(), rtol=1e-4, atol=1e-5)


def test_torchrun_on_gpu_with_nccl(tmp_path):
    out = tmp_path / "ddp.pt"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={torch.cuda.device_count()}",
    ]
    cmd += ["-m", "symviz.train", "--device", "cuda", "--steps", "50", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=os.environ | {"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"on {torch.cuda.device_count()} process(es) (cuda)" in proc.stdout
    assert train.load_checkpoint(out)["meta"]["world_size"] == torch.cuda.device_count()


def test_samplers_on_gpu_match_cpu():
    torch.manual_seed(0)
    net = sv.nets.TimeMLP(3, 2, hidden=32, depth=2).double()
    sched = sv.diffusion.VPSchedule()
    x_init = torch.randn(16, 3, 2, dtype=F64, generator=torch.Generator().manual_seed(1))
    cpu = sv.diffusion.ddim_sample(net, x_init.shape, sched, steps=20, x_init=x_init, dtype=F64)
    gpu = sv.diffusion.ddim_sample(net.cuda(), x_init.shape, sched, steps=20, x_init=x_init.cuda(), dtype=F64)
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-9, atol=1e-9)
    anc = [
        sv.diffusion.ancestral_sample(
            net, (16, 3, 2), sched, steps=20, generator=torch.Generator(device=CUDA).manual_seed(0), dtype=F64
        )
        for _ in range(2)
    ]
    assert anc[0].device.type == "cuda" and torch.isfinite(anc[0]).all()
    assert torch.equal(anc[0], anc[1])  # seeded by the CUDA generator alone


def test_molecule_style_group_loss_on_gpu():
    """SO(3) x point permutations, padded clouds with a mask, EGNN, orbit loss: forward and backward on CUDA."""
    perms = torch.tensor([[0, 1, 2, 3, 4], [0, 1, 2, 4, 3]])
    group = sv.groups.Product(sv.groups.SO3(), sv.groups.Permutations(perms))
    gen = torch.Generator(device=CUDA).manual_seed(0)
    x0 = torch.randn(8, 5, 3, device=CUDA, generator=gen)
    mask = torch.ones(8, 5, dtype=torch.bool, device=CUDA)
    x0 = sv.diffusion.center(x0, mask)
    net = sv.nets.EGNN(hidden=32, layers=2).cuda()
    loss = sv.losses.DenoisingLoss(sv.diffusion.VPSchedule(), "orbit", group, num_samples=32)
    value = loss(net, x0, generator=gen, mask=mask).mean()
    value.backward()
    assert value.device.type == "cuda" and torch.isfinite(value)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


def test_qm9_training_command_on_gpu(tmp_path):
    pytest.importorskip("rdkit", reason="the QM9 command reads molecules with RDKit")
    from symviz.experiments import qm9_train

    out = tmp_path / "qm9.pt"
    assert 0 == qm9_train.main(["--device", "cuda", "--steps", "20", "--max-molecules", "8", "--out", str(out)])
    meta = train.load_checkpoint(out)["meta"]
    assert meta["device"] == "cuda" and math.isfinite(meta["val_loss"])
