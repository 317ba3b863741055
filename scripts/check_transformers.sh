#!/usr/bin/env bash
# Does budget_force.py, copied alone into an empty folder, run its README command under each
# transformers release it supports (4.57.x, the last 4.x; 5.0.x; the newest 5.x)?
#
# Each version goes into its own folder (pip --target): transformers (no deps), and the tokenizers,
# huggingface-hub and safetensors versions that release requires (read from its metadata; with their
# own deps, such as httpx for huggingface-hub 1.x). torch, gguf, numpy and the embedded model come
# from the .venv's python, with PYTHONPATH putting the
# version's folder first (the script checks that transformers is really imported from there).
# Prints one line per version: the command's status line "[thinking tokens: ...]" or the error.
#
# Usage: bash scripts/check_transformers.sh [VERSION ...]
#   default: the newest 4.57.x, 5.0.x and 5.x on the package index. Folders: /tmp/tf-VERSION (kept, reused).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$PWD/.venv/bin/python}  # not resolved: a venv's python must keep its path
SCRIPT=$PWD/budget_force.py

versions=("$@")
if [ ${#versions[@]} -eq 0 ]; then
  available=$("$PY" -m pip index versions transformers 2>/dev/null | sed -n 's/^Available versions: //p' | tr -d ',')
  [ -n "$available" ] || { echo "error: cannot list transformers versions (pip index versions)" >&2; exit 2; }
  newest() { for v in $available; do case $v in $1) echo "$v"; return;; esac; done; }  # the index lists newest first
  versions=($(newest "4.57.*") $(newest "5.0.*") $(newest "5.*"))
fi

install() {  # $1 version, $2 folder
  local dir=$2 requires
  [ -f "$dir/.complete" ] && return 0
  rm -rf "$dir"
  "$PY" -m pip install -q --no-deps --target "$dir" "transformers==$1" || return 1
  # Its own pins of the packages that must match it (the rest: any version the .venv has).
  requires=$("$PY" - "$dir" "$1" <<'EOF'
import re, sys
meta = open(f"{sys.argv[1]}/transformers-{sys.argv[2]}.dist-info/METADATA").read()
for spec in re.findall(r"^Requires-Dist: (.*)$", meta, re.M):
    if "extra ==" not in spec and re.match(r"(tokenizers|huggingface-hub|safetensors)\b", spec):
        print(spec.split(";")[0].replace(" ", ""))
EOF
)
  "$PY" -m pip install -q --target "$dir" $requires || return 1
  touch "$dir/.complete"
}

for v in "${versions[@]}"; do
  dir=/tmp/tf-$v
  if ! install "$v" "$dir" > "/tmp/tf-$v.install.log" 2>&1; then
    echo "transformers $v: install failed (see /tmp/tf-$v.install.log)"
    continue
  fi
  work=$(mktemp -d)
  cp "$SCRIPT" "$work/"
  got=$(cd "$work" && PYTHONPATH=$dir "$PY" -c "import transformers; print(transformers.__version__, transformers.__file__)" 2>&1 | tail -1)
  case $got in
    "$v $dir/"*) ;;
    *) echo "transformers $v: imported the wrong transformers: $got"; continue;;
  esac
  out=$(cd "$work" && PYTHONPATH=$dir "$PY" budget_force.py --prompt "What is 17*23?" --max-think 64 --min-think 16 2>&1)
  status=$(grep -o '^\[thinking tokens: .*\]$' <<< "$out" | tail -1)
  if [ -n "$status" ]; then
    echo "transformers $v: $status"
  else
    echo "transformers $v: FAILED: $(grep -v '^\s*$' <<< "$out" | tail -1)"
  fi
  rm -rf "$work"
done
