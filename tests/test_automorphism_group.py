"""AutomorphismGroup: the whole automorphism group of a molecular graph (heavy-atom automorphisms x hydrogen
swaps), checked against brute-force RDKit self-matching with hydrogens, chi-square uniformity of the sampler
(and a biased sampler that the same check rejects), padded batches, bad input, and the exact orbit target over
the group against a hand-written softmax sum plus its equivariance."""

from __future__ import annotations

import math

import pytest
import torch
from rdkit import Chem
from scipy.stats import chisquare

import symviz as sv
from symviz.data.molgraph import automorphism_group, automorphism_tables, automorphisms, pad_automorphism_tables
from symviz.groups import AutomorphismGroup, MatrixGroup, Product
from symviz.groups.automorphisms import within_class_permutations
from symviz.groups.base import _dtype
from symviz.molecules import cube_rotations, product_elements

torch.set_num_threads(1)

# smiles -> |Aut| of the graph with hydrogens (closed forms in the comments)
ORDERS = {
    "CCO": 12,  # 3! * 2! (CH3, CH2 hydrogens)
    "CC(C)(C)C": 31104,  # neopentane: 4! * (3!)^4
    "c1ccccc1": 12,  # D6
    "CC(=O)O": 6,  # 3!
    "OCC1CC1": 16,  # ring flip 2 * (2!)^3 for the CH2 groups (and the CH2OH)
    "C[C@H](N)C(=O)O": 12,  # alanine: 3! (CH3) * 2! (NH2); stereo ignored, the graph has no other symmetry
    "c1c[nH]cn1": 1,  # imidazole: the heavy-atom ring flip maps [nH] (1 H) onto n (0 H), so it is not one
    "[CH2]C": 12,  # ethyl radical: C-C is symmetric without H, but the carbons carry 2 and 3 hydrogens
    "CC(C)C": 1296,  # isobutane: 3! * (3!)^3
}


def molh(smiles):
    return Chem.AddHs(Chem.MolFromSmiles(smiles))


def as_set(perms: torch.Tensor) -> set:
    return {tuple(r) for r in perms.tolist()}


def brute_force(mol) -> set:
    """Independent reference: every RDKit self-match of the graph with hydrogens."""
    return as_set(automorphisms(mol, max_count=10**6, enumerate_limit=10**6))


def rdkit_graph(mol):
    """Atomic numbers and bond-order matrix straight from RDKit (not via symviz)."""
    z = torch.tensor([a.GetAtomicNum() for a in mol.GetAtoms()])
    bonds = torch.as_tensor(Chem.GetAdjacencyMatrix(mol, useBO=True) * 2).round().long()  # aromatic 1.5 -> 3
    return z, bonds


def element_index(elements: torch.Tensor) -> dict:
    return {tuple(r): i for i, r in enumerate(elements.tolist())}


def counts_of(draws: torch.Tensor, index: dict) -> torch.Tensor:
    counts = torch.zeros(len(index))
    for r in draws.tolist():
        counts[index[tuple(r)]] += 1  # KeyError = a draw outside the group
    return counts


# ----------------------------------------------------------------------------------------------
# The whole group against brute force
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("smiles", list(ORDERS))
def test_elements_equal_brute_force_self_matches(smiles):
    mol = molh(smiles)
    g = automorphism_group(mol)
    els = g.elements()
    assert g.order == ORDERS[smiles] == els.shape[0]
    assert len(as_set(els)) == els.shape[0], "no element listed twice"
    assert as_set(els) == brute_force(mol)
    assert els[0].tolist() == list(range(mol.GetNumAtoms()))  # identity first
    # every element keeps atomic numbers and the bond-order matrix (checked with RDKit's own adjacency)
    z, bonds = rdkit_graph(mol)
    assert torch.equal(z[els], z.expand_as(els))
    permuted = bonds[els[:, :, None], els[:, None, :]]  # B[p[i], p[j]]
    assert torch.equal(permuted, bonds.expand_as(permuted))


