"""Orbit target on a padded batch of molecules with Product(SO3(), AutomorphismGroup) (the whole group).

Checks (fixed candidate elements drawn once from the group, so the checks are exact): equivariance under a
global rotation (candidates conjugated by it), equivariance under a graph automorphism of each molecule
(candidates conjugated by it), and agreement of the padded batch with each molecule computed on its own.
"""

import pytest
import torch
from rdkit import Chem
from rdkit.Chem import AllChem

import symviz as sv
from symviz.data.molgraph import (
    automorphism_tables,
    automorphisms,
    collate_molecules,
    mol_to_graph,
    pad_automorphism_tables,
    pad_automorphisms,
)

torch.set_num_threads(1)
SMILES = ["CC(C)O", "C=O", "CC"]  # 12, 4 and 8 atoms with H
K = 12


def _batch():
    mols = []
    for i, smi in enumerate(SMILES):
        m = Chem.AddHs(Chem.MolFromSmiles(smi))
        AllChem.EmbedMolecule(m, randomSeed=i + 1)
        mols.append(m)
    graphs = [mol_to_graph(m) for m in mols]
    batch = collate_molecules(graphs)
    mask = batch["mask"]
    x0 = batch["pos"].double()
    com = (x0 * mask[..., None]).sum(1, keepdim=True) / mask.sum(1)[:, None, None]
    x0 = (x0 - com) * mask[..., None]
    perms = [automorphisms(m, max_count=10**6) for m in mols]  # brute force (RDKit self-matching with H)
    return mols, x0, mask, perms


def _elements(aut, b, gen):
    """K candidates per molecule from the whole group, identity in slot 0 (as orbit_target draws them)."""
    rots = sv.groups.SO3().sample(b * K, generator=gen, dtype=torch.float64).reshape(b, K, 3, 3)
    rots[:, 0] = torch.eye(3, dtype=torch.float64)
    ps = aut.sample_per_cloud((b,), K, generator=gen)
    ps[:, 0] = torch.arange(ps.shape[-1])
    return rots, ps


def _noisy(x0, mask, gen, alpha=0.8, sigma=0.6):
    eps = torch.randn(x0.shape, generator=gen, dtype=x0.dtype) * mask[..., None]
    return alpha * x0 + sigma * eps, alpha, sigma


def _target(x0, xt, alpha, sigma, group, elements, mask):
    return sv.orbit.orbit_target(x0, xt, alpha, sigma, group, mask=mask, elements=elements).target


@pytest.fixture()
def setup():
    gen = torch.Generator().manual_seed(7)
    mols, x0, mask, perms = _batch()
    padded = pad_automorphisms(perms, x0.shape[1])  # the brute-force groups, padded (reference)
    aut = sv.groups.AutomorphismGroup(*pad_automorphism_tables([automorphism_tables(m) for m in mols], x0.shape[1]))
    group = sv.groups.Product(sv.groups.SO3(), aut)
    elements = _elements(aut, len(mols), gen)
    xt, a, s = _noisy(x0, mask, gen)
    return dict(
        mols=mols, gen=gen, x0=x0, mask=mask, perms=perms, padded=padded, group=group, el=elements, xt=xt, a=a, s=s
    )


def test_padded_permutations_are_valid(setup):
    padded, perms, aut = setup["padded"], setup["perms"], setup["group"].factors[1]
    assert padded.shape == (3, max(p.shape[0] for p in perms), 12)
    assert [int((padded[b] >= 0).all(-1).sum()) for b in range(3)] == [p.shape[0] for p in perms]
    assert sv.groups.Permutations(padded).is_closed()
    assert aut.orders.tolist() == [float(p.shape[0]) for p in perms] == [72.0, 2.0, 72.0]
    _, ps = setup["el"]  # sampled candidates: automorphisms of their own molecule, padding atoms fixed
    for b in range(3):
        valid = {tuple(r) for r in padded[b].tolist() if r[0] >= 0}
        assert {tuple(r) for r in ps[b].tolist()} <= valid


