"""Benchmark curate.py on a synthetic pool the size of the paper's (59,029 rows, traces of about
3,000 characters, a domain column), end to end: reading, every filter, token lengths, selection.

    python benchmarks/bench_curate.py            # the full 59K pool
    python benchmarks/bench_curate.py --rows 5000

Two runs of the same pool, side by side:
  paper-like: an attempts file marks half the questions solved (the paper's difficulty filter
              kept 24,496 of 51,581), so only survivors are tokenized;
  worst case: no attempts file, so every row that passes quality is tokenized.
Also, on samples: token counting (cached pieces against encoding each trace in full) and
near-duplicate detection (MinHash+LSH against exact all-pairs Jaccard): same answers, speed ratios. The CPU may be shared: the load average is printed with the times.
"""
import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import curate  # noqa: E402

VOCAB = ("we need to find the number of such that let so then since because therefore wait but "
         "check again compute sum product integer prime divisor remainder modulo triangle circle angle "
         "radius area length side point line plane vector matrix determinant eigenvalue function "
         "derivative integral limit series converges probability expected value variance energy "
         "momentum force mass velocity charge field wave reaction molecule bond equilibrium enzyme "
         "cell gene case first second last this gives which means equals hmm actually maybe try "
         "substitute assume suppose consider recall note answer is").split()
LATEX = ["$x^2$", "\\frac{a}{b}", "$n(n+1)/2$", "\\sqrt{2}", "$\\pi r^2$", "$a_n$", "\\sum_{k=1}^{n}", "$f'(x)$", "=", "+", "(", ")"]