def test_tables_factor_the_group():
    """base has one row per heavy-atom automorphism; classes are the hydrogens of each heavy atom."""
    mol = molh("CC(C)C")  # isobutane: heavy automorphisms = S3 on the methyls
    base, classes = automorphism_tables(mol)
    assert base.shape == (6, 14) and base[0].tolist() == list(range(14))
    for a in mol.GetAtoms():
        if a.GetAtomicNum() == 1:
            heavy = a.GetNeighbors()[0].GetIdx()
            hs = [n.GetIdx() for n in mol.GetAtomWithIdx(heavy).GetNeighbors() if n.GetAtomicNum() == 1]
            assert int(classes[a.GetIdx()]) == min(hs)
        else:
            assert int(classes[a.GetIdx()]) == a.GetIdx()
    g = AutomorphismGroup(base, classes)
    assert g.order == 6 * 6**3 and float(g.orders) == 1296.0


def test_order_with_arbitrary_labels():
    """Class labels need not be atom indices (regression: labels >= n were not counted in the order)."""
    g = AutomorphismGroup(torch.arange(5)[None], torch.tensor([0, 1, 70, 70, 70]))
    assert g.order == 6 == g.elements().shape[0]
    g = AutomorphismGroup(torch.arange(4)[None], torch.tensor([-3, -3, 9, 9]))
    assert g.order == 4 == g.elements().shape[0]


def test_elements_refuses_a_huge_group():
    g = automorphism_group(molh("CC(C)(C)C"))
    g.ENUMERATE_LIMIT = 1000
    with pytest.raises(ValueError, match="sample it"):
        g.elements()


# ----------------------------------------------------------------------------------------------
# Uniform sampling
# ----------------------------------------------------------------------------------------------

N_DRAWS = 20_000


@pytest.mark.parametrize("smiles", ["CCO", "CC(=O)O", "CCC", "C1CC1"])
def test_sample_is_uniform_over_the_whole_group(smiles):
    g = automorphism_group(molh(smiles))
    index = element_index(g.elements())
    draws = g.sample(N_DRAWS, generator=torch.Generator().manual_seed(11))
    assert draws.shape == (N_DRAWS, g.num_points)
    counts = counts_of(draws, index)
    assert (counts > 0).all()
    assert chisquare(counts.numpy()).pvalue > 1e-3


def test_biased_samplers_fail_the_same_check():
    """The uniformity check can fail: samplers that miss heavy automorphisms or hydrogen swaps are caught."""
    g = automorphism_group(molh("CCC"))  # propane: 2 * 3! * 2! * 3! = 144
    index = element_index(g.elements())
    gen = torch.Generator().manual_seed(12)

    def pvalue(draws):
        return chisquare(counts_of(draws, index).numpy()).pvalue

    # heavy automorphisms only (hydrogens never swapped)
    heavy_only = g.perms[torch.randint(0, int(g.counts), (N_DRAWS,), generator=gen)]
    # hydrogen swaps only (always the identity heavy automorphism)
    h_only = within_class_permutations(g.classes, N_DRAWS, generator=gen)
    # a cyclic shift inside each class instead of a uniform permutation (3 of the 3! orders of a methyl)
    tau = within_class_permutations(g.classes, N_DRAWS, generator=gen)
    methyl = [i for i in range(g.num_points) if int((g.classes == g.classes[i]).sum()) == 3]
    tau[:, methyl[:3]] = tau[:, methyl[:3]].sort(-1).values.roll(1, -1)  # first methyl: ordered shifts only
    base = g.perms[torch.randint(0, int(g.counts), (N_DRAWS,), generator=gen)]
    shifted = torch.gather(base, -1, tau)
    assert as_set(shifted) <= set(index)
    for bad in (heavy_only, h_only, shifted):
        assert pvalue(bad) < 1e-6
    assert pvalue(g.sample(N_DRAWS, generator=gen)) > 1e-3


