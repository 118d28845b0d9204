"""The paper's 1D reflection toy, end to end (Table 1 of Tong et al. 2025, arXiv 2502.09890 §4.1;
docs/theory.md#toy1d).

    python -m symviz.experiments.toy1d --jobs 2          # full table: 3 variants x seeds 0 1 2 x 100k steps
    python -m symviz.experiments.toy1d --render data/results/toy1d.json   # rewrite the .md from stored JSON
    python -m symviz.experiments.toy1d --quick           # the same code path with 3000 steps (a smoke run)
    python -m symviz.experiments.toy1d --jobs 2 --resume # after a crash: finish the interrupted table

What resumes (``--resume``): every (variant, seed) run writes a checkpoint every ``--checkpoint-every`` steps
(default 5000) into ``--checkpoint-dir`` (default: next to the output, ``<out stem>_checkpoints/``): network,
optimizer, step-size schedule, step, loss and validation curves, the best checkpoint so far, and the random
stream. A resumed run continues from there and ends exactly where an uninterrupted one would. A finished run
leaves its numbers there (``<variant>_seed<seed>.json``), which a resume reads instead of training and
evaluating again. The folder's files are deleted once the table is written, unless ``--keep-checkpoints``.

Protocol (arXiv 2502.09890 §4.1, Table 1; docs/theory.md#toy1d; re-implemented, not copied):

- data: 200 copies of ``x0 = 1``; group ``Z2 = {x -> +-x}``; target law ``(delta_-1 + delta_+1) / 2``;
- schedule: discrete ``t in {0..99}``, ``sigma = linspace(0.01, 0.999, 100)``, ``alpha = sqrt(1 - sigma^2)``;
- "EquiNet": ``sv.nets.OddNet(1, 1, hidden=(10, 5), act=nn.Tanh)`` fed the raw ``t / 100``;
- loss: ``mean_batch (D - target)^2 alpha_t^2 / sigma_t^2``, full batch 200, Adam 1e-3, StepLR(8000, 0.8);
- variants: ``equinet`` (target x0 = 1), ``aug`` (x0 redrawn from {+-1} each step), ``orbdiff`` (x0 = 1, the
  exact 2-element orbit target ``x0 tanh(alpha x0 x_t / sigma^2)``, Eq. 11, via ``sv.orbit.orbit_target``);
- validation every 500 steps: DDIM (docs/theory.md#sampling) from 1000 fixed ``|N(0,1)|`` starts, error ``mean |x - 1|``
  over outputs > 0; the best checkpoint is kept;
- random numbers: one torch stream per seed, consumed in the reference code's order (see ``train_one``). The
  OrbDiff sample error is seed-sensitive (``data/results/toy1d_more_seeds.md`` and
  ``toy1d_independent_streams.md``), so the seeds matter;
- evaluation of the best checkpoint: 100k DDIM samples (50k from ``+|N(0,1)|``, 50k from ``-|N(0,1)|``,
  seed 42); MAD ``= mean |x - sign(x)|`` (the paper calls it "RMSD") and W2 to exactly 50k -1 and 50k +1;
  mean +- std (ddof 0) over seeds.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from torch import nn

import symviz as sv
from symviz._checks import check_positive_int
from symviz._io import atomic_write_text, check_writable

__all__ = [
    "VARIANTS",
    "LABELS",
    "PAPER_TABLE1",
    "LOSS_FLOOR",
    "schedule",
    "make_net",
    "orbit_target_1d",
    "tanh_target",
    "loss_floor",
    "ddim_1d",
    "validation_error",
    "mad",
    "w2_to_pm1",
    "evaluate",
    "train_one",
    "run",
    "acceptance",
    "write_json_atomic",
    "markdown_table",
    "add_checkpoint_arguments",
    "checkpoint_dir_of",
    "remove_checkpoints",
    "main",
]

NUM_T = 100
VARIANTS = ("equinet", "aug", "orbdiff")
LABELS = {"equinet": "EquiNet", "aug": "EquiNet + [Aug]", "orbdiff": "EquiNet + [OrbDiff]"}
# Table 1 of the paper (v4), quoted: MAD ("RMSD") in units of 1e-5 and W2 in units of 1e-3, mean +- std.
PAPER_TABLE1 = {
    "equinet": {"mad": (9.05e-5, 9.47e-5), "w2": (1.150e-3, 1.581e-3)},
    "aug": {"mad": (9.50e-5, 9.63e-5), "w2": (0.853e-3, 1.156e-3)},
    "orbdiff": {"mad": (0.37e-5, 0.09e-5), "w2": (0.004e-3, 0.001e-3)},
}
LOSS_FLOOR = (
    0.2056  # docs/theory.md#loss-floor: minimum SNR-weighted loss of EquiNet and +Aug (200-point Gauss-Hermite)
)
QUICK_STEPS = 3000


def schedule(dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """``(alpha, sigma)``, each ``(100,)``.

    ``sigma = linspace(0.01, 0.999, 100)`` and ``alpha = sqrt(1 - sigma^2)``
    (arXiv 2502.09890 §4.1; docs/theory.md#groups-per-experiment).
    """
    sigma = torch.linspace(0.01, 0.999, NUM_T, dtype=torch.float64)
    return torch.sqrt(1 - sigma**2).to(dtype), sigma.to(dtype)


def make_net() -> nn.Module:
    """The paper's EquiNet: ``D(x, t) = f([x, t]) - f([-x, t])``, f an MLP 2 -> 10 -> 5 -> 1 with tanh."""
    return sv.nets.OddNet(1, 1, hidden=(10, 5), act=nn.Tanh)


def orbit_target_1d(x0, xt, alpha, sigma) -> torch.Tensor:
    """The exact orbit target over ``Z2`` (Eq. 11, 2 terms). x0, xt: ``(B, 1, 1)``; alpha, sigma: ``(B,)``."""
    return sv.orbit.orbit_target(x0, xt, alpha, sigma, sv.groups.Reflection(1), num_samples=None).target


def tanh_target(x0, xt, alpha, sigma) -> torch.Tensor:
    """Its closed form ``x0 tanh(alpha x0 x_t / sigma^2)`` (docs/theory.md#closed-forms), same shapes."""
    a, s = alpha.reshape(-1, 1, 1), sigma.reshape(-1, 1, 1)
    return x0 * torch.tanh(a * x0 * xt / s**2)


def loss_floor(num_nodes: int = 200) -> float:
    """Minimum SNR-weighted loss of EquiNet / +Aug by Gauss-Hermite quadrature (docs/theory.md#loss-floor, ~0.2056).

    ``(1/100) sum_t (alpha^2/sigma^2) E_{x ~ N(alpha, sigma^2)} (1 - tanh(alpha x / sigma^2))^2``: the optimal
    odd denoiser is ``E[x0 | x_t] = tanh(alpha x_t / sigma^2)`` and by symmetry ``x0 = 1`` suffices.
    """
    y, w = np.polynomial.hermite.hermgauss(num_nodes)  # int exp(-y^2) f(y) dy ~ sum w f(y)
    alpha, sigma = (v.double().numpy() for v in schedule(torch.float64))
    x = alpha[:, None] + np.sqrt(2.0) * sigma[:, None] * y[None, :]
    inner = (w[None, :] * (1 - np.tanh(alpha[:, None] * x / sigma[:, None] ** 2)) ** 2).sum(1) / np.sqrt(np.pi)
    return float(np.mean(alpha**2 / sigma**2 * inner))


@torch.no_grad()
def ddim_1d(net: nn.Module, x_start: torch.Tensor) -> torch.Tensor:
    """Deterministic DDIM on the discrete grid (docs/theory.md#sampling): for t = 99..0, ``x0_hat = D(x, t/100)``,
    ``eps_hat = (x - alpha_t x0_hat) / sigma_t``, ``x <- alpha_{t-1} x0_hat + sigma_{t-1} eps_hat``; returns
    ``x0_hat`` at t = 0. x_start: ``(N, 1, 1)`` (the t = 99 state)."""
    alpha, sigma = schedule(x_start.dtype)
    x, b = x_start, x_start.shape[0]
    for t in range(NUM_T - 1, -1, -1):
        x0_hat = net(x, torch.full((b,), t / NUM_T, dtype=x.dtype))
        if t == 0:
            return x0_hat
        eps_hat = (x - alpha[t] * x0_hat) / sigma[t]
        x = alpha[t - 1] * x0_hat + sigma[t - 1] * eps_hat
    raise AssertionError("unreachable")


def validation_error(samples: torch.Tensor) -> float:
    """``mean |x - 1|`` over the samples > 0 (inf when none is positive), the paper's validation error."""
    x = samples.reshape(-1).double()
    pos = x[x > 0]
    return float((pos - 1).abs().mean()) if pos.numel() else float("inf")


def mad(samples) -> float:
    """MAD ``= mean |x - sign(x)|``: the paper's "RMSD" (a mean absolute deviation despite the name)."""
    x = torch.as_tensor(samples).reshape(-1).double()
    return float((x - torch.sign(x)).abs().mean())


def w2_to_pm1(samples) -> float:
    """W2 between the samples and exactly half -1, half +1 (``N`` must be even), by ``sv.metrics.w2_1d``."""
    x = torch.as_tensor(samples).reshape(-1).double()
    if x.numel() % 2:
        raise ValueError(f"w2_to_pm1 needs an even number of samples (half -1, half +1); got {x.numel()}")
    half = x.numel() // 2
    ref = torch.cat([-torch.ones(half, dtype=torch.float64), torch.ones(half, dtype=torch.float64)])
    return sv.metrics.w2_1d(x, ref)


def evaluate(net: nn.Module, num: int = 100_000, seed: int = 42) -> dict:
    """MAD and W2 of ``num`` DDIM samples, half from ``+|N(0,1)|`` and half from ``-|N(0,1)|`` (seed 42).

    The starts are drawn in chunks of 1000 (500 positive, then 500 negative), the order of the reference
    evaluation script, so seed 42 gives the same starts; ``num`` must be a multiple of 1000 (or of 2 if smaller).
    """
    chunk = min(num, 1000)
    if num < 2 or num % chunk or chunk % 2:
        raise ValueError(f"num must be an even number <= 1000 or a multiple of 1000; got {num}")
    gen = torch.Generator().manual_seed(seed)
    starts = []
    for _ in range(num // chunk):
        starts += [
            torch.randn(chunk // 2, 1, 1, generator=gen).abs(),
            -torch.randn(chunk // 2, 1, 1, generator=gen).abs(),
        ]
    x = ddim_1d(net, torch.cat(starts))
    return {"mad": mad(x), "w2": w2_to_pm1(x)}


def _batch(variant: str, gen: torch.Generator, alpha, sigma, batch: int = 200):
    """One full-batch training draw: ``(x_t, net time t/100, target, SNR weight)``."""
    t = torch.randint(0, NUM_T, (batch,), generator=gen)
    a, s = alpha[t], sigma[t]
    x0 = torch.ones(batch, 1, 1)
    if variant == "aug":
        x0 = (torch.randint(0, 2, (batch, 1, 1), generator=gen) * 2 - 1).float()
    xt = a.reshape(-1, 1, 1) * x0 + s.reshape(-1, 1, 1) * torch.randn(batch, 1, 1, generator=gen)
    target = orbit_target_1d(x0, xt, a, s) if variant == "orbdiff" else x0
    return xt, t.float() / NUM_T, target, a**2 / s**2


def train_one(
    variant: str,
    seed: int,
    steps: int = 100_000,
    val_every: int = 500,
    log_every: int = 250,
    progress: bool = False,
    eval_samples: int = 100_000,
    checkpoint_path=None,
    checkpoint_every: int | None = None,
    resume: bool = False,
) -> dict:
    """Train one (variant, seed), evaluate its best checkpoint; returns numbers, curves and the state dict.

    ``eval_samples`` (default 100000, the protocol) exists only so tests can run the same path in seconds.
    ``checkpoint_path``: write the training state there every ``checkpoint_every`` steps (default None: never);
    ``resume=True`` continues from it when it exists (the same ``variant``, ``seed``, ``val_every`` and
    ``log_every``), ending with exactly the numbers of an uninterrupted run.
    """
    from symviz.train import CheckpointError, load_checkpoint, save_checkpoint

    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}; got {variant!r}")
    steps = check_positive_int(steps, "steps")
    if checkpoint_every is not None:
        checkpoint_every = check_positive_int(checkpoint_every, "checkpoint_every")
    if resume and checkpoint_path is None:
        raise ValueError("resume=True needs checkpoint_path=... (the checkpoint to continue from)")
    if checkpoint_path is not None:
        check_writable(checkpoint_path, "checkpoint_path")
    start = time.perf_counter()
    # One random stream, consumed in the reference code's order (validation starts, weights, then per step: t,
    # the +-1 flips of [Aug], the noise), so that "seed 0" means the same numbers as there (on CPU).
    torch.manual_seed(seed)
    gen = torch.default_generator
    val_starts = torch.randn(1000, 1, 1, generator=gen).abs()
    net = make_net()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=8000, gamma=0.8)
    alpha, sigma = schedule()
    curve_step, curve_loss, val_step, val_err = [], [], [], []
    best = (float("inf"), 0, None)
    acc, cnt, first, seconds_before = 0.0, 0, 1, 0.0
    run_info = {"variant": variant, "seed": int(seed), "val_every": int(val_every), "log_every": int(log_every)}
    if resume and Path(checkpoint_path).exists():
        state = load_checkpoint(checkpoint_path, net, opt, sched)
        tr = state.get("training") or {}
        if tr.get("run") != run_info:
            raise CheckpointError(
                f"{checkpoint_path} belongs to another run ({tr.get('run')}, now {run_info}); delete it or "
                f"resume with the same settings"
            )
        if int(state["step"]) > steps:
            raise CheckpointError(
                f"{checkpoint_path} is at step {state['step']}, past steps={steps}; delete it or pass steps >= "
                f"{state['step']}"
            )
        torch.set_rng_state(tr["rng"])
        curve_step, curve_loss, val_step, val_err = (list(tr["curve"][k]) for k in ("step", "loss", "vs", "ve"))
        best = (float(tr["best_error"]), int(tr["best_step"]), tr["best_state"])
        acc, cnt, first = float(tr["acc"]), int(tr["cnt"]), int(state["step"]) + 1
        seconds_before = float(tr["seconds"])

    def save(step):
        training = {
            "run": run_info,
            "rng": torch.get_rng_state(),
            "curve": {"step": curve_step, "loss": curve_loss, "vs": val_step, "ve": val_err},
            "best_error": best[0],
            "best_step": best[1],
            "best_state": best[2],
            "acc": acc,
            "cnt": cnt,
            "seconds": seconds_before + time.perf_counter() - start,
        }
        save_checkpoint(checkpoint_path, net, opt, step=step, scheduler=sched, training=training)

    it = range(first, steps + 1)
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc=f"{variant} seed {seed}", leave=False, total=steps, initial=first - 1)
    for step in it:
        xt, tn, target, weight = _batch(variant, gen, alpha, sigma)
        loss = ((net(xt, tn) - target).reshape(-1) ** 2 * weight).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        acc, cnt = acc + loss.item(), cnt + 1
        if step % log_every == 0 or step == steps:
            curve_step.append(step)
            curve_loss.append(acc / cnt)
            acc, cnt = 0.0, 0
        # the reference validates after updates 501, 1001, ... (its loop index % 500 == 0) and keeps ties (<=)
        if (step % val_every == 1 and step > 1) or (step == steps and best[2] is None):
            err = validation_error(ddim_1d(net, val_starts))
            val_step.append(step)
            val_err.append(err)
            if err <= best[0]:
                best = (err, step, {k: v.clone() for k, v in net.state_dict().items()})
        if checkpoint_path is not None and checkpoint_every and (step % checkpoint_every == 0 or step == steps):
            save(step)
    net.load_state_dict(best[2])
    metrics = evaluate(net, num=eval_samples)
    steps_arr, loss_arr = np.array(curve_step), np.array(curve_loss)
    last_half = float(loss_arr[steps_arr > steps / 2].mean()) if (steps_arr > steps / 2).any() else float("nan")
    return {
        "variant": variant,
        "seed": seed,
        "mad": metrics["mad"],
        "w2": metrics["w2"],
        "best_step": best[1],
        "best_val_error": best[0],
        "loss_last_half": last_half,
        "seconds": seconds_before + time.perf_counter() - start,
        "curve": {"step": curve_step, "loss": curve_loss, "val_step": val_step, "val_error": val_err},
        "state_dict": best[2],
    }


def _one_thread() -> None:
    """Worker-process initializer: one torch thread per run."""
    torch.set_num_threads(1)


def _pair_files(checkpoint_dir, variant: str, seed: int) -> tuple[Path, Path]:
    """The training checkpoint and the finished-result JSON of one (variant, seed) run."""
    base = Path(checkpoint_dir) / f"{variant}_seed{seed}"
    return base.with_suffix(".pt"), base.with_suffix(".json")


def _train_job(variant: str, seed: int, kwargs: dict) -> dict:
    """One (variant, seed) run without its state dict; module level so worker processes can import it.

    With ``kwargs["checkpoint_dir"]``: checkpoints and, once finished, the result JSON go there; with
    ``kwargs["resume"]`` a finished result with the same settings is read back instead of training again.
    """
    kwargs = dict(kwargs)
    folder, every = kwargs.pop("checkpoint_dir", None), kwargs.pop("checkpoint_every", None)
    resume = kwargs.pop("resume", False)
    if folder is None:
        r = train_one(variant, seed, **kwargs)
        r.pop("state_dict")
        return r
    ckpt, done = _pair_files(folder, variant, seed)
    settings = {"steps": kwargs.get("steps"), "eval_samples": kwargs.get("eval_samples")}
    if resume and done.exists():
        stored = json.loads(done.read_text())
        if stored.get("settings") == settings:
            return stored["result"]
    r = train_one(variant, seed, checkpoint_path=ckpt, checkpoint_every=every, resume=resume, **kwargs)
    r.pop("state_dict")
    # Python's JSON (NaN and Infinity kept as such: a validation error can be inf), read back only by this code
    atomic_write_text(done, json.dumps({"settings": settings, "result": r}))
    return r


def acceptance(result: dict) -> dict:
    """The acceptance band (issue 3): OrbDiff MAD <= 1e-5 and W2 <= 2e-5; both baselines >= 5x worse on both;
    the quadrature floor within 5e-4 of 0.2056 and each baseline's last-half training loss in
    [0.97, 1.10] x floor. Returns ``{check: bool}``; meaningful for the full protocol only."""
    s = result["summary"]
    orb = s["orbdiff"]
    checks = {
        "orbdiff_mad_le_1e-5": orb["mad_mean"] <= 1e-5,
        "orbdiff_w2_le_2e-5": orb["w2_mean"] <= 2e-5,
        "floor_quadrature": abs(result["loss_floor"] - LOSS_FLOOR) <= 5e-4,
    }
    for v in ("equinet", "aug"):
        checks[f"{v}_mad_ge_5x"] = s[v]["mad_mean"] >= 5 * orb["mad_mean"]
        checks[f"{v}_w2_ge_5x"] = s[v]["w2_mean"] >= 5 * orb["w2_mean"]
        checks[f"{v}_loss_near_floor"] = 0.97 <= s[v]["loss_last_half_mean"] / result["loss_floor"] <= 1.10
    return checks


def run(
    steps: int = 100_000,
    seeds=(0, 1, 2),
    variants=VARIANTS,
    out=None,
    progress: bool = False,
    log=print,
    command: str | None = None,
    eval_samples: int = 100_000,
    jobs: int = 1,
    checkpoint_dir=None,
    checkpoint_every: int | None = 5000,
    resume: bool = False,
) -> dict:
    """Train and evaluate every (variant, seed); write the JSON atomically to ``out`` (if given).

    ``jobs`` > 1 runs the (variant, seed) pairs in that many worker processes (one thread each). Every run seeds
    its own random stream, so the numbers do not depend on ``jobs``; only the wall time does.
    ``checkpoint_dir`` (default None: none): each run's checkpoint every ``checkpoint_every`` steps and its
    finished result; ``resume`` continues from them (see the module docstring).
    """
    jobs = check_positive_int(jobs, "jobs")
    start = time.perf_counter()
    per_seed, curves = {v: [] for v in variants}, {}
    pairs = [(v, seed) for v in variants for seed in seeds]
    kwargs = {"steps": steps, "progress": progress and jobs == 1, "eval_samples": eval_samples}
    if checkpoint_dir is not None:
        kwargs |= {"checkpoint_dir": str(checkpoint_dir), "checkpoint_every": checkpoint_every, "resume": resume}
    if jobs == 1:
        results = (_train_job(v, seed, kwargs) for v, seed in pairs)
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(
            max_workers=min(jobs, len(pairs)), mp_context=mp.get_context("spawn"), initializer=_one_thread
        )
        results = pool.map(_train_job, *zip(*pairs), [kwargs] * len(pairs))
    try:
        for v, seed in pairs:
            r = next(results)
            curves.setdefault(v, []).append({"seed": seed, **r.pop("curve")})
            per_seed[v].append(r)
            if log:
                log(
                    f"{LABELS[v]:<20} seed {seed}: MAD {r['mad']:.3e}  W2 {r['w2']:.3e}  best step "
                    f"{r['best_step']}  loss(last half) {r['loss_last_half']:.4g}  {r['seconds']:.0f} s"
                )
    finally:
        if jobs > 1:
            pool.shutdown(cancel_futures=True)
    summary = {}
    for v in variants:
        arr = {k: np.array([r[k] for r in per_seed[v]]) for k in ("mad", "w2", "loss_last_half")}
        summary[v] = {
            "label": LABELS[v],
            **{f"{k}_mean": float(a.mean()) for k, a in arr.items()},
            **{f"{k}_std": float(a.std(ddof=0)) for k, a in arr.items()},
        }
    result = {
        "experiment": "toy1d",
        "protocol": "docs/theory.md#toy1d (arXiv 2502.09890 §4.1, Table 1)",
        "command": command
        or f"python -m symviz.experiments.toy1d --steps {steps} --seeds " + " ".join(map(str, seeds)),
        "metric_note": "MAD = mean |x - sign(x)|, reported as 'RMSD' in the paper; W2 vs 50k -1 and 50k +1",
        "steps": steps,
        "eval_samples": eval_samples,
        "seeds": list(seeds),
        "variants": list(variants),
        "loss_floor": loss_floor(),
        "summary": summary,
        "per_seed": per_seed,
        "paper_table1": PAPER_TABLE1,
        "curves": curves,
        "versions": {
            "torch": torch.__version__,
            "python": platform.python_version(),
            "numpy": np.__version__,
            "symviz": sv.__version__,
            "threads": torch.get_num_threads(),
            "jobs": jobs,
        },
        "wall_seconds": time.perf_counter() - start,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if set(variants) == set(VARIANTS):
        result["acceptance"] = acceptance(result)
    if out is not None:
        write_json_atomic(result, out)
    return result


_NUMBER_LIST = re.compile(r"\[\s*(-?[\d.eE+-]+(?:,\s*-?[\d.eE+-]+)*)\s*\]")


def write_json_atomic(obj: dict, path) -> Path:
    """Write JSON via a temp file in the same folder and ``os.replace`` (never a half-written file).

    Indented, but every innermost list of numbers is kept on one line (curves and samples stay compact).
    """
    text = json.dumps(_finite_or_none(obj), indent=1, allow_nan=False)
    text = _NUMBER_LIST.sub(lambda m: "[" + ",".join(v.strip() for v in m.group(1).split(",")) + "]", text)
    return atomic_write_text(path, text + "\n")


def _finite_or_none(obj):
    """NaN/Inf -> None (null): strict JSON has no NaN."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_none(v) for v in obj]
    return obj


def _pm(mean: float, std: float, unit: float, digits: int) -> str:
    return f"{mean / unit:.{digits}f} ± {std / unit:.{digits}f}"


def markdown_table(result: dict) -> str:
    """A Markdown table (ours vs the paper's quoted Table 1) plus the command and run time."""
    lines = [
        '| variant | MAD ("RMSD") ×1e-5, ours | paper | W2 ×1e-3, ours | paper | train loss (last half) |',
        "|---|---|---|---|---|---|",
    ]
    for v in result["variants"]:
        s, p = result["summary"][v], result["paper_table1"][v]
        ours_mad = _pm(s["mad_mean"], s["mad_std"], 1e-5, 2)
        ours_w2 = _pm(s["w2_mean"], s["w2_std"], 1e-3, 4)
        paper_mad, paper_w2 = _pm(*p["mad"], 1e-5, 2), _pm(*p["w2"], 1e-3, 3)
        lines.append(
            f"| {LABELS[v]} | {ours_mad} | {paper_mad} | {ours_w2} | {paper_w2} | {s['loss_last_half_mean']:.4g} |"
        )
    mins = result["wall_seconds"] / 60
    jobs = result["versions"].get("jobs", 1)
    parallel = f", {jobs} runs in parallel" if jobs > 1 else ""
    lines += [
        "",
        f"Command: `{result['command']}` ({result['steps']} steps, seeds {result['seeds']}, "
        f"torch {result['versions']['torch']}, {result['versions']['threads']} thread(s) per run{parallel}); "
        f"wall time {mins:.1f} min. Analytic baseline loss floor {result['loss_floor']:.4f}.",
    ]
    if "acceptance" in result:
        ok = all(result["acceptance"].values())
        bad = [k for k, v in result["acceptance"].items() if not v]
        lines.append(f"Acceptance band: {'all checks pass' if ok else 'FAILED: ' + ', '.join(bad)}.")
    return "\n".join(lines) + "\n"


def add_checkpoint_arguments(p: argparse.ArgumentParser, every: int) -> None:
    """``--resume``, ``--checkpoint-dir``, ``--checkpoint-every`` and ``--keep-checkpoints`` of the experiments."""
    p.add_argument("--resume", action="store_true", help="continue interrupted runs from their checkpoints")
    p.add_argument(
        "--checkpoint-dir", type=Path, default=None, help="checkpoint folder (default: <out stem>_checkpoints)"
    )
    p.add_argument("--checkpoint-every", type=int, default=every, help=f"steps between checkpoints ({every})")
    p.add_argument("--keep-checkpoints", action="store_true", help="keep the checkpoints after a finished run")


def checkpoint_dir_of(args, p: argparse.ArgumentParser) -> Path:
    """The checkpoint folder of a parsed command line (checked for writability before any training)."""
    if args.checkpoint_every < 1:
        p.error("--checkpoint-every must be >= 1")
    folder = args.checkpoint_dir or args.out.with_name(args.out.stem + "_checkpoints")
    try:
        check_writable(folder / "probe", "--checkpoint-dir")
        check_writable(args.out, "--out")
    except ValueError as err:
        p.error(str(err))
    return folder


def remove_checkpoints(folder, names) -> None:
    """Delete the named files of a checkpoint folder (and their ``.json`` results), then the folder if empty."""
    folder = Path(folder)
    for name in names:
        for f in (folder / name, (folder / name).with_suffix(".json")):
            f.unlink(missing_ok=True)
    try:
        folder.rmdir()
    except OSError:  # not empty (other files) or already gone
        pass


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m symviz.experiments.toy1d", description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=None, help="training steps per run (default 100000)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="JSON path (default data/results/toy1d.json; data/results/toy1d_quick.json with --quick)",
    )
    p.add_argument("--quick", action="store_true", help=f"{QUICK_STEPS} steps unless --steps is given")
    p.add_argument("--progress", action="store_true")
    p.add_argument("--eval-samples", type=int, default=100_000, help="DDIM samples for MAD/W2 (protocol: 100000)")
    p.add_argument(
        "--jobs", type=int, default=1, help="worker processes, one run each (default 1; numbers do not change)"
    )
    p.add_argument("--render", type=Path, default=None, help="only rewrite the .md table of a stored JSON result")
    add_checkpoint_arguments(p, every=5000)
    args = p.parse_args(argv)
    if args.render is not None:
        if not args.render.is_file():
            p.error(f"--render: no result file at {args.render}; run the experiment first")
        table = markdown_table(json.loads(args.render.read_text()))
        atomic_write_text(
            args.render.with_suffix(".md"),
            "# 1D reflection toy (arXiv 2502.09890 §4.1, Table 1; docs/theory.md#toy1d)\n\n" + table,
        )
        print(table)
        return 0
    sv.configure_threads(1)
    steps = args.steps or (QUICK_STEPS if args.quick else 100_000)
    out = args.out = args.out or Path("data/results/toy1d_quick.json" if args.quick else "data/results/toy1d.json")
    ckpt_dir = checkpoint_dir_of(args, p)
    cmd = "python -m symviz.experiments.toy1d " + " ".join(sys.argv[1:] if argv is None else argv)
    result = run(
        steps=steps,
        seeds=tuple(args.seeds),
        variants=tuple(args.variants),
        out=out,
        progress=args.progress,
        command=cmd.strip(),
        eval_samples=args.eval_samples,
        jobs=args.jobs,
        checkpoint_dir=ckpt_dir,
        checkpoint_every=args.checkpoint_every,
        resume=args.resume,
    )
    table = markdown_table(result)
    atomic_write_text(
        out.with_suffix(".md"), "# 1D reflection toy (arXiv 2502.09890 §4.1, Table 1; docs/theory.md#toy1d)\n\n" + table
    )
    if not args.keep_checkpoints:
        remove_checkpoints(ckpt_dir, [f"{v}_seed{seed}.pt" for v in args.variants for seed in args.seeds])
    print(table)
    print(f"wrote {out} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
