"""Demo data for the CPU run of s1: a candidate pool in the s1 59K schema and a held-out eval set.

The paper (§2) starts from 59K questions with reasoning traces and answers, filters them by quality
and difficulty and selects 1K by diversity; it then evaluates on AIME/MATH/GPQA. None of that fits
a 135M model on a laptop CPU, so this script writes a small stand-in, generated here from a seed
(no public dataset is copied):

- two domains a 135M model can learn in a few minutes and where *thinking longer helps*, because
  the answer is the end of a procedure with one step per digit: addition (right to left with the
  carry on every line) and counting one digit in a long number (a quick tally, left to right);
- thinking traces that carry the partial result forward on every line, so the model never has to
  reverse digits at the end;
- in some traces, a more careful second pass after the first ("Wait, ..."), what a forced "Wait"
  can trigger (paper §3.1): counting again with a running count (the quick tally's total is its
  weak point), adding each column again in two steps; three in four long questions check
  themselves, three in twenty short ones, so the trained model checks on its own where its quick
  pass is least reliable and a forced Wait has the rest left to check. Half of the checks catch a
  planted slip in the first pass, so the model sees a check that disagrees;
- rows that curate.py's stages should remove, so each stage visibly does something: an API error,
  an empty trace, an image link, an [asy] figure, exact and near duplicates, copies of evaluation
  questions (decontamination), and one-digit questions a base model solves (difficulty filter).

Usage:
    python demo/make_data.py --out runs/demo/data            # pool.jsonl + eval.jsonl
    python demo/make_data.py --out DIR --pool-per-domain 50 --eval-per-domain 4   # tiny (CI)
"""
import argparse
import json
import os
import random
import re
import sys

DOMAINS = ("addition", "counting")
CHECK_SHARE = 0.75  # long questions' traces that check their result after the procedure; short ones: a fifth of that
LONG = {"addition": 4, "counting": 4}  # operand digits from which a question counts as long
SLIP_SHARE = 0.5    # of those, traces whose first pass has a planted slip that the check catches
RESTATE_SHARE = 0.5  # of those, traces that say "Wait" once more after the verdict and restate it


# ---------------------------------------------------------------------------------------------
# One function per domain: operands -> (question, procedure, check, answer, first-pass answer).
# The procedure has one line per digit, so its length grows with the number of digits: a
# thinking cap cuts it short. The check reaches the same answer more carefully and is what a
# forced "Wait" can trigger (see make_trace). `slip` plants a slip in the procedure, the kind the
# trained model makes itself: a three-number column sum one too high in column `slip`; a tally
# total off by `slip`.
# ---------------------------------------------------------------------------------------------

def addition(a, b, slip=None):
    """A + B, right to left, one line per column: `8+7+1=16 c1:616` = the column sum with the
    incoming carry, the outgoing carry, and the result so far, so the last line already holds the
    answer in reading order (no digit reversal at the end, and no carry kept in mind: a carry
    dropped or made up is the commonest error otherwise). The check adds each column again in two
    steps, `8+7=15, 15+1=16 c1:616`: the trained model's slips are mostly three-number sums with
    the carry, and two two-number sums are easier than one three-number sum."""
    procedure, check = [], []
    carry, slipped_carry, partial, slipped = 0, 0, "", ""
    for k, (da, db) in enumerate(zip(reversed(str(a)), reversed(str(b).rjust(len(str(a)), "0")))):
        pair = int(da) + int(db)
        s = pair + carry
        step = f"{da}+{db}={pair}, {pair}+1=" if carry else f"{da}+{db}="
        carry, partial = s // 10, str(s % 10) + partial
        check.append(f"{step}{s} c{carry}:{partial}")
        s = pair + slipped_carry + (1 if k == slip else 0)  # the slip: one too many
        lhs = f"{da}+{db}" + (f"+{slipped_carry}" if slipped_carry else "")
        slipped_carry, slipped = s // 10, str(s % 10) + slipped
        procedure.append(f"{lhs}={s} c{slipped_carry}:{slipped}")
    partial = ("1" if carry else "") + partial
    slipped = ("1" if slipped_carry else "") + slipped
    check.append(f"end c{carry}:{partial}")
    procedure.append(f"end c{slipped_carry}:{slipped}")
    assert int(partial) == a + b
    return f"What is {a} + {b}?", procedure, check, str(a + b), slipped


