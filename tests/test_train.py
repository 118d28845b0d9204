"""The training loop: learning, seeding, atomic checkpoints, the command line."""

import math
import os
import subprocess
import sys
from pathlib import Path

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


def test_fit_leaves_the_callers_threads_and_global_rng_alone():
    """fit draws from its own generator and forks the global RNG (dropout): the caller's torch state is the
    same after the call, threads included, whether or not fit was asked for a thread count."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = _DropoutMLP()
    loss = DenoisingLoss(VPSchedule(), "orbit", SO2(), num_samples=4)
    data = blob_2d(64, generator=torch.Generator().manual_seed(0))
    for num_threads, inside in ((None, 1), (2, 2)):
        torch.manual_seed(11)
        rng = torch.get_rng_state()
        seen = []
        watch = lambda step, value, seen=seen: seen.append(torch.get_num_threads())  # noqa: E731
        train.fit(net, loss, data, steps=6, batch_size=8, seed=3, progress=False, log_every=3,
                  num_threads=num_threads, callback=watch)  # fmt: skip
        assert seen == [inside, inside]  # the count asked for, while fit runs
        assert torch.get_num_threads() == 1  # and the caller's afterwards
        assert torch.equal(torch.get_rng_state(), rng)


def test_fit_with_dropout_does_not_depend_on_the_callers_global_rng():
    """The seed argument alone fixes a run (its dropout masks too), whatever the global RNG held before."""
    runs = []
    for caller_seed in (1, 2):
        torch.manual_seed(0)
        net = _DropoutMLP()
        torch.manual_seed(caller_seed)
        loss = DenoisingLoss(VPSchedule(), "orbit", SO2(), num_samples=4)
        data = blob_2d(64, generator=torch.Generator().manual_seed(0))
        runs.append(train.fit(net, loss, data, steps=8, batch_size=8, seed=3, progress=False, log_every=2).loss)
        with torch.no_grad():  # the masks differ from call to call: the net really uses dropout
            x, t = torch.ones(256, 1, 2), torch.full((256,), 0.5)
            assert not torch.equal(net(x, t), net(x, t))
    assert runs[0] == runs[1]


def test_fit_rejects_a_bad_thread_count():
    with pytest.raises(TypeError, match="num_threads"):
        train.fit(TimeMLP(1, 2, hidden=8, depth=1), DenoisingLoss(VPSchedule()), blob_2d(8), steps=1,
                  num_threads=1.5, progress=False)  # fmt: skip


# ----------------------------------------------------------------------------------------------
# Resumable training
# ----------------------------------------------------------------------------------------------


class _DropoutMLP(torch.nn.Module):
    """TimeMLP plus dropout on its output: uses torch's global RNG, so a resume must restore that too."""

    def __init__(self):
        super().__init__()
        self.mlp = TimeMLP(1, 2, hidden=16, depth=2)

    def forward(self, x, t):
        return torch.nn.functional.dropout(self.mlp(x, t), p=0.2, training=True)


class _Stop(Exception):
    pass


def _resumable(path, steps, init_seed, stop_at=None, resume=False, **kw):
    torch.manual_seed(init_seed)  # a fresh net: its weights must come from the checkpoint on resume
    net = _DropoutMLP()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.5)

    def stop(step, loss):
        if step == stop_at:
            raise _Stop

    loss = DenoisingLoss(VPSchedule(), "orbit", SO2(), num_samples=4)
    data = blob_2d(256, generator=torch.Generator().manual_seed(0))
    hist = train.fit(net, loss, data, steps=steps, batch_size=16, seed=3, progress=False, log_every=4,
                     optimizer=opt, scheduler=sched, checkpoint_path=path, checkpoint_every=6, callback=stop,
                     resume=resume, **kw)  # fmt: skip
    return net, opt, sched, hist


def test_resumed_run_matches_an_uninterrupted_one_exactly(tmp_path):
    """N steps straight vs a crash at step 20 (last checkpoint: step 18, mid log window) + resume to N."""
    net_a, opt_a, sched_a, hist_a = _resumable(tmp_path / "a.pt", 40, init_seed=0)
    with pytest.raises(_Stop):
        _resumable(tmp_path / "b.pt", 40, init_seed=0, stop_at=20)
    assert train.load_checkpoint(tmp_path / "b.pt")["step"] == 18
    net_b, opt_b, sched_b, hist_b = _resumable(tmp_path / "b.pt", 40, init_seed=99, resume=True)
    for (name, a), b in zip(net_a.state_dict().items(), net_b.state_dict().values()):
        assert torch.equal(a, b), name
    assert hist_a.step == hist_b.step and hist_a.loss == hist_b.loss  # the log window across the crash too
    assert sched_a.state_dict() == sched_b.state_dict()
    sa, sb = opt_a.state_dict()["state"], opt_b.state_dict()["state"]
    assert all(torch.equal(sa[i][k], sb[i][k]) for i in sa for k in sa[i])
    a, b = (train.load_checkpoint(tmp_path / f"{x}.pt") for x in "ab")
    assert a["step"] == b["step"] == 40 and a["optimizer"] is not None
    # a checkpoint at or past `steps` returns its history without training; a larger `steps` extends it
    net_c, _, _, hist_c = _resumable(tmp_path / "b.pt", 40, init_seed=5, resume=True)
    assert hist_c.loss == hist_a.loss and all(torch.equal(x, y) for x, y in zip(net_c.parameters(), net_a.parameters()))
    _, _, _, hist_d = _resumable(tmp_path / "b.pt", 48, init_seed=5, resume=True)
    assert hist_d.step[: len(hist_a.step)] == hist_a.step and hist_d.step[-1] == 48


