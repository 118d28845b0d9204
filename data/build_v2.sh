#!/usr/bin/env bash
# Build of symviz/data/files/qm9_xtb_confs_v2.npz in phases (resumable; each phase extends the previous one).
# Phase 1 ships the minimum (train 1000 / val 100 / test 200); phase 2 extends to the targets.
set -e
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1
COMMON="--out symviz/data/files/qm9_xtb_confs_v2.npz --seed 1 --workers 1 --max-seeds 100 --fmax 0.05 --assemble-every 600"
.venv/bin/python -m symviz.data.build_conformers $COMMON --n-train 1000 --n-val 100 --n-test 200
.venv/bin/python -m symviz.data.build_conformers $COMMON --n-train 2000 --n-val 200 --n-test 200
