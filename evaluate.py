"""Evaluate test-time scaling: accuracy against thinking tokens under budget forcing (s1 paper, §3.2, §4).

s1 ("Simple test-time scaling", arXiv 2501.19393) evaluates a model at several thinking budgets and
plots accuracy against the average number of thinking tokens (its Figure 1). Over the sweep's points
(a = average thinking tokens, f(a) = accuracy) it defines three metrics (§3.2):

- Control:     the share of points whose a lies inside the budget [a_min, a_max] that was asked for
               (per setting, summary.json's within_budget is the share of generations whose thinking
               stayed within [min_think, max_think]);
- Scaling:     the average slope (f(b) - f(a)) / (b - a) over all pairs of points with b > a;
- Performance: the best accuracy, max f(a).

The paper grades with an LLM judge; grade.py grades locally and deterministically (the answer
section's last \\boxed{} or "Answer:" line, math-verify plus rules for what it misreads).

    python evaluate.py --dataset math500 --max-think 512 1024 2048 --limit 100 --out runs/eval
    python evaluate.py --dataset data.jsonl --question-field prompt --answer-field target --num-wait 0 1 2
    accelerate launch --num_processes 8 evaluate.py --dataset aime24 --max-think 4096 8192 16384   # 8 GPUs
    accelerate launch --multi_gpu --num_processes 2 evaluate.py ...   # 2 CPU processes (gloo) on a GPU-less box

Outputs in --out: samples.jsonl (one line per generation, appended as it arrives, so a rerun of the
same command skips finished work), summary.json, scaling.png, and a table on stdout.
"""
import argparse
import functools
import hashlib
import itertools
import json
import os
import random
import shlex
import sys

import torch
from accelerate import PartialState
from tqdm import tqdm

import budget_force
import decode_tree
from grade import answers_match, extract_answer, majority_vote

# -----------------------------------------------------------------------------
# the evaluation sets the paper uses, by name (loading them: the end of the file)

# name -> (hub id, config, split). The s1 paper evaluates on AIME24, MATH500 and GPQA Diamond.
HUB_DATASETS = {
    "aime24": ("HuggingFaceH4/aime_2024", None, "train"),
    "aime25": ("yentinglin/aime_2025", None, "train"),
    "math500": ("HuggingFaceH4/MATH-500", None, "test"),
    "gpqa": ("Idavidrein/gpqa", "gpqa_diamond", "train"),  # gated: accept its terms on the hub first
}
# GPQA's prompt as in OpenAI's simple-evals (which s1's harness follows): ask for an "Answer: X" line.
GPQA_TEMPLATE = ("Answer the following multiple choice question. The last line of your response should be of the "
                 "form 'Answer: LETTER' where LETTER is one of ABCD. Think step by step before answering.\n\n{question}")
QUESTION_FIELDS = ("problem", "question")  # defaults, first one present wins
ANSWER_FIELDS = ("answer",)
# -----------------------------------------------------------------------------
# 1. the paper's metrics (§3.2)

def scaling_metrics(points, a_min, a_max):
    """Control, Scaling and Performance over sweep points [(a, f(a)), ...] (a = average thinking
    tokens, f(a) = accuracy), exactly as s1 §3.2 defines them. Scaling is None for fewer than two
    distinct a (a slope needs two points)."""
    if not points:
        raise ValueError("no sweep points")
    control = sum(a_min <= a <= a_max for a, _ in points) / len(points)
    slopes = [(fb - fa) / (b - a) for (a, fa), (b, fb) in itertools.permutations(points, 2) if b > a]
    scaling = sum(slopes) / len(slopes) if slopes else None
    return {"control": control, "scaling": scaling, "performance": max(f for _, f in points)}


# -----------------------------------------------------------------------------
# 2. the sweep: every (question, setting, sample) through budget forcing, in decode trees

