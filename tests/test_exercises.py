"""symviz.exercises: a placeholder is reported with a hint and never fails; a wrong answer fails with a helpful
message; a right answer passes (exactly or within a tolerance)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import symviz as sv
from symviz.data.toys import asymmetric_cloud_2d
from symviz.exercises import (
    NOT_ATTEMPTED,
    automorphism_order,
    check,
    check_automorphism_order,
    check_c6_target,
    check_d4_element,
    check_dihedral_group,
    check_ethanol_automorphisms,
    check_hot_weights,
    check_mirror_fractions,
    check_o2_invariant,
    check_removed_variance_so3,
    check_snr_crossing,
    check_table1_ratios,
    d4_target,
    is_placeholder,
)
from symviz.experiments import toys2d


@pytest.mark.parametrize("placeholder", [None, NOT_ATTEMPTED, ...])
def test_placeholder_passes_with_a_hint(placeholder, capsys):
    check(placeholder, 12, hint="count the hydrogens", name="|Aut|")
    out = capsys.readouterr().out
    assert "|Aut|: not attempted yet" in out and "Hint: count the hydrogens" in out
    assert is_placeholder(placeholder)


def test_not_attempted_is_one_falsy_sentinel():
    assert type(NOT_ATTEMPTED)() is NOT_ATTEMPTED and not NOT_ATTEMPTED and repr(NOT_ATTEMPTED) == "NOT_ATTEMPTED"
    assert not is_placeholder(0) and not is_placeholder("")


def test_wrong_answer_fails_with_a_helpful_message():
    with pytest.raises(AssertionError, match=r"n = 6 is not right \(too small\)\. Hint: think of H"):
        check(6, 12, hint="think of H", name="n")
    with pytest.raises(AssertionError, match="too large"):
        check(13, 12)
    with pytest.raises(AssertionError, match="'12' is not right"):
        check("12", 12)  # a string is not the number
    with pytest.raises(AssertionError):
        check(True, 1)  # nor is a bool
    with pytest.raises(AssertionError):
        check(float("nan"), 1.0, tol=0.1)


def test_right_answer_passes(capsys):
    assert check(12, 12, name="n") is None  # no return value: a notebook cell shows only the printed line
    assert capsys.readouterr().out == "Right: n = 12.\n"
    check(np.int64(12), 12)
    check("SO(3)", "SO(3)", success="Yes!")
    assert "Yes!" in capsys.readouterr().out
    check(3, lambda a: a % 2 == 1)
    with pytest.raises(AssertionError):
        check(4, lambda a: a % 2 == 1)


def test_numeric_tolerance():
    check(0.333, 1 / 3, tol=1e-3)
    with pytest.raises(AssertionError, match="within 0.0001"):
        check(0.333, 1 / 3, tol=1e-4)
    check([1.0, 2.0001], np.array([1.0, 2.0]), tol=1e-3)
    with pytest.raises(AssertionError):
        check([1.0, 2.1], [1.0, 2.0], tol=1e-3)
    with pytest.raises(AssertionError):
        check([1.0, 2.0, 3.0], [1.0, 2.0], tol=1e-3)  # wrong shape
    check([1, 2], (1, 2))
    with pytest.raises(ValueError, match="tol"):
        check(1.0, 1.0, tol=-1)


def test_automorphism_order_matches_the_formula(capsys):
    # |Aut| = |Aut_heavy| * prod_v |H_v|!: ethanol 1 * 3! * 2! * 1!; isobutane 3! * (3!)^3 * 1!; neopentane 4! * (3!)^4
    assert automorphism_order("CCO") == 12
    assert automorphism_order("CC(C)C") == 6 * 6**3
    assert automorphism_order("CC(C)(C)C") == 24 * 6**4
    check_automorphism_order(None, "CC(C)(C)O")
    assert "not attempted yet" in capsys.readouterr().out
    with pytest.raises(AssertionError, match=r"\|Aut\(CC\(C\)\(C\)O\)\| = 216 is not right \(too small\)"):
        check_automorphism_order(216, "CC(C)(C)O")
    check_automorphism_order(1296, "CC(C)(C)O")
    assert "Right: |Aut(CC(C)(C)O)| = 1296." in capsys.readouterr().out


# -- one check per exercise of tutorials 01-08: placeholder -> "not attempted yet" + hint; wrong -> AssertionError;
#    right -> passes. The right answers here are the solutions in the notebooks' collapsed cells.

ROOT = Path(__file__).resolve().parents[1]


def _results(name: str) -> dict:
    return json.loads((ROOT / "data" / "results" / name).read_text())


def _placeholder_fn(*args):
    return None


def _pairwise_distances(x):
    return torch.cdist(x, x)


def _radii(x):
    return x.norm(dim=-1)


def _c6_by_hand(x0, xt, alpha, sigma):
    cands = [x0 @ R.T.to(x0.dtype) for R in sv.groups.Cyclic(6).elements()]
    logits = torch.stack([-((xt - alpha * c) ** 2).sum() / (2 * sigma**2) for c in cands])
    w = torch.softmax(logits, 0)
    return sum(wi * c for wi, c in zip(w, cands))


def _c6_mean(x0, xt, alpha, sigma):  # forgets the weights: the plain orbit mean
    return torch.stack([x0 @ R.T.to(x0.dtype) for R in sv.groups.Cyclic(6).elements()]).mean(0)


def _snr_bisection():
    sched = sv.diffusion.VPSchedule("cosine")
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if float(sched.snr(torch.tensor(mid))) > 1 else (lo, mid)
    return (lo + hi) / 2


def _d5_error():
    """Tutorial 04's solution; the notebook sets float64 as the default dtype, so the group elements are float64."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        sched = sv.diffusion.VPSchedule("cosine")
        alpha, sigma = sched.alpha_sigma(torch.tensor(0.25))
        x0 = torch.tensor([[1.2, 0.3]])
        xs = torch.randn(50, 1, 2, generator=torch.Generator().manual_seed(0)) * 1.3
        G = sv.groups.Dihedral(5)

        def phi(x):
            return sv.orbit.orbit_target(x0, x, alpha, sigma, G, num_samples=None).target

        return G, sv.metrics.equivariance_error(phi, xs, G, elements=G.elements())
    finally:
        torch.set_default_dtype(default)


