"""The 1D reflection toy (arXiv 2502.09890 §4.1; docs/theory.md#toy1d): loss floor, orbit target, DDIM, metrics, the
JSON writer, and the batched path against the unbatched one."""

from __future__ import annotations

import json
import math
import os

import pytest
import torch

from symviz.experiments import toy1d, toy1d_batched, toy1d_unbatched

torch.set_num_threads(1)


def test_schedule_is_the_papers():
    alpha, sigma = toy1d.schedule(torch.float64)
    assert sigma.shape == alpha.shape == (100,)
    assert sigma[0] == pytest.approx(0.01) and sigma[-1] == pytest.approx(0.999)
    assert torch.allclose(sigma[1:] - sigma[:-1], torch.full((99,), 0.989 / 99, dtype=torch.float64))
    assert torch.allclose(alpha**2 + sigma**2, torch.ones(100, dtype=torch.float64))


def test_quadrature_loss_floor_is_0_2056():
    assert toy1d.loss_floor() == pytest.approx(0.2056, abs=5e-4)
    # converged in the number of nodes
    assert toy1d.loss_floor(300) == pytest.approx(toy1d.loss_floor(200), abs=1e-6)


def test_loss_floor_matches_monte_carlo():
    """Independent check: the SNR-weighted loss of the exact denoiser tanh(alpha x_t / sigma^2) at x0 = 1."""
    gen = torch.Generator().manual_seed(0)
    alpha, sigma = toy1d.schedule(torch.float64)
    m = 1_000_000
    t = torch.randint(0, 100, (m,), generator=gen)
    a, s = alpha[t], sigma[t]
    xt = a + s * torch.randn(m, generator=gen, dtype=torch.float64)
    mc = ((1 - torch.tanh(a * xt / s**2)) ** 2 * a**2 / s**2).mean()
    assert float(mc) == pytest.approx(toy1d.loss_floor(), rel=0.01)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_orbit_target_equals_tanh_form(dtype):
    gen = torch.Generator().manual_seed(1)
    alpha, sigma = toy1d.schedule(dtype)
    t = torch.randint(0, 100, (500,), generator=gen)
    x0 = torch.where(torch.rand(500, 1, 1, generator=gen) < 0.5, -1.0, 1.0).to(dtype)
    noise = torch.randn(500, 1, 1, generator=gen, dtype=dtype)
    xt = alpha[t].reshape(-1, 1, 1) * x0 + sigma[t].reshape(-1, 1, 1) * noise
    got = toy1d.orbit_target_1d(x0, xt, alpha[t], sigma[t])
    want = toy1d.tanh_target(x0, xt, alpha[t], sigma[t])
    tol = 1e-12 if dtype == torch.float64 else 2e-6
    assert got.dtype == dtype and torch.allclose(got, want, atol=tol, rtol=0)
    # by hand for one value: softmax over the two logits -(x_t -+ alpha)^2 / (2 sigma^2)
    a, s, x = 0.8, 0.6, 0.3
    lp, lm = -((x - a) ** 2) / (2 * s**2), -((x + a) ** 2) / (2 * s**2)
    hand = (math.exp(lp) - math.exp(lm)) / (math.exp(lp) + math.exp(lm))
    one = toy1d.orbit_target_1d(
        torch.ones(1, 1, 1, dtype=torch.float64),
        torch.full((1, 1, 1), x, dtype=torch.float64),
        torch.tensor([a], dtype=torch.float64),
        torch.tensor([s], dtype=torch.float64),
    )
    assert float(one) == pytest.approx(hand, abs=1e-12)


