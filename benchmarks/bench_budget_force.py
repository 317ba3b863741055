"""Benchmark budget_force.py's decode loop on the embedded model (CPU), two ratios side by side.

(a) overhead: budget_force's hand-written loop / stock model.generate, same prompt, same number of
    new tokens (target <= 1.05). The loop runs the BudgetForcer on every step; generate runs none.
(b) single pass vs restarts: the s1 harness's way of extending thinking, which restarts generation
    from scratch after every "Wait" (re-prefilling prompt + everything so far), / budget_force's
    single KV-cached pass, with a ~460-token prompt and 3 Waits (target >= 1.5). Both produce the
    same tokens, which is checked.

Timings alternate between the two contenders and report medians, because shared machines are noisy.

    python benchmarks/bench_budget_force.py [--model PATH] [--repeats 5] [--new-tokens 256] [--threads 1]
"""
import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import budget_force as bf  # noqa: E402

LONG_QUESTION = (
    "A farmer keeps records of his orchard. " + " ".join(
        f"In year {y} he planted {3 * y + 7} apple trees, {2 * y + 5} pear trees and {y + 11} plum trees, "
        f"and sold {y + 4} baskets of fruit at the market each week." for y in range(1, 12)
    ) + " Is this a farm? Answer yes or no."  # the base model tries to stop early: every Wait is used
)


def median_seconds(first, second, repeats):
    """Run the two contenders alternately; median wall time of each."""
    times = ([], [])
    for _ in range(repeats):
        for fn, bucket in zip((first, second), times):
            start = time.perf_counter()
            fn()
            bucket.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def restart_baseline(model, tok, question, max_think, num_wait, max_answer):
    """s1-style: generate until an end-of-thinking attempt, append Wait, generate again from scratch."""
    forcer = bf.BudgetForcer(tok, max_think=max_think, num_wait=num_wait, max_answer=max_answer, model=model)
    prompt_ids = bf.encode(tok, bf.build_prompt(tok, question))
    stops = sorted(forcer.end_attempt_ids)
    completion, thinking = [], 0
    for round_ in range(num_wait + 1):
        ids = torch.tensor([prompt_ids + completion])
        out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                             max_new_tokens=max(max_think - thinking, 1), eos_token_id=stops,
                             pad_token_id=tok.pad_token_id)
        new = out[0, ids.shape[1]:].tolist()
        stop_token = new.pop() if new and new[-1] in forcer.end_attempt_ids else None
        completion += new[:max_think - thinking]
        thinking += len(new[:max_think - thinking])
        if thinking >= max_think or round_ == num_wait:
            break
        wait = forcer.wait_ids[:max_think - thinking]
        completion += wait
        thinking += len(wait)
    capped = thinking >= max_think
    if capped:
        completion += forcer.close_ids + forcer.final_answer_ids
    elif stop_token in forcer.openings:  # the model opened the delimiter itself: complete it
        completion += [stop_token] + forcer.openings[stop_token][1]
    else:
        completion += forcer.close_ids
    ids = torch.tensor([prompt_ids + completion])
    answer_budget = max_answer - (len(forcer.final_answer_ids) if capped else 0)
    out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=answer_budget,
                         eos_token_id=sorted(forcer.stop_ids), pad_token_id=tok.pad_token_id)
    return completion + out[0, ids.shape[1]:].tolist()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="default: the embedded SmolLM2-135M-Instruct")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--new-tokens", type=int, default=256, help="tokens per run for ratio (a)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (1 is steadier on a busy machine)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model, tok = bf.load_model(args.model)
    print(f"model: {args.model or 'embedded SmolLM2-135M-Instruct'}, torch threads: {torch.get_num_threads()}")

    # (a) Same number of new tokens. min_think = max_think keeps the model thinking (via Waits) up to the
    # cap, so the loop emits a known number of tokens; generate is then asked for exactly that many.
    question = "How many r are in the word raspberry? Spell it out letter by letter."
    run_loop = lambda: bf.budget_force(model, tok, [question], max_think=args.new_tokens - 16,  # noqa: E731
                                       min_think=args.new_tokens - 16, max_answer=8)
    n_new = len(run_loop()[0]["completion_ids"])
    prompt_ids = torch.tensor([bf.encode(tok, bf.build_prompt(tok, question))])
    run_generate = lambda: model.generate(prompt_ids, attention_mask=torch.ones_like(prompt_ids),  # noqa: E731
                                          do_sample=False, max_new_tokens=n_new, min_new_tokens=n_new,
                                          pad_token_id=tok.pad_token_id)
    assert run_generate().shape[1] - prompt_ids.shape[1] == n_new
    loop_s, generate_s = median_seconds(run_loop, run_generate, args.repeats)
    print(f"(a) {n_new} new tokens, batch 1: budget_force loop {loop_s:.3f} s ({n_new / loop_s:.1f} tok/s), "
          f"stock generate {generate_s:.3f} s ({n_new / generate_s:.1f} tok/s)")
    print(f"(a) loop / generate = {loop_s / generate_s:.3f}  (target <= 1.05)")

    # (b) A long prompt and 3 Waits: restarts re-prefill everything each round, one pass never does.
    prompt_len = len(bf.encode(tok, bf.build_prompt(tok, LONG_QUESTION)))
    settings = dict(max_think=400, num_wait=3, max_answer=32)
    single = lambda: bf.budget_force(model, tok, [LONG_QUESTION], **settings)[0]  # noqa: E731
    restart = lambda: restart_baseline(model, tok, LONG_QUESTION, **settings)  # noqa: E731
    reference = single()
    same = restart() == reference["completion_ids"]
    single_s, restart_s = median_seconds(single, restart, args.repeats)
    print(f"(b) prompt {prompt_len} tokens, {reference['waits']} Waits, {reference['thinking_tokens']} thinking "
          f"tokens, {len(reference['completion_ids'])} new tokens; identical tokens: {same}")
    print(f"(b) restart-after-Wait {restart_s:.3f} s, single pass {single_s:.3f} s")
    print(f"(b) restart / single pass = {restart_s / single_s:.3f}  (target >= 1.5)")


if __name__ == "__main__":
    main()
