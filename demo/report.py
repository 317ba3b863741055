"""The demo's results in one table: what each stage did and how accuracy scales with thinking.

Reads what run.sh's stages wrote under --run (default runs/demo) and prints
  curation:   rows in -> out per stage (curate.py's report);
  training:   steps, examples, final loss, time (train.py's train_summary.json);
  scaling:    accuracy and average thinking tokens per budget, overall and per domain, with the
              share of generations the cap cut off (evaluate.py's summary.json and samples.jsonl;
              the paper's Figure 1 / Table 3 in miniature);
  extension:  the same at a cap that never bites, with 0, 1, 2 forced "Wait"s, and one Wait
              replaced by "Hmm" or by nothing (the end of thinking is refused and the model simply
              goes on); what the Waits did per question: wrong answers fixed, right ones broken,
              thinking tokens spent (the paper's Figure 4a, Table 4);
  adherence:  base vs trained model following the format unforced: the base model from
              demo/adherence.py, the trained one from its unforced generations at the extension cap.
evaluate.py writes all of these settings in one run (eval/, one decode tree per batch of
questions); the report splits them into the sweeps above: capping, and extending with Wait, with
Hmm and with nothing.
Also writes the same numbers to <run>/results.json and the curve to <run>/scaling.png.

    python demo/report.py --run runs/demo
"""
import argparse
import json
import os
import re
import sys
from collections import defaultdict


