"""Molecule training: conformer tensors and tables, MoleculeLoss (the per-batch group SO(3) x the whole
automorphism group, node and pair features gathered per sample), fit's per-sample extras, and the QM9 command
end to end for both networks (checkpoint rebuilt by load_model)."""

import json
import math

import pytest
import torch

from symviz import train
from symviz.conformers import load_model
from symviz.data.ensembles import load_offline_ensembles, mol_from_mapped_smiles
from symviz.data.molgraph import automorphisms
from symviz.diffusion import VPSchedule, center
from symviz.experiments import qm9_train
from symviz.groups import SO3, AutomorphismGroup, Product
from symviz.losses import DenoisingLoss
from symviz.molecules import NODE_DIM, NODE_FEATURES, PAIR_DIM, MoleculeLoss, conformer_tensors, validation_loss
from symviz.molecules.models import build_net, net_spec

torch.set_num_threads(1)
N_MOL = 5
ELEMENTS = [i for i, name in enumerate(NODE_FEATURES) if name.startswith("element=")]


@pytest.fixture(scope="module")
def ensembles():
    return load_offline_ensembles(split="val")[:N_MOL]


@pytest.fixture(scope="module")
def tensors(ensembles):
    return conformer_tensors(ensembles)


def test_conformer_tensors_rows_masks_and_tables(ensembles, tensors):
    x0, mask, mol = tensors["x0"], tensors["mask"], tensors["mol"]
    n_rows, n = x0.shape[:2]
    assert n_rows == sum(e.n_confs for e in ensembles) and n == max(e.n_atoms for e in ensembles)
    assert x0.dtype == torch.float32 and mask.shape == (n_rows, n) and mol.shape == (n_rows,)
    assert tensors["node"].shape == (N_MOL, n, NODE_DIM) and tensors["pair"].shape == (N_MOL, n, n, PAIR_DIM)
    assert tensors["aut_base"].shape[::2] == (N_MOL, n) and tensors["aut_classes"].shape == (N_MOL, n)
    # rows in molecule order, each with its molecule's atom count
    assert mol.tolist() == [m for m, e in enumerate(ensembles) for _ in range(e.n_confs)]
    assert mask.sum(1).tolist() == [e.n_atoms for e in ensembles for _ in range(e.n_confs)]
    # centred over real atoms, padding exactly 0, and the same geometry as the ensemble (a translation)
    com = (x0 * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    assert com.abs().max() < 1e-5 and (x0[~mask] == 0).all()
    r = 0
    for m, e in enumerate(ensembles):
        a = e.n_atoms
        pos = torch.as_tensor(e.pos, dtype=torch.float64)
        torch.testing.assert_close(x0[r : r + e.n_confs, :a].double(), center(pos), atol=1e-5, rtol=0)
        # element one-hots on real atoms only, in the ensemble's atom order
        onehot = tensors["node"][m][:, ELEMENTS]
        assert torch.equal(onehot.sum(-1) == 1, torch.arange(n) < a)
        z_from_onehot = torch.tensor([1, 6, 7, 8, 9])[onehot[:a].argmax(-1)]
        assert z_from_onehot.tolist() == [int(v) for v in e.z]
        assert (tensors["pair"][m][a:] == 0).all() and (tensors["pair"][m][:, a:] == 0).all()
        r += e.n_confs


def test_tables_hold_each_molecules_whole_automorphism_group(ensembles, tensors):
    g = AutomorphismGroup(tensors["aut_base"], tensors["aut_classes"])
    for m, e in enumerate(ensembles):
        a = e.n_atoms
        one = g.take(torch.tensor([m]))
        brute = automorphisms(mol_from_mapped_smiles(e.smiles), max_count=10**6, enumerate_limit=10**6)
        assert float(one.orders[0]) == brute.shape[0]
        draws = one.sample(200, generator=torch.Generator().manual_seed(m))[0]
        assert {tuple(p) for p in draws[:, :a].tolist()} <= {tuple(p) for p in brute.tolist()}
        assert torch.equal(draws[:, a:], torch.arange(a, draws.shape[-1]).expand(200, -1))


def _batch(tensors, rows):
    sl = torch.as_tensor(rows)
    return tensors["x0"][sl].double(), tensors["mask"][sl], tensors["mol"][sl]


def test_molecule_loss_equals_a_denoising_loss_with_the_gathered_group(tensors):
    rows = [0, 3, len(tensors["mol"]) - 1, 7, 7]
    x0, mask, mol = _batch(tensors, rows)
    torch.manual_seed(0)
    net = build_net(net_spec("egnn", hidden=16, layers=2)).double()
    base = DenoisingLoss(VPSchedule(), "orbit", SO3(), num_samples=8)
    ours = MoleculeLoss(base, tensors)(net, x0, generator=torch.Generator().manual_seed(3), mask=mask, mol=mol)
    group = Product(SO3(), AutomorphismGroup(tensors["aut_base"][mol], tensors["aut_classes"][mol]))
    kw = {"mask": mask, "node_attr": tensors["node"][mol].double(), "edge_attr": tensors["pair"][mol].double()}
    direct = base(net, x0, generator=torch.Generator().manual_seed(3), group=group, **kw)
    assert ours.shape == (5,) and torch.equal(ours, direct)
    # the check can fail: SO(3) alone, or another molecule's features, give different numbers
    so3 = base(net, x0, generator=torch.Generator().manual_seed(3), **kw)
    assert not torch.allclose(ours, so3)
    shifted = {**kw, "node_attr": tensors["node"][(mol + 1) % N_MOL].double()}
    other = base(net, x0, generator=torch.Generator().manual_seed(3), group=group, **shifted)
    assert not torch.allclose(ours, other)


def test_molecule_loss_needs_mol_and_its_tables(tensors):
    base = DenoisingLoss(VPSchedule(), "orbit", SO3(), num_samples=4)
    loss = MoleculeLoss(base, tensors)
    net = build_net(net_spec("egnn", hidden=8, layers=1))
    with pytest.raises(ValueError, match="extras"):
        loss(net, tensors["x0"][:2], mask=tensors["mask"][:2])
    with pytest.raises(ValueError, match="aut_classes"):
        MoleculeLoss(base, {k: v for k, v in tensors.items() if k != "aut_classes"})


def test_validation_loss_is_reproducible_and_restores_train_mode(tensors):
    torch.manual_seed(1)
    net = build_net(net_spec("egnn", hidden=8, layers=1))
    loss = MoleculeLoss(DenoisingLoss(VPSchedule(), "orbit", SO3(), num_samples=4), tensors)
    a = validation_loss(net, loss, tensors, batch_size=16)
    b = validation_loss(net, loss, tensors, batch_size=16)
    assert a == b and math.isfinite(a) and a > 0 and net.training
    # the mean over per-sample losses, whatever the batching (the draws differ, the scale does not)
    c = validation_loss(net, loss, tensors, batch_size=7, seed=99)
    assert 0.5 < c / a < 2


def test_fit_passes_each_batch_its_own_extras():
    data = center(torch.randn(40, 3, 2))
    seen = []

    def loss_fn(net, x0, generator=None, mask=None, row=None):
        assert torch.equal(x0, data[row]), "extras rows must match the data rows of the batch"
        seen.append(row)
        return net(x0.reshape(x0.shape[0], -1)).pow(2).mean(-1)

    net = torch.nn.Linear(6, 1)
    train.fit(net, loss_fn, data, steps=5, batch_size=8, progress=False, extras={"row": torch.arange(40)})
    assert len(seen) == 5 and all(r.shape == (8,) for r in seen)
    with pytest.raises(ValueError, match="one row per data sample"):
        train.fit(net, loss_fn, data, steps=1, progress=False, extras={"row": torch.arange(39)})


@pytest.mark.parametrize("kind", ["egnn", "transformer"])
def test_command_trains_and_load_model_rebuilds_the_net(tmp_path, capsys, tensors, kind):
    out = tmp_path / "m.pt"
    args = ["--net", kind, "--steps", "3", "--hidden", "16", "--layers", "2", "--max-molecules", "5"]
    assert 0 == qm9_train.main([*args, "--num-samples", "8", "--batch-size", "8", "--out", str(out)])
    assert "validation loss" in capsys.readouterr().out
    state = train.load_checkpoint(out)
    meta = state["meta"]
    assert json.loads(meta["spec"]) == net_spec(kind, hidden=16, layers=2)
    assert json.loads(meta["args"])["mode"] == "orbit" and meta["train_molecules"] == 5
    assert math.isfinite(meta["val_loss"]) and meta["val_loss"] > 0 and state["step"] == 3
    net, meta2 = load_model(str(out))
    assert meta2 == meta and not net.training
    # the rebuilt network has the trained weights and gives the trained network's output
    trained = build_net(json.loads(meta["spec"]))
    trained.load_state_dict(state["model"])
    fresh = build_net(json.loads(meta["spec"]))  # a differently initialised net for contrast
    x0, mask, mol = _batch(tensors, [0, 5, 9])
    x0 = x0.float()
    kw = {"mask": mask, "node_attr": tensors["node"][mol], "edge_attr": tensors["pair"][mol]}
    xt, t = x0 + 0.3 * torch.randn(x0.shape, generator=torch.Generator().manual_seed(0)) * mask[..., None], 0.4
    tt = torch.full((3,), t)
    with torch.no_grad():
        y = net(xt, tt, **kw)
        assert torch.equal(y, trained.eval()(xt, tt, **kw))
        assert not torch.allclose(y, fresh.eval()(xt, tt, **kw))
    assert y.shape == x0.shape and torch.isfinite(y).all()


def test_killed_molecule_run_resumes_to_the_same_weights(tmp_path, monkeypatch):
    """qm9_train --resume after a crash at step 4 (checkpoint at step 3) ends where a straight run ends."""
    from symviz.molecules import training

    args = ["--steps", "6", "--hidden", "16", "--layers", "2", "--max-molecules", "4", "--threads", "1"]
    qm9_train.main([*args, "--out", str(tmp_path / "straight.pt")])
    real = training.MoleculeLoss.__call__
    calls = {"n": 0}

    def crash_on_fourth_step(self, *a, **kw):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt("simulated kill")
        return real(self, *a, **kw)

    monkeypatch.setattr(training.MoleculeLoss, "__call__", crash_on_fourth_step)
    out = tmp_path / "resumed.pt"
    with pytest.raises(KeyboardInterrupt):
        qm9_train.main([*args, "--checkpoint-every", "3", "--out", str(out)])
    assert train.load_checkpoint(out)["step"] == 3
    monkeypatch.setattr(training.MoleculeLoss, "__call__", real)
    qm9_train.main([*args, "--checkpoint-every", "3", "--resume", "--out", str(out)])
    a, b = train.load_checkpoint(tmp_path / "straight.pt"), train.load_checkpoint(out)
    assert b["step"] == 6 and b["optimizer"] is not None and "val_loss" in b["meta"]
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
