"""Data-parallel fit (symviz.distributed): two gloo ranks on the CPU, checked against a single-process reference.

The reference recomputes each rank's gradient by hand (same generator seed ``seed + rank``, same batch draw) and
averages them; one SGD step of DDP must land exactly there. The torchrun command line is run once end to end.
"""

import datetime
import json
import os
import socket
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from symviz import distributed, train
from symviz.data.toys import blob_2d
from symviz.diffusion import VPSchedule
from symviz.groups import SO2
from symviz.losses import DenoisingLoss
from symviz.nets import TimeMLP

LR, SEED, BATCH = 0.05, 7, 32


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _setup():
    torch.manual_seed(0)
    net = TimeMLP(1, 2, hidden=16, depth=2)
    loss = DenoisingLoss(VPSchedule(), "orbit", SO2(), num_samples=4)
    data = blob_2d(128, generator=torch.Generator().manual_seed(0))
    return net, loss, data


def _rank_main(rank: int, world: int, port: int, folder: str, steps: int) -> None:
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=datetime.timedelta(seconds=120))
    try:
        net, loss, data = _setup()
        if rank == 1:  # different local weights: DDP must broadcast rank 0's before the first step
            with torch.no_grad():
                for p in net.parameters():
                    p.add_(1.0)
        opt = torch.optim.SGD(net.parameters(), lr=LR)
        hist = train.fit(
            net,
            loss,
            data,
            steps=steps,
            batch_size=BATCH,
            seed=SEED,
            optimizer=opt,
            progress=False,
            log_every=1,
            checkpoint_path=os.path.join(folder, "ckpt.pt"),
        )
        torch.save({"state": net.state_dict(), "loss": hist.loss}, os.path.join(folder, f"rank{rank}.pt"))
    finally:
        distributed.teardown()


def _resume_main(rank: int, world: int, port: int, folder: str) -> None:
    """Each rank: 4 steps straight, then 2 steps + resume to 4 (every rank restores its own random state)."""
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=datetime.timedelta(seconds=120))
    try:
        out = {}
        for name, plan in (("straight", [4]), ("resumed", [2, 4])):
            for steps in plan:
                net, loss, data = _setup()
                ckpt = os.path.join(folder, f"{name}.pt")
                hist = train.fit(net, loss, data, steps=steps, batch_size=BATCH, seed=SEED, progress=False,
                                 log_every=1, checkpoint_path=ckpt, resume=True)  # fmt: skip
            out[name] = {"state": net.state_dict(), "loss": hist.loss}
        torch.save(out, os.path.join(folder, f"resume_rank{rank}.pt"))
    finally:
        distributed.teardown()


def test_ddp_resume_matches_an_uninterrupted_run(tmp_path):
    mp.spawn(_resume_main, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    for r in (0, 1):
        got = torch.load(tmp_path / f"resume_rank{r}.pt", weights_only=True)
        assert got["straight"]["loss"] == got["resumed"]["loss"]
        for k, v in got["straight"]["state"].items():
            assert torch.equal(v, got["resumed"]["state"][k]), k
    ranks = train.load_checkpoint(tmp_path / "resumed.pt")["training"]["ranks"]
    assert len(ranks) == 2 and not torch.equal(ranks[0]["generator"], ranks[1]["generator"])


def _rank_gradient(net, loss_fn, data, rank: int) -> tuple[list[torch.Tensor], float]:
    """The gradient one rank computes in its first step of fit (its generator: SEED + rank)."""
    gen = torch.Generator().manual_seed(SEED + rank)
    idx = torch.randint(0, data.shape[0], (BATCH,), generator=gen)
    net.zero_grad()
    value = loss_fn(net, data[idx], generator=gen).mean()
    value.backward()
    return [p.grad.clone() for p in net.parameters()], float(value.detach())


def test_one_ddp_step_averages_the_ranks_gradients(tmp_path):
    mp.spawn(_rank_main, args=(2, _free_port(), str(tmp_path), 1), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    for k in r0["state"]:
        assert torch.equal(r0["state"][k], r1["state"][k]), f"ranks disagree on {k}"
    assert r0["loss"] == r1["loss"]  # the logged loss is the mean over ranks, the same on both

    net, loss_fn, data = _setup()
    (g0, l0), (g1, l1) = (_rank_gradient(net, loss_fn, data, r) for r in (0, 1))
    assert r0["loss"][0] == pytest.approx((l0 + l1) / 2, rel=1e-6)
    expected = [p.detach() - LR * (a + b) / 2 for p, a, b in zip(net.parameters(), g0, g1)]
    for (name, got), want in zip(r0["state"].items(), expected):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6, msg=f"{name}: not the averaged SGD step")
    # and not what one rank alone would have done
    assert not torch.allclose(r0["state"]["net.0.weight"], next(net.parameters()) - LR * g0[0], atol=1e-7)
    ckpt = train.load_checkpoint(tmp_path / "ckpt.pt")
    assert ckpt["step"] == 1 and sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt", "rank0.pt", "rank1.pt"]


def test_single_process_context_is_a_no_op(monkeypatch):
    for var in ("RANK", "WORLD_SIZE"):
        monkeypatch.delenv(var, raising=False)
    ctx = distributed.setup("cpu")
    assert (ctx.rank, ctx.world_size, ctx.is_main, ctx.active) == (0, 1, True, False)
    assert distributed.mean_across_ranks(2.5, ctx) == 2.5
    distributed.teardown()  # nothing to leave


def test_cuda_request_without_cuda_says_how_to_fix(monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    with pytest.raises(RuntimeError, match="--device cpu"):
        distributed.setup("cuda")


def test_torchrun_command_line(tmp_path):
    out = tmp_path / "ddp.pt"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    cmd += ["-m", "symviz.train", "--device", "cpu", "--steps", "6", "--num-data", "64", "--batch-size", "16"]
    cmd += ["--hidden", "16", "--out", str(out)]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("trained 6 steps on 2 process(es)") == 1  # rank 0 alone reports and writes
    meta = train.load_checkpoint(out)["meta"]
    assert meta["world_size"] == 2 and json.loads(json.dumps(meta))["device"] == "cpu"
