"""The paper's comparisons in miniature: one report from what `bash run.sh ablations` wrote.

Reads --run (default runs/ablations) and the demo it built on (--demo, default runs/demo), prints
three tables and writes the same numbers to <run>/report.json, with one plot per comparison:
  data selection (the paper's Table 2; the experiment registered in docs/ablations.md): the
      warm-up's dev check, the difficulty filter's removal share, and per arm and seed the rows,
      steps, training tokens, the share of its rows the warmed-up base already solved, accuracy on
      the hard and the broad test set, and paired bootstrap 95% intervals of arm minus s1 over
      questions, per seed and pooled over seeds -> data_selection.png;
  sequential vs parallel (Figure 4): one greedy chain (capped below its natural length, then
      extended by 0-4 forced Waits) against majority votes over K = 1-16 samples that each finish
      by themselves, and votes over samples that each got one Wait (hybrid); accuracy against the
      total thinking tokens per question (all K samples counted), the best of each side within
      each budget, and from the samples why one side wins -> sequential_parallel.png;
  length control (Table 3): budget forcing, rejection sampling and token-conditional control:
      Control, Scaling, Performance, and per budget the accuracy, thinking tokens, share within
      budget and draws spent -> length_control.png.

    python demo/ablations_report.py --run runs/ablations --demo runs/demo
"""
import argparse
import json
import os
import sys
from collections import defaultdict

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import evaluate  # noqa: E402
import grade  # noqa: E402  (majority voting and answer matching, as evaluate.py grades them)

# The data-selection arms (docs/ablations.md), in the order they are shown; s1 is the reference.
ARMS = ("s1", "random", "diverse", "longest", "full-steps", "full-epochs")
TEST_SETS = ("hard", "broad")  # test.jsonl's ids start with the set's name
DEV_THRESHOLD = 0.7  # the warm-up's dev accuracy registered in advance: a base that solves the easy tier
# The primary comparison: s1 against random on the hard set (the registered main measure, and the
# paper's first Table 2 comparison). Every other arm and set is secondary.
PRIMARY = ("random", "hard")
CAP_BIT = 0.05  # experiment 2's registered check: more than 5% of an arm's generations cut off = the cap bit
Z_POWER = 1.959964 + 0.841621  # two-sided alpha 0.05 plus 80% power: a true gap this many SEs wide is found 80% of the time
# The paper's Table 2 on AIME24 (30 questions, one run each): s1K and the arms (percent).
PAPER_AIME24 = {"s1": 50.0, "random": 36.7, "diverse": 26.7, "longest": 33.3}
PAPER_QUESTIONS = 30
# Length-control methods -> the folder (under --run) with their evaluate.py summary.
METHODS = {"budget forcing": "eval", "rejection sampling": "control-rejection",
           "conditional (budget in prompt)": "control-conditional/eval"}


