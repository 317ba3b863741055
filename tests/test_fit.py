"""Fitting a sweep: the KV cache's bytes per token against a real cache, the default budget on CUDA,
the context check (refused before anything is generated), and the plan scripts/s1.sh's sweeps get
for Qwen2.5-32B-Instruct on one 80 GB GPU, from the model's config numbers alone (no weights).
The tree's grouping itself (same greedy tokens as separate runs) is tested in test_decode_tree.py."""
import json
import os
import re
import shlex
import subprocess
import sys
import types

import pytest
import torch
from transformers import DynamicCache, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

import budget_force as bf
import decode_tree as dt
import evaluate
from conftest import tiny_llama

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("model_class, config, dtype", [
    # GQA as in Qwen2.5 (fewer KV heads than attention heads), in bf16
    (Qwen2ForCausalLM, Qwen2Config(vocab_size=64, hidden_size=64, intermediate_size=64, num_hidden_layers=3,
                                   num_attention_heads=8, num_key_value_heads=2), torch.bfloat16),
    # a head_dim that is not hidden_size / heads (as in Qwen3), float32
    (LlamaForCausalLM, LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, head_dim=16), torch.float32),
])
def test_kv_bytes_per_token_is_what_the_cache_holds(model_class, config, dtype):
    with torch.random.fork_rng():
        model = model_class(config).to(dtype).eval()
    cache, tokens = DynamicCache(config=config), 7
    with torch.no_grad():
        model(input_ids=torch.arange(tokens)[None] % 64, cache=cache, use_cache=True)
    held = sum(t.numel() * t.element_size() for layer in cache.layers for t in (layer.keys, layer.values))
    assert held == tokens * dt.kv_bytes_per_token(model.config, model.dtype)


def test_default_budget_on_cuda_is_free_memory_after_loading_less_headroom(monkeypatch):
    """mem_get_info's free bytes, plus what torch's allocator holds without a tensor in it (an
    earlier tree's cache, reused by the next), less the headroom. Elsewhere: CPU_CACHE_BYTES."""
    gib = 2**30
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (14 * gib, 80 * gib))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device=None: 70 * gib)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device=None: 65 * gib)
    on_gpu = types.SimpleNamespace(device=torch.device("cuda"))
    assert dt.default_cache_bytes(on_gpu) == (14 + 5) * gib - dt.CUDA_HEADROOM
    assert dt.default_cache_bytes(types.SimpleNamespace(device=torch.device("cpu"))) == dt.CPU_CACHE_BYTES


# -----------------------------------------------------------------------------
# the context: refused before any generation

@pytest.fixture(scope="module")
def short_context(smol):
    """A tiny Llama on SmolLM2's tokenizer whose config says its context is 80 tokens."""
    _, tokenizer = smol
    model = tiny_llama(tokenizer, bf.encode(tokenizer, "Wait the answer is 42") + [tokenizer.eos_token_id])
    model.config.max_position_embeddings = 80
    return model, tokenizer


def test_context_check_refuses_before_any_generation(short_context):
    model, tokenizer = short_context
    prompt = len(bf.encode(tokenizer, bf.build_prompt(tokenizer, "What is 2+2?")))
    closing = bf.BudgetForcer(tokenizer, max_think=0, max_answer=1).max_new_tokens - 1
    fits = 80 - prompt - closing - 4  # the largest max_think that fits with max_answer 4
    dt.check_context(model, tokenizer, prompt, fits, 4, "auto")  # exactly the context: fits
    message = (rf"a prompt of {prompt} tokens \+ max_think {fits + 1} \+ {closing} for the end-of-thinking delimiter "
               rf"\+ max_answer 4 = 81 tokens, over the model's context of 80 \(max_position_embeddings\); the largest "
               rf"max_think that fits is {fits} \(nothing was generated\)")
    # budget_force.py's own check (the file stands alone) says the same numbers in fewer words
    alone = (rf"a prompt of {prompt} tokens \+ up to {fits + 1 + closing + 4} generated \(max_think {fits + 1}, the "
             rf"delimiter, max_answer 4\) is over the model's context of 80; the largest max_think that fits is {fits} "
             rf"\(nothing was generated\)")
    with pytest.raises(ValueError, match=alone):
        bf.budget_force(model, tokenizer, ["What is 2+2?"], max_think=fits + 1, max_answer=4)
    assert bf.budget_force(model, tokenizer, ["What is 2+2?"], max_think=fits, max_answer=4)  # exactly the context
    finished = []
    with pytest.raises(ValueError, match=message):
        dt.budget_force_tree(model, tokenizer, ["What is 2+2?"], [{"max_think": 2}, {"max_think": fits + 1, "num_wait": 1}],
                             max_answer=4, on_result=lambda *a: finished.append(a))
    assert finished == []  # refused before the short setting could finish
    # With Waits in the sweep the cap still bounds the row (forced Waits are thinking tokens): it runs.
    tree = dt.budget_force_tree(model, tokenizer, ["What is 2+2?"], [{"max_think": fits, "num_wait": 3}], max_answer=4)
    assert len(tree[0][0][0]["completion_ids"]) + prompt <= 80


