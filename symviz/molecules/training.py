"""Conformer training data and the molecule loss: the orbit target over SO(3) x Aut(graph), per batch.

Every conformer of a split is one training sample ``x0 (n, 3)`` (centred over its real atoms, padded to the
largest molecule), with the index of its molecule. Per-molecule tables (features and automorphism tables)
are stored once and gathered per batch:

    data = conformer_tensors(ensembles)               # x0, mask, mol + node, pair, aut_base, aut_classes
    loss_fn = MoleculeLoss(DenoisingLoss(VPSchedule(), "orbit", SO3(), num_samples=64), data)
    per_sample = loss_fn(net, x0, mask=mask, mol=mol)   # (B,); net(x_t, t, mask=, node_attr=, edge_attr=)

The group of a batch is ``Product(SO3(), AutomorphismGroup.take(mol))``: rotations times each molecule's
*whole* automorphism group, sampled uniformly (the paper, App. C.1, symmetrises over SO(3) and graph
automorphisms; Eq. 11 needs the whole group, not a fixed subset).
"""

from __future__ import annotations

import torch

from symviz.diffusion import center
from symviz.groups import SO3, AutomorphismGroup, Product
from symviz.losses import DenoisingLoss
from symviz.molecules.features import collate_features, featurize

__all__ = ["conformer_tensors", "MoleculeLoss", "validation_loss", "TABLE_KEYS"]

TABLE_KEYS = ("node", "pair", "aut_base", "aut_classes")


def conformer_tensors(ensembles, n_pad: int | None = None) -> dict[str, torch.Tensor]:
    """One row per conformer of every molecule in ``ensembles`` (``MoleculeEnsemble`` list), plus tables.

    Returns ``x0`` ``(N, n, 3)`` float32 (centred over real atoms, padding 0), ``mask`` ``(N, n)`` bool,
    ``mol`` ``(N,)`` long (row of the per-molecule tables) and the tables of :func:`collate_features` for the
    ``M`` molecules: ``node`` ``(M, n, F)``, ``pair`` ``(M, n, n, E)``, ``aut_base`` ``(M, P, n)``,
    ``aut_classes`` ``(M, n)``.
    """
    from symviz.data.ensembles import mol_from_mapped_smiles

    if not ensembles:
        raise ValueError("ensembles: need at least one molecule (is the split empty?)")
    n = max(e.n_atoms for e in ensembles) if n_pad is None else int(n_pad)
    rows = sum(e.n_confs for e in ensembles)
    x0 = torch.zeros(rows, n, 3, dtype=torch.float64)
    mask = torch.zeros(rows, n, dtype=torch.bool)
    mol = torch.zeros(rows, dtype=torch.long)
    feats, r = [], 0
    for m, e in enumerate(ensembles):
        k, a = e.n_confs, e.n_atoms
        x0[r : r + k, :a] = torch.as_tensor(e.pos, dtype=torch.float64)
        mask[r : r + k, :a] = True
        mol[r : r + k] = m
        feats.append(featurize(mol_from_mapped_smiles(e.smiles)))
        r += k
    tables = collate_features(feats, n)
    out = {"x0": center(x0, mask).float(), "mask": mask, "mol": mol}
    out.update({k: tables[k] for k in TABLE_KEYS})
    return out


class MoleculeLoss:
    """A :class:`~symviz.losses.DenoisingLoss` whose group and network inputs are gathered per batch.

    ``loss_fn(net, x0, generator=, mask=, mol=)`` -> ``(B,)``: the batch's group is
    ``Product(SO3(), AutomorphismGroup(aut_base[mol], aut_classes[mol]))`` and the network is called as
    ``net(x_t, t, mask=mask, node_attr=node[mol], edge_attr=pair[mol])``. Pass ``mol`` as ``fit``'s ``extras``.

    Args:
        loss: the base loss (its mode, K, schedule and proposal are used).
        tables: a dict with the :data:`TABLE_KEYS` entries (e.g. the output of :func:`conformer_tensors`).
    """

    def __init__(self, loss: DenoisingLoss, tables: dict):
        missing = [k for k in TABLE_KEYS if k not in tables]
        if missing:
            raise ValueError(f"tables: missing {missing}; build them with conformer_tensors(ensembles)")
        self.loss = loss
        self.mode = loss.mode
        self.node, self.pair = tables["node"], tables["pair"]
        self.automorphisms = AutomorphismGroup(tables["aut_base"], tables["aut_classes"])  # validated once

    def _to(self, device):
        if self.node.device != device:
            self.node, self.pair = self.node.to(device), self.pair.to(device)
            self.automorphisms = self.automorphisms.to(device)

    def __call__(self, net, x0, generator=None, mask=None, mol=None, t=None) -> torch.Tensor:
        if mol is None:
            raise ValueError("MoleculeLoss needs mol= (molecule index per sample; fit(..., extras={'mol': ...}))")
        self._to(x0.device)
        group = Product(SO3(), self.automorphisms.take(mol))
        node, pair = self.node[mol].to(x0.dtype), self.pair[mol].to(x0.dtype)
        return self.loss(net, x0, t=t, generator=generator, mask=mask, group=group, node_attr=node, edge_attr=pair)


@torch.no_grad()
def validation_loss(net, loss_fn: MoleculeLoss, data: dict, batch_size: int = 64, seed: int = 1234) -> float:
    """Mean loss over every conformer of ``data`` with fixed draws (seeded), in batches; no gradients."""
    device = next(net.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    total, count = 0.0, 0
    was_training = net.training
    net.eval()
    for i in range(0, data["x0"].shape[0], batch_size):
        sl = slice(i, i + batch_size)
        per = loss_fn(
            net,
            data["x0"][sl].to(device),
            generator=gen,
            mask=data["mask"][sl].to(device),
            mol=data["mol"][sl].to(device),
        )
        total, count = total + float(per.sum()), count + per.numel()
    net.train(was_training)
    return total / count
