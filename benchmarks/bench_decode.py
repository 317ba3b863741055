"""Benchmark: the decode tree's KV cache and sampler against transformers' defaults, side by side.

Two ways of running the same budget_force_tree calls in one process, alternating so a busy
machine slows both alike:
  default: transformers' DynamicCache (torch.cat of the whole cache at every step, the whole
           cache reindexed when a row forks or finishes) and torch.multinomial for each token;
  ours:    GrowingLayer (in-place writes into a buffer that doubles; only the rows that fork or
           fill a finished row's place are copied) and the inverse-CDF draw.
Two workloads from the demo and its ablations: greedy, the demo's eleven evaluation settings; and
sampled, 16 samples per question at temperature 0.7 under a cap that does not bite. Prints wall
time per way and the ratio, and for greedy the outputs that are identical (the cache must not
change a greedy token; the sampler changes which tokens are drawn, not their distribution:
tests/test_budget_force.py checks that).

    python benchmarks/bench_decode.py                        # runs/demo/train, 60 held-out questions
    python benchmarks/bench_decode.py --limit 12 --repeats 1  # quicker
"""
import argparse
import os
import sys
import time

import torch
from transformers import DynamicCache

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import budget_force  # noqa: E402
import decode_tree  # noqa: E402
import evaluate  # noqa: E402

GREEDY = ([{"max_think": m} for m in (8, 16, 32, 64, 128, 256)]
          + [{"max_think": 384, "num_wait": w} for w in (0, 1, 2)]
          + [{"max_think": 384, "num_wait": 1, "wait_str": s} for s in ("Hmm", "")])
SAMPLED = [{"max_think": 384}]


def multinomial_pick(scores, temperature, generator, order=None):
    """The sampler transformers' generate() uses: softmax, then torch.multinomial (rows in `order`)."""
    if order is not None:
        scores = scores[torch.tensor(order, device=scores.device)]
    if temperature > 0:
        probs = torch.softmax(scores / temperature, dim=-1).cpu()
        return torch.multinomial(probs, 1, generator=generator).squeeze(1).tolist()
    return scores.argmax(dim=-1).tolist()


def run(way, model, tokenizer, questions, settings, samples, temperature):
    ours = (decode_tree.growing_cache, decode_tree.pick)
    if way == "default":
        decode_tree.growing_cache = lambda model, max_length, max_rows=None: DynamicCache(config=model.config)
        decode_tree.pick = multinomial_pick
    try:
        start = time.perf_counter()  # as evaluate.py runs them: up to 64 questions per tree, 8 GiB of cache
        results = decode_tree.budget_force_tree(model, tokenizer, questions, settings, samples=samples, max_answer=16,
                                                 temperature=temperature, seed=0, cache_bytes=8 * 2**30)
        return time.perf_counter() - start, results
    finally:
        decode_tree.growing_cache, decode_tree.pick = ours


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="runs/demo/train")
    p.add_argument("--dataset", default="runs/demo/data/eval.jsonl")
    p.add_argument("--limit", type=int, default=60)
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--repeats", type=int, default=2, help="alternating runs of each way per workload")
    args = p.parse_args()
    model, tokenizer = budget_force.load_model(args.model or None)
    questions = [q["question"] for q in evaluate.load_questions(args.dataset)][:args.limit]
    print(f"{args.model}, {len(questions)} questions, {torch.get_num_threads()} threads, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}")
    workloads = [("greedy, the demo's 11 settings", GREEDY, 1, 0.0),
                 (f"sampled, {args.samples} samples at T 0.7, cap 384", SAMPLED, args.samples, 0.7)]
    for name, settings, samples, temperature in workloads:
        times, outputs = {"default": [], "ours": []}, {}
        for _ in range(args.repeats):
            for way in ("default", "ours"):
                seconds, results = run(way, model, tokenizer, questions, settings, samples, temperature)
                times[way].append(seconds)
                outputs[way] = [r["completion_ids"] for q in results for s in q for r in s]
        best = {way: min(t) for way, t in times.items()}
        line = (f"{name}: default {best['default']:.1f} s, ours {best['ours']:.1f} s (best of {args.repeats}): "
                f"x{best['default'] / best['ours']:.2f}")
        if temperature == 0:
            same = sum(a == b for a, b in zip(outputs["default"], outputs["ours"]))
            line += f"; identical outputs {same}/{len(outputs['ours'])}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
