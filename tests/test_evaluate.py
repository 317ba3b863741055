"""Tests for evaluate.py: answer extraction and matching, datasets, the paper's metrics, the sweep
(batched == unbatched, resume after kill -9, data-parallel) and the CLI's handling of bad input."""
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

import evaluate
import grade

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
S1 = "Let me compute 6*7 = 42.\n<|im_start|>answer\n"  # what budget_force's s1 text looks like
R1 = "Let me compute 6*7 = 42.\n</think>\n\n"


# -----------------------------------------------------------------------------
# extraction

@pytest.mark.parametrize("response, expected", [
    # s1 format: natural stop, forced stop ("Final Answer:" appended), boxed, end-of-turn
    (S1 + "Answer: 42<|im_end|>", "42"),
    (S1 + "Final Answer: The final answer is $\\boxed{42}$. I hope it is correct.<|im_end|>", "42"),
    ("Hmm\n<|im_start|>answer\nFinal Answer: 42<|im_end|>", "42"),
    (S1 + "So $x = \\boxed{\\frac{1}{2}}$.<|im_end|>", "\\frac{1}{2}"),
    (S1 + "**Final Answer**: **73**<|im_end|>", "73"),
    (S1 + "Final Answer:\n\n$$\\dfrac{3}{4}$$", "\\dfrac{3}{4}"),
    # R1 format
    (R1 + "**Final Answer**\n\\[\n\\boxed{(3, \\frac{\\pi}{2})}\n\\]", "(3, \\frac{\\pi}{2})"),
    (R1 + "The answer is 42.", "42"),
    # plain responses (no thinking at all): the whole text is the answer section
    ("We get \\boxed{5}. Checking: 5 works.", "5"),
    ("Adding up gives 12.\n\nThe answer is 12.", "12"),
    ("Answer: (B)", "(B)"),
    # nested braces, \fbox, the last box wins, an "Answer:" line after the box wins
    (S1 + "\\boxed{1} no wait \\boxed{\\left\\{ \\frac{1}{2} \\right\\}}", "\\left\\{ \\frac{1}{2} \\right\\}"),
    (S1 + "\\fbox{7}", "7"),
    (S1 + "I think \\boxed{3}.\nFinal Answer: 5", "5"),
    (S1 + "Answer:\n\\boxed{10}", "10"),
])
def test_extract_answer_formats(response, expected):
    assert grade.extract_answer(response) == expected


@pytest.mark.parametrize("response", [
    "Wait, the answer is \\boxed{42}.\n<|im_start|>answer\nFinal Answer:<|im_end|>",  # boxed only in the thinking
    "Answer: 42 so far\n</think>\n\n",  # R1: an "Answer:" line in the thinking, nothing after it
    "<|im_start|>think\nthe answer is \\boxed{42}",  # thinking never closed: no answer section
    "<think>\nAnswer: 42",
    S1 + "",  # nothing after the delimiter
    S1 + "<|im_end|>Answer: 42",  # text after end of turn is not the answer
])
def test_answer_only_in_thinking_does_not_count(response):
    assert grade.extract_answer(response) is None
    assert not grade.is_correct(response, "42")


def test_traps_in_the_answer_section():
    # A cut-off box is no answer; an earlier complete one is.
    assert grade.extract_answer(S1 + "\\boxed{4} or maybe \\boxed{\\frac{1}{") == "4"
    # "check our answer: ..." is not an answer line.
    assert grade.extract_answer(S1 + "\\boxed{44}\nWe may check our answer: 17*44 = 748.") == "44"
    # The delimiter closes thinking once: a second one in the answer belongs to the answer.
    assert grade.is_correct(S1 + "Final Answer: 3\n<|im_start|>answer\nActually \\boxed{7}", "7")


# -----------------------------------------------------------------------------
# matching

@pytest.mark.parametrize("prediction, gold, expected", [
    ("42", "42", True),
    ("043", "43", True),            # AIME writes 000-999
    ("073", "73", True),
    ("1{,}000", "1000", True),       # LaTeX thousands separator
    ("10080", "10,\\!080", True),
    ("32,348", "\\$32,\\!348", True),
    ("0.5", "\\frac{1}{2}", True),
    ("\\dfrac12", "\\frac{1}{2}", True),
    ("\\frac{\\sqrt{3}}{3}", "\\frac{1}{\\sqrt{3}}", True),
    ("(3, \\frac{\\pi}{2})", "\\left( 3, \\frac{\\pi}{2} \\right)", True),
    ("[-2, 7]", "x \\in [-2,7]", True),
    ("\\text{Evelyn}", "\\text{Evelyn}", True),
    ("Evelyn", "\\text{Evelyn}", True),
    ("EAST", "\\text{east}", True),
    ("teas", "\\text{east}", False),  # math-verify alone reads both as products of symbols: e*a*s*t
    ("west", "\\text{east}", False),
    ("5.4", "5.4 \\text{ cents}", True),
    ("41", "42", False),
    ("-42", "42", False),
    ("1,000", "1", False),
    ("(1, 2)", "(2, 1)", False),
    ("\\frac{1}{3}", "0.33", False),
    (None, "42", False),
    # math-verify traps (PITFALLS.md): a subset of a multi-answer, +-, tiny values, another variable
    ("3, 5", "3, 5, 7", False),
    ("-2, 1", "1,-2", True),
    ("\\pm 2", "2", False),
    ("1e-9", "0", False),
    ("y = 2x + 3", "x = 2x + 3", False),
    ("(0,9)", "(0,9) \\cup (9,36)", False),
    # multiple choice (math-verify has no letters)
    ("B", "B", True),
    ("(B)", "B", True),
    ("B) 42 kJ", "B", True),
    ("\\text{(C)}", "\\text{(C)}", True),
    ("C", "\\text{(C)}", True),
    ("The correct option is (D)", "D", True),
    ("A", "B", False),
    ("A total of 4", "A", False),  # the article "A" is no choice
    ("\\text{(B)}", "\\text{(E)}", False),
])
def test_answers_match(prediction, gold, expected):
    assert grade.answers_match(prediction, gold) is expected


