"""Checks behind the tutorials' open exercises: a placeholder is "not attempted yet", never a failure.

An open exercise is two cells. The learner's cell holds a placeholder and a check::

    answer = None  # <- your prediction
    check(answer, expected, name="|Aut(tert-butanol)|", hint="count heavy-atom symmetries, then hydrogen swaps")

and the next cell (collapsed in JupyterLab) holds the solution, which sets the right answer and calls the same
check, so running the notebook top to bottom (nbval in CI) proves the solution right while the placeholder
never stops the run. :func:`check` prints "not attempted yet" and the hint on the placeholder (``None`` or
:data:`NOT_ATTEMPTED`), raises ``AssertionError`` with a helpful message on a wrong answer, and prints a
success line on a right one.
"""

from __future__ import annotations

import math
from numbers import Number

import numpy as np

__all__ = ["NOT_ATTEMPTED", "check", "is_placeholder", "automorphism_order", "check_automorphism_order"]


class _NotAttempted:
    """The placeholder of an open exercise (falsy, one instance)."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOT_ATTEMPTED"

    def __bool__(self) -> bool:
        return False


#: placeholder for an answer not given yet (``None`` works too)
NOT_ATTEMPTED = _NotAttempted()


def is_placeholder(answer) -> bool:
    """True for the placeholders of an open exercise: ``None``, :data:`NOT_ATTEMPTED` or ``...``."""
    return answer is None or answer is NOT_ATTEMPTED or answer is Ellipsis


def _is_number(x) -> bool:
    return isinstance(x, Number) and not isinstance(x, bool)


def _matches(answer, expected, tol: float | None) -> bool:
    if callable(expected):
        return bool(expected(answer))
    if _is_number(expected):
        if not _is_number(answer) and not (isinstance(answer, np.generic) and np.isscalar(answer)):
            return False
        a, e = float(answer), float(expected)
        if not math.isfinite(a):
            return False
        return abs(a - e) <= tol if tol is not None else a == e
    if isinstance(expected, (np.ndarray, list, tuple)) and not isinstance(expected, str):
        try:
            a, e = np.asarray(answer, dtype=float), np.asarray(expected, dtype=float)
        except (TypeError, ValueError):
            return False
        if a.shape != e.shape:
            return False
        return bool(np.allclose(a, e, rtol=0.0, atol=tol)) if tol is not None else bool(np.array_equal(a, e))
    return answer == expected


def check(
    answer,
    expected,
    *,
    hint: str = "",
    name: str = "answer",
    tol: float | None = None,
    success: str | None = None,
) -> None:
    """Check an exercise answer; a placeholder is reported, not failed.

    Args:
        answer: the learner's value; ``None`` / :data:`NOT_ATTEMPTED` / ``...`` mean "not attempted yet".
        expected: the right value (number, array-like, any ``==``-comparable) or a predicate ``answer -> bool``.
        hint: one sentence that helps without giving the answer away (printed on a placeholder and in the
            message of a wrong answer).
        name: what the answer is, for the messages.
        tol: absolute tolerance for numbers and arrays (default: exact).
        success: the line printed on a right answer (default ``"Right: <name> = <answer>."``).
    Returns ``None`` (so a notebook cell that ends with the check shows only its printed line; use
    :func:`is_placeholder` to tell a placeholder apart).

    Raises:
        AssertionError on a wrong answer (the message names the value, says too large / too small for numbers
        and repeats the hint); ValueError for a negative ``tol``.
    """
    if tol is not None and not (_is_number(tol) and tol >= 0):
        raise ValueError(f"tol must be a number >= 0 or None; got {tol!r}")
    hint_line = f"Hint: {hint}" if hint else ""
    if is_placeholder(answer):
        print(f"{name}: not attempted yet (replace the placeholder with your answer and run the cell again).")
        if hint_line:
            print(hint_line)
        return
    if not _matches(answer, expected, tol):
        msg = f"{name} = {answer!r} is not right"
        if _is_number(expected) and _is_number(answer) and not callable(expected):
            msg += " (too large)" if float(answer) > float(expected) else " (too small)"
            if tol is not None:
                msg += f"; answers within {tol:g} of the right value count"
        raise AssertionError(msg + (". " + hint_line if hint_line else "."))
    print(success or f"Right: {name} = {answer!r}.")


_AUT_HINT = (
    "|Aut| = |Aut_heavy| x prod_v |H_v|!: count the symmetries of the heavy-atom graph (elements and bonds "
    "kept), then multiply by the ways to permute the hydrogens on each heavy atom."
)


def automorphism_order(smiles_or_mol) -> int:
    """The order of a molecule's graph automorphism group, hydrogens included (what ``check`` compares with):
    ``symviz.molecules.molecule_group(mol).factors[1].order``."""
    from symviz.conformers import prepare_mol
    from symviz.molecules import molecule_group

    return int(molecule_group(prepare_mol(smiles_or_mol)).factors[1].order)


def check_automorphism_order(answer, smiles_or_mol, *, name: str | None = None, hint: str = _AUT_HINT) -> None:
    """:func:`check` for "predict |Aut| of this molecule with explicit hydrogens" (tutorial 09)."""
    label = name or (f"|Aut({smiles_or_mol})|" if isinstance(smiles_or_mol, str) else "|Aut|")
    check(answer, automorphism_order(smiles_or_mol), hint=hint, name=label)
