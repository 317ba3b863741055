"""Evaluate test-time scaling: accuracy against thinking tokens under budget forcing (s1 paper, §3.2, §4).

s1 ("Simple test-time scaling", arXiv 2501.19393) evaluates a model at several thinking budgets and
plots accuracy against the average number of thinking tokens (its Figure 1). Over the sweep's points
(a = average thinking tokens, f(a) = accuracy) it defines three metrics (§3.2):

- Control:     the share of points whose a lies inside the budget [a_min, a_max] that was asked for;
- Scaling:     the average slope (f(b) - f(a)) / (b - a) over all pairs of points with b > a;
- Performance: the best accuracy, max f(a).

The paper grades with an LLM judge; this file grades locally: take the answer section of the
response (never the thinking), extract the last \\boxed{} or "Answer:" line, compare with HF's
math-verify, and patch what math-verify misses (multiple-choice letters, \\text{} answers,
thousands separators, AIME's leading zeros, markdown emphasis, units after a number).

    python evaluate.py --dataset math500 --max-think 512 1024 2048 --limit 100 --out runs/eval
    python evaluate.py --dataset data.jsonl --question-field prompt --answer-field target --num-wait 0 1 2
    accelerate launch --num_processes 8 evaluate.py --dataset aime24 --max-think 4096 8192 16384   # 8 GPUs
    accelerate launch --multi_gpu --num_processes 2 evaluate.py ...   # 2 CPU processes (gloo) on a GPU-less box

Outputs in --out: samples.jsonl (one line per generation, appended as it arrives, so a rerun of the
same command skips finished work), summary.json, scaling.png, and a table on stdout.
"""
import argparse
import itertools
import json
import os
import random
import re
import sys
import threading

import torch
from accelerate import PartialState
from tqdm import tqdm

import budget_force

# -----------------------------------------------------------------------------
# 1. extracting the answer from a response

# Where thinking ends: s1 writes `<|im_start|>answer`, R1-style models `</think>`. Where it starts:
# the prompt usually ends with the opener, but a response may carry it too.
THINK_CLOSERS = ("<|im_start|>answer", "</think>")
THINK_OPENERS = ("<|im_start|>think", "<think>")
END_OF_TURN = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<｜end▁of▁sentence｜>")
# "Final Answer:" anywhere; a bare "Answer:" only at the start of a line ("check our answer: ..." is not one).
ANSWER_LINE = re.compile(r"(?:\bfinal\s+answer|^[ \t#>*_]*answer)\s*\**\s*[:：]", re.IGNORECASE | re.MULTILINE)


def answer_section(response):
    """The text after the end of thinking; the whole text if the response never thinks; None when
    thinking was opened but never closed (everything in it is thinking, not an answer)."""
    found = [(response.find(c), c) for c in THINK_CLOSERS if c in response]
    if found:
        start, closer = min(found)
        text = response[start + len(closer):]
    elif any(o in response for o in THINK_OPENERS):
        return None
    else:
        text = response
    for marker in END_OF_TURN:  # anything after the end of the turn is not part of the answer
        text = text.split(marker)[0]
    return text


def last_boxed(text):
    """(start, content) of the last complete \\boxed{...} (or \\fbox{...}) in text, or None."""
    for m in reversed(list(re.finditer(r"\\(?:boxed|fbox)\s*(\{)?", text))):
        if not m.group(1):  # `\boxed 5`
            bare = re.match(r"\s*([^\s$]+)", text[m.end():])
            if bare:
                return m.start(), bare.group(1)
            continue
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth == 0:  # a box cut off mid-answer (depth > 0) is not an answer; try an earlier one
            return m.start(), text[m.end():i - 1]
    return None


def last_answer_line(text):
    """(start, rest of the line) after the last "Answer:" / "Final Answer:", or None. When the
    line is empty after the colon ("Final Answer:\\n42"), the next non-empty line is the answer;
    when nothing follows at all, the answer is "" (a forced "Final Answer:" the model left empty)."""
    matches = list(ANSWER_LINE.finditer(text))
    if not matches:
        return None
    m = matches[-1]
    rest = [line.strip() for line in text[m.end():].split("\n") if line.strip("*$ ")]
    return m.start(), rest[0] if rest else ""


