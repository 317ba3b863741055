"""Tests for grade.py: the kinds of answers issue 21 lists (mixed numbers, spaced
thousands, several boxes, `,\\! ` in numbers, a sentence after "Final Answer:", a leaked next turn,
determinism), each both ways, and the answer-equivalence tests of public graders.

The public cases are written here as (prediction, gold, that grader's verdict) rows, by source.
Where a rule of ours disagrees on purpose, the row sits in DISAGREEMENTS with the reason; every
other row must agree. `python tests/test_grading.py` prints the agreement per source.
"""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # also when run as a script
import grade  # noqa: E402
S1 = "Let me compute.\n<|im_start|>answer\n"  # budget_force's s1 text before the answer


# -----------------------------------------------------------------------------
# the kinds in issue 21, each right and wrong

@pytest.mark.parametrize("prediction, gold, expected", [
    # a plain-text mixed number is whole + fraction (math-verify 0.9.0 reads `2 1/2` as (2+1)/2)
    ("2 1/2", "\\frac{5}{2}", True),
    ("2 1/2", "\\frac{3}{2}", False),
    ("7 3/4", "\\frac{31}{4}", True),
    ("7 3/4", "\\frac{10}{4}", False),
    ("-3 1/4", "-\\frac{13}{4}", True),
    ("-3 1/4", "-\\frac{11}{4}", False),      # -(3 + 1/4), not -3 + 1/4
    ("4 4/9", "4\\frac{4}{9}", True),
    ("4 4/9", "4", False),
    ("4 4/9%", "40/9", True),                  # a percent is a unit, as in MATH's answers
    ("4 4/9 percent", "\\frac{40}{9}\\%", True),
    ("4 4/9 pct", "40/9", True),
    ("4 4/9 %", "\\frac{4}{9}", False),
    # ... only where the whole answer is one: numbers side by side stay two numbers
    ("1 2", "12", False),
    ("1 2", "3", False),
    ("1 2", "2", False),
    ("1 2", "1 2", True),
    # a space as thousands separator (math-verify reads `1 000` as 1*0)
    ("1 000", "1000", True),
    ("1 000", "0", False),
    ("1 000", "1", False),
    ("12 345 678", "12345678", True),
    ("10 00", "1000", False),                  # not groups of three: no thousands separator
    ("1 000 4/9", "9004/9", True),
    # `,\\!` and a space inside a number
    ("11,\\! 111,\\! 100", "11111100", True),
    ("11,\\! 111,\\! 100", "11", False),
    ("11111100", "11,\\! 111,\\! 100", True),
    ("11111101", "11,\\! 111,\\! 100", False),
    # bare lists are unordered ("all solutions"), but a subset or another list is wrong
    ("10, 4, -2", "4, 10, -2", True),
    ("10, 4, -2", "4, 10, 2", False),
])
def test_issue_kinds_answers_match(prediction, gold, expected):
    assert grade.answers_match(prediction, gold) is expected


BOXES = S1 + "The solutions are $\\boxed{(1,2)}$ and $\\boxed{(2,1)}$."
KN = S1 + "So $\\boxed{k = 45} \\quad\\text{and}\\quad \\boxed{n = 2}$."


@pytest.mark.parametrize("response, gold, expected", [
    # several boxes joined by "and", commas or spacing are one answer, taken together
    (BOXES, "(1,2), (2,1)", True),
    (BOXES, "(2,1), (1,2)", True),
    (BOXES, "(2,1)", False),
    (BOXES, "(1,2)", False),
    (KN, "k = 45, n = 2", True),
    (KN, "n = 2", False),
    (S1 + "$x = \\boxed{3}, \\boxed{5}$", "3, 5", True),
    (S1 + "$x = \\boxed{3}, \\boxed{5}$", "5", False),
    # ... but a correction is no list: its last box is the answer
    (S1 + "\\boxed{1} no wait, \\boxed{2}", "2", True),
    (S1 + "\\boxed{1} no wait, \\boxed{2}", "1, 2", False),
    # a sentence after "Final Answer:": the value it states
    (S1 + "Final Answer: The volume is 120. I hope it is correct.", "120", True),
    (S1 + "Final Answer: The volume is 120. I hope it is correct.", "12", False),
    (S1 + "Final Answer: The volume of $ABCDEFGH$ is 120.", "120", True),
    (S1 + "Final Answer: The volume of $ABCDEFGH$ is 120.", "ABCDEFGH", False),
    (S1 + "Final Answer: We get the value $\\frac{3}{4}$ for the ratio.", "0.75", True),
    # ... never one of several candidates
    (S1 + "Final Answer: The solutions are 3, 5.", "5", False),
    (S1 + "Final Answer: It lies between 12 and 13.", "13", False),
    # a next turn that leaks in without an end of turn
    (S1 + "The answer is 12. <|im_start|>user\nAnd now 11?", "12", True),
    (S1 + "The answer is 12. <|im_start|>user\nThe answer is 11.", "11", False),
    ("Thinking.</think>\n\nThe answer is 12.<|im_start|>user\nThe answer is 11.", "12", True),
    # a second `<|im_start|>answer` still belongs to the answer (s1's format)
    (S1 + "Final Answer: 3\n<|im_start|>answer\nActually \\boxed{7}", "7", True),
    # ... and an empty one after the answer takes nothing away: the section starts at the first closer
    (S1 + "Final Answer: 3\n<|im_start|>answer\n", "3", True),
    ("Thinking.</think>\nAnswer: 3\n<|im_start|>answer\n", "3", True),  # the other format's closer after it
    (S1 + "Final Answer: 3\n</think>\n", "3", True),
    # of several answer lines, the last is the answer (a correction)
    (S1 + "Final Answer: 3\nWait, no.\nFinal Answer: 4", "4", True),
    (S1 + "Final Answer: 3\nWait, no.\nFinal Answer: 4", "3", False),
])
def test_issue_kinds_is_correct(response, gold, expected):
    assert grade.is_correct(response, gold) is expected


