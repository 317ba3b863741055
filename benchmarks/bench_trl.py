"""
Training throughput: train.py vs TRL's SFTTrainer on the same model, data and sequence length.

Both train one epoch over the same synthetic s1-format rows (reasoning traces of varied length, as
in s1K), with the same global batch, micro-batch, block size, precision, optimizer and schedule, and
the same loss mask (prompt masked, the whole assistant turn trained). Each run is a fresh process
with the same thread count; runs alternate (ours, TRL, ours, TRL, ...) so that a noisy, shared CPU
slows both alike. Throughput = real (non-padding) tokens of the epoch / seconds of the training loop
(model loading excluded on both sides), by wall clock and by CPU time of the process: on a shared
machine the CPU time is the steadier measure of the work done. Ratios come from runs measured side
by side.

    pip install trl          # for this benchmark only: TRL is no dependency of the project
    python benchmarks/bench_trl.py                       # embedded SmolLM2-135M-Instruct, CPU
    python benchmarks/bench_trl.py --micro-batch-size 1  # the paper's per-device batch
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def make_rows(n, seed):
    """Addition questions whose traces have very different lengths (10-150 lines), like s1K's."""
    r = random.Random(seed)
    rows = []
    for _ in range(n):
        a, b = r.randint(10**5, 10**6), r.randint(10**5, 10**6)
        lines = [f"step {k}: {a % (k + 7)} + {b % (k + 3)} = {a % (k + 7) + b % (k + 3)}" for k in range(r.randint(2, 40))]
        rows.append({"question": f"What is {a} + {b}?", "thinking_trajectories": lines, "attempt": str(a + b)})
    return rows


def run_ours(args, model_dir, data, out):
    cmd = [sys.executable, os.path.join(ROOT, "train.py"), "--model", model_dir, "--data", data, "--out", out,
           "--epochs", "1", "--batch-size", str(args.batch_size), "--micro-batch-size", str(args.micro_batch_size),
           "--block-size", str(args.block_size), "--mixed-precision", args.mixed_precision, "--lr", "1e-5"]
    run(cmd, args)
    with open(os.path.join(out, "train_summary.json")) as f:
        s = json.load(f)
    return {"tokens": s["tokens"], "seconds": s["train_seconds"], "cpu_seconds": s["cpu_seconds"]}


def run_trl(args, model_dir, data, out):
    cmd = [sys.executable, __file__, "--trl-worker", "--model", model_dir, "--data", data, "--out", out,
           "--batch-size", str(args.batch_size), "--micro-batch-size", str(args.micro_batch_size),
           "--block-size", str(args.block_size), "--mixed-precision", args.mixed_precision]
    return json.loads(run(cmd, args).strip().splitlines()[-1])


def trl_worker(args):
    """TRL's SFTTrainer configured like train.py: prompt-completion rows (completion-only loss), no
    gradient checkpointing (TRL turns it on by default), same optimizer, schedule and precision."""
    import datasets
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    import train

    tok = AutoTokenizer.from_pretrained(args.model)
    rows = train.load_rows(args.data)
    pairs = []
    for row in rows:
        prompt_ids, turn_ids = train.render_example(tok, row)
        # The same text train.py trains on; TRL appends the eos (<|im_end|>) itself.
        assert turn_ids[-1] == tok.eos_token_id
        pairs.append({"prompt": tok.decode(prompt_ids), "completion": tok.decode(turn_ids[:-1])})
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    config = SFTConfig(
        output_dir=args.out, num_train_epochs=1, per_device_train_batch_size=args.micro_batch_size,
        gradient_accumulation_steps=args.batch_size // args.micro_batch_size, learning_rate=1e-5,
        lr_scheduler_type="cosine", warmup_steps=0.05, adam_beta1=0.9, adam_beta2=0.95, weight_decay=1e-4,
        max_grad_norm=1.0, bf16=args.mixed_precision == "bf16", gradient_checkpointing=False,
        max_length=args.block_size, completion_only_loss=True, logging_steps=1, save_strategy="no",
        report_to="none", use_cpu=True, seed=0, dataloader_num_workers=0, disable_tqdm=True)
    trainer = SFTTrainer(model=model, args=config, train_dataset=datasets.Dataset.from_list(pairs), processing_class=tok)
    tokens = sum(len(x) for x in trainer.train_dataset["input_ids"])
    cpu_start = time.process_time()
    metrics = trainer.train().metrics
    print(json.dumps({"tokens": tokens, "seconds": metrics["train_runtime"], "cpu_seconds": time.process_time() - cpu_start}))


def run(cmd, args):
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "TOKENIZERS_PARALLELISM": "false"}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"error: {' '.join(cmd[:3])} ... failed:\n{r.stderr[-3000:]}")
    return r.stdout


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="as train.py's --model (default: the embedded model)")
    p.add_argument("--rows", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--micro-batch-size", type=int, default=4)
    p.add_argument("--block-size", type=int, default=1024)
    p.add_argument("--mixed-precision", choices=["no", "bf16"], default="bf16")
    p.add_argument("--repeats", type=int, default=2, help="runs of each, alternating")
    p.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "0")) or os.cpu_count())
    p.add_argument("--trl-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.trl_worker:
        return trl_worker(args)
    try:
        import trl  # noqa: F401
    except ImportError:
        print("error: this benchmark needs TRL: pip install trl", file=sys.stderr)
        sys.exit(2)
    import torch

    import train

    with tempfile.TemporaryDirectory() as tmp:
        # Both sides load the same plain HF folder (the GGUF would cost each run ~15 s of loading).
        model_dir = os.path.join(tmp, "model")
        model, tok = train.load_model(args.model), train.load_tokenizer(args.model)
        model.save_pretrained(model_dir)
        tok.save_pretrained(model_dir)
        del model
        data = os.path.join(tmp, "rows.jsonl")
        with open(data, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in make_rows(args.rows, seed=0))
        results = {"train.py": [], "TRL SFTTrainer": []}
        for k in range(args.repeats):
            for name, fn in (("train.py", run_ours), ("TRL SFTTrainer", run_trl)):
                r = fn(args, model_dir, data, os.path.join(tmp, f"{name[:3]}{k}"))
                r["tokens_per_s"] = r["tokens"] / r["seconds"]
                r["tokens_per_cpu_s"] = r["tokens"] / r["cpu_seconds"]
                results[name].append(r)
                print(f"run {k + 1}/{args.repeats} {name:15s} {r['tokens']} tokens in {r['seconds']:.1f} s "
                      f"({r['cpu_seconds']:.1f} CPU s): {r['tokens_per_s']:.1f} tokens/s, "
                      f"{r['tokens_per_cpu_s']:.1f} tokens per CPU second", flush=True)
    med = lambda name, key: statistics.median(r[key] for r in results[name])
    print(f"\nmodel {args.model or 'embedded SmolLM2-135M-Instruct'}, {args.rows} rows, global batch {args.batch_size}, "
          f"micro-batch {args.micro_batch_size}, block {args.block_size}, {args.mixed_precision}, "
          f"{args.threads} thread(s), torch {torch.__version__}, trl {trl.__version__}")
    for key, unit in (("tokens_per_s", "tokens/s (wall clock)"), ("tokens_per_cpu_s", "tokens per CPU second")):
        ours, theirs = med("train.py", key), med("TRL SFTTrainer", key)
        print(f"{unit:22s}: train.py {ours:7.1f}, TRL SFTTrainer {theirs:7.1f}, ratio {ours / theirs:.2f}x "
              f"(medians of {args.repeats})")


if __name__ == "__main__":
    main()
