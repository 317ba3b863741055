"""The paper's baselines for length control (Table 3), run and graded exactly as evaluate.py runs
budget forcing: rejection sampling, and token-conditional control (the budget stated in the prompt).

Takes every evaluate.py flag (dataset, model, --max-think budgets, --out, resume, samples.jsonl,
summary.json, the paper's metrics) and one of:
  --rejection-tries N      sample (needs --temperature > 0) until the thinking fits --max-think,
                           at most N times; rows record `tries`
  --budget-in-prompt LIMIT the prompt says "Think for at most B tokens." for each --max-think B,
                           nothing is forced, thinking is cut only at LIMIT tokens

    python demo/length_control.py --model runs/demo/train --dataset runs/demo/data/eval.jsonl \\
        --max-think 16 32 64 128 --temperature 0.7 --rejection-tries 4 --out runs/ablations/control-rejection
"""
import itertools
import os
import sys

from tqdm import tqdm

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repo root
import budget_force  # noqa: E402
import evaluate  # noqa: E402  (data, resume, grading and metrics exactly as for budget forcing)

# Token-conditional control: the prompt states the budget and nothing is forced. A model learns
# what the sentence means only from training prompts that state each trace's length
# (demo/conditional_data.py writes them with this same sentence).
BUDGET_SENTENCE = "Think for at most {} tokens."


def conditional_prompt(question, budget):
    return f"{question}\n\n{BUDGET_SENTENCE.format(budget)}"


def rejection_sample(model, tokenizer, questions, *, max_think, tries, temperature, seed, **kwargs):
    """Rejection sampling: nothing is forced; each question is sampled until its thinking fits the
    budget (the model closed it itself within max_think tokens), at most `tries` times. A draw is
    stopped one token past the budget, where it can no longer be accepted, so rejected draws cost
    max_think + 1 thinking tokens at most. Returns (results, tries used per question); a question
    that never fit keeps its last draw."""
    results, used, pending = [None] * len(questions), [0] * len(questions), list(range(len(questions)))
    for attempt in range(tries):
        if not pending:
            break
        drawn = budget_force.budget_force(model, tokenizer, [questions[i] for i in pending], max_think=max_think + 1,
                                          temperature=temperature, seed=seed + 1000 * attempt, **kwargs)
        still = []
        for i, r in zip(pending, drawn):
            results[i], used[i] = r, attempt + 1
            if not (evaluate.closed_itself(r) and r["thinking_tokens"] <= max_think):
                still.append(i)
        pending = still
    return results, used


def run_baseline(model, tokenizer, questions, settings, out_path, *, samples=1, batch_size=8, temperature=0.0,
                 fmt="s1", max_answer=512, seed=0, done=(), progress=True, rejection_tries=0, budget_in_prompt=0,
                 cache_gb=None):
    """evaluate.run_sweep for a baseline, one setting and one sample per budget_force call (no
    decode tree: nothing is shared between budgets). With budget_in_prompt the only cap is that
    safety net (a cut there counts as forced). Sample k uses seed + k."""
    done = set(done)
    todo = [(s, k, q) for s in settings for k in range(samples) for q in questions
            if evaluate.sample_key({**q, **s, "sample": k}) not in done]
    todo.sort(key=lambda t: (settings.index(t[0]), t[1], len(t[2]["question"])))
    new_rows = []
    fd = os.open(out_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        bar = tqdm(total=len(todo), desc="generating", unit="gen", disable=not progress)
        for (_, k), group in itertools.groupby(todo, key=lambda t: (settings.index(t[0]), t[1])):
            group = list(group)
            s = group[0][0]
            for i in range(0, len(group), batch_size):
                batch = [q for _, _, q in group[i:i + batch_size]]
                if budget_in_prompt:
                    results = budget_force.budget_force(
                        model, tokenizer, [conditional_prompt(q["question"], s["max_think"]) for q in batch],
                        max_think=budget_in_prompt, max_answer=max_answer, temperature=temperature, fmt=fmt, seed=seed + k)
                    tries = [None] * len(batch)
                else:
                    results, tries = rejection_sample(
                        model, tokenizer, [q["question"] for q in batch], max_think=s["max_think"],
                        tries=rejection_tries, temperature=temperature, seed=seed + k, max_answer=max_answer, fmt=fmt)
                for q, r, n_tries in zip(batch, results, tries):
                    row = evaluate.sample_row(q, s, k, r)
                    if n_tries is not None:
                        row["tries"] = n_tries
                    evaluate.append_line(fd, row)
                    new_rows.append(row)
                bar.update(len(batch))
        bar.close()
    finally:
        os.close(fd)
    return new_rows


def parse_args(argv=None):
    parser = evaluate.build_parser(__doc__)
    parser.add_argument("--rejection-tries", type=int, default=0,
                        help="rejection sampling: sample until the thinking fits --max-think, at most this many times")
    parser.add_argument("--budget-in-prompt", type=int, default=0, metavar="LIMIT",
                        help="conditional control: state each --max-think in the prompt, cut thinking only at LIMIT")
    return evaluate.parse_args(argv, parser)


def check_args(args):
    evaluate.check_args(args)
    if (args.rejection_tries > 0) == (args.budget_in_prompt > 0):
        raise ValueError("choose one baseline: --rejection-tries N or --budget-in-prompt LIMIT (both positive)")
    if args.rejection_tries and args.temperature == 0:
        raise ValueError("--rejection-tries needs --temperature > 0 (a greedy redraw is the same draw)")
    if max(args.num_wait) or max(args.min_think) or args.also:
        raise ValueError("a baseline forces nothing: leave --num-wait, --min-think and --also out")
    if args.budget_in_prompt and args.budget_in_prompt < max(args.max_think):
        raise ValueError(f"--budget-in-prompt {args.budget_in_prompt} would cut thinking inside the largest stated budget "
                         f"{max(args.max_think)}: make it larger")


def main(argv=None):
    args = parse_args(argv)
    try:
        check_args(args)
        if args.rejection_tries:
            name, config = f"rejection sampling, <= {args.rejection_tries} tries", {"rejection_tries": args.rejection_tries}
        else:
            name = f"conditional: budget stated in the prompt, nothing forced (cut at {args.budget_in_prompt})"
            config = {"budget_in_prompt": args.budget_in_prompt}
        generate = lambda *a, **kw: run_baseline(*a, rejection_tries=args.rejection_tries,  # noqa: E731
                                                 budget_in_prompt=args.budget_in_prompt, **kw)
        evaluate.evaluate(args, generate=generate, length_control=name, run_config=config)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
