"""Grade a model's answer against a reference without an LLM judge (s1 paper, §4; used by evaluate.py).

The s1 paper grades with an LLM judge; this file grades locally and deterministically: take the
answer section of the response (never the thinking), extract the last \\boxed{} (boxes joined by
"and" or part labels count as one answer, a list), else the "Final Answer:" / "Answer:" line, then
compare it with the reference (its boxes, when it holds some) through HF's math-verify, after rules
for what math-verify misreads or misses: answers labelled by part ("for part (a)"),
multiple-choice letters, \\text{} answers, thousands separators (also a space: `1 000`),
plain-text mixed numbers (`2 1/2` is 5/2), AIME's leading zeros, markdown emphasis, units after a
number, a sentence after "Final Answer:", a next turn leaking into the answer. An undefined value
(0/0) equals nothing, so a verdict never depends on the process's hash seed; a response identical
to the reference is right.

    python grade.py "... <|im_start|>answer\nFinal Answer: \\boxed{2 1/2}" "\\frac{5}{2}"   # -> correct
"""
import argparse
import json
import re
import threading

# -----------------------------------------------------------------------------
# 1. extracting the answer from a response

# Where thinking ends: s1 writes `<|im_start|>answer`, R1-style models `</think>`. Where it starts:
# the prompt usually ends with the opener, but a response may carry it too.
THINK_CLOSERS = ("<|im_start|>answer", "</think>")
THINK_OPENERS = ("<|im_start|>think", "<think>")
END_OF_TURN = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<｜end▁of▁sentence｜>")
# A next turn that leaks in without an end of turn ("... is 12. <|im_start|>user"). In s1's format a
# second `<|im_start|>answer` inside the answer belongs to it, so only other openers end the answer.
NEXT_TURN = re.compile(r"<\|im_start\|>(?!answer)|<\|start_header_id\|>|<｜User｜>")
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
    return NEXT_TURN.split(text)[0]


def complete_boxes(text):
    """[(start, end, content)] of each complete outermost \\boxed{...} (or \\fbox{...}) in text.
    A box cut off mid-answer is no answer, but a complete box inside it still is."""
    found, i = [], 0
    for m in re.finditer(r"\\(?:boxed|fbox)\s*(\{)?", text):
        if m.start() < i:  # inside a box already taken
            continue
        if not m.group(1):  # `\boxed 5`
            bare = re.match(r"\s*([^\s$]+)", text[m.end():])
            if bare:
                i = m.end() + bare.end()
                found.append((m.start(), i, bare.group(1)))
            continue
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        if depth == 0:
            found.append((m.start(), j, text[m.end():j - 1]))
            i = j
    return found


# A label that names the part of a question an answer belongs to: "for part (a)", "Part (ii):",
# "(b)". A bare "(a)" is a label only where another follows ("(a) 5 (b) 7"): alone it may be a choice.
PART = r"\((?:[a-h]|i{1,3}|iv|vi{0,3})\)"
PART_LABEL = re.compile(rf"(?:\b[Ff]or\s+|\b[Ii]n\s+)?\b[Pp]art\s*{PART}\s*:?")
BARE_PART_LABEL = re.compile(rf"(?<![^\s,;$]){PART}\s*:?")

# What may stand between boxes that together give one answer: "$\boxed{1}$ and $\boxed{2}$",
# `\boxed{k = 45} \quad\text{and}\quad \boxed{n = 2}`, "$\boxed{(3, 3)}$ for part (a) and
# $\boxed{(1, 1)}$", "(a) $\boxed{5}$ (b) $\boxed{7}$". Not "or" and not other words: "\boxed{1}
# no wait \boxed{2}" is a correction, whose last box is the answer.
BOX_JOINER = re.compile(r"(?:[\s$,;~]|\\[,;: ]|\\q?quad|\band\b|\\text\s*\{|\}|"
                        + PART_LABEL.pattern + "|" + BARE_PART_LABEL.pattern + ")*")


