"""Ship a trained conformer model: copy its weights into the package with a SHA-256 and a README entry.

    python -m symviz.experiments.ship_checkpoint runs/egnn_orbit.pt --name qm9_egnn_orbit

Writes ``symviz/checkpoints/NAME.pt`` (model weights and meta only: the optimizer state is dropped, so the
file stays small), ``NAME.sha256`` (checked by :func:`symviz.conformers.load_model` on every load) and
rewrites ``symviz/checkpoints/README.md`` from the meta of every shipped checkpoint (command, commit, data
SHA-256, wall time, hardware, validation loss, and the versions block when the checkpoint records one). The
files are package data, so a wheel install finds them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import torch

from symviz._io import atomic_write
from symviz.experiments.reporting import write_text
from symviz.train import load_checkpoint

__all__ = ["ship", "render_readme", "main"]

DEST = Path(__file__).resolve().parents[1] / "checkpoints"
MAX_BYTES = 5 * 2**20


def ship(src, name: str, dest: Path = DEST) -> Path:
    """Copy ``src`` (a ``qm9_train`` checkpoint) to ``dest/name.pt`` with its ``.sha256``; returns the path."""
    state = load_checkpoint(src)
    meta = state.get("meta") or {}
    for key in ("spec", "command", "commit", "data_sha256", "wall_seconds", "hardware"):
        if key not in meta:
            raise ValueError(f"{src}: meta lacks {key!r}; ship only checkpoints written by qm9_train")
    slim = {"model": state["model"], "optimizer": None, "step": state["step"], "history": state["history"]}
    slim["meta"] = meta | {"shipped_from": str(src), "max_atoms": 29}
    out = atomic_write(dest / f"{name}.pt", lambda fh: torch.save(slim, fh))
    if out.stat().st_size > MAX_BYTES:
        out.unlink()
        raise ValueError(f"{name}.pt would be {out.stat().st_size} bytes; shipped checkpoints must stay <= 5 MB")
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    write_text(dest / f"{name}.sha256", f"{digest}  {name}.pt\n")
    write_text(dest / "README.md", render_readme(dest))
    return out


def _extra_lines(meta: dict) -> list[str]:
    """The README line for a model trained with ``qm9_train --extra-data`` (none otherwise)."""
    if "extra_data_sha256" not in meta:
        return []
    n = int(meta["extra_molecules"])
    return [
        f"- extra train data SHA-256: `{meta['extra_data_sha256']}` ({n} of the molecules above: QM9 B3LYP "
        f"geometries, one conformer each, from `python -m symviz.data.build_qm9_extra --n {n} --out "
        f"data/qm9_b3lyp_extra.npz`, which needs the `[data]` extra)"
    ]


def render_readme(dest: Path = DEST) -> str:
    lines = [
        "# Shipped conformer models",
        "",
        "Made by the project's own commands; `symviz.conformers.load_model(name)` verifies each file against its",
        "`.sha256` and reads it with `torch.load(weights_only=True)`. Regenerate this page with",
        "`python -m symviz.experiments.ship_checkpoint CHECKPOINT --name NAME` (it copies the weights here).",
        "Scores: `data/results/qm9_conformers.md` (`python -m symviz.experiments.qm9_eval`).",
        "",
    ]
    for pt in sorted(dest.glob("*.pt")):
        meta = torch.load(pt, map_location="cpu", weights_only=True)["meta"]
        digest = (dest / f"{pt.stem}.sha256").read_text().split()[0]
        spec = json.loads(meta["spec"])
        lines += [
            f"## `{pt.name}` ({pt.stat().st_size / 2**20:.2f} MB)",
            "",
            f"- network: `{json.dumps(spec)}`",
            f"- command: `{meta['command']}`",
            f"- commit: `{meta['commit']}`",
            f"- data SHA-256: `{meta['data_sha256']}` (symviz/data/files/qm9_xtb_confs_v2.npz, "
            f"{meta.get('train_conformers')} train conformers of {meta.get('train_molecules')} molecules)",
            *_extra_lines(meta),
            f"- wall time: {float(meta['wall_seconds']) / 60:.1f} min of training on {meta['hardware']}",
            f"- validation loss: {float(meta['val_loss']):.4f}" if "val_loss" in meta else "- validation loss: n/a",
            f"- file SHA-256: `{digest}`",
        ]
        if meta.get("versions"):
            lines.append(f"- versions: `{json.dumps(meta['versions'])}`")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m symviz.experiments.ship_checkpoint", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("src", type=Path)
    p.add_argument("--name", required=True)
    args = p.parse_args(argv)
    out = ship(args.src, args.name)
    print(f"wrote {out} ({out.stat().st_size} bytes) and {out.with_suffix('.sha256').name}; README.md updated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
