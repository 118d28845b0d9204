"""Checks behind the tutorials' open exercises: a placeholder is "not attempted yet", never a failure.

An open exercise is two cells. The learner's cell holds a placeholder and a check::

    answer = None  # <- your prediction
    check(answer, expected, name="|Aut(tert-butanol)|", hint="count heavy-atom symmetries, then hydrogen swaps")

and the next cell (collapsed in JupyterLab) holds the solution, which sets the right answer and calls the same
check, so running the notebook top to bottom (nbval in CI) proves the solution right while the placeholder
never stops the run. :func:`check` prints "not attempted yet" and the hint on the placeholder (``None`` or
:data:`NOT_ATTEMPTED`), raises ``AssertionError`` with a helpful message on a wrong answer, and prints a
success line on a right one.

Tutorials 01-08 call one ``check_*`` function per exercise (:func:`check_d4_element`, :func:`check_o2_invariant`,
:func:`check_snr_crossing`, ...), which holds the right answer (or the rule that decides it) and the hint; tutorial
09 calls :func:`check_automorphism_order`. For a function-valued answer, a template whose body returns ``None``
counts as not attempted too.
"""

from __future__ import annotations

import math
from numbers import Number

import numpy as np

__all__ = [
    "NOT_ATTEMPTED",
    "check",
    "is_placeholder",
    "automorphism_order",
    "check_automorphism_order",
    # one check per exercise of tutorials 01-08
    "d4_target",
    "check_d4_element",
    "check_o2_invariant",
    "check_snr_crossing",
    "check_c6_target",
    "check_dihedral_group",
    "check_removed_variance_so3",
    "check_mirror_fractions",
    "check_table1_ratios",
    "check_ethanol_automorphisms",
    "check_hot_weights",
]


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


def _not_attempted(name: str, hint: str = "") -> None:
    print(f"{name}: not attempted yet (replace the placeholder with your answer and run the cell again).")
    if hint:
        print(f"Hint: {hint}")


def _fail(name: str, answer, reason: str, hint: str = "") -> None:
    """Raise the ``AssertionError`` of a wrong answer: what is wrong, then the hint."""
    raise AssertionError(f"{name} = {_short(answer)} is not right: {reason}" + (f". Hint: {hint}" if hint else "."))


def _short(answer) -> str:
    text = getattr(answer, "__name__", None) if callable(answer) else None
    text = text or repr(answer)
    return text if len(text) <= 200 else text[:197] + "..."


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
        _not_attempted(name, hint)
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


# ---------------------------------------------------------------------------------------------------------------
# One check per exercise of tutorials 01-08. Each takes the learner's answer (and, where the exercise is about the
# notebook's own data, that data), holds the right answer or the rule that decides it, and its hint.
# ---------------------------------------------------------------------------------------------------------------


def _as_float(x) -> float | None:
    """A number (Python, NumPy or a one-element tensor/array) as a float; None for anything else (bool too)."""
    import torch

    if isinstance(x, bool) or isinstance(x, np.bool_):
        return None
    if _is_number(x) or isinstance(x, (np.integer, np.floating)):
        return float(x)
    if isinstance(x, np.ndarray) and x.size == 1 and x.dtype.kind in "iuf":
        return float(x.reshape(()))
    if isinstance(x, torch.Tensor) and x.numel() == 1 and x.dtype != torch.bool and not x.is_complex():
        return float(x.reshape(()).item())
    return None


def _placeholder_call(fn, *args):
    """``(True, None)`` when ``fn`` is a placeholder or returns one (a template ``def f(...): return None``),
    else ``(False, fn(*args))``."""
    if is_placeholder(fn):
        return True, None
    out = fn(*args)
    return is_placeholder(out), out


def _same(a, b) -> bool:
    import torch

    return (
        isinstance(a, torch.Tensor)
        and isinstance(b, torch.Tensor)
        and a.shape == b.shape
        and bool(torch.allclose(a.double(), b.double(), rtol=1e-7, atol=1e-9))
    )


# -- 01 · group actions --------------------------------------------------------------------------------------------

