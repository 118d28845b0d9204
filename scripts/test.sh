#!/usr/bin/env bash
# The whole symviz test suite; `make test` (the README test command) runs this after creating the venv.
#
# Steps (all run; the script exits non-zero if any failed):
#   1. lint:      ruff check + ruff format --check on symviz tests benchmarks scripts
#   2. unit:      pytest tests/ (without tests/browser), with line coverage of symviz
#   3. notebooks: every tutorials/*.ipynb executed top to bottom by nbval (--nbval-lax: no cell may error)
#   4. browser:   tests/browser in JupyterLab + Debian Chromium via Playwright, when both are available
#   5. wheel:     scripts/wheel_check.sh: build the wheel, install it in a fresh venv (core only, then
#                 [molecules]) and use the shipped data and checkpoint from outside the checkout (about a minute
#                 with a warm pip cache; installs torch the way the Makefile does: TORCH_SPEC, TORCH_INDEX_URL)
#
# Environment: VENV (default .venv); SYMVIZ_REQUIRE_BROWSER=1 turns a missing chromium/playwright into a
# failure instead of a skip (.ci/run sets it); extra pytest args can be passed in PYTEST_ADDOPTS.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="${VENV:-.venv}"
BIN="$VENV/bin"
export OMP_WAIT_POLICY=PASSIVE PYTHONHASHSEED=0

if [[ ! -x "$BIN/python" ]]; then
  echo "error: $BIN/python not found; run 'make test' (it creates the venv) or set VENV=..." >&2
  exit 2
fi

failed=()
banner() { printf '\n==== %s ====\n' "$*"; }

# run_step NAME CMD...: runs CMD, records NAME as failed on a non-zero exit code. pytest's exit code 5
# ("no tests collected") counts as a failure: a suite that silently ran nothing must not pass.
run_step() {
  local name="$1"; shift
  local start rc=0
  start=$(date +%s)
  banner "$name: $*"
  "$@" || rc=$?
  if [[ $rc -eq 5 && "$*" == *pytest* ]]; then
    echo "FAIL [$name]: pytest collected no tests (exit code 5)" >&2
  elif [[ $rc -ne 0 ]]; then
    echo "FAIL [$name]: exit code $rc" >&2
  fi
  [[ $rc -eq 0 ]] || failed+=("$name")
  echo "---- $name finished in $(( $(date +%s) - start )) s (exit code $rc)"
}

# 1. lint + format (only directories that exist)
lint_paths=()
for d in symviz tests benchmarks scripts; do [[ -d "$d" ]] && lint_paths+=("$d"); done
run_step "ruff check" "$BIN/ruff" check "${lint_paths[@]}"
run_step "ruff format" "$BIN/ruff" format --check "${lint_paths[@]}"

# 2. unit + property tests with coverage
run_step "unit tests" "$BIN/python" -m pytest -q tests --ignore=tests/browser \
  --cov=symviz --cov-report=term

# 3. notebooks, exactly as a learner runs them
shopt -s nullglob
notebooks=(tutorials/*.ipynb)
shopt -u nullglob
if (( ${#notebooks[@]} > 0 )); then
  run_step "notebooks (nbval)" "$BIN/python" -m pytest -q -p no:cacheprovider --nbval-lax \
    --nbval-current-env --nbval-sanitize-with tutorials/nbval_sanitize.cfg --durations=0 tutorials/
else
  banner "notebooks (nbval)"
  echo "SKIP: no tutorials/*.ipynb yet"
fi

# 4. real-browser tests (JupyterLab + Debian Chromium + Playwright)
if command -v chromium >/dev/null 2>&1 && "$BIN/python" -c "import playwright.sync_api" >/dev/null 2>&1; then
  run_step "browser tests" "$BIN/python" -m pytest -q tests/browser
else
  banner "browser tests"
  msg="SKIP browser tests: they need Debian's Chromium on PATH and the Python playwright package.
  Enable with:  apt-get install -y chromium  &&  $BIN/pip install -e '.[browser]'
  (never run 'playwright install': the tests drive the system chromium)"
  if [[ "${SYMVIZ_REQUIRE_BROWSER:-0}" == "1" ]]; then
    echo "${msg/SKIP browser tests/FAIL [browser tests] (SYMVIZ_REQUIRE_BROWSER=1)}" >&2
    failed+=("browser tests")
  else
    echo "$msg"
  fi
fi

# 5. the built wheel works outside the checkout (fresh venv, no --system-site-packages)
run_step "wheel check" env VENV="$VENV" bash scripts/wheel_check.sh

banner "summary"
if (( ${#failed[@]} > 0 )); then
  printf 'FAILED steps: %s\n' "$(IFS=,; echo "${failed[*]}")" >&2
  exit 1
fi
echo "all steps passed"
