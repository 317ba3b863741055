# The paper's recipe on GPUs: bash run.sh s1 (or PROFILE=s1 bash run.sh). Sourced by run.sh,
# which does the set-up and provides want/fresh/banner/timed. Needs GPUs and the hub (models,
# data sets). NGPU GPUs on this node (default: all); for the paper's 16 H100s on two nodes pass
# accelerate's multi-node flags in ACCELERATE_ARGS (see configs/fsdp.yaml). Knobs: OUT (default
# runs/s1), MODEL, DATA, CURATE=1 (+ DOMAIN_MODEL, ATTEMPTS), STAGES. Table 2's data ablations:
# ARMS="s1 random diverse longest full" builds each arm's data from the 59K pool with curate.py
# (POOL, ARM_SIZE: default simplescaling/data_ablation_full59K, 1000), trains and evaluates each
# into $OUT/<arm>/ and prints one table (docs/ablations.md#table-2-on-gpus). Sizes and sources, which
# tests/test_s1_recipe.py swaps to run this script at toy scale on a CPU: TRAIN_ARGS and EVAL_ARGS
# (flags appended to train.py's and evaluate.py's), EVAL_SETS (default: aime24 aime25 math500
# gpqa), EVAL_DIR (a folder of <set>.jsonl files instead of the hub), THINK_CAPS, WAIT_CAP.
# CAP_STR: the text forced at every cap (evaluate.py --cap-str; unset: the format's default).
if [ "${BASH_SOURCE[0]}" = "$0" ]; then  # run directly: go through run.sh
    exec bash "$(dirname "$0")/../run.sh" s1
fi

s1_recipe() {
    OUT=${OUT:-runs/s1}
    local model=${MODEL:-Qwen/Qwen2.5-32B-Instruct}
    local ngpu=${NGPU:-$(nvidia-smi -L 2>/dev/null | wc -l)}
    [ "$ngpu" -gt 0 ] || { echo "error: bash run.sh s1 needs GPUs (nvidia-smi lists none; set NGPU)" >&2; exit 2; }
    local data=${DATA:-simplescaling/s1K-1.1}
    mkdir -p "$OUT"
    # shellcheck disable=SC2206
    local launch=("$PYTHON" -m accelerate.commands.launch --num_processes "$ngpu" ${ACCELERATE_ARGS:-})

    if [ -n "${ARMS:-}" ]; then
        s1_arms
        return
    fi

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
    s1_train "$data" "$OUT/train"
    # Stage 3: evaluation with budget forcing, then extrapolation with Waits (s1_eval below).
    s1_eval "$OUT" waits
}

# s1_train DATA OUT: stage 2 (the recipe's training) on DATA into OUT. Uses s1_recipe's locals.
s1_train() {
    local data=$1 out=$2 name=${3:-}
    # Stage 2, training (§4.1, App. D): train.py's defaults are the paper's: 5 epochs, lr 1e-5
    # with 5% warmup and cosine decay, AdamW (0.9, 0.95), weight decay 1e-4, global batch 16, bf16,
    # block size 32768, loss on thinking + answer. FSDP full shard over the GPUs; gradient
    # checkpointing because 32K-token sequences of a 32B model do not fit otherwise below 16 GPUs.
    # The paper: 26 minutes on 16 H100s for s1K (s1K-1.1's longer R1 traces take longer).
    if want train && ! fresh "$out/train_summary.json" "$data"; then
        banner "training: train.py under FSDP ($ngpu GPUs)"
        # shellcheck disable=SC2086
        timed "${name:-train}" "${launch[@]}" --config_file configs/fsdp.yaml train.py --model "$model" --data "$data" \
            --out "$out" --gradient-checkpointing --micro-batch-size 1 ${TRAIN_ARGS:-}
    fi

}

# s1_eval DIR [waits]: stage 3 on DIR/train into DIR/eval/<set>: the budget-forcing sweep, and with
# `waits` the extrapolation by Waits. Uses s1_recipe's locals.
s1_eval() {
    local dir=$1 waits=${2:-} prefix=${3:-eval}
    # Stage 3, evaluation (§4, Figure 1 and Table 3): greedy, budget forcing with thinking caps
    # 512-8192 on AIME24, AIME25, MATH500 and GPQA Diamond (gated on the hub: accept its terms
    # first), then extrapolation by suppressing the end of thinking 0-6 times ("Wait") under a
    # 30K cap: prompt + cap + delimiter + answer must fit Qwen2.5's 32,768-token context (evaluate.py
    # refuses a sweep that does not), and 30000 + 517 leaves 2,251 tokens for the prompt (MATH500's
    # longest is ~950). The s1 repository's 32000 gave the answer whatever room the context had left
    # (vLLM). Data-parallel over the GPUs (each process holds the whole model). Hours, not minutes.
    # The decode tree's plan on one 80 GB GPU: docs/reference.md (tests/test_fit.py checks it).
    if want eval; then
        local ds file
        for ds in ${EVAL_SETS:-aime24 aime25 math500 gpqa}; do
            file=${EVAL_DIR:+$EVAL_DIR/$ds.jsonl}
            banner "evaluation: $ds"
            # shellcheck disable=SC2086
            timed "$prefix-$ds" "${launch[@]}" evaluate.py --model "$dir/train" --dataset "${file:-$ds}" \
                --max-think ${THINK_CAPS:-512 1024 2048 4096 8192} --max-answer 512 --out "$dir/eval/$ds" ${CAP_STR+--cap-str "$CAP_STR"} ${EVAL_ARGS:-}
            [ "$waits" = waits ] || continue
            # shellcheck disable=SC2086
            timed "$prefix-$ds-wait" "${launch[@]}" evaluate.py --model "$dir/train" --dataset "${file:-$ds}" \
                --max-think ${WAIT_CAP:-30000} --num-wait 0 2 4 6 --max-answer 512 --out "$dir/eval/$ds-wait" ${CAP_STR+--cap-str "$CAP_STR"} ${EVAL_ARGS:-}
        done
    fi
}