_D4_TARGET_INDEX = 6  # the element of D4 behind tutorial 01's target (kept out of the notebook)
_D4_HINT = "apply every element g of D4.elements() to x0 (D4.act(g, x0)) and compare with target (torch.allclose)."


def _d4():
    from symviz.groups import Dihedral

    return Dihedral(4)


def d4_target(x0):
    """The cloud of tutorial 01's exercise 1: one element of :math:`D_4` (which one is the exercise) applied to x0."""
    D4 = _d4()
    return D4.act(D4.elements()[_D4_TARGET_INDEX], x0)


def check_d4_element(answer, x0=None) -> None:
    """Tutorial 01, exercise 1: ``answer`` is the index into ``D4.elements()`` of the element that maps ``x0``
    (default: ``symviz.data.toys.asymmetric_cloud_2d()``) to :func:`d4_target` ``(x0)``."""
    import torch

    name = "answer"
    if is_placeholder(answer):
        _not_attempted(name, _D4_HINT)
        return
    if isinstance(answer, (bool, np.bool_)) or not isinstance(answer, (int, np.integer)) or not 0 <= answer < 8:
        _fail(name, answer, "give an index 0..7 into D4.elements()", _D4_HINT)
    if x0 is None:
        from symviz.data.toys import asymmetric_cloud_2d

        x0 = asymmetric_cloud_2d()
    D4 = _d4()
    g = D4.elements()[int(answer)]
    if not torch.allclose(D4.act(g, x0), d4_target(x0), atol=1e-6):
        _fail(name, answer, "D4.elements()[answer] does not map x0 to target; try another index", _D4_HINT)
    det = float(torch.det(g.double()))
    kind = "a reflection (det = -1)" if det < 0 else "a rotation (det = +1)"
    print(f"Right: D4.elements()[{int(answer)}] maps x0 to target; it is {kind}.")


_INVARIANT_HINT = (
    "use quantities that rotations and reflections keep and that see the shape of the cloud, not only how far "
    "each point is from the centre: distances between points are one choice."
)


def _test_clouds():
    """Six 4-point clouds in float64: the asymmetric cloud of the tutorials and five random ones."""
    import torch

    from symviz.data.toys import asymmetric_cloud_2d

    gen = torch.Generator().manual_seed(0)
    rand = torch.randn(5, 4, 2, generator=gen, dtype=torch.float64)
    return torch.cat([asymmetric_cloud_2d().double()[None], rand])


