"""Molecule training: fit's per-sample extras, the per-batch group of DenoisingLoss, and the QM9 command."""

import math

import pytest
import torch

from symviz import train
from symviz.data.ensembles import load_offline_ensembles
from symviz.diffusion import VPSchedule, center
from symviz.experiments import qm9_train
from symviz.groups import SO3, Permutations, Product
from symviz.losses import DenoisingLoss
from symviz.nets import EGNN


@pytest.fixture(scope="module")
def tensors():
    return qm9_train.conformer_tensors(load_offline_ensembles(split="val")[:5], max_automorphisms=16)


def test_conformer_tensors_rows_masks_and_groups(tensors):
    x0, mask, atoms, mol, perms = (tensors[k] for k in ("x0", "mask", "atoms", "mol", "perms"))
    n_rows = x0.shape[0]
    assert mask.shape == (n_rows, x0.shape[1]) and atoms.shape == (n_rows, x0.shape[1], 5) and mol.shape == (n_rows,)
    assert torch.equal(atoms.sum(-1) == 1, mask)  # one atom type per real atom, none on padding
    com = (x0 * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    assert com.abs().max() < 1e-5 and (x0[~mask] == 0).all()
    assert perms.shape[0] == 5 and int(mol.max()) == 4
    for m in range(5):
        rows = perms[m][(perms[m] >= 0).all(-1)]
        assert torch.equal(rows[0], torch.arange(x0.shape[1]))  # identity first
        n_real = int(mask[mol == m][0].sum())
        real = rows[:, :n_real]
        ens_z = atoms[mol == m][0, :n_real].argmax(-1)
        assert all(torch.equal(ens_z[p], ens_z) for p in real), "automorphisms preserve atom types"


def test_per_batch_group_equals_a_loss_built_with_that_group(tensors):
    sl = slice(0, 6)
    x0, mask = tensors["x0"][sl].double(), tensors["mask"][sl]
    group = Product(SO3(), Permutations(tensors["perms"][tensors["mol"][sl]]))
    torch.manual_seed(0)
    net = EGNN(node_dim=5, hidden=16, layers=2).double()
    kw = {"mask": mask, "node_attr": tensors["atoms"][sl].double()}
    fixed = DenoisingLoss(VPSchedule(), "orbit", group, num_samples=8)
    generic = DenoisingLoss(VPSchedule(), "orbit", SO3(), num_samples=8)
    a = fixed(net, x0, generator=torch.Generator().manual_seed(3), **kw)
    b = generic(net, x0, generator=torch.Generator().manual_seed(3), group=group, **kw)
    c = generic(net, x0, generator=torch.Generator().manual_seed(3), **kw)  # SO(3) only: a different target
    assert torch.equal(a, b) and not torch.allclose(a, c)


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


def test_molecule_loss_needs_its_extras(tensors):
    loss = qm9_train.MoleculeLoss(DenoisingLoss(VPSchedule(), "orbit", SO3()), tensors["perms"])
    with pytest.raises(ValueError, match="extras"):
        loss(EGNN(node_dim=5), tensors["x0"][:2], mask=tensors["mask"][:2])


def test_command_trains_and_stores_the_validation_loss(tmp_path, capsys):
    out = tmp_path / "qm9.pt"
    assert 0 == qm9_train.main(
        ["--steps", "4", "--max-molecules", "3", "--hidden", "16", "--layers", "2", "--out", str(out)]
    )
    meta = train.load_checkpoint(out)["meta"]
    assert math.isfinite(meta["val_loss"]) and meta["val_loss"] > 0 and meta["train_conformers"] > 3
    assert meta["mode"] == "orbit" and meta["world_size"] == 1
    assert "validation loss" in capsys.readouterr().out
