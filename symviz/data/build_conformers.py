"""Build the offline QM9 conformer set refined with GFN2-xTB (``symviz/data/files/qm9_xtb_confs_v2.npz``;
docs/data.md#recipe).

Usage (one single-threaded process per worker; resumable)::

    OMP_NUM_THREADS=1 python -m symviz.data.build_conformers --out symviz/data/files/qm9_xtb_confs_v2.npz \
        --n-train 2000 --n-val 200 --n-test 200 --seed 1 --workers 1

Recipe per molecule (QM9 graph + DFT geometry, stereo from 3D; :mod:`symviz.data.qm9`):

1. ETKDGv3 seeds, ``n = min(max_seeds, 50 + 50 * n_rot)`` (``randomSeed != 0``; seed 0 is refused because
   RDKit then returns identical conformers), plus the B3LYP geometry itself as one extra seed.
2. Optional MMFF94 pre-optimisation + a tight pre-de-duplication (heavy-atom RMSD < ``pre_dedup_rmsd`` *and*
   |ΔE_MMFF| < ``pre_dedup_de`` kcal/mol) and a generous MMFF window, to cut the number of xTB runs.
3. GFN2-xTB optimisation (``tblite.ase.TBLite``) with an ASE optimizer to ``fmax`` eV/Å.
4. Conformers whose connectivity (re-perceived from 3D) or stereo (assigned from 3D) changed are dropped.
5. 6 kcal/mol window; greedy de-duplication in energy order at 0.125 Å heavy-atom ``GetBestRMS``;
   Boltzmann weights at 298.15 K.

Molecules are drawn by a seeded permutation of all QM9 indices that is dealt into three disjoint streams
(position ``i % 10 == 0`` → test, ``== 1`` → val, else → train), so enlarging ``--n-*`` later only appends
molecules and never moves one between splits. Each finished molecule (success *or* counted failure) is written
atomically to ``<out>.cache/<qm9_index>.npz``; a restart skips those. ``--assemble-only`` rebuilds the npz.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from symviz._io import atomic_write  # noqa: E402
from symviz.data import conformer_pipeline as cp  # noqa: E402
from symviz.data.ensembles import write_ensembles_npz  # noqa: E402

__all__ = ["split_streams", "main", "build"]

SPLITS = ("test", "val", "train")


def split_streams(all_indices, seed: int) -> dict[str, np.ndarray]:
    """Deal a seeded permutation of ``all_indices`` into disjoint test/val/train streams (1:1:8)."""
    perm = np.random.default_rng(seed).permutation(np.asarray(sorted(all_indices), dtype=np.int64))
    pos = np.arange(len(perm)) % 10
    return {"test": perm[pos == 0], "val": perm[pos == 1], "train": perm[pos >= 2]}


def _atomic_save(path: Path, **arrays) -> None:
    atomic_write(path, lambda fh: np.savez_compressed(fh, **arrays))


def _shard_path(cache: Path, idx: int) -> Path:
    return cache / f"{int(idx)}.npz"


def _write_shard(cache: Path, idx: int, result: dict) -> None:
    meta = {k: v for k, v in result.items() if k not in ("z", "pos", "energies", "weights")}
    arrays = {"meta": np.array(json.dumps(meta))}
    if result.get("status") == "ok":
        arrays.update(z=result["z"], pos=result["pos"], energies=result["energies"], weights=result["weights"])
    _atomic_save(_shard_path(cache, idx), **arrays)


def read_shard(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as f:
        out = json.loads(str(f["meta"]))
        for k in ("z", "pos", "energies", "weights"):
            if k in f.files:
                out[k] = f[k]
    return out


def _worker(args):
    rec, params, cache = args
    t0 = time.time()
    try:
        result = cp.process_record(rec, params)
    except Exception as exc:  # never lose the whole build to one molecule; count it
        result = {"status": "fail", "reason": f"exception:{type(exc).__name__}", "error": str(exc)[:300]}
    result["qm9_index"] = int(rec.index)
    result["params_hash"] = params_hash(params)
    result["seconds"] = round(time.time() - t0, 3)
    _write_shard(Path(cache), rec.index, result)
    return result


def params_hash(params) -> str:
    """Short hash of the recipe parameters; shards built with other parameters are never mixed."""
    import hashlib

    return hashlib.sha256(json.dumps(params.as_dict(), sort_keys=True).encode()).hexdigest()[:12]


def _plan(streams, targets, done: dict) -> list[tuple[str, int]]:
    """Molecules still to run for the first split (order test → val → train) that is below its target.

    Enough molecules are planned to reach the target if all succeed; failures are topped up on the next
    call, before any later split starts, so test and val are always finished first.
    """
    for split in SPLITS:
        todo, n_ok = [], 0
        for idx in streams[split]:
            if n_ok >= targets[split]:
                break
            st = done.get(int(idx))
            if st is None:
                todo.append((split, int(idx)))
                n_ok += 1  # optimistic
            elif st == "ok":
                n_ok += 1
        if todo:
            return todo
    return []


def _scan_cache(cache: Path, expect_hash: str | None = None) -> dict[int, str]:
    done = {}
    for p in cache.glob("*.npz"):
        if ".tmp" in p.name:
            continue
        try:
            sh = read_shard(p)
        except Exception:
            p.unlink(missing_ok=True)  # unreadable shard: recompute it
            continue
        if expect_hash is not None and sh.get("params_hash") != expect_hash:
            raise RuntimeError(
                f"{p}: shard was built with other recipe parameters (hash {sh.get('params_hash')} != "
                f"{expect_hash}); use the original options to resume, or another --cache directory"
            )
        done[int(p.stem)] = sh["status"]
    return done


def assemble(out: Path, cache: Path, streams, targets, meta: dict) -> dict:
    """Write ``out`` (+ .sha256) from finished shards: the first ``targets[split]`` successes per stream."""
    done = _scan_cache(cache)
    ensembles, splits, fails, seconds = [], [], Counter(), []
    for split in SPLITS:
        n_ok = 0
        for idx in streams[split]:
            if n_ok >= targets[split] or int(idx) not in done:
                break  # keep stream order contiguous so later extension is reproducible
            sh = read_shard(_shard_path(cache, idx))
            seconds.append(sh.get("seconds", 0.0))
            if sh["status"] != "ok":
                fails[sh.get("reason", "unknown")] += 1
                continue
            n_ok += 1
            ensembles.append(sh)
            splits.append(split)
    n_confs = [len(e["weights"]) for e in ensembles]
    meta = dict(meta)
    meta.update(
        counts={s: splits.count(s) for s in SPLITS},
        failures=dict(fails),
        n_conformers_total=int(sum(n_confs)),
        cpu_seconds_molecules=round(float(sum(seconds)), 1),
        conformer_stats=_stats(n_confs),
        assembled_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
    )
    write_ensembles_npz(out, ensembles, splits, meta)
    return meta


def _stats(n_confs):
    if not n_confs:
        return {}
    a = np.asarray(n_confs)
    return {
        "mean": round(float(a.mean()), 2),
        "median": float(np.median(a)),
        "p75": float(np.percentile(a, 75)),
        "p90": float(np.percentile(a, 90)),
        "max": int(a.max()),
        "frac_K1": round(float((a == 1).mean()), 3),
    }


def params_from_args(args) -> cp.BuildParams:
    params = cp.BuildParams(
        max_seeds=args.max_seeds,
        mmff_preopt=not args.no_mmff,
        fmax=args.fmax,
        optimizer=args.optimizer,
        max_steps=args.max_steps,
        seed=args.seed,
    )
    params.check()
    return params


def base_meta(params: cp.BuildParams) -> dict:
    return {
        "label": "QM9-ETKDG/GFN2-xTB references (not GEOM)",
        "command": " ".join(["python -m symviz.data.build_conformers", *sys.argv[1:]]),
        "molecule_seed": params.seed,
        "split_rule": "seeded permutation of QM9 indices; position%10==0 test, ==1 val, else train",
        "params": params.as_dict(),
        "params_hash": params_hash(params),
        "versions": cp.versions(),
    }


def build(args, records: dict | None = None) -> dict:
    """Run (or resume) the build described by ``args`` (see :func:`parse_args`).

    ``records``: optional ``{qm9_index: QM9Record}`` (tests); default: all of QM9 from qm9pack.
    """
    out = Path(args.out)
    cache = Path(args.cache or str(out) + ".cache")
    cache.mkdir(parents=True, exist_ok=True)
    params = params_from_args(args)
    t_start = time.time()
    if records is None:
        from symviz.data import qm9

        print("reading QM9 CSVs from qm9pack ...", flush=True)
        records = {r.index: r for r in qm9.iter_qm9_records()}
    streams = split_streams(records, args.seed)
    targets = {"train": args.n_train, "val": args.n_val, "test": args.n_test}
    meta = base_meta(params)
    from tqdm import tqdm

    pool = None
    if args.workers > 1:
        import multiprocessing as mp

        pool = mp.get_context("spawn").Pool(args.workers)
    last_assemble = time.time()
    try:
        while True:
            done = _scan_cache(cache, params_hash(params))
            todo = _plan(streams, targets, done)
            if not todo:
                break
            jobs = [(records[i], params, str(cache)) for _, i in todo]
            it = pool.imap(_worker, jobs) if pool else map(_worker, jobs)
            for _res in tqdm(it, total=len(jobs), desc="molecules", mininterval=5, file=sys.stdout):
                if args.assemble_every and time.time() - last_assemble > args.assemble_every:
                    assemble(out, cache, streams, targets, meta | {"wall_seconds": time.time() - t_start})
                    last_assemble = time.time()
    finally:
        if pool:
            pool.close()
            pool.join()
    meta["wall_seconds_this_run"] = round(time.time() - t_start, 1)
    final = assemble(out, cache, streams, targets, meta)
    print(json.dumps({k: final[k] for k in ("counts", "failures", "n_conformers_total", "conformer_stats")}))
    return final


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="symviz/data/files/qm9_xtb_confs_v2.npz")
    p.add_argument("--cache", default=None, help="shard directory (default: <out>.cache)")
    p.add_argument("--n-train", type=int, default=2000)
    p.add_argument("--n-val", type=int, default=200)
    p.add_argument("--n-test", type=int, default=200)
    p.add_argument("--seed", type=int, default=1, help="molecule sampling + ETKDG seed base (must be != 0)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--max-seeds", type=int, default=100, help="cap on ETKDG seeds (recipe: 300)")
    p.add_argument("--no-mmff", action="store_true", help="skip MMFF pre-optimisation/pre-de-duplication")
    p.add_argument("--optimizer", default="LBFGS", choices=["LBFGS", "BFGS", "FIRE"])
    p.add_argument("--fmax", type=float, default=0.05, help="ASE force threshold, eV/Å")
    p.add_argument("--max-steps", type=int, default=400)
    p.add_argument("--assemble-every", type=float, default=900.0, help="seconds between interim npz writes")
    p.add_argument("--assemble-only", action="store_true")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.seed == 0:
        raise SystemExit("--seed must be != 0 (RDKit ETKDG with randomSeed=0 returns identical conformers)")
    if args.assemble_only:
        from symviz.data import qm9

        idx = [r.index for r in qm9.iter_qm9_records()]
        streams = split_streams(idx, args.seed)
        targets = {"train": args.n_train, "val": args.n_val, "test": args.n_test}
        cache = Path(args.cache or args.out + ".cache")
        params = params_from_args(args)
        _scan_cache(cache, params_hash(params))  # refuses a cache built with other parameters
        meta = base_meta(params)
        print(json.dumps(assemble(Path(args.out), cache, streams, targets, meta), indent=1)[:2000])
        return
    build(args)


if __name__ == "__main__":
    main()