def check_o2_invariant(fn) -> None:
    """Tutorial 01, exercise 2: ``fn`` maps clouds ``(..., n, 2)`` to something :math:`O(2)`-invariant that is not
    constant and not a function of the radii alone. A template returning ``None`` counts as not attempted."""
    import torch

    from symviz.groups import O2
    from symviz.metrics import equivariance_error

    name = "my_invariant"
    if not is_placeholder(fn) and not callable(fn):
        _fail(name, fn, "it should be a function of a cloud (..., n, 2)", _INVARIANT_HINT)
    x = _test_clouds()
    todo, fx = _placeholder_call(fn, x)
    if todo:
        _not_attempted(name, _INVARIANT_HINT)
        return
    if not isinstance(fx, torch.Tensor):
        _fail(name, fn, f"it should return a tensor, not {type(fx).__name__}", _INVARIANT_HINT)
    if _same(fn(x[:1]), fn(x[1:2])):
        _fail(
            name,
            fn,
            "it gives the same value for two different clouds: a constant is invariant but useless",
            _INVARIANT_HINT,
        )
    err = equivariance_error(fn, x, O2(), num_samples=16, generator=torch.Generator().manual_seed(1), invariant=True)
    if not err < 1e-9:
        _fail(
            name,
            fn,
            f"my_invariant(g.x) differs from my_invariant(x) by {err:.1e} (relative) for some g in O(2)",
            _INVARIANT_HINT,
        )
    # rotate every point by its own angle: same radii |x_i|, different shape
    ang = torch.rand(x.shape[:-1], generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 2 * math.pi
    c, s = torch.cos(ang), torch.sin(ang)
    spun = torch.stack([c * x[..., 0] - s * x[..., 1], s * x[..., 0] + c * x[..., 1]], -1)
    if _same(fx, fn(spun)):
        _fail(
            name,
            fn,
            "it gives the same value for clouds with the same radii |x_i| but different shapes: it sees only the radii",
            _INVARIANT_HINT,
        )
    print(f"Right: my_invariant is O(2)-invariant (error {err:.1e}) and sees more than the radii.")


# -- 02 · diffusion in 2D ------------------------------------------------------------------------------------------

_SNR_HINT = (
    "bisection on [0, 1]: sched.snr(torch.tensor(t)) decreases with t; keep the half where it crosses 1 "
    "(60 halvings reach machine precision)."
)


def _snr_crossing(schedule) -> float:
    import torch

    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if float(schedule.snr(torch.tensor(mid, dtype=torch.float64))) > 1:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def check_snr_crossing(answer, schedule=None) -> None:
    """Tutorial 02: ``answer`` is the time t at which alpha_t = sigma_t (SNR = 1) for ``schedule`` (default: the
    cosine VP schedule), to 1e-6."""
    import torch

    from symviz.diffusion import VPSchedule

    name = "t_snr1"
    if is_placeholder(answer):
        _not_attempted(name, _SNR_HINT)
        return
    t = _as_float(answer)
    if t is None:
        _fail(name, answer, "give a number, the time t in [0, 1]", _SNR_HINT)
    schedule = VPSchedule("cosine") if schedule is None else schedule
    a, s = (float(v) for v in schedule.alpha_sigma(torch.tensor(t, dtype=torch.float64)))
    check(
        t,
        _snr_crossing(schedule),
        tol=1e-6,
        name=name,
        hint=f"at t = {t:.4f} alpha = {a:.4f}, sigma = {s:.4f}; " + _SNR_HINT,
        success=f"Right: SNR = 1 at t = {t:.4f} (alpha = sigma = {a:.4f} = 1/sqrt(2)).",
    )


# -- 03 · the symmetrized target -----------------------------------------------------------------------------------

_C6_HINT = (
    "one logit per rotation R, -||xt - alpha R x0||^2 / (2 sigma^2) summed over all points of the cloud "
    "(a rotated cloud is x0 @ R.T); softmax over the six logits; the weighted sum of the six rotated clouds."
)


def check_c6_target(fn) -> None:
    """Tutorial 03: ``fn(x0, xt, alpha, sigma)`` is the exact C6 orbit target (Eq. 11), compared with
    ``orbit_target(..., num_samples=None)`` at t = 0.1, 0.5 and 0.9 to 1e-10. A template returning ``None``
    counts as not attempted."""
    import torch

    from symviz.data.toys import asymmetric_cloud_2d
    from symviz.diffusion import VPSchedule, add_noise
    from symviz.groups import Cyclic
    from symviz.orbit import orbit_target

    name = "my_c6_target"
    if not is_placeholder(fn) and not callable(fn):
        _fail(name, fn, "it should be a function (x0, xt, alpha, sigma) -> target", _C6_HINT)
    x0, sched, C6 = asymmetric_cloud_2d().double(), VPSchedule("cosine"), Cyclic(6)
    gen = torch.Generator().manual_seed(0)
    for tv in (0.1, 0.5, 0.9):
        t = torch.tensor(tv, dtype=torch.float64)
        a, s = sched.alpha_sigma(t)
        xt, _ = add_noise(x0, t, sched, generator=gen)
        ref = orbit_target(x0, xt, a, s, C6, num_samples=None).target
        todo, got = _placeholder_call(fn, x0, xt, a, s)
        if todo:
            _not_attempted(name, _C6_HINT)
            return
        if not isinstance(got, torch.Tensor) or got.shape != ref.shape:
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            _fail(name, fn, f"it should return a cloud of shape {tuple(ref.shape)}, not {shape}", _C6_HINT)
        if not torch.allclose(got.double(), ref, atol=1e-10):
            diff = float((got.double() - ref).abs().max())
            _fail(name, fn, f"at t = {tv} it differs from Eq. (11) by up to {diff:.1e}", _C6_HINT)
    print("Right: your C6 target matches Eq. (11) at t = 0.1, 0.5 and 0.9.")


# -- 04 · the equivariance proof -----------------------------------------------------------------------------------

_D5_HINT = (
    "sv.groups has the dihedral groups (D_n has 2n elements). Measure the error as for Theorem 2(1) above: "
    "the exact target (num_samples=None) as a function of x_t, tested on xs over all elements of G_try."
)


def check_dihedral_group(G, err) -> None:
    """Tutorial 04: ``G`` is :math:`D_5` (10 elements) and ``err`` the equivariance error of the exact orbit target
    over all its elements, below 1e-9 (Theorem 2(1))."""
    from symviz.groups import Dihedral

    if is_placeholder(G) or is_placeholder(err):
        _not_attempted("G_try, err_try", _D5_HINT)
        return
    if not isinstance(G, Dihedral) or G.order != 10:
        _fail(
            "G_try", G, "it should be D5, the dihedral group of the pentagon: 5 rotations and 5 reflections", _D5_HINT
        )
    e = _as_float(err)
    if e is None or not (math.isfinite(e) and e >= 0):
        _fail(
            "err_try", err, "it should be the error that sv.metrics.equivariance_error returns, a number >= 0", _D5_HINT
        )
    if not e < 1e-9:
        _fail(
            "err_try",
            err,
            f"phi* is exactly equivariant, so the error should be rounding only (< 1e-9), not "
            f"{e:.1e}: use the exact target (num_samples=None) and all elements",
            _D5_HINT,
        )
    print(f"Right: D5 has 10 elements, and phi* is equivariant under all of them up to {e:.1e}.")


# -- 05 · variance reduction ---------------------------------------------------------------------------------------

_SO3_ROWS = {0.3: 0.186, 0.5: 0.476}  # the variance removed for SO(3) in the table of tutorial 05
_SO3_HINT = (
    "draw x_t = alpha e1 + sigma eps (eps ~ N(0, I) in 3D, alpha = sqrt(1 - sigma^2), >= 100k draws) and average "
    "||e1 - sv.orbit.closed_form_target(e1, x_t, alpha, sigma, SO3)||^2."
)


def _removed_variance(group, sigma: float, nodes: int) -> float:
    """E||x0 - phi*||^2 for x0 = e1 by a Gauss-Hermite product rule over x_t (the rule of tutorial 05)."""
    import torch

    from symviz.orbit import closed_form_target

    d = group.dim
    y, w = np.polynomial.hermite.hermgauss(nodes)
    pts = np.stack([g.reshape(-1) for g in np.meshgrid(*([y] * d), indexing="ij")], -1)
    wts = np.prod(np.stack([g.reshape(-1) for g in np.meshgrid(*([w] * d), indexing="ij")], -1), -1) / np.pi ** (d / 2)
    alpha = math.sqrt(1 - sigma**2)
    x0 = torch.zeros(1, 1, d, dtype=torch.float64)
    x0[..., 0] = 1.0
    xt = alpha * x0 + sigma * math.sqrt(2) * torch.tensor(pts, dtype=torch.float64).reshape(-1, 1, d)
    phi = closed_form_target(x0.expand_as(xt), xt, alpha, sigma, group)
    return float((torch.tensor(wts, dtype=torch.float64) * (phi - x0).pow(2).sum((-1, -2))).sum())


def check_removed_variance_so3(answer) -> None:
    """Tutorial 05: ``answer`` is the variance removed for SO(3) at sigma = 0.4, E||x0 - phi*||^2 with x0 = e1, by
    Monte Carlo: between the table's sigma = 0.3 and 0.5 rows, above SO(2) at sigma = 0.4, and within 0.01 of the
    quadrature value."""
    from symviz.groups import SO2, SO3

    name = "removed_so3_04"
    if is_placeholder(answer):
        _not_attempted(name, _SO3_HINT)
        return
    v = _as_float(answer)
    if v is None or not math.isfinite(v):
        _fail(name, answer, "give a number, the mean of ||x0 - phi*||^2", _SO3_HINT)
    lo, hi = _SO3_ROWS[0.3], _SO3_ROWS[0.5]
    if not lo < v < hi:
        _fail(
            name,
            answer,
            f"the variance removed grows with the noise, so at sigma = 0.4 it lies between the "
            f"sigma = 0.3 and sigma = 0.5 rows of the table ({lo} and {hi})",
            _SO3_HINT,
        )
    so2 = _removed_variance(SO2(), 0.4, 80)
    if not v > so2:
        _fail(
            name,
            answer,
            f"SO(3) has bigger orbits than SO(2) and removes more variance: above SO(2)'s {so2:.4f}",
            _SO3_HINT,
        )
    exact = _removed_variance(SO3(), 0.4, 40)
    if not abs(v - exact) < 0.01:
        side = "too large" if v > exact else "too small"
        _fail(name, answer, f"{side}: 100k Monte Carlo draws land within 0.01 of the exact value", _SO3_HINT)
    print(f"Right: {v:.4f} (quadrature {exact:.4f}): between the sigma = 0.3 and 0.5 rows, above SO(2)'s {so2:.4f}.")


# -- 06 · training on 2D toys --------------------------------------------------------------------------------------

_MIRROR_HINT = (
    "the handedness of a cloud is the sign of (p1 - p0) x (p2 - p0) (the z-component of the cross product); "
    "compare each sample's sign with the data cloud's and average the mismatches, one number per model in "
    "toys2d.MODELS. Which group is the EGNN equivariant to?"
)


def check_mirror_fractions(mirrored, worst, samples) -> None:
    """Tutorial 06: ``mirrored[model]`` is the fraction of the stored ``cloud-SO2/<model>`` samples (``samples`` =
    ``full["samples"]`` of ``data/results/toys2d.json``) whose handedness is the data's opposite, and ``worst`` the
    model with the largest fraction."""
    import torch

    from symviz.experiments import toys2d

    if is_placeholder(mirrored) or is_placeholder(worst):
        _not_attempted("mirrored, worst", _MIRROR_HINT)
        return
    models = tuple(toys2d.MODELS)
    if not isinstance(mirrored, dict) or set(mirrored) != set(models):
        _fail("mirrored", mirrored, f"it should be a dict with one fraction per model {models}", _MIRROR_HINT)
    for model in models:
        expected = toys2d.mirror_fraction(torch.tensor(toys2d.unpack_samples(samples[f"cloud-SO2/{model}"])))
        got = _as_float(mirrored[model])
        if got is None or not math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12):
            side = "" if got is None else (" (too large)" if got > expected else " (too small)")
            _fail(
                f"mirrored[{model!r}]",
                mirrored[model],
                f"not the fraction of its 500 samples with the data's opposite handedness{side}",
                _MIRROR_HINT,
            )
    best = max(models, key=lambda m: mirrored[m])
    if worst != best:
        _fail("worst", worst, "it should name the model with the largest fraction in mirrored", _MIRROR_HINT)
    # what the stored run shows (not the learner's doing): the text of tutorial 06 relies on it
    assert worst == "equivariant" and mirrored["equivariant"] > 0.3, "the stored samples changed: see toys2d.json"
    assert mirrored["mlp-orbit"] < 0.1 and mirrored["mlp-augment"] < 0.1, "the stored samples changed"
    print("Right: the EGNN is E(2)-equivariant, reflections included, so with the plain target it learns the O(2)-")
    print("symmetrization — half of its clouds are mirrored. The orbit target lets a plain MLP respect exactly SO(2).")