MATRIX_GOLD = "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}"  # MATH writes row breaks with spaces


def test_row_breaks_survive_normalization():
    """`\\\\ ` is a row break followed by a space, not a backslash plus the spacing command `\\ `
    (issue 11: the second backslash was eaten, leaving `1 \\2`)."""
    assert grade.is_correct(S1 + "Final Answer: $\\begin{pmatrix}1\\\\2\\end{pmatrix}$<|im_end|>", MATRIX_GOLD)
    assert grade.normalize(MATRIX_GOLD) == MATRIX_GOLD
    assert not grade.answers_match("\\begin{pmatrix}1\\\\3\\end{pmatrix}", MATRIX_GOLD)
    two_by_two = "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}"
    assert grade.answers_match("\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", two_by_two)
    assert not grade.answers_match("\\begin{pmatrix}1&2\\\\4&3\\end{pmatrix}", two_by_two)
    # A row break followed by a spacing command: the break stays, the spacing goes.
    assert grade.normalize("1 \\\\\\, 2") == "1 \\\\ 2"


@pytest.mark.parametrize("prediction, gold", [
    ("A \\leftarrow B", "A \\rightarrow B"),  # \left / \right are dropped only as whole commands
    ("1 2", "12"),                            # a space between digits separates two numbers
    ("2**3", "23"),                           # ** is emphasis only around a whole answer, not a power
    ("\\boxed{2}^{2}", "2"),                  # a box is peeled only when it is the whole answer
])
def test_normalization_keeps_the_meaning(prediction, gold):
    assert not grade.answers_match(prediction, gold)


@pytest.mark.parametrize("answer, normalized", [
    ("\\pi\\,r^2", "\\pi r^2"),          # a spacing command after a control word leaves a space: not \pir
    ("\\sin\\;x", "\\sin x"),
    ("1\\,000\\,000", "1000000"),         # between digits it is a thousands separator
    ("10,\\!080", "10080"),
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "( 3, \\frac{\\pi}{2} )"),
    ("x \\rightarrow \\infty", "x \\rightarrow \\infty"),
    ("\\dfrac{1}{2}", "\\frac{1}{2}"),
    ("**73**", "73"),
    ("1, 2, 3, \\ldots", "1, 2, 3, \\ldots"),
    ("1, 2, 3, ...", "1, 2, 3, ..."),     # an ellipsis is not a full stop
    ("$1$ or $2$", "$1$ or $2$"),         # not one wrapped answer: no $ is peeled
])
def test_normalize_rewrites(answer, normalized):
    assert grade.normalize(answer) == normalized


@pytest.mark.parametrize("prediction, gold, expected", [
    # MATH writes units as `\text{ unit}` / `\mbox{ unit}` after the number; the LLM judge the
    # paper used accepts the number alone or the unit in other words (issue 11)
    ("864", "864 \\mbox{ inches}^2", True),
    ("864 square inches", "864 \\mbox{ inches}^2", True),
    ("864 \\text{ in}^2", "864 \\mbox{ inches}^2", True),
    ("15", "15\\mbox{ cm}^2", True),
    ("15 \\text{cm}^2", "15\\mbox{ cm}^2", True),
    ("5.4", "5.4 \\text{ cents}", True),
    ("\\frac{270}{7}", "\\frac{270}7\\text{ degrees}", True),
    ("90°", "90^\\circ", True),
    ("90 degrees", "90^\\circ", True),
    ("36 dollars", "\\$36", True),
    ("7 \\text{ ways}", "7", True),
    # ... without turning a wrong number right
    ("865", "864 \\mbox{ inches}^2", False),
    ("8640", "864 \\mbox{ inches}^2", False),
    ("5", "5.4 \\text{ cents}", False),
    ("91°", "90^\\circ", False),
    ("2\\pi", "2", False),                 # pi is no unit
    ("3i", "3", False),
    ("5 \\text{ or more}", "5", False),    # a phrase about the number is no unit
    ("2 \\text{ and } 3", "2", False),
    ("\\text{east}", "\\text{ east}", True),
])
def test_units_are_not_part_of_the_answer(prediction, gold, expected):
    assert grade.answers_match(prediction, gold) is expected