def read_json(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def within_budget(row):
    """A summary row's share of generations within [min_think, max_think] (summaries written before
    evaluate.py named it within_budget call it control)."""
    return row["within_budget"] if "within_budget" in row else row["control"]


def curve(summary):
    """[(max_think, accuracy, avg thinking tokens, within budget, avg tries or None)] of an evaluate.py summary."""
    return [{"max_think": r["max_think"], "accuracy": r["accuracy"], "avg_thinking_tokens": r["avg_thinking_tokens"],
             "within_budget": within_budget(r), "avg_tries": r.get("avg_tries")} for r in summary["rows"]]


def paired_bootstrap(arm, ref, resamples=10000, seed=0):
    """The mean of arm minus ref over questions and its 95% interval: resample the questions with
    replacement, the same questions for both (paired), and take the 2.5th and 97.5th percentiles of
    the resampled mean differences. arm, ref: {question id: score} over the same questions (a score
    is 0/1, or the mean over seeds). -> (difference, low, high)"""
    if set(arm) != set(ref) or not arm:
        raise ValueError("paired_bootstrap needs scores for the same, non-empty set of questions")
    ids = sorted(arm)
    diffs = np.array([arm[i] - ref[i] for i in ids], dtype=float)
    picks = np.random.default_rng(seed).integers(0, len(ids), size=(resamples, len(ids)))
    low, high = np.percentile(diffs[picks].mean(axis=1), [2.5, 97.5])
    return float(diffs.mean()), float(low), float(high)


def score_matrix(runs, ids):
    """[{question id: score}] (one per seed) -> array [seed, question] over `ids`."""
    if not runs or any(set(r) != set(ids) for r in runs):
        raise ValueError("every run needs scores for the same, non-empty set of questions")
    return np.array([[r[i] for i in ids] for r in runs], dtype=float)


def two_level_bootstrap(arm, ref, resamples=10000, seed=0):
    """Arm minus ref, pooled over seeds, with a 95% interval that covers both the seeds' spread and
    the questions' sampling. arm, ref: lists of {question id: 0/1 score}, one per seed (training run).
    Each resample draws the arm's seeds with replacement, the ref's seeds with replacement (they are
    different trainings), then the questions with replacement, the same questions for both (paired
    by question): the difference of the two means over the drawn seeds and questions. An arm with
    one seed contributes no seed spread (its interval is the questions' alone on its side).
    -> (difference, low, high, standard error of the difference)"""
    ids = sorted(ref[0])
    a, b = score_matrix(arm, ids), score_matrix(ref, ids)
    rng = np.random.default_rng(seed)
    seeds_a = rng.integers(0, len(a), size=(resamples, len(a)))
    seeds_b = rng.integers(0, len(b), size=(resamples, len(b)))
    questions = rng.integers(0, len(ids), size=(resamples, len(ids)))
    per_question = a[seeds_a].mean(axis=1) - b[seeds_b].mean(axis=1)  # [resample, question]
    diffs = np.take_along_axis(per_question, questions, axis=1).mean(axis=1)
    low, high = np.percentile(diffs, [2.5, 97.5])
    return float(a.mean() - b.mean()), float(low), float(high), float(diffs.std())


def verdict(interval, ref="s1"):
    """An ordering only where the interval excludes 0."""
    _, low, high = interval[:3]
    return f"arm ahead of {ref}" if low > 0 else f"{ref} ahead" if high < 0 else "indistinguishable at this size"


def power(arm, ref, z=Z_POWER):
    """What this design can detect, from the variance components of arm minus ref: var_questions
    (the spread over questions of the per-question difference of seed means), var_seeds_arm and
    var_seeds_ref (the spread over seeds of each side's accuracy; None with one seed). The
    smallest true gap found 80% of the time at two-sided alpha 0.05 is z * SE, SE^2 =
    var_questions / questions + var_seeds_arm / seeds_arm + var_seeds_ref / seeds_ref (a side with
    one seed borrows the other side's seed variance: one seed shows none, but it has some)."""
    ids = sorted(ref[0])
    a, b = score_matrix(arm, ids), score_matrix(ref, ids)
    var_q = float((a.mean(axis=0) - b.mean(axis=0)).var(ddof=1))
    var_a = float(a.mean(axis=1).var(ddof=1)) if len(a) > 1 else None
    var_b = float(b.mean(axis=1).var(ddof=1)) if len(b) > 1 else None
    var_a, var_b = (var_a if var_a is not None else var_b), (var_b if var_b is not None else var_a)
    seed_part = (var_a or 0.0) / len(a) + (var_b or 0.0) / len(b)
    se = float(np.sqrt(var_q / len(ids) + seed_part))
    return {"questions": len(ids), "seeds_arm": len(a), "seeds_ref": len(b), "var_questions": var_q,
            "var_seeds_arm": var_a, "var_seeds_ref": var_b, "se": se, "detectable": z * se}


def needed(var_q, var_seeds, gap, seeds, z=Z_POWER):
    """Questions needed to detect `gap` at 80% power, alpha 0.05, with `seeds` seeds per side
    (var_seeds: the two sides' seed variances summed); None when no number of questions suffices
    (the seeds' spread alone is wider than the gap allows)."""
    room = (gap / z) ** 2 - var_seeds / seeds
    return None if room <= 0 else int(np.ceil(var_q / room))


def power_analysis(pooled_s1, pooled_primary, primary_power):
    """The primary comparison's detectable gap, and what a run able to detect the paper's gaps would
    need: here, the paper's relative gaps (s1K over each arm on AIME24, as a share of s1K's 50%)
    applied to s1's accuracy here; at the paper's scale, its absolute gaps at its accuracies on 30
    questions, the questions' variance taken as two independent arms' (p(1-p) each, an upper bound:
    pairing lowers it) and seed variance unknown (the paper ran one seed per arm)."""
    p = primary_power
    var_seeds = (p["var_seeds_arm"] or 0.0) + (p["var_seeds_ref"] or 0.0)
    here = []
    for arm in ("random", "diverse", "longest"):
        relative = (PAPER_AIME24["s1"] - PAPER_AIME24[arm]) / PAPER_AIME24["s1"]
        gap = relative * pooled_s1
        here.append({"arm": arm, "relative_gap": relative, "gap": gap,
                     "questions_needed": {str(k): needed(p["var_questions"], var_seeds, gap, k) for k in (3, 10, 30)},
                     "seeds_needed_with_infinite_questions": int(np.ceil(var_seeds * (Z_POWER / gap) ** 2)) if gap > 0 else None})
    paper = []
    s1 = PAPER_AIME24["s1"] / 100
    for arm in ("random", "diverse", "longest"):
        other = PAPER_AIME24[arm] / 100
        var_q = s1 * (1 - s1) + other * (1 - other)
        gap = s1 - other
        paper.append({"arm": arm, "gap": gap, "var_questions": var_q,
                      "detectable_at_30": Z_POWER * float(np.sqrt(var_q / PAPER_QUESTIONS)),
                      "questions_needed_one_seed": needed(var_q, 0.0, gap, 1)})
    return {"primary": {"arm": PRIMARY[0], "test_set": PRIMARY[1], **p}, "observed_primary_gap": pooled_primary,
            "here": here, "paper_scale": paper,
            "note": "80% power, two-sided alpha 0.05; seed variance from 3 seeds is itself uncertain"}


def question_scores(samples):
    """{test set: {question id: 1.0 or 0.0}} of one evaluate.py run (one setting)."""
    out = defaultdict(dict)
    for s in samples:
        out[str(s["id"]).split("-")[0]][str(s["id"])] = float(s["correct"])
    return out


def mean_over_seeds(runs, test_set):
    """{question id: the mean score over the seeds' runs}."""
    ids = runs[0][test_set]
    return {i: sum(r[test_set][i] for r in runs) / len(runs) for i in ids}


def generation_stats(samples, rows=None):
    """What the write-up cites about an arm, computed from its files: the share of its training
    rows that check themselves (a "Wait" in the trace), and on each test set the thinking tokens per
    question, the share of generations the cap cut off, and the accuracy per domain."""
    out = {}
    if rows is not None:
        out["self_checking_rows"] = sum("Wait" in trace_of(r) for r in rows) / len(rows)
    for t in TEST_SETS:
        mine = [s for s in samples if str(s["id"]).startswith(t + "-")]
        if not mine:
            continue
        domains = defaultdict(list)
        for s in mine:
            domains[str(s["id"]).split("-")[1]].append(s["correct"])
        out[t] = {"thinking_tokens": sum(s["thinking_tokens"] for s in mine) / len(mine),
                  "cut_off": sum(bool(s["forced_stop"]) for s in mine) / len(mine),
                  "accuracy_by_domain": {d: sum(v) / len(v) for d, v in sorted(domains.items())}}
    return out


def trace_of(row):
    t = row.get("thinking_trajectories")
    return t[0] if isinstance(t, list) else str(t or "")


def mean_stats(stats):
    """The mean of generation_stats over seeds (same keys)."""
    if isinstance(stats[0], dict):
        return {k: mean_stats([s[k] for s in stats]) for k in stats[0] if all(k in s for s in stats)}
    return sum(stats) / len(stats)


def data_selection(run, base_eval=None, folder="selection"):
    """The warm-up's dev check, the difficulty filter, the warmed-up base on the test sets (the
    base row), and per arm its seeds' accuracies, training tokens, what its rows and generations
    look like, and intervals against s1 and against the base, from what scripts/ablations.sh wrote
    under RUN/selection (the base row from BASE_EVAL, default RUN/selection/base/eval). FOLDER
    holds the arms: selection (the first experiment) or selection-long (experiment 2, which shares
    the first one's pool, warm-up, filter and base row)."""
    sel = os.path.join(run, "selection")
    arms_dir = os.path.join(run, folder)
    dev = read_json(os.path.join(sel, "dev", "summary.json"))
    warm = read_json(os.path.join(sel, "warmup", "train_summary.json"))
    attempts = read_samples(os.path.join(sel, "attempts", "samples.jsonl"))
    solved = {s["question"] for s in attempts if s["correct"]}
    arms = {}
    for arm in ARMS:
        seeds = []
        for seed in range(100):
            arm_dir = os.path.join(arms_dir, f"{arm}-s{seed}")
            trained = read_json(os.path.join(arm_dir, "train", "train_summary.json"))
            samples = read_samples(os.path.join(arm_dir, "eval", "samples.jsonl"))
            if not os.path.isdir(arm_dir):
                break
            if not (trained and samples and os.path.exists(os.path.join(arm_dir, "eval", "summary.json"))):
                continue  # not run, or its evaluation not finished
            data = os.path.join(arms_dir, "full" if arm.startswith("full") else f"{arm}-s{seed}", "s1k.jsonl")
            rows = [json.loads(line) for line in open(data)]
            seeds.append({"seed": seed, "rows": trained["data"]["examples"], "steps": trained["steps"],
                          "epochs": round(trained["epochs"], 2), "train_tokens": trained["tokens"],
                          "train_seconds": trained["train_seconds"],
                          "domains": {d: sum(r["domain"] == d for r in rows) for d in sorted({r["domain"] for r in rows})},
                          "mean_trace_tokens": round(sum(r["thinking_tokens"] for r in rows) / len(rows), 1),
                          # the share of its rows the warmed-up base already solved: budget the filter would save
                          "solved_share": sum(r["question"] in solved for r in rows) / len(rows) if attempts else None,
                          "stats": generation_stats(samples, rows),
                          "cap": samples[0]["max_think"], "scores": question_scores(samples)})
        if seeds:
            arms[arm] = seeds
    if "s1" not in arms:
        return None
    s1_runs = [r["scores"] for r in arms["s1"]]
    base_samples = read_samples(os.path.join(base_eval or os.path.join(sel, "base", "eval"), "samples.jsonl"))
    base_scores = question_scores(base_samples) if base_samples else None
    base = None
    if base_scores:
        base = {"accuracy": {t: sum(v.values()) / len(v) for t, v in base_scores.items() if t in TEST_SETS},
                "cap": base_samples[0]["max_think"], "stats": generation_stats(base_samples), "vs_s1": {}}
        for t in TEST_SETS:
            if t in base_scores and all(r.get(t) for r in s1_runs):
                base["vs_s1"][t] = two_level_bootstrap([base_scores[t]], [r[t] for r in s1_runs], seed=1)
    out = {}
    for arm, seeds in arms.items():
        single = len(seeds) == 1
        entry = {"seeds": [], "single_seed": single, "accuracy": {}, "vs_s1": {}, "verdict": {}, "role": {},
                 "vs_base": {}, "verdict_base": {}}
        for r in seeds:
            ref = next((x for x in arms["s1"] if x["seed"] == r["seed"]), arms["s1"][0])  # same seed, else s1's seed 0
            per = {k: v for k, v in r.items() if k not in ("scores", "cap")}
            per["accuracy"] = {t: sum(r["scores"][t].values()) / len(r["scores"][t]) for t in TEST_SETS if r["scores"].get(t)}
            if arm != "s1":
                per["s1_seed"] = ref["seed"]
                per["vs_s1"] = {t: paired_bootstrap(r["scores"][t], ref["scores"][t]) for t in per["accuracy"]}
            entry["seeds"].append(per)
        for t in TEST_SETS:
            if not all(r["scores"].get(t) for r in seeds):
                continue
            runs = [r["scores"][t] for r in seeds]
            entry["accuracy"][t] = sum(sum(x.values()) for x in runs) / sum(len(x) for x in runs)
            if arm != "s1":
                entry["vs_s1"][t] = two_level_bootstrap(runs, [r[t] for r in s1_runs])
                entry["verdict"][t] = verdict(entry["vs_s1"][t])
                entry["role"][t] = "primary" if (arm, t) == PRIMARY else "secondary"
            if base_scores and t in base_scores:
                entry["vs_base"][t] = two_level_bootstrap(runs, [base_scores[t]], seed=2)
                entry["verdict_base"][t] = {"arm ahead of base": "above the base", "base ahead": "below the base"}.get(
                    verdict(entry["vs_base"][t], "base"), "indistinguishable from the base")
        entry["train_tokens"] = sum(r["train_tokens"] for r in seeds) / len(seeds)
        entry["stats"] = mean_stats([r["stats"] for r in seeds])
        out[arm] = entry
    filtered = read_json(os.path.join(arms_dir, "s1-s0", "s1k.report.json"))
    difficulty = next((s for s in filtered["stages"] if s["stage"] == "difficulty"), None) if filtered else None
    arm, t = PRIMARY
    primary_power = None
    if arm in arms and all(r["scores"].get(t) for r in arms[arm]):
        primary_power = power_analysis(out["s1"]["accuracy"][t], out[arm]["vs_s1"][t][0],
                                       power([r["scores"][t] for r in arms[arm]], [r[t] for r in s1_runs]))
        primary_power["broad"] = power([r["scores"]["broad"] for r in arms[arm]], [r["broad"] for r in s1_runs]) \
            if all(r["scores"].get("broad") for r in arms[arm]) else None
    return {"warmup": {"dev_accuracy": dev["rows"][0]["accuracy"] if dev else None, "dev_n": dev["rows"][0]["n"] if dev else None,
                       "threshold": DEV_THRESHOLD, "passed": bool(dev and dev["rows"][0]["accuracy"] >= DEV_THRESHOLD),
                       "steps": warm and warm["steps"], "train_tokens": warm and warm["tokens"]},
            "filter": {"pool": difficulty["in"], "removed": difficulty["in"] - difficulty["out"],
                       "removed_share": (difficulty["in"] - difficulty["out"]) / difficulty["in"]} if difficulty else None,
            "test_questions": {t: len(s1_runs[0].get(t, {})) for t in TEST_SETS},
            "cap": arms["s1"][0]["cap"], "primary": {"arm": PRIMARY[0], "test_set": PRIMARY[1]},
            "base": base, "arms_below_base": {t: [a for a, e in out.items() if e["verdict_base"].get(t) == "below the base"]
                                              for t in TEST_SETS} if base else None,
            "power": primary_power, "arms": out,
            # the registered check of experiment 2: an arm whose generations the cap cut off above
            # CAP_BIT on either test set ran under a binding cap
            "cap_bit": {a: {t: e["stats"][t]["cut_off"] for t in TEST_SETS if t in e["stats"]} for a, e in out.items()
                        if any(e["stats"].get(t, {}).get("cut_off", 0) > CAP_BIT for t in TEST_SETS)}}


def majority_curves(samples, ks=(1, 2, 4, 8, 16)):
    """Per cap and K: accuracy of the majority answer over each question's first K samples, and
    the thinking tokens those K samples spent per question (the parallel side of Figure 4)."""
    by_cap = defaultdict(lambda: defaultdict(list))
    for s in samples:
        by_cap[s["max_think"]][str(s["id"])].append(s)
    out = []
    for cap, questions in sorted(by_cap.items()):
        most = min(len(v) for v in questions.values())
        for k in ks:
            if k > most:
                continue
            correct, tokens = 0, 0
            for gens in questions.values():
                first = sorted(gens, key=lambda g: g["sample"])[:k]
                vote = grade.majority_vote([g["extracted"] for g in first])
                correct += grade.answers_match(vote, first[0]["gold"])
                tokens += sum(g["thinking_tokens"] for g in first)
            out.append({"max_think": cap, "k": k, "n": len(questions), "accuracy": correct / len(questions),
                        "thinking_tokens_per_question": tokens / len(questions)})
    return out


def read_samples(path):
    return evaluate.read_samples(path) if os.path.exists(path) else []


def chain_points(samples, label):
    """One point per (cap, Waits) of greedy chains: accuracy and mean thinking tokens per question."""
    groups = defaultdict(list)
    for s in samples:
        groups[(s["max_think"], s["num_wait"])].append(s)
    return [{"chain": label, "max_think": cap, "num_wait": waits, "n": len(g),
             "accuracy": sum(s["correct"] for s in g) / len(g),
             "thinking_tokens_per_question": sum(s["thinking_tokens"] for s in g) / len(g)}
            for (cap, waits), g in sorted(groups.items())]


def best_within(points, budget):
    """The most accurate point that spends at most `budget` thinking tokens per question, or None."""
    fits = [p for p in points if p["thinking_tokens_per_question"] <= budget + 1e-9]
    return max(fits, key=lambda p: p["accuracy"]) if fits else None


def vote_analysis(parallel_samples, wait_samples, hybrid_samples=()):
    """Why one side wins, from the samples: how often the K samples agree with their vote, how often
    the right answer is among them but loses the vote, per question the vote over all K against the
    greedy chain with one forced Wait (what each fixes that the other could not), and per sample
    what its one Wait did (the hybrid's samples are the parallel ones up to their first stop)."""
    by_question = defaultdict(list)
    for s in parallel_samples:
        by_question[str(s["id"])].append(s)
    one_wait = {str(s["id"]): s for s in wait_samples if s["num_wait"] == 1}
    agree, unanimous, in_minority, vote_right, counts = [], 0, 0, {}, defaultdict(int)
    for qid, gens in by_question.items():
        answers = [g["extracted"] for g in gens]
        vote = evaluate.majority_vote(answers)
        agreeing = sum(a is not None and evaluate.answers_match(a, vote) for a in answers)
        agree.append(agreeing / len(gens))
        unanimous += agreeing == len(gens)
        vote_right[qid] = bool(vote is not None and evaluate.answers_match(vote, gens[0]["gold"]))
        in_minority += not vote_right[qid] and any(g["correct"] for g in gens)
        if qid in one_wait:
            counts[(vote_right[qid], bool(one_wait[qid]["correct"]))] += 1
    n = len(by_question)
    return {"k": min(len(v) for v in by_question.values()), "questions": n,
            "sample_accuracy": sum(s["correct"] for s in parallel_samples) / len(parallel_samples),
            "samples_closed_themselves": sum(bool(s.get("closed_itself")) for s in parallel_samples) / len(parallel_samples),
            "mean_vote_agreement": sum(agree) / n, "unanimous_questions": unanimous,
            "right_answer_sampled_but_outvoted": in_minority,
            "vote_vs_one_wait": {"both right": counts[(True, True)], "only the vote": counts[(True, False)],
                                 "only the Wait": counts[(False, True)], "neither": counts[(False, False)]}
            if one_wait else None,
            "sample_wait": paired_wait(parallel_samples, hybrid_samples)}


def paired_wait(parallel_samples, hybrid_samples):
    """Per sample, the same draws without and with one Wait: how often the Wait made a wrong answer
    right, and a right one wrong."""
    without = {(str(s["id"]), s["sample"]): s["correct"] for s in parallel_samples}
    pairs = [(without[key], s["correct"]) for s in hybrid_samples if (key := (str(s["id"]), s["sample"])) in without]
    if not pairs:
        return None
    return {"samples": len(pairs), "fixed": sum(not a and b for a, b in pairs), "broke": sum(a and not b for a, b in pairs)}


def sequential_parallel(run, demo):
    """One greedy chain scaled sequentially (capped below its natural length, then 0-4 forced Waits)
    against majority votes over parallel samples that each finish by themselves, and votes over the
    same samples each given one Wait (hybrid), all at their total thinking tokens per question."""
    # The demo's one evaluation run holds both: its capping sweep, and at its largest cap (one that
    # never bites) the unforced chain and its Waits.
    demo_eval = read_samples(os.path.join(demo, "eval", "samples.jsonl"))
    sampled = read_samples(os.path.join(run, "parallel", "samples.jsonl"))  # each sample without, then with one Wait
    parallel_samples = [s for s in sampled if s["num_wait"] == 0]
    hybrid_samples = [s for s in sampled if s["num_wait"] == 1]
    if not (demo_eval and parallel_samples):
        return None
    free_cap = max(s["max_think"] for s in demo_eval)
    waits = [s for s in demo_eval if s["max_think"] == free_cap and s.get("wait_str", "Wait") == "Wait"]
    chain = chain_points(waits + read_samples(os.path.join(run, "sequential", "samples.jsonl")), "Waits")
    natural = next(p for p in chain if p["num_wait"] == 0)["thinking_tokens_per_question"]
    capped = [p for p in chain_points([s for s in demo_eval if s["max_think"] < free_cap], "cap")
              if p["thinking_tokens_per_question"] < natural]  # caps that bite; the rest equal the unforced chain
    sequential = capped + chain
    parallel = majority_curves(parallel_samples)
    hybrid = majority_curves(hybrid_samples)
    config = read_json(os.path.join(run, "parallel", "run.json")) or {}
    # At each budget, the best each side reaches within it: the side a user with that budget should pick.
    # The budgets are the points' own exact costs: a rounded one could leave a point out of its own budget.
    budgets = sorted({p["thinking_tokens_per_question"] for p in sequential + parallel + hybrid})
    matched = []
    for b in budgets:
        best = {name: best_within(points, b) for name, points in
                (("sequential", sequential), ("parallel", parallel), ("hybrid", hybrid))}
        acc = {name: (p["accuracy"] if p else None) for name, p in best.items()}
        top = max((a for a in acc.values() if a is not None), default=None)
        matched.append({"budget": b, **{f"{name}_accuracy": a for name, a in acc.items()},
                        "winner": [name for name, a in acc.items() if a is not None and a == top]})
    return {"sequential": sequential, "parallel": parallel, "hybrid": hybrid, "matched": matched,
            "analysis": vote_analysis(parallel_samples, waits, hybrid_samples), "temperature": config.get("temperature"),
            "parallel_cap": parallel_samples[0]["max_think"],
            "seeds": "one generator per question, seeded from --seed %d and its id; each sample draws its own tokens" % config.get("seed", 0)}


def length_control(run, demo):
    """Per method: the paper's metrics and the per-budget curve. Budget forcing is the demo's own
    capping sweep; the other two were run on the same model (conditional: trained on with budgets
    stated in its prompts) by the ablations."""
    out = {}
    summaries = {method: read_json(os.path.join(demo if method == "budget forcing" else run, folder, "summary.json"))
                 for method, folder in METHODS.items()}
    # The demo's sweep has budgets of its own (8-256); compare budget forcing at the budgets the other
    # methods were run at, with the paper's metrics recomputed over those alone.
    caps = {r["max_think"] for method, summary in summaries.items() if summary and method != "budget forcing"
            for r in summary["rows"]}
    forcing = summaries["budget forcing"]
    if forcing:  # the demo's run also holds its extensions (Waits at a cap that never bites): capping only
        forcing = summaries["budget forcing"] = {**forcing, "rows": [
            r for r in forcing["rows"] if r["num_wait"] == 0 and r["max_think"] <= forcing["metrics"]["a_max"]]}
    if forcing and caps and caps <= {r["max_think"] for r in forcing["rows"]}:
        rows = [r for r in forcing["rows"] if r["max_think"] in caps]
        metrics = evaluate.scaling_metrics([(r["avg_thinking_tokens"], r["accuracy"]) for r in rows], 0, max(caps))
        summaries["budget forcing"] = {"rows": rows, "metrics": metrics}
    for method, summary in summaries.items():
        if summary:
            m = summary["metrics"]
            out[method] = {"control": m["control"], "scaling": m["scaling"], "performance": m["performance"],
                           "n": summary["rows"][0]["n"], "curve": curve(summary),
                           # the share of budgets whose average thinking fits that budget itself
                           "average_within_own_budget": sum(r["avg_thinking_tokens"] <= r["max_think"]
                                                            for r in summary["rows"]) / len(summary["rows"]),
                           # the share of generations within their budget, over every budget of the sweep
                           "within_budget": sum(map(within_budget, summary["rows"])) / len(summary["rows"])}
    return out


def plot_selection(ds, path, what):
    """Each arm minus s1 per test set, pooled and per seed, with the base row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    others = [a for a in ds["arms"] if a != "s1"]
    fig, axes = plt.subplots(1, 2, figsize=(10.4, 4.4), sharey=True)
    for ax, t in zip(axes, TEST_SETS):
        for x, arm in enumerate(others):
            e = ds["arms"][arm]
            if t not in e["vs_s1"]:
                continue
            d, low, high = (100 * v for v in e["vs_s1"][t][:3])
            face = "white" if e["single_seed"] else "C0"  # open: one seed, no seed spread on its side
            ax.errorbar([x], [d], yerr=[[d - low], [high - d]], fmt="o", color="C0", mfc=face, capsize=4,
                        label="pooled over seeds, 95% interval (seeds and questions)" if x == 0 else None)
            per = [100 * r["vs_s1"][t][0] for r in e["seeds"] if t in r.get("vs_s1", {})]
            ax.plot([x + 0.15] * len(per), per, "x", color="C1", label="each seed" if x == 0 else None)
        base = ds.get("base")
        if base and t in base["vs_s1"]:
            ax.axhline(100 * base["vs_s1"][t][0], color="C3", ls="--", lw=1,
                       label=f"the warmed-up base every arm starts from ({100 * base['accuracy'][t]:.0f}%)")
        ax.axhline(0, color="gray", lw=1)
        ax.set_xticks(range(len(others)))
        ax.set_xticklabels([f"{a}{' (1 seed)' if ds['arms'][a]['single_seed'] else ''}"
                            f"{' PRIMARY' if (a, t) == PRIMARY else ''}\n"
                            f"{100 * ds['arms'][a]['accuracy'].get(t, float('nan')):.0f}%" for a in others], fontsize=7)
        ax.set_title(f"{t} test set ({ds['test_questions'][t]} questions); s1 {100 * ds['arms']['s1']['accuracy'].get(t, float('nan')):.0f}%",
                     fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy minus s1's (points)")
    # The legend goes below the panels, where it cannot hide a seed's marker.
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=3, fontsize=7)
    fig.suptitle(f"data selection ({what}): each arm minus s1, two-level bootstrap (seeds, then questions); "
                 f"cap {ds['cap']}; open marker: one seed", fontsize=9)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot(results, out_dir):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def finish(fig, ax, title, xlabel, path):
        ax.set_xlabel(xlabel)
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(0, 100)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, path), dpi=120)
        plt.close(fig)

    for key, path, what in (("data_selection", "data_selection.png", "Table 2 in miniature"),
                            ("data_selection_long", "data_selection_long.png", "experiment 2, 5 epochs")):
        if results.get(key):
            plot_selection(results[key], os.path.join(out_dir, path), what)
    sp = results["sequential_parallel"]
    if sp:
        fig, ax = plt.subplots(figsize=(6.4, 4))
        seq = sp["sequential"]
        ax.plot([r["thinking_tokens_per_question"] for r in seq], [100 * r["accuracy"] for r in seq], "o-",
                label="sequential: one greedy chain, capped, then 0-%d Waits" % max(r["num_wait"] for r in seq))
        for r in seq:
            label = f"cap {r['max_think']}" if r["chain"] == "cap" else f"{r['num_wait']}W"
            ax.annotate(label, (r["thinking_tokens_per_question"], 100 * r["accuracy"]), textcoords="offset points",
                        xytext=(3, -10), fontsize=7)
        for name, style, what in (("parallel", "s--", "majority of K samples"),
                                  ("hybrid", "^:", "majority of K samples, each with one Wait")):
            points = sp[name]
            if not points:
                continue
            ax.plot([r["thinking_tokens_per_question"] for r in points], [100 * r["accuracy"] for r in points], style,
                    label=f"{name}: {what} (T={sp['temperature']}, cap {sp['parallel_cap']})")
            for r in points:
                ax.annotate(f"K={r['k']}", (r["thinking_tokens_per_question"], 100 * r["accuracy"]),
                            textcoords="offset points", xytext=(3, 4), fontsize=7)
        ax.set_xscale("log", base=2)
        finish(fig, ax, "sequential vs parallel test-time compute (Figure 4 in miniature)",
               "total thinking tokens per question (all samples)", "sequential_parallel.png")
    if results["length_control"]:
        fig, ax = plt.subplots(figsize=(6.4, 4))
        for method, r in results["length_control"].items():
            c = r["curve"]
            ax.plot([p["avg_thinking_tokens"] for p in c], [100 * p["accuracy"] for p in c], "o-",
                    label=f"{method}: Control {100 * r['control']:.0f}%")
            for p in c:
                ax.annotate(str(p["max_think"]), (p["avg_thinking_tokens"], 100 * p["accuracy"]),
                            textcoords="offset points", xytext=(3, 4), fontsize=7)
        finish(fig, ax, "length control (Table 3 in miniature; labels: budget)", "average thinking tokens",
               "length_control.png")


def pct(x):
    return "-" if x is None else f"{100 * x:.1f}%"


def interval(v):
    """(difference, low, high) -> '+5.0 [-2.5, +12.5]' in points, or '-'."""
    return "-" if v is None else f"{100 * v[0]:+.1f} [{100 * v[1]:+.1f}, {100 * v[2]:+.1f}]"


def format_data_selection(ds, title="data selection (Table 2)"):
    out = []
    w, f = ds["warmup"], ds["filter"]
    out.append(f"{title}, greedy at a thinking cap of {ds['cap']}, from a base warmed up on easy "
               f"questions ({w['steps']} steps; dev {pct(w['dev_accuracy'])} of {w['dev_n']}, threshold "
               f"{pct(w['threshold'])}: {'passed' if w['passed'] else 'NOT passed'}); difficulty filter: "
               + (f"removed {f['removed']} of {f['pool']} ({pct(f['removed_share'])})" if f else "-"))
    out.append(f"  {'arm':<11} {'seed':>6} {'rows':>4} {'steps':>5} {'train tok':>9} {'solved':>6} "
               + "".join(f" {t + ' (' + str(ds['test_questions'][t]) + ')':>11} {'minus s1 [95% interval]':>26}"
                         for t in TEST_SETS))
    base = ds.get("base")
    if base:
        cells = "".join(f" {pct(base['accuracy'].get(t)):>11} {interval(base['vs_s1'].get(t)):>26}" for t in TEST_SETS)
        note = "the warmed-up base every arm starts from"
        if base["cap"] != ds["cap"]:  # experiment 2 shares the first experiment's base row
            cut = max(base["stats"][t]["cut_off"] for t in TEST_SETS if t in base["stats"])
            note += f"; evaluated at cap {base['cap']}, which cut off {pct(cut)} of its generations"
        out.append(f"  {'base':<11} {'-':>6} {'-':>4} {'0':>5} {'-':>9} {'-':>6}" + cells + f"   ({note})")
    for arm, e in ds["arms"].items():
        for r in e["seeds"]:
            cells = ""
            for t in TEST_SETS:
                v = r.get("vs_s1", {}).get(t)
                cells += f" {pct(r['accuracy'].get(t)):>11} {interval(v):>26}"
            out.append(f"  {arm:<11} {r['seed']:>6} {r['rows']:>4} {r['steps']:>5} {r['train_tokens']:>9} "
                       f"{pct(r['solved_share']):>6}" + cells)
        if len(e["seeds"]) > 1 or arm != "s1":
            cells = "".join(f" {pct(e['accuracy'].get(t)):>11} {interval(e['vs_s1'].get(t)):>26}" for t in TEST_SETS)
            label = "1 seed" if e["single_seed"] else "all"
            notes = "; ".join(f"{t} ({e['role'][t]}): {v}" for t, v in e["verdict"].items())
            out.append(f"  {arm:<11} {label:>6} {'':>4} {'':>5} {e['train_tokens']:>9.0f} {'':>6}" + cells
                       + (f"   {notes}" if notes else ""))
    out.append("  (solved: the share of the arm's rows the warmed-up base already answers; minus s1: per seed, against s1 "
               "of the same seed, paired bootstrap over questions; 'all': pooled over seeds, two-level bootstrap (seeds, "
               "then questions, paired by question), so the interval includes the seeds' spread; '1 seed': the arm ran "
               "one seed, its side of the interval has no seed spread)")
    out.append(f"  primary comparison: s1 against {ds['primary']['arm']} on the {ds['primary']['test_set']} set; "
               "every other arm and set is secondary (not corrected for multiple comparisons)")
    if base:
        out.append("  against the warmed-up base (arm minus base, two-level bootstrap):")
        for arm, e in ds["arms"].items():
            out.append(f"    {arm:<11}" + "".join(f"  {t}: {interval(e['vs_base'].get(t))} {e['verdict_base'].get(t, '-')}"
                                                  for t in TEST_SETS) + ("  (1 seed)" if e["single_seed"] else ""))
        below = ds["arms_below_base"]
        out.append("  arms below the base: " + "; ".join(f"{t}: {', '.join(below[t]) or 'none'}" for t in TEST_SETS))
    out.append("  what the rows and the generations look like (mean over seeds): self-checking rows; per test set "
               "thinking tokens per question / cut off by the cap / accuracy per domain")
    rows = ([("base", {"stats": base["stats"], "single_seed": True})] if base else []) + list(ds["arms"].items())
    for arm, e in rows:
        s = e["stats"]
        check = pct(s["self_checking_rows"]) if "self_checking_rows" in s else "-"
        per = "; ".join(f"{t}: {s[t]['thinking_tokens']:.0f} tok / {pct(s[t]['cut_off'])} / "
                        + ", ".join(f"{d} {pct(a)}" for d, a in s[t]["accuracy_by_domain"].items())
                        for t in TEST_SETS if t in s)
        out.append(f"    {arm:<11} {check:>6}  {per}")
    if ds.get("cap_bit"):
        out.append(f"  the cap bit (more than {pct(CAP_BIT)} of generations cut off) for: "
                   + "; ".join(f"{a} ({', '.join(f'{t} {pct(v)}' for t, v in c.items())})" for a, c in ds["cap_bit"].items()))
    p = ds.get("power")
    if p:
        q = p["primary"]
        out.append(f"  power (80%, two-sided alpha 0.05), primary ({q['test_set']}, {q['seeds_arm']} vs {q['seeds_ref']} seeds, "
                   f"{q['questions']} questions): SE {100 * q['se']:.1f} points (questions' variance {q['var_questions']:.3f}, "
                   f"seeds' {fmt_var(q['var_seeds_arm'])} and {fmt_var(q['var_seeds_ref'])}): smallest detectable gap "
                   f"{100 * q['detectable']:.1f} points"
                   + (f"; broad set: {100 * p['broad']['detectable']:.1f}" if p.get("broad") else ""))
        for h in p["here"]:
            n = h["questions_needed"]
            out.append(f"    the paper's s1K-{h['arm']} gap ({100 * h['relative_gap']:.0f}% of s1K) at s1's accuracy here: "
                       f"{100 * h['gap']:.1f} points; questions needed at 3 / 10 / 30 seeds: "
                       + " / ".join(str(n[k]) if n[k] else "none suffice" for k in ("3", "10", "30"))
                       + f"; seeds needed even with unlimited questions: {h['seeds_needed_with_infinite_questions']}")
        for h in p["paper_scale"]:
            out.append(f"    at the paper's scale (AIME24, one seed): s1K-{h['arm']} gap {100 * h['gap']:.1f} points; "
                       f"detectable with 30 questions: {100 * h['detectable_at_30']:.1f}; questions needed: "
                       f"{h['questions_needed_one_seed']}")
    return out


def fmt_var(v):
    return "-" if v is None else f"{v:.4f}"


def format_report(results):
    out = []
    if results["data_selection"]:
        out += format_data_selection(results["data_selection"])
    if results.get("data_selection_long"):
        out += format_data_selection(results["data_selection_long"],
                                     "experiment 2, data selection trained 5 epochs (docs/ablations.md)")
    sp = results["sequential_parallel"]
    if sp:
        out.append(f"sequential vs parallel (Figure 4), the demo's model, {sp['sequential'][0]['n']} questions; "
                   f"parallel: temperature {sp['temperature']}, cap {sp['parallel_cap']}, {sp['seeds']}:")
        for r in sp["sequential"]:
            what = f"capped at {r['max_think']}" if r["chain"] == "cap" else f"{r['num_wait']} forced Waits"
            out.append(f"  one greedy chain, {what:<16}: {r['thinking_tokens_per_question']:>7.1f} "
                       f"thinking tokens/question, accuracy {pct(r['accuracy'])}")
        for name in ("parallel", "hybrid"):
            for r in sp[name]:
                what = "majority of" if name == "parallel" else "hybrid, 1 Wait each,"
                out.append(f"  {what} K={r['k']:<2}{'':<{27 - len(what)}}: {r['thinking_tokens_per_question']:>7.1f} "
                           f"thinking tokens/question, accuracy {pct(r['accuracy'])}")
        out.append(f"  the best of each side within a budget of total thinking tokens per question:\n"
                   f"  {'budget':>8} {'sequential':>10} {'parallel':>9} {'hybrid':>7}  winner")
        for m in sp["matched"]:
            out.append(f"  {m['budget']:>8.0f} {pct(m['sequential_accuracy']):>10} {pct(m['parallel_accuracy']):>9} "
                       f"{pct(m['hybrid_accuracy']):>7}  {' = '.join(m['winner'])}")
        a = sp["analysis"]
        out.append(f"  why, from the {a['k']} samples per question: a sample is right {pct(a['sample_accuracy'])} of the "
                   f"time and ends its thinking itself {pct(a['samples_closed_themselves'])}; a sample agrees with its "
                   f"question's vote {pct(a['mean_vote_agreement'])} on average (all agree on {a['unanimous_questions']} "
                   f"of {a['questions']}); the right answer was sampled but outvoted on "
                   f"{a['right_answer_sampled_but_outvoted']}")
        if a["vote_vs_one_wait"]:
            v = a["vote_vs_one_wait"]
            out.append(f"  the vote over all {a['k']} against one greedy chain with one Wait, per question: both right "
                       f"{v['both right']}, only the vote {v['only the vote']}, only the Wait {v['only the Wait']}, "
                       f"neither {v['neither']}")
        if a.get("sample_wait"):
            w = a["sample_wait"]
            out.append(f"  one Wait per sample (the same draws up to its first stop), over {w['samples']} samples: "
                       f"made a wrong answer right {w['fixed']}, a right one wrong {w['broke']}")
    lc = results["length_control"]
    if lc:
        first = next(iter(lc.values()))
        out.append(f"length control (Table 3), the demo's model (conditional: trained on with budgets in its prompts), "
                   f"{first['n']} questions:")
        out.append(f"  {'method':<31} {'Control':>7} {'own bud.':>8} {'in budget':>9} {'Scaling':>8} {'Perf.':>6}   "
                   "per budget: accuracy / avg thinking tokens / within budget [/ draws]")
        for method, r in lc.items():
            scaling = "n/a" if r["scaling"] is None else f"{100 * r['scaling']:.2f}"
            per = "; ".join(f"{p['max_think']}: {pct(p['accuracy'])} / {p['avg_thinking_tokens']:.0f} / {pct(p['within_budget'])}"
                            + (f" / {p['avg_tries']:.1f}" if p["avg_tries"] else "") for p in r["curve"])
            out.append(f"  {method:<31} {pct(r['control']):>7} {pct(r['average_within_own_budget']):>8} "
                       f"{pct(r['within_budget']):>9} {scaling:>8} "
                       f"{pct(r['performance']):>6}   {per}")
        out.append("  (Control: the paper's formula, the share of budgets whose average thinking lies in [0, largest "
                   "budget]; own bud.: the share of budgets whose average thinking fits that budget; in budget: the "
                   "share of generations whose thinking fits their budget; Scaling: accuracy points per thinking token)")
    return "\n".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", default="runs/ablations", help="the folder `bash run.sh ablations` wrote")
    parser.add_argument("--demo", default="runs/demo", help="the demo run it built on (its model's greedy chains)")
    parser.add_argument("--base-eval", default=None,
                        help="the warmed-up base's evaluation on the test sets (default: <run>/selection/base/eval)")
    parser.add_argument("--out", default=None, help="where report.json and the plots go (default: --run)")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.run):
        print(f"error: no such folder: {args.run}", file=sys.stderr)
        sys.exit(2)
    out_dir = args.out or args.run
    os.makedirs(out_dir, exist_ok=True)
    results = {"data_selection": data_selection(args.run, args.base_eval),
               "data_selection_long": data_selection(args.run, args.base_eval, "selection-long"),
               "sequential_parallel": sequential_parallel(args.run, args.demo),
               "length_control": length_control(args.run, args.demo)}
    if not any(results.values()):
        print(f"error: nothing to report under {args.run}", file=sys.stderr)
        sys.exit(2)
    with open(os.path.join(out_dir, "report.json"), "w") as f:
        json.dump(results, f, indent=2)
    plot(results, out_dir)
    print(format_report(results))
    print(f"wrote {os.path.join(out_dir, 'report.json')} and its plots")


if __name__ == "__main__":
    main()
