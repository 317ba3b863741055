"""curate.py: quality, difficulty, decontamination, duplicates, domains and selection (s1 §2).

The pool is built here, row by row, with every kind of row the filters must catch planted in it
(each row carries a `kind` field, which curate.py passes through), so a test can say exactly which
rows may survive.
"""
import json
import math
import os
import random
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import curate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOMAINS = ["Number theory", "Geometry", "Combinatorics", "Quantum theory"]
WORDS = ("integer prime triangle circle polygon sequence graph vertex edge matrix vector function "
         "derivative integral limit probability expected value random walk particle energy momentum "
         "field charge wave spin orbit lattice group ring modulo divisor remainder digit sum product "
         "square cube root angle radius chord tangent area volume perimeter coloring tiling path cycle "
         "tree permutation subset partition binomial coefficient recurrence polynomial coefficient "
         "real complex rational parity parabola ellipse hyperbola focus axis plane point line segment").split()
EVAL_QUESTIONS = [
    "Let $x$ and $y$ be real numbers such that $x^2 + y^2 = 17$ and $xy = 4$. Find the largest possible value of $x + y$.",
    "How many positive divisors does the number 2024 have, counting 1 and 2024 themselves?",
    "Find 7 + 8 in base ten.",  # shorter than 8 words: matched whole
]
GOOD_KINDS = {"good", "aime asy", "unsolved"}


def random_question(rng):
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(18, 30)))
    return f"Compute the {words} when $n = {rng.randint(2, 999)}$."