# -- 07 · reproducing the 1D toy -----------------------------------------------------------------------------------

_RATIO_HINT = (
    'full["summary"] holds "mad_mean" and "w2_mean" for "equinet", "aug" and "orbdiff": average the two '
    "baselines' values, then divide by OrbDiff's."
)


def _baseline_ratio(table: dict, metric: str) -> float:
    """Mean of the two baselines' means of ``metric`` over OrbDiff's, from the per-seed rows."""
    mean = {v: float(np.mean([r[metric] for r in table[v]])) for v in ("equinet", "aug", "orbdiff")}
    return (mean["equinet"] + mean["aug"]) / 2 / mean["orbdiff"]


def check_table1_ratios(ratio_mad, ratio_w2, results: dict) -> None:
    """Tutorial 07: ``ratio_mad`` / ``ratio_w2`` are the mean of the two baselines' mean MAD / W2 over OrbDiff's,
    recomputed here from the per-seed rows of ``results`` (``data/results/toy1d.json``) to 1e-9 (relative)."""
    if is_placeholder(ratio_mad) or is_placeholder(ratio_w2):
        _not_attempted("ratio_mad, ratio_w2", _RATIO_HINT)
        return
    ours = {}
    for name, answer, metric in (("ratio_mad", ratio_mad, "mad"), ("ratio_w2", ratio_w2, "w2")):
        v, expected = _as_float(answer), _baseline_ratio(results["per_seed"], metric)
        if v is None:
            _fail(name, answer, "give a number, a ratio of means", _RATIO_HINT)
        if not math.isclose(v, expected, rel_tol=1e-9):
            _fail(name, answer, f"{'too large' if v > expected else 'too small'} for the stored run", _RATIO_HINT)
        ours[metric] = v
    paper = results["paper_table1"]
    paper_mad, paper_w2 = (
        (paper["equinet"][m][0] + paper["aug"][m][0]) / 2 / paper["orbdiff"][m][0] for m in ("mad", "w2")
    )
    assert math.isclose(paper_mad, 25, rel_tol=0.1) and math.isclose(paper_w2, 250, rel_tol=0.1), "paper_table1 changed"
    print(
        f"Right: ours MAD {ours['mad']:.0f}x, W2 {ours['w2']:.0f}x   |   the paper's Table 1: MAD {paper_mad:.0f}x, "
        f"W2 {paper_w2:.0f}x"
    )


