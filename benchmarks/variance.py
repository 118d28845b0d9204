"""Gradient-variance ratio, orbit target vs augmentation, per noise level (Theorem 1, arXiv 2502.09890 §3.2;
docs/theory.md#theorem-1).

For each noise level t the per-sample parameter gradients of the loss are drawn at a network pre-trained
with the augmentation loss (both losses share the same minimiser, E[x0 | x_t], so this is where the gradient
noise of late training lives), and ``sv.metrics.gradient_variance`` (trace of the covariance) is compared.

Run:  python benchmarks/variance.py            (writes benchmarks/results/variance.md)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import symviz as sv
from symviz.data import toys
from symviz.experiments.reporting import markdown_table, status, write_text
from symviz.train import fit

T_VALUES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.98]


def setting(name: str):
    gen = torch.Generator().manual_seed(0)
    if name == "SO2 blob (2D, 1 point)":
        data, group = toys.blob_2d(4096, generator=gen), sv.groups.SO2()
    else:  # SO3, one fixed 20-point cloud (the data distribution is one orbit)
        x = torch.randn(20, 3, generator=gen) * 0.5
        data, group = (x - x.mean(0)).expand(4096, 20, 3).clone(), sv.groups.SO3()
    n, d = data.shape[-2:]
    torch.manual_seed(0)
    net = sv.nets.TimeMLP(n, d, hidden=128, depth=3)
    return data, group, net


def run(num_samples: int, pretrain_steps: int, ks: list[int]) -> str:
    sched = sv.diffusion.VPSchedule("cosine")
    lines = []
    for name in ["SO2 blob (2D, 1 point)", "SO3 20-point cloud (3D)"]:
        data, group, net = setting(name)
        t0 = time.perf_counter()
        fit(
            net,
            sv.losses.DenoisingLoss(sched, "augment", group),
            data,
            steps=pretrain_steps,
            batch_size=256,
            seed=0,
            progress=False,
        )
        train_s = time.perf_counter() - t0
        ts = torch.tensor(T_VALUES)
        gv = {}
        for mode, k in [("augment", None)] + [("orbit", k) for k in ks]:
            loss = sv.losses.DenoisingLoss(sched, mode, group, num_samples=k or 1)
            gv[(mode, k)] = sv.metrics.gradient_variance(
                loss, net, data, ts, num_samples=num_samples, generator=torch.Generator().manual_seed(1)
            )
        sig = sched.sigma(ts)
        rows = [
            [f"{t:.2f}", f"{float(sig[i]):.2f}", f"{float(gv[('augment', None)][i]):.3g}"]
            + [f"{float(gv[('orbit', k)][i] / gv[('augment', None)][i]):.3f}" for k in ks]
            for i, t in enumerate(T_VALUES)
        ]
        lines += [
            f"\n### {name}  (net pre-trained {pretrain_steps} augment steps in {train_s:.0f} s)\n",
            markdown_table(["t", "sigma_t", "Var augment", *(f"ratio K={k}" for k in ks)], rows),
        ]
        worst = {
            k: max(float(gv[("orbit", k)][i] / gv[("augment", None)][i]) for i in range(len(T_VALUES))) for k in ks
        }
        worst_hi = {
            k: max(
                (float(gv[("orbit", k)][i] / gv[("augment", None)][i]) for i in range(len(T_VALUES)) if sig[i] >= 0.3),
                default=float("nan"),
            )
            for k in ks
        }
        lines.append("")
        for k in ks:
            ok = worst[k] < 1 and worst_hi[k] <= 0.5
            lines.append(
                f"- K={k}: max ratio {worst[k]:.3f} (goal < 1); max ratio where sigma_t >= 0.3: "
                f"{worst_hi[k]:.3f} (goal <= 0.5) -> {status(ok)}"
            )
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--num-samples", type=int, default=512, help="per-sample gradients per noise level")
    p.add_argument("--pretrain-steps", type=int, default=1500)
    p.add_argument("--ks", type=int, nargs="+", default=[64, 1024, 4096])
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "variance.md")
    args = p.parse_args()
    sv.configure_threads(1)
    start = time.perf_counter()
    body = run(args.num_samples, args.pretrain_steps, args.ks)
    text = (
        f"## Gradient variance: orbit / augment (trace of per-sample gradient covariance)\n\n"
        f"Command: `python benchmarks/variance.py` ({args.num_samples} per-sample gradients per t, 1 thread, "
        f"torch {torch.__version__}; total {time.perf_counter() - start:.0f} s)\n{body}\n"
    )
    print(text)
    write_text(args.out, text)


if __name__ == "__main__":
    main()