def _so3_monte_carlo():
    gen = torch.Generator().manual_seed(7)
    sigma = 0.4
    alpha = math.sqrt(1 - sigma**2)
    x0 = torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64).expand(100_000, 1, 3)
    xt = alpha * x0 + sigma * torch.randn(100_000, 1, 3, generator=gen, dtype=torch.float64)
    phi = sv.orbit.closed_form_target(x0, xt, alpha, sigma, sv.groups.SO3())
    return float((x0 - phi).pow(2).sum((-1, -2)).mean())


def _mirrored():
    samples = _results("toys2d.json")["samples"]
    ref_area = _signed_area(asymmetric_cloud_2d()).sign()
    out = {}
    for model in toys2d.MODELS:
        pts = torch.tensor(toys2d.unpack_samples(samples[f"cloud-SO2/{model}"]))
        out[model] = float((_signed_area(pts).sign() != ref_area).double().mean())
    return out, samples


def _signed_area(x):
    u, v = x[..., 1, :] - x[..., 0, :], x[..., 2, :] - x[..., 0, :]
    return u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]


def _ratios():
    full = _results("toy1d.json")
    summ = full["summary"]
    mad = (summ["equinet"]["mad_mean"] + summ["aug"]["mad_mean"]) / 2 / summ["orbdiff"]["mad_mean"]
    w2 = (summ["equinet"]["w2_mean"] + summ["aug"]["w2_mean"]) / 2 / summ["orbdiff"]["w2_mean"]
    return mad, w2, full


ENERGIES = np.array([0.0, 0.4, 0.9, 1.7, 3.0])  # kcal/mol


def _boltzmann(temperature):
    from symviz.data.conformer_pipeline import boltzmann_weights

    return boltzmann_weights(ENERGIES, temperature=temperature)


