"""Training-step time of the orbit loss relative to the plain loss, at K in {1, 16, 64, 256, 1024}.

Two settings (sizes of docs/architecture.md#cpu-costs): a 2D MLP (4 x 256, batch 512, SO(2), single points) and an EGNN
(d 64, 4 layers) on 3D clouds of 20 points (batch 32, SO(3)). Steps of the plain and orbit losses are
interleaved so that machine noise hits both alike; the table reports median step times and their ratio.

Run:  python benchmarks/overhead.py                  (writes benchmarks/results/overhead.md)
      python benchmarks/overhead.py --device cuda    (on a GPU; writes benchmarks/results/overhead_cuda.md)
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

import symviz as sv
from symviz.data import toys
from symviz.experiments.reporting import markdown_table, status, write_text

KS = [1, 16, 64, 256, 1024]


def _setting(name, device):
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    if name == "mlp2d":
        data = toys.blob_2d(4096, generator=gen)
        return data.to(device), sv.groups.SO2(), sv.nets.TimeMLP(1, 2, hidden=256, depth=4).to(device), 512
    x = torch.randn(4096, 20, 3, generator=gen)
    data = x - x.mean(-2, keepdim=True)
    return data.to(device), sv.groups.SO3(), sv.nets.EGNN(hidden=64, layers=4).to(device), 32


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)  # GPU kernels run asynchronously: time until they finish


def _step(net, opt, loss_fn, batch, gen):
    _sync(batch.device)
    t0 = time.perf_counter()
    loss = loss_fn(net, batch, generator=gen).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    _sync(batch.device)
    return time.perf_counter() - t0


def measure(name: str, steps: int, device="cpu", batch_mult: int = 1) -> list[tuple[int, float, float]]:
    device = torch.device(device)
    data, group, net, bs = _setting(name, device)
    bs *= batch_mult
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    sched = sv.diffusion.VPSchedule()
    plain = sv.losses.DenoisingLoss(sched, "plain")
    gen = torch.Generator(device=device).manual_seed(1)
    rows = []
    for k in KS:
        orbit = sv.losses.DenoisingLoss(sched, "orbit", group, num_samples=k)
        tp, to = [], []
        for i in range(steps + 5):
            batch = data[torch.randint(0, len(data), (bs,), generator=gen, device=device)]
            a, b = (plain, orbit) if i % 2 == 0 else (orbit, plain)
            ta, tb = _step(net, opt, a, batch, gen), _step(net, opt, b, batch, gen)
            if i >= 5:  # warm-up excluded
                (tp if a is plain else to).append(ta)
                (to if a is plain else tp).append(tb)
        rows.append((k, statistics.median(tp) * 1e3, statistics.median(to) * 1e3))
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=60, help="timed steps per loss and K")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--batch-mult", type=int, default=1, help="multiply both batch sizes (default 1)")
    p.add_argument("--out", type=Path, default=None, help="default results/overhead.md (overhead_cuda.md on a GPU)")
    args = p.parse_args()
    sv.configure_threads(1)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: torch sees no CUDA device on this machine")
    name = "overhead" + ("" if device.type == "cpu" else f"_{device.type}")
    name += ("" if args.batch_mult == 1 else f"_x{args.batch_mult}") + ".md"
    out = args.out or Path(__file__).parent / "results" / name
    where = f"1 thread, torch {torch.__version__}"
    if device.type == "cuda":
        where = f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    cmd = "python benchmarks/overhead.py" + ("" if device.type == "cpu" else f" --device {args.device}")
    cmd += "" if args.batch_mult == 1 else f" --batch-mult {args.batch_mult}"
    lines = [
        f"## Training-step overhead: orbit loss / plain loss ({device.type})",
        "",
        f"Command: `{cmd}` (median of {args.steps} interleaved steps, {where})",
    ]
    m = args.batch_mult
    for name, title in [
        ("mlp2d", f"2D MLP 4x256, batch {512 * m}, SO(2)"),
        ("egnn3d", f"EGNN d64 x 4, {32 * m} x 20 atoms, SO(3)"),
    ]:
        rows = measure(name, args.steps, device, m)
        table = [[k, f"{tp:.2f}", f"{to:.2f}", f"{to / tp:.3f}"] for k, tp, to in rows]
        lines += ["", f"### {title}", "", markdown_table(["K", "plain ms/step", "orbit ms/step", "ratio"], table)]
        if name == "egnn3d":
            r64 = next(to / tp for k, tp, to in rows if k == 64)
            lines += [
                "",
                f"Goal: <= 1.10x at K = 64 for the 3D net: {r64:.3f}x -> {status(r64 <= 1.10)}",
            ]
    text = "\n".join(lines) + "\n"
    print(text)
    write_text(out, text)


if __name__ == "__main__":
    main()
