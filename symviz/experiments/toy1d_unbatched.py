"""One (variant, seed) run of the 1D toy at a time: the reference loop (arXiv 2502.09890 §4.1, Table 1;
docs/theory.md#toy1d), kept so that the batched path (``toy1d_batched``) can be checked against it and timed
next to it (``python -m symviz.experiments.toy1d --unbatched``).

What resumes: with ``checkpoint_path`` the run writes its training state every ``checkpoint_every`` steps
(network, optimizer, step-size schedule, step, loss and validation curves, the best checkpoint so far, and the
random stream); ``resume=True`` continues from there and ends exactly where an uninterrupted run would.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from symviz._checks import check_positive_int
from symviz._io import check_writable
from symviz.experiments.toy1d_protocol import (
    VAL_STARTS,
    check_variant,
    ddim_1d,
    draw_randoms,
    evaluate,
    make_batch,
    make_net,
    schedule,
    validation_error,
)

__all__ = ["train_one", "optimizer_of", "curve_summary"]


def optimizer_of(params, foreach: bool | None = None):
    """The protocol's optimizer and step-size schedule: Adam 1e-3 and StepLR(8000, 0.8).

    ``foreach``: torch's multi-tensor Adam (same arithmetic, fewer calls; default None: torch's choice)."""
    opt = torch.optim.Adam(params, lr=1e-3, foreach=foreach)
    return opt, torch.optim.lr_scheduler.StepLR(opt, step_size=8000, gamma=0.8)


def check_resume(state: dict, run_info: dict, steps: int, checkpoint_path) -> dict:
    """The ``training`` block of a checkpoint about to be resumed, after checking that it belongs to this run
    (``run_info``) and is not past ``steps``; CheckpointError saying what to do otherwise."""
    from symviz.train import CheckpointError

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
    return tr


def curve_summary(curve_step, curve_loss, steps: int) -> float:
    """The mean logged training loss over the second half of the run (NaN if nothing was logged there)."""
    steps_arr, loss_arr = np.array(curve_step), np.array(curve_loss)
    late = steps_arr > steps / 2
    return float(loss_arr[late].mean()) if late.any() else float("nan")


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
    from symviz.train import load_checkpoint, save_checkpoint

    check_variant(variant)
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
    val_starts = torch.randn(VAL_STARTS, 1, 1, generator=gen).abs()
    net = make_net()
    opt, sched = optimizer_of(net.parameters())
    alpha, sigma = schedule()
    curve_step, curve_loss, val_step, val_err = [], [], [], []
    best = (float("inf"), 0, None)
    acc, cnt, first, seconds_before = 0.0, 0, 1, 0.0
    run_info = {"variant": variant, "seed": int(seed), "val_every": int(val_every), "log_every": int(log_every)}
    if resume and Path(checkpoint_path).exists():
        state = load_checkpoint(checkpoint_path, net, opt, sched)
        tr = check_resume(state, run_info, steps, checkpoint_path)
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
        xt, tn, target, weight = make_batch(variant, *draw_randoms(variant, gen), alpha, sigma)
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
    return {
        "variant": variant,
        "seed": seed,
        "mad": metrics["mad"],
        "w2": metrics["w2"],
        "best_step": best[1],
        "best_val_error": best[0],
        "loss_last_half": curve_summary(curve_step, curve_loss, steps),
        "seconds": seconds_before + time.perf_counter() - start,
        "curve": {"step": curve_step, "loss": curve_loss, "val_step": val_step, "val_error": val_err},
        "state_dict": best[2],
    }
