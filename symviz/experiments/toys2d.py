"""2D toys (new in symviz, not in the paper): a plain MLP with plain / augment / orbit targets vs an equivariant net.

    python -m symviz.experiments.toys2d                  # full run: every setting, 6000 steps, seeds 0 1 2
    python -m symviz.experiments.toys2d --steps 1500 --seeds 0 --out /tmp/toys2d.json   # a short version
    python -m symviz.experiments.toys2d --resume        # after a crash: finish the interrupted run
    python -m symviz.experiments.toys2d --render-only   # rewrite the .md from the stored .json

Every (setting, model, seed) run writes a checkpoint every ``--checkpoint-every`` steps (default 500) into
``--checkpoint-dir`` (default: next to ``--out``, ``<out stem>_checkpoints/``). ``--resume`` continues each run
from its checkpoint (model, optimizer, learning-rate schedule, step, loss history, random states), so the result
equals an uninterrupted run's; finished runs are evaluated again (deterministic) without training. The folder is
deleted once the JSON is written, unless ``--keep-checkpoints``.

Settings (tutorial 06):

- ``blob-SO2``: a Gaussian blob of single 2D points seen in one orientation; under SO(2) its symmetrization is a ring.
- ``blob-C6``: the same blob under the rotation group C_6: six blobs (exact 6-element orbit target).
- ``cloud-SO2``: the asymmetric centred 4-point cloud under SO(2).

Models, all trained for the same number of steps with the same optimiser and batch size:
``mlp-plain`` (``TimeMLP``, target x0 — learns only the one orientation), ``mlp-augment`` (random rotation of
x0 each step), ``mlp-orbit`` (the orbit target of Eq. 11: K = 64 candidates for SO(2), the exact sum for C_6)
and ``equivariant`` (``RadialNet`` for the blob under SO(2), ``EGNN`` for the cloud; plain target — by
Proposition 1 augmentation would change nothing). There is no equivariant baseline for C_6.

Metrics of 2000 DDIM samples (100 steps): sliced Wasserstein to a fresh sample of the symmetrized data
distribution (``sv.data.toys.symmetrize``); a symmetry error — ``sv.metrics.angle_ks`` of the angles
(of point 0 for the cloud) for SO(2), the total-variation distance of the six sector frequencies from 1/6 for
C_6; and ``sv.metrics.equivariance_error`` of the trained denoiser at t = 0.5.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

import symviz as sv
from symviz.data import toys
from symviz.experiments import reporting
from symviz.experiments.toy1d import add_checkpoint_arguments, checkpoint_dir_of, remove_checkpoints
from symviz.train import fit

__all__ = [
    "SETTINGS",
    "MODELS",
    "make_data",
    "make_group",
    "make_model",
    "make_loss",
    "symmetry_error",
    "evaluate",
    "train_one",
    "checkpoint_name",
    "run",
    "markdown_table",
    "main",
]

SETTINGS = ("blob-SO2", "blob-C6", "cloud-SO2")
MODELS = ("mlp-plain", "mlp-augment", "mlp-orbit", "equivariant")
NUM_DATA = 2048
NUM_EVAL = 2000
NUM_STORED = 500
K_SO2 = 64
SCHEDULE = "cosine"
MD_TITLE = "# 2D toys (tutorial 06)\n\n"


def make_group(setting: str):
    """The group of a setting: ``SO2()`` or ``Cyclic(6)``."""
    _check_setting(setting)
    return sv.groups.Cyclic(6) if setting.endswith("C6") else sv.groups.SO2()


def make_data(setting: str, num: int = NUM_DATA, seed: int = 0) -> torch.Tensor:
    """The (unsymmetric) training set ``(num, n, 2)``: blob points ``n = 1`` or cloud copies ``n = 4``."""
    _check_setting(setting)
    gen = torch.Generator().manual_seed(seed)
    if setting.startswith("blob"):
        return toys.blob_2d(num, generator=gen)
    return toys.cloud_dataset(num, generator=gen)


def has_equivariant(setting: str) -> bool:
    return setting != "blob-C6"


def make_model(setting: str, model: str, seed: int = 0, hidden: int = 64) -> torch.nn.Module:
    """A fresh network (weights seeded by ``seed``)."""
    _check_setting(setting)
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}; got {model!r}")
    torch.manual_seed(seed)
    n = 1 if setting.startswith("blob") else 4
    if model != "equivariant":
        return sv.nets.TimeMLP(n, 2, hidden=hidden, depth=3)
    if not has_equivariant(setting):
        raise ValueError(f"{setting} has no equivariant baseline (RadialNet is O(2)-equivariant, not C_6)")
    return sv.nets.RadialNet(hidden=hidden) if n == 1 else sv.nets.EGNN(hidden=32, layers=3)


def make_loss(setting: str, model: str) -> sv.losses.DenoisingLoss:
    """The training loss of a (setting, model): plain for ``mlp-plain`` and ``equivariant``."""
    group = make_group(setting)
    sched = sv.diffusion.VPSchedule(SCHEDULE)
    mode = {"mlp-plain": "plain", "mlp-augment": "augment", "mlp-orbit": "orbit", "equivariant": "plain"}[model]
    k = None if isinstance(group, sv.groups.Cyclic) else K_SO2
    return sv.losses.DenoisingLoss(sched, mode=mode, group=None if mode == "plain" else group, num_samples=k)


def symmetry_error(samples: torch.Tensor, setting: str) -> float:
    """SO(2): KS distance of the angles (point 0) from uniform. C_6: TV distance of the 6 sector frequencies
    (sectors centred on multiples of 60 degrees) from 1/6. 0 = perfectly symmetric."""
    p = samples[:, 0, :].double()
    if not setting.endswith("C6"):
        return sv.metrics.angle_ks(p)
    ang = torch.atan2(p[:, 1], p[:, 0])
    sector = torch.round(ang / (math.pi / 3)).long() % 6
    freq = torch.bincount(sector, minlength=6).double() / len(sector)
    return float(0.5 * (freq - 1 / 6).abs().sum())


def mirror_fraction(samples: torch.Tensor) -> float:
    """Cloud only: the fraction of samples whose handedness (sign of the signed area of points 0, 1, 2) is the
    opposite of the data's. SO(2) never mirrors, so the target is 0; an O(2)-equivariant net can reach 0.5."""
    if samples.shape[-2] < 3:
        return float("nan")

    def area(x):
        u, v = x[..., 1, :] - x[..., 0, :], x[..., 2, :] - x[..., 0, :]
        return u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]

    ref = torch.sign(area(toys.asymmetric_cloud_2d()))
    return float((torch.sign(area(samples.double())) != ref).double().mean())


