# The paper's recipe on GPUs: bash run.sh s1 (or PROFILE=s1 bash run.sh). Sourced by run.sh,
# which does the set-up and provides want/fresh/banner/timed. Needs GPUs and the hub (models,
# data sets). NGPU GPUs on this node (default: all); for the paper's 16 H100s on two nodes pass
# accelerate's multi-node flags in ACCELERATE_ARGS (see configs/fsdp.yaml). Knobs: OUT (default
# runs/s1), MODEL, DATA, CURATE=1 (+ DOMAIN_MODEL, ATTEMPTS), STAGES. Sizes and sources, which
# tests/test_s1_recipe.py swaps to run this script at toy scale on a CPU: TRAIN_ARGS and EVAL_ARGS
# (flags appended to train.py's and evaluate.py's), EVAL_SETS (default: aime24 aime25 math500
# gpqa), EVAL_DIR (a folder of <set>.jsonl files instead of the hub), THINK_CAPS, WAIT_CAP.
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
        # shellcheck disable=SC2086
        timed train "${launch[@]}" --config_file configs/fsdp.yaml train.py --model "$model" --data "$data" \
            --out "$OUT/train" --gradient-checkpointing --micro-batch-size 1 ${TRAIN_ARGS:-}
    fi

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
            timed "eval-$ds" "${launch[@]}" evaluate.py --model "$OUT/train" --dataset "${file:-$ds}" \
                --max-think ${THINK_CAPS:-512 1024 2048 4096 8192} --max-answer 512 --out "$OUT/eval/$ds" ${EVAL_ARGS:-}
            # shellcheck disable=SC2086
            timed "eval-$ds-wait" "${launch[@]}" evaluate.py --model "$OUT/train" --dataset "${file:-$ds}" \
                --max-think ${WAIT_CAP:-30000} --num-wait 0 2 4 6 --max-answer 512 --out "$OUT/eval/$ds-wait" ${EVAL_ARGS:-}
        done
    fi
}