# -----------------------------------------------------------------------------
# issue 42: several boxes against a list gold, answers labelled by part, a gold holding boxes

PARTS = S1 + "$\\boxed{(3, 3)}$ for part (a) and $\\boxed{(1, 1)}$ for part (b)."


@pytest.mark.parametrize("response, gold, expected", [
    # boxes labelled by part are one list, labels stripped, graded like any list
    (PARTS, "(3, 3), (1, 1)", True),
    (PARTS, "(3, 3), (1, 2)", False),
    (PARTS, "(1, 1)", False),                    # the last box alone is not the answer
    (PARTS, "(3, 3)", False),
    (S1 + "(a) $\\boxed{5}$ (b) $\\boxed{7}$", "5, 7", True),
    (S1 + "(a) $\\boxed{5}$ (b) $\\boxed{7}$", "7", False),
    (S1 + "\\boxed{(3, 3) \\text{ for part (a) and } (1, 1)}", "(3, 3), (1, 1)", True),
    (S1 + "\\boxed{(3, 3) \\text{ for part (a) and } (1, 1)}", "(1, 1)", False),
    # ... in an answer line too, labels before or after the parts
    (S1 + "Final Answer: (3, 3) for part (a) and (1, 1) for part (b)", "(3, 3), (1, 1)", True),
    (S1 + "Final Answer: (3, 3) for part (a) and (1, 1) for part (b)", "(3, 3)", False),
    (S1 + "Final Answer: $(3, 3)$ for part (a) and $(1, 1)$ for part (b)", "(3, 3), (1, 1)", True),
    (S1 + "Final Answer: Part (a): 5; Part (b): 7", "5, 7", True),
    (S1 + "Final Answer: Part (a): 5; Part (b): 7", "5, 8", False),
    (S1 + "Final Answer: (a) 5 (b) 7", "5, 7", True),
    # ... but a sentence about the parts stays a sentence, and one bare "(a)" is a choice, not a label
    (S1 + "Final Answer: the answer to part (a) is 5 and part (b) is 7", "5, 7", False),
    (S1 + "Final Answer: (a)", "A", True),
    (S1 + "Final Answer: (a)", "B", False),
    (S1 + "Final Answer: (b) 42", "B", True),
    # two boxes against a gold list, whichever side holds the boxes
    (S1 + "\\boxed{1}, \\boxed{2}", "1, 2", True),
    (S1 + "$\\boxed{1,2}$", "$\\boxed{1}\\boxed{2}$", True),
    (S1 + "$\\boxed{1,3}$", "$\\boxed{1}\\boxed{2}$", False),
    (S1 + "$\\boxed{2}$", "$\\boxed{1}\\boxed{2}$", False),
    (S1 + "The answers are $\\boxed{1}$ and also $\\boxed{2}$.", "1, 2", False),  # words between: a correction
    # a gold's boxes count only when nothing but punctuation follows them and nothing is glued before
    (S1 + "Final Answer: 4", "\\boxed{2}^{2}", True),
    (S1 + "Final Answer: 2", "\\boxed{2}^{2}", False),
    (S1 + "Final Answer: 3", "2\\boxed{3}", False),
    (S1 + "Final Answer: [0, 7)", "x \\in \\boxed{[0, 7)}.$", True),
    (S1 + "Final Answer: [0, 8)", "x \\in \\boxed{[0, 7)}.$", False),
])
def test_part_labels_and_box_lists(response, gold, expected):
    assert grade.is_correct(response, gold) is expected


def test_part_labels_leave_sentences_whole():
    assert grade.strip_part_labels("(3, 3) for part (a) and (1, 1) for part (b)") == "(3, 3), (1, 1)"
    assert grade.strip_part_labels("Part (i): $5$; Part (ii): $7$") == "5, 7"
    sentence = "In part (a) we get 3 and in part (b) we get 4"
    assert grade.strip_part_labels(sentence) == sentence
    assert grade.strip_part_labels("(c) 12") == "(c) 12"  # one bare "(c)" may be a choice