@torch.no_grad()
def evaluate(net, setting: str, num: int = NUM_EVAL, seed: int = 123) -> dict:
    """Samples and metrics of a trained denoiser (see the module docstring).

    Samples that blew up to NaN/Inf in DDIM (an under-trained net) are counted in ``nonfinite`` and left out of
    the distances; when more than half blew up, the distances are NaN.
    """
    group = make_group(setting)
    sched = sv.diffusion.VPSchedule(SCHEDULE)
    gen = torch.Generator().manual_seed(seed)
    n = 1 if setting.startswith("blob") else 4
    samples = sv.diffusion.ddim_sample(net, (num, n, 2), sched, steps=100, generator=gen)
    ref = toys.symmetrize(make_data(setting, num, seed=seed + 1), group, generator=gen)
    ok = torch.isfinite(samples).all(-1).all(-1)
    nonfinite = 1.0 - float(ok.double().mean())
    samples = samples[ok]
    x = ref[:256]
    tt = torch.full((x.shape[0],), 0.5)
    xt, _ = sv.diffusion.add_noise(x, tt, sched, generator=gen)
    elements = group.elements() if group.is_finite else None
    eq = sv.metrics.equivariance_error(lambda y: net(y, tt), xt, group, generator=gen, elements=elements)
    if nonfinite > 0.5:
        nan = float("nan")
        return {"sw": nan, "sym": nan, "equi": eq, "mirror": nan, "nonfinite": nonfinite, "samples": samples}
    sw = sv.metrics.sliced_wasserstein(samples, ref, num_projections=256, generator=torch.Generator().manual_seed(0))
    sym = symmetry_error(samples, setting)
    mirror = mirror_fraction(samples)
    return {"sw": sw, "sym": sym, "equi": eq, "mirror": mirror, "nonfinite": nonfinite, "samples": samples}