def test_math500_golds_with_units_accept_the_bare_number(shared_data):
    """Every MATH500 gold written with a unit (\\text{ }, \\mbox{ }, ^\\circ, \\$) grades its bare
    number correct and the next number wrong."""
    with open(os.path.join(shared_data, "math500.jsonl")) as f:
        golds = [json.loads(line)["answer"] for line in f]
    bare = {"864 \\mbox{ inches}^2": "864", "15\\mbox{ cm}^2": "15", "5.4 \\text{ cents}": "5.4",
            "\\frac{270}7\\text{ degrees}": "270/7", "\\$32,\\!348": "32348", "\\$18.90": "18.9", "\\$36": "36"}
    bare.update({g: g.split("^")[0] for g in golds if g.endswith("^\\circ")})
    assert set(bare) <= set(golds) and len(bare) == 17  # 7 above, 10 distinct angles
    for gold, number in bare.items():
        assert grade.answers_match(number, gold), (number, gold)
        assert not grade.answers_match(number + "1", gold), (number + "1", gold)


def test_is_correct_end_to_end_formats():
    assert grade.is_correct(S1 + "Final Answer: **73**<|im_end|>", "073")
    assert grade.is_correct(R1 + "So the answer is $\\boxed{1{,}000}$.", "1000")
    assert grade.is_correct("Answer: B", "B")
    assert not grade.is_correct("Answer: C", "B")
    assert not grade.is_correct("Let me think... \\boxed{42}\n<|im_start|>answer\nAnswer: 41", "42")


def test_matching_works_in_worker_threads():
    """math-verify's timeout is signal.alarm, which raises outside the main thread (math-verify#50)."""
    results = []
    thread = threading.Thread(target=lambda: results.append(grade.is_correct(S1 + "\\boxed{\\frac{2}{4}}", "0.5")))
    thread.start()
    thread.join()
    assert results == [True]


def test_majority_vote_groups_equivalent_answers():
    assert grade.majority_vote(["1/2", "3", "\\frac{1}{2}", None, "0.5", "3"]) == "1/2"
    assert grade.majority_vote(["7", "8"]) == "7"  # tie: first seen
    assert grade.majority_vote([None, None]) is None


def other_answer_index(answers, i):
    """The next problem (cyclically) whose reference answer is written differently."""
    j = (i + 1) % len(answers)
    while answers[j].strip() == answers[i].strip():
        j = (j + 1) % len(answers)
    return j