def counting(digit, number, slip=None):
    """How often `digit` occurs in the string of digits `number`. The procedure is a quick tally,
    left to right, one line per digit with the decision only (`7 no`, `2 yes`), then the total of
    the yes lines (`total 2`): short, and its total is where it goes wrong (the trained model's
    commonest counting error: every line right, the total off). The check counts again left to
    right with a running count on every line (`2 yes 1`), so its last line is the answer (checks
    that did worse: docs/demo.md#how-the-design-was-reached). Digits, not letters: the tokenizer
    splits digits one per token, while a 135M model cannot spell words (2/20 right in a few-shot
    probe)."""
    procedure, check, count = [], [], 0
    for ch in number:
        count += ch == digit
        procedure.append(f"{ch} {'yes' if ch == digit else 'no'}")
        check.append(f"{ch} {'yes' if ch == digit else 'no'} {count}")
    tallied = count + (slip or 0)
    procedure.append(f"total {tallied}")
    check.append(f"end {count}")
    return f"How many {digit}s are in {number}?", procedure, check, str(count), str(tallied)


def slip_positions(domain, operands):
    """The slips the procedure can make that change its result: columns that add three numbers
    (a carry comes in) for addition; for counting, a total one too low (when there is a match) or
    one too high."""
    if domain == "addition":
        a, b = operands
        da, db = str(a)[::-1], str(b).rjust(len(str(a)), "0")[::-1]
        carry, out = 0, []
        for k in range(len(da)):
            if carry:
                out.append(k)
            carry = (int(da[k]) + int(db[k]) + carry) // 10
        return out
    digit, number = operands
    return [-1, 1] if digit in number else [1]


CHECK_HEADER = {"addition": "Wait, check each column in two steps:", "counting": "Wait, count again with a running count:"}


def make_trace(domain, operands, check, slip=None, restate=False):
    """(question, trace, answer). Without `check`: the procedure, ending in the answer. With it:
    the procedure, then "Wait, check ...", the check, and a verdict: `same: X` when the two agree,
    `not Y: X` when the check caught a slip (the answer is always the check's); with `restate`,
    then "Wait, the answer stays X." (so that a second forced Wait has somewhere harmless to go)."""
    question, procedure, check_lines, answer, first = SOLVERS[domain](*operands, slip=slip)
    if not check:
        assert slip is None  # a trace never ends on an uncaught slip
        return question, "\n".join(procedure), answer
    verdict = f"same: {answer}" if first == answer else f"not {first}: {answer}"
    lines = procedure + [CHECK_HEADER[domain]] + check_lines + [verdict]
    if restate:  # what a Wait after a finished check leads to: the checked answer again, no new work
        lines.append(f"Wait, the answer stays {answer}.")
    return question, "\n".join(lines), answer


def random_number(rng, digits):
    """A uniformly random integer with exactly `digits` digits (no leading zero)."""
    return rng.randint(10 ** (digits - 1), 10 ** digits - 1) if digits > 1 else rng.randint(1, 9)


def sample_operands(rng, domain, size):
    """Random operands of one question; `size` = digits of the operands = steps of the procedure."""
    if domain == "addition":
        return random_number(rng, size), random_number(rng, size)
    # counting: a (2*size+2)-digit number, the target digit enriched so counts spread out
    digit = str(rng.randint(0, 9))
    number = [digit if rng.random() < 0.3 else str(rng.randint(0, 9)) for _ in range(2 * size + 2)]
    if number[0] == "0":
        number[0] = str(rng.randint(1, 9))
    return digit, "".join(number)


SOLVERS = {"addition": addition, "counting": counting}
# Operand sizes (digits). Pool and eval share the range; the one-digit tier exists only in the
# pool, as questions the base model solves, for the difficulty filter to drop.
SIZES = {"addition": range(2, 6), "counting": range(2, 5)}


def make_row(domain, question, trace, answer, size, seed):
    """A row in the s1 59K schema (question, solution, cot_type, source_type, metadata, cot,
    thinking_trajectories, attempt) plus `domain`, which curate.py uses instead of classifying."""
    if domain == "addition":
        solution = f"{question[8:-1]} = {answer}"  # "What is A + B?" -> "A + B = answer"
    else:
        solution = f"The digit occurs {answer} times."
    return {
        "question": question,
        "solution": solution,
        "cot_type": "math",
        "source_type": f"s1-demo/{domain}",
        "metadata": json.dumps({"domain": domain, "digits": size, "seed": seed}),
        "cot": None,
        "thinking_trajectories": [trace],
        "attempt": answer,
        "domain": domain,
    }