# Markdown emphasis around an answer: `**73**`, `__x__`. An opener is not glued to a letter or
# digit before it, so the power `2**3` is left alone.
EMPHASIS = re.compile(r"(?<![A-Za-z0-9*_])(\*\*|__)(?=\S)(.+?)(?<=\S)\1(?![A-Za-z0-9])")


def strip_emphasis(s):
    s = EMPHASIS.sub(r"\2", s)
    # A pair cut in two by the extraction ("**Final Answer**: **73" leaves `73**`) leaves one
    # marker at an end, where it cannot be an operator.
    return re.sub(r"^(?:\*\*|__)|(?:\*\*|__)$", "", s.strip())


def boxed_whole(s):
    """The content of s when s is one \\boxed{...} (or \\fbox{...}) and nothing else, else None:
    `\\boxed{2}^{2}` is not a box around 2."""
    m = re.match(r"\\(?:boxed|fbox)\s*\{", s)
    if not m:
        return None
    depth, i = 1, m.end()
    while i < len(s) and depth:
        depth += {"{": 1, "}": -1}.get(s[i], 0)
        i += 1
    return s[m.end():i - 1] if depth == 0 and i == len(s) else None


def wraps_whole(s, left, right):
    """Do the delimiters left ... right enclose all of s, with no other such delimiter inside?
    (`$1$ or $2$` starts and ends with $ but is two formulas.)"""
    if not (s.startswith(left) and s.endswith(right) and len(s) >= len(left) + len(right)):
        return False
    inner = s[len(left):len(s) - len(right)]
    if left.startswith("$"):
        return not re.search(r"(?<!\\)\$", inner)  # an escaped \$ is a currency sign, not a delimiter
    return left not in inner and right not in inner


def clean_answer(answer):
    """Strip what wraps an answer but is not part of it: markdown emphasis, $ and \\[ \\] math
    delimiters, a whole-answer \\boxed{}, "The final answer is", "I hope it is correct.", a final
    period. A wrapper goes only when it wraps the whole answer: `$1$ or $2$` keeps its dollars."""
    s = strip_emphasis(answer)  # math-verify reads `**73**` as `73**` (math-verify#76)
    s = re.sub(r"\s*I hope it is correct\.?\s*$", "", s, flags=re.IGNORECASE)
    s = re.sub(r"^(?:so,?\s*|therefore,?\s*|thus,?\s*)?the\s+(?:final\s+|correct\s+)?answer\s+is\s*:?\s*",
               "", s, flags=re.IGNORECASE)
    for _ in range(3):  # peel nested wrappers like `$\boxed{5}$.`
        s = re.sub(r"(?<!\.)\.$", "", s.strip()).strip()  # a full stop, not the end of an ellipsis
        for left, right in (("$$", "$$"), ("$", "$"), ("\\[", "\\]"), ("\\(", "\\)")):
            if wraps_whole(s, left, right):
                s = s[len(left):len(s) - len(right)]
        s = boxed_whole(s) or s
    return s.strip()


def extract_answer(response):
    """The final answer written in the answer section of a response, as a string, or None.

    The last \\boxed{} or the last "Answer:" line, whichever comes later; else the section's last
    non-empty line. An answer that appears only in the thinking does not count.
    """
    section = answer_section(response)
    if section is None:
        return None
    found = [x for x in (last_boxed(section), last_answer_line(section)) if x is not None]
    if found:
        answer = max(found, key=lambda x: x[0])[1]
    else:
        lines = [line for line in section.split("\n") if line.strip("*$ ")]
        if not lines:
            return None
        answer = lines[-1]
    answer = clean_answer(answer)
    return answer or None


# -----------------------------------------------------------------------------
# 2. is the extracted answer right?