def test_math500_reference_solutions(shared_data):
    """Each MATH500 reference solution must grade correct against its own answer and wrong
    against another problem's (different) answer."""
    with open(os.path.join(shared_data, "math500.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    answers = [r["answer"] for r in rows]
    own = [grade.is_correct(r["solution"], r["answer"]) for r in rows]
    other = [grade.is_correct(r["solution"], answers[other_answer_index(answers, i)]) for i, r in enumerate(rows)]
    own_rate, other_rate = sum(own) / len(rows), 1 - sum(other) / len(rows)
    print(f"MATH500: own answer {sum(own)}/{len(rows)} correct; other answer {len(rows) - sum(other)}/{len(rows)} wrong")
    assert len(rows) == 500
    assert own_rate >= 0.996 and other_rate >= 0.996, (own_rate, other_rate)


def test_aime_answers_with_leading_zeros(shared_data):
    with open(os.path.join(shared_data, "aime24.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    for r in rows:
        padded = f"{int(r['answer']):03d}"
        assert grade.is_correct(S1 + f"Final Answer: {padded}<|im_end|>", r["answer"])
        assert not grade.is_correct(S1 + f"Final Answer: {int(r['answer']) + 1}<|im_end|>", r["answer"])


# -----------------------------------------------------------------------------
# metrics

def test_scaling_metrics_hand_computed():
    # Points (a, f(a)): (100, 0.2), (200, 0.4), (400, 0.5) with budget [0, 300].
    # Control: 2 of 3 points within [0, 300] -> 2/3.
    # Slopes: (0.4-0.2)/100 = 0.002, (0.5-0.2)/300 = 0.001, (0.5-0.4)/200 = 0.0005 -> mean 0.0035/3.
    m = evaluate.scaling_metrics([(200, 0.4), (100, 0.2), (400, 0.5)], 0, 300)
    assert m["control"] == pytest.approx(2 / 3)
    assert m["scaling"] == pytest.approx(0.0035 / 3)
    assert m["performance"] == 0.5
    # Accuracy that falls with more thinking has a negative slope; one point has none.
    assert evaluate.scaling_metrics([(10, 0.5), (20, 0.3)], 10, 20) == {"control": 1.0, "scaling": pytest.approx(-0.02), "performance": 0.5}
    assert evaluate.scaling_metrics([(10, 0.5)], 0, 5) == {"control": 0.0, "scaling": None, "performance": 0.5}
    # Below the budget's lower end is outside too (a sweep of min_think has a_min > 0): 2 of 3 inside [50, 100].
    assert evaluate.scaling_metrics([(40, 0.1), (60, 0.2), (80, 0.3)], 50, 100)["control"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        evaluate.scaling_metrics([], 0, 1)


def test_summarize_per_setting_and_majority_vote():
    questions = [{"id": "a", "question": "q", "gold": "1"}, {"id": "b", "question": "q", "gold": "2"}]
    settings = [{"max_think": 10, "num_wait": 0, "min_think": 0}, {"max_think": 20, "num_wait": 0, "min_think": 0}]
    rows = []
    for s, extracted, tokens in ((settings[0], [["1", "3", "1"], ["5", "5", "2"]], 8),
                                  (settings[1], [["1", "1", "1"], ["2", "2", "3"]], 25)):
        for q, answers in zip(questions, extracted):
            for k, a in enumerate(answers):
                rows.append({**q, **s, "sample": k, "extracted": a, "correct": grade.answers_match(a, q["gold"]),
                             "thinking_tokens": tokens})
    summary = evaluate.summarize(rows, questions, settings, samples=3)
    first, second = summary["rows"]
    assert first["accuracy"] == 0.5 and first["sample_accuracy"] == pytest.approx(3 / 6) and first["within_budget"] == 1.0
    assert second["accuracy"] == 1.0 and second["within_budget"] == 0.0  # 25 thinking tokens > 20: out of budget
    assert summary["metrics"]["scaling"] == pytest.approx((1.0 - 0.5) / (25 - 8))
    assert summary["metrics"]["control"] == 0.5  # a = 25 lies outside [a_min, a_max] = [0, 20]
    assert summary["metrics"]["performance"] == 1.0


def test_summarize_counts_thinking_below_min_think_as_out_of_budget():
    """A setting with min_think asks for at least that much thinking: a generation under it is out
    of budget in its row's control, and the metrics' a_min defaults to the smallest min_think."""
    questions = [{"id": "a", "question": "q", "gold": "1"}, {"id": "b", "question": "q", "gold": "2"}]
    settings = [{"max_think": 20, "num_wait": 0, "min_think": 10}, {"max_think": 40, "num_wait": 0, "min_think": 30}]
    rows = [{**q, **s, "sample": 0, "extracted": q["gold"], "correct": True, "thinking_tokens": t}
            for s, tokens in zip(settings, ((4, 12), (30, 35))) for q, t in zip(questions, tokens)]
    summary = evaluate.summarize(rows, questions, settings)
    assert [r["within_budget"] for r in summary["rows"]] == [0.5, 1.0]  # 4 < min_think 10; 12, 30, 35 within
    m = summary["metrics"]
    assert (m["a_min"], m["a_max"]) == (10, 40)
    assert m["control"] == 0.5  # averages 8 (below a_min) and 32.5


# -----------------------------------------------------------------------------
# datasets

def test_local_files_and_fields(tmp_path):
    rows = [{"problem": "1+1?", "answer": 2.0, "id": 7}, {"problem": "2+2?", "answer": "4", "id": 8}]
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (tmp_path / "d.json").write_text(json.dumps({"data": rows}))
    import pyarrow
    import pyarrow.parquet
    pyarrow.parquet.write_table(pyarrow.Table.from_pylist([{"q": r["problem"], "a": str(r["answer"])} for r in rows]),
                                tmp_path / "d.parquet")
    expected = [{"id": "7", "question": "1+1?", "gold": "2"}, {"id": "8", "question": "2+2?", "gold": "4"}]
    assert evaluate.load_questions(str(jsonl)) == expected
    assert evaluate.load_questions(str(tmp_path / "d.json")) == expected
    parquet = evaluate.load_questions(str(tmp_path / "d.parquet"), "q", "a")
    assert [q["question"] for q in parquet] == ["1+1?", "2+2?"] and [q["id"] for q in parquet] == ["0", "1"]
    with pytest.raises(ValueError, match="--answer-field"):
        evaluate.load_questions(str(tmp_path / "d.parquet"), "q", "answer")
    with pytest.raises(ValueError, match="unknown dataset"):
        evaluate.load_questions("math5000")


def test_shared_files_load_with_default_fields(shared_data):
    for name, n in (("math500", 500), ("aime24", 30), ("aime25", 30), ("amc23", 40)):
        questions = evaluate.load_questions(os.path.join(shared_data, f"{name}.jsonl"))
        assert len(questions) == n and len({q["id"] for q in questions}) == n
        assert all(q["question"] and q["gold"] for q in questions)
    amc = evaluate.load_questions(os.path.join(shared_data, "amc23.jsonl"))
    assert amc[0]["gold"] == "27"  # 27.0 in the file


def test_gpqa_options_shuffled_with_fixed_seed():
    records = [{"Question": f"Q{i}?", "Correct Answer": f"right{i}", "Incorrect Answer 1": f"w1-{i}",
                "Incorrect Answer 2": f"w2-{i}", "Incorrect Answer 3": f"w3-{i}", "Record ID": f"r{i}"} for i in range(40)]
    questions = evaluate.gpqa_questions(records, seed=0)
    assert questions == evaluate.gpqa_questions(records, seed=0)  # reproducible
    assert questions != evaluate.gpqa_questions(records, seed=1)
    letters = set()
    for q in questions:
        right = next(line for line in q["question"].split("\n") if line.endswith(f"right{q['id'][1:]}"))
        assert right.startswith(q["gold"] + ") ")
        letters.add(q["gold"])
    assert letters == set("ABCD")  # the correct answer is not always first


# -----------------------------------------------------------------------------
# the sweep with the embedded model

QUESTIONS = ["What is 2 + 3?", "Name a prime number larger than 10.", "What is 7 times 8? Answer with a number.",
             "Solve for x: 2x + 4 = 10.", "What is the capital of France?"]


def write_questions(path, n=len(QUESTIONS)):
    with open(path, "w") as f:
        for i, q in enumerate(QUESTIONS[:n]):
            f.write(json.dumps({"id": f"q{i}", "question": q, "answer": str(i)}) + "\n")
    return str(path)


def test_batched_equals_batch_size_one(smol, tmp_path, one_thread):
    model, tokenizer = smol
    questions = evaluate.to_questions([{"question": q, "answer": "5"} for q in QUESTIONS[:3]])
    settings = [{"max_think": 8, "num_wait": 0, "min_think": 0}, {"max_think": 12, "num_wait": 1, "min_think": 0}]
    runs = {}
    for batch_size in (3, 1):
        path = str(tmp_path / f"b{batch_size}.jsonl")
        rows = evaluate.run_sweep(model, tokenizer, questions, settings, path, batch_size=batch_size,
                                  max_answer=6, progress=False)
        assert rows == evaluate.read_samples(path)  # every result was written as it arrived
        runs[batch_size] = rows
    assert len(runs[1]) == len(questions) * len(settings)
    # same text, counts and grades, row for row (rows arrive in the order their generations finish)
    assert sorted(runs[3], key=evaluate.sample_key) == sorted(runs[1], key=evaluate.sample_key)
    assert all(r["thinking_tokens"] <= r["max_think"] for r in runs[1])


def run_cli(args, **kwargs):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, os.path.join(ROOT, "evaluate.py"), *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, **kwargs)


@pytest.fixture(scope="module")
def resumed_run(smol_dir, tmp_path_factory):
    """A CLI run killed with SIGKILL after its first results, a torn line appended as a kill
    mid-write would leave, then the same command again to the end."""
    tmp = tmp_path_factory.mktemp("resume")
    data = write_questions(tmp / "q.jsonl")
    out = tmp / "out"
    args = ["--dataset", data, "--model", smol_dir, "--max-think", "4", "8", "--max-answer", "4",
            "--batch-size", "1", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "evaluate.py"), *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples = out / "samples.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if samples.exists() and samples.read_text().count("\n") >= 2:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = samples.read_text().count("\n")
    with open(samples, "a") as f:
        f.write('{"id": "q4", "question": "What is the cap')  # a torn last line
    second = run_cli(args, timeout=600)
    third = run_cli(args, timeout=600)
    return {"out": out, "before": before, "second": second, "third": third, "n": len(QUESTIONS) * 2}


def test_resume_after_kill_gives_every_sample_once(resumed_run):
    out, second, third = resumed_run["out"], resumed_run["second"], resumed_run["third"]
    assert second.returncode == 0, second.stderr[-2000:]
    assert 2 <= resumed_run["before"] < resumed_run["n"]  # the kill really interrupted the run
    lines = (out / "samples.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]  # no torn line left behind
    keys = [evaluate.sample_key(r) for r in rows]
    assert len(keys) == len(set(keys)) == resumed_run["n"]
    for r in rows:
        for field in ("id", "question", "gold", "response", "extracted", "correct", "thinking_tokens",
                      "answer_tokens", "waits", "forced_stop", "max_think", "num_wait", "min_think"):
            assert field in r
    summary = json.loads((out / "summary.json").read_text())
    assert [r["setting"] for r in summary["rows"]] == ["max_think=4 num_wait=0 min_think=0",
                                                      "max_think=8 num_wait=0 min_think=0"]
    assert set(summary["metrics"]) >= {"control", "scaling", "performance"}
    assert all(r["within_budget"] == 1.0 and r["n"] == len(QUESTIONS) for r in summary["rows"])
    assert (out / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Performance" in second.stdout
    # A finished run reruns without generating anything and reports the same numbers.
    assert third.returncode == 0 and "generating" not in third.stderr
    assert (out / "samples.jsonl").read_text().splitlines() == lines
    assert json.loads((out / "summary.json").read_text()) == summary


def test_samples_from_before_forced_spans_and_forks_still_load(resumed_run, smol_dir, tmp_path):
    """A samples.jsonl written before lines had forced_spans and forks resumes: the rerun generates
    only the missing line (with the new fields) and reports what the original run reported; the
    trace view reads the mixed file."""
    sys.path.insert(0, os.path.join(ROOT, "demo"))
    import traces

    out = tmp_path / "old"
    shutil.copytree(resumed_run["out"], out)
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert all(isinstance(r["forced_spans"], list) and isinstance(r["forks"], list) for r in rows)
    assert all(r["forced_spans"] for r in rows)  # at least the delimiter or the cap was forced in each
    old = [{k: v for k, v in r.items() if k not in ("forced_spans", "forks")} for r in rows[:-1]]
    (out / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in old))
    args = ["--dataset", str(resumed_run["out"].parent / "q.jsonl"), "--model", smol_dir, "--max-think", "4", "8",
            "--max-answer", "4", "--batch-size", "1", "--out", str(out)]
    rerun = run_cli(args, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    lines = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert lines[:-1] == old and "forced_spans" in lines[-1] and "forks" in lines[-1]
    assert json.loads((out / "summary.json").read_text()) == json.loads((resumed_run["out"] / "summary.json").read_text())
    data = traces.page_data(lines, None, None, {})
    assert len(data["gens"]) == len(lines) and sum(g["f"] is None for g in data["gens"]) == len(old)


@pytest.mark.parametrize("args, message", [
    (["--dataset", "math5000"], "unknown dataset"),
    (["--dataset", "{data}", "--answer-field", "solution"], "no 'solution' field"),
    (["--dataset", "{empty}"], "is empty"),
    (["--dataset", "{data}", "--max-think", "0"], "--max-think"),
    (["--dataset", "{data}", "--num-wait", "-1"], "non-negative"),
    (["--dataset", "{data}", "--max-think", "8", "--min-think", "9"], "larger than"),
    (["--dataset", "{data}", "--batch-size", "0"], "--batch-size"),
    (["--dataset", "{data}", "--samples", "4"], "--temperature"),
    (["--dataset", "{data}", "--limit", "0"], "--limit"),
    (["--dataset", "{broken}"], "not valid JSONL"),
    (["--dataset", "{unanswered}"], "record 0 has no 'answer' field"),  # every row unanswered: still refused
])
def test_bad_input_one_line_exit_2(args, message, tmp_path, capsys):
    empty, broken, unanswered = tmp_path / "empty.jsonl", tmp_path / "broken.jsonl", tmp_path / "unanswered.jsonl"
    empty.write_text("")
    broken.write_text('{"question": "x", "answer"\n')
    unanswered.write_text('{"question": "x", "answer": ""}\n{"question": "y"}\n')
    paths = {"data": write_questions(tmp_path / "q.jsonl"), "empty": str(empty), "broken": str(broken),
             "unanswered": str(unanswered)}
    argv = [a.format(**paths) for a in args] + ["--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err


def test_records_without_an_answer_are_set_aside_unless_strict():
    records = [{"question": "1+1?", "answer": "2"}, {"question": "2+2?", "answer": ""},
               {"question": "3+3?"}, {"question": "4+4?", "answer": "8"}]
    questions = evaluate.to_questions(records, strict=False)
    assert [q["gold"] for q in questions] == ["2", None, None, "8"]
    answered, unanswered = evaluate.drop_unanswered(questions)
    assert [q["id"] for q in answered] == ["0", "3"] and unanswered == ["1", "2"]  # ids stay the file's positions
    first_unanswered = evaluate.to_questions([{"question": "3+3?"}, records[0]], strict=False)
    assert [q["gold"] for q in first_unanswered] == [None, "2"]  # the default field is found in any record
    with pytest.raises(ValueError, match="record 1 has no 'answer'"):
        evaluate.to_questions(records)  # strict, the library default
    with pytest.raises(ValueError, match="record 0 has no 'answer'"):  # none answered: a wrong field, not gaps
        evaluate.to_questions([{"question": "x"}, {"question": "y", "answer": " "}], strict=False)
    with pytest.raises(ValueError, match="record 1 has no 'question'"):  # a question is never optional
        evaluate.to_questions([records[0], {"answer": "3"}], strict=False)


def test_cli_skips_unanswered_rows_and_counts_them(smol_dir, tmp_path, capsys, one_thread):
    """Issue 11: a few unanswered rows no longer refuse the whole file; --strict still does."""
    data = tmp_path / "q.jsonl"
    rows = [{"id": f"q{i}", "question": q, "answer": a} for i, (q, a) in
            enumerate(zip(QUESTIONS, ["5", None, "56", "", "Paris"]))]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    args = ["--dataset", str(data), "--model", smol_dir, "--max-think", "2", "--max-answer", "2", "--out", str(out)]
    evaluate.main(args)
    err = capsys.readouterr().err
    note = [line for line in err.splitlines() if "without an answer" in line]
    assert note == ["note: skipped 2 of 5 records without an answer (q1, q3); --strict refuses such a file"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["unanswered"] == {"count": 2, "ids": ["q1", "q3"]}
    assert summary["rows"][0]["n"] == 3
    assert sorted(r["id"] for r in evaluate.read_samples(str(out / "samples.jsonl"))) == ["q0", "q2", "q4"]
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main(args[:-1] + [str(tmp_path / "strict"), "--strict"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1
    assert err.startswith("error: ") and "record 1 has no 'answer' field" in err


def test_refuses_to_mix_runs(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"dataset": "aime24", "temperature": 0.0}))
    (out / "samples.jsonl").write_text(json.dumps({"id": "0"}) + "\n")
    with pytest.raises(SystemExit):
        evaluate.main(["--dataset", write_questions(tmp_path / "q.jsonl"), "--out", str(out)])
    assert "another dataset" in capsys.readouterr().err


def test_cli_bad_input_is_one_line_without_traceback(tmp_path):
    result = run_cli(["--dataset", "nope", "--out", str(tmp_path)], timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: unknown dataset 'nope': use one of aime24, aime25, math500, gpqa or a .jsonl/.json/.parquet file"


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_accelerate_two_processes_match_one(resumed_run, smol_dir, tmp_path):
    """Under `accelerate launch` the questions are split across processes and gathered into the
    same numbers as the single-process run (here: two CPU processes over gloo)."""
    data = write_questions(tmp_path / "q.jsonl")
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
         "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
         "--main_process_port", str(free_port()), os.path.join(ROOT, "evaluate.py"),
         "--dataset", data, "--model", smol_dir, "--max-think", "4", "8", "--max-answer", "4",
         "--batch-size", "2", "--out", str(out)], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    parallel = {evaluate.sample_key(r): r for r in evaluate.read_samples(str(out / "samples.jsonl"))}
    single = {evaluate.sample_key(r): r for r in evaluate.read_samples(str(resumed_run["out"] / "samples.jsonl"))}
    assert len(parallel) == len(evaluate.read_samples(str(out / "samples.jsonl"))) == resumed_run["n"]
    assert parallel == single
    assert (json.loads((out / "summary.json").read_text())["rows"]
            == json.loads((resumed_run["out"] / "summary.json").read_text())["rows"])


def test_datasets_by_name_use_the_hub(monkeypatch):
    """Named datasets go through datasets.load_dataset with the real hub ids (faked here: offline)."""
    import datasets

    calls = []

    def fake_load_dataset(path, name=None, split=None):
        calls.append((path, name, split))
        if path == "Idavidrein/gpqa":
            return [{"Question": "Which?", "Correct Answer": "yes", "Incorrect Answer 1": "no",
                     "Incorrect Answer 2": "maybe", "Incorrect Answer 3": "never", "Record ID": "rec1"}]
        if path == "yentinglin/aime_2025":
            raise ConnectionError("Couldn't reach the hub\nsecond line")
        return [{"problem": "1+1?", "answer": "2", "unique_id": "test/1.json"}]

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    assert evaluate.load_questions("math500") == [{"id": "test/1.json", "question": "1+1?", "gold": "2"}]
    [gpqa] = evaluate.load_questions("gpqa")
    assert "Which?" in gpqa["question"] and "Answer: LETTER" in gpqa["question"] and gpqa["id"] == "rec1"
    assert f"{gpqa['gold']}) yes" in gpqa["question"]
    with pytest.raises(ValueError, match="^cannot load yentinglin/aime_2025 from the hub: Couldn't reach the hub$"):
        evaluate.load_questions("aime25")
    assert calls == [("HuggingFaceH4/MATH-500", None, "test"), ("Idavidrein/gpqa", "gpqa_diamond", "train"),
                     ("yentinglin/aime_2025", None, "train")]


# -----------------------------------------------------------------------------
# sampling, resume and --also with a tiny Llama (fast; the CLI runs in this process)

@pytest.fixture(scope="module")
def tiny(smol_tokenizer):
    """A tiny Llama over SmolLM2's tokenizer cut to 400 ids that nearly always says " a", " the",
    or tries to end its thinking (<|im_start|>, <|im_end|>): every setting forks, Waits are forced
    often, and a draw is between a few far-apart tokens (no float noise can flip it)."""
    from conftest import tiny_llama, truncated_tokenizer

    tokenizer = truncated_tokenizer(smol_tokenizer, 400)
    words = [evaluate.budget_force.encode(tokenizer, w)[0] for w in (" a", " the")]
    return tiny_llama(tokenizer, [1, 2] + words, seed=1, spread=0.3), tokenizer


@pytest.fixture
def tiny_cli(tiny, monkeypatch):
    """evaluate.main in this process, loading the tiny Llama whatever --model says."""
    monkeypatch.setattr(evaluate.budget_force, "load_model", lambda model=None: tiny)


def test_a_questions_samples_do_not_depend_on_its_batch(tiny, tmp_path, one_thread):
    """Each question's sampler is seeded from --seed and its id: batch 3 and batch 1 write the same
    samples, and two questions with the same text but different ids do not share draws."""
    model, tokenizer = tiny
    questions = evaluate.to_questions([{"id": f"q{i}", "question": q, "answer": "5"}
                                       for i, q in enumerate(QUESTIONS[:2] + QUESTIONS[:1])])
    settings = [{"max_think": 6, "num_wait": 0, "min_think": 0, "wait_str": "Wait"},
                {"max_think": 6, "num_wait": 2, "min_think": 0, "wait_str": "Wait"}]
    runs = {}
    for batch_size in (3, 1):
        runs[batch_size] = sorted(evaluate.run_sweep(model, tokenizer, questions, settings,
                                                     str(tmp_path / f"b{batch_size}.jsonl"), samples=3,
                                                     batch_size=batch_size, temperature=1.0, max_answer=3,
                                                     seed=4, progress=False), key=evaluate.sample_key)
    assert runs[3] == runs[1]
    responses = {q["id"]: [r["response"] for r in runs[1] if r["id"] == q["id"]] for q in questions}
    assert responses["q0"] != responses["q2"]  # same question text, another id: other draws
    assert len(set(responses["q0"])) > 1  # the samples of a question differ
    assert evaluate.question_seed(4, "q0") == evaluate.question_seed(4, "q0") != evaluate.question_seed(5, "q0")


def test_resume_after_a_kill_between_two_settings_of_one_question(tiny_cli, tmp_path, monkeypatch, one_thread):
    """Waits (Wait, Hmm and no string) so the tree forks, 2 samples at temperature 1, killed after
    the third line: the first question has some of its 16 (setting, sample) rows and not others.
    The rerun writes exactly the missing ones (the kept lines untouched, every key once), and the
    three wait strings stay three settings: their rows do not collapse into one on resume."""
    data = write_questions(tmp_path / "q.jsonl", n=3)
    out = tmp_path / "out"
    args = ["--dataset", data, "--max-think", "4", "8", "--num-wait", "0", "1", "--wait-str", "Wait", "Hmm", "",
            "--samples", "2", "--temperature", "1", "--max-answer", "3", "--batch-size", "2", "--out", str(out)]
    append_line, written = evaluate.append_line, []

    def killed_after_three(fd, row):
        if len(written) == 3:
            raise KeyboardInterrupt("killed")
        append_line(fd, row)
        written.append(row)

    monkeypatch.setattr(evaluate, "append_line", killed_after_three)
    with pytest.raises(KeyboardInterrupt):
        evaluate.main(args)
    monkeypatch.setattr(evaluate, "append_line", append_line)
    before = (out / "samples.jsonl").read_text().splitlines()
    assert len(before) == 3
    first = json.loads(before[0])["id"]
    assert 1 <= sum(json.loads(line)["id"] == first for line in before) < 16  # a kill inside one question
    evaluate.main(args)
    lines = (out / "samples.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    assert lines[:3] == before
    keys = [evaluate.sample_key(r) for r in rows]
    assert len(keys) == len(set(keys)) == 3 * 8 * 2
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["rows"]) == 8
    for s in summary["rows"]:
        mine = [r for r in rows if all(r[f] == s[f] for f in ("max_think", "num_wait", "min_think", "wait_str"))]
        assert len(mine) == 6
        assert s["avg_thinking_tokens"] == pytest.approx(sum(r["thinking_tokens"] for r in mine) / 6)
    waited = {ws: [r for r in rows if r["wait_str"] == ws and r["num_wait"] == 1] for ws in ("Wait", "Hmm", "")}
    assert any("Hmm" in r["response"] for r in waited["Hmm"]) and not any("Hmm" in r["response"] for r in waited["Wait"])
    assert all(r["waits"] >= 1 for ws in waited for r in waited[ws] if r["thinking_tokens"] < r["max_think"])


def test_also_rows_stay_out_of_the_metrics(tiny_cli, tmp_path, one_thread):
    """--also settings get rows and samples, but Control, Scaling and Performance are the main
    sweep's: its points only, a in [its smallest min_think, its largest max_think]."""
    out = tmp_path / "out"
    evaluate.main(["--dataset", write_questions(tmp_path / "q.jsonl", n=2), "--max-think", "2", "4",
                   "--also", "--max-think 12 --min-think 10", "--max-answer", "2", "--out", str(out)])
    summary = json.loads((out / "summary.json").read_text())
    caps = [r["max_think"] for r in summary["rows"]]
    assert caps == [2, 4, 12]
    also = summary["rows"][2]
    assert also["avg_thinking_tokens"] >= 10  # outside the main sweep's [0, 4]: it would change Control
    main_points = [(r["avg_thinking_tokens"], r["accuracy"]) for r in summary["rows"][:2]]
    assert summary["metrics"] == {**evaluate.scaling_metrics(main_points, 0, 4), "a_min": 0, "a_max": 4}
    assert summary["metrics"]["control"] == 1.0
    assert len(evaluate.read_samples(str(out / "samples.jsonl"))) == 2 * 3
