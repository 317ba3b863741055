"""Format adherence: does a model follow s1's think/answer format when nothing forces it to?

Budget forcing (s1 paper §3.1) can always *make* a model close its thinking and answer: at the cap
it appends the end-of-thinking delimiter and "Final Answer:". What fine-tuning on s1K adds (§4.1)
is a model that does this on its own. This script measures that, for the base and the trained model
side by side, on the same questions with a budget large enough that the cap (almost) never bites:

- closed itself: the model chose the delimiter's first token (`<|im_start|>` of
  `<|im_start|>answer`) while thinking, before the cap; ending the turn instead (`<|im_end|>`,
  which budget forcing replaces by the delimiter) or hitting the cap does not count;
- adherent: closed itself, and then wrote an "Answer:" line of its own before ending its turn;
- correct: the answer graded by evaluate.py's checker (any generation, forced or not).

    python demo/adherence.py --dataset runs/demo/data/eval.jsonl --models base trained=runs/demo/train \
        --max-think 256 --out runs/demo/eval/adherence.json
"""
import argparse
import json
import os
import re
import sys

from tqdm import tqdm

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repo root
import budget_force  # noqa: E402
import evaluate  # noqa: E402
import grade  # noqa: E402

ANSWER_LINE = re.compile(r"^\s*answer\s*:", re.IGNORECASE | re.MULTILINE)


def judge(result, gold):
    """One budget_force result -> {closed_itself, adherent, correct}."""
    n = result["thinking_tokens"]
    # completion = thinking tokens, then the delimiter (forced or the model's own), then the answer
    closed_itself = (not result["forced_stop"] and len(result["forced_mask"]) > n
                     and not result["forced_mask"][n])
    adherent = closed_itself and bool(ANSWER_LINE.search(result["answer"]))
    return {"closed_itself": closed_itself, "adherent": adherent,
            "correct": grade.is_correct(result["text"], gold)}


def measure(model, tokenizer, questions, *, max_think, max_answer=32, batch_size=16, desc=""):
    """Greedy budget forcing with no Wait and a large cap; per-question judgements."""
    rows = []
    for i in tqdm(range(0, len(questions), batch_size), desc=desc):
        batch = questions[i:i + batch_size]
        results = budget_force.budget_force(model, tokenizer, [q["question"] for q in batch],
                                            max_think=max_think, max_answer=max_answer)
        rows += [{"id": q["id"], **judge(r, q["gold"]), "thinking_tokens": r["thinking_tokens"],
                  "response": r["text"]} for q, r in zip(batch, results)]
    return rows


def summarize(rows):
    n = len(rows)
    return {"n": n, **{k: sum(r[k] for r in rows) for k in ("closed_itself", "adherent", "correct")},
            "avg_thinking_tokens": round(sum(r["thinking_tokens"] for r in rows) / n, 1)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", required=True, help="JSONL with question/answer (or problem/answer)")
    parser.add_argument("--models", nargs="+", required=True,
                        help="models to compare: 'base' (the embedded model, or --base-model), folders or hub ids, "
                             "each optionally named NAME=MODEL")
    parser.add_argument("--base-model", default=None, help="what 'base' means (default: the embedded model)")
    parser.add_argument("--max-think", type=int, default=256, help="a cap the models should not need")
    parser.add_argument("--max-answer", type=int, default=32)
    parser.add_argument("--limit", type=int, default=None, help="the first N questions only")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--out", required=True, help="JSON file for the summary (responses go beside it)")
    args = parser.parse_args(argv)
    try:
        if args.max_think <= 0 or args.max_answer <= 0 or args.batch_size <= 0:
            raise ValueError("--max-think, --max-answer and --batch-size must be positive")
        questions = evaluate.load_questions(args.dataset)[:args.limit]
        summary = {"max_think": args.max_think, "dataset": args.dataset, "models": {}}
        samples = []
        for spec in args.models:
            name, _, path = spec.rpartition("=") if "=" in spec else (spec, "", spec)
            model, tokenizer = budget_force.load_model(args.base_model if path == "base" else path)
            rows = measure(model, tokenizer, questions, max_think=args.max_think, max_answer=args.max_answer,
                           batch_size=args.batch_size, desc=f"adherence {name}")
            summary["models"][name] = summarize(rows)
            samples += [{"model": name, **r} for r in rows]
            del model
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(os.path.splitext(args.out)[0] + "_samples.jsonl", "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in samples)
        with open(args.out, "w") as f:
            json.dump(summary, f, indent=2)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    print(format_table(summary))


def format_table(summary):
    lines = [f"format adherence, unforced (greedy, cap {summary['max_think']} thinking tokens, no Wait):",
             f"  {'model':<28} {'closed thinking itself':>22} {'then wrote Answer:':>18} {'correct':>9}"]
    for name, s in summary["models"].items():
        n = s["n"]
        lines.append(f"  {name:<28} {s['closed_itself']:>15}/{n} ({100 * s['closed_itself'] / n:3.0f}%)"
                     f" {s['adherent']:>11}/{n} ({100 * s['adherent'] / n:3.0f}%) {100 * s['correct'] / n:8.1f}%")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