def sweep_settings(max_think, num_wait=(0,), min_think=(0,), wait_str=("Wait",)):
    """Every combination of the sweep's values, in order. A setting that never extends thinking
    (no Wait owed, no minimum) does not use a wait string: it appears once, with the first one."""
    settings = []
    for m, w, n, ws in itertools.product(max_think, num_wait, min_think, wait_str):
        s = {"max_think": m, "num_wait": w, "min_think": n, "wait_str": ws if w or n else wait_str[0]}
        if s not in settings:
            settings.append(s)
    return settings


def setting_name(s):
    name = f"max_think={s['max_think']} num_wait={s['num_wait']} min_think={s['min_think']}"
    return name if s.get("wait_str", "Wait") == "Wait" else f"{name} wait_str={s['wait_str']!r}"


def closed_itself(result):
    """The model chose the end-of-thinking delimiter itself: not cut by the cap, and the first
    delimiter token (just after the thinking tokens) was not forced (a forced one replaces an
    end-of-turn or a suppressed attempt)."""
    n = result["thinking_tokens"]
    return not result["forced_stop"] and len(result["forced_mask"]) > n and not result["forced_mask"][n]


def sample_row(q, s, k, result, tree_settings=None):
    """One line of samples.jsonl: the question, the setting, the generation and its grade, what was
    forced into the response (forced_spans) and, given the settings of the decode tree it came from,
    where it parted from them (forks, each with the other settings' names). Lines written before
    these two fields existed lack them: readers take them as empty."""
    extracted = extract_answer(result["text"])
    forks = [{**f, "from": [setting_name(tree_settings[j]) for j in f["from"]]}
             for f in result.get("forks", [])] if tree_settings else []
    return {"id": q["id"], "question": q["question"], "gold": q["gold"], "response": result["text"],
            "extracted": extracted, "correct": answers_match(extracted, q["gold"]),
            "thinking_tokens": result["thinking_tokens"], "answer_tokens": result["answer_tokens"],
            "waits": result["waits"], "forced_stop": result["forced_stop"], "closed_itself": closed_itself(result),
            **s, "sample": k, "forced_spans": result.get("forced_spans", []), "forks": forks}


