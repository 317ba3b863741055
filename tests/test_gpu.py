"""GPU checks, skipped without CUDA (CI has no GPU). On a machine with one:

    python -m pytest tests/test_gpu.py -v

train.py under FSDP2 with configs/fsdp.yaml (one process holds one shard, the whole model, but the
wrapping, the gathered HF checkpoint and the sharded resume state are the real code path; sharding
across 2 processes runs on the CPU in tests/test_train.py):
same loss curve as a plain single-GPU run, a checkpoint that reloads, resume after kill -9. Then
budget_force.py and evaluate.py on CUDA (bf16 as load_model picks it, and float32 against generate()).

The model is a tiny random-weight Qwen2 (the paper's model family) with SmolLM2's tokenizer and its
vocabulary padded past the tokenizer as Qwen's is. The tokenizer comes from the embedded GGUF, or
from the folder in $S1_TEST_TOKENIZER where the GGUF is not installed.
"""
import json
import os
import random
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

import budget_force as bf
import decode_tree as dt

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUESTIONS = ["12+34?", "507+68?", "9+990?", "250+250?"]
# float32 throughout so that the FSDP and plain curves can be compared tightly; 120 steps so that a
# kill lands long before the end (a step takes milliseconds here).
RUN = ["--batch-size", "8", "--micro-batch-size", "2", "--max-steps", "120", "--epochs", "100", "--lr", "2e-3",
       "--mixed-precision", "no", "--block-size", "256"]
FSDP = ["-m", "accelerate.commands.launch", "--config_file", os.path.join(ROOT, "configs", "fsdp.yaml"),
        "--num_processes", "1", "--main_process_port", "29541"]


def run_py(*args, **kw):
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=600, **kw)


