"""Benchmark: evaluate.py's sweep throughput at batch size 8 against batch size 1, side by side.

Runs the same greedy sweep (the same questions, one budget) through `evaluate.run_sweep` twice in
one process, once per batch size, and prints generations/s for each and their ratio. Greedy
decoding makes both runs produce the same text, which is checked, so the ratio compares equal work.
The embedded base model stops thinking at once, so --min-think (default: the cap) makes every
generation think to the budget, as a reasoning model does; otherwise one long row would decide
each batch's time and the benchmark would measure the model's whims, not the batching.

    python benchmarks/bench_evaluate_batch.py                  # embedded SmolLM2-135M on CPU
    python benchmarks/bench_evaluate_batch.py --threads 1      # on a busy machine
"""
import argparse
import os
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import budget_force  # noqa: E402
import evaluate  # noqa: E402

# Short, varied questions (different prompt lengths, so left padding is exercised).
QUESTIONS = [
    "What is 12 + 35?", "Compute 7 * 8.", "What is the square root of 144?", "Solve 3x = 21 for x.",
    "How many sides does a hexagon have?", "What is 15% of 200?", "Simplify 18/24.", "What is 2 to the power 10?",
    "A train travels 60 km in 1.5 hours. What is its average speed in km/h?", "What is the sum of the angles of a triangle?",
    "Find the remainder when 100 is divided by 7.", "What is the least common multiple of 4 and 6?",
    "If a rectangle is 3 by 5, what is its area?", "What is 1000 - 357?", "How many minutes are in 3 hours?",
    "What is the next prime after 13?",
]


def timed_sweep(model, tokenizer, questions, batch_size, max_think, min_think, max_answer):
    with tempfile.TemporaryDirectory() as tmp:
        start, cpu_start = time.perf_counter(), time.process_time()
        setting = {"max_think": max_think, "num_wait": 0, "min_think": min_think}
        rows = evaluate.run_sweep(model, tokenizer, questions, [setting],
                                  os.path.join(tmp, "samples.jsonl"), batch_size=batch_size, max_answer=max_answer,
                                  progress=False)
        return time.perf_counter() - start, time.process_time() - cpu_start, rows


def timed_generate(model, tokenizer, questions, batch_size, new_tokens):
    """Stock `model.generate` at a fixed length, as a reference for what batching can give here."""
    prompts = [budget_force.build_prompt(tokenizer, q["question"]) for q in questions]
    tokenizer.padding_side = "left"
    start, cpu_start = time.perf_counter(), time.process_time()
    for i in range(0, len(prompts), batch_size):
        enc = tokenizer(prompts[i:i + batch_size], return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        model.generate(**enc, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False,
                       pad_token_id=tokenizer.pad_token_id)
    return time.perf_counter() - start, time.process_time() - cpu_start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="hub id, folder or .gguf (default: embedded SmolLM2-135M-Instruct)")
    parser.add_argument("--n", type=int, default=16, help="questions (the built-in list repeats past 16)")
    parser.add_argument("--max-think", type=int, default=96)
    parser.add_argument("--min-think", type=int, default=None, help="default: --max-think (think to the cap)")
    parser.add_argument("--max-answer", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--with-generate", action="store_true", help="also time stock model.generate (same lengths)")
    args = parser.parse_args()
    min_think = args.max_think if args.min_think is None else args.min_think
    if args.threads:
        torch.set_num_threads(args.threads)

    model, tokenizer = budget_force.load_model(args.model)
    questions = evaluate.to_questions([{"question": QUESTIONS[i % len(QUESTIONS)], "answer": "0"} for i in range(args.n)])
    timed_sweep(model, tokenizer, questions[:2], 2, 4, 0, 4)  # warm-up: first-call allocations

    t_batch, cpu_batch, batched = timed_sweep(model, tokenizer, questions, args.batch_size, args.max_think, min_think, args.max_answer)
    t_one, cpu_one, single = timed_sweep(model, tokenizer, questions, 1, args.max_think, min_think, args.max_answer)
    same = [r["response"] for r in batched] == [r["response"] for r in single]
    tokens = sum(r["thinking_tokens"] + r["answer_tokens"] for r in single)

    print(f"device {model.device}, torch threads {torch.get_num_threads()}, {args.n} questions, "
          f"max_think {args.max_think}, min_think {min_think}, max_answer {args.max_answer}, {tokens} generated tokens per run")
    print(f"batch size 1:  {t_one:7.1f} s wall ({cpu_one:6.1f} s CPU)  {args.n / t_one:6.2f} gen/s  {tokens / t_one:7.1f} tok/s")
    print(f"batch size {args.batch_size}:  {t_batch:7.1f} s wall ({cpu_batch:6.1f} s CPU)  {args.n / t_batch:6.2f} gen/s  "
          f"{tokens / t_batch:7.1f} tok/s")
    # CPU time is the steadier number on a shared machine: other jobs stretch wall time, not it.
    print(f"speed-up batch {args.batch_size} / batch 1: {t_one / t_batch:.2f}x wall, {cpu_one / cpu_batch:.2f}x CPU time "
          f"(identical outputs: {same})")
    if args.with_generate:
        new_tokens = args.max_think + args.max_answer
        g_batch, gcpu_batch = timed_generate(model, tokenizer, questions, args.batch_size, new_tokens)
        g_one, gcpu_one = timed_generate(model, tokenizer, questions, 1, new_tokens)
        print(f"stock model.generate, {new_tokens} new tokens each: batch 1 {g_one:.1f} s wall ({gcpu_one:.1f} s CPU), "
              f"batch {args.batch_size} {g_batch:.1f} s wall ({gcpu_batch:.1f} s CPU): "
              f"{g_one / g_batch:.2f}x wall, {gcpu_one / gcpu_batch:.2f}x CPU time")


if __name__ == "__main__":
    main()