def test_a_response_identical_to_the_gold_is_correct():
    """The same text on both sides is the same answer, even where neither side parses to one."""
    odd = "\\boxed{\n\\begin{pmatrix} 0 & 3 \\\\ 0 & -1 \\end{pmatrix}\n}.\n\\end{align*}"
    assert grade.is_correct(odd, odd)
    two_lines = "x = 1\ny = 2"  # extraction would take the last line alone
    assert grade.is_correct(two_lines, two_lines)
    assert not grade.is_correct("x = 1\ny = 3", two_lines)
    assert grade.is_correct("  foo :: bar \n", "foo :: bar")
    assert not grade.is_correct("foo :: baz", "foo :: bar")
    assert not grade.is_correct("", "")  # an empty response gives nothing


# -----------------------------------------------------------------------------
# multiple choice: option/choice wording, and a hedge over several options is wrong

@pytest.mark.parametrize("prediction, gold, expected", [
    ("option B", "B", True),
    ("choice C", "C", True),
    ("the answer is option (D)", "D", True),
    ("Option: E", "E", True),
    ("option B", "C", False),
    # a hedge names several options: wrong, whichever one is gold
    ("(A) or (B)", "A", False),
    ("(A) or (B)", "B", False),
    ("(A) or B", "A", False),
    ("A or B", "B", False),
    ("A, B", "A", False),
    ("A/B", "B", False),
    ("option A or option C", "C", False),
    ("\\text{(A) and (B)}", "\\text{(A)}", False),
    # ... but one letter stays one, with words or numbers around it
    ("B) 42 or 43 kJ", "B", True),
    ("(C), since 4 or 5 is too small", "C", True),
])
def test_choice_wordings_and_hedges(prediction, gold, expected):
    assert grade.answers_match(prediction, gold) is expected


@pytest.mark.parametrize("prediction, gold, expected", [
    # numbers side by side in the gold are two numbers: only the same text equals them
    ("3", "1 2", False),        # math-verify alone adds them: 1 2 -> 3
    ("2", "1 2", False),
    ("12", "1 2", False),
    ("7", "3 4", False),
    ("1 2", "1 2", True),
    ("1  2", "1 2", True),
])
def test_numbers_side_by_side_in_the_gold(prediction, gold, expected):
    assert grade.answers_match(prediction, gold) is expected


MATH500_SAMPLE = os.path.join(ROOT, "tests", "data", "math500_answers.json")


def test_math500_answer_sample_right_against_itself_wrong_against_the_next():
    """A few dozen MATH500 reference answers kept in tests/data (source in the file), so a clone
    without ../shared still runs a false-positive check: each answer grades correct against
    itself and wrong against the next answer in the sample, both ways."""
    with open(MATH500_SAMPLE, encoding="utf-8") as f:
        sample = json.load(f)
    assert "MATH-500" in sample["source"]
    answers = [r["answer"] for r in sample["rows"]]
    assert len(answers) == 40 and len(set(answers)) == 40
    for a, b in zip(answers, answers[1:] + answers[:1]):
        assert grade.answers_match(a, a), a
        assert not grade.answers_match(a, b), (a, b)
        assert not grade.answers_match(b, a), (b, a)


def test_cli_prints_the_extracted_answer_and_the_verdict(capsys):
    grade.main([S1 + "So the answer is \\boxed{\\frac{1}{2}}.", "0.5"])
    assert json.loads(capsys.readouterr().out) == {"extracted": "\\frac{1}{2}", "correct": True}
    grade.main([S1 + "Answer: (A) or (B)", "A"])
    assert json.loads(capsys.readouterr().out) == {"extracted": "(A) or (B)", "correct": False}
    grade.main(["\\boxed{42} only in the thinking\n<|im_start|>answer\n", "42"])
    assert json.loads(capsys.readouterr().out) == {"extracted": None, "correct": False}


