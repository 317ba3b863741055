"""`bash run.sh s1` at toy scale on a CPU: the same scripts/s1.sh and its three stages (data ->
train -> evaluate), with only sizes and sources swapped through its knobs:
- a tiny random model built from a Qwen2 config (GQA: 4 query heads share 2 KV heads, as
  Qwen2.5's 40 share 8) with a ChatML tokenizer (Qwen2.5-Instruct's template on SmolLM2's BPE);
- a few rows in the s1K-1.1 schema, written locally as parquet (the hub's file format);
- AIME24 and MATH500 from ../shared/data when present, small fixtures of the same shape otherwise;
- accelerate with one CPU process, training under the recipe's FSDP config (FSDP2 over gloo, one
  shard; tests/test_train.py runs it with two);
- the evaluation with its caps and forced Waits.
"""
import json
import os
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, SHARED_DATA, truncated_tokenizer
from test_formats import QWEN25_TEMPLATE

# The s1K-1.1 schema (simplescaling/s1K-1.1's parquet columns)
S1K_11_FIELDS = ("solution", "question", "cot_type", "source_type", "metadata", "gemini_thinking_trajectory",
                 "gemini_attempt", "deepseek_thinking_trajectory", "deepseek_attempt")
EVAL_SETS = ("aime24", "math500")
TOY = {"THINK_CAPS": "4 8 16", "WAIT_CAP": "24", "TRAIN_ARGS": "--max-steps 2 --batch-size 2 --block-size 256",
       "EVAL_ARGS": "--limit 2 --max-answer 8 --batch-size 2"}


