# The paper's comparisons in miniature: bash run.sh ablations [smoke]; outputs in runs/ablations/.
# Sourced by run.sh, which does the set-up and provides the demo, want/fresh/banner/timed and the
# shared TRAIN_FLAGS / EVAL_FLAGS. The demo's stages run first (each skipped when done); then, with
# the demo's base model and its 60 held-out questions:
#   A. data selection (Table 2): 48 rows of a pool of its own chosen by Algorithm 1 (s1), at random,
#      by domain only (diverse) and by length only (longest), each trained for 48 steps (4 epochs of
#      batch 4), and the whole filtered pool for one epoch (full); each evaluated at caps 16-128.
#   B. sequential vs parallel (Figure 4) on the demo's model: majority votes over K = 1-16 samples
#      (temperature 0.7, a cap that does not bite), and over the same samples each given one Wait,
#      against one greedy chain extended by 0-4 Waits.
#   C. length control (Table 3): budget forcing against rejection sampling and token-conditional
#      control.
# One report at the end: demo/ablations_report.py (report.json, one plot per comparison).
# Same resumable rule as the demo: delete a folder under runs/ablations to redo it.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then  # run directly: go through run.sh
    exec bash "$(dirname "$0")/../run.sh" ablations "$@"
fi

# $1 = ablations | smoke (tiny sizes on the smoke demo).
ablations() {
    local demo_mode=demo default_out=runs/ablations
    [ "$1" = smoke ] && demo_mode=smoke default_out=runs/ablations-smoke
    local demo_out=${DEMO_OUT:-runs/$demo_mode}
    (OUT=$demo_out STAGES="data attempts curate train eval" demo $demo_mode)  # a subshell: its OUT, MODEL stay its own
    OUT=${OUT:-$default_out}
    mkdir -p "$OUT"
    echo "# $(date -u '+%F %T') UTC: bash run.sh ablations ($1)" >> "$OUT/timings.txt"
    local base=${MODEL:-$demo_out/base} trained=$demo_out/train pool=$OUT/data/pool.jsonl evalset=$OUT/data/eval.jsonl
    local pool_per_domain=(400 100) eval_per_domain=30 attempt_limit=128 size=48 caps=(16 32 64 128)
    local train_args=(--epochs 4) full_args=(--epochs 1) batch=(--batch-size 4 --micro-batch-size 4)
    local samples=16 free_cap=384 waits=(4) tries=4 conditional_limit=256
    # Conditional control trains the demo's model on for 12 steps (a quarter of its epoch, the demo's
    # batch): time enough for it to see prompts that state budgets.
    local conditional_args=(--max-steps 12 --batch-size 8 --micro-batch-size 8)
    if [ "$1" = smoke ]; then
        pool_per_domain=(24 6) eval_per_domain=2 attempt_limit=16 size=4 caps=(8 32)
        train_args=(--max-steps 2) full_args=(--max-steps 3)
        samples=2 free_cap=48 waits=(2) tries=2 conditional_limit=64
        conditional_args=(--max-steps 2 --batch-size 4 --micro-batch-size 4)
    fi
    local evaluate=("$PYTHON" evaluate.py --dataset "$evalset" "${EVAL_FLAGS[@]}")
    local length_control=("$PYTHON" demo/length_control.py --dataset "$evalset" "${EVAL_FLAGS[@]}")  # evaluate.py's flags, other generation

    # The pool (~20 s with the attempts): the demo's generator and seed (so the same held-out
    # questions), shaped like a real pool for selection to act on: one domain four times as common
    # as the other (NuminaMath is half of s1's 59K) and no trace checking itself, so that a longer
    # trace means a larger question, as in s1's pool.
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

    # train_and_eval DIR DATA TRAIN_ARGS...: train.py on DATA into DIR/train, then the capping
    # sweep into DIR/eval; each skipped when its output is newer than its input.
    train_and_eval() {
        local dir=$1 data=$2; shift 2
        if ! fresh "$dir/train/train_summary.json" "$data"; then
            timed "$(basename "$dir")-train" "$PYTHON" train.py --model "$base" --data "$data" --out "$dir/train" \
                "${TRAIN_FLAGS[@]}" "${batch[@]}" "$@"
        fi
        if ! fresh "$dir/eval/summary.json" "$dir/train/train_summary.json"; then
            rm -rf "${dir:?}/eval"
            timed "$(basename "$dir")-eval" "${evaluate[@]}" --model "$dir/train" --max-think "${caps[@]}" --out "$dir/eval"
        fi
    }

    # A. Data selection (~3 min per selection, ~6 for full): the demo's filters, then each strategy
    #    picks 48 rows (full: every row that passes, ~520).
    local strategy
    for strategy in s1 random diverse longest full; do
        local dir=$OUT/data-$strategy n=$size args=("${train_args[@]}")
        [ $strategy = full ] && n=0 args=("${full_args[@]}")
        banner "A. data selection: $strategy ($([ $n = 0 ] && echo 'every row that passes the filters' || echo "$n rows"))"
        if ! fresh "$dir/s1k.jsonl" "$pool" "$OUT/attempts/summary.json"; then
            timed "data-$strategy-curate" "$PYTHON" curate.py --pool "$pool" --attempts "$OUT/attempts/samples.jsonl" \
                --decontaminate "$evalset" --size $n --strategy ${strategy/full/s1} --seed 0 --tokenizer "$base" \
                --out "$dir/s1k.jsonl" --quiet
        fi
        train_and_eval "$dir" "$dir/s1k.jsonl" "${args[@]}"
    done

    # B. Sequential vs parallel at matched total thinking tokens, on the demo's model.
    #    Sequential, one greedy chain: the demo's capping sweep (below the chain's natural length,
    #    ~90 tokens), its unforced chain and 1, 2 Waits (all in runs/demo/eval), and here 4 Waits.
    #    Parallel: 16 samples per question, temperature 0.7, one seeded generator, under a cap of 384
    #    that does not bite (every sample may finish by itself); the report votes over the first K =
    #    1, 2, 4, 8, 16 and counts the thinking of all K. Hybrid, in the same decode tree: each of
    #    those samples where it first tries to stop gets one Wait instead (the same draws up to that
    #    point), so the two curves differ by the Wait alone.
    #    Cost (Zen 5 VM limited to AVX2): 4 Waits ~1 min; 16 samples and their Waits ~8 min, the largest stage here.
    if ! fresh "$OUT/sequential/summary.json" "$trained/train_summary.json"; then
        banner "B. sequential: one greedy chain, ${waits[*]} forced Waits"
        rm -rf "$OUT/sequential"
        timed sequential "${evaluate[@]}" --model "$trained" --max-think $free_cap --num-wait "${waits[@]}" \
            --out "$OUT/sequential"
    fi
    if ! fresh "$OUT/parallel/summary.json" "$trained/train_summary.json"; then
        banner "B. parallel: $samples samples per question, temperature 0.7, cap $free_cap; each also with one Wait"
        rm -rf "$OUT/parallel"
        timed parallel "${evaluate[@]}" --model "$trained" --max-think $free_cap --num-wait 0 1 --samples $samples \
            --temperature 0.7 --seed 0 --out "$OUT/parallel"
    fi

    # C. Length control on the demo's model at caps 16-128. Budget forcing is the demo's capping
    #    sweep; rejection sampling draws each question at most 4 times, a draw serving every budget
    #    it has not fit yet (~2 min); conditional control needs a model that has seen budgets in its
    #    prompts: the demo's model trained on its curated rows, each stating its trace's length
    #    (~2 min), then the budget stated, nothing forced, all budgets in one batch (~2 min).
    if ! fresh "$OUT/control-rejection/summary.json" "$trained/train_summary.json"; then
        banner "C. length control: rejection sampling (at most $tries draws)"
        rm -rf "$OUT/control-rejection"
        timed control-rejection "${length_control[@]}" --model "$trained" --max-think "${caps[@]}" \
            --rejection-tries $tries --temperature 0.7 --seed 0 --out "$OUT/control-rejection"
    fi
    local cond=$OUT/control-conditional
    banner "C. length control: token-conditional (budget in the prompt)"
    fresh "$cond/s1k.jsonl" "$demo_out/curated/s1k.jsonl" \
        || timed conditional-data "$PYTHON" demo/conditional_data.py --data "$demo_out/curated/s1k.jsonl" --out "$cond/s1k.jsonl"
    if ! fresh "$cond/train/train_summary.json" "$cond/s1k.jsonl" "$trained/train_summary.json"; then
        timed control-conditional-train "$PYTHON" train.py --model "$trained" --data "$cond/s1k.jsonl" \
            --out "$cond/train" "${TRAIN_FLAGS[@]}" "${conditional_args[@]}"
    fi
    if ! fresh "$cond/eval/summary.json" "$cond/train/train_summary.json"; then
        rm -rf "$cond/eval"
        timed control-conditional-eval "${length_control[@]}" --model "$cond/train" --max-think "${caps[@]}" \
            --budget-in-prompt $conditional_limit --out "$cond/eval"
    fi

    banner "ablations: results ($OUT)"
    "$PYTHON" demo/ablations_report.py --run "$OUT" --demo "$demo_out"
}
