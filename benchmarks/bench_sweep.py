"""Benchmark: the demo's evaluation sweep as one decode tree against separate runs, side by side.

The demo's eleven greedy settings (caps 8-256 at max_answer 16; cap 384 with 0, 1, 2 Waits; one
"Hmm"; one forced continuation without a string) on its held-out questions, generated twice in
one process: by budget_force_tree (as evaluate.py does) and by one budget_force call per setting
(a separate run per setting, the s1 harness's way). Prints the outputs that are identical, wall time, tokens
decoded (rows fed to the model one token at a time; prefill counted apart), and the ratios. budget_force's
plain loop feeds finished rows padding until its batch is done; the tokens a separate run needs (its
rows' completions, each but the last token fed once) are counted apart from those it feeds.
A setting whose output differs is printed with the first differing token and its two logits,
so a near-tie flipped by a different batch composition is visible, never hidden.

    python benchmarks/bench_sweep.py                       # runs/demo/train on runs/demo/data/eval.jsonl
    python benchmarks/bench_sweep.py --model '' --limit 8  # stand-in: the embedded base model
"""
import argparse
import inspect
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import budget_force  # noqa: E402
import decode_tree  # noqa: E402
import evaluate  # noqa: E402

SETTINGS = ([{"max_think": m, "num_wait": 0, "min_think": 0, "wait_str": "Wait"} for m in (8, 16, 32, 64, 128, 256)]
            + [{"max_think": 384, "num_wait": w, "min_think": 0, "wait_str": "Wait"} for w in (0, 1, 2)]
            + [{"max_think": 384, "num_wait": 1, "min_think": 0, "wait_str": s} for s in ("Hmm", "")])
STAND_IN_QUESTIONS = ["What is 4821 + 3795?", "How many letters r are in the word raspberry?", "What is 17 * 23?",
                      "Count the vowels in 'education'.", "What is 1000 - 387?", "Is 91 prime?",
                      "What is 12 squared?", "Name three primes larger than 50."]


class TokenCounter:
    """Wraps model.forward: tokens fed one per row per step (decode) and prompt tokens (prefill)."""

    def __init__(self, model):
        self.model, self.forward, self.decoded, self.prefilled = model, model.forward, 0, 0
        self.__signature__ = inspect.signature(model.forward)  # the decode loops read the cache argument's name
        model.forward = self

    def __call__(self, *args, input_ids=None, **kwargs):
        if input_ids.shape[1] == 1:
            self.decoded += input_ids.shape[0]
        else:
            self.prefilled += int(kwargs["attention_mask"].sum())
        return self.forward(*args, input_ids=input_ids, **kwargs)


def batches(questions, size):
    ordered = sorted(questions, key=len)  # as evaluate.run_sweep batches them: similar lengths together
    return [ordered[i:i + size] for i in range(0, len(ordered), size)]


def first_difference(model, tokenizer, question, a, b):
    """(position, token a, token b, logit a, logit b) where two completions first part: the logits
    of one unbatched forward pass over the prompt and the shared prefix."""
    n = next(i for i, (x, y) in enumerate(zip(a + [None], b + [None])) if x != y)
    ids = budget_force.encode(tokenizer, budget_force.build_prompt(tokenizer, question)) + a[:n]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids], device=model.device)).logits[0, -1].float()
    ta, tb = (a[n] if n < len(a) else None), (b[n] if n < len(b) else None)
    return n, ta, tb, *(None if t is None else round(logits[t].item(), 4) for t in (ta, tb))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="runs/demo/train", help="the demo's trained model ('' = embedded base model)")
    parser.add_argument("--data", default="runs/demo/data/eval.jsonl", help="held-out questions (JSONL)")
    parser.add_argument("--limit", type=int, default=None, help="first N questions only")
    parser.add_argument("--batch-size", type=int, default=64, help="questions per call, as run.sh's demo")
    parser.add_argument("--cache-gb", type=float, default=8.0, help="the tree's KV-cache budget (evaluate.py's default)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if os.path.isfile(args.data):
        questions = [q["question"] for q in evaluate.load_questions(args.data)]
    else:
        print(f"note: {args.data} not found; stand-in questions", file=sys.stderr)
        questions = STAND_IN_QUESTIONS
    if args.model and not os.path.isdir(args.model):
        print(f"note: {args.model} not found; stand-in model: the embedded base model", file=sys.stderr)
        args.model = ""
    questions = questions[:args.limit]
    model, tokenizer = budget_force.load_model(args.model or None)
    counter = TokenCounter(model)
    print(f"{len(questions)} questions x {len(SETTINGS)} settings, model {args.model or 'embedded SmolLM2-135M'}, "
          f"{torch.get_num_threads()} threads")

    # Tree first, then the separate runs: if anything, the second run profits from warm caches.
    start = time.time()
    tree = {}
    for batch in batches(questions, args.batch_size):
        results = decode_tree.budget_force_tree(model, tokenizer, batch, SETTINGS, max_answer=16,
                                                 cache_bytes=int(args.cache_gb * 2**30))
        tree.update({(q, j): results[i][j][0] for i, q in enumerate(batch) for j in range(len(SETTINGS))})
    tree_s, tree_tokens, tree_prefill = time.time() - start, counter.decoded, counter.prefilled

    counter.decoded = counter.prefilled = 0
    start = time.time()
    separate = {}
    for j, s in enumerate(SETTINGS):
        for batch in batches(questions, args.batch_size):
            for q, r in zip(batch, budget_force.budget_force(model, tokenizer, batch, max_answer=16, **s)):
                separate[(q, j)] = r
    sep_s, sep_fed, sep_prefill = time.time() - start, counter.decoded, counter.prefilled
    sep_tokens = sum(len(r["completion_ids"]) - 1 for r in separate.values())  # without the padding fed to finished rows

    same = sum(tree[key] == separate[key] for key in separate)
    print(f"identical outputs: {same}/{len(separate)}")
    for (q, j), r in separate.items():
        if tree[(q, j)] != r:
            diff = first_difference(model, tokenizer, q, tree[(q, j)]["completion_ids"], r["completion_ids"])
            print(f"  DIFFERS {evaluate.setting_name(SETTINGS[j])} on {q[:50]!r}: at token {diff[0]} tree {diff[1]} "
                  f"vs separate {diff[2]}, logits {diff[3]} vs {diff[4]}")
    print(f"{'':<10} {'wall s':>8} {'decoded':>9} {'prefill':>9}")
    print(f"{'tree':<10} {tree_s:>8.1f} {tree_tokens:>9} {tree_prefill:>9}")
    print(f"{'separate':<10} {sep_s:>8.1f} {sep_tokens:>9} {sep_prefill:>9}   (fed with padding: {sep_fed})")
    print(f"ratio (separate / tree): {sep_tokens / tree_tokens:.2f}x fewer decoded tokens, "
          f"{sep_s / tree_s:.2f}x less wall time")


if __name__ == "__main__":
    main()