def last_boxed(text):
    """(start, content) of the last complete box, taken together with the boxes just before it
    that only "and", commas or spacing separate from it (contents joined by ", "), or None."""
    boxes = complete_boxes(text)
    if not boxes:
        return None
    first = len(boxes) - 1
    while first > 0 and BOX_JOINER.fullmatch(text[boxes[first - 1][1]:boxes[first][0]]):
        first -= 1
    return boxes[first][0], ", ".join(content for _, _, content in boxes[first:])


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


# What may stand at the edges of one part's answer once its label is gone.
PART_START = re.compile(r"^(?:[\s,;:$]|\band\b|\\q?quad|\})*")
PART_END = re.compile(r"(?:[\s,;$]|\band\b|\\q?quad|\\(?:text|mbox)\s*\{)*$")


def strip_part_labels(s):
    """An answer given part by part ("(3, 3) for part (a) and (1, 1) for part (b)", "(a) 5 (b) 7")
    as the list of its parts in the order written ("(3, 3), (1, 1)"), graded like any list. Only
    when no part holds a word: "the answer to part (a) is 5" is a sentence and stays as it is."""
    labels = PART_LABEL.findall(s)
    if not labels and len(BARE_PART_LABEL.findall(s)) < 2:
        return s
    pieces = (PART_LABEL if labels else BARE_PART_LABEL).split(s)
    pieces = [PART_END.sub("", PART_START.sub("", piece)) for piece in pieces]
    pieces = [piece for piece in pieces if piece]
    if not pieces or any(WORD.search(piece) for piece in pieces):
        return s
    return ", ".join(pieces)


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
    s = strip_part_labels(s)
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
    boxed, line = last_boxed(section), last_answer_line(section)
    if boxed and (not line or boxed[0] > line[0]):
        return clean_answer(boxed[1]) or None
    if not line:
        lines = [line for line in section.split("\n") if line.strip("*$ ")]
        if not lines:
            return None
        line = (0, lines[-1])
    return answer_in_sentence(clean_answer(line[1])) or None


WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}(?![A-Za-z])")  # a word, not a command or a variable
MATH_SPAN = r"(?<!\\)\$+([^$]+?)(?<!\\)\$+"
NUMBER = r"[+-]?\d+(?:,\d{3})*(?:\.\d+)?(?:/\d+)?"
STATED = re.compile(rf"(?:\b(?:is|are|was|equals|be)\s*:?|=)\s*(?:{MATH_SPAN}|({NUMBER}))\s*$")


