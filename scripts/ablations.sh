# The paper's comparisons in miniature: bash run.sh ablations [smoke]; outputs in runs/ablations/.
# Sourced by run.sh, which does the set-up and provides the demo, want/fresh/banner/timed and the
# shared TRAIN_FLAGS / EVAL_FLAGS. The demo's stages run first (each skipped when done); then, with
# the demo's base model and its 60 held-out questions:
#   A. data selection (Table 2), the experiment registered in docs/ablations.md: a pool of its own
#      (make_data.py --selection), a base warmed up on easy questions, its difficulty filter, 48 rows
#      chosen by Algorithm 1 (s1, filtered), at random, by domain only (diverse) and by length only
#      (longest; the three without the filter, as in the paper), each trained 12 steps, the whole
#      pool at those steps and at that epoch; seeds 0-2 for the arms that draw; a hard and a broad
#      test set, on which the warmed-up base is scored too (the base row). It uses the demo's base
#      model only.
#   B. sequential vs parallel (Figure 4) on the demo's model: majority votes over K = 1-16 samples
#      (temperature 0.7, a cap that does not bite), and over the same samples each given one Wait,
#      against one greedy chain extended by 0-4 Waits.
#   C. length control (Table 3): budget forcing against rejection sampling and token-conditional
#      control.
#   A2. experiment 2 (docs/ablations.md), A's arms trained 5 epochs (60 steps) at a cap of 320, s1
#      and random at seeds 0-4: ~1-1.5 hours, so only when asked (PARTS="A2").
# PARTS="A B C" (default) picks the comparisons. One report at the end: demo/ablations_report.py
# (report.json, one plot per comparison).
# Same resumable rule as the demo: delete a folder under runs/ablations to redo it.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then  # run directly: go through run.sh
    exec bash "$(dirname "$0")/../run.sh" ablations "$@"
fi

# $1 = ablations | smoke (tiny sizes on the smoke demo).
ablations() {
    local demo_mode=demo default_out=runs/ablations
    [ "$1" = smoke ] && demo_mode=smoke default_out=runs/ablations-smoke
    local demo_out=${DEMO_OUT:-runs/$demo_mode} parts=" ${PARTS:-A B C} "  # PARTS: which comparisons run
    local demo_stages="data attempts curate train eval"
    [[ $parts == *" B "* || $parts == *" C "* ]] || demo_stages=""  # A needs only the demo's base model
    (OUT=$demo_out STAGES="$demo_stages" demo $demo_mode)  # a subshell: its OUT, MODEL stay its own
    OUT=${OUT:-$default_out}
    mkdir -p "$OUT"
    echo "# $(date -u '+%F %T') UTC: bash run.sh ablations ($1)" >> "$OUT/timings.txt"
    local base=${MODEL:-$demo_out/base} trained=$demo_out/train evalset=$demo_out/data/eval.jsonl caps=(16 32 64 128)
    local samples=16 free_cap=384 waits=(4) tries=4 conditional_limit=256
    # A. The data-selection experiment (Table 2), registered in docs/ablations.md before it ran: its
    #    own pool (260 questions, addition 3.3x counting, every trace checking itself with p 0.3),
    #    a warm-up of 128 easy questions shared by every arm (checked on 20 dev questions: >= 70%),
    #    the difficulty filter (the warmed-up base attempts the whole pool at a cap of 128), 48 rows
    #    per arm trained 12 steps, the whole pool at the same steps and at the same epoch, seeds 0-2
    #    for the arms that draw, and a hard and a broad test set of 40 questions each at a cap of 192.
    local sel=$OUT/selection sel_pool=(200 60) warmup=128 dev=20 test_per_domain=20 sel_size=48 sel_cap=192 attempt_cap=128
    local sel_seeds=(0 1 2) sel_arms=(s1 random diverse longest full-steps full-epochs) long_cap=320
    local warmup_args=(--epochs 3 --batch-size 8 --micro-batch-size 8) sel_batch=4  # 3 epochs: amendment 1 (docs/ablations.md)
    # Conditional control trains the demo's model on for 12 steps (a quarter of its epoch, the demo's
    # batch): time enough for it to see prompts that state budgets.
    local conditional_args=(--max-steps 12 --batch-size 8 --micro-batch-size 8)
    if [ "$1" = smoke ]; then
        caps=(8 32) samples=2 free_cap=48 waits=(2) tries=2 conditional_limit=64
        conditional_args=(--max-steps 2 --batch-size 4 --micro-batch-size 4)
        # the arms whose wiring differs (diverse and longest are random's with another --strategy)
        sel_pool=(8 6) warmup=8 dev=4 test_per_domain=2 sel_size=4 sel_cap=32 attempt_cap=16
        sel_seeds=(0) sel_arms=(s1 random full-steps full-epochs) long_cap=48 warmup_args=(--max-steps 1 --batch-size 4 --micro-batch-size 4)
    fi
    # Table 2's evaluations put every test question in one decode tree. A tree runs
    # until its longest generation ends, paying the model's fixed per-step cost (its weights read
    # once per step) whatever few rows are left: at EVAL_FLAGS' 64, the 80 test questions made a
    # second tree of the 16 longest questions, a second run of ~200 steps at a quarter of the rows.
    # Greedy tokens do not depend on it (checked as far as it ran: docs/ablations.md#cost). The
    # attempts stay at 64 (five trees, the last of 4): their identity at another batch is unchecked.
    local test_batch=$((4 * test_per_domain))
    local evaluate=("$PYTHON" evaluate.py --dataset "$evalset" "${EVAL_FLAGS[@]}")
    local length_control=("$PYTHON" demo/length_control.py --dataset "$evalset" "${EVAL_FLAGS[@]}")  # evaluate.py's flags, other generation

    local pool=$sel/data/pool.jsonl tests=$sel/data/test.jsonl warm=$sel/warmup
    [[ $parts == *" A "* ]] && data_selection
    [[ $parts == *" A2 "* ]] && data_selection_long
    [[ $parts == *" B "* ]] && sequential_parallel
    [[ $parts == *" C "* ]] && length_control
    banner "ablations: results ($OUT)"
    [ "${DRY_RUN:-0}" = 1 ] && return  # nothing ran, nothing to report
    "$PYTHON" demo/ablations_report.py --run "$OUT" --demo "$demo_out"
}