def latex_sub(pattern, repl, s):
    r"""re.sub for a pattern that starts with a backslash, never matching at the second backslash
    of a row break `\\`: in `1 \\ 2` the `\ ` is not LaTeX's spacing command."""
    def keep_row_breaks(m):
        if m.group(0) == "\\\\":
            return m.group(0)
        return repl(m) if callable(repl) else m.expand(repl)
    return re.sub(r"\\\\|" + pattern, keep_row_breaks, s)


def respace(m):
    r"""LaTeX spacing `\,` `\:` `\;` `\ ` between digits is a thousands separator (1\,000): gone.
    Elsewhere it separates tokens (`\pi\,r` is not `\pir`): one plain space. `\!` (negative
    space, as in 10,\!080) always goes."""
    if m.group(0) == "\\!":
        return ""
    before, after = m.string[m.start() - 1:m.start()], m.string[m.end():m.end() + 1]
    return "" if before.isdigit() and after.isdigit() else " "


# Units, which MATH writes after the number and the LLM judge the paper used ignores. Only
# measurement units and "ways" as bare words: a single letter (m, s, i) or a constant (pi, e)
# after a number may be part of the value.
UNIT_WORDS = ("units?", "inch(?:es)?", "in", "feet", "foot", "ft", "yards?", "yd", "miles?", "mi",
              "mm", "cm", "km", "met(?:er|re)s?", "seconds?", "secs?", "minutes?", "mins?", "hours?",
              "hrs?", "days?", "weeks?", "months?", "years?", "dollars?", "cents?", "degrees?", "radians?",
              "mph", "kph", "grams?", "kg", "mg", "pounds?", "lbs?", "ounces?", "oz", "lit(?:er|re)s?",
              "ml", "gallons?", "percent", "ways")
POWER = r"(?:\s*\^\s*\{?[23]\}?|[²³])?"  # square and cubic: cm^2, cm^{3}
BARE_UNIT = re.compile(r"(?<![A-Za-z\\])\s*(?:(?:square|sq\.?|cubic|cu\.?)\s*)?(?:" + "|".join(UNIT_WORDS)
                       + r")\.?" + POWER + r"\s*$", re.IGNORECASE)
# MATH's own convention: `\text{ unit}` / `\mbox{ unit}`, a space inside the braces, at the end.
TEXT_UNIT = re.compile(r"\\(?:text|mbox)\s*\{\s+([A-Za-z][A-Za-z. ]*)\}" + POWER + r"\s*$")
# Words that make a trailing \text{} a phrase about the number ("5 \text{ or more}"), not a unit.
NOT_UNIT = {"and", "or", "to", "if", "not", "no", "than", "more", "less", "least", "most", "only", "each",
            "of", "for", "all", "but", "except", "otherwise", "when", "where"}
NUMBER_END = re.compile(r"(?:\d|\}|\)|\\pi)\s*$")  # what a value with a unit after it ends with


def strip_unit(s):
    r"""s without a unit at its end, when what comes before the unit ends like a number
    (`864 \mbox{ inches}^2` -> `864`, `5 cm` -> `5`, but `\text{ east}` and `2\pi` stay)."""
    m = TEXT_UNIT.search(s)
    if m and NOT_UNIT.isdisjoint(m.group(1).lower().split()) and NUMBER_END.search(s[:m.start()]):
        return s[:m.start()].rstrip()
    m = BARE_UNIT.search(s)
    if m and NUMBER_END.search(s[:m.start()]):
        return s[:m.start()].rstrip()
    return s