def read_json(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def read_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def scaling_table(samples, eval_rows, wait_str="Wait"):
    """Per setting: n, accuracy, avg thinking tokens, forced share, accuracy per domain."""
    domain = {str(r["id"]): r.get("domain", "all") for r in eval_rows}
    groups = defaultdict(list)
    for s in samples:
        groups[(s["max_think"], s["num_wait"], s["min_think"])].append(s)
    table = []
    for (max_think, num_wait, min_think), rows in sorted(groups.items()):
        per_domain = defaultdict(list)
        for r in rows:
            per_domain[domain.get(str(r["id"]), "all")].append(r["correct"])
        table.append({"max_think": max_think, "num_wait": num_wait, "min_think": min_think, "n": len(rows),
                      "wait_str": wait_str if num_wait else "",
                      "accuracy": sum(r["correct"] for r in rows) / len(rows),
                      "avg_thinking_tokens": sum(r["thinking_tokens"] for r in rows) / len(rows),
                      "forced": sum(r["forced_stop"] for r in rows) / len(rows),
                      "closed_itself": sum(r.get("closed_itself", False) for r in rows) / len(rows),
                      "domains": {d: sum(v) / len(v) for d, v in sorted(per_domain.items())}})
    return table


# demo/adherence.py's test of an answer written unforced, applied to the text after the delimiter.
ANSWER_LINE = re.compile(r"^\s*answer\s*:", re.IGNORECASE | re.MULTILINE)
ANSWER_DELIMITER = "<|im_start|>answer"

# The extension sweeps: name -> the string that replaced an attempt to end thinking ('' in
# samples.jsonl: nothing, the end is only refused).
WAIT_SWEEPS = {"extend-wait": "Wait", "extend-hmm": "Hmm", "extend-nothing": "(none)"}
SWEEP_OF_WAIT_STR = {"Wait": "extend-wait", "Hmm": "extend-hmm", "": "extend-nothing"}


def split_sweeps(run):
    """{sweep name: samples}: "capping" (no Wait, below the extension cap) and the extension
    sweeps (the extension cap, the largest with Waits: its unforced run and each string's Waits).
    Without Waits every setting is capping."""
    samples = read_jsonl(os.path.join(run, "eval", "samples.jsonl"))
    cap = max((s["max_think"] for s in samples if s["num_wait"]), default=None)
    sweeps = {"capping": [], **{sweep: [] for sweep in WAIT_SWEEPS}}
    for s in samples:
        if s["max_think"] != cap:
            sweeps["capping"].append(s)
        elif not s["num_wait"]:
            sweeps["extend-wait"].append(s)  # the unforced run at the cap: the reference for every string
        elif s.get("wait_str", "Wait") in SWEEP_OF_WAIT_STR:
            sweeps[SWEEP_OF_WAIT_STR[s.get("wait_str", "Wait")]].append(s)
    return sweeps


def wait_effect(samples, reference):
    """Per question, each setting with Waits against the same question with none (`reference`,
    same cap): how many wrong answers became right, how many right ones wrong, and the thinking
    tokens the extension added on average."""
    base = {str(r["id"]): r for r in reference}
    groups = defaultdict(list)
    for s in samples:
        if s["num_wait"] and str(s["id"]) in base:
            groups[s["num_wait"]].append(s)
    out = []
    for num_wait, rows in sorted(groups.items()):
        pairs = [(base[str(r["id"])], r) for r in rows]
        out.append({"num_wait": num_wait, "n": len(pairs),
                    "wrong_before": sum(not b["correct"] for b, _ in pairs),
                    "fixed": sum(not b["correct"] and r["correct"] for b, r in pairs),
                    "right_before": sum(b["correct"] for b, _ in pairs),
                    "broken": sum(b["correct"] and not r["correct"] for b, r in pairs),
                    "extra_thinking_tokens": sum(r["thinking_tokens"] - b["thinking_tokens"] for b, r in pairs) / len(pairs)})
    return out


def trained_adherence(samples):
    """The trained model's unforced generations (no Wait, a cap it never reaches): closed its
    thinking itself and then wrote an "Answer:" line (the same test as demo/adherence.py)."""
    rows = [s for s in samples if s["num_wait"] == 0]
    adherent = sum(s.get("closed_itself", False) and bool(ANSWER_LINE.search(s["response"].split(ANSWER_DELIMITER)[-1]))
                   for s in rows)
    return {"n": len(rows), "adherent": adherent, "correct": sum(s["correct"] for s in rows),
            "closed_itself": sum(s.get("closed_itself", False) for s in rows)}


def plot_extension(table, path):
    """Accuracy against average thinking tokens: the capping points, then the Wait points to their
    right (the paper's Figure 4a); the other strings as single markers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4))
    cap = sorted((r for r in table if not r["num_wait"] and r["sweep"] == "capping"), key=lambda r: r["avg_thinking_tokens"])
    wait = sorted((r for r in table if r["sweep"] == "extend-wait"), key=lambda r: r["num_wait"])
    series = [(cap, "o-", "capping (max_think)", lambda r: str(r["max_think"]), (4, -10)),
              (wait, "s-", "extension (forced Wait)", lambda r: f"{r['num_wait']}w", (4, 5))]
    for rows, style, label, name, offset in series:
        if rows:
            ax.plot([r["avg_thinking_tokens"] for r in rows], [100 * r["accuracy"] for r in rows], style, label=label)
            for r in rows:
                ax.annotate(name(r), (r["avg_thinking_tokens"], 100 * r["accuracy"]), textcoords="offset points",
                            xytext=offset, fontsize=8)
    for r in table:
        if r["sweep"] in ("extend-hmm", "extend-nothing"):
            ax.plot(r["avg_thinking_tokens"], 100 * r["accuracy"], "^", label=f"{r['num_wait']}x {r['wait_str']!s}")
    ax.set_xlabel("average thinking tokens")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title("budget forcing: capping, then extending with Wait", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def format_report(results):
    out = []
    cur = results.get("curation")
    if cur:
        out.append("curation (curate.py, paper §2):")
        for s in cur["stages"]:
            why = ", ".join(f"{k} {v}" for k, v in s["dropped"].items() if v)
            out.append(f"  {s['stage']:<22} {s['in']:>6} -> {s['out']:<6} {why}")
    tr = results.get("training")
    if tr:
        out.append(f"training (train.py, §4.1): {tr['steps']} steps, {tr['epochs']:.2f} epochs, "
                   f"final loss {tr['final_loss']:.3f}, {tr['train_seconds']:.0f} s, {tr['tokens_per_s']:.0f} tokens/s")
    table = results.get("scaling")
    if table:
        domains = list(table[0]["domains"])
        out.append("test-time scaling (evaluate.py with budget forcing, §3.1/§4; greedy):")
        head = (f"  {'max think':>9} {'waits':>5} {'string':>6} {'accuracy':>9} {'avg think':>9} {'cut off':>7}"
                f" {'own stop':>8}")
        out.append(head + "".join(f" {d[:11]:>11}" for d in domains))
        for r in table:
            out.append(f"  {r['max_think']:>9} {r['num_wait']:>5} {r['wait_str'] or '-':>6} {100 * r['accuracy']:>8.1f}% "
                       f"{r['avg_thinking_tokens']:>9.1f} {100 * r['forced']:>6.0f}% {100 * r['closed_itself']:>7.0f}%"
                       + "".join(f" {100 * r['domains'].get(d, 0):>10.0f}%" for d in domains))
    for sweep, effects in (results.get("wait_effect") or {}).items():
        for e in effects:
            out.append(f"  {e['num_wait']} x {WAIT_SWEEPS[sweep]}: fixed {e['fixed']} of {e['wrong_before']} wrong, "
                       f"broke {e['broken']} of {e['right_before']} right, +{e['extra_thinking_tokens']:.0f} thinking tokens")
    m = results.get("metrics")
    if m:
        scaling = "n/a" if m["scaling"] is None else f"{100 * m['scaling']:.2f} accuracy points per thinking token"
        out.append(f"  paper metrics: Control {100 * m['control']:.0f}%, Scaling {scaling}, "
                   f"Performance {100 * m['performance']:.1f}%")
    ad = results.get("adherence")
    if ad:
        out.append(f"format adherence, unforced (base: demo/adherence.py, cap {ad['max_think']}; "
                   "trained: its generations without Wait at the extension cap):")
        for name, s in ad["models"].items():
            out.append(f"  {name:<24} closed thinking itself and wrote 'Answer:' in {s['adherent']}/{s['n']} "
                       f"({100 * s['adherent'] / s['n']:.0f}%), correct {100 * s['correct'] / s['n']:.0f}%")
    return "\n".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", default="runs/demo", help="the run folder run.sh wrote")
    parser.add_argument("--eval-data", default=None, help="eval JSONL with a domain column (default: <run>/data/eval.jsonl)")
    args = parser.parse_args(argv)
    run = args.run
    summary = read_json(os.path.join(run, "eval", "summary.json"))
    eval_rows = read_jsonl(args.eval_data or os.path.join(run, "data", "eval.jsonl"))
    sweeps = split_sweeps(run)
    table = [{**r, "sweep": "capping"} for r in scaling_table(sweeps["capping"], eval_rows)]
    effects, wait_samples = {}, {}
    for sweep, wait_str in WAIT_SWEEPS.items():
        wait_samples[sweep] = sweeps[sweep]
        table += [{**r, "sweep": sweep} for r in scaling_table(wait_samples[sweep], eval_rows, wait_str)
                  if sweep == "extend-wait" or r["num_wait"]]  # one row without Waits is enough
    reference = [s for s in wait_samples["extend-wait"] if s["num_wait"] == 0]  # the same cap, no Wait
    for sweep, samples in wait_samples.items():
        if samples and reference:
            effects[sweep] = wait_effect(samples, reference)
    adherence = read_json(os.path.join(run, "eval", "adherence.json"))
    if adherence and wait_samples["extend-wait"]:
        adherence["models"]["trained"] = trained_adherence(wait_samples["extend-wait"])
    results = {
        "curation": read_json(os.path.join(run, "curated", "s1k.report.json")),
        "training": read_json(os.path.join(run, "train", "train_summary.json")),
        "scaling": table,
        "metrics": summary["metrics"] if summary else None,
        "wait_effect": effects,
        "adherence": adherence,
    }
    if table:
        plot_extension(table, os.path.join(run, "scaling.png"))
    if not any(results.values()):
        print(f"error: nothing to report under {run}", file=sys.stderr)
        sys.exit(2)
    with open(os.path.join(run, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    print(format_report(results))


if __name__ == "__main__":
    main()
