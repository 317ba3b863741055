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