def normalize(answer):
    r"""A canonical string for exact comparison (math-verify does the symbolic part). Every
    rewrite keeps what the LaTeX means: commands are matched whole (`\left`, not the start of
    `\leftarrow`) and a row break `\\` is never read as a backslash plus something else."""
    s = clean_answer(answer)
    s = latex_sub(r"\\[!,;: ]", respace, s)
    s = strip_unit(s)  # before \text{} is unwrapped: `\text{ unit}` marks any word as a unit
    s = latex_sub(r"\\(?:text|textbf|mathrm|mathbf|textrm|mbox)\s*\{([^{}]*)\}", r"\1", s)
    s = s.replace("{,}", ",")  # LaTeX's thousands separator: 1{,}000
    s = latex_sub(r"\\(?:boxed|fbox)\s*\{", "{", s)  # a box inside an answer is decoration: \boxed{2}^2 is 4
    s = latex_sub(r"\\[dt]frac(?![A-Za-z])", r"\\frac", s)
    s = latex_sub(r"\\(?:left|right)(?![A-Za-z])", "", s)
    s = latex_sub(r"\\\$", "", s)  # an escaped dollar is a currency sign: \$32
    s = re.sub(r"\^\s*(?:\\circ(?![A-Za-z])|\{\\circ\})|°|\\degree(?![A-Za-z])", "", s)  # degrees: 90^\circ, 90°
    s = re.sub(r"\s+", " ", s).strip()
    s = strip_unit(s)  # a unit in words (864 square inches) or left after \text{} (15 \text{cm}^2)
    s = re.sub(r"(?<!\.)\.$", "", s)  # a full stop, not the end of an ellipsis
    if re.fullmatch(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?", s):  # 1,000,000 (a number, not a list of three)
        s = s.replace(",", "")
    if re.fullmatch(r"0+\d+", s):  # AIME answers are written 000-999: 073 is 73
        s = s.lstrip("0") or "0"
    return s


def choice_letter(answer):
    """The multiple-choice letter an answer names ("B", "(B)", "B)", "B. 42 kJ", "answer is B"), or None."""
    s = normalize(answer)
    m = (re.match(r"^(?:\(([A-J])\)|([A-J])(?:[.:)]|$))", s, re.IGNORECASE)
         or re.search(r"\(([A-J])\)", s, re.IGNORECASE)
         or re.search(r"\b(?:answer|option|choice)\s*(?:is)?\s*:?\s*\(?([A-J])\b", s, re.IGNORECASE))
    return next(g for g in m.groups() if g).upper() if m else None


def math_verify_equal(gold, prediction):
    """math-verify's symbolic comparison of two answer strings. Gold goes first: verify() is not
    symmetric (math-verify#25). Its timeout uses signal.alarm, which only works in the main
    thread (math-verify#50), so elsewhere we turn it off."""
    from math_verify import parse, verify

    timeout = 5 if threading.current_thread() is threading.main_thread() else None
    try:
        parsed_gold = parse(f"\\boxed{{{gold}}}", parsing_timeout=timeout)
        parsed_pred = parse(f"\\boxed{{{prediction}}}", parsing_timeout=timeout) or parse(prediction, parsing_timeout=timeout)
        return bool(parsed_gold and parsed_pred and verify(parsed_gold, parsed_pred, timeout_seconds=timeout))
    except Exception:  # a parser crash on odd input means "not shown equal"
        return False


def squeeze_spaces(s):
    r"""s without the spaces that separate nothing: `2 x` is `2x`, but `1 2` is two numbers, not
    12, and `\pi r` is not the unknown command `\pir`."""
    def keep_if_needed(m):
        before, after = m.group(1) or "", m.group(2)
        needed = ((before[-1:].isdigit() and after.isdigit())
                  or (re.fullmatch(r"\\[A-Za-z]+", before) is not None and after.isalpha()))
        return before + (" " if needed else "")
    return re.sub(r"(\\[A-Za-z]+|.)? +(?=(.?))", keep_if_needed, s)


def answers_match(prediction, gold):
    """Is the extracted answer `prediction` equal to the reference answer `gold`?"""
    if prediction is None:
        return False
    pred, ref = normalize(prediction), normalize(str(gold))
    if squeeze_spaces(pred) == squeeze_spaces(ref):
        return True
    if re.fullmatch(r"\(?[A-J]\)?", ref):  # a multiple-choice letter: math-verify has none (math-verify#16)
        return choice_letter(prediction) == ref.strip("()")
    if re.fullmatch(r"[A-Za-z][A-Za-z ]+", ref):  # a word ("east"): math-verify would read e*a*s*t = t*e*a*s
        return pred.lower() == ref.lower()
    return math_verify_equal(ref, pred)


def is_correct(response, gold):
    """Does the answer section of `response` give the reference answer `gold`?"""
    return answers_match(extract_answer(response), gold)


def majority_vote(answers):
    """The most common answer among samples, equivalent answers counted together (ties: first seen)."""
    groups = []  # [representative, count]
    for answer in answers:
        if answer is None:
            continue
        for group in groups:
            if answers_match(answer, group[0]):
                group[1] += 1
                break
        else:
            groups.append([answer, 1])
    return max(groups, key=lambda g: g[1])[0] if groups else None


# -----------------------------------------------------------------------------
# 3. datasets: by name from the hub, or a local file

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
# 4. the paper's metrics (§3.2)

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
# 5. samples.jsonl: append-only, so an interrupted run resumes where it stopped

def sample_key(row):
    """What identifies one generation: question, setting, sample index."""
    return (str(row["id"]), row["max_think"], row["num_wait"], row["min_think"], row.get("sample", 0))


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


# -----------------------------------------------------------------------------
# 6. the sweep: generate every (setting, sample, question) through budget forcing

def setting_name(s):
    return f"max_think={s['max_think']} num_wait={s['num_wait']} min_think={s['min_think']}"


def closed_itself(result):
    """The model chose the end-of-thinking delimiter itself: not cut by the cap, and the first
    delimiter token (just after the thinking tokens) was not forced (a forced one replaces an
    end-of-turn or a suppressed attempt)."""
    n = result["thinking_tokens"]
    return not result["forced_stop"] and len(result["forced_mask"]) > n and not result["forced_mask"][n]


# Conditional length control (the paper's Table 3, "token-conditional"): the prompt states the
# budget and nothing is forced. A model learns what the sentence means only from training prompts
# that state each trace's length (demo/conditional_data.py writes them with this same sentence).
BUDGET_SENTENCE = "Think for at most {} tokens."


def conditional_prompt(question, budget):
    return f"{question}\n\n{BUDGET_SENTENCE.format(budget)}"


def rejection_sample(model, tokenizer, questions, *, max_think, tries, temperature, seed, **kwargs):
    """Rejection sampling, the paper's Table 3 baseline for length control: nothing is forced;
    each question is sampled until its thinking fits the budget (the model closed it itself within
    max_think tokens), at most `tries` times. A draw is stopped one token past the budget, where it
    can no longer be accepted, so rejected draws cost max_think + 1 thinking tokens at most.
    Returns (results, tries used per question); a question that never fit keeps its last draw."""
    results, used, pending = [None] * len(questions), [0] * len(questions), list(range(len(questions)))
    for attempt in range(tries):
        if not pending:
            break
        drawn = budget_force.budget_force(model, tokenizer, [questions[i] for i in pending], max_think=max_think + 1,
                                          temperature=temperature, seed=seed + 1000 * attempt, **kwargs)
        still = []
        for i, r in zip(pending, drawn):
            results[i], used[i] = r, attempt + 1
            if not (closed_itself(r) and r["thinking_tokens"] <= max_think):
                still.append(i)
        pending = still
    return results, used


def run_sweep(model, tokenizer, questions, settings, out_path, *, samples=1, batch_size=8, temperature=0.0,
              fmt="s1", max_answer=512, wait_str="Wait", seed=0, done=(), progress=True, rejection_tries=0,
              budget_in_prompt=0):
    """Generate what is not `done` yet, appending one line per generation to out_path as it arrives.

    Returns the new rows. Batches never mix settings or samples: budget_force takes one budget per
    call. Sample k uses seed + k, so K samples of one question differ. With rejection_tries > 0
    the budget is met by rejection sampling instead of budget forcing (rows then record `tries`).
    With budget_in_prompt > 0 the prompt states max_think and nothing is forced: thinking runs
    until the model ends it, cut only at budget_in_prompt tokens (a safety net, counted as forced).
    """
    done = set(done)
    todo = [(s, k, q) for s in settings for k in range(samples) for q in questions
            if sample_key({**q, **s, "sample": k}) not in done]
    # Questions of similar length share a batch: less left padding (results do not depend on it).
    todo.sort(key=lambda t: (settings.index(t[0]), t[1], len(t[2]["question"])))
    new_rows = []
    fd = os.open(out_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        bar = tqdm(total=len(todo), desc="generating", unit="gen", disable=not progress)
        for (_, k), group in itertools.groupby(todo, key=lambda t: (settings.index(t[0]), t[1])):
            group = list(group)
            s = group[0][0]
            for i in range(0, len(group), batch_size):
                batch = [q for _, _, q in group[i:i + batch_size]]
                if budget_in_prompt:
                    results = budget_force.budget_force(
                        model, tokenizer, [conditional_prompt(q["question"], s["max_think"]) for q in batch],
                        max_think=budget_in_prompt, max_answer=max_answer, temperature=temperature, fmt=fmt, seed=seed + k)
                    tries = [None] * len(batch)
                elif rejection_tries:
                    results, tries = rejection_sample(
                        model, tokenizer, [q["question"] for q in batch], max_think=s["max_think"],
                        tries=rejection_tries, temperature=temperature, seed=seed + k, max_answer=max_answer, fmt=fmt)
                else:
                    results = budget_force.budget_force(
                        model, tokenizer, [q["question"] for q in batch], max_think=s["max_think"],
                        min_think=s["min_think"], num_wait=s["num_wait"], wait_str=wait_str, max_answer=max_answer,
                        temperature=temperature, fmt=fmt, seed=seed + k)
                    tries = [None] * len(batch)
                for q, r, n_tries in zip(batch, results, tries):
                    extracted = extract_answer(r["text"])
                    row = {"id": q["id"], "question": q["question"], "gold": q["gold"], "response": r["text"],
                           "extracted": extracted, "correct": answers_match(extracted, q["gold"]),
                           "thinking_tokens": r["thinking_tokens"], "answer_tokens": r["answer_tokens"],
                           "waits": r["waits"], "forced_stop": r["forced_stop"],
                           "closed_itself": closed_itself(r), **s, "sample": k}
                    if n_tries is not None:
                        row["tries"] = n_tries
                    append_line(fd, row)
                    new_rows.append(row)
                bar.update(len(batch))
        bar.close()
    finally:
        os.close(fd)
    return new_rows


# -----------------------------------------------------------------------------
# 7. summary, plot, table

def summarize(rows, questions, settings, samples=1, a_min=None, a_max=None):
    """One summary row per setting plus the paper's metrics over the settings.

    accuracy: share of questions answered correctly (with samples > 1: by majority vote over the
    samples, the paper's parallel-scaling baseline). control: share of generations whose thinking
    stayed within [min_think, max_think]. a_min / a_max default to the smallest min_think and the
    largest max_think of the sweep.
    """
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
               "control": sum(s["min_think"] <= g["thinking_tokens"] <= s["max_think"] for g in gens) / len(gens)}
        if samples > 1:
            row["sample_accuracy"] = sum(g["correct"] for g in gens) / len(gens)
        if "tries" in gens[0]:  # rejection sampling: what meeting the budget cost
            row["avg_tries"] = sum(g["tries"] for g in gens) / len(gens)
        table.append(row)
    a_min = min(s["min_think"] for s in settings) if a_min is None else a_min
    a_max = max(s["max_think"] for s in settings) if a_max is None else a_max
    metrics = scaling_metrics([(r["avg_thinking_tokens"], r["accuracy"]) for r in table], a_min, a_max)
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
    lines = [f"{'setting':<40} {'n':>5} {'accuracy':>9} {'avg think':>10} {'control':>8}"]
    for r in summary["rows"]:
        lines.append(f"{r['setting']:<40} {r['n']:>5} {100 * r['accuracy']:>8.1f}% "
                     f"{r['avg_thinking_tokens']:>10.1f} {100 * r['control']:>7.1f}%"
                     + (f"  {r['avg_tries']:.2f} tries" if "avg_tries" in r else ""))
    m = summary["metrics"]
    scaling = "n/a (one point)" if m["scaling"] is None else f"{m['scaling']:.3g} accuracy/token"
    lines.append(f"Control {100 * m['control']:.1f}% (a in [{m['a_min']}, {m['a_max']}])  "
                 f"Scaling {scaling}  Performance {100 * m['performance']:.1f}%")
    return "\n".join(lines)


# -----------------------------------------------------------------------------
# 8. command line

def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--dataset", required=True,
                        help=f"{', '.join(HUB_DATASETS)}, or a .jsonl/.json/.parquet file")
    parser.add_argument("--question-field", default=None, help="question column of a local file (default: problem or question)")
    parser.add_argument("--answer-field", default=None, help="reference-answer column of a local file (default: answer)")
    parser.add_argument("--model", default=None, help="hub id, local folder or .gguf file (default: embedded SmolLM2-135M-Instruct)")
    parser.add_argument("--out", default="runs/eval", help="output folder; rerunning the same command resumes")
    parser.add_argument("--max-think", type=int, nargs="+", default=[1024], help="thinking caps to sweep")
    parser.add_argument("--num-wait", type=int, nargs="+", default=[0], help="numbers of forced Waits to sweep")
    parser.add_argument("--min-think", type=int, nargs="+", default=[0], help="minimum thinking tokens to sweep")
    parser.add_argument("--max-answer", type=int, default=512, help="cap on answer tokens")
    parser.add_argument("--wait-str", default="Wait", help="what budget forcing appends to extend thinking ('': nothing, the end of thinking is only refused)")
    parser.add_argument("--format", default="s1", choices=sorted(budget_force.FORMATS), help="delimiter preset")
    parser.add_argument("--limit", type=int, default=None, help="evaluate the first N questions only")
    parser.add_argument("--batch-size", type=int, default=8, help="questions per budget_force call")
    parser.add_argument("--samples", type=int, default=1, help="samples per question, majority-voted (needs --temperature > 0)")
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    parser.add_argument("--rejection-tries", type=int, default=0,
                        help="control length by rejection sampling instead of budget forcing: sample (needs --temperature > 0) "
                             "until the thinking fits --max-think, at most this many times (the paper's Table 3 baseline)")
    parser.add_argument("--budget-in-prompt", type=int, default=0, metavar="LIMIT",
                        help="conditional length control instead of budget forcing: the prompt states each --max-think "
                             "(\"Think for at most N tokens.\"), nothing is forced, thinking is cut only at LIMIT tokens "
                             "(the paper's Table 3 token-conditional control; 0: off)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed and GPQA option order")
    parser.add_argument("--a-min", type=float, default=None, help="Control's lower bound (default: smallest --min-think)")
    parser.add_argument("--a-max", type=float, default=None, help="Control's upper bound (default: largest --max-think)")
    parser.add_argument("--strict", action="store_true",
                        help="refuse a file in which any record lacks an answer; without it such records are skipped "
                             "and counted in summary.json")
    return parser.parse_args(argv)


