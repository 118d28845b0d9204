"""The 2D toy experiment (tutorial 06): metrics with known answers, model/loss wiring, a tiny end-to-end run."""

from __future__ import annotations

import json
import math

import pytest
import torch

import symviz as sv
from symviz.data import toys
from symviz.experiments import toys2d

torch.set_num_threads(1)


def test_symmetry_error_known_answers():
    gen = torch.Generator().manual_seed(0)
    ring = toys.symmetrize(toys2d.make_data("blob-SO2", 4000), sv.groups.SO2(), generator=gen)
    one_way = toys2d.make_data("blob-SO2", 4000)  # all near angle 0
    point = torch.tensor([[[1.5, 0.0]]]).expand(600, 1, 2)
    assert toys2d.symmetry_error(ring, "blob-SO2") < 0.03
    assert toys2d.symmetry_error(one_way, "blob-SO2") > 0.4
    six = toys.symmetrize(toys2d.make_data("blob-C6", 6000), sv.groups.Cyclic(6), generator=gen)
    assert toys2d.symmetry_error(six, "blob-C6") < 0.03
    # all mass in one of six sectors: TV = (5/6 + 5 * 1/6) / 2 = 5/6
    assert toys2d.symmetry_error(point, "blob-C6") == pytest.approx(5 / 6)


def test_mirror_fraction_known_answers():
    x = toys.asymmetric_cloud_2d()
    rot = sv.groups.SO2().act(sv.groups.SO2().sample(50, generator=torch.Generator().manual_seed(1)), x)
    mirror = x * torch.tensor([1.0, -1.0])
    assert toys2d.mirror_fraction(rot) == 0.0
    assert toys2d.mirror_fraction(mirror.expand(10, 4, 2)) == 1.0
    assert toys2d.mirror_fraction(torch.stack([x, mirror])) == 0.5
    assert math.isnan(toys2d.mirror_fraction(torch.zeros(3, 1, 2)))


def test_models_and_losses_are_wired_as_documented():
    assert isinstance(toys2d.make_model("blob-SO2", "equivariant"), sv.nets.RadialNet)
    assert isinstance(toys2d.make_model("cloud-SO2", "equivariant"), sv.nets.EGNN)
    assert isinstance(toys2d.make_model("cloud-SO2", "mlp-orbit"), sv.nets.TimeMLP)
    with pytest.raises(ValueError, match="no equivariant baseline"):
        toys2d.make_model("blob-C6", "equivariant")
    with pytest.raises(ValueError, match="setting"):
        toys2d.make_data("blob-SO3")
    assert toys2d.make_loss("blob-C6", "mlp-orbit").num_samples is None  # exact 6-term sum
    assert toys2d.make_loss("cloud-SO2", "mlp-orbit").num_samples == toys2d.K_SO2
    assert toys2d.make_loss("cloud-SO2", "equivariant").mode == "plain"
    assert toys2d.make_loss("blob-SO2", "mlp-augment").mode == "augment"
    # the same seed gives the same initial weights (fair comparisons)
    a, b = toys2d.make_model("blob-SO2", "mlp-plain", seed=3), toys2d.make_model("blob-SO2", "mlp-plain", seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_equivariant_baselines_are_equivariant():
    for setting in ("blob-SO2", "cloud-SO2"):
        net = toys2d.make_model(setting, "equivariant")
        x = toys.symmetrize(toys2d.make_data(setting, 16), sv.groups.SO2(), generator=torch.Generator().manual_seed(0))
        t = torch.full((16,), 0.4)
        assert sv.metrics.equivariance_error(lambda y, net=net, t=t: net(y, t), x, sv.groups.SO2()) < 1e-4


def test_tiny_run_writes_json(tmp_path):
    out = tmp_path / "toys2d.json"
    assert toys2d.main(["--steps", "5", "--seeds", "0", "--settings", "blob-C6", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["steps"] == 5 and res["settings"] == ["blob-C6"]
    assert set(res["summary"]["blob-C6"]) == {"floor", "mlp-plain", "mlp-augment", "mlp-orbit"}
    assert toys2d.unpack_samples(res["samples"]["blob-C6/mlp-orbit"]).shape == (toys2d.NUM_STORED, 1, 2)
    assert "NaN" not in out.read_text()  # strict JSON: the blob's mirror metric is null
    assert (tmp_path / "toys2d.md").read_text().count("| blob-C6 |") == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toys2d.json", "toys2d.md"]


def test_interrupted_run_resumes_to_the_same_weights(tmp_path, monkeypatch):
    """train_one with checkpoints: a crash at step 9 (last checkpoint 8) + resume ends where 12 straight steps do."""
    kw = {"steps": 12, "seed": 0, "batch_size": 32, "checkpoint_every": 4}
    monkeypatch.setattr(toys2d, "evaluate", lambda net, setting: {k: 0.0 for k in ("sw", "sym", "equi", "mirror",
                        "nonfinite")} | {"samples": torch.zeros(1, 1, 2)})  # fmt: skip
    straight = toys2d.train_one("blob-SO2", "mlp-orbit", checkpoint_path=tmp_path / "a.pt", **kw)

    def crash(step, loss):
        if step == 9:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        toys2d.train_one("blob-SO2", "mlp-orbit", checkpoint_path=tmp_path / "b.pt", callback=crash, **kw)
    resumed = toys2d.train_one("blob-SO2", "mlp-orbit", checkpoint_path=tmp_path / "b.pt", resume=True, **kw)
    for a, b in zip(straight["net"].state_dict().values(), resumed["net"].state_dict().values()):
        assert torch.equal(a, b)
    assert straight["history"]["loss"] == resumed["history"]["loss"]


def test_command_line_resume_and_checkpoint_folder(tmp_path):
    out = tmp_path / "toys2d.json"
    args = ["--steps", "4", "--seeds", "0", "--settings", "blob-C6", "--out", str(out), "--checkpoint-every", "2"]
    assert toys2d.main([*args, "--keep-checkpoints"]) == 0
    names = sorted(p.name for p in (tmp_path / "toys2d_checkpoints").iterdir())
    assert names == [toys2d.checkpoint_name("blob-C6", m, 0) for m in ("mlp-augment", "mlp-orbit", "mlp-plain")]
    first = json.loads(out.read_text())
    assert toys2d.main([*args, "--resume"]) == 0  # everything finished: evaluated again, not retrained
    again = json.loads(out.read_text())
    assert [r["sw"] for r in again["per_seed"]] == [r["sw"] for r in first["per_seed"]]
    assert again["curves"] == first["curves"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toys2d.json", "toys2d.md"]
