"""The training loop: learning, seeding, atomic checkpoints, the command line."""

import math

import pytest
import torch

from symviz import train
from symviz.data.toys import blob_2d
from symviz.diffusion import VPSchedule
from symviz.groups import SO2
from symviz.losses import DenoisingLoss
from symviz.nets import TimeMLP


def _run(seed, steps=60, **kw):
    torch.manual_seed(123)
    net = TimeMLP(1, 2, hidden=32, depth=2)
    loss = DenoisingLoss(VPSchedule(), "orbit", SO2(), num_samples=8)
    hist = train.fit(
        net,
        loss,
        blob_2d(512, generator=torch.Generator().manual_seed(0)),
        steps=steps,
        batch_size=64,
        seed=seed,
        progress=False,
        log_every=10,
        **kw,
    )
    return net, hist


def test_fit_learns_and_is_seeded():
    _, h1 = _run(0)
    _, h2 = _run(0)
    _, h3 = _run(1)
    assert h1.loss == h2.loss and h1.loss != h3.loss
    assert h1.step == [10, 20, 30, 40, 50, 60]
    assert h1.loss[-1] < 0.7 * h1.loss[0]


def test_callback_and_checkpoint_roundtrip(tmp_path):
    seen = []
    net, hist = _run(
        0,
        steps=20,
        callback=lambda s, v: seen.append(s),
        checkpoint_path=tmp_path / "c.pt",
        checkpoint_every=10,
    )
    assert seen == [10, 20]
    state = train.load_checkpoint(tmp_path / "c.pt")
    assert state["step"] == 20 and state["history"]["loss"] == hist.loss
    fresh = TimeMLP(1, 2, hidden=32, depth=2)
    train.load_checkpoint(tmp_path / "c.pt", fresh)
    for a, b in zip(net.parameters(), fresh.parameters()):
        assert torch.equal(a, b)
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temp files left behind


def test_interrupted_write_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    net = TimeMLP(1, 2, hidden=8, depth=1)
    path = train.save_checkpoint(tmp_path / "c.pt", net, step=1)
    before = path.read_bytes()

    def boom(obj, fh):
        fh.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        train.save_checkpoint(path, net, step=2)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def test_missing_and_corrupt_checkpoints(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train.load_checkpoint(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    good = train.save_checkpoint(tmp_path / "good.pt", TimeMLP(1, 2, hidden=8, depth=1))
    bad.write_bytes(good.read_bytes()[:100])  # truncated
    with pytest.raises(ValueError, match="truncated or corrupt"):
        train.load_checkpoint(bad)


def test_fit_rejects_bad_input():
    net = TimeMLP(1, 2)
    loss = DenoisingLoss(VPSchedule())
    with pytest.raises(ValueError, match="steps"):
        train.fit(net, loss, blob_2d(8), steps=0, progress=False)
    with pytest.raises(ValueError, match=r"\(N, n, d\)"):
        train.fit(net, loss, torch.randn(8, 2), progress=False)
    data = blob_2d(8)
    data[3, 0, 1] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        train.fit(net, loss, data, progress=False)


def test_command_line(tmp_path, capsys):
    out = tmp_path / "run.pt"
    assert (
        train.main(
            [
                "--data",
                "cloud",
                "--group",
                "SO2",
                "--mode",
                "orbit",
                "--steps",
                "5",
                "--num-data",
                "64",
                "--hidden",
                "16",
                "--batch-size",
                "16",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    state = train.load_checkpoint(out)
    assert state["meta"]["mode"] == "orbit" and state["step"] == 5
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize("bad, exc", [(-1.0, ValueError), (0, ValueError), (float("nan"), ValueError),
                                      (float("inf"), ValueError), ("1", TypeError), (True, TypeError)])  # fmt: skip
def test_grad_clip_is_validated(bad, exc):
    """clip_grad_norm_ with a negative norm flips the gradient (training goes uphill), with 0 it stops."""
    net = TimeMLP(1, 2, hidden=8, depth=1)
    before = [p.detach().clone() for p in net.parameters()]
    with pytest.raises(exc, match="grad_clip"):
        train.fit(net, DenoisingLoss(VPSchedule()), blob_2d(16), steps=3, batch_size=4, grad_clip=bad, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))  # refused before any step


def test_grad_clip_clips_the_step_downhill():
    torch.manual_seed(0)
    net = TimeMLP(1, 2, hidden=8, depth=1)
    before = torch.cat([p.detach().reshape(-1).clone() for p in net.parameters()])
    opt = torch.optim.SGD(net.parameters(), lr=1.0)
    train.fit(net, DenoisingLoss(VPSchedule()), blob_2d(64), steps=1, batch_size=64, optimizer=opt, grad_clip=1e-3,
              progress=False)  # fmt: skip
    step = torch.cat([p.detach().reshape(-1) for p in net.parameters()]) - before
    assert math.isclose(float(step.norm()), 1e-3, rel_tol=1e-4)  # SGD with lr 1: the step is the clipped gradient