def test_within_class_permutations_stay_in_class():
    classes = torch.tensor([[0, 5, 5, 5, 4, 4, 6], [0, 1, 1, 3, 3, 3, 3]])
    tau = within_class_permutations(classes, 50, generator=torch.Generator().manual_seed(0))
    assert tau.shape == (2, 50, 7)
    assert torch.equal(tau.sort(-1).values, torch.arange(7).expand(2, 50, 7))  # permutations
    assert torch.equal(torch.gather(classes[:, None].expand(-1, 50, -1), -1, tau), classes[:, None].expand(-1, 50, -1))


# ----------------------------------------------------------------------------------------------
# Padded batches
# ----------------------------------------------------------------------------------------------

BATCH = ["CCO", "c1ccccc1", "C1CC1", "O", "CC(=O)O"]


@pytest.fixture(scope="module")
def batch():
    mols = [molh(s) for s in BATCH]
    singles = [automorphism_group(m) for m in mols]
    base, classes = pad_automorphism_tables([automorphism_tables(m) for m in mols])
    return mols, singles, AutomorphismGroup(base, classes)


def _check_valid(draws, singles, which):
    """draws (..., B, k, n): the real atoms move by an automorphism of their molecule, padding stays put."""
    n = draws.shape[-1]
    for j, b in enumerate(which):
        g = singles[b]
        m = g.num_points
        d = draws[..., j, :, :].reshape(-1, n)
        assert as_set(d[:, :m]) <= as_set(g.elements())
        assert torch.equal(d[:, m:], torch.arange(m, n).expand(d.shape[0], -1))


def test_batched_group_samples_each_molecule_its_own_automorphisms(batch):
    mols, singles, g = batch
    assert g.batched and g.perms.shape[-1] == 12 and g.batch_shape == (5,)
    assert g.orders.tolist() == [float(s.order) for s in singles]
    with pytest.raises(TypeError, match="orders"):
        _ = g.order
    gen = torch.Generator().manual_seed(3)
    draws = g.sample(200, generator=gen)
    assert draws.shape == (5, 200, 12)
    _check_valid(draws, singles, range(5))
    per_cloud = g.sample_per_cloud((4, 5), 6, generator=gen)
    assert per_cloud.shape == (4, 5, 6, 12)
    _check_valid(per_cloud, singles, range(5))
    with pytest.raises(ValueError, match="leading shape"):
        g.sample_per_cloud((4, 3), 2, generator=gen)
    idx = torch.tensor([4, 0, 0, 3, 1, 2])
    sub = g.take(idx)
    assert isinstance(sub, AutomorphismGroup) and sub.orders.tolist() == [float(singles[i].order) for i in idx]
    _check_valid(sub.sample_per_cloud((6,), 50, generator=gen), singles, idx.tolist())
    e = g.identity_per_cloud((5,), 2)
    assert e.shape == (5, 2, 12) and torch.equal(e, torch.arange(12).expand(5, 2, 12))
    # padding rows (-1) are masked as invalid elements; sampled rows are all valid
    mask = g.element_mask(g.perms)  # the heavy-atom tables, -1 rows padding
    assert mask.sum(-1).tolist() == [int(s.counts) for s in singles]
    assert g.element_mask(draws).all()


def test_batched_sampling_is_uniform_per_molecule(batch):
    mols, singles, g = batch
    sub = g.take(torch.tensor([0, 4]))  # ethanol (12) and acetic acid (6), padded to 12 atoms
    draws = sub.sample(6000, generator=torch.Generator().manual_seed(4))
    for j, b in enumerate((0, 4)):
        m = singles[b].num_points
        counts = counts_of(draws[j, :, :m], element_index(singles[b].elements()))
        assert chisquare(counts.numpy()).pvalue > 1e-3


def test_take_and_to_need_a_batched_group(batch):
    _, singles, g = batch
    with pytest.raises(TypeError, match="batched"):
        singles[0].take(torch.tensor([0]))
    moved = g.to("cpu")
    assert isinstance(moved, AutomorphismGroup) and torch.equal(moved.classes, g.classes)


# ----------------------------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------------------------


