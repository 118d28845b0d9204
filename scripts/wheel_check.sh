#!/usr/bin/env bash
# Wheel check: build the symviz wheel, install it in a fresh venv and use it from OUTSIDE the checkout, so that the
# shipped conformer set and checkpoints are proven to travel with the wheel (not only with an editable clone).
#
#   1. build:     copy the files git knows (tracked + untracked, not ignored) to a temp dir; pip wheel --no-deps there
#   2. contents:  the wheel has the data set, checkpoints and static JS; its core Requires-Dist is torch, numpy, tqdm
#   3. core:      fresh venv (no --system-site-packages); torch as the Makefile installs it (TORCH_SPEC,
#                 TORCH_INDEX_URL); then the wheel WITHOUT extras: import symviz + groups/orbit/losses/train, load
#                 the offline test split, and check that no [lab]/[molecules] package is installed
#   4. molecules: the same venv + the wheel's [molecules] extra: load_model("default"), generate("CCO", 2, seed=0)
# Every snippet runs in a temp dir outside the checkout with PYTHONPATH unset, and checks that symviz.__file__ is
# inside the venv. Exits non-zero with "FAIL [wheel check] <step>: ..." on the first failure.
#
# Environment: VENV (default .venv; its interpreter builds the wheel and is the base of the fresh venv, else
# python3), TORCH_SPEC (default torch==2.13.0), TORCH_INDEX_URL (default empty: pip's configured index),
# SYMVIZ_WHEEL_KEEP=1 keeps the temp dir (its path is printed).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
VENV="${VENV:-.venv}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
TORCH_INDEX_URL="${TORCH_INDEX_URL:-}"
if [[ -x "$VENV/bin/python" ]]; then PY="$VENV/bin/python"; else PY="$(command -v python3)"; fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/symviz-wheel.XXXXXX")"
if [[ "${SYMVIZ_WHEEL_KEEP:-0}" == "1" ]]; then
  echo "wheel check: keeping $WORK"
else
  trap 'rm -rf "$WORK"' EXIT
fi
T0=$(date +%s)
STEP=""
step() { STEP="$1"; printf -- '-- wheel check [%3d s] %s\n' "$(( $(date +%s) - T0 ))" "$1"; }
# must CMD...: run CMD; on failure name the step and the command, then stop.
must() {
  local rc=0
  "$@" || rc=$?
  if (( rc != 0 )); then
    echo "FAIL [wheel check] $STEP: exit code $rc from: $*" >&2
    exit 1
  fi
}

# ---- 1. build from a copy of the source tree (the checkout gets no build/ or egg-info, and a file that git
#         does not know cannot sneak into the wheel)
step "build the wheel"
mkdir -p "$WORK/src" "$WORK/dist" "$WORK/outside"
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard |
    tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -xf - -C "$WORK/src"
else
  tar -C "$ROOT" --exclude='./.venv*' --exclude='./.git' --exclude='./build' --exclude='./dist' -cf - . |
    tar -xf - -C "$WORK/src"
