"""The demo: its data generator (fast checks) and the whole chain on tiny sizes (`bash run.sh smoke`).

The chain test runs data -> difficulty attempts -> curate -> train -> evaluate -> adherence ->
report through run.sh itself, so a change that breaks any stage's CLI or the hand-offs between
them fails here. It takes ~1-3 minutes on 2 cores (several model loads and three training steps).
The ablations chain (`bash run.sh ablations smoke`) runs its own smoke demo with MODEL a tiny Llama:
it checks the hand-offs, not what a model learns, and with the 135M model it was the slowest test.
"""
import json
import os
import re
import subprocess
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "demo"))
import make_data  # noqa: E402
from conftest import tiny_llama  # noqa: E402


def replay_tally(digit, number, lines):
    """Check a quick tally (one `d yes|no` line per digit, then `total N`) against `number`; the
    total must be the number of yes lines. Return N."""
    assert len(lines) == len(number) + 1
    for ch, line in zip(number, lines):
        assert line == f"{ch} {'yes' if ch == digit else 'no'}"
    assert lines[-1] == f"total {number.count(digit)}"
    return str(number.count(digit))


def replay_counting(digit, number, lines):
    """Check counting lines with a running count (one per digit, then `end N`) against `number`;
    return N."""
    count = 0
    assert len(lines) == len(number) + 1
    for ch, line in zip(number, lines):
        count += ch == digit
        assert line == f"{ch} {'yes' if ch == digit else 'no'} {count}"
    assert lines[-1] == f"end {count}"
    return str(count)


def replay_addition(a, b, lines, two_steps=False):
    """Check addition lines (one per column, right to left, then `end`) against a + b from the
    operands alone; return the result they end with. `two_steps`: the check's format, in which
    a column with a carry is added as `x+y=s, s+1=t`."""
    assert len(lines) == len(a) + 1  # one line per digit of the first operand, then `end`
    partial, carry = "", 0
    for k, line in enumerate(lines[:-1]):
        if two_steps:
            m = re.fullmatch(r"(\d)\+(\d)=(\d+)(?:, (\d+)\+1=(\d+))? c(\d):(\d+)", line)
            assert m, line
            x, y, pair, again, value, out, new_partial = m.groups()
            assert int(pair) == int(x) + int(y) and (again is None) == (carry == 0)
            assert again is None or again == pair
            value = value if again else pair
        else:
            m = re.fullmatch(r"(\d)\+(\d)(?:\+(\d))?=(\d+) c(\d):(\d+)", line)
            assert m, line
            x, y, incoming, value, out, new_partial = m.groups()
            assert int(incoming or 0) == carry
        # the digits are the operands' k-th from the right, and the incoming carry is the last line's
        assert x == a[-1 - k] and y == b.rjust(len(a), "0")[-1 - k]
        assert int(value) == int(x) + int(y) + carry and int(out) == int(value) // 10
        assert new_partial == str(int(value) % 10) + partial  # the result so far, in reading order
        partial, carry = new_partial, int(out)
    final = re.fullmatch(r"end c\d:(\d+)", lines[-1]).group(1)
    assert final == (str(carry) if carry else "") + partial
    return final


def replay(domain, question, trace):
    """Check a whole trace from the question alone: the procedure, and if present the check and
    its verdict; return the answer the trace ends with."""
    lines = trace.split("\n")
    header = make_data.CHECK_HEADER[domain]
    first, check = (lines[:lines.index(header)], lines[lines.index(header) + 1:]) if header in lines else (lines, None)
    if check and check[-1].startswith("Wait, the answer stays "):  # a restated verdict
        assert check[-1] == f"Wait, the answer stays {check[-2].split(': ')[-1]}."
        check = check[:-1]
    if domain == "counting":
        digit, number = re.fullmatch(r"How many (\d)s are in (\d+)\?", question).groups()
        answer = replay_tally(digit, number, first)
        if check is not None:
            answer = replay_counting(digit, number, check[:-1])  # counted again with a running count
    else:
        a, b = re.fullmatch(r"What is (\d+) \+ (\d+)\?", question).groups()
        answer = replay_addition(a, b, first)
        if check is not None:
            answer = replay_addition(a, b, check[:-1], two_steps=True)
    return answer


def test_traces_are_correct_procedures():
    rng = __import__("random").Random(1)
    for domain in make_data.DOMAINS:
        for size in make_data.SIZES[domain]:
            for _ in range(30):
                operands = make_data.sample_operands(rng, domain, size)
                for check, restate in ((False, False), (True, False), (True, True)):
                    q, trace, answer = make_data.make_trace(domain, operands, check, restate=restate)
                    assert replay(domain, q, trace) == answer
                    if check:
                        assert trace.endswith(f"Wait, the answer stays {answer}." if restate else f"same: {answer}")
                    else:
                        assert "Wait" not in trace
                assert str(eval(q[8:-1])) == answer if domain != "counting" else True  # noqa: S307