def answer_in_sentence(answer):
    """The answer a sentence states: the value it ends with after "is" / "=" ("The volume of $V$ is
    120" -> "120"), else its one math span $...$, else its one number. An answer with fewer than three
    words outside math is no sentence ("12 and 13", "B) 42 kJ") and stays whole, and so does a
    sentence with several candidates: picking one could turn a wrong answer ("3, 5") right."""
    if len(WORD.findall(re.sub(MATH_SPAN, " ", answer))) < 3:
        return answer
    stated = STATED.search(answer)
    if stated:
        return (stated.group(1) or stated.group(2)).strip()
    for candidates in (re.findall(MATH_SPAN, answer), re.findall(NUMBER, answer)):
        if candidates:
            return candidates[0].strip() if len(candidates) == 1 else answer
    return answer


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
    space, as in 10,\!080) always goes, with the spaces after it (11,\! 111,\! 100 is one number)."""
    if m.group(0).startswith("\\!"):
        return ""
    before, after = m.string[m.start() - 1:m.start()], m.string[m.end():m.end() + 1]
    return "" if before.isdigit() and after.isdigit() else " "


# Units, which MATH writes after the number and the LLM judge the paper used ignores (a percent
# too: MATH's answer to "what percent" is the bare number, so 10% is 10 and 0.1 is not). Only
# measurement units and "ways" as bare words: a single letter (m, s, i) or a constant (pi, e)
# after a number may be part of the value.
UNIT_WORDS = ("units?", "inch(?:es)?", "in", "feet", "foot", "ft", "yards?", "yd", "miles?", "mi",
              "mm", "cm", "km", "met(?:er|re)s?", "seconds?", "secs?", "minutes?", "mins?", "hours?",
              "hrs?", "days?", "weeks?", "months?", "years?", "dollars?", "cents?", "degrees?", "radians?",
              "mph", "kph", "grams?", "kg", "mg", "pounds?", "lbs?", "ounces?", "oz", "lit(?:er|re)s?",
              "ml", "gallons?", "percent(?:age)?", "pct", r"\\?%", "ways")
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
    s = latex_sub(r"\\! *|\\[,;: ]", respace, s)
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
    s = re.sub(r"(?<=\d)\\$", "", s)  # a stray backslash after a number (185\), not a row break
    if re.fullmatch(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?", s):  # 1,000,000 (a number, not a list of three)
        s = s.replace(",", "")
    s = plain_number(s)
    if re.fullmatch(r"0+\d+", s):  # AIME answers are written 000-999: 073 is 73
        s = s.lstrip("0") or "0"
    return s


# Plain-text numbers written with spaces, which math-verify 0.9.0 misreads: `1 000` (as 1*0) and
# the mixed number `2 1/2` (as (2+1)/2). Only a whole answer is read so; `1 2` stays two numbers.
SPACED_THOUSANDS = r"\d{1,3}(?: \d{3})+"
MIXED_NUMBER = re.compile(rf"([+-]?)({SPACED_THOUSANDS}|\d+) (\d+)/(\d+)")
# Numbers side by side that form no single number (`1 2`, `4 0/0`): math-verify would multiply or
# add them, so only the same text equals them.
JUXTAPOSED = re.compile(r"[+-]?\d+(?:\.\d+)?(?: [+-]?\d+(?:\.\d+)?(?:/\d+)?)+")


def plain_number(s):
    """`1 000` -> `1000`, `2 1/2` -> `\\frac{5}{2}`, `-3 1/4` -> `-\\frac{13}{4}`; anything else as it is.
    A zero denominator (`4 0/0`) is no number and stays as written."""
    if re.fullmatch(rf"[+-]?{SPACED_THOUSANDS}(?:\.\d+)?", s):
        return s.replace(" ", "")
    m = MIXED_NUMBER.fullmatch(s)
    if not m or int(m[4]) == 0:
        return s
    sign, whole, numerator, denominator = m.groups()
    numerator = int(whole.replace(" ", "")) * int(denominator) + int(numerator)
    return f"{sign}\\frac{{{numerator}}}{{{denominator}}}"


def choice_letter(answer):
    """The multiple-choice letter an answer names ("B", "(B)", "B)", "B. 42 kJ", "answer is B"), or None.
    An answer that names several letters ("(A) or (B)", "A or B") is a hedge, not a choice: None."""
    s = normalize(answer)
    first = re.match(r"^(?:\(([A-J])\)|([A-J])(?:[.:)]|$))", s, re.IGNORECASE)
    letters = {g for g in (first.groups() if first else ()) if g}
    letters.update(re.findall(r"\(([A-J])\)", s, re.IGNORECASE))
    letters.update(re.findall(r"\b(?:answer|option|choice)\s*(?:is)?\s*:?\s*\(?([A-J])\b", s, re.IGNORECASE))
    # Capital letters joined by or / and / a comma / a slash; case-sensitive, so the article "a" is none.
    for pair in re.findall(r"(?<![A-Za-z])\(?([A-J])\)?\s*(?:,|/|\bor\b|\band\b)\s*\(?([A-J])\)?(?![A-Za-z])", s):
        letters.update(pair)
    letters = {letter.upper() for letter in letters}
    return letters.pop() if len(letters) == 1 else None


def math_verify_equal(gold, prediction):
    """math-verify's symbolic comparison of two answer strings. Gold goes first: verify() is not
    symmetric (math-verify#25). Its timeout uses signal.alarm, which only works in the main
    thread (math-verify#50), so elsewhere we turn it off. An undefined value (0/0, 1/0) equals
    nothing: sympy's verdicts on it depend on the process's hash seed."""
    from math_verify import parse, verify

    timeout = 5 if threading.current_thread() is threading.main_thread() else None
    try:
        parsed_gold = parse(f"\\boxed{{{gold}}}", parsing_timeout=timeout)
        parsed_pred = parse(f"\\boxed{{{prediction}}}", parsing_timeout=timeout) or parse(prediction, parsing_timeout=timeout)
        if not parsed_gold or not parsed_pred or any(map(undefined, parsed_gold + parsed_pred)):
            return False
        return bool(verify(parsed_gold, parsed_pred, timeout_seconds=timeout))
    except Exception:  # a parser crash on odd input means "not shown equal"
        return False


def undefined(value):
    """Does a parsed value divide by zero or hold sympy's nan / complex infinity?"""
    import sympy

    if not isinstance(value, sympy.Basic):
        return False
    return value.has(sympy.nan, sympy.zoo) or any(p.base.is_zero and p.exp.is_negative for p in value.atoms(sympy.Pow))


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
    pred, ref = normalize(prediction), normalize(reference_answer(str(gold)))
    if squeeze_spaces(pred) == squeeze_spaces(ref):
        return True
    if re.fullmatch(r"\(?[A-J]\)?", ref):  # a multiple-choice letter: math-verify has none (math-verify#16)
        return choice_letter(prediction) == ref.strip("()")
    if re.fullmatch(r"[A-Za-z][A-Za-z ]+", ref):  # a word ("east"): math-verify would read e*a*s*t = t*e*a*s
        return pred.lower() == ref.lower()
    if JUXTAPOSED.fullmatch(pred) or JUXTAPOSED.fullmatch(ref):
        return False
    return math_verify_equal(ref, pred)


# What may follow the boxes of a reference written like a response's last line: punctuation and
# closing delimiters. What may stand just before them: nothing, a space, `$`, `=`, `:` or `\(` `\[`.
BOX_TRAILER = re.compile(r"(?:[\s.,;$]|\\\]|\\\)|\\end\s*\{[A-Za-z*]+\})*")
BOX_LEAD = re.compile(r"(?:^|[\s$=:]|\\[(\[])$")


def reference_answer(gold):
    """The answer a reference states. A reference is usually a bare answer; one that holds boxes
    ("$\\boxed{1}\\boxed{2}$", "x \\in \\boxed{[0, 7)}.$") states its boxes, read as in a response
    (boxes side by side are a list), when only punctuation follows them and no factor or power
    touches them: `\\boxed{2}^{2}` and `2\\boxed{3}` are expressions, not boxed answers."""
    boxes, found = complete_boxes(gold), last_boxed(gold)
    if not found or not BOX_TRAILER.fullmatch(gold[boxes[-1][1]:]) or not BOX_LEAD.search(gold[:found[0]]):
        return gold
    return found[1]


def is_correct(response, gold):
    """Does the answer section of `response` give the reference answer `gold`? A response that is
    the reference, character for character, gives it, whatever neither side's parsing makes of it."""
    gold = str(gold)
    if response.strip() and response.strip() == gold.strip():
        return True
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
# command line: grade one response

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("response", help="the model's whole response (thinking and answer)")
    parser.add_argument("gold", help="the reference answer")
    args = parser.parse_args(argv)
    extracted = extract_answer(args.response)
    print(json.dumps({"extracted": extracted, "correct": answers_match(extracted, args.gold)}))


if __name__ == "__main__":
    main()