def tiny_qwen2(tokenizer, talk_ids, seed=0):
    """A 2-layer Qwen2 with random weights whose next token is one of `talk_ids` (the output head
    scores only those), so greedy decoding often picks <|im_start|> (an attempt to end thinking in
    s1 format) or <|im_end|>: the end attempts that forced Waits replace."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                         tie_word_embeddings=False, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(config).eval()
        with torch.no_grad():
            head = model.lm_head.weight
            rows = torch.randn(len(talk_ids), head.shape[1]) * 3
            head.fill_(0.0)
            head[torch.tensor(talk_ids)] = rows
    return model


@pytest.fixture(scope="module")
def toy(smol, tmp_path_factory):
    """(folder of the base model, s1K-1.1 rows, folder of eval sets)."""
    root = tmp_path_factory.mktemp("s1_toy")
    tok = truncated_tokenizer(smol[1], 4096)
    tok.chat_template = QWEN25_TEMPLATE
    talk = [tok.convert_tokens_to_ids(t) for t in ("<|im_start|>", "<|im_end|>")]
    talk += [tok.encode(w, add_special_tokens=False)[0] for w in (" so", " 4", " the", " is", "\n", " 2")]
    base = root / "base"
    tiny_qwen2(tok, talk).save_pretrained(base)
    tok.save_pretrained(base)

    import pyarrow as pa
    import pyarrow.parquet as pq
    rows = [{"solution": f"{a} + {b} = {a + b}", "question": f"What is {a} + {b}?", "cot_type": "math",
             "source_type": "toy", "metadata": "{}", "gemini_thinking_trajectory": f"{a} plus {b}.",
             "gemini_attempt": f"{a + b}", "deepseek_thinking_trajectory": f"Add {a} and {b}: {a + b}. Wait, check: {a + b}.",
             "deepseek_attempt": f"The answer is $\\boxed{{{a + b}}}$."} for a, b in [(2, 3), (4, 5), (7, 1), (6, 6)]]
    assert set(rows[0]) == set(S1K_11_FIELDS)
    data = root / "s1K-1.1.parquet"
    pq.write_table(pa.Table.from_pylist(rows), data)

    evals = root / "eval"
    evals.mkdir()
    for name in EVAL_SETS:
        shared = os.path.join(SHARED_DATA, f"{name}.jsonl")
        if os.path.isfile(shared):  # the real sets; the recipe's --limit takes the first two
            (evals / f"{name}.jsonl").symlink_to(os.path.abspath(shared))
        else:  # their shape: problem, solution, answer
            with open(evals / f"{name}.jsonl", "w") as f:
                for i, (q, a) in enumerate([("Find $3 + 4$.", "7"), ("Compute $10 - 8$.", "2")]):
                    f.write(json.dumps({"id": i, "problem": q, "solution": f"${a}$", "answer": a}) + "\n")
    return str(base), str(data), str(evals)


def run_recipe(toy, out):
    base, data, evals = toy
    # PYTHON: the recipe's stages, accelerate's launcher included, run with the python running the tests
    # (no activated venv needed)
    env = {**os.environ, **TOY, "SKIP_SETUP": "1", "PYTHON": sys.executable, "OUT": str(out), "MODEL": base, "DATA": data, "NGPU": "1",
           "EVAL_SETS": " ".join(EVAL_SETS), "EVAL_DIR": evals, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "HF_HOME": str(out / "hf"), "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    return subprocess.run(["bash", "run.sh", "s1"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_s1_recipe_end_to_end_at_toy_scale(toy, tmp_path):
    out = tmp_path / "s1"
    proc = run_recipe(toy, out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    # training: two steps on the local rows, the result saved where evaluation reads it
    summary = json.load(open(out / "train" / "train_summary.json"))
    assert summary["steps"] == 2 and summary["args"]["data"] == toy[1] and summary["args"]["format"] == "s1"
    assert "format: s1 (auto:" in log
    for name in EVAL_SETS:
        caps = json.load(open(out / "eval" / name / "summary.json"))
        assert caps["config"]["model"] == str(out / "train") and caps["config"]["format"] == "s1"
        samples = [json.loads(line) for line in open(out / "eval" / name / "samples.jsonl")]
        assert {s["max_think"] for s in samples} == {4, 8, 16} and len(samples) == 2 * 3
        assert all(s["thinking_tokens"] <= s["max_think"] for s in samples)
        waits = [json.loads(line) for line in open(out / "eval" / f"{name}-wait" / "samples.jsonl")]
        assert {(s["max_think"], s["num_wait"]) for s in waits} == {(24, n) for n in (0, 2, 4, 6)}
        assert any(s["waits"] > 0 for s in waits)  # forced Waits happened
        assert all(s["waits"] <= s["num_wait"] for s in waits)
    timings = open(out / "timings.txt").read()
    assert all(f"eval-{name}-wait" in timings for name in EVAL_SETS) and "train " in timings


def pool_rows():
    """A toy pool in data_ablation_full59K's schema (question, thinking_trajectories as a list,
    attempt) with a domain column, so no domain model runs: 8 good rows over two domains, traces of
    growing length; one the base already solves (in ATTEMPTS), the longest good trace; one an API
    error (the quality filter's bait), longer still, so an arm without the filter would take it."""
    rows = []
    for k in range(8):
        a, b = 10 + k, 3 * k + 1
        rows.append({"question": f"Add {a} and {b} together, then report the sum.", "solution": str(a + b),
                     "attempt": f"The answer is {a + b}.", "domain": "algebra" if k % 2 else "geometry",
                     "thinking_trajectories": [" ".join(["step"] * (5 + 3 * k)) + f" so {a + b}"]})
    rows.append({"question": "Multiply 7 by 9 and say what it gives.", "solution": "63", "attempt": "63",
                 "domain": "algebra", "thinking_trajectories": [" ".join(["check"] * 60) + " so 63"]})
    rows.append({"question": "Divide 81 by 9, then state the quotient.", "solution": "9", "attempt": "9",
                 "domain": "geometry", "thinking_trajectories": ["API error: rate limit exceeded " + "x " * 80]})
    return rows


def test_table2_arms_at_toy_scale(toy, tmp_path):
    """ARMS="s1 longest full" bash run.sh s1: each arm's data built from the pool by curate.py with
    the paper's definitions (only s1 gets the difficulty filter; every arm the quality filter; full
    keeps the whole filtered pool), trained and evaluated into runs/s1/<arm>/, one table. random and
    diverse take longest's path with another --strategy: checked as the commands they run."""
    base, _, evals = toy
    pool, attempts = tmp_path / "pool.jsonl", tmp_path / "attempts.jsonl"
    rows = pool_rows()
    pool.write_text("".join(json.dumps(r) + "\n" for r in rows))
    solved, bait = rows[8]["question"], rows[9]["question"]
    attempts.write_text(json.dumps({"question": solved, "correct": True}) + "\n"
                        + json.dumps({"question": rows[0]["question"], "correct": False}) + "\n")
    out = tmp_path / "s1"
    env = {**os.environ, **TOY, "SKIP_SETUP": "1", "OUT": str(out), "MODEL": base, "NGPU": "1",
           "ARMS": "s1 longest full", "POOL": str(pool), "ATTEMPTS": str(attempts), "ARM_SIZE": "3",
           "EVAL_SETS": "aime24", "EVAL_DIR": evals, "THINK_CAPS": "4 8", "EVAL_ARGS": "--limit 1 --max-answer 4",
           "TRAIN_ARGS": "--max-steps 1 --batch-size 1 --block-size 128", "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(out / "hf"), "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1",
           "PYTHON": sys.executable, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    proc = subprocess.run(["bash", "run.sh", "s1"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    picked = {}
    for arm in ("s1", "longest", "full"):
        data = [json.loads(line) for line in open(out / arm / "data" / "s1k.jsonl")]
        picked[arm] = [r["question"] for r in data]
        stages = {s["stage"]: s for s in json.load(open(out / arm / "data" / "s1k.report.json"))["stages"]}
        assert stages["quality"]["dropped"] == {"API error": 1} and bait not in picked[arm], arm  # every arm
        assert stages["difficulty"]["in"] - stages["difficulty"]["out"] == (1 if arm == "s1" else 0), arm
        trained = json.load(open(out / arm / "train" / "train_summary.json"))
        assert trained["args"]["data"] == str(out / arm / "data" / "s1k.jsonl") and trained["args"]["model"] == base
        assert trained["data"]["examples"] == len(data)
        summary = json.load(open(out / arm / "eval" / "aime24" / "summary.json"))
        assert summary["config"]["model"] == str(out / arm / "train") and len(summary["rows"]) == 2
        assert not (out / arm / "eval" / "aime24-wait").exists()  # the arms: the budget-forcing sweep only
    assert len(picked["full"]) == 9 and len(picked["s1"]) == len(picked["longest"]) == 3
    assert solved not in picked["s1"]  # the difficulty filter, s1 alone
    assert solved in picked["longest"] and picked["longest"][0] == solved  # the longest good trace, unfiltered
    table = (out / "table2.txt").read_text().splitlines()
    assert [line.split()[0] for line in table[1:]] == ["s1", "longest", "full"]
    assert "394 H100-hours" in table[-1] and "~7 H100-hours" in table[1]
    # random and diverse: the same curate, train and evaluate commands as longest, their own strategy
    dry = subprocess.run(["bash", "run.sh", "s1"], cwd=ROOT, env={**env, "DRY_RUN": "1", "OUT": str(tmp_path / "dry"),
                         "ARMS": "random diverse longest"}, capture_output=True, text=True, timeout=300)
    assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-3000:]
    curate = {}
    for line in dry.stdout.splitlines():
        if line.startswith("+ ") and "curate.py" in line:
            cmd = line.split()
            curate[cmd[cmd.index("--strategy") + 1]] = cmd
    assert set(curate) == {"random", "diverse", "longest"}
    for strategy, cmd in curate.items():
        assert "--attempts" not in cmd and cmd[cmd.index("--size") + 1] == "3", strategy  # unfiltered, the arm's size
        mask = [c if not c.startswith(str(tmp_path / "dry")) else c.replace(strategy, "ARM") for c in cmd]
        ref = [c if not c.startswith(str(tmp_path / "dry")) else c.replace("longest", "ARM") for c in curate["longest"]]
        assert [c for c in mask if c != strategy] == [c for c in ref if c != "longest"], strategy
    for arm in ("random", "diverse"):
        assert any("train.py" in line and str(tmp_path / "dry" / arm / "data" / "s1k.jsonl") in line
                   for line in dry.stdout.splitlines()), arm


def test_table2_unknown_arm_exits_2(tmp_path):
    env = {**os.environ, "SKIP_SETUP": "1", "OUT": str(tmp_path / "s1"), "NGPU": "1", "ARMS": "s1 best"}
    proc = subprocess.run(["bash", "run.sh", "s1"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.strip() == "error: unknown arm 'best' in ARMS (use: s1 random diverse longest full)"
