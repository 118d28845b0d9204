"""All (variant, seed) runs of the 1D toy as one batched model (arXiv 2502.09890 §4.1, Table 1;
docs/theory.md#toy1d).

R runs of the EquiNet ``D(x, t) = f([x, t]) - f([-x, t])`` (f: 2 -> 10 -> 5 -> 1, tanh) become one model whose
parameters are one ``(R, 91)`` tensor, a row per run. One step draws each run's random numbers from that run's own
generator (``toy1d_protocol.draw_randoms``, the reference order), builds the R batches element-wise
(``make_batch``, once per variant), computes the R losses and their gradients in one pass of batched products,
and takes one Adam + StepLR step on the stacked tensor (element-wise, so one optimizer is R optimizers).
Nothing mixes runs: run r's numbers do not depend on which other runs share the batch.

Exactness. The operations reproduce, per run, what the unbatched path (``toy1d_unbatched.train_one``: an
``OddNet``, autograd, ``torch.optim.Adam``) computes, so that each run keeps its numbers bitwise on this
project's CPU build (torch 2.13 with MKL):

- forward: ``baddbmm`` per layer, as ``nn.Linear``'s ``addmm``; the 1-output layer as ``W x^T`` (``nn.Linear``
  computes it as a matrix-vector product); both branches of the odd net in one pass (row-wise, no change);
- gradient: written out in autograd's order of operations (mean, product, square, difference; per layer the
  input gradient, ``tanh_backward``, row sums for the bias); the weight gradients are per-run ``mm`` calls,
  one per branch, added afterwards, because batched gemm sums the 200 rows in another order for some runs;
- optimizer: ``StackedAdam`` repeats ``torch.optim.Adam``'s single-tensor update and StepLR's chained decay.

tests/test_toy1d.py checks the gradient against autograd (float64), the optimizer against torch's, and a short
batched training against the unbatched runs (to a tight tolerance, which also admits BLAS builds that round
differently); ``benchmarks/toy1d_batched.py`` reports how many runs are bitwise equal and the speed-up.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import nn

from symviz._checks import check_positive_int
from symviz._io import check_writable
from symviz.experiments.toy1d_protocol import (
    BATCH,
    VAL_STARTS,
    check_variant,
    ddim_1d,
    draw_randoms,
    evaluation_starts,
    mad,
    make_batch,
    make_net,
    schedule,
    validation_error,
    w2_to_pm1,
)
from symviz.experiments.toy1d_unbatched import check_resume, curve_summary

__all__ = ["BatchedEquiNet", "StackedAdam", "init_runs", "train_batched"]


def _linear(x, w, b):
    """``y[r] = x[r] W[r]^T + b[r]``, x ``(R, M, in)``, W ``(R, out, in)``, b ``(R, 1, out)`` -> ``(R, M, out)``.

    A 1-output layer is computed as ``W x^T``: ``nn.Linear`` does a matrix-vector product there."""
    if w.shape[1] == 1:
        return torch.bmm(w, x.transpose(1, 2)).transpose(1, 2) + b
    return torch.baddbmm(b, x, w.transpose(1, 2))


class BatchedEquiNet(nn.Module):
    """R EquiNets (``toy1d_protocol.make_net``) with their parameters in one ``(R, P)`` tensor ``flat``.

    Args:
        nets: R ``OddNet`` modules of one architecture (linear layers with tanh between); their weights are copied.

    Row r of ``flat`` holds run r's layers in order, each weight ``(out, in)`` row-major then its bias ``(out,)``
    (P = 91 for the paper's 2 -> 10 -> 5 -> 1). ``forward(x (R, N, 1, 1), t (R, N)) -> (R, N, 1, 1)`` applies
    run r's net to ``x[r]`` at times ``t[r]``; :meth:`loss_and_grad` is the training step's loss and gradient,
    computed by hand in the order of operations that autograd uses for one ``OddNet`` (see the module docstring).
    """

    def __init__(self, nets):
        super().__init__()
        nets = list(nets)
        if not nets:
            raise ValueError("BatchedEquiNet needs at least one net")
        self.names = [name for name, m in nets[0].named_modules() if isinstance(m, nn.Linear)]
        self.shapes, columns = [], []
        for name in self.names:
            out, inp = nets[0].get_submodule(name).weight.shape
            self.shapes.append((int(out), int(inp)))
            layers = [n.get_submodule(name) for n in nets]
            columns += [torch.stack([m.weight.detach().reshape(-1) for m in layers])]
            columns += [torch.stack([m.bias.detach() for m in layers])]
        self.flat = nn.Parameter(torch.cat(columns, 1))
        self.num_runs = len(nets)

    def layers(self, flat: torch.Tensor | None = None) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``[(W (R, out, in), b (R, 1, out))]``, views of ``flat`` (default: the parameters)."""
        flat = self.flat.detach() if flat is None else flat
        r, lo, out = flat.shape[0], 0, []
        for o, i in self.shapes:
            w = flat[:, lo : lo + o * i].view(r, o, i)
            b = flat[:, lo + o * i : lo + o * i + o].view(r, 1, o)
            out.append((w, b))
            lo += o * i + o
        return out

    def _f(self, h, layers):
        """The MLP f on ``h (R, M, in)``; returns its output and each layer's input (for the backward)."""
        inputs = []
        for k, (w, b) in enumerate(layers):
            inputs.append(h)
            h = _linear(h, w, b)
            if k < len(layers) - 1:
                h = torch.tanh(h)
        return h, inputs

    def _odd(self, x, t, layers):
        """``f([x, t]) - f([-x, t])`` with both branches in one pass of ``2N`` rows (row-wise: no value changes)."""
        r, n = x.shape[0], x.shape[1]
        flat = x.reshape(r, n, 1)
        tf = t.to(x.dtype).reshape(r, n, 1)
        both, inputs = self._f(torch.cat([torch.cat([flat, tf], -1), torch.cat([-flat, tf], -1)], 1), layers)
        return both[:, :n] - both[:, n:], inputs

    @torch.no_grad()
    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self._odd(x, t, self.layers())[0].reshape(x.shape)

    @torch.no_grad()
    def loss_and_grad(self, xt, tn, target, weight) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-run loss ``mean_i (D(x_t, t)_i - target_i)^2 w_i`` ``(R,)`` and its gradient ``(R, P)``.

        xt, target: ``(R, B, 1, 1)``; tn, weight: ``(R, B)``. The gradient follows autograd's arithmetic for
        one run (mean, product, square, difference, then per layer: weight gradient ``grad^T x`` by per-run
        ``mm`` per branch, bias gradient as row sums per branch, input gradient, tanh backward), so each row is
        the gradient ``loss.backward()`` gives the unbatched ``OddNet``.
        """
        r, n = xt.shape[0], xt.shape[1]
        layers = self.layers()
        d, inputs = self._odd(xt, tn, layers)
        err = d.reshape(r, n) - target.reshape(r, n)
        losses = (err**2 * weight).mean(1)
        g = (torch.ones(r, 1, dtype=xt.dtype) / n).expand(r, n) * weight  # mean, then the product
        g = (g * (2.0 * err)).reshape(r, n, 1)  # the square
        grad_out = torch.cat([g, -g], 1)  # the odd net's two branches
        grads = []
        for k in range(len(self.shapes) - 1, -1, -1):
            w = layers[k][0]
            x = inputs[k]
            halves = zip(grad_out.reshape(2 * r, n, -1).transpose(1, 2).unbind(0), x.reshape(2 * r, n, -1).unbind(0))
            gw = torch.stack([a.mm(b) for a, b in halves]).view(r, 2, *w.shape[1:])
            gb = grad_out[:, :n].sum(1) + grad_out[:, n:].sum(1)
            grads = [(gw[:, 0] + gw[:, 1]).reshape(r, -1), gb.reshape(r, -1)] + grads
            if k:
                grad_out = torch.ops.aten.tanh_backward(torch.bmm(grad_out, w), x)
        return losses, torch.cat(grads, 1)

    def run_state(self, r: int) -> dict:
        """Run r's weights as an ``OddNet`` state dict (copies)."""
        state = {}
        for name, (w, b) in zip(self.names, self.layers()):
            state[f"{name}.weight"] = w[r].clone()
            state[f"{name}.bias"] = b[r, 0].clone()
        return state

    @torch.no_grad()
    def load_run(self, r: int, state: dict) -> None:
        """Put an ``OddNet`` state dict into run r."""
        for name, (w, b) in zip(self.names, self.layers()):
            w[r].copy_(state[f"{name}.weight"])
            b[r, 0].copy_(state[f"{name}.bias"])


class StackedAdam:
    """Adam (lr 1e-3, betas (0.9, 0.999), eps 1e-8) with StepLR(8000, 0.8) on one stacked tensor.

    The same operations, in the same order and with the same scalars, as ``torch.optim.Adam``'s single-tensor
    update followed by ``StepLR.step()`` (``toy1d_unbatched.optimizer_of``); element-wise, so one instance over
    ``(R, P)`` is R optimizers, without the per-call overhead of ``torch.optim``.
    """

    def __init__(
        self,
        param: torch.Tensor,
        lr: float = 1e-3,
        betas=(0.9, 0.999),
        eps: float = 1e-8,
        step_size: int = 8000,
        gamma: float = 0.8,
    ):
        self.param, self.lr, self.betas, self.eps = param, lr, betas, eps
        self.step_size, self.gamma = step_size, gamma
        self.exp_avg = torch.zeros_like(param)
        self.exp_avg_sq = torch.zeros_like(param)
        self.steps = 0

    @torch.no_grad()
    def step(self, grad: torch.Tensor) -> None:
        beta1, beta2 = self.betas
        self.steps += 1
        step = float(self.steps)  # torch keeps the count in a float tensor and reads it back with .item()
        self.exp_avg.lerp_(grad, 1 - beta1)
        self.exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        step_size = self.lr / (1 - beta1**step)
        denom = (self.exp_avg_sq.sqrt() / (1 - beta2**step) ** 0.5).add_(self.eps)
        self.param.addcdiv_(self.exp_avg, denom, value=-step_size)
        if self.steps % self.step_size == 0:  # StepLR: multiply, as its chained form does
            self.lr = self.lr * self.gamma

    def state_dict(self) -> dict:
        return {
            "exp_avg": self.exp_avg.clone(),
            "exp_avg_sq": self.exp_avg_sq.clone(),
            "steps": self.steps,
            "lr": self.lr,
        }

    def load_state_dict(self, state: dict) -> None:
        self.exp_avg.copy_(state["exp_avg"])
        self.exp_avg_sq.copy_(state["exp_avg_sq"])
        self.steps, self.lr = int(state["steps"]), float(state["lr"])


def init_runs(pairs):
    """Each run's validation starts, network and generator, from ``torch.manual_seed(seed)`` in the reference
    order (validation starts, then weights); the generator continues that stream for the training draws.

    Returns ``(model, val_starts (R, 1000, 1, 1), generators)``. Reseeds the global torch stream (as the
    unbatched path does).
    """
    nets, starts, gens = [], [], []
    for _, seed in pairs:
        torch.manual_seed(seed)
        starts.append(torch.randn(VAL_STARTS, 1, 1).abs())
        nets.append(make_net())
        gen = torch.Generator()
        gen.set_state(torch.get_rng_state())
        gens.append(gen)
    return BatchedEquiNet(nets), torch.stack(starts), gens


DRAW_CHUNK = 250  # training steps whose random numbers are drawn, and batches built, at once


class _Draws:
    """The training batches of all runs, drawn ahead ``chunk`` steps at a time.

    Each run's numbers come from its own generator, step after step, in ``draw_randoms``' order, so they are
    those of drawing step by step; ``make_batch`` (element-wise) then builds a whole chunk once per variant.
    ``start`` and ``states`` (the generators before the current chunk) are what a checkpoint stores: a resume
    draws that chunk again and continues inside it.
    """

    def __init__(self, pairs, gens, alpha, sigma, chunk: int | None = None):
        self.pairs, self.gens, self.alpha, self.sigma = pairs, gens, alpha, sigma
        self.chunk = chunk or DRAW_CHUNK
        self.start, self.states, self.batches = None, None, None

    def batch(self, step: int):
        """x_t and target ``(R, 200, 1, 1)``, time and weight ``(R, 200)`` of training step ``step``."""
        if self.start is None or not self.start <= step < self.start + self.chunk:
            self._fill(step)
        i = step - self.start
        return tuple(b[i] for b in self.batches)

    def restore(self, start: int, states) -> None:
        """Set the generators to ``states``, the ones before the chunk that began at ``start``, and draw it."""
        for g, state in zip(self.gens, states):
            g.set_state(state)
        self._fill(start)

    def _fill(self, start: int) -> None:
        self.start, self.states = start, [g.get_state() for g in self.gens]
        draws = [[draw_randoms(v, g) for (v, _), g in zip(self.pairs, self.gens)] for _ in range(self.chunk)]
        groups = {}
        for i, (v, _) in enumerate(self.pairs):
            groups.setdefault(v, []).append(i)
        r, c = len(self.pairs), self.chunk
        shapes = ((1, 1), (), (1, 1), ())
        self.batches = [torch.empty(c, r, BATCH, *shape) for shape in shapes]
        for variant, rows in groups.items():
            t = torch.cat([d[i][0] for d in draws for i in rows])
            flips = torch.cat([d[i][1] for d in draws for i in rows]) if variant == "aug" else None
            noise = torch.cat([d[i][2] for d in draws for i in rows])
            parts = make_batch(variant, t, flips, noise, self.alpha, self.sigma)
            for dst, src, shape in zip(self.batches, parts, shapes):
                dst[:, rows] = src.reshape(c, len(rows), BATCH, *shape)


def train_batched(
    pairs,
    steps: int = 100_000,
    val_every: int = 500,
    log_every: int = 250,
    progress: bool = False,
    eval_samples: int = 100_000,
    checkpoint_path=None,
    checkpoint_every: int | None = None,
    resume: bool = False,
) -> list[dict]:
    """Train the (variant, seed) ``pairs`` as one batched model and evaluate each run's best checkpoint.

    Returns one dict per pair, in order, with the keys of ``toy1d_unbatched.train_one`` (``seconds`` is the
    batch's wall time divided by the number of runs; ``batch_seconds`` and ``batch_size`` say so). The other
    arguments are those of ``train_one``; the checkpoint holds the whole batch (stacked weights, optimizer,
    every run's generator, curves and best weights) and resumes only with the same pairs and settings.
    """
    from symviz.train import load_checkpoint, save_checkpoint

    pairs = [(check_variant(v), int(s)) for v, s in pairs]
    if not pairs or len(set(pairs)) != len(pairs):
        raise ValueError(f"pairs must be distinct (variant, seed) pairs, at least one; got {pairs}")
    steps = check_positive_int(steps, "steps")
    if checkpoint_every is not None:
        checkpoint_every = check_positive_int(checkpoint_every, "checkpoint_every")
    if resume and checkpoint_path is None:
        raise ValueError("resume=True needs checkpoint_path=... (the checkpoint to continue from)")
    if checkpoint_path is not None:
        check_writable(checkpoint_path, "checkpoint_path")
    start = time.perf_counter()
    model, val_starts, gens = init_runs(pairs)
    r_all = len(pairs)
    opt = StackedAdam(model.flat.data)
    draws = _Draws(pairs, gens, *schedule())
    curves = [{"step": [], "loss": [], "val_step": [], "val_error": []} for _ in pairs]
    best_err, best_step, best_state = [float("inf")] * r_all, [0] * r_all, [None] * r_all
    acc, cnt, first, seconds_before = [0.0] * r_all, 0, 1, 0.0
    run_info = {"pairs": [list(p) for p in pairs], "val_every": int(val_every), "log_every": int(log_every)}
    if resume and Path(checkpoint_path).exists():
        state = load_checkpoint(checkpoint_path)  # checked first, loaded below
        tr = check_resume(state, run_info, steps, checkpoint_path)
        model.load_state_dict(state["model"])
        opt.load_state_dict(tr["adam"])
        draws.restore(int(tr["draw_start"]), tr["rng"])
        curves = [{k: list(v) for k, v in c.items()} for c in tr["curves"]]
        best_err, best_step = [float(e) for e in tr["best_error"]], [int(s) for s in tr["best_step"]]
        best_state, acc = list(tr["best_state"]), [float(a) for a in tr["acc"]]
        cnt, first, seconds_before = int(tr["cnt"]), int(state["step"]) + 1, float(tr["seconds"])

    def save(step):
        training = {
            "run": run_info,
            "rng": draws.states,
            "draw_start": draws.start,
            "adam": opt.state_dict(),
            "curves": curves,
            "best_error": best_err,
            "best_step": best_step,
            "best_state": best_state,
            "acc": acc,
            "cnt": cnt,
            "seconds": seconds_before + time.perf_counter() - start,
        }
        save_checkpoint(checkpoint_path, model, step=step, training=training)

    it = range(first, steps + 1)
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc=f"{r_all} runs batched", leave=False, total=steps, initial=first - 1)
    for step in it:
        xt, tn, target, weight = draws.batch(step)
        losses, grad = model.loss_and_grad(xt, tn, target, weight)
        opt.step(grad)
        acc, cnt = [a + v for a, v in zip(acc, losses.tolist())], cnt + 1
        if step % log_every == 0 or step == steps:
            for c, a in zip(curves, acc):
                c["step"].append(step)
                c["loss"].append(a / cnt)
            acc, cnt = [0.0] * r_all, 0
        # as the unbatched path: after updates 501, 1001, ..., ties (<=) replace the best
        if (step % val_every == 1 and step > 1) or (step == steps and best_state[0] is None):
            samples = ddim_1d(model, val_starts)
            for i in range(r_all):
                err = validation_error(samples[i])
                curves[i]["val_step"].append(step)
                curves[i]["val_error"].append(err)
                if err <= best_err[i]:
                    best_err[i], best_step[i], best_state[i] = err, step, model.run_state(i)
        if checkpoint_path is not None and checkpoint_every and (step % checkpoint_every == 0 or step == steps):
            save(step)
    for i, state in enumerate(best_state):
        model.load_run(i, state)
    starts = evaluation_starts(eval_samples)
    samples = ddim_1d(model, starts.expand(r_all, *starts.shape).contiguous())
    seconds = seconds_before + time.perf_counter() - start
    return [
        {
            "variant": v,
            "seed": s,
            "mad": mad(samples[i]),
            "w2": w2_to_pm1(samples[i]),
            "best_step": best_step[i],
            "best_val_error": best_err[i],
            "loss_last_half": curve_summary(curves[i]["step"], curves[i]["loss"], steps),
            "seconds": seconds / r_all,
            "batch_seconds": seconds,
            "batch_size": r_all,
            "curve": curves[i],
            "state_dict": best_state[i],
        }
        for i, (v, s) in enumerate(pairs)
    ]