def check_args(args):
    """Reject bad numbers before anything slow happens."""
    if min(args.max_think) <= 0:
        raise ValueError("--max-think values must be positive")
    if min(args.num_wait) < 0 or min(args.min_think) < 0:
        raise ValueError("--num-wait and --min-think values must be non-negative")
    if max(args.min_think) > min(args.max_think):
        raise ValueError(f"--min-think {max(args.min_think)} is larger than --max-think {min(args.max_think)}")
    for name in ("max_answer", "batch_size", "samples"):
        if getattr(args, name) <= 0:
            raise ValueError(f"--{name.replace('_', '-')} must be positive")
    if args.limit is not None and args.limit <= 0:
        raise ValueError("--limit must be positive")
    if args.temperature < 0:
        raise ValueError("--temperature must be >= 0")
    if args.samples > 1 and args.temperature == 0:
        raise ValueError("--samples > 1 needs --temperature > 0 (greedy samples are all the same)")
    if args.rejection_tries < 0:
        raise ValueError("--rejection-tries must be >= 0")
    if args.rejection_tries and args.temperature == 0:
        raise ValueError("--rejection-tries needs --temperature > 0 (a greedy redraw is the same draw)")
    if args.rejection_tries and (max(args.num_wait) or max(args.min_think)):
        raise ValueError("--rejection-tries forces nothing: leave --num-wait and --min-think at 0")
    if args.budget_in_prompt < 0:
        raise ValueError("--budget-in-prompt must be >= 0")
    if args.budget_in_prompt and (args.rejection_tries or max(args.num_wait) or max(args.min_think)):
        raise ValueError("--budget-in-prompt forces nothing: leave --rejection-tries, --num-wait and --min-think at 0")
    if args.budget_in_prompt and args.budget_in_prompt < max(args.max_think):
        raise ValueError(f"--budget-in-prompt {args.budget_in_prompt} would cut thinking inside the largest stated budget "
                         f"{max(args.max_think)}: make it larger")