def test_metrics_on_synthetic_samples():
    half = 500
    a, b = 1e-3, 3e-3
    f64 = torch.float64
    x = torch.cat([torch.full((half,), -1 - a, dtype=f64), torch.full((half,), 1 + b, dtype=f64)])
    assert toy1d.mad(x) == pytest.approx((a + b) / 2, rel=1e-9)
    assert toy1d.w2_to_pm1(x) == pytest.approx(math.sqrt((a**2 + b**2) / 2), rel=1e-9)
    ones = torch.ones(2 * half, dtype=torch.float64)  # all mass on +1: MAD 0, W2 = sqrt((4 + 0) / 2)
    assert toy1d.mad(ones) == 0.0
    assert toy1d.w2_to_pm1(ones) == pytest.approx(math.sqrt(2))
    # order does not matter for W2; sign(x) is per sample for MAD
    perm = x[torch.randperm(x.numel(), generator=torch.Generator().manual_seed(0))]
    assert toy1d.w2_to_pm1(perm) == pytest.approx(toy1d.w2_to_pm1(x))
    assert toy1d.validation_error(torch.tensor([-3.0, 0.5, 1.25])) == pytest.approx(0.375)
    assert toy1d.validation_error(torch.tensor([-1.0])) == math.inf
    with pytest.raises(ValueError, match="even"):
        toy1d.w2_to_pm1(torch.ones(3))


class _Oracle(torch.nn.Module):
    """The exact posterior mean E[x0 | x_t] = tanh(alpha_t x_t / sigma_t^2); records the times it sees."""

    def __init__(self):
        super().__init__()
        self.times = []

    def forward(self, x, t):
        self.times.append(float(t[0]))
        alpha, sigma = toy1d.schedule(x.dtype)
        i = torch.round(t * 100).long()
        return torch.tanh(alpha[i].reshape(-1, 1, 1) * x / sigma[i].reshape(-1, 1, 1) ** 2)


def test_ddim_with_the_exact_denoiser_lands_on_the_data():
    oracle = _Oracle()
    out = toy1d.evaluate(oracle.double(), num=2000)
    assert oracle.times == pytest.approx([t / 100 for t in range(99, -1, -1)])  # t = 99 .. 0, 100 calls
    assert out["mad"] < 1e-6 and out["w2"] < 1e-6
    # a denoiser that always says 0.5 gives samples at 0.5: MAD 0.5, W2 = sqrt((1.5^2 + 0.5^2) / 2)
    half = toy1d.evaluate(lambda x, t: torch.full_like(x, 0.5), num=1000)
    assert half["mad"] == pytest.approx(0.5) and half["w2"] == pytest.approx(math.sqrt(1.25))


def test_net_is_the_papers_equinet():
    net = toy1d.make_net()
    sizes = [tuple(p.shape) for p in net.parameters()]
    assert sizes == [(10, 2), (10,), (5, 10), (5,), (1, 5), (1,)]
    x, t = torch.randn(7, 1, 1), torch.rand(7)
    assert torch.allclose(net(-x, t), -net(x, t))