# name -> (call(answer...), placeholder answers, wrong answers (one list per case), right answers)
EXERCISES = {
    "01 D4 element": (
        lambda a: check_d4_element(a, asymmetric_cloud_2d()),
        [(None,)],
        [(0,), (5,), (8,), (-1,), (6.0,), ("6",)],
        lambda: (6,),
    ),
    "01 O(2) invariant": (
        check_o2_invariant,
        [(None,), (_placeholder_fn,)],
        [(lambda x: x,), (lambda x: x[..., 0],), (_radii,), (lambda x: torch.zeros(x.shape[:-2]),), (42,)],
        lambda: (_pairwise_distances,),
    ),
    "02 SNR = 1": (check_snr_crossing, [(None,)], [(0.5,), (0.0,), ("0.5",), (True,)], lambda: (_snr_bisection(),)),
    "03 C6 target": (
        check_c6_target,
        [(None,), (_placeholder_fn,)],
        [(_c6_mean,), (lambda x0, xt, a, s: x0,), (lambda x0, xt, a, s: 0.0,)],
        lambda: (_c6_by_hand,),
    ),
    "04 D5": (
        check_dihedral_group,
        [(None, None), (sv.groups.Dihedral(5), None), (None, 0.0)],
        [
            (sv.groups.Cyclic(5), 0.0),
            (sv.groups.Dihedral(4), 0.0),
            (sv.groups.Dihedral(5), 0.3),
            (sv.groups.Dihedral(5), float("nan")),
            (sv.groups.Dihedral(5), -1.0),
        ],
        _d5_error,
    ),  # fmt: skip
    "05 SO(3) at 0.4": (
        check_removed_variance_so3,
        [(None,)],
        [(0.1,), (0.5,), (0.2,), (0.31,), (0.34,), ("0.33",)],
        lambda: (_so3_monte_carlo(),),
    ),
    "06 mirror images": (
        lambda m, w: check_mirror_fractions(m, w, _results("toys2d.json")["samples"]),
        [(None, None), ({}, None)],
        [
            ({m: 0.0 for m in toys2d.MODELS}, "equivariant"),
            ({"equivariant": 0.5}, "equivariant"),
            (_mirrored()[0], "mlp-plain"),
        ],
        lambda: (_mirrored()[0], "equivariant"),
    ),  # fmt: skip
    "07 Table 1 ratios": (
        lambda a, b: check_table1_ratios(a, b, _results("toy1d.json")),
        [(None, None), (18.0, None)],
        [(25.0, 200.0), (_ratios()[0], 200.0), (_ratios()[0], _ratios()[0]), ("18", "145")],
        lambda: _ratios()[:2],
    ),
    "08 ethanol": (check_ethanol_automorphisms, [(None,)], [(6,), (2,), (24,), ("12",)], lambda: (12,)),
    "08 hot weights": (
        lambda w: check_hot_weights(w, ENERGIES),
        [(None,)],
        [(_boltzmann(298.15),), (_boltzmann(600.0)[:-1],), (np.full(5, 0.2),), ("weights",)],
        lambda: (_boltzmann(600.0),),
    ),
}


@pytest.mark.parametrize("exercise", list(EXERCISES))
def test_every_exercise_check_passes_on_the_placeholder_with_a_hint(exercise, capsys):
    call, placeholders, _, _ = EXERCISES[exercise]
    for args in placeholders:
        assert call(*args) is None
        out = capsys.readouterr().out
        assert "not attempted yet" in out and "\nHint: " in out, (exercise, args, out)
        assert "Right" not in out


@pytest.mark.parametrize("exercise", list(EXERCISES))
def test_every_exercise_check_fails_on_a_wrong_answer(exercise):
    call, _, wrongs, _ = EXERCISES[exercise]
    for args in wrongs:
        with pytest.raises(AssertionError, match="is not right") as info:
            call(*args)
        assert "Hint: " in str(info.value), (exercise, args, str(info.value))


@pytest.mark.parametrize("exercise", list(EXERCISES))
def test_every_exercise_check_passes_on_the_right_answer(exercise, capsys):
    call, _, _, right = EXERCISES[exercise]
    assert call(*right()) is None
    out = capsys.readouterr().out
    assert out.startswith("Right") and "not attempted" not in out, out


def test_d4_target_hides_a_reflection():
    D4 = sv.groups.Dihedral(4)
    x0 = asymmetric_cloud_2d()
    hits = [i for i, g in enumerate(D4.elements()) if torch.allclose(D4.act(g, x0), d4_target(x0))]
    assert hits == [6]  # x0 has no symmetry: exactly one element maps it onto the target
    check_d4_element(np.int64(6))  # x0 defaults to the tutorials' asymmetric cloud


def test_numbers_may_come_as_tensors(capsys):
    check_snr_crossing(torch.tensor(_snr_bisection(), dtype=torch.float64))
    G, err = _d5_error()
    check_dihedral_group(G, torch.tensor(err))
    assert capsys.readouterr().out.count("Right") == 2


def test_hot_weights_name_the_room_temperature_mistake():
    with pytest.raises(AssertionError, match="weights at 298 K"):
        check_hot_weights(_boltzmann(298.15), ENERGIES)