def test_bad_tables_are_refused():
    base, classes = automorphism_tables(molh("CC"))  # ethane: C0, C1, H2-4 on C0, H5-7 on C1
    AutomorphismGroup(base, classes)
    with pytest.raises(ValueError, match="shape"):
        AutomorphismGroup(base, classes[:-1])
    with pytest.raises(ValueError, match="shape"):
        AutomorphismGroup(base[None], classes)  # batched base, unbatched classes
    with pytest.raises(TypeError, match="integer"):
        AutomorphismGroup(base, classes.float())
    split = classes.clone()
    split[7] = 7  # C1's hydrogens split into {5, 6} and {7}: the C0 <-> C1 swap maps {2, 3, 4} onto no class
    with pytest.raises(ValueError, match="whole class"):
        AutomorphismGroup(base, split)
    with pytest.raises(ValueError, match="swap classes"):  # the full brute-force table is not a base
        AutomorphismGroup(automorphisms(molh("CC")), classes)


def test_automorphism_tables_need_terminal_hydrogens():
    with pytest.raises(ValueError, match="heavy atom"):
        automorphism_tables(Chem.MolFromSmiles("[H][H]", sanitize=False))
    rw = Chem.RWMol(molh("CC"))
    rw.AddBond(2, 1, Chem.BondType.SINGLE)  # H2 (on C0) bonded to C1 as well
    with pytest.raises(ValueError, match="hydrogen 2"):
        automorphism_tables(rw.GetMol())


# ----------------------------------------------------------------------------------------------
# The orbit target over the group
# ----------------------------------------------------------------------------------------------


class _Cube(MatrixGroup):
    """The 24 rotations of a cube as a finite group (uniform sampling), for exact sums over rotations."""

    is_finite = True

    def __init__(self):
        super().__init__(3)

    @property
    def order(self):
        return 24

    def elements(self, dtype=None, device=None):
        return cube_rotations().to(dtype=_dtype(dtype), device=device)

    def sample(self, k, generator=None, dtype=None, device=None):
        return self._sample_finite(k, generator, dtype, device)


def _cloud(mol, seed, alpha=0.8, sigma=0.5):
    gen = torch.Generator().manual_seed(seed)
    n = mol.GetNumAtoms()
    x0 = sv.diffusion.center(torch.randn(n, 3, generator=gen, dtype=torch.float64))
    xt = alpha * x0 + sigma * sv.diffusion.center(torch.randn(n, 3, generator=gen, dtype=torch.float64))
    return x0, xt, alpha, sigma


def _hand_target(x0, xt, alpha, sigma, perms, rots=None):
    """softmax_g(-||x_t - alpha g x0||^2 / 2 sigma^2)-weighted mean of g x0, written out."""
    rots = torch.eye(3, dtype=x0.dtype)[None] if rots is None else rots
    cands = torch.stack([x0[list(p)] @ r.T for r in rots for p in perms])
    logits = -((xt - alpha * cands) ** 2).sum((-1, -2)) / (2 * sigma**2)
    return torch.einsum("k,knd->nd", torch.softmax(logits, 0), cands)


@pytest.mark.parametrize("smiles", ["CCO", "OCC1CC1", "CC(C)C"])
def test_exact_target_equals_the_hand_written_sum(smiles):
    mol = molh(smiles)
    g = automorphism_group(mol)
    x0, xt, a, s = _cloud(mol, 1, alpha=0.6, sigma=0.7)
    res = sv.orbit.orbit_target(x0, xt, a, s, g, num_samples=None)
    assert res.weights.shape == (g.order,)
    ref = _hand_target(x0, xt, a, s, sorted(brute_force(mol)))
    torch.testing.assert_close(res.target, ref, atol=1e-12, rtol=1e-10)
    assert not torch.allclose(res.target, x0, atol=1e-3)  # several elements carry weight here


