"""The demo's results in one table: what each stage did and how accuracy scales with thinking.

Reads what run.sh's stages wrote under --run (default runs/demo) and prints
  curation:   rows in -> out per stage (curate.py's report);
  training:   steps, examples, final loss, time (train.py's train_summary.json);
  scaling:    accuracy and average thinking tokens per budget, overall and per domain, with the
              share of generations the cap cut off (evaluate.py's summary.json and samples.jsonl;
              the paper's Figure 1 / Table 3 in miniature);
  adherence:  base vs trained model following the format unforced (demo/adherence.py).
Also writes the same numbers to <run>/results.json.

    python demo/report.py --run runs/demo
"""
import argparse
import json
import os
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


def scaling_table(samples, eval_rows):
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
                      "accuracy": sum(r["correct"] for r in rows) / len(rows),
                      "avg_thinking_tokens": sum(r["thinking_tokens"] for r in rows) / len(rows),
                      "forced": sum(r["forced_stop"] for r in rows) / len(rows),
                      "domains": {d: sum(v) / len(v) for d, v in sorted(per_domain.items())}})
    return table


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
        head = f"  {'max think':>9} {'wait':>4} {'accuracy':>9} {'avg think':>9} {'cut off':>7}"
        out.append(head + "".join(f" {d[:11]:>11}" for d in domains))
        for r in table:
            out.append(f"  {r['max_think']:>9} {r['num_wait']:>4} {100 * r['accuracy']:>8.1f}% "
                       f"{r['avg_thinking_tokens']:>9.1f} {100 * r['forced']:>6.0f}%"
                       + "".join(f" {100 * r['domains'].get(d, 0):>10.0f}%" for d in domains))
    m = results.get("metrics")
    if m:
        scaling = "n/a" if m["scaling"] is None else f"{100 * m['scaling']:.2f} points per 100 tokens"
        out.append(f"  paper metrics: Control {100 * m['control']:.0f}%, Scaling {scaling}, "
                   f"Performance {100 * m['performance']:.1f}%")
    ad = results.get("adherence")
    if ad:
        out.append(f"format adherence, unforced (cap {ad['max_think']}, demo/adherence.py):")
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
    results = {
        "curation": read_json(os.path.join(run, "curated", "s1k.report.json")),
        "training": read_json(os.path.join(run, "train", "train_summary.json")),
        "scaling": scaling_table(read_jsonl(os.path.join(run, "eval", "samples.jsonl")),
                                 read_jsonl(args.eval_data or os.path.join(run, "data", "eval.jsonl"))),
        "metrics": summary["metrics"] if summary else None,
        "adherence": read_json(os.path.join(run, "eval", "adherence.json")),
    }
    if not any(results.values()):
        print(f"error: nothing to report under {run}", file=sys.stderr)
        sys.exit(2)
    with open(os.path.join(run, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    print(format_report(results))


if __name__ == "__main__":
    main()
