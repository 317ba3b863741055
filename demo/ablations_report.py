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


def verdict(interval):
    """An ordering only where the interval excludes 0."""
    _, low, high = interval
    return "arm ahead of s1" if low > 0 else "s1 ahead" if high < 0 else "indistinguishable at this size"


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


def data_selection(run):
    """The warm-up's dev check, the difficulty filter, and per arm its seeds' accuracies, training
    tokens and intervals against s1, from what scripts/ablations.sh wrote under RUN/selection."""
    sel = os.path.join(run, "selection")
    dev = read_json(os.path.join(sel, "dev", "summary.json"))
    warm = read_json(os.path.join(sel, "warmup", "train_summary.json"))
    attempts = read_samples(os.path.join(sel, "attempts", "samples.jsonl"))
    solved = {s["question"] for s in attempts if s["correct"]}
    arms = {}
    for arm in ARMS:
        seeds = []
        for seed in range(100):
            folder = os.path.join(sel, f"{arm}-s{seed}")
            trained = read_json(os.path.join(folder, "train", "train_summary.json"))
            samples = read_samples(os.path.join(folder, "eval", "samples.jsonl"))
            if not os.path.isdir(folder):
                break
            if not (trained and samples and os.path.exists(os.path.join(folder, "eval", "summary.json"))):
                continue  # not run, or its evaluation not finished
            data = os.path.join(sel, "full" if arm.startswith("full") else f"{arm}-s{seed}", "s1k.jsonl")
            rows = [json.loads(line) for line in open(data)]
            seeds.append({"seed": seed, "rows": trained["data"]["examples"], "steps": trained["steps"],
                          "epochs": round(trained["epochs"], 2), "train_tokens": trained["tokens"],
                          "train_seconds": trained["train_seconds"],
                          "domains": {d: sum(r["domain"] == d for r in rows) for d in sorted({r["domain"] for r in rows})},
                          "mean_trace_tokens": round(sum(r["thinking_tokens"] for r in rows) / len(rows), 1),
                          # the share of its rows the warmed-up base already solved: budget the filter would save
                          "solved_share": sum(r["question"] in solved for r in rows) / len(rows) if attempts else None,
                          "cap": samples[0]["max_think"], "scores": question_scores(samples)})
        if seeds:
            arms[arm] = seeds
    if "s1" not in arms:
        return None
    s1_runs = [r["scores"] for r in arms["s1"]]
    out = {}
    for arm, seeds in arms.items():
        entry = {"seeds": [], "accuracy": {}, "vs_s1": {}, "verdict": {}}
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
            pooled = mean_over_seeds([r["scores"] for r in seeds], t)
            entry["accuracy"][t] = sum(pooled.values()) / len(pooled)
            if arm != "s1":
                entry["vs_s1"][t] = paired_bootstrap(pooled, mean_over_seeds(s1_runs, t))
                entry["verdict"][t] = verdict(entry["vs_s1"][t])
        entry["train_tokens"] = sum(r["train_tokens"] for r in seeds) / len(seeds)
        out[arm] = entry
    filtered = read_json(os.path.join(sel, "s1-s0", "s1k.report.json"))
    difficulty = next((s for s in filtered["stages"] if s["stage"] == "difficulty"), None) if filtered else None
    return {"warmup": {"dev_accuracy": dev["rows"][0]["accuracy"] if dev else None, "dev_n": dev["rows"][0]["n"] if dev else None,
                       "threshold": DEV_THRESHOLD, "passed": bool(dev and dev["rows"][0]["accuracy"] >= DEV_THRESHOLD),
                       "steps": warm and warm["steps"], "train_tokens": warm and warm["tokens"]},
            "filter": {"pool": difficulty["in"], "removed": difficulty["in"] - difficulty["out"],
                       "removed_share": (difficulty["in"] - difficulty["out"]) / difficulty["in"]} if difficulty else None,
            "test_questions": {t: len(s1_runs[0].get(t, {})) for t in TEST_SETS},
            "cap": arms["s1"][0]["cap"], "arms": out}


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