# Table 2 (§5.1), each arm's 1K built from the 59K pool by the paper's definitions, trained and
# evaluated like s1K (stages 2 and 3, the budget-forcing sweep), each into $OUT/<arm>/:
#   s1       quality, the difficulty filter (ATTEMPTS: evaluate.py samples of the pool graded
#            against its answers; without them that stage passes all), Algorithm 1 (diversity,
#            then the longest traces first);
#   random   1000 uniformly from the quality-filtered pool: no difficulty, no diversity;
#   diverse  a domain uniformly, then a question uniformly in it: no difficulty;
#   longest  the 1000 longest traces: no difficulty, no diversity;
#   full     the whole quality-filtered pool (--size 0).
# Every arm is decontaminated against the evaluation sets and deduplicated (curate.py always does);
# only s1 gets the attempts. The domains are classified once (a shared cache). The paper's cost:
# ~7 H100-hours to train a 1K arm, 394 for the 59K (its Table 2).
s1_arms() {
    local arm pool=${POOL:-simplescaling/data_ablation_full59K} size=${ARM_SIZE:-1000} ds cost
    local sets=()
    for arm in $ARMS; do
        case $arm in s1|random|diverse|longest|full) ;;
            *) echo "error: unknown arm '$arm' in ARMS (use: s1 random diverse longest full)" >&2; exit 2 ;;
        esac
    done
    for ds in ${EVAL_SETS:-aime24 aime25 math500 gpqa}; do sets+=("${EVAL_DIR:+$EVAL_DIR/}$ds${EVAL_DIR:+.jsonl}"); done
    for arm in $ARMS; do
        local dir=$OUT/$arm strategy=$arm n=$size attempts=()
        [ "$arm" = full ] && strategy=random n=0  # size 0 keeps every row: the strategy does not matter
        # shellcheck disable=SC2206
        [ "$arm" = s1 ] && [ -n "${ATTEMPTS:-}" ] && attempts=(--attempts $ATTEMPTS)
        cost=7; [ "$arm" = full ] && cost=394
        banner "Table 2, arm $arm: curate.py --strategy $strategy --size $n (the paper: ~$cost H100-hours to train)"
        # shellcheck disable=SC2086
        if want curate && ! fresh "$dir/data/s1k.jsonl" ${ATTEMPTS:-}; then
            timed "curate-$arm" "$PYTHON" curate.py --pool "$pool" --decontaminate "${sets[@]}" --size "$n" \
                --strategy "$strategy" --seed "${SEED:-0}" --tokenizer "$model" \
                --domain-model "${DOMAIN_MODEL:-Qwen/Qwen2.5-7B-Instruct}" --domain-cache "$OUT/domain_cache.json" \
                "${attempts[@]}" --quiet --out "$dir/data/s1k.jsonl"
        fi
        s1_train "$dir/data/s1k.jsonl" "$dir/train" "train-$arm"
        s1_eval "$dir" "" "eval-$arm"
    done
    banner "Table 2: accuracy at the largest thinking cap, per arm ($OUT/table2.txt)"
    [ "${DRY_RUN:-0}" = 1 ] && return
    # shellcheck disable=SC2086
    "$PYTHON" - "$OUT" $ARMS <<'EOF' | tee "$OUT/table2.txt"
import json, os, sys
out, arms = sys.argv[1], sys.argv[2:]
paper = {"s1": "50.0 / 93.0 / 57.6", "random": "36.7 / 90.6 / 52.0", "diverse": "26.7 / 91.2 / 54.6",
         "longest": "33.3 / 90.4 / 59.6", "full": "53.3 / 92.8 / 58.1"}  # AIME24 / MATH500 / GPQA, its Table 2
sets = sorted({d for a in arms for d in os.listdir(os.path.join(out, a, "eval"))})
print(f"{'arm':<8} {'rows':>6} {'train tok':>10}" + "".join(f" {s:>9}" for s in sets)
      + "   paper: AIME24 / MATH500 / GPQA, cost to train")
for arm in arms:
    trained = json.load(open(os.path.join(out, arm, "train", "train_summary.json")))
    cells = ""
    for s in sets:
        rows = json.load(open(os.path.join(out, arm, "eval", s, "summary.json")))["rows"]
        top = max(rows, key=lambda r: r["max_think"])  # the largest cap: the budget that least limits the arm
        cells += f" {100 * top['accuracy']:>8.1f}%"
    cost = "394 H100-hours" if arm == "full" else "~7 H100-hours"
    print(f"{arm:<8} {trained['data']['examples']:>6} {trained['tokens']:>10}" + cells + f"   {paper[arm]}, {cost}")
EOF
}
