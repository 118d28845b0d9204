"""The group registry: names round-trip, each name builds the group its constructor builds, bad names are
explained, and every function that takes a group gives identical results for a name and for the object."""

import ast
import math
from pathlib import Path

import pytest
import torch

import symviz as sv
from symviz import explore as ex
from symviz.groups import O2, O3, SO2, SO3, Cyclic, Dihedral, Reflection, get, name_of, names
from symviz.groups.registry import _key

ROOT = Path(__file__).resolve().parents[1]

# An independent table: (name, dim, the object built by its constructor). Every registered family must
# appear here (test_the_table_covers_every_registered_name), so a new name cannot skip these tests.
TABLE = [
    ("C1", None, Cyclic(1)),
    ("C6", None, Cyclic(6)),
    ("C12", 2, Cyclic(12)),
    ("D1", None, Dihedral(1)),
    ("D4", None, Dihedral(4)),
    ("D5", 2, Dihedral(5)),
    ("SO2", None, SO2()),
    ("O2", None, O2()),
    ("Z2", None, Reflection(1)),
    ("Z2", 2, Reflection(2)),
    ("Z2", 3, Reflection(3)),
    ("SO3", None, SO3()),
    ("O3", 3, O3()),
]


def _family(name: str) -> str:
    return name[0] + "<n>" if name[0] in "CD" and name[1:].isdigit() else name


def test_the_table_covers_every_registered_name():
    assert {_family(n) for n, _, _ in TABLE} == set(names())
    assert names() == ("C<n>", "D<n>", "SO2", "O2", "Z2", "SO3", "O3")
    assert set(sv.groups.examples()) <= {n for n, _, _ in TABLE}
    assert sv.groups.examples(2) == ex.GROUP_CHOICES == ("C6", "D4", "SO2", "O2", "Z2")
    assert sv.groups.examples(3) == ("Z2", "SO3", "O3")


