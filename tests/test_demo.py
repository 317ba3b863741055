"""The demo: its data generator (fast checks) and the whole chain on tiny sizes (`bash run.sh smoke`).

The chain test runs data -> difficulty attempts -> curate -> train -> evaluate -> adherence ->
report through run.sh itself, so a change that breaks any stage's CLI or the hand-offs between
them fails here. It takes ~1-3 minutes on 2 cores (several model loads and three training steps).
"""
import json
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "demo"))
import make_data  # noqa: E402


def replay(domain, question, trace):
    """Check a trace line by line from the question alone; return the answer it ends with."""
    lines = trace.split("\n")
    if domain == "counting":
        digit, number = re.fullmatch(r"How many (\d)s are in (\d+)\?", question).groups()
        count = 0
        assert len(lines) == len(number) + 1
        for ch, line in zip(number, lines):
            count += ch == digit
            assert line == f"{ch} {'yes' if ch == digit else 'no'} {count}"
        assert lines[-1] == f"end {count}"
        return str(count)
    a, op, b = re.fullmatch(r"What is (\d+) ([-+*]) (\d+)\?", question).groups()
    assert len(lines) == len(a) + 1  # one line per digit of the first operand, then `end`
    partial, carry = "", 0
    for k, line in enumerate(lines[:-1]):
        m = re.fullmatch(r"(\d+)([-+*])(\d)(?:[-+](\d))?=(\d+) ([cb])(\d):(\d+)", line)
        assert m, line
        x, line_op, y, incoming, value, _, out, new_partial = m.groups()
        # the digits are the operands' k-th from the right, and the incoming carry is the last line's
        assert x[-1] == a[-1 - k] and line_op == op and int(incoming or 0) == carry
        assert y == (b if op == "*" else b.rjust(len(a), "0")[-1 - k])
        if op == "-":
            assert int(value) == int(x) - int(y) - carry and int(out) == (len(x) == 2) and int(value) < 10
            digit = value
        else:
            assert int(value) == (int(x) + int(y) if op == "+" else int(x) * int(y)) + carry
            assert int(out) == int(value) // 10
            digit = str(int(value) % 10)
        assert new_partial == digit + partial  # the result so far, in reading order
        partial, carry = new_partial, int(out)
    final = re.fullmatch(r"end [cb]\d:(\d+)", lines[-1]).group(1)
    assert final == (str(int(partial)) if op == "-" else (str(carry) if carry else "") + partial)
    return final


def test_traces_are_correct_procedures():
    rng = __import__("random").Random(1)
    for domain in make_data.DOMAINS:
        for size in make_data.SIZES[domain]:
            for _ in range(30):
                q, trace, answer = make_data.SOLVERS[domain](*make_data.sample_operands(rng, domain, size))
                assert replay(domain, q, trace) == answer
                assert str(eval(q[8:-1])) == answer if domain != "counting" else True  # noqa: S307


def test_pool_schema_bait_and_held_out_eval(tmp_path):
    make_data.main(["--out", str(tmp_path), "--pool-per-domain", "40", "--easy-per-domain", "5",
                    "--eval-per-domain", "6"])
    pool = [json.loads(line) for line in open(tmp_path / "pool.jsonl")]
    evals = [json.loads(line) for line in open(tmp_path / "eval.jsonl")]
    fields = {"question", "solution", "cot_type", "source_type", "metadata", "cot", "thinking_trajectories",
              "attempt", "domain"}
    assert all(set(r) == fields for r in pool)
    assert {r["domain"] for r in pool} == set(make_data.DOMAINS) == {r["domain"] for r in evals}
    assert all(isinstance(r["thinking_trajectories"], list) for r in pool)
    # held out: only the three deliberate leaks share a question with the eval set
    keys = {make_data.question_key(r["question"]) for r in evals}
    assert sum(make_data.question_key(r["question"]) in keys for r in pool) == 3
    # the bait each curation stage must catch is there
    assert any("![" in r["question"] for r in pool) and any("[asy]" in r["question"] for r in pool)
    assert any(r["thinking_trajectories"] == [] for r in pool)
    assert sum(json.loads(r["metadata"])["digits"] == 1 for r in pool) == 15  # the easy tier
    assert len({r["question"] for r in pool}) < len(pool)  # exact duplicates


def test_same_seed_same_bytes(tmp_path):
    for name in ("a", "b"):
        make_data.main(["--out", str(tmp_path / name), "--pool-per-domain", "20", "--easy-per-domain", "5",
                        "--eval-per-domain", "3"])
    for f in ("pool.jsonl", "eval.jsonl"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    make_data.main(["--out", str(tmp_path / "c"), "--seed", "1", "--pool-per-domain", "20", "--easy-per-domain", "5",
                    "--eval-per-domain", "3"])
    assert (tmp_path / "a" / "pool.jsonl").read_bytes() != (tmp_path / "c" / "pool.jsonl").read_bytes()


def test_bad_input_exits_2(tmp_path):
    for bad in (["--pool-per-domain", "0"], ["--easy-per-domain", "200"]):  # the second: only 81 one-digit sums
        r = subprocess.run([sys.executable, "demo/make_data.py", "--out", str(tmp_path), *bad],
                           cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and r.stderr.startswith("error:") and "Traceback" not in r.stderr


def test_smoke_chain(smol_dir, tmp_path):
    """`bash run.sh smoke`: every stage runs and hands over to the next; then a rerun reuses all."""
    out = tmp_path / "smoke"
    env = {**os.environ, "SKIP_SETUP": "1", "PYTHON": sys.executable, "MODEL": smol_dir, "OUT": str(out)}
    r = subprocess.run(["bash", "run.sh", "smoke"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for f in ("data/pool.jsonl", "data/eval.jsonl", "attempts/samples.jsonl", "curated/s1k.jsonl",
              "curated/s1k.report.json", "train/config.json", "train/train_summary.json", "eval/samples.jsonl",
              "eval/summary.json", "eval/scaling.png", "eval/adherence.json", "results.json"):
        assert (out / f).exists(), f
    report = json.load(open(out / "curated" / "s1k.report.json"))
    dropped = {s["stage"]: s["in"] - s["out"] for s in report["stages"]}
    assert dropped["quality"] >= 4 and dropped["decontamination"] >= 3 and dropped["deduplication"] >= 5
    assert len(open(out / "curated" / "s1k.jsonl").readlines()) == 24
    summary = json.load(open(out / "eval" / "summary.json"))
    assert [row["max_think"] for row in summary["rows"]] == [8, 32]
    assert all(row["avg_thinking_tokens"] <= row["max_think"] for row in summary["rows"])
    assert "test-time scaling" in r.stdout and "format adherence" in r.stdout
    # a rerun finds every output fresh and only prints the report
    r2 = subprocess.run(["bash", "run.sh", "smoke"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r2.returncode == 0 and "1/6" not in r2.stdout and "4/6" not in r2.stdout and "test-time scaling" in r2.stdout
