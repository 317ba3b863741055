"""Plant one-line regressions, one at a time, and check that the test suite catches each.

    python scripts/plant_regressions.py               # all of them, each with its tests (about 10 minutes on 2 idle cores)
    python scripts/plant_regressions.py "the cap"     # those whose name contains a string
    python scripts/plant_regressions.py --check       # only find each plant's line: which are stale (seconds)

Each entry is (name, file, the line as it is, the line broken, the tests that should fail). The
regression is planted in a throwaway git worktree of HEAD (your working tree is never touched),
the tests run with -x, and the verdict is "caught" (pytest exit 1) or "MISSED". A line is found
up to whitespace (re-spacing or re-wrapping it does not lose it) and must occur exactly once; a
plant whose line is gone or no longer unique is STALE: it is reported, not run, and the run exits
non-zero, so the list below is updated when the code moves (find the line that now carries the
same behaviour and keep the plant's meaning).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

REGRESSIONS = [
 ("DDP sync on the first micro-batch", "train.py", "sync = not is_ddp or k == len(mine) - 1", "sync = not is_ddp or k == 0", "tests/test_train.py"),
 ("KV bytes per token off by 2x", "decode_tree.py", "return 2 * config.num_hidden_layers * kv_heads", "return config.num_hidden_layers * kv_heads", "tests/test_decode_tree.py tests/test_fit.py"),
 ("wait_str dropped from a sample's key", "evaluate.py", 'row["min_think"], row.get("wait_str", "Wait"),', 'row["min_think"],', "tests/test_evaluate.py"),
 ("--also rows in the metrics", "evaluate.py", "for r, s in zip(table, settings) if s in main]", "for r, s in zip(table, settings)]", "tests/test_evaluate.py"),
 ("every question seeded alike", "evaluate.py", 'seed=[question_seed(seed, q["id"]) for q in batch]', "seed=[seed for q in batch]", "tests/test_evaluate.py"),
 ("loss on the prompt too", "train.py", '"labels": ([-100] * len(prompt) + turn)[:block_size]', '"labels": (prompt + turn)[:block_size]', "tests/test_train.py"),
 ("trained tokens off by one", "train.py", 'return sum(1 for x in example["labels"][1:] if x != -100)', 'return sum(1 for x in example["labels"] if x != -100)', "tests/test_train.py"),
 ("weight decay on norms", "train.py", '(no_decay if "bias" in name or "norm" in name else decay)', '(no_decay if "bias" in name else decay)', "tests/test_train.py"),
 ("curation's rank walk: always the longest", "curate.py", 'r = geometric_rank(rng, len(members)) if strategy == "s1" else', 'r = 0 if strategy == "s1" else', "tests/test_curate.py"),
 ("the cap one token late", "budget_force.py", "if row.thinking_tokens >= self.max_think:", "if row.thinking_tokens > self.max_think:", "tests/test_budget_force.py"),
 ("a hedge graded as a choice", "grade.py", "return letters.pop() if len(letters) == 1 else None", "return sorted(letters)[0] if letters else None", "tests/test_grading.py"),
 ("Control counts points outside the budget", "evaluate.py", "control = sum(a_min <= a <= a_max for a, _ in points)", "control = sum(a <= a_max for a, _ in points)", "tests/test_evaluate.py"),
 ("within_budget of a setting ignores min_think", "evaluate.py", '"within_budget": sum(s["min_think"] <= g["thinking_tokens"] <= s["max_think"]', '"within_budget": sum(g["thinking_tokens"] <= s["max_think"]', "tests/test_evaluate.py"),
 ("paired bootstrap percentiles 5-95", "demo/ablations_report.py", "low, high = np.percentile(diffs[picks].mean(axis=1), [2.5, 97.5])", "low, high = np.percentile(diffs[picks].mean(axis=1), [5, 95])", "tests/test_demo.py -k bootstrap"),
 ("two-level bootstrap percentiles 5-95", "demo/ablations_report.py", "low, high = np.percentile(diffs, [2.5, 97.5])", "low, high = np.percentile(diffs, [5, 95])", "tests/test_ablations_report.py"),
]
REGRESSIONS += [
 ("one Wait too many", "budget_force.py", "if row.waits < self.num_wait or row.thinking_tokens < self.min_think:", "if row.waits <= self.num_wait or row.thinking_tokens < self.min_think:", "tests/test_budget_force.py"),
 ("min_think ignored", "budget_force.py", "if row.waits < self.num_wait or row.thinking_tokens < self.min_think:", "if row.waits < self.num_wait:", "tests/test_budget_force.py"),
 ("decontamination by 13-grams", "curate.py", "def ngram_index(questions, n=8):", "def ngram_index(questions, n=13):", "tests/test_curate.py"),
 ("no lr warm-up", "train.py", "    if progress < warmup:", "    if progress < 0:", "tests/test_train.py"),
 ("gradient clipping off", "train.py", "accelerator.clip_grad_norm_(model.parameters(), args.grad_clip)", "accelerator.clip_grad_norm_(model.parameters(), 1e9)", "tests/test_train.py"),
 ("temperature ignored when sampling", "budget_force.py", "cdf = torch.softmax(scores / temperature, dim=-1)", "cdf = torch.softmax(scores, dim=-1)", "tests/test_budget_force.py tests/test_decode_tree.py"),
 ("the answer section starts at the last closer", "grade.py", "start, closer = min(found)", "start, closer = max(found)", "tests/test_grading.py tests/test_evaluate.py"),
 ("majority vote ties: last seen", "grade.py", "return max(groups, key=lambda g: g[1])[0] if groups else None", "return max(reversed(groups), key=lambda g: g[1])[0] if groups else None", "tests/test_grading.py tests/test_evaluate.py"),
 ("near duplicates never found (the CLI's default)", "curate.py", 'parser.add_argument("--near-dup", type=float, default=0.8,', 'parser.add_argument("--near-dup", type=float, default=1.0,', "tests/test_curate.py"),
 ("the first Answer: line, not the last", "grade.py", "    m = matches[-1]", "    m = matches[0]", "tests/test_grading.py"),
]


def line_pattern(line):
    """A regex for `line` up to whitespace: any run of spaces or line breaks may grow, shrink or
    vanish, except between two word characters (`return x` is not `returnx`); the ends do not
    match inside a longer name (`m = x` is not found in `item = x`)."""
    tokens = re.findall(r"\w+|\S", line)  # words, and every other visible character on its own
    is_word = [bool(re.match(r"\w", t)) for t in tokens]
    pattern = re.escape(tokens[0]) if tokens else ""
    for k in range(1, len(tokens)):
        pattern += (r"\s+" if is_word[k - 1] and is_word[k] else r"\s*") + re.escape(tokens[k])
    start = r"(?<!\w)" if tokens and is_word[0] else ""
    end = r"(?!\w)" if tokens and is_word[-1] else ""
    return re.compile(start + pattern + end)


def find_line(text, line):
    """The one (start, end) span of `line` in text, or a reason why the plant is stale."""
    spans = [m.span() for m in line_pattern(line).finditer(text)]
    if len(spans) != 1:
        return f"its line occurs {len(spans)} times, not once"
    return spans[0]


def plant(worktree, path, old, new):
    """Replace the one occurrence of `old` (up to whitespace) in worktree/path with `new`;
    ValueError saying why when the plant is stale."""
    full = os.path.join(worktree, path)
    if not os.path.isfile(full):
        raise ValueError(f"{path} does not exist")
    with open(full, encoding="utf-8") as f:
        text = f.read()
    span = find_line(text, old)
    if isinstance(span, str):
        raise ValueError(f"{path}: {span}: {old.strip()!r}")
    with open(full, "w", encoding="utf-8") as f:
        f.write(text[:span[0]] + new.strip() + text[span[1]:])


def stale_reason(root, path, old):
    """None if the plant's line is found once in root/path, else why not."""
    full = os.path.join(root, path)
    if not os.path.isfile(full):
        return f"{path} does not exist"
    with open(full, encoding="utf-8") as f:
        span = find_line(f.read(), old)
    return f"{path}: {span}" if isinstance(span, str) else None