def question_seed(seed, question_id):
    """The sampler's seed for one question: a hash of the run's --seed and the question's id, so a
    question draws the same whichever batch, decode tree or process it lands in, and two questions
    never share draws (sha256, not hash(), which changes from process to process)."""
    digest = hashlib.sha256(f"{seed}:{question_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1  # below 2**63: any torch.Generator seed


def questions_by_missing(questions, settings, samples, done):
    """{(setting index, sample) pairs not yet in samples.jsonl: [the questions lacking exactly those]},
    so the questions that lack the same generations share decode trees."""
    groups = {}
    for q in questions:
        lacking = tuple((j, k) for j, s in enumerate(settings) for k in range(samples)
                        if sample_key({**q, **s, "sample": k}) not in done)
        if lacking:
            groups.setdefault(lacking, []).append(q)
    return groups


def run_sweep(model, tokenizer, questions, settings, out_path, *, samples=1, batch_size=8, temperature=0.0,
              fmt="auto", max_answer=512, seed=0, done=(), progress=True, cache_gb=None, cap_str=None):
    """Generate what is not `done` yet, appending one line per generation to out_path as soon as
    that generation finishes (a kill loses only unfinished ones). Returns the new rows.

    Up to batch_size questions go through one decode tree (decode_tree.budget_force_tree) under
    all their missing settings at once: a prefix the settings share is decoded once. The tree
    keeps its KV cache within cache_gb (None: decode_tree.default_cache_bytes, measured once here,
    after the model is loaded) by running fewer settings or questions at once; the plan for the
    longest prompt is printed once.
    """
    new_rows = []
    groups = questions_by_missing(questions, settings, samples, set(done))
    cache_bytes = decode_tree.default_cache_bytes(model) if cache_gb is None else int(cache_gb * 2**30)
    if groups:  # every process plans (and refuses a row that cannot fit) before any work; one prints
        longest = max(len(budget_force.encode(tokenizer, budget_force.build_prompt(tokenizer, q["question"], fmt)))
                      for q in questions)
        tree_plan = decode_tree.plan_tree(
            [budget_force.max_new_tokens(tokenizer, s["max_think"], max_answer, fmt, cap_str) for s in settings], longest, min(batch_size, len(questions)),
            samples, decode_tree.kv_bytes_per_token(model.config, model.dtype), cache_bytes)
        if progress:
            print(tree_plan.describe(settings), file=sys.stderr)
    fd = os.open(out_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        bar = tqdm(total=sum(len(lacking) * len(qs) for lacking, qs in groups.items()), desc="generating",
                   unit="gen", disable=not progress)
        for lacking, group in groups.items():
            wanted = set(lacking)
            indices = sorted({j for j, _ in lacking})  # the tree's settings
            # Questions of similar length share a tree: less left padding (results do not depend on it).
            group = sorted(group, key=lambda q: len(q["question"]))
            for start in range(0, len(group), batch_size):
                batch = group[start:start + batch_size]

                def write(i, j, k, result, batch=batch):
                    if (indices[j], k) in wanted:  # a sample generated only to fill the tree is dropped
                        new_rows.append(sample_row(batch[i], settings[indices[j]], k, result,
                                                   [settings[x] for x in indices]))
                        append_line(fd, new_rows[-1])
                        bar.update(1)

                decode_tree.budget_force_tree(
                    model, tokenizer, [q["question"] for q in batch], [settings[j] for j in indices],
                    samples=max(k for _, k in lacking) + 1, max_answer=max_answer, temperature=temperature,
                    fmt=fmt, seed=[question_seed(seed, q["id"]) for q in batch], cache_bytes=cache_bytes,
                    on_result=write, cap_str=cap_str)
        bar.close()
    finally:
        os.close(fd)
    return new_rows


# -----------------------------------------------------------------------------
# 3. summary, plot, table

def summarize(rows, questions, settings, samples=1, a_min=None, a_max=None, main=None):
    """One summary row per setting plus the paper's metrics over the `main` sweep's settings
    (default: all of them; settings of --also sweeps get rows but stay out of the metrics).

    accuracy: share of questions answered correctly (with samples > 1: by majority vote over the
    samples, the paper's parallel-scaling baseline). within_budget: share of generations
    whose thinking stayed within [min_think, max_think] (the paper's Control is over the points). a_min / a_max default to the smallest min_think and the
    largest max_think of the main sweep.
    """
    main = settings if main is None else main
    by_key = {sample_key(r): r for r in rows}
    table = []
    for s in settings:
        gens, correct = [], 0
        for q in questions:
            mine = [by_key.get(sample_key({**q, **s, "sample": k})) for k in range(samples)]
            if any(m is None for m in mine):
                raise ValueError(f"missing generations for question {q['id']} at {setting_name(s)}")
            gens += mine
            if samples == 1:
                correct += mine[0]["correct"]
            else:
                correct += answers_match(majority_vote([m["extracted"] for m in mine]), q["gold"])
        row = {"setting": setting_name(s), **s, "n": len(questions),
               "accuracy": correct / len(questions),
               "avg_thinking_tokens": sum(g["thinking_tokens"] for g in gens) / len(gens),
               "within_budget": sum(s["min_think"] <= g["thinking_tokens"] <= s["max_think"] for g in gens) / len(gens)}
        if samples > 1:
            row["sample_accuracy"] = sum(g["correct"] for g in gens) / len(gens)
        table.append(row)
    a_min = min(s["min_think"] for s in main) if a_min is None else a_min
    a_max = max(s["max_think"] for s in main) if a_max is None else a_max
    points = [(r["avg_thinking_tokens"], r["accuracy"]) for r, s in zip(table, settings) if s in main]
    metrics = scaling_metrics(points, a_min, a_max)
    return {"rows": table, "metrics": {**metrics, "a_min": a_min, "a_max": a_max}}


def plot_scaling(summary, path, title=""):
    """Accuracy against average thinking tokens, one point per setting (the paper's Figure 1)."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    rows = sorted(summary["rows"], key=lambda r: r["avg_thinking_tokens"])
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([r["avg_thinking_tokens"] for r in rows], [100 * r["accuracy"] for r in rows], "o-")
    for r in rows:
        label = f"{r['max_think']}" + (f" +{r['num_wait']}w" if r["num_wait"] else "")
        label += f" {r['wait_str']!r}" if r["num_wait"] and r.get("wait_str", "Wait") != "Wait" else ""
        ax.annotate(label, (r["avg_thinking_tokens"], 100 * r["accuracy"]), textcoords="offset points",
                    xytext=(4, 4), fontsize=8)
    top = min(100, max(10, 120 * max(r["accuracy"] for r in rows)))
    ax.set_ylim(-0.03 * top, top)
    ax.set_xlabel("average thinking tokens")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"{title or 'budget forcing'} (labels: max_think +waits)", fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def format_table(summary):
    width = max(40, *(len(r["setting"]) for r in summary["rows"]))
    lines = [f"{'setting':<{width}} {'n':>5} {'accuracy':>9} {'avg think':>10} {'in budget':>9}"]
    for r in summary["rows"]:
        lines.append(f"{r['setting']:<{width}} {r['n']:>5} {100 * r['accuracy']:>8.1f}% "
                     f"{r['avg_thinking_tokens']:>10.1f} {100 * r['within_budget']:>8.1f}%")
    m = summary["metrics"]
    scaling = "n/a (one point)" if m["scaling"] is None else f"{m['scaling']:.3g} accuracy/token"
    lines.append(f"Control {100 * m['control']:.1f}% (a in [{m['a_min']}, {m['a_max']}])  "
                 f"Scaling {scaling}  Performance {100 * m['performance']:.1f}%")
    return "\n".join(lines)


# -----------------------------------------------------------------------------
# 4. the run: questions and settings, generate (run_sweep: budget forcing), summarize, save

def run_config(args):
    """What a rerun must share with the run it resumes (run.json); cap_str only where given, so a
    run that forces the format's default keeps the run.json it had before --cap-str existed."""
    config = {k: getattr(args, k) for k in ("dataset", "question_field", "answer_field", "model", "format",
                                            "temperature", "max_answer", "seed")}
    return config | ({"cap_str": args.cap_str} if args.cap_str is not None else {})


def all_settings(args):
    """(the main sweep's settings, every setting: the main sweep's, then each --also sweep's new ones),
    one list so that one decode tree serves a batch of questions under all of them."""
    main = sweep_settings(args.max_think, args.num_wait, args.min_think, args.wait_str)
    settings = list(main)
    for sweep in args.also_sweeps:
        settings += [s for s in sweep_settings(sweep.max_think, sweep.num_wait, sweep.min_think, sweep.wait_str)
                     if s not in settings]
    return main, settings


def samples_format(rows, fmt):
    """The format the samples were generated in, read from the end-of-thinking delimiter in their
    responses, so a rerun that had nothing left to generate (and never loaded the tokenizer to
    settle --format auto) reports what the run used. fmt when the responses do not tell."""
    found = {name for r in rows for name, preset in budget_force.FORMATS.items()
             if preset["think_end"].strip() in r.get("response", "")}
    return found.pop() if len(found) == 1 else fmt


def save(args, summary):
    """summary.json and scaling.png in --out, and the table on stdout."""
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    plot_scaling(summary, os.path.join(args.out, "scaling.png"), title=os.path.basename(args.dataset))
    print(format_table(summary))
    print(f"wrote {os.path.join(args.out, 'samples.jsonl')}, summary.json and scaling.png in {args.out}")


def evaluate(args, generate=run_sweep, config=None):
    """The whole run: generate what samples.jsonl lacks, then the summary with the paper's metrics.
    Returns (summary, questions) on the main process, (None, questions) on the others; saving is
    the caller's. generate: run_sweep (budget forcing) or another generator with its signature
    (demo/length_control.py's baselines); config: what else a rerun must share (run.json)."""
    check_args(args)
    questions, unanswered = drop_unanswered(load_questions(args.dataset, args.question_field, args.answer_field,
                                                           args.seed, strict=args.strict))
    total = len(questions) + len(unanswered)
    questions = questions[:args.limit]
    main_settings, settings = all_settings(args)
    # One process, or one per device under `accelerate launch` / `torchrun`. Without a GPU the
    # processes share the CPU and talk over gloo (cpu=True), which is also how the tests run it.
    state = PartialState(cpu=not torch.cuda.is_available())
    out_path = os.path.join(args.out, "samples.jsonl")
    if state.is_main_process:
        if unanswered:
            print(f"note: skipped {len(unanswered)} of {total} records without an answer "
                  f"({', '.join(unanswered[:10])}{', ...' if len(unanswered) > 10 else ''}); "
                  "--strict refuses such a file", file=sys.stderr)
        os.makedirs(args.out, exist_ok=True)
        check_run_config(args.out, run_config(args) | (config or {}))  # a rerun resumes only the same run
        drop_torn_tail(out_path)
    state.wait_for_everyone()

    # Every process takes its share of the questions and skips what an earlier run finished.
    done = {sample_key(r) for r in read_samples(out_path)}
    pending = [q for q in questions if any(sample_key({**q, **s, "sample": k}) not in done
                                           for s in settings for k in range(args.samples))]
    pending_ids = {q["id"] for q in pending}
    with state.split_between_processes(questions) as mine:
        todo = [q for q in mine if q["id"] in pending_ids]
    fmt = args.format
    if todo:  # a finished run reruns without loading the model
        model, tokenizer = budget_force.load_model(args.model)
        model.to(state.device)
        fmt = budget_force.resolve_format(args.format, tokenizer, say=state.is_main_process)
        # Every pending question must fit the model's context under every setting, checked by every
        # process (not only for its share): all refuse alike, before any generation.
        longest = max(len(budget_force.encode(tokenizer, budget_force.build_prompt(tokenizer, q["question"], fmt)))
                      for q in pending)
        decode_tree.check_context(model, tokenizer, longest, max(s["max_think"] for s in settings), args.max_answer, fmt,
                                   args.cap_str)
        if args.cap_str is not None:  # the text forced at every cap: budget forcing's alone (no baseline forces one)
            if generate is not run_sweep:
                raise ValueError("--cap-str is the text budget forcing forces at a cap: this run forces none")
            generate = functools.partial(generate, cap_str=args.cap_str)
        generate(model, tokenizer, todo, settings, out_path, samples=args.samples, batch_size=args.batch_size,
                 temperature=args.temperature, fmt=fmt, max_answer=args.max_answer, seed=args.seed, done=done,
                 progress=state.is_local_main_process, cache_gb=args.cache_gb)

    # Every process appended to samples.jsonl: the main one reads it back whole and summarizes it.
    state.wait_for_everyone()
    if not state.is_main_process:
        return None, questions
    rows = read_samples(out_path)
    summary = summarize(rows, questions, settings, args.samples, args.a_min, args.a_max, main_settings)
    summary["config"] = {"dataset": args.dataset, "model": args.model or "embedded SmolLM2-135M-Instruct",
                         "samples": args.samples, "temperature": args.temperature, "format": samples_format(rows, fmt)}
    summary["unanswered"] = {"count": len(unanswered), "ids": unanswered}  # records skipped: no reference answer
    return summary, questions


def main(argv=None):
    args = parse_args(argv)
    try:
        summary, _ = evaluate(args)
        if summary is not None:
            save(args, summary)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


# =============================================================================
# Below: what a reader may skip. The command line's flags, reading the datasets (hub, parquet,
# JSON, GPQA's shuffled choices) and samples.jsonl's resumable bookkeeping.


# -----------------------------------------------------------------------------
# the command line

def add_sweep_flags(parser):
    """The flags of one sweep: the command line's main sweep, and each --also string."""
    parser.add_argument("--max-think", type=int, nargs="+", default=[1024], help="thinking caps to sweep")
    parser.add_argument("--num-wait", type=int, nargs="+", default=[0], help="numbers of forced Waits to sweep")
    parser.add_argument("--min-think", type=int, nargs="+", default=[0], help="minimum thinking tokens to sweep")
    parser.add_argument("--wait-str", nargs="+", default=["Wait"],
                        help="what budget forcing appends to extend thinking, one or several to sweep ('': nothing, "
                             "the end of thinking is only refused)")


def build_parser(description=__doc__):
    parser = argparse.ArgumentParser(description=description.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--dataset", required=True,
                        help=f"{', '.join(HUB_DATASETS)}, or a .jsonl/.json/.parquet file")
    parser.add_argument("--question-field", default=None, help="question column of a local file (default: problem or question)")
    parser.add_argument("--answer-field", default=None, help="reference-answer column of a local file (default: answer)")
    parser.add_argument("--model", default=None, help="hub id, local folder or .gguf file (default: embedded SmolLM2-135M-Instruct)")
    parser.add_argument("--out", default="runs/eval", help="output folder; rerunning the same command resumes")
    add_sweep_flags(parser)
    parser.add_argument("--max-answer", type=int, default=512, help="cap on answer tokens")
    parser.add_argument("--cap-str", default=None,
                        help="text forced at every cap (budget_force.py --cap-str; default: the format's, \"Final Answer:\")")
    parser.add_argument("--also", action="append", default=[], metavar="'SWEEP FLAGS'",
                        help="another sweep in the same run and decode trees, its --max-think/--num-wait/--min-think/"
                             "--wait-str in one string (repeatable); its settings get table rows but stay out of the "
                             "paper's metrics, which cover the main sweep")
    parser.add_argument("--cache-gb", type=float, default=None,
                        help="KV-cache budget of one decode tree in GiB (default: on CUDA the free memory after loading "
                             "the model less 2 GiB, on a CPU 8): fewer settings and questions share a tree when forks "
                             "could exceed it")
    parser.add_argument("--format", default="auto", choices=["auto", *sorted(budget_force.FORMATS)],
                        help="delimiter preset (auto: detected from the tokenizer's chat template and vocabulary)")
    parser.add_argument("--limit", type=int, default=None, help="evaluate the first N questions only")
    parser.add_argument("--batch-size", type=int, default=8, help="questions per decode tree (all their settings at once)")
    parser.add_argument("--samples", type=int, default=1, help="samples per question, majority-voted (needs --temperature > 0)")
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed and GPQA option order")
    parser.add_argument("--a-min", type=float, default=None, help="Control's lower bound (default: smallest --min-think)")
    parser.add_argument("--a-max", type=float, default=None, help="Control's upper bound (default: largest --max-think)")
    parser.add_argument("--strict", action="store_true",
                        help="refuse a file in which any record lacks an answer; without it such records are skipped "
                             "and counted in summary.json")
    return parser


def parse_args(argv=None, parser=None):
    parser = parser or build_parser()
    args = parser.parse_args(argv)
    sweep = argparse.ArgumentParser(prog="--also", add_help=False, exit_on_error=False)
    add_sweep_flags(sweep)
    args.also_sweeps = []
    for text in args.also:
        try:
            also, unknown = sweep.parse_known_args(shlex.split(text))
        except (argparse.ArgumentError, ValueError) as e:
            parser.error(f"--also {text!r}: {e}")
        if unknown:
            parser.error(f"--also {text!r}: unrecognized {' '.join(unknown)}")
        args.also_sweeps.append(also)
    return args


def check_sweep(sweep, prefix=""):
    if min(sweep.max_think) <= 0:
        raise ValueError(f"{prefix}--max-think values must be positive")
    if min(sweep.num_wait) < 0 or min(sweep.min_think) < 0:
        raise ValueError(f"{prefix}--num-wait and --min-think values must be non-negative")
    if max(sweep.min_think) > min(sweep.max_think):
        raise ValueError(f"{prefix}--min-think {max(sweep.min_think)} is larger than --max-think {min(sweep.max_think)}")


def check_args(args):
    """Reject bad numbers before anything slow happens."""
    check_sweep(args)
    for text, sweep in zip(args.also, args.also_sweeps):
        check_sweep(sweep, prefix=f"--also {text!r}: ")
    if args.cache_gb is not None and args.cache_gb <= 0:
        raise ValueError("--cache-gb must be positive")
    for name in ("max_answer", "batch_size", "samples"):
        if getattr(args, name) <= 0:
            raise ValueError(f"--{name.replace('_', '-')} must be positive")
    if args.limit is not None and args.limit <= 0:
        raise ValueError("--limit must be positive")
    if args.temperature < 0:
        raise ValueError("--temperature must be >= 0")
    if args.samples > 1 and args.temperature == 0:
        raise ValueError("--samples > 1 needs --temperature > 0 (greedy samples are all the same)")


# -----------------------------------------------------------------------------
# datasets: by name from the hub, or a local file



def json_document(path, text):
    """The rows of a file that holds one JSON document: a list of rows, or, in a .json file, an
    object whose only value is that list ({"data": [...]}). None when the text is JSON lines."""
    head = text.lstrip()[:1]
    if head != "[" and not (path.endswith(".json") and head == "{"):
        return None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        if head == "[":
            raise ValueError(f"{path}: not valid JSON ({e})") from None
        return None  # JSON lines in a .json file
    if isinstance(doc, dict):  # {"data": [...]}, or else one row on its own: JSON lines
        return next(iter(doc.values())) if len(doc) == 1 and isinstance(next(iter(doc.values())), list) else None
    return doc


def read_parquet(path):
    import pyarrow.parquet

    try:
        return pyarrow.parquet.read_table(path).to_pylist()
    except Exception as e:  # pyarrow raises its own error types for broken files
        raise ValueError(f"cannot read {path}: {str(e).splitlines()[0]}") from None


def read_records(path):
    """A local file -> list of dicts: .parquet, a JSON list of rows (.json also {"data": [...]}), or
    JSON lines (.jsonl or any other name)."""
    if path.endswith(".parquet"):
        return read_parquet(path)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    records = json_document(path, text)
    if records is None:
        try:
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not valid JSONL: {e}") from None
    if not isinstance(records, list):
        raise ValueError(f"{path} must hold a list of records")
    return records


def load_hub(name):
    import datasets

    hub_id, config, split = HUB_DATASETS[name]
    try:
        return list(datasets.load_dataset(hub_id, config, split=split))
    except Exception as e:  # offline, gated, renamed: one line, not a traceback
        raise ValueError(f"cannot load {hub_id} from the hub: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None


def gold_string(value):
    """Reference answers arrive as str, int or float (amc23 has 27.0): 27.0 -> "27"."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def has_value(record, field):
    """Does the record hold a non-blank value under `field`?"""
    value = record.get(field) if field is not None else None
    return value is not None and str(value).strip() != ""


def to_questions(records, question_field=None, answer_field=None, source="dataset", strict=True):
    """Records -> [{"id", "question", "gold"}]. The id is the record's own (unique_id or id) when
    it has a unique one, else its position; resuming matches finished work by id.

    A record without a question is always an error. One without an answer is an error when
    `strict`; otherwise it gets gold None (drop_unanswered sets it aside). A file in which no
    record has an answer is refused either way: its answer field is another one.
    """
    if not records:
        raise ValueError(f"{source} is empty")
    if not all(isinstance(r, dict) for r in records):
        raise ValueError(f"{source}: every record must be a JSON object")
    keys = set().union(*records)  # not only the first record's: it may be one without an answer
    qf = question_field or next((f for f in QUESTION_FIELDS if f in keys), None)
    af = answer_field or next((f for f in ANSWER_FIELDS if f in keys), None)
    for field, flag, required in ((qf, "--question-field", True), (af, "--answer-field", strict)):
        missing = [i for i, r in enumerate(records) if not has_value(r, field)]
        if missing and (required or len(missing) == len(records)):
            raise ValueError(f"{source}: record {missing[0]} has no {field or 'question/answer'!r} field "
                             f"(fields: {', '.join(sorted(records[missing[0]]))}); set {flag}")
    id_field = next((f for f in ("unique_id", "id") if f in keys), None)
    ids = [str(r.get(id_field)) for r in records] if id_field else []
    if len(set(ids)) != len(records):
        ids = [str(i) for i in range(len(records))]
    return [{"id": i, "question": str(r[qf]), "gold": gold_string(r[af]) if has_value(r, af) else None}
            for i, r in zip(ids, records)]


def drop_unanswered(questions):
    """(questions with a reference answer, ids of those without one)."""
    return [q for q in questions if q["gold"] is not None], [q["id"] for q in questions if q["gold"] is None]


def gpqa_questions(records, seed=0):
    """GPQA rows -> multiple-choice questions with the options shuffled by a seeded generator
    (the correct answer is always listed first in the source) and the correct letter as gold."""
    rng = random.Random(seed)
    questions = []
    for i, r in enumerate(records):
        options = [r["Correct Answer"], r["Incorrect Answer 1"], r["Incorrect Answer 2"], r["Incorrect Answer 3"]]
        order = list(range(4))
        rng.shuffle(order)
        lines = [f"{'ABCD'[k]}) {str(options[j]).strip()}" for k, j in enumerate(order)]
        questions.append({"id": str(r.get("Record ID") or i),
                          "question": GPQA_TEMPLATE.format(question=str(r["Question"]).strip() + "\n\n" + "\n".join(lines)),
                          "gold": "ABCD"[order.index(0)]})
    return questions


def load_questions(dataset, question_field=None, answer_field=None, seed=0, strict=True):
    """A dataset name (see HUB_DATASETS) or a local file -> [{"id", "question", "gold"}]
    (gold None for a record without an answer, unless `strict` refuses it; see to_questions)."""
    if dataset in HUB_DATASETS:
        records = load_hub(dataset)
        if dataset == "gpqa":
            return gpqa_questions(records, seed)
        return to_questions(records, question_field, answer_field, source=dataset, strict=strict)
    if not os.path.isfile(dataset):
        raise ValueError(f"unknown dataset {dataset!r}: use one of {', '.join(HUB_DATASETS)} "
                         "or a .jsonl/.json/.parquet file")
    return to_questions(read_records(dataset), question_field, answer_field, source=dataset, strict=strict)


# -----------------------------------------------------------------------------
# samples.jsonl: append-only, so an interrupted run resumes where it stopped

def sample_key(row):
    """What identifies one generation: question, setting, sample index."""
    return (str(row["id"]), row["max_think"], row["num_wait"], row["min_think"], row.get("wait_str", "Wait"),
            row.get("sample", 0))


def read_samples(path):
    """Every complete line of samples.jsonl. A kill can leave a torn last line: it is skipped
    (and cut off by drop_torn_tail before anything new is appended)."""
    if not os.path.exists(path):
        return []
    rows = []
    with open(path, "rb") as f:
        for line in f:
            if not line.endswith(b"\n"):
                break
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def drop_torn_tail(path):
    """Cut a partial last line, so the next append starts on a line of its own."""
    if not os.path.exists(path):
        return
    with open(path, "rb+") as f:
        data = f.read()
        if data and not data.endswith(b"\n"):
            f.truncate(data.rfind(b"\n") + 1)


def append_line(fd, row):
    """One os.write of one whole line on an O_APPEND descriptor: no Python buffer to lose on a
    kill, and processes of a data-parallel run appending to the same file never interleave lines."""
    os.write(fd, (json.dumps(row) + "\n").encode())


def check_run_config(out, config):
    """A rerun must generate the same way as the run it resumes: refuse to mix two runs' samples."""
    path = os.path.join(out, "run.json")
    if os.path.exists(path) and read_samples(os.path.join(out, "samples.jsonl")):
        with open(path) as f:
            old = json.load(f)
        changed = [k for k in sorted(set(config) | set(old)) if old.get(k) != config.get(k)]
        if changed:
            raise ValueError(f"{out} holds samples of a run with another {', '.join(changed)}; use another --out")
    with open(path, "w") as f:
        json.dump(config, f, indent=2)


if __name__ == "__main__":
    main()