def train_one(
    setting: str,
    model: str,
    steps: int = 6000,
    seed: int = 0,
    callback=None,
    progress: bool = False,
    batch_size: int = 256,
    lr: float = 2e-3,
    checkpoint_path=None,
    checkpoint_every: int | None = None,
    resume: bool = False,
) -> dict:
    """Train one (setting, model, seed) and evaluate it. Returns metrics, the loss history and the net.

    ``checkpoint_path`` / ``checkpoint_every`` / ``resume`` are passed to :func:`symviz.train.fit` (default: no
    checkpoints): with ``resume=True`` an interrupted run continues from its checkpoint and ends with the same
    weights as an uninterrupted one.
    """
    net = make_model(setting, model, seed=seed)
    loss_fn = make_loss(setting, model)
    data = make_data(setting, seed=seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=lr / 20)
    hist = fit(
        net,
        loss_fn,
        data,
        steps=steps,
        batch_size=batch_size,
        seed=seed,
        progress=progress,
        log_every=max(1, steps // 100),
        callback=callback,
        optimizer=opt,
        scheduler=sched,
        num_threads=torch.get_num_threads(),
        checkpoint_path=checkpoint_path,
        checkpoint_every=checkpoint_every,
        resume=resume,
    )
    net.eval()
    ev = evaluate(net, setting)
    return {
        "setting": setting,
        "model": model,
        "seed": seed,
        "sw": ev["sw"],
        "sym": ev["sym"],
        "equi": ev["equi"],
        "mirror": ev["mirror"],
        "nonfinite": ev["nonfinite"],
        "train_seconds": hist.seconds,
        "history": hist.as_dict(),
        "samples": ev["samples"],
        "net": net,
    }


def pack_samples(x: torch.Tensor) -> dict:
    """Samples ``(N, n, 2)`` as ``{"shape": [N, n, 2], "values": flat list, 3 decimals}`` (compact JSON)."""
    return {"shape": list(x.shape), "values": np.round(x.reshape(-1).double().numpy(), 3).tolist()}


def unpack_samples(packed: dict) -> np.ndarray:
    """Inverse of :func:`pack_samples`: an array ``(N, n, 2)``."""
    return np.asarray(packed["values"], dtype=np.float64).reshape(packed["shape"])


def reference_floor(setting: str, num: int = NUM_EVAL) -> dict:
    """The metrics of a *perfect* sampler (fresh symmetrized data): the finite-sample noise floor."""
    group = make_group(setting)
    gen = torch.Generator().manual_seed(7)
    a = toys.symmetrize(make_data(setting, num, seed=11), group, generator=gen)
    b = toys.symmetrize(make_data(setting, num, seed=12), group, generator=gen)
    sw = sv.metrics.sliced_wasserstein(a, b, num_projections=256, generator=torch.Generator().manual_seed(0))
    return {"sw": sw, "sym": symmetry_error(a, setting)}


def checkpoint_name(setting: str, model: str, seed: int) -> str:
    """The checkpoint file of one run inside the checkpoint folder, e.g. ``blob-SO2_mlp-orbit_seed0.pt``."""
    return f"{setting}_{model}_seed{seed}.pt"


def run(
    steps: int = 6000,
    seeds=(0, 1, 2),
    settings=SETTINGS,
    out=None,
    log=print,
    command: str | None = None,
    checkpoint_dir=None,
    checkpoint_every: int | None = 500,
    resume: bool = False,
):
    """Every (setting, model, seed); JSON with per-seed numbers, means, floors and loss curves.

    ``checkpoint_dir``: one checkpoint per run there (:func:`checkpoint_name`), every ``checkpoint_every`` steps
    (default None: no checkpoints). ``resume``: continue each run from its checkpoint (see the module docstring).
    """
    start = time.perf_counter()
    rows, curves, samples = [], {}, {}
    for setting in settings:
        for model in MODELS:
            if model == "equivariant" and not has_equivariant(setting):
                continue
            for seed in seeds:
                ckpt = None if checkpoint_dir is None else Path(checkpoint_dir) / checkpoint_name(setting, model, seed)
                r = train_one(
                    setting,
                    model,
                    steps=steps,
                    seed=seed,
                    checkpoint_path=ckpt,
                    checkpoint_every=checkpoint_every if ckpt is not None else None,
                    resume=resume,
                )
                r.pop("net")
                smp = r.pop("samples")
                if seed == seeds[0]:  # a few samples for the notebook's pictures
                    samples[f"{setting}/{model}"] = pack_samples(smp[:NUM_STORED])
                curves[f"{setting}/{model}/{seed}"] = r.pop("history")
                rows.append(r)
                if log:
                    log(
                        f"{setting:<10} {model:<12} seed {seed}: SW {r['sw']:.4f}  sym {r['sym']:.4f}  "
                        f"equi {r['equi']:.3g}  ({r['train_seconds']:.0f} s)"
                    )
    summary = {}
    for setting in settings:
        summary[setting] = {"floor": reference_floor(setting)}
        for model in MODELS:
            sel = [r for r in rows if r["setting"] == setting and r["model"] == model]
            if sel:
                summary[setting][model] = {
                    f"{k}_{f.__name__}": float(f([r[k] for r in sel]))
                    for k in ("sw", "sym", "equi", "mirror")
                    for f in (np.mean, np.std)
                }
    result = {
        "experiment": "toys2d",
        "command": command or f"python -m symviz.experiments.toys2d --steps {steps}",
        "steps": steps,
        "seeds": list(seeds),
        "settings": list(settings),
        "k_so2": K_SO2,
        "schedule": SCHEDULE,
        "summary": summary,
        "per_seed": rows,
        "curves": curves,
        "samples": samples,
        "versions": reporting.versions(threads=torch.get_num_threads()),
        "wall_seconds": time.perf_counter() - start,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if out is not None:
        reporting.write_json(out, result)
    return result


def markdown_table(result: dict) -> str:
    """Mean ± std over seeds of each metric, per setting and model, plus the perfect-sampler floor."""
    rows = []
    for setting in result["settings"]:
        s = result["summary"][setting]
        for model in MODELS:
            if model not in s:
                continue
            m = s[model]
            mirror = "–" if m["mirror_mean"] is None or math.isnan(m["mirror_mean"]) else f"{m['mirror_mean']:.3f}"
            rows.append(
                [
                    setting,
                    model,
                    f"{m['sw_mean']:.4f} ± {m['sw_std']:.4f}",
                    f"{m['sym_mean']:.4f} ± {m['sym_std']:.4f}",
                    f"{m['equi_mean']:.3g} ± {m['equi_std']:.2g}",
                    mirror,
                ]
            )
        rows.append([setting, "*perfect sampler*", f"{s['floor']['sw']:.4f}", f"{s['floor']['sym']:.4f}", 0, 0])
    header = ["setting", "model", "sliced W2 ↓", "symmetry error ↓", "equivariance error ↓", "mirrored (cloud) ↓"]
    lines = [reporting.markdown_table(header, rows)]
    lines += [
        "",
        f"Command: `{result['command']}` ({result['steps']} steps, seeds {result['seeds']}, torch "
        f"{result['versions']['torch']}, {result['versions']['threads']} thread); wall time "
        f"{result['wall_seconds'] / 60:.1f} min. Symmetry error: KS distance of the angles from uniform (SO(2)), "
        "TV distance of the six sector frequencies from 1/6 (C_6). Equivariance error at t = 0.5.",
    ]
    return "\n".join(lines) + "\n"


def _check_setting(setting):
    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of {SETTINGS}; got {setting!r}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m symviz.experiments.toys2d", description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--settings", nargs="+", choices=SETTINGS, default=list(SETTINGS))
    p.add_argument("--out", type=Path, default=Path("data/results/toys2d.json"))
    p.add_argument("--render-only", action="store_true", help="rewrite the .md next to --out from the stored JSON")
    add_checkpoint_arguments(p, every=500)
    args = p.parse_args(argv)
    if args.render_only:
        if not args.out.is_file():
            p.error(f"--render-only: {args.out} does not exist; run the experiment first")
        table = markdown_table(json.loads(args.out.read_text(encoding="utf-8")))
        reporting.write_text(args.out.with_suffix(".md"), MD_TITLE + table)
        print(table)
        return 0
    ckpt_dir = checkpoint_dir_of(args, p)
    sv.configure_threads(1)
    cmd = reporting.command_line(p.prog, argv)
    result = run(
        steps=args.steps,
        seeds=tuple(args.seeds),
        settings=tuple(args.settings),
        out=args.out,
        command=cmd,
        checkpoint_dir=ckpt_dir,
        checkpoint_every=args.checkpoint_every,
        resume=args.resume,
    )
    table = markdown_table(result)
    reporting.write_text(args.out.with_suffix(".md"), MD_TITLE + table)
    if not args.keep_checkpoints:
        names = [
            checkpoint_name(st, m, seed)
            for st in args.settings
            for m in MODELS
            for seed in args.seeds
            if m != "equivariant" or has_equivariant(st)
        ]
        remove_checkpoints(ckpt_dir, names)
    print(table)
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