@pytest.mark.parametrize("name, dim, ref", TABLE, ids=lambda v: repr(v) if not isinstance(v, str) else v)
def test_a_name_builds_the_constructors_group(name, dim, ref):
    """Same class, same dimension, same elements from the same random stream, same action on a cloud."""
    g = get(name, dim=dim)
    assert type(g) is type(ref) and g.dim == ref.dim
    if ref.is_finite:
        assert g.order == ref.order
        assert torch.equal(g.elements(dtype=torch.float64), ref.elements(dtype=torch.float64))
    a = g.sample(5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    b = ref.sample(5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert torch.equal(a, b)
    x = torch.randn(3, 4, ref.dim, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert torch.equal(g.act(a[:, None], x[None]), ref.act(b[:, None], x[None]))


@pytest.mark.parametrize("name, dim, ref", TABLE, ids=lambda v: repr(v) if not isinstance(v, str) else v)
def test_names_round_trip(name, dim, ref):
    assert name_of(ref) == name
    again = get(name_of(ref), dim=ref.dim)
    assert type(again) is type(ref) and again.dim == ref.dim and getattr(again, "n", None) == getattr(ref, "n", None)


@pytest.mark.parametrize(
    "spelling, ref",
    [("so(3)", SO3()), ("SO_2", SO2()), (" c 6 ", Cyclic(6)), ("D_4", Dihedral(4)), ("Reflection", Reflection(1)),
     ("o(2)", O2()), ("C007", Cyclic(7))],
)  # fmt: skip
def test_spellings_are_forgiving(spelling, ref):
    g = get(spelling)
    assert type(g) is type(ref) and g.dim == ref.dim and getattr(g, "n", None) == getattr(ref, "n", None)


def test_an_object_passes_through_unchanged():
    for g in (SO3(), Cyclic(5), sv.groups.Permutations(torch.tensor([[0, 1, 2], [1, 2, 0], [2, 0, 1]]))):
        assert get(g) is g and get(g, dim=7) is g
    assert name_of(sv.groups.Permutations(torch.tensor([[0, 1]]))) is None


@pytest.mark.parametrize("bad", ["SU2", "C0", "D0", "C", "Cn", "", "SO4", "Z3", "C-2", "cyclic6"])
def test_an_unknown_name_lists_the_valid_ones(bad):
    with pytest.raises(ValueError, match="unknown group") as info:
        get(bad)
    for n in names():
        assert repr(n) in str(info.value)


@pytest.mark.parametrize("bad", [3, None, 2.0, SO2, ["SO2"]])
def test_a_wrong_type_is_a_type_error(bad):
    with pytest.raises(TypeError, match="Group or a name"):
        get(bad)


def test_a_name_of_the_wrong_dimension_is_explained():
    with pytest.raises(ValueError, match=r"acts on R\^3 .* d = 2 .*'SO2'"):
        get("SO3", dim=2)
    with pytest.raises(ValueError, match="dim must be"):
        get("Z2", dim=0)
    x = torch.zeros(2, 3, 2)
    with pytest.raises(ValueError, match=r"acts on R\^3"):
        sv.orbit.orbit_target(x, x, 0.5, 0.5, "O3")
    with pytest.raises(ValueError, match=r"acts on R\^3 but x0 has d = 2"):  # an object: check_group_dim's message
        sv.orbit.orbit_target(x, x, 0.5, 0.5, O3())


# ----------------------------------------------------------------------------------------------
# The core accepts names and gives what the objects give
# ----------------------------------------------------------------------------------------------


def _centred(shape, seed):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return x - x.mean(-2, keepdim=True)


@pytest.mark.parametrize("name, dim, ref", TABLE, ids=lambda v: repr(v) if not isinstance(v, str) else v)
def test_orbit_target_by_name_equals_by_object(name, dim, ref):
    x0, eps = _centred((3, 4, ref.dim), 0), _centred((3, 4, ref.dim), 1)
    xt = 0.8 * x0 + 0.6 * eps
    kw = dict(num_samples=None) if ref.is_finite else dict(num_samples=16)
    a = sv.orbit.orbit_target(x0, xt, 0.8, 0.6, name, generator=torch.Generator().manual_seed(2), **kw)
    b = sv.orbit.orbit_target(x0, xt, 0.8, 0.6, ref, generator=torch.Generator().manual_seed(2), **kw)
    assert torch.equal(a.target, b.target) and torch.equal(a.weights, b.weights)


def test_closed_form_by_name():
    x0, xt = _centred((2, 3, 2), 0), _centred((2, 3, 2), 1)
    assert torch.equal(
        sv.orbit.closed_form_target(x0, xt, 0.7, 0.5, "SO(2)"), sv.orbit.closed_form_target(x0, xt, 0.7, 0.5, SO2())
    )
    assert torch.equal(
        sv.orbit.closed_form_target(x0, xt, 0.7, 0.5, "Z2"),
        sv.orbit.closed_form_target(x0, xt, 0.7, 0.5, Reflection(2)),
    )


@pytest.mark.parametrize("mode", ["augment", "orbit"])
@pytest.mark.parametrize("name, ref, d", [("SO3", SO3(), 3), ("C6", Cyclic(6), 2), ("Z2", Reflection(2), 2)])
def test_denoising_loss_by_name_equals_by_object(mode, name, ref, d):
    torch.manual_seed(0)
    net = sv.nets.TimeMLP(4, d, hidden=16, depth=1).double()
    x0 = _centred((8, 4, d), 3)
    losses = []
    for group in (name, ref):
        loss = sv.losses.DenoisingLoss(sv.diffusion.VPSchedule(), mode, group, num_samples=8)
        losses.append(loss(net, x0, generator=torch.Generator().manual_seed(4)))
    assert torch.equal(losses[0], losses[1])
    assert type(sv.losses.DenoisingLoss(sv.diffusion.VPSchedule(), mode, name).group) is type(ref)


def test_denoising_loss_rejects_a_bad_name_at_construction():
    with pytest.raises(ValueError, match=r"unknown group 'SO\(4\)'"):
        sv.losses.DenoisingLoss(sv.diffusion.VPSchedule(), "orbit", "SO(4)")
    with pytest.raises(TypeError, match="Group or a name"):
        sv.losses.DenoisingLoss(sv.diffusion.VPSchedule(), "orbit", 6)


def test_equivariance_error_by_name_equals_by_object():
    x = _centred((5, 3, 3), 0)

    def f(y):
        return y * y.norm(dim=-1, keepdim=True)  # equivariant under O(3)

    for name, ref in (("SO3", SO3()), ("O3", O3())):
        a = sv.metrics.equivariance_error(f, x, name, generator=torch.Generator().manual_seed(0))
        b = sv.metrics.equivariance_error(f, x, ref, generator=torch.Generator().manual_seed(0))
        assert a == b and a < sv.metrics.tolerance(torch.float64)
    c6 = Cyclic(6)
    y = _centred((5, 3, 2), 1)
    assert sv.metrics.equivariance_error(lambda z: z, y, "C6", elements=c6.elements(dtype=torch.float64)) == 0.0
    with pytest.raises(ValueError, match="unknown group"):
        sv.metrics.equivariance_error(f, x, "SO(4)")


def test_every_group_parameter_goes_through_the_one_validator():
    """A name passed where a group is expected never reaches ``group.act`` as a string (the old
    ``AttributeError: 'str' object has no attribute ...``)."""
    x0 = _centred((2, 3, 2), 0)
    sv.orbit.orbit_target(x0, x0, 0.5, 0.5, "D4", num_samples=None)
    sv.losses.DenoisingLoss(sv.diffusion.VPSchedule(), "augment", "O2").sample(x0)
    sv.losses.DenoisingLoss(sv.diffusion.VPSchedule(), "plain").sample(x0, group="SO2")


# ----------------------------------------------------------------------------------------------
# Explorers and widgets
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, obj", [("C6", Cyclic(6)), ("D4", Dihedral(4)), ("SO2", SO2()), ("Z2", Reflection(2))])
def test_explore_by_name_equals_by_object(name, obj):
    a = ex.orbit_explorer_frame(name, t=0.4, K=8, seed=1, data="cloud")
    b = ex.orbit_explorer_frame(obj, t=0.4, K=8, seed=1, data="cloud")
    for field in ("candidates", "weights", "mc_target", "exact_target", "post_density"):
        assert (getattr(a, field) == getattr(b, field)).all(), field
    assert (ex.target_field(name, t=0.3, grid=4).targets == ex.target_field(obj, t=0.3, grid=4).targets).all()
    el = 1 if obj.is_finite else 30.0
    assert (ex.group_action_frame(name, element=el).gx0 == ex.group_action_frame(obj, element=el).gx0).all()


def test_explore_needs_a_2d_matrix_group():
    with pytest.raises(ValueError, match="2D matrix group"):
        ex.make_group(sv.groups.Permutations(torch.tensor([[0, 1], [1, 0]])))
    with pytest.raises(ValueError, match="acts on R"):
        ex.make_group(SO3())
    assert ex.make_group("Z2").dim == 2  # the reflection of the plane


def test_group_menu():
    opts, value = ex.group_menu("so(2)")
    assert value == "SO2" and [v for _, v in opts] == list(ex.GROUP_CHOICES)
    opts, value = ex.group_menu(Cyclic(5))
    assert value == "C5" and opts[-1] == ("C5", "C5") and len(opts) == len(ex.GROUP_CHOICES) + 1


def test_widgets_take_a_name_or_an_object():
    sw = pytest.importorskip("symviz.widgets")
    w = sw.OrbitExplorer(group=Dihedral(3), K=8)
    assert w.error is None and w.controls["group"].value == "D3" and "group D3" in w.readout.value
    t = sw.TargetField(group="c_6", grid=5)
    assert t.error is None and t.controls["group"].value == "C6"
    g = sw.GroupActionExplorer(group=O2())
    assert g.error is None and g.controls["group"].value == "O2" and not g.controls["reflect"].disabled
    g.controls["group"].value = "Z2"
    assert g.error is None and g.controls["element"].max == 1 and g.controls["reflect"].disabled


# ----------------------------------------------------------------------------------------------
# One source of names
# ----------------------------------------------------------------------------------------------


def _group_name_literals(tree: ast.AST) -> list[tuple[int, list[str]]]:
    """Collections (tuple, list, set, dict keys) holding two or more strings that are registry names."""
    exported = {  # __all__ lists class names, not group names
        id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "__all__"
    }
    found = []
    for node in ast.walk(tree):
        if id(node) in exported:
            continue
        elts = node.keys if isinstance(node, ast.Dict) else getattr(node, "elts", None)
        if not isinstance(node, (ast.Tuple, ast.List, ast.Set, ast.Dict)) or not elts:
            continue
        hits = []
        for e in elts:
            if isinstance(e, ast.Constant) and isinstance(e.value, str) and e.value.strip():
                try:
                    get(e.value, dim=None)
                    hits.append(e.value)
                except ValueError:
                    pass
        if len(hits) >= 2:
            found.append((node.lineno, hits))
    return found


def test_no_module_keeps_its_own_list_of_group_names():
    """The registry is the one source: no other module spells out a list of group names."""
    offenders = {}
    for path in sorted((ROOT / "symviz").rglob("*.py")):
        if path.name == "registry.py" and path.parent.name == "groups":
            continue
        hits = _group_name_literals(ast.parse(path.read_text()))
        if hits:
            offenders[str(path.relative_to(ROOT))] = hits
    assert not offenders, f"use symviz.groups.names()/examples() instead of a list: {offenders}"


def test_the_name_list_scanner_can_fail():
    assert _group_name_literals(ast.parse('GROUPS = ("C6", "D4", "SO2")\nx = {"SO3": 1, "so(2)": 2}')) == [
        (1, ["C6", "D4", "SO2"]),
        (2, ["SO3", "so(2)"]),
    ]
    assert _group_name_literals(ast.parse('MODES = ("plain", "orbit")\nx = ["SO2"]\n__all__ = ["SO2", "O2"]')) == []


def test_key_normalisation_is_what_the_docs_say():
    assert _key(" S_O(3) ") == "SO3" and _key("C-2") == "C-2"
    assert math.isclose(float(get("SO(3)").sample(1)[0].det()), 1.0, rel_tol=1e-5)