def main(names, check_only=False, root=ROOT, regressions=REGRESSIONS):
    """Plant each chosen regression in a worktree of root's HEAD and run its tests. Returns the
    exit code: 0 when every plant was caught, 1 when one was MISSED or STALE."""
    chosen = [r for r in regressions if not names or any(n in r[0] for n in names)]
    if not chosen:
        print(f"no plant's name contains {' or '.join(map(repr, names))}", file=sys.stderr)
        return 2
    worktree = os.path.join(tempfile.mkdtemp(prefix="plant-"), "s1")  # the tests run with this python
    subprocess.run(["git", "-C", root, "worktree", "add", "-q", "--detach", worktree, "HEAD"], check=True)
    missed, stale = [], []
    try:
        for name, path, old, new, tests in chosen:
            subprocess.run(["git", "-C", worktree, "checkout", "-q", "--", "."], check=True)
            why = stale_reason(worktree, path, old)
            if why:
                stale.append(name)
                print(f"{name:50s} STALE    {why}: {old.strip()!r}", flush=True)
                continue
            if check_only:
                print(f"{name:50s} found    {path}", flush=True)
                continue
            plant(worktree, path, old, new)
            t0 = time.time()
            run = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests.split()],
                                 cwd=worktree, capture_output=True, text=True)
            failed = next((line.split(" - ")[0] for line in run.stdout.splitlines() if line.startswith("FAILED")), "")
            verdict = "caught" if run.returncode == 1 else f"MISSED (pytest exit {run.returncode})"
            if run.returncode != 1:
                missed.append(name)
            print(f"{name:50s} {verdict:8s} {time.time() - t0:5.0f} s  {failed}", flush=True)
    finally:
        subprocess.run(["git", "-C", root, "worktree", "remove", "--force", worktree], check=False)
        shutil.rmtree(os.path.dirname(worktree), ignore_errors=True)
    ran = len(chosen) - len(stale)
    if not check_only:
        print(f"{ran - len(missed)} of {ran} caught" + (f"; MISSED: {', '.join(missed)}" if missed else ""))
    if stale:
        print(f"{len(stale)} STALE (their line is gone or not unique: update them in {os.path.relpath(__file__, root)}): "
              + ", ".join(stale))
    return 1 if missed or stale else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Plant one-line regressions one at a time; check the suite catches each.")
    parser.add_argument("names", nargs="*", help="only the regressions whose name contains one of these (default: all)")
    parser.add_argument("--check", action="store_true", help="only report stale plants (their line gone or not unique); run no tests")
    args = parser.parse_args()
    sys.exit(main(args.names, args.check))