# -- 08 · molecules ------------------------------------------------------------------------------------------------

_ETHANOL_HINT = (
    "the heavy atoms C-C-O cannot be exchanged; count the ways to permute the hydrogens on each heavy atom "
    "among themselves, and multiply."
)


def check_ethanol_automorphisms(answer) -> None:
    """Tutorial 08: ``answer`` is |Aut| of ethanol (``CCO``) with explicit hydrogens."""
    check_automorphism_order(answer, "CCO", name="|Aut(ethanol)|", hint=_ETHANOL_HINT)


_HOT_HINT = "boltzmann_weights(ens.energies, temperature=600.0): the same call as at 298 K, another temperature."


def check_hot_weights(answer, energies) -> None:
    """Tutorial 08: ``answer`` is the Boltzmann weights at 600 K of the conformers with relative ``energies``
    (kcal/mol), to 1e-9; on a right answer it prints how much flatter they are than at 298.15 K."""
    from symviz.data.conformer_pipeline import boltzmann_weights

    name = "w_hot"
    if is_placeholder(answer):
        _not_attempted(name, _HOT_HINT)
        return
    expected = boltzmann_weights(energies, temperature=600.0)
    room = boltzmann_weights(energies, temperature=298.15)
    try:
        w = np.asarray(answer, dtype=np.float64)
    except (TypeError, ValueError):
        _fail(name, answer, "give an array of weights, one per conformer", _HOT_HINT)
    if w.shape != expected.shape:
        _fail(
            name, answer, f"it should hold one weight per conformer, shape {expected.shape}, not {w.shape}", _HOT_HINT
        )
    if not np.allclose(w, expected, rtol=0.0, atol=1e-9):
        at_room = np.allclose(w, room, rtol=0.0, atol=1e-9)
        reason = "these are the weights at 298 K" if at_room else "these are not the Boltzmann weights at 600 K"
        _fail(name, answer, reason, _HOT_HINT)

    def n_eff(x):
        return 1.0 / float(np.sum(np.square(x)))

    assert n_eff(w) >= n_eff(room) and w.max() <= room.max(), "heating should flatten the weights"
    print(
        f"Right: effective number of conformers {n_eff(room):.2f} at 298 K, {n_eff(w):.2f} at 600 K; the most "
        f"likely conformer's weight falls from {room.max():.2f} to {w.max():.2f}."
    )
