"""Demo data for the CPU run of s1: a candidate pool in the s1 59K schema and a held-out eval set.

The paper (§2) starts from 59K questions with reasoning traces and answers, filters them by quality
and difficulty and selects 1K by diversity; it then evaluates on AIME/MATH/GPQA. None of that fits
a 135M model on a laptop CPU, so this script writes a small stand-in, generated here from a seed
(no public dataset is copied):

- four domains a 135M model can learn in a few minutes and where *thinking longer helps*, because
  the answer is the end of a procedure with one step per digit: addition, subtraction and
  multiplication by one digit (written right to left with the carry or borrow on every line), and
  counting one digit in a long number (left to right with a running count);
- thinking traces that carry the partial result forward on every line, so the model never has to
  reverse digits at the end (a measured run of addition went 0% -> 84% as the budget grew);
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

DOMAINS = ("addition", "subtraction", "multiplication", "counting")


# ---------------------------------------------------------------------------------------------
# One function per domain: operands -> (question, thinking trace, answer). The trace is the
# procedure written out, one line per digit, so its length grows with the number of digits.
# ---------------------------------------------------------------------------------------------

def addition(a, b):
    """A + B. One line per column, right to left: `8+7+1=16 c1:616` = the column sum (with the
    incoming carry), the outgoing carry, and the result so far, so the last line already holds the
    answer in reading order (no digit reversal at the end; without the explicit carry on each line
    most errors were a dropped or spurious final carry)."""
    lines, carry, partial = [], 0, ""
    for da, db in zip(reversed(str(a)), reversed(str(b).rjust(len(str(a)), "0"))):
        s = int(da) + int(db) + carry
        lhs = f"{da}+{db}" + (f"+{carry}" if carry else "")
        carry, partial = s // 10, str(s % 10) + partial
        lines.append(f"{lhs}={s} c{carry}:{partial}")
    if carry:
        partial = "1" + partial
    lines.append(f"end c{carry}:{partial}")
    assert int(partial) == a + b
    return f"What is {a} + {b}?", "\n".join(lines), str(a + b)


def subtraction(a, b):
    """A - B with A > B. Right to left with the borrow on every line: `12-7-1=4 b1:421` = the
    column (borrowing 10 when needed, minus the incoming borrow), the outgoing borrow, and the
    result so far; the last line drops leading zeros."""
    lines, borrow, partial = [], 0, ""
    for da, db in zip(reversed(str(a)), reversed(str(b).rjust(len(str(a)), "0"))):
        d = int(da) - int(db) - borrow
        top = da if d >= 0 else "1" + da
        lhs = f"{top}-{db}" + ("-1" if borrow else "")
        borrow, d = (0, d) if d >= 0 else (1, d + 10)
        partial = str(d) + partial
        lines.append(f"{lhs}={d} b{borrow}:{partial}")
    answer = str(int(partial))
    lines.append(f"end b{borrow}:{answer}")
    assert int(answer) == a - b
    return f"What is {a} - {b}?", "\n".join(lines), answer


def multiplication(a, d):
    """A * d with d one digit. Right to left: `8*7+1=57 c5:747` = the column product plus the
    incoming carry, the outgoing carry, the result so far; the last line puts the carry in front."""
    lines, carry, partial = [], 0, ""
    for da in reversed(str(a)):
        p = int(da) * d + carry
        lhs = f"{da}*{d}" + (f"+{carry}" if carry else "")
        carry, partial = p // 10, str(p % 10) + partial
        lines.append(f"{lhs}={p} c{carry}:{partial}")
    if carry:
        partial = str(carry) + partial
    lines.append(f"end c{carry}:{partial}")
    assert int(partial) == a * d
    return f"What is {a} * {d}?", "\n".join(lines), str(a * d)


def counting(digit, number):
    """How often `digit` occurs in the string of digits `number`. Left to right, one line per
    digit with the running count: `7 yes 2`. (Digits, not letters: the tokenizer splits digits one
    per token, while a 135M model cannot spell words: 2/20 right in a few-shot probe.)"""
    lines, count = [], 0
    for ch in number:
        count += ch == digit
        lines.append(f"{ch} {'yes' if ch == digit else 'no'} {count}")
    lines.append(f"end {count}")
    return f"How many {digit}s are in {number}?", "\n".join(lines), str(count)


def random_number(rng, digits):
    """A uniformly random integer with exactly `digits` digits (no leading zero)."""
    return rng.randint(10 ** (digits - 1), 10 ** digits - 1) if digits > 1 else rng.randint(1, 9)


def sample_operands(rng, domain, size):
    """Random operands of one question; `size` = digits of the operands = steps of the procedure."""
    if domain == "addition":
        return random_number(rng, size), random_number(rng, size)
    if domain == "subtraction":
        a, b = random_number(rng, size), random_number(rng, size)
        return (max(a, b) + (a == b), min(a, b))
    if domain == "multiplication":
        return random_number(rng, size), rng.randint(2, 9)
    # counting: a (2*size+2)-digit number, the target digit enriched so counts spread out
    digit = str(rng.randint(0, 9))
    number = [digit if rng.random() < 0.3 else str(rng.randint(0, 9)) for _ in range(2 * size + 2)]
    if number[0] == "0":
        number[0] = str(rng.randint(1, 9))
    return digit, "".join(number)


SOLVERS = {"addition": addition, "subtraction": subtraction,
           "multiplication": multiplication, "counting": counting}
# Operand sizes (digits). Pool and eval share the range; the one-digit tier exists only in the
# pool, as questions the base model solves, for the difficulty filter to drop.
SIZES = {"addition": range(2, 8), "subtraction": range(2, 8), "multiplication": range(2, 7),
         "counting": range(2, 7)}
SOLUTION_OP = {"addition": "+", "subtraction": "-", "multiplication": "*"}


def make_row(domain, question, trace, answer, size, seed):
    """A row in the s1 59K schema (question, solution, cot_type, source_type, metadata, cot,
    thinking_trajectories, attempt) plus `domain`, which curate.py uses instead of classifying."""
    if domain in SOLUTION_OP:
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


def generate(rng, domain, count, sizes, seen):
    """`count` new questions of one domain, sizes cycled so every size is equally common; `seen`
    (question keys already used, updated here) keeps them distinct across domains and files."""
    rows, sizes, tries = [], list(sizes), 0
    while len(rows) < count:
        tries += 1
        if tries > 1000 + 100 * count:  # e.g. more one-digit questions than there are
            raise ValueError(f"cannot draw {count} distinct {domain} questions of {sizes} digits; ask for fewer")
        size = sizes[len(rows) % len(sizes)]
        operands = sample_operands(rng, domain, size)
        question, trace, answer = SOLVERS[domain](*operands)
        if question_key(question) not in seen:
            seen.add(question_key(question))
            rows.append((question, trace, answer, size, operands))
    return rows


def make_eval(seed, per_domain):
    """Held-out questions (id, question, answer, domain, digits, operands), from their own stream."""
    rng = random.Random(f"eval-{seed}")
    out, seen = [], set()
    for domain in DOMAINS:
        for question, _, answer, size, operands in generate(rng, domain, per_domain, SIZES[domain], seen):
            out.append({"id": f"{domain}-{len(out)}", "question": question, "answer": answer,
                        "domain": domain, "digits": size, "operands": list(operands)})
    return out


def make_pool(seed, per_domain, eval_rows, easy_per_domain, bait=True):
    """The candidate pool: `per_domain` questions per domain over SIZES, plus `easy_per_domain`
    one-digit questions (the difficulty filter's prey) and, with `bait`, rows that curate.py's
    quality, dedup and decontamination stages must drop. Shuffled with the same seed."""
    rng = random.Random(f"pool-{seed}")
    seen = {question_key(r["question"]) for r in eval_rows}  # held out: never in the pool
    rows = []
    for domain in DOMAINS:
        for q, t, a, size, _ in generate(rng, domain, per_domain, SIZES[domain], seen):
            rows.append(make_row(domain, q, t, a, size, seed))
        if domain != "counting":  # a one-digit count is no question; counting gets none
            for q, t, a, size, _ in generate(rng, domain, easy_per_domain, [1], seen):
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
    _, trace, answer = addition(a, b)
    story = (f"A library lent out {a} books in its first year and {b} books in its second year. "
             "How many books did the library lend out over the {} two years?")
    for word in ("first", "whole"):
        bait.append(make_row("addition", story.format(word), trace, answer, 5, seed))
    # Decontamination (§2): evaluation questions that leaked into the pool, with a trace.
    for ev in rng.sample(eval_rows, 3):
        q, t, a = SOLVERS[ev["domain"]](*ev["operands"])
        bait.append(make_row(ev["domain"], q, t, a, ev["digits"], seed))
    return bait


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
    parser.add_argument("--pool-per-domain", type=int, default=250,
                        help="pool questions per domain (before the easy tier and bait rows)")
    parser.add_argument("--easy-per-domain", type=int, default=25,
                        help="one-digit questions per arithmetic domain, for the difficulty filter")
    parser.add_argument("--eval-per-domain", type=int, default=20)
    parser.add_argument("--no-bait", action="store_true", help="leave out the rows curation must drop")
    args = parser.parse_args(argv)
    try:
        if args.pool_per_domain < 1 or args.eval_per_domain < 1 or args.easy_per_domain < 0:
            raise ValueError("--pool-per-domain and --eval-per-domain must be >= 1, --easy-per-domain >= 0")
        eval_rows = make_eval(args.seed, args.eval_per_domain)
        pool = make_pool(args.seed, args.pool_per_domain, eval_rows, args.easy_per_domain,
                         bait=not args.no_bait)
        write_jsonl(os.path.join(args.out, "eval.jsonl"), eval_rows)
        write_jsonl(os.path.join(args.out, "pool.jsonl"), pool)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    print(f"wrote {len(pool)} pool rows and {len(eval_rows)} eval questions to {args.out}")


if __name__ == "__main__":
    main()