def question_key(question):
    """Lower-cased words without punctuation or operators: stricter than curate.py's key, so the
    pool never holds "What is 73 + 65?" next to "What is 73 - 65?" (near-duplicates to MinHash)."""
    return " ".join(re.findall(r"[a-z0-9]+", question.lower()))


def generate(rng, domain, count, sizes, seen, check_share=CHECK_SHARE, short_check_share=None):
    """`count` new questions of one domain, sizes cycled so every size is equally common; `seen`
    (question keys already used, updated here) keeps them distinct across domains and files;
    `check_share` of the long questions' traces check their result, `short_check_share` of the
    short ones' (default: a fifth of `check_share`)."""
    short_check_share = check_share / 5 if short_check_share is None else short_check_share
    rows, sizes, tries = [], list(sizes), 0
    while len(rows) < count:
        tries += 1
        if tries > 1000 + 100 * count:  # e.g. more one-digit questions than there are
            raise ValueError(f"cannot draw {count} distinct {domain} questions of {sizes} digits; ask for fewer")
        size = sizes[len(rows) % len(sizes)]
        operands = sample_operands(rng, domain, size)
        check = rng.random() < (check_share if size >= LONG[domain] else short_check_share)
        slips = slip_positions(domain, operands) if check and rng.random() < SLIP_SHARE else []
        restate = check and rng.random() < RESTATE_SHARE
        question, trace, answer = make_trace(domain, operands, check, rng.choice(slips) if slips else None, restate)
        if question_key(question) not in seen:
            seen.add(question_key(question))
            rows.append((question, trace, answer, size, operands))
    return rows


def make_eval(seed, per_domain):
    """Held-out questions (id, question, answer, domain, digits, operands), from their own stream."""
    rng = random.Random(f"eval-{seed}")
    out, seen = [], set()
    for domain in DOMAINS:
        # check_share=0: the questions drawn must not depend on how the traces are designed
        for question, _, answer, size, operands in generate(rng, domain, per_domain, SIZES[domain], seen, 0):
            out.append({"id": f"{domain}-{len(out)}", "question": question, "answer": answer,
                        "domain": domain, "digits": size, "operands": list(operands)})
    return out


def make_pool(seed, per_domain, eval_rows, easy_per_domain, bait=True, check_share=CHECK_SHARE):
    """The candidate pool: `per_domain` questions per domain over SIZES (one count for every
    domain, or a list in DOMAINS order), plus `easy_per_domain` one-digit questions (the difficulty
    filter's prey) and, with `bait`, rows that curate.py's quality, dedup and decontamination
    stages must drop. Shuffled with the same seed."""
    counts = per_domain if isinstance(per_domain, (list, tuple)) else [per_domain] * len(DOMAINS)
    rng = random.Random(f"pool-{seed}")
    seen = {question_key(r["question"]) for r in eval_rows}  # held out: never in the pool
    rows = []
    for domain, count in zip(DOMAINS, counts):
        for q, t, a, size, _ in generate(rng, domain, count, SIZES[domain], seen, check_share):
            rows.append(make_row(domain, q, t, a, size, seed))
        if domain != "counting":  # a one-digit count is no question; counting gets none
            for q, t, a, size, _ in generate(rng, domain, easy_per_domain, [1], seen, check_share):
                rows.append(make_row(domain, q, t, a, size, seed))
    if bait:
        rows += bait_rows(rng, rows, eval_rows, seed)
    rng.shuffle(rows)
    return rows