def process_tree(pid):
    """pid and all its descendants, from /proc (torchrun starts its workers in their own sessions,
    so killing the launcher's process group leaves the worker training)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        tree.append(todo.pop())
        todo += children.get(tree[-1], [])
    return tree


def read_log(out):
    with open(os.path.join(out, "train_log.jsonl")) as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    folder = os.environ.get("S1_TEST_TOKENIZER")
    if folder:
        return AutoTokenizer.from_pretrained(folder)
    from conftest import EMBEDDED_GGUF, embedded_gguf_path

    return AutoTokenizer.from_pretrained(os.path.dirname(embedded_gguf_path()), gguf_file=EMBEDDED_GGUF)


@pytest.fixture(scope="module")
def tiny_qwen(tokenizer, tmp_path_factory):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=len(tokenizer) + 64, hidden_size=128, intermediate_size=256, num_hidden_layers=4,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    path = tmp_path_factory.mktemp("tiny") / "tiny-qwen2"
    Qwen2ForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Additions with a digit-per-line trace, in the s1K schema."""
    r = random.Random(0)
    path = tmp_path_factory.mktemp("data") / "add.jsonl"
    with open(path, "w") as f:
        for _ in range(64):
            a, b = r.randint(10, 999), r.randint(10, 999)
            f.write(json.dumps({"question": f"{a}+{b}?", "thinking_trajectories": [" ".join(str(a + b))],
                                "attempt": f"Final Answer: {a + b}"}) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def fsdp_run(tiny_qwen, data, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("fsdp"))
    r = run_py(*FSDP, "train.py", "--model", tiny_qwen, "--data", data, "--out", out, *RUN)
    assert r.returncode == 0, r.stderr[-4000:]
    return out


def test_fsdp_follows_the_single_gpu_curve_and_saves_a_full_checkpoint(fsdp_run, tiny_qwen, data, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    plain = str(tmp_path / "plain")
    r = run_py("train.py", "--model", tiny_qwen, "--data", data, "--out", plain, *RUN)
    assert r.returncode == 0, r.stderr[-4000:]
    a, b = read_log(fsdp_run), read_log(plain)
    assert [x["step"] for x in a] == list(range(1, 121))
    for x, y in zip(a, b):
        assert x["loss"] == pytest.approx(y["loss"], rel=2e-3, abs=2e-3), (x, y)
    assert sum(x["loss"] for x in a[-5:]) < 0.5 * sum(x["loss"] for x in a[:5])
    # The gathered checkpoint is a plain HF model: every parameter, no FSDP wrapper names.
    fsdp_model = AutoModelForCausalLM.from_pretrained(fsdp_run, dtype=torch.float32).cuda().eval()
    plain_model = AutoModelForCausalLM.from_pretrained(plain, dtype=torch.float32).cuda().eval()
    start = AutoModelForCausalLM.from_pretrained(tiny_qwen, dtype=torch.float32)
    assert set(fsdp_model.state_dict()) == set(start.state_dict())
    tok = AutoTokenizer.from_pretrained(fsdp_run)
    ids = torch.tensor([bf.encode(tok, bf.build_prompt(tok, "12+34?"))]).cuda()
    with torch.no_grad():
        diff = (fsdp_model(ids).logits - plain_model(ids).logits).abs().max().item()
        moved = (fsdp_model(ids).logits - start.cuda()(ids).logits).abs().max().item()
    print(f"FSDP vs plain final logits: max |diff| {diff:.2e} (training moved them by {moved:.2f})")
    assert diff < 1e-2 * moved


def test_fsdp_resume_after_kill_continues_the_same_run(fsdp_run, tiny_qwen, data, tmp_path):
    out = str(tmp_path / "killed")
    cmd = [sys.executable, *FSDP, "train.py", "--model", tiny_qwen, "--data", data, "--out", out, *RUN, "--save-every", "10"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = os.path.join(out, "checkpoint", "trainer_state.json")
    try:
        deadline = time.time() + 300
        while not os.path.exists(state) and proc.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None, "finished before it could be killed"
        tree = process_tree(proc.pid)
        for pid in tree:  # the launcher and its worker, at once: a crashed node
            os.kill(pid, signal.SIGKILL)
        assert len(tree) >= 2, "no worker process found under the launcher"
    finally:
        proc.wait()
    killed_at = len(read_log(out))
    assert killed_at < 120
    r = run_py(*cmd[1:], "--resume")
    assert r.returncode == 0, r.stderr[-4000:]
    resumed_at = re.search(r"resumed from \S+ at step (\d+)", r.stdout)
    assert resumed_at, r.stdout[-2000:]
    print(f"killed after {killed_at} logged steps, resumed at step {resumed_at[1]}")
    resumed, straight = read_log(out), read_log(fsdp_run)
    assert [x["step"] for x in resumed] == list(range(1, 121))
    for a, b in zip(straight, resumed):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-3, abs=1e-4), (a, b)
        assert b["lr"] == pytest.approx(a["lr"])


def test_fsdp_bf16_as_configured(tiny_qwen, data, tmp_path):
    out = str(tmp_path / "bf16")
    flags = [f for f in RUN if f not in ("--mixed-precision", "no", "--max-steps", "120")]
    r = run_py(*FSDP, "train.py", "--model", tiny_qwen, "--data", data, "--out", out, *flags, "--max-steps", "40")
    assert r.returncode == 0, r.stderr[-4000:]
    log = read_log(out)
    assert len(log) == 40 and log[-1]["loss"] < 0.6 * log[0]["loss"], log


def check_control(results, max_think, max_answer):
    for r in results:
        assert r["thinking_tokens"] <= max_think and r["answer_tokens"] <= max_answer
        if r["forced_stop"]:
            assert r["thinking_tokens"] == max_think and bf.FINAL_ANSWER in r["text"]


def test_budget_force_on_cuda_bf16_and_matches_generate_in_float32(fsdp_run):
    from transformers import AutoModelForCausalLM, LogitsProcessorList

    model, tok = bf.load_model(fsdp_run)
    assert model.device.type == "cuda" and model.dtype == torch.bfloat16
    for kwargs in (dict(max_think=6, max_answer=8), dict(max_think=24, min_think=12, num_wait=1, max_answer=8)):
        check_control(bf.budget_force(model, tok, QUESTIONS, **kwargs), kwargs["max_think"], kwargs["max_answer"])

    model = AutoModelForCausalLM.from_pretrained(fsdp_run, dtype=torch.float32).cuda().eval()
    kwargs = dict(max_think=16, min_think=4, num_wait=1, max_answer=8)
    results = bf.budget_force(model, tok, QUESTIONS[:3], **kwargs)
    check_control(results, 16, 8)
    forcer = bf.BudgetForcer(tok, model=model, **kwargs)
    ids, mask = dt.left_pad([bf.encode(tok, r["prompt"]) for r in results], tok.pad_token_id)
    out = model.generate(ids.cuda(), attention_mask=mask.cuda(), logits_processor=LogitsProcessorList([forcer]),
                         do_sample=False, max_new_tokens=forcer.max_new_tokens, pad_token_id=tok.pad_token_id)
    for i, r in enumerate(results):
        generated = out[i, ids.shape[1]:].tolist()
        assert generated[:len(r["completion_ids"])] == r["completion_ids"]
    print("sample:", repr(results[0]["text"][:200]))


def test_evaluate_cli_on_cuda(fsdp_run, tmp_path):
    eval_set = tmp_path / "eval.jsonl"
    eval_set.write_text("".join(json.dumps({"question": q, "answer": str(eval(q[:-1]))}) + "\n" for q in QUESTIONS))
    out = str(tmp_path / "eval")
    r = run_py("evaluate.py", "--dataset", str(eval_set), "--model", fsdp_run, "--max-think", "4", "16",
               "--max-answer", "8", "--out", out)
    assert r.returncode == 0, r.stderr[-4000:]
    summary = json.load(open(os.path.join(out, "summary.json")))
    assert [row["max_think"] for row in summary["rows"]] == [4, 16]
    assert all(row["within_budget"] == 1.0 for row in summary["rows"])
    assert os.path.getsize(os.path.join(out, "scaling.png")) > 0
