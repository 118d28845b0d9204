#!/usr/bin/env bash
# Scale-up checks on a CUDA machine: the GPU tests, torchrun with NCCL, and the orbit-loss overhead on the GPU.
#
#   scripts/gpu_check.sh [OUTDIR]        (default artifacts/gpu)
#
# Needs a python3 with CUDA torch, numpy, scipy, tqdm, pytest, hypothesis and rdkit; symviz is taken from this
# checkout (PYTHONPATH), so nothing is installed. Writes device.txt, pytest.txt, gpu_check.md (both, for the
# README) and overhead_cuda{,_x8}.md to OUTDIR; copy the .md files to benchmarks/results/ to publish them.
set -euo pipefail
out=${1:-artifacts/gpu}
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1
python3 - <<'PY' | tee "$out/device.txt"
import platform, torch
assert torch.cuda.is_available(), "no CUDA device: run this on a GPU machine"
print(f"{torch.cuda.get_device_name()} x {torch.cuda.device_count()}; torch {torch.__version__}; python {platform.python_version()}")
PY
python3 -m pytest -q -p no:cacheprovider -rs tests/test_gpu.py tests/test_distributed.py tests/test_train.py \
    tests/test_orbit.py tests/test_losses.py 2>&1 | tee "$out/pytest.txt"
python3 -m symviz.experiments.qm9_train --device cuda --steps 300 --batch-size 32 --out "$out/qm9.pt" 2>/dev/null |
    tee "$out/qm9_train.txt"
{
    echo "# GPU check (scripts/gpu_check.sh), run $(date -u +%F) on the lent GPU machine"
    echo
    echo '```'
    cat "$out/device.txt" "$out/pytest.txt"
    echo
    echo "$ python -m symviz.experiments.qm9_train --device cuda --steps 300 --batch-size 32"
    tail -n 1 "$out/qm9_train.txt"
    echo '```'
} >"$out/gpu_check.md"
python3 benchmarks/overhead.py --device cuda --steps 30 --out "$out/overhead_cuda.md"
python3 benchmarks/overhead.py --device cuda --steps 30 --batch-mult 8 --out "$out/overhead_cuda_x8.md"
