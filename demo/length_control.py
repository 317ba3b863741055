"""The paper's baselines for length control (Table 3), run and graded exactly as evaluate.py runs
budget forcing: rejection sampling, and token-conditional control (the budget stated in the prompt).

Takes every evaluate.py flag (dataset, model, --max-think budgets, --out, resume, samples.jsonl,
summary.json, the paper's metrics) and one of:
  --rejection-tries N      sample (needs --temperature > 0) until the thinking fits --max-think,
                           at most N times; rows record `tries`; a draw serves every budget
                           still open for its question
  --budget-in-prompt LIMIT the prompt says "Think for at most B tokens." for each --max-think B,
                           nothing is forced, thinking is cut only at LIMIT tokens

    python demo/length_control.py --model runs/demo/train --dataset runs/demo/data/eval.jsonl \\
        --max-think 16 32 64 128 --temperature 0.7 --rejection-tries 4 --out runs/ablations/control-rejection
"""
import functools
import os
import sys

from tqdm import tqdm

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repo root
import budget_force  # noqa: E402
import decode_tree  # noqa: E402
import evaluate  # noqa: E402  (data, resume, grading and metrics exactly as for budget forcing)

# Token-conditional control: the prompt states the budget and nothing is forced. A model learns
# what the sentence means only from training prompts that state each trace's length
# (demo/conditional_data.py writes them with this same sentence).
BUDGET_SENTENCE = "Think for at most {} tokens."


def conditional_prompt(question, budget):
    return f"{question}\n\n{BUDGET_SENTENCE.format(budget)}"


def rejection_sample(model, tokenizer, questions, budgets, *, tries, temperature, seed, wanted=None, **kwargs):
    """Rejection sampling: nothing is forced; each question is sampled until its thinking fits the
    budget (the model closed it itself within the budget's tokens), at most `tries` times.

    A draw serves every budget still open for its question: one decode tree per attempt
    (decode_tree.budget_force_tree) runs each pending question under all its open budgets, each
    stopped one token past its budget, where it can no longer be accepted. Until that stop the
    budgets share the draw's tokens, so a draw of 40 thinking tokens is the one accepted at 64 and
    at 128 if it comes first there, and rejected draws cost at most one token past the largest
    open budget. wanted[i]: the budget indices question i needs (default all).
    Returns (results, tries used), both [question][budget index]; a budget a question never fit
    keeps that question's last draw, stopped past that budget."""
    results = [[None] * len(budgets) for _ in questions]
    used = [[0] * len(budgets) for _ in questions]
    pending = [list(range(len(budgets))) if wanted is None else list(wanted[i]) for i in range(len(questions))]
    settings = [{"max_think": b + 1} for b in budgets]
    for attempt in range(tries):
        rows = [i for i in range(len(questions)) if pending[i]]
        if not rows:
            break
        drawn = decode_tree.budget_force_tree(model, tokenizer, [questions[i] for i in rows], settings,
                                               temperature=temperature, seed=seed + 1000 * attempt,
                                               only=[pending[i] for i in rows], **kwargs)
        for i, per_budget in zip(rows, drawn):
            still = []
            for b in pending[i]:
                r = per_budget[b][0]
                results[i][b], used[i][b] = r, attempt + 1
                if not (evaluate.closed_itself(r) and r["thinking_tokens"] <= budgets[b]):
                    still.append(b)
            pending[i] = still
    return results, used