def test_tiny_run_writes_valid_json_atomically(tmp_path, capsys):
    out = tmp_path / "res" / "toy1d.json"
    assert toy1d.main(["--steps", "200", "--seeds", "0", "--eval-samples", "2000", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert (
        res["steps"] == 200
        and res["eval_samples"] == 2000
        and res["seeds"] == [0]
        and res["variants"] == list(toy1d.VARIANTS)
    )
    for v in toy1d.VARIANTS:
        s = res["summary"][v]
        assert math.isfinite(s["mad_mean"]) and math.isfinite(s["w2_mean"]) and s["mad_std"] == 0.0
        (r,) = res["per_seed"][v]
        assert r["best_step"] == 200 and r["seed"] == 0
        (c,) = res["curves"][v]
        assert c["val_step"] == [200] and c["step"] == [200]
    assert set(res["versions"]) >= {"torch", "python"} and res["wall_seconds"] > 0
    assert "acceptance" in res and res["loss_floor"] == pytest.approx(0.2056, abs=5e-4)
    assert res["mode"] == "batched" and res["groups"] == [[[v, 0] for v in toy1d.VARIANTS]]
    assert (tmp_path / "res" / "toy1d.md").read_text().count("| EquiNet") == 3
    assert sorted(p.name for p in out.parent.iterdir()) == ["toy1d.json", "toy1d.md"]  # no temp files left
    assert "wrote" in capsys.readouterr().out
    md = (tmp_path / "res" / "toy1d.md").read_text()
    (tmp_path / "res" / "toy1d.md").unlink()
    assert toy1d.main(["--render", str(out)]) == 0  # the table is a pure function of the stored JSON
    assert (tmp_path / "res" / "toy1d.md").read_text() == md


def test_interrupted_write_keeps_the_old_file(tmp_path, monkeypatch):
    out = tmp_path / "toy1d.json"
    toy1d.write_json_atomic({"old": 1}, out)

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        toy1d.write_json_atomic({"new": 2}, out)
    assert json.loads(out.read_text()) == {"old": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["toy1d.json"]


def test_bad_variant_is_rejected():
    with pytest.raises(ValueError, match="variant"):
        toy1d.train_one("nope", 0, steps=1)


@pytest.mark.parametrize("batched", [True, False])
def test_parallel_jobs_give_the_same_numbers(batched):
    """Each (variant, seed) seeds its own stream, so worker processes change the wall time only."""
    kw = {"steps": 60, "seeds": (0, 1), "variants": ("orbdiff",), "eval_samples": 1000, "log": None}
    kw["batched"] = batched
    serial, parallel = toy1d.run(jobs=1, **kw), toy1d.run(jobs=2, **kw)
    assert serial["per_seed"]["orbdiff"][0]["mad"] != serial["per_seed"]["orbdiff"][1]["mad"]  # seeds differ
    for a, b in zip(serial["per_seed"]["orbdiff"], parallel["per_seed"]["orbdiff"]):
        assert (a["seed"], a["mad"], a["w2"], a["best_step"]) == (b["seed"], b["mad"], b["w2"], b["best_step"])
    assert serial["curves"] == parallel["curves"] and parallel["versions"]["jobs"] == 2
    with pytest.raises(ValueError, match="jobs"):
        toy1d.run(jobs=0, **kw)


def test_train_one_resumes_exactly_after_a_crash(tmp_path, monkeypatch):
    """40 steps straight vs a crash at step 33 (checkpoints at 15, 30) + resume: the same weights and numbers."""
    kw = {"steps": 40, "val_every": 10, "log_every": 4, "eval_samples": 1000, "checkpoint_every": 15}
    straight = toy1d.train_one("aug", 0, checkpoint_path=tmp_path / "a.pt", **kw)
    real, calls = toy1d_unbatched.draw_randoms, []

    def crash_at_33(*a, **k):
        calls.append(1)
        if len(calls) == 33:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(toy1d_unbatched, "draw_randoms", crash_at_33)
    with pytest.raises(KeyboardInterrupt):
        toy1d.train_one("aug", 0, checkpoint_path=tmp_path / "b.pt", **kw)
    monkeypatch.setattr(toy1d_unbatched, "draw_randoms", real)
    torch.manual_seed(123)  # whatever the global stream holds now, the resume restores it
    resumed = toy1d.train_one("aug", 0, checkpoint_path=tmp_path / "b.pt", resume=True, **kw)
    for k, v in straight["state_dict"].items():
        assert torch.equal(v, resumed["state_dict"][k]), k
    for k in ("mad", "w2", "best_step", "best_val_error", "loss_last_half", "curve"):
        assert straight[k] == resumed[k], k
    with pytest.raises(Exception, match="another run"):
        toy1d.train_one("orbdiff", 0, checkpoint_path=tmp_path / "b.pt", resume=True, **kw)
    with pytest.raises(Exception, match="past steps=20"):
        toy1d.train_one("aug", 0, checkpoint_path=tmp_path / "b.pt", resume=True, **(kw | {"steps": 20}))


@pytest.mark.parametrize("mode", [[], ["--unbatched"]])
def test_run_resume_reads_finished_pairs_and_cleans_up(tmp_path, monkeypatch, mode):
    out = tmp_path / "toy1d.json"
    args = ["--steps", "30", "--seeds", "0", "--variants", "orbdiff", "equinet", "--eval-samples", "1000", *mode]
    assert toy1d.main([*args, "--out", str(out), "--keep-checkpoints"]) == 0
    first = json.loads(out.read_text())
    folder = tmp_path / "toy1d_checkpoints"
    trained = ["batch_orbdiff0_equinet0.pt"] if not mode else ["equinet_seed0.pt", "orbdiff_seed0.pt"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(["equinet_seed0.json", "orbdiff_seed0.json", *trained])

    def no_training(*a, **k):
        raise AssertionError("a finished (variant, seed) must not be trained again")

    monkeypatch.setattr(toy1d, "train_one", no_training)
    monkeypatch.setattr(toy1d, "train_batched", no_training)
    assert toy1d.main([*args, "--out", str(out), "--resume"]) == 0
    again = json.loads(out.read_text())
    assert again["per_seed"] == first["per_seed"] and again["curves"] == first["curves"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy1d.json", "toy1d.md"]  # checkpoints removed


# ---------------------------------------------------------------------------------------------------------------
# The batched path (toy1d_batched) against the unbatched one (toy1d_unbatched) and against autograd
# ---------------------------------------------------------------------------------------------------------------

SHORT = {"steps": 40, "val_every": 10, "log_every": 5, "eval_samples": 1000}


def _assert_same_run(a: dict, b: dict, rtol: float = 1e-5):
    """Two results of one (variant, seed): the same weights, curves, best step and sample metrics, to ``rtol``.

    On the project's CPU build they are bitwise equal; the tolerance covers BLAS builds that round differently.
    """
    assert (a["variant"], a["seed"], a["best_step"]) == (b["variant"], b["seed"], b["best_step"])
    for k, v in a["state_dict"].items():
        torch.testing.assert_close(v, b["state_dict"][k], rtol=rtol, atol=1e-7, msg=k)
    for key in ("step", "val_step"):
        assert a["curve"][key] == b["curve"][key]
    for key in ("loss", "val_error"):
        assert a["curve"][key] == pytest.approx(b["curve"][key], rel=rtol)
    for key in ("mad", "w2", "best_val_error", "loss_last_half"):
        assert a[key] == pytest.approx(b[key], rel=1e-4), key


def test_batched_runs_equal_the_unbatched_runs():
    """Same seeds, a few steps: every run of one batched model ends where its unbatched run ends."""
    pairs = [(v, seed) for v in toy1d.VARIANTS for seed in (0, 1)]
    batched = toy1d.train_batched(pairs, **SHORT)
    for (v, seed), b in zip(pairs, batched):
        _assert_same_run(b, toy1d.train_one(v, seed, **SHORT))
    assert batched[0]["mad"] != batched[1]["mad"] and batched[0]["batch_size"] == len(pairs)


def test_each_runs_stream_is_independent_of_the_others():
    """A run's numbers do not depend on which runs share its batch, nor on their order; seeds do differ."""
    alone = toy1d.train_batched([("orbdiff", 1)], **SHORT)[0]
    mixed = toy1d.train_batched([("aug", 1), ("orbdiff", 1), ("equinet", 0), ("orbdiff", 2)], **SHORT)
    _assert_same_run(alone, mixed[1])
    assert mixed[3]["curve"]["loss"] != alone["curve"]["loss"]  # another seed, another stream
    with pytest.raises(ValueError, match="distinct"):
        toy1d.train_batched([("aug", 1), ("aug", 1)], steps=1)
    with pytest.raises(ValueError, match="variant"):
        toy1d.train_batched([("nope", 1)], steps=1)


def test_hand_written_gradient_equals_autograd():
    """``BatchedEquiNet.loss_and_grad`` against ``loss.backward()`` on each OddNet, in float64."""
    torch.manual_seed(3)
    nets = [toy1d.make_net().double() for _ in range(3)]
    model = toy1d_batched.BatchedEquiNet(nets)
    gen = torch.Generator().manual_seed(4)
    alpha, sigma = toy1d.schedule(torch.float64)
    parts = [toy1d.make_batch("orbdiff", *toy1d.draw_randoms("orbdiff", gen, 50), alpha, sigma) for _ in nets]
    parts = [[p.double() for p in part] for part in parts]
    xt, tn, target, weight = (torch.stack([p[j] for p in parts]) for j in range(4))
    losses, grad = model.loss_and_grad(xt, tn, target, weight)
    for r, net in enumerate(nets):
        loss = ((net(xt[r], tn[r]) - target[r]).reshape(-1) ** 2 * weight[r]).mean()
        loss.backward()
        want = torch.cat([p.grad.reshape(-1) for p in net.parameters()])
        assert float(losses[r]) == pytest.approx(loss.item(), rel=1e-12)
        torch.testing.assert_close(grad[r], want, rtol=1e-10, atol=1e-14)
        assert model.run_state(r).keys() == net.state_dict().keys()
    x = torch.randn(3, 7, 1, 1, dtype=torch.float64)
    t = torch.rand(3, 7, dtype=torch.float64)
    out = model(x, t)
    for r, net in enumerate(nets):
        torch.testing.assert_close(out[r], net(x[r], t[r]), rtol=1e-12, atol=1e-14)


def test_stacked_adam_equals_torch_adam_and_steplr():
    """``StackedAdam`` against ``torch.optim.Adam`` + ``StepLR`` (step size 3 here, so the decay is exercised)."""
    gen = torch.Generator().manual_seed(0)
    start = torch.randn(4, 6, generator=gen, dtype=torch.float64)
    ref = start.clone().requires_grad_()
    opt = torch.optim.Adam([ref], lr=1e-3)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.8)
    mine = toy1d_batched.StackedAdam(start.clone(), step_size=3)
    for _ in range(10):
        g = torch.randn(4, 6, generator=gen, dtype=torch.float64)
        ref.grad = g.clone()
        opt.step()
        sched.step()
        mine.step(g)
    torch.testing.assert_close(mine.param, ref.detach(), rtol=1e-14, atol=0)
    assert mine.lr == pytest.approx(opt.param_groups[0]["lr"], rel=1e-15)


def test_train_batched_resumes_exactly_after_a_crash(tmp_path, monkeypatch):
    """40 steps straight vs a crash in step 33 (checkpoints at 15, 30) + resume: the same weights and numbers."""
    pairs = [("aug", 0), ("orbdiff", 1)]
    kw = SHORT | {"checkpoint_every": 15}
    straight = toy1d.train_batched(pairs, checkpoint_path=tmp_path / "a.pt", **kw)
    real, calls = toy1d_batched.draw_randoms, []

    def crash_in_step_33(*a, **k):
        calls.append(1)
        if len(calls) == 33 * len(pairs):
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(toy1d_batched, "DRAW_CHUNK", 4)  # steps 29-32 drawn together: the checkpoint at 30 is inside
    monkeypatch.setattr(toy1d_batched, "draw_randoms", crash_in_step_33)
    with pytest.raises(KeyboardInterrupt):
        toy1d.train_batched(pairs, checkpoint_path=tmp_path / "b.pt", **kw)
    monkeypatch.setattr(toy1d_batched, "draw_randoms", real)
    resumed = toy1d.train_batched(pairs, checkpoint_path=tmp_path / "b.pt", resume=True, **kw)
    for a, b in zip(straight, resumed):
        for k, v in a["state_dict"].items():
            assert torch.equal(v, b["state_dict"][k]), k
        for k in ("mad", "w2", "best_step", "best_val_error", "loss_last_half", "curve"):
            assert a[k] == b[k], k
    with pytest.raises(Exception, match="another run"):
        toy1d.train_batched(pairs[:1], checkpoint_path=tmp_path / "b.pt", resume=True, **kw)


def test_batched_path_reproduces_the_stored_full_run_start():
    """The stored table (data/results/toy1d.json) was trained by the unbatched path; the batched path's first
    1000 steps give the same logged losses and validation error for every (variant, seed)."""
    from pathlib import Path

    stored = json.loads((Path(__file__).resolve().parents[1] / "data/results/toy1d.json").read_text())
    pairs = [(v, seed) for v in toy1d.VARIANTS for seed in stored["seeds"]]
    for (v, seed), r in zip(pairs, toy1d.train_batched(pairs, steps=1000, eval_samples=1000)):
        (c,) = [c for c in stored["curves"][v] if c["seed"] == seed]
        assert c["step"][:3] == r["curve"]["step"][:3] == [250, 500, 750]
        assert r["curve"]["loss"][:3] == pytest.approx(c["loss"][:3], rel=1e-5), (v, seed)
        assert c["val_step"][0] == r["curve"]["val_step"][0] == 501
        assert r["curve"]["val_error"][0] == pytest.approx(c["val_error"][0], rel=1e-4), (v, seed)
