"""Training data for token-conditional length control (the paper's Table 3 baseline).

Budget forcing controls thinking length from outside, at decode time. Conditional control asks the
model instead: the prompt states a budget ("Think for at most N tokens.") and nothing is forced.
A model can only follow such a sentence if its training prompts carried it, so this script
rewrites a curated set (curate.py's output, which records each trace's `thinking_tokens`): every
question gets the sentence with its own trace's length rounded up to a power of two (at least
16), the same budgets the evaluation states. Traces are unchanged, so the stated budget is always
met in training: the model sees budgets, never a trace cut short to fit one (as in the paper,
where the model is told a budget it was never shown how to keep).

    python demo/conditional_data.py --data runs/ablations/data-s1/s1k.jsonl --out runs/ablations/conditional/s1k.jsonl
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import length_control  # noqa: E402  (the budget sentence: training and evaluation must state it alike)


def stated_budget(thinking_tokens, smallest=16):
    """The smallest power of two (at least `smallest`) that the trace fits in."""
    budget = smallest
    while budget < thinking_tokens:
        budget *= 2
    return budget


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="curated JSONL with question and thinking_tokens (curate.py's --out)")
    parser.add_argument("--out", required=True, help="the same rows, each question stating its budget")
    args = parser.parse_args(argv)
    try:
        with open(args.data) as f:
            rows = [json.loads(line) for line in f if line.strip()]
        if not rows:
            raise ValueError(f"{args.data} holds no rows")
        missing = sum("thinking_tokens" not in r or "question" not in r for r in rows)
        if missing:
            raise ValueError(f"{missing} rows of {args.data} lack question or thinking_tokens: give curate.py's output")
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        tmp = args.out + ".tmp"
        with open(tmp, "w") as f:
            for r in rows:
                budget = stated_budget(r["thinking_tokens"])
                f.write(json.dumps({**r, "question": length_control.conditional_prompt(r["question"], budget),
                                    "stated_budget": budget}) + "\n")
        os.replace(tmp, args.out)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    budgets = sorted({stated_budget(r["thinking_tokens"]) for r in rows})
    print(f"wrote {len(rows)} rows stating budgets {budgets} to {args.out}")


if __name__ == "__main__":
    main()