def row(rng, kind, domain=None, question=None, trace_chars=None, **fields):
    trace = " ".join(rng.choice(WORDS) for _ in range((trace_chars or rng.randint(100, 2500)) // 8))
    r = {"question": question or random_question(rng), "solution": "42", "cot_type": "math",
         "source_type": "synthetic", "metadata": "{}", "cot": None,
         "thinking_trajectories": [trace], "attempt": "The answer is $42$.", "kind": kind}
    if domain:
        r["domain"] = domain
    r.update(fields)
    return r


def make_pool(tmp_path, with_domain=True, n_good=120, seed=0):
    """Write pool.jsonl (with 3 malformed lines), attempts.jsonl and eval.jsonl; return their paths
    and the pool's rows. Good rows first, then the planted ones."""
    rng = random.Random(seed)
    dom = (lambda i: DOMAINS[i % len(DOMAINS)]) if with_domain else (lambda i: None)
    good = [row(rng, "good", dom(i)) for i in range(n_good)]
    bad = []
    for i, g in enumerate(good[:5]):  # exact duplicates: other case and spacing
        bad.append({**g, "question": "  " + g["question"].upper().replace(" ", "   "), "kind": "exact duplicate"})
    for i, g in enumerate(good[5:10]):  # near duplicates: one word changed at the end
        bad.append({**g, "question": g["question"][:-1] + " please.", "kind": "near duplicate"})
    for i, q in enumerate(EVAL_QUESTIONS):  # leaks, reformatted: no $, other case, a prefix
        leaked = "Problem 3. " + q.replace("$", "").upper()
        bad.append(row(rng, "leaked", dom(i), question=leaked))
    bad += [
        row(rng, "image link", dom(0), question="Find the area of the shaded region. ![figure](https://x.org/fig1.png)"),
        row(rng, "image link", dom(1), question="In the figure <img src='tri.png'>, find angle ABC in degrees."),
        row(rng, "image link", dom(2), question="See https://example.com/pics/graph.jpeg and count the paths of length 4."),
        row(rng, "asy", dom(1), question="Find the area. [asy] draw((0,0)--(1,1)); [/asy]"),
        row(rng, "api error", dom(2), thinking_trajectories=["API Error: 429 rate limit exceeded, retry later"]),
        row(rng, "api error", dom(3), attempt="Error: internal server error"),
        row(rng, "missing field", dom(0), attempt=""),
        row(rng, "missing field", dom(1), thinking_trajectories=[]),
        row(rng, "broken markup", dom(2), question="Let $x = 3 be a real number, find $x^2$ and add 1 to it."),
        row(rng, "broken markup", dom(3), question="Solve \\begin{align} x + 1 = 2 in the integers."),
    ]
    solved = [row(rng, "solved", dom(i)) for i in range(6)]
    unsolved = [row(rng, "unsolved", dom(i)) for i in range(4)]
    aime = row(rng, "aime asy", dom(1), source_type="qq8933/AIME_1983_2024",
               question="Triangle ABC has sides 13, 14, 15. [asy] draw((0,0)--(14,0)--(5,12)--cycle); [/asy] "
                        "Find the area of the triangle ABC in square units.")
    rows = good + bad + solved + unsolved + [aime]
    pool = tmp_path / "pool.jsonl"
    lines = [json.dumps(r) for r in rows]
    lines.insert(7, '{"question": "broken')  # line 8
    lines.insert(20, "[1, 2, 3]")            # line 21: JSON, but not an object
    lines.insert(33, "{not json}")           # line 34
    pool.write_text("\n".join(lines) + "\n")
    attempts = tmp_path / "attempts.jsonl"
    with open(attempts, "w") as f:
        for r in solved:  # one wrong and one right attempt: any correct attempt drops the question
            f.write(json.dumps({"question": r["question"], "correct": False, "max_think": 64}) + "\n")
            f.write(json.dumps({"question": " " + r["question"].lower(), "correct": True, "max_think": 128}) + "\n")
        for r in unsolved:
            f.write(json.dumps({"question": r["question"], "correct": False}) + "\n")
    eval_file = tmp_path / "eval.jsonl"
    eval_file.write_text("".join(json.dumps({"problem": q, "answer": "1"}) + "\n" for q in EVAL_QUESTIONS))
    return {"pool": str(pool), "attempts": str(attempts), "eval": str(eval_file), "rows": rows,
            "out": str(tmp_path / "out" / "s1k.jsonl")}


@pytest.fixture(scope="session")
def tokenizer(gguf_path):
    return curate.load_tokenizer(gguf_path)


@pytest.fixture
def fast_load(monkeypatch, tokenizer):
    """In-process runs reuse one tokenizer instead of loading it from the GGUF each time (~3 s)."""
    monkeypatch.setattr(curate, "load_tokenizer", lambda name=None: tokenizer)


def run_main(p, *extra):
    args = ["--pool", p["pool"], "--out", p["out"], "--attempts", p["attempts"],
            "--decontaminate", p["eval"], "--quiet", *extra]
    curate.main(args)
    with open(p["out"], encoding="utf-8") as f:
        out = [json.loads(line) for line in f]
    with open(p["out"].replace(".jsonl", ".report.json"), encoding="utf-8") as f:
        return out, json.load(f)


# -----------------------------------------------------------------------------
# the whole pipeline

def test_only_clean_unsolved_unleaked_unique_rows_survive(tmp_path, fast_load, capsys):
    p = make_pool(tmp_path)
    out, report = run_main(p, "--size", "0")
    kinds = {}
    for r in out:
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
    assert kinds == {"good": 120, "unsolved": 4, "aime asy": 1}  # every planted bad row is gone, no good one lost
    assert all(isinstance(r["thinking_tokens"], int) and r["thinking_tokens"] > 0 for r in out)
    assert all(r["domain"] in DOMAINS for r in out)
    assert set(out[0]) == set(p["rows"][0]) | {"thinking_tokens"}  # the input schema plus the new field

    assert report["malformed_lines"] == [8, 21, 34]
    assert "line 8, 21, 34" in capsys.readouterr().err
    stages = {s["stage"]: s for s in report["stages"]}
    assert stages["quality"]["dropped"] == {"image link": 3, "[asy] figure": 1, "API error": 2,
                                            "missing field": 2, "broken markup": 2}
    assert stages["difficulty"]["dropped"] == {"solved by a model": 6}
    assert stages["decontamination"]["out"] == stages["decontamination"]["in"] - len(EVAL_QUESTIONS)
    assert stages["deduplication"]["dropped"] == {"exact duplicate": 5, "near duplicate": 5}
    assert report["rows_read"] == len(p["rows"])
    assert report["attempts"]["solved"] == 6 and report["attempts"]["questions"] == 10
    for a, b in zip(report["stages"], report["stages"][1:]):
        assert a["out"] == b["in"]


def test_s1_selection_covers_every_domain_and_prefers_long_traces(tmp_path, fast_load):
    p = make_pool(tmp_path)
    out, report = run_main(p, "--size", "40", "--strategy", "s1", "--seed", "3")
    assert len(out) == 40 and len({r["question"] for r in out}) == 40
    assert {r["kind"] for r in out} <= GOOD_KINDS
    assert {r["domain"] for r in out} == set(DOMAINS)
    pool_mean = report["thinking_tokens"]["pool"]["mean"]
    selected_mean = report["thinking_tokens"]["selected"]["mean"]
    assert selected_mean == pytest.approx(sum(r["thinking_tokens"] for r in out) / 40, abs=0.1)
    assert selected_mean > 1.3 * pool_mean, (selected_mean, pool_mean)
    # domains are drawn uniformly, so 40 picks from 4 equal domains are roughly balanced
    assert all(5 <= n <= 16 for n in report["domains"]["selected"].values()), report["domains"]["selected"]


def test_same_seed_gives_the_same_bytes(tmp_path, fast_load):
    p = make_pool(tmp_path)
    blobs = {}
    for name, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        p["out"] = str(tmp_path / f"{name}.jsonl")
        run_main(p, "--size", "30", "--seed", seed)
        blobs[name] = open(p["out"], "rb").read()
    assert blobs["a"] == blobs["b"]
    assert blobs["a"] != blobs["c"]


def test_strategies_are_the_papers_ablations(tmp_path, fast_load):
    p = make_pool(tmp_path)
    full, _ = run_main(p, "--size", "0")
    by_length = sorted(full, key=lambda r: -r["thinking_tokens"])
    longest, _ = run_main(p, "--size", "20", "--strategy", "longest")
    assert [r["question"] for r in longest] == [r["question"] for r in by_length[:20]]
    for strategy in ("random", "diverse"):
        out, report = run_main(p, "--size", "20", "--strategy", strategy)
        assert len({r["question"] for r in out}) == 20 and {r["kind"] for r in out} <= GOOD_KINDS
    # s1 favours long traces much more than a random sample does
    s1, _ = run_main(p, "--size", "20", "--strategy", "s1")
    rand, _ = run_main(p, "--size", "20", "--strategy", "random")
    assert sum(r["thinking_tokens"] for r in s1) > sum(r["thinking_tokens"] for r in rand)


# -----------------------------------------------------------------------------
# the pieces

def test_geometric_rank_follows_two_to_the_minus_rank():
    rng = random.Random(0)
    n, draws = 5, 40000
    counts = [0] * n
    for _ in range(draws):
        counts[curate.geometric_rank(rng, n)] += 1
    total = sum(2.0 ** -r for r in range(n))
    for r in range(n):
        expected = draws * 2.0 ** -r / total
        assert abs(counts[r] - expected) < 5 * math.sqrt(expected), (r, counts)
    assert curate.geometric_rank(rng, 1) == 0


@pytest.mark.parametrize("strategy", ["s1", "diverse"])
def test_domains_are_drawn_uniformly_not_by_size(strategy):
    """Domains of 30, 6 and 2 rows: the first pick lands in each domain a third of the time (not
    30/38, 6/38, 2/38, as a draw in proportion to size would give), and 12 picks take both rows of
    the smallest domain in most runs (a proportional draw would in 1 run in 11: 12 x 11 / (38 x 37))."""
    sizes = {"big": 30, "mid": 6, "small": 2}
    rows = [{"question": f"{d}{i}", "domain": d, "thinking_tokens": 100 + i} for d, n in sizes.items() for i in range(n)]
    runs = 1500
    firsts = [curate.select(rows, 1, strategy, seed)[0]["domain"] for seed in range(runs)]
    for d in sizes:  # 1/3 +- 0.06: more than 5 standard errors (0.012)
        assert abs(firsts.count(d) / runs - 1 / 3) < 0.06, (d, firsts.count(d))
    both_small = sum(sum(r["domain"] == "small" for r in curate.select(rows, 12, strategy, seed)) == 2
                     for seed in range(200))
    assert both_small > 0.6 * 200, both_small


def test_s1_picks_within_a_domain_by_rank():
    """One domain, three rows: the longest is picked first about 4/7 of the time (1 : 1/2 : 1/4)."""
    rows = [{"question": str(i), "domain": "d", "thinking_tokens": t} for i, t in enumerate([10, 30, 20])]
    firsts = [curate.select(rows, 1, "s1", seed)[0]["thinking_tokens"] for seed in range(3000)]
    assert abs(firsts.count(30) / 3000 - 4 / 7) < 0.04
    assert abs(firsts.count(10) / 3000 - 1 / 7) < 0.03
    assert sorted(r["thinking_tokens"] for r in curate.select(rows, 3, "s1", 0)) == [10, 20, 30]


def test_quality_reasons():
    base = {"question": "What is $1+1$?", "thinking_trajectories": ["1 plus 1 is 2."], "attempt": "2"}
    assert curate.quality_problem(base) is None
    assert curate.quality_problem({**base, "thinking_trajectories": "a plain string trace"}) is None
    assert curate.quality_problem({**base, "question": "Costs \\$5 and \\$7; find $x$."}) is None  # escaped $
    cases = {
        "missing field": [{**base, "question": None}, {k: v for k, v in base.items() if k != "attempt"},
                          {**base, "thinking_trajectories": ["   "]}],
        "API error": [{**base, "attempt": "Error code: 503 - service unavailable"},
                      {**base, "thinking_trajectories": ["Traceback (most recent call last): ..."]}],
        "[asy] figure": [{**base, "question": "[asy]draw(unitcircle);[/asy] Find the radius."}],
        "image link": [{**base, "question": "As shown in \\includegraphics{fig.pdf}, find x."},
                       {**base, "question": "Use the diagram [image] to find x."}],
        "broken markup": [{**base, "question": "Find $x"}, {**base, "question": "Find \\(x\\) and \\[y."},
                          {**base, "question": "Bad decode \ufffd here"}],
    }
    for reason, rows in cases.items():
        for r in rows:
            assert curate.quality_problem(r) == reason, r
    # a long trace that mentions a rate limit is a physics problem, not an API error
    physics = {**base, "thinking_trajectories": ["x" * 300 + " the rate limit of the reaction is ..."]}
    assert curate.quality_problem(physics) is None
    assert curate.quality_problem({**base, "question": "[asy] unitsize(1cm); [/asy] Find x.",
                                   "source_type": "qq8933/AIME_1983_2024"}) is None


@pytest.mark.parametrize("question", [
    "A pen costs $3. How many pens can you buy with 12 dollars?",     # one price: a currency sign
    "Tickets cost $3 to $5 each. What is the most 4 tickets can cost?",  # a range
    "A shirt costs $12.50; find $x$ if $2x + 3 = 7$.",                 # a price beside real inline math
    "The prize of $1,000 is shared by $n$ people.",
    "Costs \\$5 and \\$7; find $x$.",                                 # escaped dollars
    "Find $2$ and $3x + 5 = 11$, then $$x^2 + 1$$.",                  # math that starts with a digit
    "Let $n$ 5 times be $n + 1$.",                                     # a closing $ before a number is no price
    "Solve \\begin{align} a &= 1 \\\\[2pt] b &= 2 \\end{align} for $a + b$.",  # \\[2pt] is a row break
    "In the matrix \\[ \\begin{pmatrix} 1 \\\\(2) \\end{pmatrix} \\] find the entries.",
])
def test_currency_and_row_breaks_are_not_broken_markup(question):
    """Issue 11: word problems with one price were dropped as broken LaTeX (odd number of $)."""
    assert curate.quality_problem({"question": question, "thinking_trajectories": ["t"], "attempt": "a"}) is None


@pytest.mark.parametrize("question", [
    "Find $x",
    "Solve $3x + 5 = 11 for x.",          # a number after $, but it opens math that never closes
    "Solve $3 + 5 = x for x.",
    "Let $x = 3 be a real number, find $x^2$ and add 1 to it.",
    "Find \\(x\\) and \\[y.",
    "It costs $3 and $$x^2 is displayed.",
])
def test_broken_markup_is_still_caught(question):
    assert curate.quality_problem({"question": question, "thinking_trajectories": ["t"], "attempt": "a"}) == "broken markup"


@pytest.mark.parametrize("field, text", [
    ("thinking_trajectories", ["The rate limiting step of the mechanism is the slow one, so ..."]),
    ("attempt", "Error analysis: the relative error is 2%, so the answer is 4.0 +- 0.1."),
    ("thinking_trajectories", ["Error bars overlap here, so the two means are not different."]),
])
def test_science_that_mentions_errors_is_no_api_error(field, text):
    """Like currency dollars, words an API error uses also occur in chemistry and statistics."""
    row = {"question": "What is $1+1$?", "thinking_trajectories": ["t"], "attempt": "2", field: text}
    assert curate.quality_problem(row) is None


def test_decontamination_uses_normalized_word_8_grams():
    index = curate.ngram_index(EVAL_QUESTIONS)
    assert curate.is_contaminated("Intro. LET X AND Y BE REAL NUMBERS SUCH THAT x^2 + y^2 = 17 and so on", index)
    assert curate.is_contaminated("Warm-up: find 7+8 in base ten, then explain.", index)  # a short question, whole
    # eight shared words in a row are enough (and nothing more is shared)
    assert curate.is_contaminated("Let x and y be real numbers such as these.", index)
    # seven shared words are not enough, and neither are scattered common words
    assert not curate.is_contaminated("Let x and y be real numbers with x = y.", index)
    assert not curate.is_contaminated("How many positive divisors does 360 have?", index)


def test_question_key_ignores_case_spacing_and_punctuation_but_not_operators():
    assert curate.question_key("What is $2x+3$?") == curate.question_key("what is 2x + 3")
    assert curate.question_key("What is 73 + 65?") != curate.question_key("What is 73 - 65?")
    assert curate.question_key("Is 7 > 5?") != curate.question_key("Is 7 < 5?")


def test_near_duplicates():
    rng = random.Random(1)
    texts = [random_question(rng) for _ in range(300)]
    texts.append(texts[10].replace("Compute", "Calculate"))        # one word changed: near duplicate
    texts.append(texts[20] + " Simplify fully.")                    # the same question plus a short tail
    texts.append(" ".join(texts[30].split()[: len(texts[30].split()) // 2]))  # half a question: different
    assert curate.near_duplicates(texts, 0.8, progress=False) == {300, 301}
    assert curate.near_duplicates(texts, 0.8, progress=False) == {300, 301}  # deterministic


TRICKY_TEXTS = ["", " ", "Wait, 12345 + 678 = 13023.", "x" * 5000, "don't it's we'll  they've\n\n\t  x",
                "émigré naïve 中文 😀 \u200b", "$\\frac{a}{b}$ \\begin{align} x &= 1 \\end{align}",
                "<|im_start|>think\nhmm<|im_end|> and <|im_start|>answer", "trailing spaces   ", "   leading",
                "\n\n\n", "a\r\nb"] + [f"line {i} " * i for i in range(1, 1200, 7)]


def test_count_tokens_matches_the_tokenizer(tokenizer):
    assert curate.splits_like_gpt2(json.loads(tokenizer.backend_tokenizer.to_str()))  # the piece-sum path
    expected = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in TRICKY_TEXTS]
    assert curate.count_tokens(tokenizer, TRICKY_TEXTS, batch_size=16, progress=False) == expected


def test_count_tokens_other_pre_tokenizers_are_encoded_in_full(tokenizer):
    """A tokenizer whose pieces do not add up the same way (here: digits split first) takes the
    plain batch path, and still counts exactly."""
    from tokenizers import Tokenizer, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                     pre_tokenizers.ByteLevel(add_prefix_space=False)])
    other = PreTrainedTokenizerFast(tokenizer_object=backend)
    assert not curate.splits_like_gpt2(json.loads(backend.to_str()))
    expected = [len(other(t, add_special_tokens=False)["input_ids"]) for t in TRICKY_TEXTS]
    assert curate.count_tokens(other, TRICKY_TEXTS, batch_size=16, progress=False) == expected


# Any text a file can hold: lone surrogates (Cs) are not text, and the reference tokenizer itself rejects them.
@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(st.sampled_from(list("ab Zé中😀19$\\{}_'s\n\t\r<|>")) | st.characters(exclude_categories=("Cs",)),
                        max_size=40), max_size=6))