def test_context_falls_back_to_a_sane_tokenizer_limit():
    model = types.SimpleNamespace(config=types.SimpleNamespace())  # a config without max_position_embeddings
    assert dt.context_length(model, types.SimpleNamespace(model_max_length=4096)) == (4096, "the tokenizer's model_max_length")
    assert dt.context_length(model, types.SimpleNamespace(model_max_length=int(1e30))) == (None, None)  # "no limit known"
    model.config.max_position_embeddings = 32768
    assert dt.context_length(model, types.SimpleNamespace(model_max_length=131072))[0] == 32768


def test_evaluate_refuses_an_overflowing_sweep_in_one_line_and_prints_its_plan_once(smol_dir, tmp_path):
    """Every question is checked before any is generated: here the short one, first in its own
    batch, would fit; the long one, in the second batch, would not."""
    data = tmp_path / "q.jsonl"
    questions = ("What is 2+2?", "What is 2+2? " * 40)
    data.write_text("".join(json.dumps({"question": q, "answer": "4"}) + "\n" for q in questions))
    base = [sys.executable, os.path.join(ROOT, "evaluate.py"), "--dataset", str(data), "--model", smol_dir,
            "--max-answer", "2", "--batch-size", "1"]
    refused = subprocess.run(base + ["--max-think", "2", "8100", "--out", str(tmp_path / "long")], capture_output=True,
                             text=True, timeout=600, cwd=ROOT)
    assert refused.returncode == 2
    assert re.fullmatch(r"error: a prompt of \d+ tokens \+ max_think 8100 .* over the model's context of 8192 "
                        r"\(max_position_embeddings\); the largest max_think that fits is \d+ \(nothing was generated\)",
                        refused.stderr.strip().splitlines()[-1])  # after the loading bar
    assert "Traceback" not in refused.stderr
    samples = tmp_path / "long" / "samples.jsonl"
    assert not samples.exists() or not samples.read_text()
    # A budget of about one row (SmolLM2: 46,080 bytes a token, rows of ~50 tokens): one setting a tree.
    ran = subprocess.run(base + ["--max-think", "2", "4", "--limit", "1", "--cache-gb", "0.0025", "--out", str(tmp_path / "grouped")],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert ran.returncode == 0, ran.stderr
    plans = [line for line in ran.stderr.splitlines() if line.startswith("decode-tree plan:")]
    assert len(plans) == 1 and plans[0].startswith("decode-tree plan: 2 groups of settings: 1 setting (max_think 4), "
                                                   "1 question per tree"), plans
    assert len(evaluate.read_samples(tmp_path / "grouped" / "samples.jsonl")) == 2


# -----------------------------------------------------------------------------
# the paper's recipe on paper: scripts/s1.sh's sweeps, Qwen2.5-32B-Instruct, one 80 GB GPU

QWEN25_32B = Qwen2Config(num_hidden_layers=64, num_key_value_heads=8, num_attention_heads=40, hidden_size=5120,
                         max_position_embeddings=32768)  # config numbers only: no weights, no hub
GPU_BYTES, WEIGHT_BYTES = 80 * 10**9, 65 * 10**9        # an 80 GB GPU holding the model's ~65 GB of bf16 weights
CLOSING = 5  # max_new_tokens - max_think - max_answer: 1 + "\n<|im_start|>answer\n" (4 tokens in Qwen2.5's vocabulary)


def s1_sweeps():
    """The evaluate.py calls of `bash run.sh s1` on AIME24 as its dry run prints them (its knobs at
    their defaults), parsed by evaluate.py's own parser: [(args, settings)]."""
    env = {k: v for k, v in os.environ.items() if k not in ("THINK_CAPS", "WAIT_CAP", "EVAL_ARGS", "EVAL_SETS")}
    ran = subprocess.run(["bash", "run.sh", "s1"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env=env | {"DRY_RUN": "1", "SKIP_SETUP": "1", "NGPU": "8", "OUT": "/nonexistent/s1"})
    assert ran.returncode == 0, ran.stderr
    calls = [line.split("evaluate.py", 1)[1] for line in ran.stdout.splitlines()
             if "evaluate.py --" in line and "--dataset aime24 " in line]
    sweeps = []
    for call in calls:
        args = evaluate.parse_args(shlex.split(call))
        sweeps.append((args, evaluate.sweep_settings(args.max_think, args.num_wait, args.min_think, args.wait_str)))
    return sweeps


def test_s1_sweeps_fit_qwen25_32b_on_an_80gb_gpu():
    per_token = dt.kv_bytes_per_token(QWEN25_32B, torch.bfloat16)
    assert per_token == 256 * 2**10  # 64 layers x 8 KV heads x 128 x (K, V) x 2 bytes
    budget = dt.cache_budget(GPU_BYTES - WEIGHT_BYTES)
    assert 11.9 * 2**30 < budget < 12 * 2**30
    context, source = dt.context_length(types.SimpleNamespace(config=QWEN25_32B))
    (caps, cap_settings), (waits, wait_settings) = s1_sweeps()
    assert [s["max_think"] for s in cap_settings] == [512, 1024, 2048, 4096, 8192]
    assert [s["num_wait"] for s in wait_settings] == [0, 2, 4, 6]

    # The context: the longest prompt the Wait sweep admits, and the old 32768 cap refused for any prompt.
    cap = wait_settings[0]["max_think"]
    longest = context - (cap + CLOSING + waits.max_answer)
    assert longest >= 2000  # room for the longest prompts: MATH500's is ~950 tokens
    for args, settings in ((caps, cap_settings), (waits, wait_settings)):
        for s in settings:
            assert dt.context_overflow(longest, s["max_think"], s["max_think"] + CLOSING + args.max_answer,
                                       args.max_answer, context, source) is None
    assert dt.context_overflow(1, 32768, 32768 + CLOSING + 512, 512, context, source)
    assert dt.context_overflow(longest + 1, cap, cap + CLOSING + 512, 512, context, source)

    def plan(args, settings, prompt):
        return dt.plan_tree([s["max_think"] + CLOSING + args.max_answer for s in settings], prompt, args.batch_size,
                            args.samples, per_token, budget)

    # The caps: one tree of all five for prompts up to 1,096 tokens (11.85 GiB at 1,000), two
    # groups (the four longest, then 512) up to the longest prompt; never refused.
    assert [len(plan(caps, cap_settings, prompt).groups) for prompt in (1096, 1097)] == [1, 2]
    one = plan(caps, cap_settings, 1000)
    assert one.groups == [[0, 1, 2, 3, 4]] and one.per_tree == [1] and one.bytes_per_question[0] <= budget
    two = plan(caps, cap_settings, longest)
    assert two.groups == [[1, 2, 3, 4], [0]] and two.per_tree == [1, 8]
    # The Waits at the 30K cap: a row is ~7.7 GiB, so one setting per tree, one question per tree.
    for prompt in (100, longest):
        p = plan(waits, wait_settings, prompt)
        assert p.groups == [[0], [1], [2], [3]] and p.per_tree == [1] * 4
        assert all(7 * 2**30 < size <= budget for size in p.bytes_per_question)