def bait_rows(rng, rows, eval_rows, seed):
    """Rows each curation stage must catch, copied from real rows so only the defect differs."""
    picks = rng.sample(rows, 12)
    bait = []
    # Quality (§2): an API error stored as the trace, an empty trace, an image link, an [asy] figure.
    # (Every row keeps its `attempt`: evaluate.py grades the pool against it for the difficulty filter.)
    bait.append({**picks[0], "thinking_trajectories": ["Error code: 429 - rate limit exceeded, retry later"]})
    bait.append({**picks[1], "thinking_trajectories": []})
    bait.append({**picks[2], "question": picks[2]["question"][:-1]
                 + " as shown in ![figure](https://example.com/sum.png)?"})
    bait.append({**picks[3], "question": picks[3]["question"]
                 + "\n[asy]\ndraw((0,0)--(1,0));\n[/asy]"})
    # Duplicates: exact copies, copies that differ in case, spacing or punctuation only (the same
    # question to curate.py), and a near duplicate: the same word problem worded slightly apart
    # (word 3-gram Jaccard >= 0.8; the short templated questions are too short to be near ones).
    bait += [dict(picks[4]), dict(picks[5]), dict(picks[6])]
    bait.append({**picks[7], "question": picks[7]["question"].lower().replace("?", " ?")})
    bait.append({**picks[8], "question": "  " + picks[8]["question"].replace(" ", "  ")})
    a, b = 48213, 39577
    _, trace, answer = make_trace("addition", (a, b), check=False)
    story = (f"A library lent out {a} books in its first year and {b} books in its second year. "
             "How many books did the library lend out over the {} two years?")
    for word in ("first", "whole"):
        bait.append(make_row("addition", story.format(word), trace, answer, 5, seed))
    # Decontamination (§2): evaluation questions that leaked into the pool, with a trace.
    for ev in rng.sample(eval_rows, 3):
        q, t, a = make_trace(ev["domain"], ev["operands"], check=False)
        bait.append(make_row(ev["domain"], q, t, a, ev["digits"], seed))
    return bait


# ---------------------------------------------------------------------------------------------
# The data-selection experiment (the paper's Table 2; `--selection`, scripts/ablations.sh): its own
# streams, none shared with the demo's. A warm-up stream of easy questions (a base that solves
# them, as the paper's Qwen2.5 solves easy math), a dev stream to check that, a pool whose
# difficulty filter has something to remove, and two test sets over every domain.
# ---------------------------------------------------------------------------------------------

SELECTION_SIZES = {"addition": range(1, 6), "counting": range(1, 5)}  # the pool's and the broad test set's
EASY_SIZES = {"addition": [1, 2, 2, 2], "counting": [1, 2]}  # warm-up and dev (only 81 one-digit sums exist)
HARD_SIZES = {"addition": [4, 5], "counting": [3, 4]}  # the hard test set (the AIME analogue)
SELECTION_CHECK_SHARE = 0.3  # every size alike: trace length is a noisy signal of difficulty, not the size


def eval_rows(rng, name, domain, count, sizes, seen):
    """`count` test questions (eval.jsonl's fields), drawn without trace decisions; ids `name-domain-i`."""
    return [{"id": f"{name}-{domain}-{i}", "set": name, "question": q, "answer": a, "domain": domain,
             "digits": size, "operands": list(ops)}
            for i, (q, _, a, size, ops) in enumerate(generate(rng, domain, count, sizes, seen, 0))]