def length_control_name(args):
    if args.rejection_tries:
        return f"rejection sampling, <= {args.rejection_tries} tries"
    if args.budget_in_prompt:
        return f"conditional: budget stated in the prompt, nothing forced (cut at {args.budget_in_prompt})"
    return "budget forcing"


def evaluate(args):
    """The whole run; returns the summary (on the main process; None on the others)."""
    check_args(args)
    questions, unanswered = drop_unanswered(load_questions(args.dataset, args.question_field, args.answer_field,
                                                           args.seed, strict=args.strict))
    total = len(questions) + len(unanswered)
    questions = questions[:args.limit]
    settings = [{"max_think": m, "num_wait": w, "min_think": n}
                for m, w, n in itertools.product(args.max_think, args.num_wait, args.min_think)]
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
        check_run_config(args.out, {k: getattr(args, k) for k in (
            "dataset", "question_field", "answer_field", "model", "format", "temperature", "max_answer",
            "wait_str", "seed")} | {k: getattr(args, k) for k in ("rejection_tries", "budget_in_prompt") if getattr(args, k)})
        drop_torn_tail(out_path)
    state.wait_for_everyone()

    # Every process takes its share of the questions and skips what an earlier run finished.
    done = {sample_key(r) for r in read_samples(out_path)}
    with state.split_between_processes(questions) as mine:
        todo = [q for q in mine if any(sample_key({**q, **s, "sample": k}) not in done
                                       for s in settings for k in range(args.samples))]
    if todo:  # a finished run reruns without loading the model
        model, tokenizer = budget_force.load_model(args.model)
        model.to(state.device)
        run_sweep(model, tokenizer, todo, settings, out_path, samples=args.samples, batch_size=args.batch_size,
                  temperature=args.temperature, fmt=args.format, max_answer=args.max_answer,
                  wait_str=args.wait_str, seed=args.seed, done=done, progress=state.is_local_main_process,
                  rejection_tries=args.rejection_tries, budget_in_prompt=args.budget_in_prompt)
    state.wait_for_everyone()
    if not state.is_main_process:
        return None

    # Gather: every process appended to the same file, so the main process reads it back whole.
    summary = summarize(read_samples(out_path), questions, settings, args.samples, args.a_min, args.a_max)
    summary["config"] = {"dataset": args.dataset, "model": args.model or "embedded SmolLM2-135M-Instruct",
                         "samples": args.samples, "temperature": args.temperature, "format": args.format,
                         "length_control": length_control_name(args)}
    summary["unanswered"] = {"count": len(unanswered), "ids": unanswered}  # records skipped: no reference answer
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    plot_scaling(summary, os.path.join(args.out, "scaling.png"), title=os.path.basename(args.dataset))
    print(format_table(summary))
    print(f"wrote {out_path}, summary.json and scaling.png in {args.out}")
    return summary


def main(argv=None):
    args = parse_args(argv)
    try:
        evaluate(args)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
