"""symviz.exercises: a placeholder is reported with a hint and never fails; a wrong answer fails with a helpful
message; a right answer passes (exactly or within a tolerance)."""

from __future__ import annotations

import numpy as np
import pytest

from symviz.exercises import NOT_ATTEMPTED, automorphism_order, check, check_automorphism_order, is_placeholder


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