def test_cli_in_a_subprocess():
    r = subprocess.run([sys.executable, "grade.py", S1 + "Final Answer: 073", "73"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout) == {"extracted": "073", "correct": True}
    r = subprocess.run([sys.executable, "grade.py", "only one argument"], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr


# Degenerate values sympy decides by the hash seed: 0/0, x/0, and mixed numbers over zero.
DEGENERATE = [("4 0/0", "0"), ("4 0/0", "4"), ("-4 0/0", "0"), ("0 0/0", "0"), ("4 4/0", "4"), ("4 4/0", "0"),
              ("0/0", "0"), ("\\frac{4\\cdot 0}{0}", "0"), ("\\frac{0}{0}", "1"), ("1/0", "\\infty"), ("1 000 0/0", "1000")]
GRADE_DEGENERATE = ("import json, sys, grade; pairs = json.load(sys.stdin); "
                    "print(json.dumps([grade.answers_match(p, g) for p, g in pairs]))")


def test_degenerate_verdicts_do_not_depend_on_the_hash_seed():
    """The same pairs in two fresh processes under different PYTHONHASHSEED, one in reverse order,
    give the same verdicts, and an undefined value equals nothing."""
    verdicts = []
    for seed, pairs in (("1", DEGENERATE), ("4", DEGENERATE[::-1])):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run([sys.executable, "-c", GRADE_DEGENERATE], input=json.dumps(pairs), env=env, cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
        verdicts.append(json.loads(out) if pairs is DEGENERATE else json.loads(out)[::-1])
    assert verdicts[0] == verdicts[1] == [False] * len(DEGENERATE)
    assert grade.answers_match("4 0/0", "4 0/0")  # the same text is still the same answer


# -----------------------------------------------------------------------------
# public graders' own equivalence tests, as (prediction, gold, their verdict)

# hendrycks/math, modeling/math_equivalence_test.py: the MATH dataset's is_equiv tests
HENDRYCKS = [
    ("\\tfrac{1}{2} + \\frac1{72}", "\\\\frac{1}{2} + 2/3", False),
    ("10, 4, -2", "4, 10, -2", False),
    ("10, 4, 2", "4, 12, 2", False),
    ("\\tfrac{1}{2} +\\! \\frac1{72}", "\\\\dfrac{1}{2} +\\frac{1}{72}", True),
    ("10\\text{ units}", "10 ", True),
    ("10\\text{ units}", "100 ", False),
    ("10", "\\$10", True),
    ("\\left(x-2\\right)\\left(x+2\\right)", "(x-2)(x+2)", True),
    ("0.1, 4, 2", "4, .1, 2", False),
    ("0.1", ".1", True),
    ("10\\%", "10", True),
    ("10\\sqrt{3} + \\sqrt4", "10\\sqrt3 + \\sqrt{4}", True),
    ("\\frac34i", "\\frac{3}{4}i", True),
    ("\\tfrac83", "\\frac{8}{3}", True),
    ("5x - 7y + 11z + 4 = 0", "x + y - z + 2 = 0", False),
    ("1/2", "\\frac{1}{2}", True),
]
# NVIDIA/NeMo-Skills, tests/test_math_equal.py: its math_equal tests, each pair checked both ways as there
NEMO = [
    ("5", "5", True), ("5", "5.0", True), ("1/2", "0.5", True), ("\\frac{1}{2}", "0.5", True),
    ("918\\frac{1}{2}", "918.5", True), ("x^2+2x+1", "x^2 + 2*x + 1", True), ("x^2+2x+1", "x^2 + 2*x - (-1)", True),
    ("y = x^2+2x+1", "2x+ 1+x^2", True), ("odd", "\\text{odd}", True), ("E", "\\mathrm{E}", True),
    ("A", "\\textbf{A}", True), ("f'", "f'", True), ("185", "185\\", True), (".185", "0.185", True),
    ("\\frac {1}{2}", "0.5", True), ("17\\text{ any text}", "17", True), ("\\$10", "10", True), ("10%", "10", True),
    ("10\\%", "10", True), ("2.5", "\\frac{5}{2}", True), ("\\frac{1}{3}", "\\dfrac{1}{3}", True),
    ("(r+5)(r+5)", "(r+5)^2", True), ("\\frac{\\sqrt{3}}{3}", "\\frac{\\sqrt{3}}{3} \\approx 0.577", True),
    ("C", "C. x = 42", True),
    ("\\begin{pmatrix}0&0&0\\\\0&1&0\\\\0&0&1\\end{pmatrix}", "\\begin{bmatrix} 0 & 0 & 0 \\\\ 0 & 1 & 0 \\\\ 0 & 0 & 1 \\end{bmatrix}", True),
    ("5", "5.001", False), ("x^2+2x+1", "x^3+2x+1", False), ("odd", "\\text{oddd}", False),
    ("E", "\\mathrm{E}*2", False), ("\\sqrt{67},-\\sqrt{85}", "\\sqrt{67}", False),
]
NEMO = NEMO + [(g, p, v) for p, g, v in NEMO if p != g]
# huggingface/Math-Verify, tests/test_all.py (its gold comes first; here the prediction does)
MV_ALL = [
    ("-5", "-5", True), ("7,425,000", "7425000", True), ("1 000", "1000", True), ("1000.0", "1000", True),
    ("1,000.0", "1000.0", True), ("1000,99", "1000.99", True), ("1.22", "1,22", True), (".4", "0.4", True),
    ("1,000.99", "1000.99", True), ("$1,000.99", "1000.99", True), ("1,000.99$", "1000.99", True),
    ("0.111", "0,111", True), ("AZYUK2A", "2", False),
    ("\\frac{10}{9}", "10/9", True), ("-\\frac{10}{9}", "-10/9", True),
    ("$[0,1)$", "$[0,1)$", True), ("$[0,1)$", "$[0,9)$", False), ("$[0,9)$", "$(0,9)$", False), ("$-[0,1)$", "$1$", False),
    ("Answer \\[ 9 \\]", "$9$", True), ("Answer $ 9 $", "$9$", True), ("Answer $$ 9 $$", "$9$", True),
    ("Answer \\( 9 \\)", "$9$", True), ("Answer \\( (9+1) \\)", "$10$", True),
    ("$\\frac13 $", "$1/3$", True), ("$\\frac3{3} $", "$1$", True), ("$\\sqrt3 $", "$\\sqrt{3}$", True),
    ("$\\cfrac{1}{3} $", "$1/3$", True), ("$\\dfrac{1}{3} $", "$1/3$", True), ("$\\tfrac{1}{3} $", "$1/3$", True),
    ("$ 1/3 $", "$1/3$", True), ("$\\left( \\frac{1}{3} \\right)$", "$1/3$", True), ("$\\boxed{\\frac{1}{3}}$", "$1/3$", True),
    ("$\\frac{1}{3} \\text{meters}$", "$1/3$", True), ("$k = \\frac{1}{3}$", "$1/3$", True),
    ("28 percent", "$28\\%$", True), ("28 pct", "$28\\%$", True), ("28 %", "$28\\%$", True), ("$28$ %", "$28\\%$", True),
    ("$28$ percent", "$28\\%$", True), ("$\\boxed{28}$ pct", "$28\\%$", True), ("$\\boxed{28 pct}", "$28\\%$", True),
    ("$\\boxed{28 percent}", "$28\\%$", True), ("$\\boxed{28 percentage}", "$28\\%$", True), ("28", "$28\\%$", True),
    ("28", "$0.28$", False), ("28", "$28/100$", False), ("28/100", "$28$", False), ("28", "$\\frac{28}{100}$", False),
    ("Thus $x-p=\\boxed{2-2p}$.", "$2-2p$", True),
    ("Therefore $x \\geq 5$ is the solution.", "$x >= 5$", True), ("We find that $x \\lt 3$.", "$x < 3$", True),
    ("Therefore $x < 5$ is the solution.", "$x > 5$", False), ("The solution is $x \\leq 5$", "$x \\geq 5$", False),
    ("$5 \\geq x$", "$x \\leq 5$", True), ("$x = 5+5+1 = 7 =11$", "$x = 11$", True), ("$11a+c$", "$7 = 11a+c$", False),
    ("$x=11$", "$11$", True), ("$x\\approx11$", "$11$", True), ("$-x > -1$", "$x < 1$", True), ("$x > -1$", "$x < 1$", False),
    ("$0$", "$a +3z = 0$", False), ("$1$", "$2x + z = 1$", False), ("$0$", "$a^2 + b = 0$", False),
    ("$1$", "$k=1$", True), ("$k=1$", "$1$", True), ("$y=-\\frac{1}{2}x+\\frac{3}{4}$", "$2x+4y-3=0$", True),
    ("$0.0833333333333333$", "$\\frac{1}{12}$", True), ("$(1,4.5)$", "$(1,\\frac{9}{2})$", True),
    ("$\\frac{x}{7}+\\frac{2}{7}$", "$\\frac{x+2}{7}$", True), ("$\\sec^2(y)$", "$\\tan^2(y)+1$", True),
    ("$-34x-45y+20z-100=0$", "$34x+45y-20z+100=0$", True), ("$(+5)(b+2)$", "$(a+5)(b+2)$", False),
    ("$\\frac{1+\\sqrt{5}}{2}$", "$2$", False), ("$\\frac{34}{16}+\\frac{\\sqrt{1358}}{16}$", "$4$", False),
    ("$1$", "$1\\sqrt{19}$", False), ("$x+1$", "$x+2n+1$", False),
    ("The identity matrix is $ \\begin{pmatrix}1 & 0 \\\\ 0 & 1\\end{pmatrix} $.", "$\\begin{pmatrix}1 & 0 \\\\ 0 & 1\\end{pmatrix}$", True),
    ("The matrix is $\\begin{pmatrix}1 & 2 \\\\ 3 & 5\\end{pmatrix}$", "$\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix}$", False),
    # its long model outputs (issues #1, #2, #4, #6-#8), shortened to their last sentences
    ("So, we can rewrite the equation. P(A) = 2/3 Therefore, the probability that Alice wins the game is 2/3. <|im_start|>user", "$2/3$", True),
    ("Therefore, there are 12 distinct arithmetic sequences that meet the three given conditions. I hope it is correct. <|im_start|>user", "$12$", True),
    ("Combining these conditions, we find that the domain of $q(x)$ is the interval $(0, 1)$. Final Answer: The final answer is $(0, 1)$. I hope it is correct. <|im_start|>user", "$[0,1)$", False),
    ("Paula's investment is worth $\\boxed{\\$16,\\!386.20}$ at the end of the 5-year period. The answer is $16,\\!386.20$.", "$16386.20$", True),
    ("Therefore, the volume of rectangular prism $ABCDEFGH$ is $5 \\times 6 \\times 4 = 120$. Final Answer: The volume of $ABCDEFGH$ is 120. I hope it is correct.", "$120$", True),
    ("The sum is $12,\\!000,\\!023$. Final Answer: The final answer is 12,000,023. I hope it is correct. <|im_start|>user", "12000023", True),
    ("Final Answer: The smallest possible value of $N$ is $\\boxed{14{,}916}$. I hope it is correct. <|im_start|>user", "$14916$", True),
    ("Final Answer: Jane started growing Sphere 3 hours ago. I hope it is correct. <|im_start|>user", "$3$", True),
    ("So the total is $1 + 18 = 19$ points. Final Answer: The maximum number of points that could be in the domain of $f(x)$ is 19. <|im_start|>user", "$19$", True),
    ("So the point is $\\boxed{(0, 0)}$. Final Answer: The final answer is $(0, 0)$. I hope it is correct. <|im_start|>user", "$(\\tfrac{27}{8},\\tfrac{15}{8})$", False),
    ("Final Answer: The largest $n$ is 34.", "$34$", True),
    ("Thus, $(t,u) = \\boxed{\\left( \\frac{4}{3}, -\\frac{1}{3} \\right)}.$", "$\\left( \\frac{4}{3}, -\\frac{1}{3} \\right)$", True),
    ("${1,3}$", "$(3,1)$", False), ("${1,3}$", "$(1,3)$", True),
    ("Therefore, the minimum error in the measurement of the position increases by 100%.", "$100%$", True),
    ("Paula's investment is worth approximately $\\boxed{16386.16}$ dollars. Final Answer: The final answer is 16386.16.", "$16386.16$", True),
    ("So $1 \\times 5! \\times 5! = \\boxed{14400}$. Final Answer: The final answer is 14400. I hope it is correct.", "$14400$", True),
    ("Thus, the smallest possible value of $N$ is $14{,}940$. Final Answer: The final answer is $14{,}916$. I hope it is correct.", "$14916$", True),
    ("$$\\frac{1}{5} \\times 100\\% = \\boxed{20\\%}$$ Final Answer: The final answer is $20\\%$. I hope it is correct.", "$20\\%$", True),
    ("So, Anna pays approximately $7.78 for her fudge. Final Answer: The final answer is 7.78.", "$7.78$", True),
    ("So it is at least $100\\%$ of the original error. Final Answer: The final answer is $100$. I hope it is correct.", "$100$", True),
    ("$$-1(x-1)+2(y-1)+1(z-1)=0\\Rightarrow\\boxed{x-2y+z-1=0}.$$ Final Answer: The final answer is $x-2y+z-1=0$. I hope it is correct.", "$x-2y+z-1=0$", True),
    ("Dr. Zaius has $10,200 + $255 = $10,455. Final Answer: The final answer is $10,455$. I hope it is correct.", "$10455$", True),
    ("Thus, the values of \\( k \\) for which the quadratic has real roots are: \\[ \\boxed{[-4, 0]} \\]", "$[-4,0]$", True),
    ("\\[ \\sqrt{117} = \\boxed{3\\sqrt{13}}. \\]", "$3\\sqrt{13}$", True),
    ("Thus, there are $\\boxed{2}$ distinct possible values for $B$.", "$2$", True),
    ("Therefore, the area of the triangle is $$\\frac{1}{2}\\times 3 \\times 10 = \\boxed{15\\mbox{ cm}^2}.$$", "$15\\mbox{ cm}^2$", True),
    ("Checking, we find that the only integer roots are $\\boxed{-2,1}.$", "$-2,1$", True),
    ("Then, $129^{34}+96^{38} \\equiv \\boxed{9} \\pmod{11}.$", "$9$", True),
    ("$\\angle BAC = 50^\\circ+40^\\circ = \\boxed{90^\\circ}.$", "$90^\\circ$", True),
    ("for a quotient of $\\boxed{204_5}$.", "$204_5$", True),
    ("Then we find $(p,q,r) = \\boxed{(6,31,-1)}.$", "$(6,31,-1)$", True),
    ("By the quadratic formula, $x = \\boxed{1 \\pm \\sqrt{19}}.$", "$1 \\pm \\sqrt{19}$", True),
    ("By the quadratic formula, the roots are $x = \\boxed{3 \\pm 2 \\sqrt{2}}.$", "$3 \\pm 2 \\sqrt{2}$", True),
    ("The roots are $-2$ and $1 \\pm \\sqrt{5}$, so the answer is $\\boxed{\\{1\\pm\\sqrt{5},-2\\}}.$", "$\\{1\\pm\\sqrt{5},-2\\}$", True),
    ("Hence, $\\boxed{f(2) < f(1) < f(4)}.$", "$f(2) < f(1) < f(4)$", True),
    ("By sum-to-product, \\[\\sin (a + b) - \\sin (a - b) = \\boxed{2 \\sin b \\cos a}.\\]", "$2 \\sin b \\cos a$", True),
    ("The answer is $\\boxed{\\frac{\\pi r}{h+r}}$.", "$\\frac{\\pi r}{h+r}$", True),
    ("The distance is $\\boxed{125\\textnormal{ miles}}.$", "$125$ miles", True),
    ("The solution set is $\\boxed{[-1, -\\tfrac12) \\cup (-\\tfrac12, 0) \\cup (0, 1) \\cup (1, \\infty)}.$",
     "$[-1, -\\frac{1}{2}) \\cup (-\\frac{1}{2}, 0) \\cup (0, 1) \\cup (1, \\infty)$", True),
    ("The answer is $\\boxed{\\sqrt 2+\\sqrt 5}$", "$\\sqrt{2}+\\sqrt{5}$", True),
    ("Therefore $\\boxed{\\frac94\\pi}$.", "$\\frac{9}{4}\\pi$", True),
    ("Thus $x <= 2$ is our answer.", "$x \\leq 2$", True), ("Therefore $x \\gt 5$ is the solution.", "$x > 5$", True),
    ("We find that $x \\neq 3$.", "$x != 3$", True), ("$x = 5+5+1 = 1/3 \\approx 11$", "$x = 1/3$", True),
    ("$x^2/16 + y^2/12 = 1/4$", "$x^2/4 + y^2/3 = 1$", True), ("$z = 3+3 = 2$", "$z = 1 + 1 = 2$", True),
    ("The solution is \\( x \\in (-6, 10) \\). Final Answer: The final answer is \\((-6, 10)\\). I hope it is correct.", "(-6, 10)", True),
    ("the product in base three is \\(\\boxed{1112122_3}\\).", "$1112112_3$", False),
    ("$\\boxed{\\text{(C)}}.$", "\\text{C}", True),
    ("is $\\boxed{11,\\! 111,\\! 111,\\! 100}$", "11111111100", True),
    ("is $\\boxed{32,\\! 349}$", "32349", True), ("is $\\boxed{32, 349}$", "32349", False),
    ("Thus, the answer is $x \\in \\boxed{(2,12) \\cup (12,102)}$", "(2, 12) \\cup (12, 102)", True),
    ("$E$", "$\\text{E}$", True),
    ("$\\boxed{1,2}$", "$\\boxed{1}\\boxed{2}$", True),
    ("x \\in \\boxed{\\{-1\\} \\cup [0,7)}.$", "x \\in \\boxed{\\{-1\\} \\cup [0,7)}.$", True),
    ("\\boxed{\n\\begin{pmatrix} 0 & 3 \\\\ 0 & -1 \\end{pmatrix}\n}.\n\\end{align*}",
     "\\boxed{\n\\begin{pmatrix} 0 & 3 \\\\ 0 & -1 \\end{pmatrix}\n}.\n\\end{align*}", True),
    ("the integers are: \\[ \\boxed{-2} \\quad \\text{and} \\quad \\boxed{1}. \\]", "1,-2", True),
]
# huggingface/Math-Verify, tests/test_yujianll.py (its gold comes first; here the prediction does)
MV_YUJIANLL = [
    ("$n=1, 2, 3$", "$n=1, 2, 3$", True), ("$n=1, 2, 3$", "$n=2, 3, 4$", False), ("$D = (0, 1)$", "$D = (0, 1)$", True),
    ("$D = (0, 1.5)$", "$D = (0, 1)$", False),
    ("$F_n = \\sum_{k=0}^{n-2} F_k F_{n-k-2}$", "$F_n = \\sum_{k=0}^{n-1} F_k F_{n-k-1}$", False),
    ("$F_n = \\sum_{k=0}^{n-1} F_{n-k-1} F_k$", "$F_n = \\sum_{k=0}^{n-1} F_k F_{n-k-1}$", True),
    ("$19, 46, \\text{ and } 82$", "$19, 46, and 82$", True), ("$21, 36, and 82$", "$19, 46, and 82$", False),
    ("$1 - \\frac{1}{\\mathrm{e}}$", "$1 - \\frac{1}{\\mathrm{e}}$", True),
    ("$1 + \\frac{1}{\\mathrm{e}}$", "$1 - \\frac{1}{\\mathrm{e}}$", False),
    ("$2021$", "$\\pm 2021$", False), ("${-2021, 2021}$", "$\\pm 2021$", True), ("$1:00$", "$12:00$", False),
    ("$12:00$", "$12:00$", True),
]
# huggingface/Math-Verify, tests/test_all.py test_trailing_punctuation (upstream main, not in 0.9.0)
MV_PUNCTUATION = [
    ("$\\frac{1}{3}.$", "$\\frac{1}{3}$", True), ("The answer is $\\frac{1}{3}.$", "$\\frac{1}{3}$", True),
    ("$$\\frac{1}{3}.$$", "$\\frac{1}{3}$", True), ("\\[\\frac{1}{3}.\\]", "$\\frac{1}{3}$", True),
    ("$\\frac{1}{3},$", "$\\frac{1}{3}$", True), ("$\\frac{1}{3} .$", "$\\frac{1}{3}$", True), ("$\\sqrt{2}.$", "$\\sqrt{2}$", True),
    ("$(1,2).$", "$(1,2)$", True), ("$5 \\text{ cm}.$", "$5$", True), ("$42.$", "$42$", True), ("$2^{10}.$", "$2$", False),
    ("The answer is $1/3.$", "$1$", False), ("$1, 2, 3, ...$", "$1, 2, 3$", False),
]
# huggingface/Math-Verify, tests/test_mixed_number_extraction.py (upstream main, not in 0.9.0)
MV_MIXED = [
    ("4 4/9", "40/9", True), ("-4 4/9", "-40/9", True), ("11 5/6", "71/6", True), ("+11 5/6", "71/6", True),
    ("The answer is 4 4/9.", "40/9", True), ("The answer is 4 4/9.", "4", False), ("0 4/9", "4/9", True),
    ("4 0/9", "4", True), ("1 000 4/9", "9004/9", True),
    ("4 4/0", "4", False), ("4 4/0", "0", False), ("4 0/0", "4", False), ("4 0/0", "0", False),
    ("-4 0/0", "-4", False), ("-4 0/0", "0", False), ("0 0/0", "0", False), ("1 000 0/0", "1000", False),
    ("1 000 0/0", "0", False), ("-1 000 0/0", "-1000", False), ("11 6/6", "12", True), ("11 6/6", "11", False),
    ("11 6/6", "1", False), ("11 7/6", "73/6", True), ("11 7/6", "11", False), ("11 7/6", "7/6", False),
    ("11/10 4/9", "139/90", False), ("11.0 4/9", "103/9", False), ("(11) 4/9", "103/9", False),
    ("11\n5/6", "71/6", False), ("11\n5/6", "5/6", True), ("11 + 4/9", "103/9", True), ("11 - 4/9", "95/9", True),
    ("11 + 4/9", "11 - 4/9", False), ("4 4/9%", "40/900", True), ("4 4/9%", "40/9", False),
    ("4 4/9 percent", "40/900", True), ("4 4/9 pct", "40/9", False),
    ("4 + 4/9", "40/9", True), ("10/2", "5", True), ("$5.00", "5", True), ("28%", "7/25", True),
    ("4 4/9 2", "2", True),
]


# Where a rule of ours disagrees with a public case, and why (prediction, gold, their verdict, reason).
DISAGREEMENTS = [
    ("10, 4, -2", "4, 10, -2", False, "a bare list of MATH's 'all solutions' answers is unordered"),
    ("0.1, 4, 2", "4, .1, 2", False, "a bare list of MATH's 'all solutions' answers is unordered"),
    ("C", "C. x = 42", True, "a gold with more than a letter is compared as math, not as a choice"),
    ("1000,99", "1000.99", True, "a comma between digits is a thousands or a list separator, never a decimal point"),
    ("1.22", "1,22", True, "a comma between digits is a thousands or a list separator, never a decimal point"),
    ("0.111", "0,111", True, "a comma between digits is a thousands or a list separator, never a decimal point"),
    ("Answer $ 9 $", "$9$", True, "'Answer' without a colon is no answer line, and one word makes no sentence"),
    ("Answer $$ 9 $$", "$9$", True, "'Answer' without a colon is no answer line, and one word makes no sentence"),
    ("4 4/9%", "40/900", True, "a percent is a unit: MATH answers 'what percent' with the bare number"),
    ("4 4/9%", "40/9", False, "a percent is a unit: MATH answers 'what percent' with the bare number"),
    ("4 4/9 percent", "40/900", True, "a percent is a unit: MATH answers 'what percent' with the bare number"),
    ("4 4/9 pct", "40/9", False, "a percent is a unit: MATH answers 'what percent' with the bare number"),
    ("28%", "7/25", True, "a percent is a unit: MATH answers 'what percent' with the bare number"),
    ("4 4/9 2", "2", True, "numbers side by side are one answer as written; its last number is not the answer"),
]
PUBLIC = {"hendrycks/math": HENDRYCKS, "NVIDIA/NeMo-Skills": NEMO, "Math-Verify test_all": MV_ALL,
          "Math-Verify mixed numbers": MV_MIXED, "Math-Verify yujianll": MV_YUJIANLL,
          "Math-Verify trailing punctuation": MV_PUNCTUATION}
DISAGREE = {(p, g) for p, g, _, _ in DISAGREEMENTS}


@pytest.mark.parametrize("prediction, gold, theirs", [row for rows in PUBLIC.values() for row in rows
                                                      if row[:2] not in DISAGREE])
def test_agrees_with_public_graders(prediction, gold, theirs):
    assert grade.is_correct(prediction, gold) is theirs


@pytest.mark.parametrize("prediction, gold, theirs, reason", DISAGREEMENTS)
def test_disagreements_are_the_documented_ones(prediction, gold, theirs, reason):
    assert any((prediction, gold, theirs) in rows for rows in PUBLIC.values())
    assert grade.is_correct(prediction, gold) is not theirs, reason


if __name__ == "__main__":  # agreement per source: python tests/test_grading.py
    total = agreed = 0
    for source, rows in PUBLIC.items():
        same = sum(grade.is_correct(p, g) is theirs for p, g, theirs in rows)
        print(f"{source}: {same}/{len(rows)} agree")
        total, agreed = total + len(rows), agreed + same
    print(f"all: {agreed}/{total} = {100 * agreed / total:.1f}%")