def test_a_planted_slip_changes_the_first_pass_and_the_check_catches_it():
    rng = __import__("random").Random(2)
    for domain in make_data.DOMAINS:
        for _ in range(100):
            operands = make_data.sample_operands(rng, domain, 4)
            slips = make_data.slip_positions(domain, operands)
            if not slips:
                continue
            q, trace, answer = make_data.make_trace(domain, operands, True, rng.choice(slips))
            first_answer, verdict = trace.split("\n")[-1][4:].split(": ")  # "not Y: X"
            assert trace.split("\n")[-1].startswith("not ") and verdict == answer and first_answer != answer
            lines = trace.split("\n")
            check = lines[lines.index(make_data.CHECK_HEADER[domain]) + 1:-1]  # the check itself is right
            if domain == "addition":
                a, b = re.fullmatch(r"What is (\d+) \+ (\d+)\?", q).groups()
                assert replay_addition(a, b, check, two_steps=True) == answer
            else:
                digit, number = re.fullmatch(r"How many (\d)s are in (\d+)\?", q).groups()
                assert replay_counting(digit, number, check) == answer
                first = lines[:lines.index(make_data.CHECK_HEADER[domain])]
                assert first[-1] == f"total {first_answer}" and abs(int(first_answer) - int(answer)) == 1
            with pytest.raises(AssertionError):
                make_data.make_trace(domain, operands, False, slips[0])  # a slip is never left unchecked


def test_pool_mixes_traces_with_and_without_checks(tmp_path):
    """Long questions check themselves three times in four, short ones three in twenty; half the
    checks catch a slip."""
    make_data.main(["--out", str(tmp_path), "--pool-per-domain", "400", "--easy-per-domain", "5",
                    "--eval-per-domain", "4", "--no-bait"])
    rows = [json.loads(line) for line in open(tmp_path / "pool.jsonl")]
    for long in (True, False):
        traces = [r["thinking_trajectories"][0] for r in rows
                  if (json.loads(r["metadata"])["digits"] >= make_data.LONG[r["domain"]]) == long]
        checked = [t for t in traces if "\nWait, " in t]
        slipped = [t for t in checked if "\nnot " in t]
        assert (0.65 < len(checked) / len(traces) < 0.85) if long else (0.09 < len(checked) / len(traces) < 0.21)
        assert 0.3 < len(slipped) / len(checked) < 0.7


def test_eval_set_does_not_depend_on_the_trace_design(tmp_path):
    """The held-out questions are drawn without trace decisions, so changing how traces check
    themselves cannot change the evaluation set."""
    for share in ("0", "0.75"):
        make_data.main(["--out", str(tmp_path / share), "--pool-per-domain", "20", "--eval-per-domain", "6",
                        "--check-share", share, "--no-bait"])
    assert (tmp_path / "0" / "eval.jsonl").read_bytes() == (tmp_path / "0.75" / "eval.jsonl").read_bytes()