# A. Data selection (Table 2). Uses the locals of ablations() above.
data_selection() {
    if ! fresh "$pool" demo/make_data.py; then
        banner "A. data selection: demo/make_data.py --selection (pool, warm-up, dev, hard and broad test sets)"
        timed selection-data "$PYTHON" demo/make_data.py --selection --out "$sel/data" --pool-per-domain "${sel_pool[@]}" \
            --warmup $warmup --dev $dev --test-per-domain $test_per_domain
    fi
    # The warm-up (~4 min, 48 steps): the base model learns the format and the easy tier, so that the
    # difficulty filter has something to remove; then its dev check (~10 s).
    if ! fresh "$warm/train_summary.json" "$pool"; then
        banner "A. data selection: warm-up on $warmup easy questions"
        timed selection-warmup "$PYTHON" train.py --model "$base" --data "$sel/data/warmup.jsonl" --out "$warm" \
            "${TRAIN_FLAGS[@]}" "${warmup_args[@]}"
    fi
    if ! fresh "$sel/dev/summary.json" "$warm/train_summary.json"; then
        rm -rf "$sel/dev"
        timed selection-dev "$PYTHON" evaluate.py --model "$warm" --dataset "$sel/data/dev.jsonl" --max-think $attempt_cap \
            "${EVAL_FLAGS[@]}" --out "$sel/dev"
    fi
    # The difficulty filter's input (~1 min): the warmed-up base on every pool question, at a cap
    # that holds the pool's unchecked traces, graded against the pool's answer.
    if ! fresh "$sel/attempts/summary.json" "$warm/train_summary.json"; then
        rm -rf "$sel/attempts"
        timed selection-attempts "$PYTHON" evaluate.py --model "$warm" --dataset "$pool" --answer-field attempt \
            --max-think $attempt_cap "${EVAL_FLAGS[@]}" --out "$sel/attempts"
    fi

    # The base row: the warmed-up base on both test sets, as the arms are evaluated (~30 s). Every
    # arm starts from it, so an arm below it lost ground in its 12 steps.
    if ! fresh "$sel/base/eval/summary.json" "$warm/train_summary.json"; then
        rm -rf "$sel/base/eval"
        timed selection-base-eval "$PYTHON" evaluate.py --model "$warm" --dataset "$tests" --max-think $sel_cap \
            "${EVAL_FLAGS[@]}" --batch-size $test_batch --out "$sel/base/eval"
    fi

    [ "${1:-}" = prerequisites ] && return
    selection_arms "$sel" $sel_cap 1 "${sel_arms[*]}" "${sel_seeds[*]}" "s1 random diverse"
}

# A2. Experiment 2 (docs/ablations.md, registered before it ran): the same pool, warm-up, filter,
#     base row and test sets as A, every selection trained 5 epochs (60 steps) and the whole pool
#     the same 60 steps, a cap of 320, s1 and random at seeds 0-4, diverse and longest at 0-2.
#     ~1-1.5 hours, so not in the default PARTS: PARTS=A2 bash run.sh ablations.
data_selection_long() {
    # A2_ARMS / A2_SEEDS run a part of it, to split it across processes or machines (same folders)
    local seeds=(${A2_SEEDS:-0 1 2 3 4}) arms=(${A2_ARMS:-s1 random diverse longest full-steps})
    [ "$demo_mode" = smoke ] && seeds=(0 1) arms=(s1 random full-steps)
    data_selection prerequisites
    selection_arms "$OUT/selection-long" $long_cap 5 "${arms[*]}" "${seeds[*]}" "s1 random" "0 1 2"
}