def run_baseline(model, tokenizer, questions, settings, out_path, *, samples=1, batch_size=8, temperature=0.0,
                 fmt="s1", max_answer=512, seed=0, done=(), progress=True, rejection_tries=0, budget_in_prompt=0,
                 cache_gb=None):
    """evaluate.run_sweep for a baseline: up to batch_size questions at a time under all their
    missing settings (budgets). Rejection sampling: see rejection_sample. Conditional control: one
    budget_force() call for the batch, a row per (question, budget) whose prompt states that budget,
    thinking cut only at budget_in_prompt (a cut there counts as forced). Sample k uses seed + k."""
    done = set(done)
    lacking = {k: [(q, [j for j, s in enumerate(settings) if evaluate.sample_key({**q, **s, "sample": k}) not in done])
                   for q in sorted(questions, key=lambda q: len(q["question"]))]  # similar lengths: less padding
               for k in range(samples)}
    new_rows = []
    fd = os.open(out_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        bar = tqdm(total=sum(len(js) for todo in lacking.values() for _, js in todo), desc="generating", unit="gen",
                   disable=not progress)
        for k, todo in lacking.items():
            todo = [(q, js) for q, js in todo if js]
            for start in range(0, len(todo), batch_size):
                batch = todo[start:start + batch_size]
                if budget_in_prompt:
                    pairs = [(q, j) for q, js in batch for j in js]
                    results = budget_force.budget_force(
                        model, tokenizer, [conditional_prompt(q["question"], settings[j]["max_think"]) for q, j in pairs],
                        max_think=budget_in_prompt, max_answer=max_answer, temperature=temperature, fmt=fmt, seed=seed + k)
                    done_now = [(q, j, r, None) for (q, j), r in zip(pairs, results)]
                else:
                    results, tries = rejection_sample(
                        model, tokenizer, [q["question"] for q, _ in batch], [s["max_think"] for s in settings],
                        wanted=[js for _, js in batch], tries=rejection_tries, temperature=temperature, seed=seed + k,
                        max_answer=max_answer, fmt=fmt, cache_bytes=None if cache_gb is None else int(cache_gb * 2**30))
                    done_now = [(q, j, results[i][j], tries[i][j]) for i, (q, js) in enumerate(batch) for j in js]
                for q, j, r, n_tries in done_now:
                    row = evaluate.sample_row(q, settings[j], k, r)
                    if n_tries is not None:
                        row["tries"] = n_tries
                    evaluate.append_line(fd, row)
                    new_rows.append(row)
                bar.update(len(done_now))
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


def add_tries(summary, samples, questions, n_samples=1):
    """What meeting each budget cost rejection sampling: avg_tries in each summary row, over the
    generations of its questions (samples: samples.jsonl's rows, which record `tries`)."""
    by_key = {evaluate.sample_key(r): r for r in samples}
    for row in summary["rows"]:
        tries = [by_key[evaluate.sample_key({**q, **row, "sample": k})]["tries"]
                 for q in questions for k in range(n_samples)]
        row["avg_tries"] = sum(tries) / len(tries)
    return summary


def run(args):
    """evaluate.evaluate with a baseline (run_baseline) in place of budget forcing: the same questions,
    resume, summary.json and metrics. Returns the summary (None on processes other than the main one)."""
    if args.rejection_tries:
        name, config = f"rejection sampling, <= {args.rejection_tries} tries", {"rejection_tries": args.rejection_tries}
    else:
        name = f"conditional: budget stated in the prompt, nothing forced (cut at {args.budget_in_prompt})"
        config = {"budget_in_prompt": args.budget_in_prompt}
    generate = functools.partial(run_baseline, rejection_tries=args.rejection_tries,
                                 budget_in_prompt=args.budget_in_prompt)
    summary, questions = evaluate.evaluate(args, generate, config)
    if summary is None:
        return None
    summary["config"]["length_control"] = name
    if args.rejection_tries:
        add_tries(summary, evaluate.read_samples(os.path.join(args.out, "samples.jsonl")), questions, args.samples)
    evaluate.save(args, summary)
    if args.rejection_tries:
        print("average tries: " + ", ".join(f"{r['max_think']}: {r['avg_tries']:.2f}" for r in summary["rows"]))
    return summary


def main(argv=None):
    args = parse_args(argv)
    try:
        check_args(args)
        run(args)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