fi
must "$PY" -m pip wheel -q --no-deps -w "$WORK/dist" "$WORK/src"
shopt -s nullglob
wheels=("$WORK"/dist/symviz-*.whl)
shopt -u nullglob
(( ${#wheels[@]} == 1 )) || { echo "FAIL [wheel check] $STEP: expected one symviz wheel, got: ${wheels[*]:-none}" >&2; exit 1; }
WHEEL="${wheels[0]}"
echo "   $(basename "$WHEEL") ($(du -k "$WHEEL" | cut -f1) KiB)"

# ---- 2. contents and metadata
step "wheel contents and core requirements"
must "$PY" - "$WHEEL" <<'EOF'
import re
import sys
import zipfile

with zipfile.ZipFile(sys.argv[1]) as z:
    names = set(z.namelist())
    meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
    requires = [ln[len("Requires-Dist:"):].strip() for ln in z.read(meta).decode().splitlines()
                if ln.startswith("Requires-Dist:")]
need = ["symviz/__init__.py", "symviz/data/files/qm9_xtb_confs_v2.npz", "symviz/data/files/qm9_xtb_confs_v2.sha256",
        "symviz/checkpoints/README.md", "symviz/static/3Dmol-min.js", "symviz/static/3Dmol-LICENSE.txt"]
missing = [n for n in need if n not in names]
pts = sorted(n for n in names if re.fullmatch(r"symviz/checkpoints/[^/]+\.pt", n))
missing += [p[:-3] + ".sha256" for p in pts if p[:-3] + ".sha256" not in names]
if not pts:
    missing.append("symviz/checkpoints/*.pt")
core = sorted(re.split(r"[<>=!~ ;(\[]", r, maxsplit=1)[0].lower() for r in requires if "extra ==" not in r)
errors = [f"missing from the wheel: {missing}"] if missing else []
if core != ["numpy", "torch", "tqdm"]:
    errors.append(f"core Requires-Dist should be torch, numpy, tqdm; got {core}")
for e in errors:
    print(e, file=sys.stderr)
print(f"   {len(names)} files, checkpoints {pts}, core requirements {core}")
sys.exit(1 if errors else 0)
EOF

# ---- 3. fresh venv with the core only
step "fresh venv, torch ($TORCH_SPEC${TORCH_INDEX_URL:+ from TORCH_INDEX_URL})"
must "$PY" -m venv "$WORK/venv"
V="$WORK/venv/bin/python"
index=()
[[ -z "$TORCH_INDEX_URL" ]] || index=(--index-url "$TORCH_INDEX_URL")
must "$V" -m pip install -q "${index[@]}" "$TORCH_SPEC"

step "install the wheel without extras"
must "$V" -m pip install -q "$WHEEL"

# run_outside NAME: run the Python snippet on stdin with the fresh venv, from a dir outside the checkout.
run_outside() {
  (cd "$WORK/outside" && env -u PYTHONPATH PYTHONNOUSERSITE=1 OMP_NUM_THREADS=1 SYMVIZ_CHECKOUT="$ROOT" \
    SYMVIZ_VENV="$WORK/venv" "$V" -)
}
COMMON_PY='
import os, sys
from pathlib import Path
import symviz
here = Path(symviz.__file__).resolve()
venv, checkout = Path(os.environ["SYMVIZ_VENV"]).resolve(), Path(os.environ["SYMVIZ_CHECKOUT"]).resolve()
assert here.is_relative_to(venv), f"symviz imported from {here}, not from the venv {venv}"
assert not here.is_relative_to(checkout), f"symviz imported from the checkout: {here}"
assert not Path.cwd().resolve().is_relative_to(checkout), "the check must run outside the checkout"
'

step "core: import, offline data, no extras installed"
must run_outside <<EOF
$COMMON_PY
import importlib.util
import torch
import symviz.groups, symviz.orbit, symviz.losses, symviz.train, symviz.metrics
from symviz.data.ensembles import DEFAULT_PATH, load_offline_ensembles
extras = ["rdkit", "py3Dmol", "plotly", "ipywidgets", "anywidget", "matplotlib", "jupyterlab", "scipy"]
present = [m for m in extras if importlib.util.find_spec(m) is not None]
assert not present, f"the core install pulled in extra packages: {present}"
assert DEFAULT_PATH.resolve().is_relative_to(venv), f"DEFAULT_PATH {DEFAULT_PATH} is not in the venv"
test = load_offline_ensembles(split="test")
assert len(test) > 0, "empty test split"
x0 = symviz.diffusion.center(torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(0)))
res = symviz.orbit.orbit_target(x0, x0, torch.ones(2), torch.full((2,), 0.5), symviz.groups.SO3(), num_samples=4)
print(f"   symviz {symviz.__version__} from {here.parent}; {len(test)} test molecules from {DEFAULT_PATH.name}")
EOF

# ---- 4. the [molecules] extra: shipped checkpoint + generation
step "install the wheel's [molecules] extra"
must "$V" -m pip install -q "$WHEEL[molecules]"

step "molecules: load_model(\"default\"), generate(\"CCO\", 2, seed=0)"
must run_outside <<EOF
$COMMON_PY
from symviz.conformers import checkpoint_path, generate, load_model
ckpt = checkpoint_path("default").resolve()
assert ckpt.is_relative_to(venv), f"checkpoint {ckpt} is not in the venv"
net, meta = load_model("default")
mol = generate("CCO", 2, seed=0)
assert mol.GetNumConformers() == 2, f"expected 2 conformers, got {mol.GetNumConformers()}"
assert mol.GetNumAtoms() == 9, f"CCO with hydrogens has 9 atoms, got {mol.GetNumAtoms()}"
print(f"   {ckpt.name}: CCO -> {mol.GetNumConformers()} conformers of {mol.GetNumAtoms()} atoms")
EOF

echo "wheel check passed in $(( $(date +%s) - T0 )) s"