# selection_arms DIR CAP EPOCHS "ARMS" "SEEDS" "ARMS AT EVERY SEED" ["SEEDS OF THE OTHERS"]: each arm
# as the paper defines it (§5.1), trained from the warmed-up base into DIR/<arm>-s<seed> and
# evaluated on both test sets at CAP. Uses A's locals and files.
selection_arms() {
    local out=$1 cap=$2 epochs=$3 arms=($4) seeds=($5) every=" $6 " others=" ${7:-0} "
    # select DIR STRATEGY SIZE SEED [--attempts FILE]: curate.py into DIR/s1k.jsonl unless done.
    select_rows() {
        local dir=$1 strategy=$2 n=$3 seed=$4; shift 4
        fresh "$dir/s1k.jsonl" "$pool" "$sel/attempts/summary.json" && return
        timed "$(basename "$dir")-curate" "$PYTHON" curate.py --pool "$pool" "$@" --decontaminate "$tests" \
            --size "$n" --strategy "$strategy" --seed "$seed" --tokenizer "$base" --out "$dir/s1k.jsonl" --quiet
    }
    # train_and_eval DIR DATA SEED TRAIN_ARGS...: train.py from the warmed-up base on DATA into
    # DIR/train, then both test sets at the cap into DIR/eval; each skipped when done.
    train_and_eval() {
        local dir=$1 data=$2 seed=$3; shift 3
        if ! fresh "$dir/train/train_summary.json" "$data" "$warm/train_summary.json"; then
            timed "$(basename "$dir")-train" "$PYTHON" train.py --model "$warm" --data "$data" --out "$dir/train" \
                "${TRAIN_FLAGS[@]}" --seed "$seed" --batch-size $sel_batch --micro-batch-size $sel_batch "$@"
        fi
        if ! fresh "$dir/eval/summary.json" "$dir/train/train_summary.json"; then
            rm -rf "${dir:?}/eval"
            timed "$(basename "$dir")-eval" "$PYTHON" evaluate.py --model "$dir/train" --dataset "$tests" \
                --max-think $cap "${EVAL_FLAGS[@]}" --batch-size $test_batch --out "$dir/eval"
        fi
    }
    # Each arm as the paper defines it (§5.1): s1 after the difficulty filter; random, diverse and
    # longest from the pool without it; the whole pool at the selections' steps and at their epochs
    # (its rows are the pool in order, the seed sets only the order: seed 0 alone).
    # Seed by seed, so that a run cut short holds every arm at its first seeds.
    local arm seed steps=$((epochs * sel_size / sel_batch))
    for seed in "${seeds[@]}"; do
        for arm in "${arms[@]}"; do
            [[ $every == *" $arm "* || ( $others == *" $seed "* && ( $seed == 0 || $arm != full-* ) ) ]] || continue
            local dir=$out/$arm-s$seed
            banner "A. data selection ($(basename "$out")): $arm, seed $seed"
            case $arm in
                s1) select_rows "$dir" s1 $sel_size "$seed" --attempts "$sel/attempts/samples.jsonl"
                    train_and_eval "$dir" "$dir/s1k.jsonl" "$seed" --epochs "$epochs" ;;
                random|diverse|longest) select_rows "$dir" $arm $sel_size "$seed"
                    train_and_eval "$dir" "$dir/s1k.jsonl" "$seed" --epochs "$epochs" ;;
                full-*) select_rows "$out/full" s1 0 0  # every row of the pool, in its order
                    if [ $arm = full-steps ]; then
                        train_and_eval "$dir" "$out/full/s1k.jsonl" "$seed" --epochs "$epochs" --max-steps $steps
                    else
                        train_and_eval "$dir" "$out/full/s1k.jsonl" "$seed" --epochs "$epochs"
                    fi ;;
            esac
        done
    done
}

# B. Uses the locals of ablations() above.
sequential_parallel() {
    # B. Sequential vs parallel at matched total thinking tokens, on the demo's model.
    #    Sequential, one greedy chain: the demo's capping sweep (below the chain's natural length,
    #    ~90 tokens), its unforced chain and 1, 2 Waits (all in runs/demo/eval), and here 4 Waits.
    #    Parallel: 16 samples per question, temperature 0.7, a sampler seeded per question, under a cap of 384
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

}

# C. Uses the locals of ablations() above.
length_control() {
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
}