def test_resume_without_a_file_starts_afresh_and_refuses_other_runs(tmp_path):
    net_a, *_ , hist_a = _resumable(tmp_path / "a.pt", 12, init_seed=0)  # fmt: skip
    net_b, *_, hist_b = _resumable(tmp_path / "b.pt", 12, init_seed=0, resume=True)  # no b.pt yet: from step 0
    assert hist_a.loss == hist_b.loss
    with pytest.raises(train.CheckpointError, match="seed: checkpoint 3, now 4"):
        train.fit(_DropoutMLP(), DenoisingLoss(VPSchedule()), blob_2d(256), steps=20, batch_size=16, seed=4,
                  checkpoint_path=tmp_path / "a.pt", resume=True, progress=False)  # fmt: skip
    plain = train.save_checkpoint(tmp_path / "plain.pt", net_a)  # weights only: nothing to resume from
    with pytest.raises(train.CheckpointError, match="cannot resume exactly"):
        _resumable(plain, 20, init_seed=0, resume=True)
    with pytest.raises(ValueError, match="resume=True needs checkpoint_path"):
        train.fit(net_a, DenoisingLoss(VPSchedule()), blob_2d(8), steps=2, resume=True, progress=False)


def test_unwritable_checkpoint_path_is_found_before_training(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    seen = []
    net = TimeMLP(1, 2, hidden=8, depth=1)
    before = [p.detach().clone() for p in net.parameters()]
    with pytest.raises(ValueError, match="checkpoint_path .*a_file/c.pt cannot be written"):
        train.fit(net, DenoisingLoss(VPSchedule()), blob_2d(16), steps=50, batch_size=4, progress=False,
                  log_every=1, callback=lambda s, v: seen.append(s), checkpoint_path=blocker / "c.pt")  # fmt: skip
    assert seen == [] and all(torch.equal(a, b) for a, b in zip(before, net.parameters()))


def test_checkpoint_checksum_detects_flipped_bytes(tmp_path):
    torch.manual_seed(0)
    net = TimeMLP(1, 2, hidden=8, depth=1)
    path = train.save_checkpoint(tmp_path / "c.pt", net, torch.optim.Adam(net.parameters()), step=3)
    raw = path.read_bytes()
    state = train.load_checkpoint(path)
    assert state["sha256"] == train.state_digest(state)
    w = next(iter(net.state_dict().values())).numpy().tobytes()
    at = raw.find(w)
    assert at > 0
    flipped = bytearray(raw)
    flipped[at + 5] ^= 0x10  # one bit of one weight
    bad = tmp_path / "bad.pt"
    bad.write_bytes(bytes(flipped))
    assert torch.load(bad, weights_only=True)["model"] is not None  # torch itself reads it without complaint
    with pytest.raises(train.CheckpointError, match="SHA-256"):
        train.load_checkpoint(bad)
    # anywhere in the file: either an error, or (zip padding, unused bytes) exactly the same contents
    for pos in range(0, len(raw), max(1, len(raw) // 300)):
        flipped = bytearray(raw)
        flipped[pos] ^= 0xFF
        bad.write_bytes(bytes(flipped))
        try:
            got = train.load_checkpoint(bad)
        except train.CheckpointError:
            continue
        assert train.state_digest(got) == state["sha256"], pos


def test_command_line_final_checkpoint_keeps_the_optimizer_and_resumes(tmp_path, capsys):
    args = ["--data", "cloud", "--steps", "6", "--num-data", "64", "--hidden", "16", "--batch-size", "8",
            "--num-samples", "4", "--checkpoint-every", "2"]  # fmt: skip
    train.main([*args, "--out", str(tmp_path / "straight.pt")])
    train.main([*args[:3], "4", *args[4:], "--out", str(tmp_path / "resumed.pt")])  # 4 steps, then resume to 6
    first = train.load_checkpoint(tmp_path / "resumed.pt")
    assert first["step"] == 4 and first["optimizer"] is not None and first["training"] is not None
    assert first["meta"]["mode"] == "orbit"
    train.main([*args, "--out", str(tmp_path / "resumed.pt"), "--resume"])
    a, b = (train.load_checkpoint(tmp_path / f"{x}.pt") for x in ("straight", "resumed"))
    assert b["step"] == 6 and b["optimizer"] is not None
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    with pytest.raises(SystemExit):
        train.main([*args, "--lr", "0.5", "--out", str(tmp_path / "resumed.pt"), "--resume"])
    assert "--lr 0.001 there, 0.5 now" in capsys.readouterr().err
    (tmp_path / "blocker").write_text("")
    with pytest.raises(SystemExit):
        train.main([*args, "--out", str(tmp_path / "blocker" / "x.pt")])
    assert "cannot be written" in capsys.readouterr().err


def test_python_dash_m_symviz_train_gives_no_runpy_warning():
    root = Path(__file__).resolve().parents[1]
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(root), *sys.path])}
    proc = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-m", "symviz.train", "--help"],
                          capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert proc.returncode == 0 and "RuntimeWarning" not in proc.stderr, proc.stderr
    import symviz as sv

    assert sv.train.fit is train.fit and "train" in dir(sv)