def synthetic_pool(n_rows, seed=0):
    """Rows in the 59K schema plus a domain column, with planted problems: API errors, figures,
    exact and near duplicates. Question i is made unique by its own random words and numbers."""
    rng = random.Random(seed)
    domains = [d for d in curate.DOMAINS[:50]]
    weights = [1 / (k + 1) for k in range(len(domains))]  # a few big domains, a long tail (as in the paper)
    rows = []
    for i in range(n_rows):
        q_words = rng.choices(VOCAB, k=rng.randint(25, 60))
        question = f"Problem {i}: " + " ".join(q_words) + f" when $n = {rng.randint(2, 10**6)}$?"
        trace = " ".join(rng.choice(VOCAB) if rng.random() < 0.85 else
                         (rng.choice(LATEX) if rng.random() < 0.5 else str(rng.randint(0, 9999)))
                         for _ in range(rng.randint(350, 650)))
        rows.append({"question": question, "solution": "42", "cot_type": "math", "source_type": "synthetic",
                     "metadata": "{}", "cot": None, "thinking_trajectories": [trace],
                     "attempt": "So the answer is $42$.", "domain": rng.choices(domains, weights)[0]})
    for i in rng.sample(range(n_rows), n_rows // 50):
        rows[i]["thinking_trajectories"] = ["API Error: 429 rate limit exceeded"]
    for i in rng.sample(range(n_rows), n_rows // 50):
        rows[i]["question"] += " ![diagram](https://example.com/fig.png)"
    for i in rng.sample(range(n_rows), n_rows // 100):
        rows.append({**rows[i], "question": rows[i]["question"].upper()})
    for i in rng.sample(range(n_rows), n_rows // 100):
        rows.append({**rows[i], "question": rows[i]["question"].replace("Problem", "Exercise")})
    return rows


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed_run(argv):
    t, c = time.time(), cpu_seconds()
    report = curate.main(argv)
    return time.time() - t, cpu_seconds() - c, report


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=59029)
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--pairs-sample", type=int, default=1000, help="questions for the all-pairs comparison")
    parser.add_argument("--tokens-sample", type=int, default=5000, help="traces for the token-count comparison")
    args = parser.parse_args()

    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    t = time.time()
    rows = synthetic_pool(args.rows)
    chars = sum(len(r["thinking_trajectories"][0]) for r in rows) / len(rows)
    print(f"built {len(rows)} rows (traces {chars:.0f} characters on average) in {time.time() - t:.1f}s")
    with tempfile.TemporaryDirectory() as tmp:
        pool, attempts, evals = (os.path.join(tmp, n) for n in ("pool.jsonl", "attempts.jsonl", "eval.jsonl"))
        with open(pool, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
        rng = random.Random(1)
        with open(attempts, "w") as f:  # evaluate.py's samples.jsonl: half the questions answered correctly once
            for r in rows[: args.rows]:
                f.write(json.dumps({"question": r["question"], "correct": rng.random() < 0.5}) + "\n")
        with open(evals, "w") as f:  # 500 evaluation questions, 100 of them leaked into the pool
            leaked = [r["question"].split(": ", 1)[1] for r in rng.sample(rows[: args.rows], 100)]
            fresh = [" ".join(rng.choices(VOCAB, k=30)) + f" {i}" for i in range(400)]
            f.writelines(json.dumps({"problem": q}) + "\n" for q in leaked + fresh)
        print(f"pool file: {os.path.getsize(pool) / 1e6:.0f} MB\n")

        common = ["--pool", pool, "--decontaminate", evals, "--size", str(args.size), "--quiet"]
        results = {}
        for name, extra in (("paper-like", ["--attempts", attempts]), ("worst case", [])):
            load = os.getloadavg()[0]
            wall, cpu, report = timed_run(common + extra + ["--out", os.path.join(tmp, f"{name}.jsonl")])
            tokenized = report["thinking_tokens"]["pool"]["count"]
            results[name] = (wall, cpu, tokenized)
            print(f"--> {name}: {wall:.1f}s wall, {cpu:.1f}s CPU, {tokenized} traces tokenized, "
                  f"load average {load:.1f} -> {os.getloadavg()[0]:.1f}\n")

        # token counts: summing cached piece counts against encoding every trace in full, side by side
        tokenizer = curate.load_tokenizer()
        traces = [r["thinking_trajectories"][0] for r in rows[: args.tokens_sample]]
        t, c = time.time(), cpu_seconds()
        fast = curate.count_tokens(tokenizer, traces, progress=False)
        t_fast, c_fast = time.time() - t, cpu_seconds() - c
        t, c = time.time(), cpu_seconds()
        full = [len(e.ids) for e in tokenizer.backend_tokenizer.encode_batch_fast(traces, add_special_tokens=False)]
        t_full, c_full = time.time() - t, cpu_seconds() - c
        print(f"token counts of {len(traces)} traces: count_tokens {t_fast:.2f}s wall / {c_fast:.2f}s CPU, "
              f"full batch encode {t_full:.2f}s / {c_full:.2f}s ({c_full / c_fast:.1f}x the CPU), same counts: {fast == full}")

        # near duplicates: MinHash + LSH against exact all-pairs Jaccard, side by side
        questions = [r["question"] for r in rows[: args.pairs_sample]]
        questions += [q.replace("Problem", "Exercise") for q in questions[:20]]
        t = time.time()
        fast = curate.near_duplicates(questions, progress=False)
        t_fast = time.time() - t
        t = time.time()
        sets = [curate.shingles(q) for q in questions]
        slow = set()
        for j in range(len(sets)):
            for i in range(j):
                if i not in slow and len(sets[i] & sets[j]) >= 0.8 * len(sets[i] | sets[j]):
                    slow.add(j)
                    break
        t_slow = time.time() - t
        pairs = len(questions) * (len(questions) - 1) // 2
        print(f"near duplicates on {len(questions)} questions: MinHash+LSH {t_fast:.2f}s, all pairs {t_slow:.2f}s "
              f"({t_slow / t_fast:.0f}x), same answer: {fast == slow} ({len(fast)} found); all pairs of "
              f"{args.rows} would be ~{t_slow * args.rows ** 2 / 2 / pairs / 60:.0f} min")

    wall, cpu, _ = results["paper-like"]
    print(f"\nsummary: {args.rows} rows, paper-like run {wall:.1f}s ({wall / 60:.2f} of the 60 s target), "
          f"worst case {results['worst case'][0]:.1f}s; CPU/wall {cpu / wall:.2f} "
          f"(below 1 means waiting for a shared CPU); load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