def test_rotation_equivariance(setup):
    x0, xt, mask, group = setup["x0"], setup["xt"], setup["mask"], setup["group"]
    rots, ps = setup["el"]
    target = _target(x0, xt, setup["a"], setup["s"], group, (rots, ps), mask)
    q = sv.groups.SO3().sample(1, generator=setup["gen"], dtype=torch.float64)[0]
    rots_conj = q @ rots @ q.T  # candidate Q R Q^T maps Q x0 to Q (R x0)
    rotated = _target(x0 @ q.T, xt @ q.T, setup["a"], setup["s"], group, (rots_conj, ps), mask)
    torch.testing.assert_close(rotated, target @ q.T, atol=1e-9, rtol=1e-9)
    assert rotated[~mask].abs().max() == 0  # padding stays zero


def test_automorphism_equivariance(setup):
    x0, xt, mask, group, padded = setup["x0"], setup["xt"], setup["mask"], setup["group"], setup["padded"]
    rots, ps = setup["el"]
    target = _target(x0, xt, setup["a"], setup["s"], group, (rots, ps), mask)
    # one non-trivial automorphism per molecule (padding atoms fixed), from the brute-force tables
    sigma = padded[:, -1].clone()
    for b in range(3):
        sigma[b] = padded[b, int((padded[b] >= 0).all(-1).sum()) - 1]
    assert all(not torch.equal(sigma[b], torch.arange(12)) for b in range(3))
    assert not (sigma == torch.arange(x0.shape[1])).all()
    gather = lambda x, p: torch.gather(x, 1, p[..., None].expand_as(x))  # noqa: E731  act(p, x)[i] = x[p[i]]
    sig_inv = torch.argsort(sigma, dim=-1)
    # conjugated candidate q = sigma^-1 ∘ p ∘ sigma, i.e. q[i] = sig_inv[p[sigma[i]]]
    ps_conj = torch.gather(sig_inv[:, None].expand_as(ps), 2, torch.gather(ps, 2, sigma[:, None].expand_as(ps)))
    permuted = _target(gather(x0, sigma), gather(xt, sigma), setup["a"], setup["s"], group, (rots, ps_conj), mask)
    torch.testing.assert_close(permuted, gather(target, sigma), atol=1e-9, rtol=1e-9)
    # the conjugated candidates are automorphisms too (so they lie in the group)
    for b in range(3):
        valid = {tuple(r) for r in padded[b].tolist() if r[0] >= 0}
        assert all(tuple(r) in valid for r in ps_conj[b].tolist())


def test_padded_batch_matches_single_molecules(setup):
    x0, xt, mask, perms = setup["x0"], setup["xt"], setup["mask"], setup["perms"]
    rots, ps = setup["el"]
    batch_target = _target(x0, xt, setup["a"], setup["s"], setup["group"], (rots, ps), mask)
    for b, p in enumerate(perms):
        n = p.shape[1]
        g1 = sv.groups.Product(sv.groups.SO3(), sv.groups.AutomorphismGroup(*automorphism_tables(setup["mols"][b])))
        single = _target(x0[b, :n], xt[b, :n], setup["a"], setup["s"], g1, (rots[b], ps[b, :, :n]), None)
        torch.testing.assert_close(single, batch_target[b, :n], atol=1e-9, rtol=1e-9)
        # independent reference: softmax over ||xt - a g x0||^2 / (2 s^2)
        cands = torch.einsum("kij,knj->kni", rots[b], x0[b, :n][ps[b, :, :n]])
        logits = -((xt[b, :n] - setup["a"] * cands) ** 2).sum((-1, -2)) / (2 * setup["s"] ** 2)
        ref = torch.einsum("k,knd->nd", torch.softmax(logits, 0), cands)
        torch.testing.assert_close(single, ref, atol=1e-9, rtol=1e-9)