def plot(results, run):
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
        fig.savefig(os.path.join(run, path), dpi=120)
        plt.close(fig)

    ds = results["data_selection"]
    if ds:
        others = [a for a in ds["arms"] if a != "s1"]
        fig, axes = plt.subplots(1, 2, figsize=(9.6, 4), sharey=True)
        for ax, t in zip(axes, TEST_SETS):
            for x, arm in enumerate(others):
                e = ds["arms"][arm]
                if t not in e["vs_s1"]:
                    continue
                d, low, high = (100 * v for v in e["vs_s1"][t])
                ax.errorbar([x], [d], yerr=[[d - low], [high - d]], fmt="o", color="C0", capsize=4,
                            label="pooled over seeds, 95% interval" if x == 0 else None)
                per = [100 * r["vs_s1"][t][0] for r in e["seeds"] if t in r.get("vs_s1", {})]
                ax.plot([x + 0.15] * len(per), per, "x", color="C1", label="each seed" if x == 0 else None)
            ax.axhline(0, color="gray", lw=1)
            ax.set_xticks(range(len(others)))
            ax.set_xticklabels([f"{a}\n{100 * ds['arms'][a]['accuracy'].get(t, float('nan')):.0f}%" for a in others], fontsize=8)
            ax.set_title(f"{t} test set ({ds['test_questions'][t]} questions); s1 {100 * ds['arms']['s1']['accuracy'].get(t, float('nan')):.0f}%",
                         fontsize=9)
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("accuracy minus s1's (points)")
        axes[0].legend(fontsize=8, loc="lower left")
        fig.suptitle(f"data selection (Table 2 in miniature): each arm minus s1, paired bootstrap over questions; "
                     f"cap {ds['cap']}", fontsize=9)
        fig.tight_layout()
        fig.savefig(os.path.join(run, "data_selection.png"), dpi=120)
        plt.close(fig)
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


def format_report(results):
    out = []
    ds = results["data_selection"]
    if ds:
        w, f = ds["warmup"], ds["filter"]
        out.append(f"data selection (Table 2), greedy at a thinking cap of {ds['cap']}, from a base warmed up on easy "
                   f"questions ({w['steps']} steps; dev {pct(w['dev_accuracy'])} of {w['dev_n']}, threshold "
                   f"{pct(w['threshold'])}: {'passed' if w['passed'] else 'NOT passed'}); difficulty filter: "
                   + (f"removed {f['removed']} of {f['pool']} ({pct(f['removed_share'])})" if f else "-"))
        out.append(f"  {'arm':<11} {'seed':>4} {'rows':>4} {'steps':>5} {'train tok':>9} {'solved':>6} "
                   + "".join(f" {t + ' (' + str(ds['test_questions'][t]) + ')':>11} {'minus s1 [95% interval]':>26}"
                             for t in TEST_SETS))
        for arm, e in ds["arms"].items():
            for r in e["seeds"]:
                cells = ""
                for t in TEST_SETS:
                    v = r.get("vs_s1", {}).get(t)
                    cells += f" {pct(r['accuracy'].get(t)):>11} {interval(v):>26}"
                out.append(f"  {arm:<11} {r['seed']:>4} {r['rows']:>4} {r['steps']:>5} {r['train_tokens']:>9} "
                           f"{pct(r['solved_share']):>6}" + cells)
            if len(e["seeds"]) > 1 or arm != "s1":
                cells = "".join(f" {pct(e['accuracy'].get(t)):>11} {interval(e['vs_s1'].get(t)):>26}" for t in TEST_SETS)
                out.append(f"  {arm:<11} {'all':>4} {'':>4} {'':>5} {e['train_tokens']:>9.0f} {'':>6}" + cells
                           + ("   " + "; ".join(f"{t}: {v}" for t, v in e["verdict"].items()) if e["verdict"] else ""))
        out.append("  (solved: the share of the arm's rows the warmed-up base already answers; minus s1: the arm's accuracy "
                   "minus s1's, paired bootstrap over questions, per seed against s1 of the same seed, 'all' pooled over seeds)")
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
    args = parser.parse_args(argv)
    results = {"data_selection": data_selection(args.run),
               "sequential_parallel": sequential_parallel(args.run, args.demo),
               "length_control": length_control(args.run, args.demo)}
    if not any(results.values()):
        print(f"error: nothing to report under {args.run}", file=sys.stderr)
        sys.exit(2)
    with open(os.path.join(args.run, "report.json"), "w") as f:
        json.dump(results, f, indent=2)
    plot(results, args.run)
    print(format_report(results))
    print(f"wrote {os.path.join(args.run, 'report.json')} and its plots")


if __name__ == "__main__":
    main()