def test_count_tokens_is_exact_on_any_text(tokenizer, texts):
    expected = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
    assert curate.count_tokens(tokenizer, texts, batch_size=4, progress=False) == expected


def test_count_tokens_on_real_solutions(tokenizer, shared_data):
    texts = [json.loads(line)["solution"] for line in open(os.path.join(shared_data, "math500.jsonl"))]
    expected = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
    assert curate.count_tokens(tokenizer, texts, progress=False) == expected


# -----------------------------------------------------------------------------
# bad input: one line on stderr, exit 2

def test_bad_input_exits_2_with_a_clear_message(tmp_path, fast_load, capsys):
    p = make_pool(tmp_path)
    cases = [
        (["--size", "500"], "--size 500 but only 125 questions survive the filters"),
        (["--strict"], f"{p['pool']}:8: malformed JSON"),
        (["--decontaminate", "no_such_set"], "not one of aime24"),
        (["--size", "-1"], "--size must be >= 0"),
    ]
    for extra, message in cases:
        with pytest.raises(SystemExit) as e:
            run_main(p, *extra)
        assert e.value.code == 2
        assert message in capsys.readouterr().err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n{oops\n")
    for pool, message in ((str(empty), "is empty (1 malformed lines)"), (str(tmp_path / "nope.jsonl"), "no such file")):
        with pytest.raises(SystemExit):
            curate.main(["--pool", pool, "--out", str(tmp_path / "o.jsonl")])
        assert message in capsys.readouterr().err


def test_cli_in_a_subprocess(tmp_path):
    """The real entry point, default (embedded) tokenizer: output and report; and no traceback on error."""
    p = make_pool(tmp_path, n_good=40)
    cmd = [sys.executable, os.path.join(ROOT, "curate.py"), "--pool", p["pool"], "--attempts", p["attempts"],
           "--decontaminate", p["eval"], "--out", p["out"], "--quiet"]
    done = subprocess.run(cmd + ["--size", "12"], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "wrote 12 rows" in done.stdout and "deduplication" in done.stdout
    assert os.path.exists(p["out"].replace(".jsonl", ".report.json"))
    failed = subprocess.run(cmd + ["--size", "1000"], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    assert failed.stderr.splitlines()[-1].startswith("error: --size 1000 but only")  # after the malformed-lines warning


def test_hub_names_fail_cleanly_offline(tmp_path):
    """The hub pool and hub evaluation sets need a network: without one, one line and exit 2."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    p = make_pool(tmp_path, n_good=8)
    for extra, message in ((["--pool", "simplescaling/data_ablation_full59K"], "cannot load simplescaling/data_ablation_full59K"),
                           (["--pool", p["pool"], "--decontaminate", "aime24"], "cannot load HuggingFaceH4/aime_2024")):
        done = subprocess.run([sys.executable, os.path.join(ROOT, "curate.py"), "--out", str(tmp_path / "o.jsonl"), *extra],
                              capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.splitlines()[-1].startswith(f"error: {message}"), done.stderr


def test_each_hub_evaluation_set_gives_its_question_field(monkeypatch):
    """EVAL_SETS holds only where a set lives (evaluate.py's shape); the question column is found
    per row: MATH500 and AIME call it `problem`, GPQA `Question`."""
    import datasets

    rows = {"HuggingFaceH4/MATH-500": [{"problem": "What is 1+1?", "answer": "2"}],
            "Idavidrein/gpqa": [{"Question": "Which gas is inert?", "Correct Answer": "neon"}]}
    asked = []
    monkeypatch.setattr(datasets, "load_dataset", lambda hub_id, config, split: asked.append((hub_id, config, split)) or rows[hub_id])
    assert curate.load_eval_questions("math500") == ["What is 1+1?"]
    assert curate.load_eval_questions("gpqa") == ["Which gas is inert?"]
    assert asked == [curate.EVAL_SETS["math500"], curate.EVAL_SETS["gpqa"]] == [
        ("HuggingFaceH4/MATH-500", None, "test"), ("Idavidrein/gpqa", "gpqa_diamond", "train")]


# -----------------------------------------------------------------------------
# domains from the model (the pool has no domain column)

def test_label_scores_equal_a_plain_forward_pass(smol):
    """The shared-prefix KV-cache trick must give the same numbers as scoring each label alone."""
    import torch

    model, tok = smol
    labels = ["Geometry", "Number theory", "Linear and multilinear algebra; matrix theory"]
    question = "How many primes are less than 30?"
    fast = curate.label_logprobs(model, tok, question, labels)
    prompt = tok(curate.domain_prompt(tok, question), add_special_tokens=False).input_ids
    for label, score in zip(labels, fast):
        ids = tok(" " + label, add_special_tokens=False).input_ids + [tok.eos_token_id]
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([prompt + ids])).logits[0].float(), -1)
        slow = sum(logp[len(prompt) - 1 + j, t].item() for j, t in enumerate(ids))
        assert score == pytest.approx(slow, abs=1e-3)


def test_domains_from_the_model_are_cached(tmp_path, smol, monkeypatch, fast_load):
    """A pool without a domain column: the model labels it once, the cache serves the next run.
    Four labels instead of 64 keep this fast on a CPU (the scoring itself is tested above)."""
    p = make_pool(tmp_path, with_domain=False, n_good=4)
    monkeypatch.setattr(curate, "DOMAINS", DOMAINS)
    calls = []
    monkeypatch.setattr(curate, "load_model", lambda name=None: calls.append(name) or smol)
    out, report = run_main(p, "--size", "0")
    assert calls == [None] and report["domains"]["source"] == "model"
    assert report["domains"]["model_runs"] == len(out) == 4 + 4 + 1
    assert all(r["domain"] in DOMAINS for r in out)
    cache = json.load(open(tmp_path / "out" / "domain_cache.json"))
    assert len(next(iter(cache.values()))) == len(out)
    # the second run (another ablation) reads every domain from the cache: no model at all
    monkeypatch.setattr(curate, "load_model", lambda name=None: pytest.fail("model loaded despite the cache"))
    again, report = run_main(p, "--size", "6", "--strategy", "diverse")
    assert report["domains"]["model_runs"] == 0
    assert {r["question"]: r["domain"] for r in again}.items() <= {r["question"]: r["domain"] for r in out}.items()


def test_real_math500_questions_are_caught(tmp_path, shared_data, fast_load):
    math500 = os.path.join(shared_data, "math500.jsonl")
    problems = [json.loads(line)["problem"] for line in open(math500)]
    leaked = [q for q in problems if curate.quality_problem({"question": q, "thinking_trajectories": "t", "attempt": "a"}) is None][:3]
    p = make_pool(tmp_path, n_good=20)
    rng = random.Random(5)
    with open(p["pool"], "a") as f:
        for q in leaked:
            f.write(json.dumps(row(rng, "leaked", "Geometry", question=q)) + "\n")
    out, report = run_main(p, "--size", "0", "--decontaminate", math500, p["eval"])
    assert not [r for r in out if r["kind"] == "leaked"]
    assert report["eval_questions"] == 500 + len(EVAL_QUESTIONS)
    decontamination = next(s for s in report["stages"] if s["stage"] == "decontamination")
    assert decontamination["in"] - decontamination["out"] == len(leaked) + len(EVAL_QUESTIONS)


def test_same_output_in_processes_with_different_hash_seeds(tmp_path):
    """Two fresh processes with different PYTHONHASHSEED write the same bytes. The pool holds pairs
    of questions that share about a third of their word 3-grams and --near-dup is 0.3, so whether a
    pair is found depends on the MinHash values: with Python's hash() (seeded per process) instead
    of a stable hash, the two runs drop different questions."""
    rng = random.Random(5)
    rows = []
    for i in range(40):
        words = [rng.choice(WORDS) for _ in range(24)]
        keep = rng.randint(10, 14)  # the partner keeps a prefix and changes the rest
        partner = words[:keep] + [rng.choice(WORDS) for _ in range(24 - keep)]
        for w in (words, partner):
            rows.append(row(rng, "good", DOMAINS[i % len(DOMAINS)], question=f"Compute the {' '.join(w)}?"))
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps(r) + "\n" for r in rows))
    outputs = []
    for seed in ("1", "2"):
        out = tmp_path / seed / "s1k.jsonl"
        done = subprocess.run([sys.executable, os.path.join(ROOT, "curate.py"), "--pool", str(pool), "--out", str(out),
                               "--size", "30", "--near-dup", "0.3", "--seed", "0", "--quiet"],
                              capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": seed}, timeout=300)
        assert done.returncode == 0, done.stderr
        outputs.append((out.read_bytes(), (tmp_path / seed / "s1k.report.json").read_bytes()))
    assert outputs[0] == outputs[1]
    dropped = json.loads(outputs[0][1])["stages"][-2]["dropped"].get("near duplicate", 0)
    assert 0 < dropped < 40, dropped  # some pairs found and some not: the test depends on which