def make_selection_sets(seed, pool_counts, warmup, dev, test_per_domain, check_share=SELECTION_CHECK_SHARE):
    """{file name: rows}: test.jsonl (a hard and a broad set, `test_per_domain` each per domain),
    dev.jsonl (easy questions), warmup.jsonl (easy questions with traces, no checks), pool.jsonl
    (`pool_counts` questions per domain over SELECTION_SIZES, every trace checking itself with
    probability `check_share`). Every question appears once across all files."""
    seen, out = set(), {"test.jsonl": [], "dev.jsonl": [], "warmup.jsonl": [], "pool.jsonl": []}
    rng = random.Random(f"selection-test-{seed}")
    for name, sizes in (("hard", HARD_SIZES), ("broad", SELECTION_SIZES)):
        for domain in DOMAINS:
            out["test.jsonl"] += eval_rows(rng, name, domain, test_per_domain, sizes[domain], seen)
    rng = random.Random(f"selection-dev-{seed}")
    for domain in DOMAINS:
        out["dev.jsonl"] += eval_rows(rng, "dev", domain, dev // len(DOMAINS), EASY_SIZES[domain], seen)
    rng = random.Random(f"selection-warmup-{seed}")
    for domain in DOMAINS:
        for q, t, a, size, _ in generate(rng, domain, warmup // len(DOMAINS), EASY_SIZES[domain], seen, 0):
            out["warmup.jsonl"].append(make_row(domain, q, t, a, size, seed))
    rng = random.Random(f"selection-pool-{seed}")
    for domain, count in zip(DOMAINS, pool_counts):
        for q, t, a, size, _ in generate(rng, domain, count, SELECTION_SIZES[domain], seen, check_share, check_share):
            out["pool.jsonl"].append(make_row(domain, q, t, a, size, seed))
    rng.shuffle(out["warmup.jsonl"])
    rng.shuffle(out["pool.jsonl"])
    return out


def write_jsonl(path, rows):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    os.replace(tmp, path)  # atomic: a rerun never sees half a file


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/demo/data", help="folder for pool.jsonl and eval.jsonl")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pool-per-domain", type=int, nargs="+", default=[250],
                        help=f"pool questions per domain (before the easy tier and bait rows): one count for all, "
                             f"or one per domain ({', '.join(DOMAINS)})")
    parser.add_argument("--check-share", type=float, default=None,
                        help=f"share of long questions' traces (addition and counting from 4 digits) that check "
                             f"their result after the procedure; short ones check a fifth as often (default "
                             f"{CHECK_SHARE}; with --selection every trace alike, default {SELECTION_CHECK_SHARE})")
    parser.add_argument("--easy-per-domain", type=int, default=25,
                        help="one-digit questions per arithmetic domain, for the difficulty filter")
    parser.add_argument("--eval-per-domain", type=int, default=20)
    parser.add_argument("--no-bait", action="store_true", help="leave out the rows curation must drop")
    parser.add_argument("--selection", action="store_true",
                        help="the data-selection experiment's files instead (pool, warmup, dev, test .jsonl): "
                             "--pool-per-domain gives the pool per domain, --check-share every trace's check share")
    parser.add_argument("--warmup", type=int, default=128, help="--selection: easy warm-up questions with traces")
    parser.add_argument("--dev", type=int, default=20, help="--selection: easy questions checking the warm-up")
    parser.add_argument("--test-per-domain", type=int, default=20, help="--selection: hard and broad test questions per domain, each")
    args = parser.parse_args(argv)
    if args.selection:
        return main_selection(args)
    args.check_share = CHECK_SHARE if args.check_share is None else args.check_share
    try:
        if min(args.pool_per_domain) < 1 or args.eval_per_domain < 1 or args.easy_per_domain < 0:
            raise ValueError("--pool-per-domain and --eval-per-domain must be >= 1, --easy-per-domain >= 0")
        if len(args.pool_per_domain) not in (1, len(DOMAINS)):
            raise ValueError(f"--pool-per-domain takes one count or {len(DOMAINS)} ({', '.join(DOMAINS)})")
        if not 0 <= args.check_share <= 1:
            raise ValueError("--check-share must be in [0, 1]")
        eval_rows = make_eval(args.seed, args.eval_per_domain)
        pool = make_pool(args.seed, args.pool_per_domain if len(args.pool_per_domain) > 1 else args.pool_per_domain[0],
                         eval_rows, args.easy_per_domain, bait=not args.no_bait, check_share=args.check_share)
        write_jsonl(os.path.join(args.out, "eval.jsonl"), eval_rows)
        write_jsonl(os.path.join(args.out, "pool.jsonl"), pool)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    print(f"wrote {len(pool)} pool rows and {len(eval_rows)} eval questions to {args.out}")


def main_selection(args):
    try:
        counts = args.pool_per_domain * len(DOMAINS) if len(args.pool_per_domain) == 1 else args.pool_per_domain
        if len(counts) != len(DOMAINS) or min(counts) < 1 or min(args.warmup, args.dev, args.test_per_domain) < 1:
            raise ValueError(f"--pool-per-domain takes one count or {len(DOMAINS)}, each >= 1; "
                             "--warmup, --dev and --test-per-domain must be >= 1")
        share = SELECTION_CHECK_SHARE if args.check_share is None else args.check_share
        if not 0 <= share <= 1:
            raise ValueError("--check-share must be in [0, 1]")
        files = make_selection_sets(args.seed, counts, args.warmup, args.dev, args.test_per_domain, share)
        for name, rows in files.items():
            write_jsonl(os.path.join(args.out, name), rows)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    print(f"wrote {', '.join(f'{len(rows)} rows to {name}' for name, rows in files.items())} in {args.out}")


if __name__ == "__main__":
    main()