def test_selection_data_regime(tmp_path):
    """`--selection` (the Table 2 experiment): every question in one file only; unequal domains;
    checks at every size alike, so a short question's trace can outrun a long one's; easy warm-up
    and dev; a hard test set of the top sizes and a broad one of every size, both over every domain.
    The demo's own files do not change."""
    make_data.main(["--out", str(tmp_path / "demo"), "--pool-per-domain", "20", "--eval-per-domain", "4"])
    make_data.main(["--out", str(tmp_path / "sel"), "--selection", "--pool-per-domain", "100", "30"])
    make_data.main(["--out", str(tmp_path / "demo2"), "--pool-per-domain", "20", "--eval-per-domain", "4"])
    for f in ("pool.jsonl", "eval.jsonl"):
        assert (tmp_path / "demo" / f).read_bytes() == (tmp_path / "demo2" / f).read_bytes()
    files = {f: [json.loads(line) for line in open(tmp_path / "sel" / f"{f}.jsonl")] for f in ("pool", "warmup", "dev", "test")}
    keys = [make_data.question_key(r["question"]) for rows in files.values() for r in rows]
    assert len(keys) == len(set(keys))
    digits = lambda r: r["digits"] if "digits" in r else json.loads(r["metadata"])["digits"]  # noqa: E731
    pool = files["pool"]
    assert [sum(r["domain"] == d for r in pool) for d in make_data.DOMAINS] == [100, 30]
    checked = {digits(r) for r in pool if r["domain"] == "addition" and "Wait" in r["thinking_trajectories"][0]}
    assert checked == {1, 2, 3, 4, 5}  # checks at every size
    assert 0.15 < sum("Wait" in r["thinking_trajectories"][0] for r in pool) / len(pool) < 0.45
    assert all(digits(r) <= 2 and "Wait" not in r["thinking_trajectories"][0] for r in files["warmup"])
    assert len(files["warmup"]) == 128 and all(digits(r) <= 2 for r in files["dev"]) and len(files["dev"]) == 20
    for name, sizes in (("hard", make_data.HARD_SIZES), ("broad", make_data.SELECTION_SIZES)):
        rows = [r for r in files["test"] if r["set"] == name]
        assert all(r["id"].startswith(name + "-") for r in rows) and len(rows) == 40
        for d in make_data.DOMAINS:
            assert {r["digits"] for r in rows if r["domain"] == d} == set(sizes[d])


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
    easy = {make_data.question_key(r["question"]) for r in pool if json.loads(r["metadata"])["digits"] == 1}
    assert len(easy) == 5  # the easy tier (addition only; bait may copy one of them)
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
    for bad in (["--pool-per-domain", "0"], ["--easy-per-domain", "200"],  # the second: only 81 one-digit sums
                ["--pool-per-domain", "5", "5", "5"], ["--check-share", "1.5"]):
        r = subprocess.run([sys.executable, "demo/make_data.py", "--out", str(tmp_path), *bad],
                           cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and r.stderr.startswith("error:") and "Traceback" not in r.stderr


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """`bash run.sh smoke` once, on the default path (stage 0 exports the embedded model with the
    demo's chat template): (its folder, the environment it ran with, its result)."""
    out = tmp_path_factory.mktemp("demo") / "smoke"
    env = {k: v for k, v in os.environ.items() if k not in ("MODEL", "STAGES", "DRY_RUN")}
    env.update(SKIP_SETUP="1", PYTHON=sys.executable, OUT=str(out))
    r = subprocess.run(["bash", "run.sh", "smoke"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    return out, env, r


def test_smoke_chain(smoke_run):
    """`bash run.sh smoke`: every stage runs and hands over to the next; then a rerun reuses all."""
    out, env, r = smoke_run
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for f in ("base/config.json", "data/pool.jsonl", "data/eval.jsonl", "attempts/samples.jsonl", "curated/s1k.jsonl",
              "curated/s1k.report.json", "train/config.json", "train/train_summary.json", "eval/samples.jsonl",
              "eval/summary.json", "eval/scaling.png", "eval/adherence.json", "results.json", "scaling.png", "eval/traces.html"):
        assert (out / f).exists(), f
    report = json.load(open(out / "curated" / "s1k.report.json"))
    dropped = {s["stage"]: s["in"] - s["out"] for s in report["stages"]}
    assert dropped["quality"] >= 4 and dropped["decontamination"] >= 3 and dropped["deduplication"] >= 5
    assert len(open(out / "curated" / "s1k.jsonl").readlines()) == 24
    trained = json.load(open(out / "train" / "train_summary.json"))
    assert os.path.samefile(trained["args"]["model"], out / "base")  # every stage used the exported model
    summary = json.load(open(out / "eval" / "summary.json"))  # one evaluate.py call: capping, then the extensions
    assert {(row["max_think"], row["num_wait"], row["wait_str"]) for row in summary["rows"]} == {
        (8, 0, "Wait"), (32, 0, "Wait"), (48, 0, "Wait"), (48, 1, "Wait"), (48, 1, "Hmm"), (48, 1, "")}
    assert all(row["avg_thinking_tokens"] <= row["max_think"] for row in summary["rows"])
    results = json.load(open(out / "results.json"))
    assert {"capping", "extend-wait", "extend-hmm", "extend-nothing"} == {r["sweep"] for r in results["scaling"]}
    assert set(results["wait_effect"]) == {"extend-wait", "extend-hmm", "extend-nothing"}
    assert set(results["adherence"]["models"]) == {"base", "trained"}
    assert "test-time scaling" in r.stdout and "format adherence" in r.stdout and "fixed" in r.stdout
    assert f"traces: {out / 'eval' / 'traces.html'}" in r.stdout
    # a rerun finds every output fresh and only prints the report
    r2 = subprocess.run(["bash", "run.sh", "smoke"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r2.returncode == 0 and "1/6" not in r2.stdout and "4/6" not in r2.stdout and "test-time scaling" in r2.stdout


def test_exported_model_loads_with_its_weights_and_no_default_system_prompt(smoke_run, smol):
    """Stage 0's folder (demo/export_model.py --no-system-prompt, as every `bash run.sh` runs it)
    loads as a plain HF model with the embedded model's weights, and its chat template adds no
    system message (SmolLM2's adds one) while keeping a chat's own."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out, _, r = smoke_run
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    model = AutoModelForCausalLM.from_pretrained(out / "base")
    tokenizer = AutoTokenizer.from_pretrained(out / "base")
    embedded_model, embedded_tokenizer = smol
    ids = torch.tensor([embedded_tokenizer.encode("What is 17 + 25?")])
    with torch.no_grad():
        assert torch.equal(model(ids).logits, embedded_model(ids).logits)
    chat = [{"role": "user", "content": "What is 17 + 25?"}]
    text = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    assert text == "<|im_start|>user\nWhat is 17 + 25?<|im_end|>\n<|im_start|>assistant\n"
    assert "You are a helpful AI assistant" in embedded_tokenizer.apply_chat_template(chat, tokenize=False)
    own = tokenizer.apply_chat_template([{"role": "system", "content": "Be brief."}, *chat], tokenize=False)
    assert own.startswith("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n")


@pytest.fixture(scope="module")
def tiny_base(smol, tmp_path_factory):
    """A tiny Llama (conftest.tiny_llama) saved as an HF folder with the embedded model's tokenizer
    and the chat template stage 0 exports (no default system prompt): a base model for chains that
    check wiring, not what a model learns. It chooses between ending its turn, opening the answer
    delimiter and the ten digits; with seed 22 its greedy chains on most smoke questions write digits
    and stop by themselves after 14-43 thinking tokens, so caps bite and forced Waits extend them."""
    from transformers import AutoTokenizer
    import export_model

    path = tmp_path_factory.mktemp("tiny") / "base"
    smol[1].save_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.chat_template = export_model.without_default_system_prompt(tokenizer.chat_template)
    digits = [tokenizer.encode(str(d), add_special_tokens=False) for d in range(10)]
    assert all(len(ids) == 1 for ids in digits)
    tiny_llama(tokenizer, [1, 2] + [ids[0] for ids in digits], seed=22).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def test_ablations_smoke_chain(tiny_base, tmp_path):
    """`bash run.sh ablations smoke` with MODEL a tiny base model: the smoke demo's stages it
    needs (into DEMO_OUT), then five selections trained and evaluated, parallel samples, rejection
    sampling, the conditional model, one report; a rerun reuses all. It checks the chain, not what
    is learnt, so the model is tiny: every stage runs as with the embedded model, in seconds."""
    demo_out, out = tmp_path / "smoke", tmp_path / "ablations"
    env = {k: v for k, v in os.environ.items() if k not in ("MODEL", "STAGES", "DRY_RUN")}
    # One thread per run: a tiny model gains nothing from a second, and on a shared CPU it oversubscribes.
    env.update(SKIP_SETUP="1", PYTHON=sys.executable, OUT=str(out), DEMO_OUT=str(demo_out), MODEL=tiny_base,
               OMP_NUM_THREADS="1")
    r = subprocess.run(["bash", "run.sh", "ablations", "smoke"], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=1200)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    demo_trained = json.load(open(demo_out / "train" / "train_summary.json"))
    assert os.path.samefile(demo_trained["args"]["model"], tiny_base)  # the demo's stages ran first, on MODEL
    assert not (demo_out / "base").exists()  # and exported nothing: MODEL replaces stage 0
    report = json.load(open(out / "report.json"))
    ds = report["data_selection"]
    sel = out / "selection"
    assert list(ds["arms"]) == ["s1", "random", "full-steps", "full-epochs"]  # smoke: the arms whose wiring differs
    warm = json.load(open(sel / "warmup" / "train_summary.json"))
    assert os.path.samefile(warm["args"]["model"], tiny_base) and warm["data"]["examples"] == 8
    for arm in ds["arms"]:  # each arm trained from the warmed-up base, evaluated on both test sets
        trained = json.load(open(sel / f"{arm}-s0" / "train" / "train_summary.json"))
        assert os.path.samefile(trained["args"]["model"], sel / "warmup"), arm
        assert set(ds["arms"][arm]["seeds"][0]["accuracy"]) == {"hard", "broad"}
    attempted = [json.loads(line) for line in open(sel / "attempts" / "samples.jsonl")]
    assert len(attempted) == 14  # the whole pool
    s1_rows = [json.loads(line)["question"] for line in open(sel / "s1-s0" / "s1k.jsonl")]
    assert not {s["question"] for s in attempted if s["correct"]} & set(s1_rows)  # s1 passed the difficulty filter
    assert ds["arms"]["s1"]["seeds"][0]["rows"] == ds["arms"]["random"]["seeds"][0]["rows"] == 4
    assert ds["arms"]["full-epochs"]["seeds"][0]["rows"] == 14  # the whole pool, no filter
    steps = {arm: ds["arms"][arm]["seeds"][0]["steps"] for arm in ds["arms"]}
    assert steps["s1"] == steps["random"] == steps["full-steps"] == 1 and steps["full-epochs"] == 4
    assert len(ds["arms"]["random"]["vs_s1"]["hard"]) == 4 and "verdict" in ds["arms"]["random"]  # diff, low, high, SE
    base_eval = json.load(open(sel / "base" / "eval" / "summary.json"))  # the base row: the warmed-up base, the arms' cap
    assert base_eval["config"]["model"] == str(sel / "warmup") and set(ds["base"]["accuracy"]) == {"hard", "broad"}
    sp = report["sequential_parallel"]
    assert [(p["max_think"], p["k"]) for p in sp["parallel"]] == [(48, 1), (48, 2)]
    assert [(p["max_think"], p["k"]) for p in sp["hybrid"]] == [(48, 1), (48, 2)]
    sampled = [json.loads(line) for line in open(out / "parallel" / "samples.jsonl")]  # each sample without, with a Wait
    assert {(s["num_wait"], s["sample"]) for s in sampled} == {(0, 0), (0, 1), (1, 0), (1, 1)}
    hybrid = [s for s in sampled if s["num_wait"] == 1]
    assert sp["analysis"]["sample_wait"]["samples"] == 4 * 2  # every sample paired with itself given a Wait
    chain = [(p["chain"], p["num_wait"]) for p in sp["sequential"] if p["chain"] == "Waits"]
    assert chain == [("Waits", 0), ("Waits", 1), ("Waits", 2)]  # the demo's 0 and 1, the ablations' 2
    assert all(p["max_think"] < 48 for p in sp["sequential"] if p["chain"] == "cap")
    sequential = [json.loads(line) for line in open(out / "sequential" / "samples.jsonl")]
    assert {s["num_wait"] for s in sequential} == {2} and any(s["waits"] == 2 for s in sequential)  # Waits forced
    assert any(s["waits"] == 1 for s in hybrid)
    assert sp["analysis"]["k"] == 2 and sp["analysis"]["questions"] == 4
    assert set(report["length_control"]) == {"budget forcing", "rejection sampling", "conditional (budget in prompt)"}
    assert report["length_control"]["budget forcing"]["control"] == 1.0
    cond = [json.loads(line) for line in open(out / "control-conditional" / "s1k.jsonl")]
    assert all(c["question"].endswith(f"Think for at most {c['stated_budget']} tokens.") for c in cond)
    cond_train = json.load(open(out / "control-conditional" / "train" / "train_summary.json"))
    assert os.path.samefile(cond_train["args"]["model"], demo_out / "train")  # the demo's model, trained on
    for plot in ("data_selection.png", "sequential_parallel.png", "length_control.png"):
        assert (out / plot).exists(), plot
    assert "data selection" in r.stdout and "length control" in r.stdout
    assert "Loading weights" in r.stderr  # what a model load prints, so its absence below means something
    r2 = subprocess.run(["bash", "run.sh", "ablations", "smoke"], cwd=ROOT, env=env, capture_output=True, text=True,
                        timeout=300)
    assert r2.returncode == 0 and "Loading weights" not in r2.stderr and "data selection" in r2.stdout


def test_ablations_default_to_the_demos_models(smoke_run, tmp_path):
    """Without MODEL, the ablations start from the demo's stage-0 export ($DEMO_OUT/base): the
    difficulty attempts, curation's token counts and the five selections' training; sequential vs
    parallel and length control run on the demo's trained model. `DRY_RUN=1 bash run.sh ablations
    smoke` on the smoke demo prints every stage's command and runs none."""
    demo_out, env, r = smoke_run
    assert r.returncode == 0
    out = tmp_path / "ablations"
    env = {**env, "OUT": str(out), "DEMO_OUT": str(demo_out), "DRY_RUN": "1"}
    r = subprocess.run(["bash", "run.sh", "ablations", "smoke"], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    commands = [line[2:].split() for line in r.stdout.splitlines() if line.startswith("+ ")]
    by_out = {c[c.index("--out") + 1]: c for c in commands}
    arg = lambda out_path, flag: by_out[str(out_path)][by_out[str(out_path)].index(flag) + 1]  # noqa: E731
    base, trained = str(demo_out / "base"), str(demo_out / "train")
    sel, warm = out / "selection", str(out / "selection" / "warmup")
    assert arg(sel / "warmup", "--model") == base
    assert arg(sel / "attempts", "--model") == warm and arg(sel / "dev", "--model") == warm
    for arm in ("s1-s0", "random-s0", "full-steps-s0", "full-epochs-s0"):
        assert arg(sel / arm / "train", "--model") == warm
        assert arg(sel / arm / "eval", "--model") == str(sel / arm / "train")
    assert arg(sel / "s1-s0" / "s1k.jsonl", "--tokenizer") == base
    assert "--attempts" in by_out[str(sel / "s1-s0" / "s1k.jsonl")]  # s1 after the difficulty filter,
    assert "--attempts" not in by_out[str(sel / "random-s0" / "s1k.jsonl")]  # random without it (the paper's arms)
    for name in ("sequential", "parallel", "control-rejection", "control-conditional/train"):
        assert arg(out / name, "--model") == trained, name
    assert arg(out / "control-conditional" / "eval", "--model") == str(out / "control-conditional" / "train")
    assert not (out / "selection").exists()  # printed, not run


def test_paired_bootstrap_known_answers():
    """The data-selection intervals: a constant difference has no spread; a difference of 1 on half
    of 400 questions and 0 on the rest has mean 0.5 and standard error 0.5/sqrt(400) = 0.025, so
    its 95% interval is 0.5 +- 1.96 * 0.025; and it is paired: an arm equal to s1 on every
    question differs by exactly 0 however much the questions differ from each other."""
    import ablations_report

    ids = [f"hard-{i}" for i in range(400)]
    assert ablations_report.paired_bootstrap({i: 1.0 for i in ids}, {i: 0.0 for i in ids}) == (1.0, 1.0, 1.0)
    arm = {i: float(k % 2) for k, i in enumerate(ids)}
    mean, low, high = ablations_report.paired_bootstrap(arm, {i: 0.0 for i in ids})
    assert mean == 0.5 and abs(low - (0.5 - 1.96 * 0.025)) < 0.005 and abs(high - (0.5 + 1.96 * 0.025)) < 0.005
    ref = {i: float(k < 100) for k, i in enumerate(ids)}  # keys in another order: pairs by question
    assert ablations_report.paired_bootstrap(dict(reversed(list(ref.items()))), ref) == (0.0, 0.0, 0.0)
    assert ablations_report.verdict((0.1, 0.02, 0.2)) == "arm ahead of s1"
    assert ablations_report.verdict((-0.1, -0.2, -0.01)) == "s1 ahead"
    assert ablations_report.verdict((0.1, -0.02, 0.2)) == "indistinguishable at this size"
    with pytest.raises(ValueError):
        ablations_report.paired_bootstrap({"a": 1.0}, {"b": 1.0})


def test_conditional_data_states_each_traces_budget(tmp_path):
    import conditional_data

    assert [conditional_data.stated_budget(n) for n in (1, 16, 17, 64, 65)] == [16, 16, 32, 64, 128]
    src, dst = tmp_path / "s1k.jsonl", tmp_path / "cond" / "s1k.jsonl"
    src.write_text("".join(json.dumps({"question": f"Q{n}?", "thinking_tokens": n}) + "\n" for n in (10, 40)))
    conditional_data.main(["--data", str(src), "--out", str(dst)])
    rows = [json.loads(line) for line in open(dst)]
    assert [r["question"] for r in rows] == ["Q10?\n\nThink for at most 16 tokens.", "Q40?\n\nThink for at most 64 tokens."]
    src.write_text(json.dumps({"question": "no length"}) + "\n")
    r = subprocess.run([sys.executable, "demo/conditional_data.py", "--data", str(src), "--out", str(dst)], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.startswith("error:") and "thinking_tokens" in r.stderr


def test_majority_curves_vote_over_the_first_k_samples():
    import ablations_report

    def gen(qid, k, extracted, tokens):
        return {"id": qid, "max_think": 16, "sample": k, "extracted": extracted, "gold": "7", "thinking_tokens": tokens}

    # q1: samples say 3, 7, 7, 7 -> wrong with K=1, right with K=4 (K=2 ties: the first seen, 3, wins)
    # q2: samples say 7, 7, 1, 1 -> right with K=1 and K=2; K=4 ties, the first seen (7) wins
    samples = [gen("q1", k, a, 10) for k, a in enumerate(["3", "7", "7", "7"])]
    samples += [gen("q2", k, a, 12) for k, a in enumerate(["7", "7", "1", "1"])]
    curves = ablations_report.majority_curves(list(reversed(samples)), ks=(1, 2, 4, 8))
    assert [(c["k"], c["accuracy"]) for c in curves] == [(1, 0.5), (2, 0.5), (4, 1.0)]  # K=8: not enough samples
    assert [c["thinking_tokens_per_question"] for c in curves] == [11.0, 22.0, 44.0]


def test_length_control_compares_budget_forcing_at_the_other_methods_budgets(tmp_path):
    """The demo's capping sweep has budgets the ablations did not run (8, 256): budget forcing is
    compared, and its metrics recomputed, at the other methods' budgets only."""
    import ablations_report

    def summary(points, a_max=256):  # (budget, accuracy, avg thinking tokens[, forced Waits])
        return {"rows": [{"max_think": p[0], "num_wait": p[3] if len(p) > 3 else 0, "n": 60, "accuracy": p[1],
                          "avg_thinking_tokens": p[2], "within_budget": 1.0} for p in points],
                "metrics": {"control": 1.0, "scaling": 99.0, "performance": 0.9, "a_max": a_max}}

    def write(folder, data):
        os.makedirs(folder)
        with open(os.path.join(folder, "summary.json"), "w") as f:
            json.dump(data, f)

    # the demo's one run also holds its extensions at a cap of 384: never part of the capping sweep
    write(tmp_path / "demo" / "eval", summary([(8, 0.0, 8), (16, 0.1, 16), (32, 0.3, 30), (256, 0.9, 90),
                                               (384, 0.9, 90), (384, 0.95, 120, 1)]))
    write(tmp_path / "run" / "control-rejection", summary([(16, 0.2, 15), (32, 0.25, 31)]))
    out = ablations_report.length_control(str(tmp_path / "run"), str(tmp_path / "demo"))
    forcing = out["budget forcing"]
    assert [p["max_think"] for p in forcing["curve"]] == [16, 32]
    assert forcing["performance"] == 0.3 and abs(forcing["scaling"] - 0.2 / 14) < 1e-12 and forcing["control"] == 1.0
    assert out["rejection sampling"]["scaling"] == 99.0  # the other methods' metrics are their own
    alone = ablations_report.length_control(str(tmp_path / "nothing-else"), str(tmp_path / "demo"))
    assert [p["max_think"] for p in alone["budget forcing"]["curve"]] == [8, 16, 32, 256]  # no extension rows


def test_sequential_parallel_compares_the_best_of_each_side_within_each_budget(tmp_path):
    """From samples files: the chain's caps that bite and its Waits, votes over K samples at their
    total thinking tokens, the best of each side within each budget, and why from the samples."""
    import ablations_report

    def gen(qid, extracted, tokens, max_think=384, num_wait=0, sample=0):
        return {"id": qid, "gold": "7", "extracted": extracted, "correct": extracted == "7", "max_think": max_think,
                "num_wait": num_wait, "min_think": 0, "sample": sample, "thinking_tokens": tokens,
                "closed_itself": num_wait == 0 and tokens < max_think}

    def write(path, rows):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write("".join(json.dumps(r) + "\n" for r in rows))

    demo, run = tmp_path / "demo", tmp_path / "run"
    # greedy chain: q1 right, q2 wrong unforced (10 tokens each); one Wait fixes q2 (20 tokens each)
    # capping: 4 bites (0%); 64 does not (the chain's own length: left out); at 384, Hmm is not a Wait
    write(demo / "eval" / "samples.jsonl", [gen("q1", "7", 10), gen("q2", "1", 10),
                                            gen("q1", "7", 20, num_wait=1), gen("q2", "7", 20, num_wait=1),
                                            {**gen("q1", "1", 30, num_wait=1), "wait_str": "Hmm"},
                                            gen("q1", "1", 4, 4), gen("q2", "1", 4, 4),
                                            gen("q1", "7", 10, 64), gen("q2", "1", 10, 64)])
    # samples: q1 says 3, 7, 7, 7 (vote right from K=4); q2 says 7, 1, 1, 1 (right at K=1, outvoted at K=4);
    # the same samples with one Wait (hybrid, 20 tokens each): q1 7, 3, 7, 7 (fixes sample 0, breaks 1),
    # q2 7, 1, 7, 7 (fixes samples 2 and 3)
    write(run / "parallel" / "samples.jsonl", [gen(q, a, 12, sample=k) for q, answers in
                                               (("q1", "3777"), ("q2", "7111")) for k, a in enumerate(answers)]
          + [gen(q, a, 20, num_wait=1, sample=k) for q, answers in (("q1", "7377"), ("q2", "7177"))
             for k, a in enumerate(answers)])
    sp = ablations_report.sequential_parallel(str(run), str(demo))
    assert [(p["chain"], p["max_think"], p["num_wait"], p["accuracy"]) for p in sp["sequential"]] == [
        ("cap", 4, 0, 0.0), ("Waits", 384, 0, 0.5), ("Waits", 384, 1, 1.0)]
    assert [(p["k"], p["accuracy"], p["thinking_tokens_per_question"]) for p in sp["parallel"]] == [
        (1, 0.5, 12.0), (2, 0.5, 24.0), (4, 0.5, 48.0)]
    assert [(p["k"], p["accuracy"], p["thinking_tokens_per_question"]) for p in sp["hybrid"]] == [
        (1, 1.0, 20.0), (2, 1.0, 40.0), (4, 1.0, 80.0)]
    matched = {m["budget"]: (m["sequential_accuracy"], m["parallel_accuracy"], m["hybrid_accuracy"], m["winner"])
               for m in sp["matched"]}
    both = ["sequential", "hybrid"]
    assert matched == {4.0: (0.0, None, None, ["sequential"]), 10.0: (0.5, None, None, ["sequential"]),
                       12.0: (0.5, 0.5, None, ["sequential", "parallel"]), 20.0: (1.0, 0.5, 1.0, both),
                       24.0: (1.0, 0.5, 1.0, both), 40.0: (1.0, 0.5, 1.0, both), 48.0: (1.0, 0.5, 1.0, both),
                       80.0: (1.0, 0.5, 1.0, both)}
    a = sp["analysis"]
    assert a["sample_wait"] == {"samples": 8, "fixed": 3, "broke": 1}
    assert a["k"] == 4 and a["mean_vote_agreement"] == 0.75 and a["unanimous_questions"] == 0
    assert a["sample_accuracy"] == 0.5 and a["right_answer_sampled_but_outvoted"] == 1
    assert a["vote_vs_one_wait"] == {"both right": 1, "only the vote": 0, "only the Wait": 1, "neither": 0}


def test_every_point_fits_the_budget_it_costs(tmp_path):
    """A chain whose thinking per question is a repeating decimal (31/3) still counts within the
    budget it spends itself: the budgets are exact, not rounded (rounded to 10.3, the Wait chain
    lost to the vote at its own cost)."""
    import ablations_report

    def rows(num_wait, tokens, answers, sample=None):
        return [{"id": f"q{i}", "gold": "7", "extracted": a, "correct": a == "7", "max_think": 384, "num_wait": num_wait,
                 "min_think": 0, "sample": sample or 0, "thinking_tokens": t, "closed_itself": True}
                for i, (t, a) in enumerate(zip(tokens, answers))]

    for folder, samples in (("demo/eval", rows(0, [5, 5, 5], "711") + rows(1, [10, 10, 11], "777")),
                            ("run/parallel", rows(0, [9, 9, 9], "771"))):
        os.makedirs(tmp_path / folder)
        with open(tmp_path / folder / "samples.jsonl", "w") as f:
            f.write("".join(json.dumps(r) + "\n" for r in samples))
    sp = ablations_report.sequential_parallel(str(tmp_path / "run"), str(tmp_path / "demo"))
    at_wait = next(m for m in sp["matched"] if abs(m["budget"] - 31 / 3) < 1e-9)
    assert at_wait["sequential_accuracy"] == 1.0 and at_wait["winner"] == ["sequential"]


def test_smoke_traces_page_in_chromium(smoke_run):
    """The page run.sh writes from the demo's own samples: what each forced span cuts out of the
    response is what was forced, and Chromium shows every generation's cell and no error."""
    from test_traces import dump_dom, errors_shown

    out, _, r = smoke_run
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    rows = [json.loads(line) for line in open(out / "eval" / "samples.jsonl")]
    kinds = {"cap": 0, "wait": 0, "delimiter": 0}
    for row in rows:
        for s in row["forced_spans"]:
            text = row["response"][s["start"]:s["end"]]
            kinds[s["kind"]] = kinds.get(s["kind"], 0) + 1
            if s["kind"] == "wait":  # the string, or the start of it where the cap cut it; with no string, a token of the model's
                assert text and row["wait_str"].startswith(text) if row["wait_str"] else text, (row["id"], s, text)
            else:
                assert text in {"cap": ["\n<|im_start|>answer\nFinal Answer:"], "answer_cap": ["<|im_end|>"],
                                "delimiter": ["answer\n", "\n<|im_start|>answer\n"]}[s["kind"]], (row["id"], s, text)
        assert sum(s["kind"] == "wait" for s in row["forced_spans"]) == row["waits"]
    # The smoke model (3 steps) may never try to stop within its caps, so only the cap is certain
    # here; every kind's spans on chosen scores: test_decode_tree's scripted test, on the model:
    # test_budget_force's fuzzed control.
    assert kinds["cap"] > 0
    dom = dump_dom(str(out / "eval" / "traces.html"))
    assert errors_shown(dom) == ""
    assert len(re.findall(r'<td class="c (?:ok|bad)', dom)) == len(rows)


def test_table2_evaluations_share_flags_and_one_tree(tmp_path):
    """`DRY_RUN=1 PARTS=A bash run.sh ablations smoke`: the base row is evaluated with exactly the
    arms' evaluation flags (the warmed-up base, both test sets, the cap), and every Table 2
    evaluation puts all test questions in one decode tree (a second, nearly empty tree repeats the
    model's per-step cost for a handful of rows)."""
    out = tmp_path / "ablations"
    env = {k: v for k, v in os.environ.items() if k not in ("MODEL", "STAGES")}
    env.update(SKIP_SETUP="1", PYTHON=sys.executable, OUT=str(out), DEMO_OUT=str(tmp_path / "smoke"), DRY_RUN="1",
               PARTS="A")
    r = subprocess.run(["bash", "run.sh", "ablations", "smoke"], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    commands = [line[2:].split() for line in r.stdout.splitlines() if line.startswith("+ ")]
    by_out = {c[c.index("--out") + 1]: c for c in commands if "--out" in c}
    sel = out / "selection"
    data = by_out[str(sel / "data")]
    per_domain = int(data[data.index("--test-per-domain") + 1])

    def flags(cmd):  # evaluate.py's flags as argparse reads them (the last of a repeated flag wins), less model and out
        parsed, i = {}, cmd.index("evaluate.py") + 1
        while i < len(cmd):
            parsed[cmd[i]] = cmd[i + 1]
            i += 2
        return {k: v for k, v in parsed.items() if k not in ("--model", "--out")}

    base = by_out[str(sel / "base" / "eval")]
    assert base[base.index("--model") + 1] == str(sel / "warmup")
    for arm in ("s1-s0", "random-s0", "full-steps-s0", "full-epochs-s0"):
        arm_eval = by_out[str(sel / arm / "eval")]
        assert flags(arm_eval) == flags(base), arm
    assert int(flags(base)["--batch-size"]) >= 4 * per_domain  # hard and broad, two domains each
    assert not (out / "selection").exists()  # printed, not run


def test_experiment_2_runs_the_registered_design(tmp_path):
    """`DRY_RUN=1 PARTS=A2 bash run.sh ablations`: experiment 2 as docs/ablations.md registered it
    before it ran: A's warmed-up base, pool and test sets; every selection 5 epochs of its 48 rows
    (60 steps at batch 4), the whole pool the same 60 steps; a cap of 320, all test questions in
    one tree; s1 and random at seeds 0-4, diverse and longest at 0-2, full-steps at 0."""
    out = tmp_path / "ablations"
    env = {k: v for k, v in os.environ.items() if k not in ("MODEL", "STAGES", "A2_ARMS", "A2_SEEDS")}
    env.update(SKIP_SETUP="1", PYTHON=sys.executable, OUT=str(out), DEMO_OUT=str(tmp_path / "demo"), DRY_RUN="1",
               PARTS="A2")
    r = subprocess.run(["bash", "run.sh", "ablations"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    commands = [line[2:].split() for line in r.stdout.splitlines() if line.startswith("+ ")]

    def flag(cmd, name):  # the last of a repeated flag wins, as argparse reads it
        return [cmd[i + 1] for i, c in enumerate(cmd) if c == name][-1]

    long = out / "selection-long"
    trains = {flag(c, "--out"): c for c in commands if "train.py" in c and str(long) in flag(c, "--out")}
    evals = {flag(c, "--out"): c for c in commands if "evaluate.py" in c and str(long) in flag(c, "--out")}
    runs = {os.path.basename(os.path.dirname(o)) for o in trains}
    assert runs == {f"{a}-s{s}" for a in ("s1", "random") for s in range(5)} | \
        {f"{a}-s{s}" for a in ("diverse", "longest") for s in range(3)} | {"full-steps-s0"}
    for out_dir, cmd in trains.items():
        assert flag(cmd, "--model") == str(out / "selection" / "warmup")
        assert flag(cmd, "--epochs") == "5" and flag(cmd, "--batch-size") == "4"
        if "full-steps" in out_dir:
            assert flag(cmd, "--max-steps") == "60" and flag(cmd, "--data").endswith("full/s1k.jsonl")
        else:
            assert "--max-steps" not in cmd
    assert len(evals) == len(trains)
    assert all(flag(c, "--max-think") == "320" and flag(c, "--batch-size") == "80" for c in evals.values())
    assert not out.exists() or not long.exists()  # printed, not run
    # A2_ARMS / A2_SEEDS run a part (one process per arm, say) into the same folders
    env.update(A2_ARMS="random", A2_SEEDS="3 4")
    r = subprocess.run(["bash", "run.sh", "ablations"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    part = [line for line in r.stdout.splitlines() if line.startswith("+ ") and "train.py" in line and str(long) in line]
    assert [os.path.basename(os.path.dirname(line.split("--out ")[1].split()[0])) for line in part] == \
        ["random-s3", "random-s4"]