def test_exact_target_is_equivariant_under_every_automorphism():
    mol = molh("OCC1CC1")
    g = automorphism_group(mol)
    x0, xt, a, s = _cloud(mol, 2)

    def phi(x0_, xt_, group=g, els=None):
        return sv.orbit.orbit_target(x0_, xt_, a, s, group, num_samples=None, elements=els).target

    target = phi(x0, xt)
    for p in g.elements():
        torch.testing.assert_close(phi(x0, xt[p]), target[p], atol=1e-12, rtol=1e-10)  # phi(x0, p xt) = p phi
        torch.testing.assert_close(phi(x0[p], xt), target, atol=1e-12, rtol=1e-10)  # same orbit, same target
    # the check can fail: summing over the heavy-atom rows only (no hydrogen swaps) is not equivariant
    swap = torch.arange(g.num_points)
    h = [i for i in range(g.num_points) if int((g.classes == g.classes[i]).sum()) == 2][:2]
    swap[h] = torch.tensor(h[::-1])  # swap two hydrogens of one CH2
    assert as_set(swap[None]) <= as_set(g.elements())
    heavy = g.perms[: int(g.counts)]
    partial = phi(x0, xt, els=heavy)
    assert not torch.allclose(phi(x0, xt[swap], els=heavy), partial[swap], atol=1e-6)


def test_exact_target_over_cube_rotations_times_automorphisms():
    mol = molh("CCO")
    aut = automorphism_group(mol)
    group = Product(_Cube(), aut)
    x0, xt, a, s = _cloud(mol, 3, alpha=0.7, sigma=0.6)
    els = product_elements(cube_rotations(), aut.elements())
    exact = sv.orbit.orbit_target(x0, xt, a, s, group, elements=els).target
    via_product = sv.orbit.orbit_target(x0, xt, a, s, group, num_samples=None)
    assert via_product.weights.shape == (24 * 12,)
    torch.testing.assert_close(via_product.target, exact, atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(exact, _hand_target(x0, xt, a, s, aut.elements().tolist(), cube_rotations()))
    for r in cube_rotations()[[1, 5, 17]]:
        rotated = sv.orbit.orbit_target(x0, xt @ r.T, a, s, group, elements=els).target
        torch.testing.assert_close(rotated, exact @ r.T, atol=1e-12, rtol=1e-10)
    q = sv.groups.SO3().sample(1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)[0]
    generic = sv.orbit.orbit_target(x0, xt @ q.T, a, s, group, elements=els).target
    assert not torch.allclose(generic, exact @ q.T, atol=1e-6)  # a rotation outside the finite group


def test_monte_carlo_target_converges_to_the_exact_sum():
    """Uniform candidates (no identity slot): the self-normalised estimate tends to the exact sum."""
    mol = molh("CCO")
    group = Product(_Cube(), automorphism_group(mol))
    x0, xt, a, s = _cloud(mol, 4, alpha=0.5, sigma=0.9)
    exact = sv.orbit.orbit_target(x0, xt, a, s, group, num_samples=None)
    assert exact.ess > 10  # spread-out weights, so the check is not decided by a single element
    gen = torch.Generator().manual_seed(5)
    mc = sv.orbit.orbit_target(x0, xt, a, s, group, num_samples=40_000, include_identity=False, generator=gen)
    err = (mc.target - exact.target).norm() / exact.target.norm()
    assert err < 0.03, err
    # a sampler that never swaps hydrogens converges elsewhere
    heavy = Product(_Cube(), AutomorphismGroup(torch.arange(group.num_points)[None], torch.arange(group.num_points)))
    biased = sv.orbit.orbit_target(x0, xt, a, s, heavy, num_samples=None)
    assert (biased.target - exact.target).norm() / exact.target.norm() > 0.1
    assert math.isfinite(float(mc.ess))


def test_product_order_and_molecule_group():
    mol = molh("CC(C)(C)C")
    g = sv.molecules.molecule_group(mol)
    assert isinstance(g.factors[0], sv.groups.SO3) and isinstance(g.factors[1], AutomorphismGroup)
    assert g.factors[1].order == 31104 and not g.is_finite
    rots, perms = g.sample(500, generator=torch.Generator().manual_seed(6))
    assert rots.shape == (500, 3, 3) and as_set(perms) <= brute_force(mol)
    assert len(as_set(perms)) > 450  # 500 draws from 31,104 elements: almost all distinct (not a small subset)
