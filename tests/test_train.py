"""train.py: loss mask, batching, bad input, GGUF checkpoint round trip, loss curve, 2-process DDP
and resume after a kill. Tiny data written here; the multi-step runs use a tiny random-weight
model with SmolLM2's tokenizer so that each run takes seconds on a shared CPU."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rows(n, seed=0):
    """s1K-schema rows: a short addition with a digit-by-digit trace (thinking as a list of str)."""
    import random

    r = random.Random(seed)
    out = []
    for _ in range(n):
        a, b = r.randint(10, 999), r.randint(10, 999)
        out.append({"question": f"{a}+{b}?", "thinking_trajectories": [f"{d}" for d in str(a + b)], "attempt": str(a + b)})
    return out


def write_jsonl(path, items):
    with open(path, "w") as f:
        f.writelines(json.dumps(x) + "\n" for x in items)
    return str(path)


def run_cli(*args, env=None, **kw):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", **(env or {})}
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, env=env, **kw)


def read_log(out):
    with open(os.path.join(out, "train_log.jsonl")) as f:
        return [json.loads(line) for line in f]


def tokenize(tokenizer, row, block_size, **fields):
    """row -> {"input_ids", "labels"} as train.build_dataset makes each example."""
    return train.make_example(*train.render_example(tokenizer, row, **fields), block_size)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread in this process and in the runs it starts (OMP_NUM_THREADS=1 in run_cli):
    on a shared CPU, processes with a thread per core oversubscribe it and run ~10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_dir(smol_tokenizer, tmp_path_factory):
    """A 2-layer, 32-wide Llama with SmolLM2's tokenizer and chat template: random weights, but the
    same code path as a real model, and a training step in milliseconds."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = smol_tokenizer
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, pad_token_id=2)
    path = tmp_path_factory.mktemp("tiny") / "tiny-llama"
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return write_jsonl(tmp_path_factory.mktemp("data") / "tiny.jsonl", rows(16))


# Flags shared by the tiny runs: float32 so the 1- and 2-process curves and the resumed run can be
# compared tightly; lr high enough for a random 2-layer model to learn 16 rows in 20 steps.
TINY = ["--batch-size", "4", "--micro-batch-size", "2", "--max-steps", "20", "--lr", "1e-2",
        "--mixed-precision", "no", "--block-size", "256", "--epochs", "10"]


@pytest.fixture(scope="module")
def one_process_run(tiny_dir, tiny_data, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("run1"))
    r = run_cli("train.py", "--model", tiny_dir, "--data", tiny_data, "--out", out, *TINY)
    assert r.returncode == 0, r.stderr[-3000:]
    return out


# --- formatting and the loss mask ------------------------------------------------------------
def test_mask_covers_whole_assistant_turn_and_nothing_else(smol):
    _, tok = smol
    row = {"question": "What is 2+3?", "thinking_trajectories": ["2 plus 3", "is 5"], "attempt": "5"}
    ex = tokenize(tok, row, block_size=4096)
    ids, labels = ex["input_ids"], ex["labels"]
    assert len(ids) == len(labels)
    prompt = tok.apply_chat_template([{"role": "user", "content": "What is 2+3?"}], tokenize=False, add_generation_prompt=True)
    n_prompt = len(tok(prompt, add_special_tokens=False)["input_ids"])
    assert labels[:n_prompt] == [-100] * n_prompt  # the prompt: nothing trained
    assert labels[n_prompt:] == ids[n_prompt:]  # the assistant turn: every token trained
    text = tok.decode(ids[n_prompt:])
    assert text == "<|im_start|>think\n2 plus 3\nis 5\n<|im_start|>answer\nAnswer: 5<|im_end|>"
    assert ids[-1] == tok.eos_token_id == tok.pad_token_id and labels[-1] == tok.eos_token_id  # learns to stop
    # Same tokens as tokenizing prompt + turn in one go, i.e. what inference sees.
    assert ids == tok(prompt + text, add_special_tokens=False)["input_ids"]


def test_r1_format_and_s1k_1_1_fields(smol):
    _, tok = smol
    row = {"question": "Q", "deepseek_thinking_trajectory": "think hard", "deepseek_attempt": "42",
           "thinking_trajectories": ["other"], "attempt": "other"}
    ex = tokenize(tok, row, 4096, fmt="r1")
    turn = tok.decode([t for t, l in zip(ex["input_ids"], ex["labels"]) if l != -100])
    assert turn == "<think>\nthink hard\n</think>\n\n42<|im_end|>"  # as R1 distills and Qwen3 write it
    ex = tokenize(tok, row, 4096, thinking_field="thinking_trajectories", attempt_field="attempt")
    assert "other" in tok.decode(ex["input_ids"])


def test_truncation_keeps_prompt_and_is_counted(smol):
    _, tok = smol
    long_row = {"question": "Q", "thinking_trajectories": ["step " * 200], "attempt": "1"}
    full = tokenize(tok, long_row, 4096)
    cut = tokenize(tok, long_row, 60)
    assert len(cut["input_ids"]) == 60 and cut["input_ids"] == full["input_ids"][:60] and cut["labels"] == full["labels"][:60]
    examples, stats = train.build_dataset([long_row, rows(1)[0], {"question": "no trace"}], tok, 60)
    assert stats["truncated"] == 1 and stats["examples"] == 2 and stats["skipped"] == 1
    assert "thinking_trajectories" in next(iter(stats["skip_reasons"]))
    with pytest.raises(ValueError, match="no room to train"):
        tokenize(tok, rows(1)[0], 10)
    with pytest.raises(ValueError, match="no trainable rows"):
        train.build_dataset(rows(3), tok, 10)


# --- batching -----------------------------------------------------------------------------------
def test_batches_cover_each_example_once_and_micro_batches_balance():
    batches = train.epoch_batches(203, 16, epoch=0, seed=0)
    assert sorted(i for b in batches for i in b) == list(range(203))
    assert len(batches) == 13 and batches == train.epoch_batches(203, 16, epoch=0, seed=0)
    assert batches != train.epoch_batches(203, 16, epoch=1, seed=0)
    lengths = [(i * 37) % 101 + 1 for i in range(203)]
    batch = batches[0]
    for micro, procs in [(1, 1), (4, 1), (4, 2), (3, 3), (16, 2)]:
        shares = [train.micro_batches(batch, lengths, micro, procs, rank) for rank in range(procs)]
        assert len({len(s) for s in shares}) == 1  # same count everywhere: collectives stay in step
        flat = [mb for s in shares for mb in s]
        assert sorted(i for mb in flat for i in mb) == sorted(batch) and max(len(mb) for mb in flat) <= micro
    loads = [sum(lengths[i] for i in mb) for mb in train.micro_batches(batch, lengths, 4, 1, 0)]
    assert max(loads) - min(loads) <= max(lengths[i] for i in batch)


def test_packing_keeps_attention_within_each_example(smol):
    """A packed row gives each example exactly the logits it gets alone: no padding, no leaks."""
    model, tok = smol
    examples = [tokenize(tok, r, 4096) for r in rows(3, seed=1)]
    b = train.collate(examples, pad_id=tok.pad_token_id)
    assert b["input_ids"].shape == (1, sum(len(e["input_ids"]) for e in examples))  # not one pad token
    assert b["labels"][0].tolist() == [x for e in examples for x in e["labels"]]
    with torch.no_grad():
        # use_cache=False as in training: with a KV cache transformers does not look for packing
        packed = model(input_ids=b["input_ids"], position_ids=b["position_ids"], use_cache=False).logits[0]
        start = 0
        for e in examples:
            alone = model(input_ids=torch.tensor([e["input_ids"]])).logits[0]
            torch.testing.assert_close(packed[start:start + len(alone)], alone, atol=2e-4, rtol=1e-4)
            start += len(alone)
    # The seam: the first label of every example is prompt (-100), so nothing learns across it.
    assert all(e["labels"][0] == -100 for e in examples)


def test_trained_tokens_counted_by_hand(smol_tokenizer):
    """Position t predicts token t+1: a label is trained from the second position on."""
    assert train.trained_tokens({"labels": [-100, -100, 5, 6, 7]}) == 3
    assert train.trained_tokens({"labels": [5, 6, -100, 7]}) == 2  # the first label has no position before it
    assert train.trained_tokens({"labels": [-100]}) == 0
    row = rows(1)[0]
    _, turn = train.render_example(smol_tokenizer, row)
    assert train.trained_tokens(tokenize(smol_tokenizer, row, 4096)) == len(turn)  # the whole turn


def varied_rows(n):
    """Rows whose traces differ in length (1 to n lines), so micro-batches hold different token counts."""
    return [{"question": f"{k}+{k}?", "thinking_trajectories": [f"{k} plus {k}"] * (k + 1), "attempt": str(2 * k)}
            for k in range(n)]


def spy_on_optimizer_step(monkeypatch, seen):
    """Wrap train.prepare_model so that each optimizer step records the gradients it is given
    (after clipping), the parameter groups and the parameters' shapes."""
    prepare = train.prepare_model

    def spied(args, accelerator):
        model, optimizer = prepare(args, accelerator)
        step = optimizer.step

        def recorded_step(*a, **k):
            seen.setdefault("grads", []).append([p.grad.clone() for p in model.parameters()])
            return step(*a, **k)

        optimizer.step = recorded_step
        seen["groups"] = [({n for n, p in model.named_parameters() if any(p is q for q in g["params"])},
                           g["weight_decay"], g["betas"]) for g in optimizer.optimizer.param_groups]
        seen["shapes"] = {n: p.dim() for n, p in model.named_parameters()}
        return model, optimizer

    monkeypatch.setattr(train, "prepare_model", spied)


def oracle_loss(model, examples):
    """HF's own shifted loss (a mean) per example, run alone, times its trained tokens, over all
    trained tokens: every trained token of the batch weighs the same."""
    total = sum(model(input_ids=torch.tensor([e["input_ids"]]), labels=torch.tensor([e["labels"]])).loss
                * train.trained_tokens(e) for e in examples)
    return total / sum(train.trained_tokens(e) for e in examples)


@pytest.mark.parametrize("attn", ["packed_sdpa", "sdpa"])
def test_micro_batch_size_changes_neither_loss_nor_gradients(attn, tiny_dir, smol, tmp_path, monkeypatch):
    """One global batch of 8 examples of different lengths through train.py's own loop, split into
    micro-batches of 1, 2, 4 and 8 (packed rows), with train.py's CPU attention (packed_sdpa) and
    transformers' sdpa: the same loss and the same gradients at the optimizer step. The loss is
    also the oracle's, computed here from the examples run one by one."""
    _, tok = smol
    data = write_jsonl(tmp_path / "varied.jsonl", varied_rows(8))
    results = {}
    for micro in (1, 2, 4, 8):
        seen = {}
        spy_on_optimizer_step(monkeypatch, seen)
        _, summary = train.train(train.parse_args(
            ["--model", tiny_dir, "--data", data, "--out", str(tmp_path / f"m{micro}"), "--batch-size", "8",
             "--micro-batch-size", str(micro), "--max-steps", "1", "--grad-clip", "1e9", "--mixed-precision", "no",
             "--block-size", "256", "--attn-implementation", attn]))
        monkeypatch.undo()
        results[micro] = summary["final_loss"], seen["grads"][0]
    examples = [tokenize(tok, r, 256) for r in varied_rows(8)]
    with torch.no_grad():
        oracle = oracle_loss(train.load_model(tiny_dir, attn), examples).item()
    for micro, (loss, grads) in results.items():
        assert loss == pytest.approx(oracle, rel=1e-5), micro
        for g, g1 in zip(grads, results[1][1]):
            torch.testing.assert_close(g, g1, rtol=1e-4, atol=1e-7)


def test_lr_schedule_warms_up_then_decays_to_zero():
    lrs = [train.get_lr((s + 0.5) / 100, 1e-5) for s in range(100)]
    assert 0 < lrs[0] < lrs[1] < lrs[4] and max(lrs) == pytest.approx(1e-5, rel=0.01)
    assert all(a >= b for a, b in zip(lrs[5:], lrs[6:])) and lrs[-1] < 1e-8
    # by hand: linear to the peak over the first 5%, then half a cosine
    assert train.get_lr(0.025, 1.0) == pytest.approx(0.5) and train.get_lr(0.05, 1.0) == pytest.approx(1.0)
    assert train.get_lr(0.525, 1.0) == pytest.approx(0.5) and train.get_lr(1.0, 1.0) == pytest.approx(0.0, abs=1e-12)


# --- bad input ----------------------------------------------------------------------------------
def test_bad_input_exits_2_with_one_line(tiny_dir, tmp_path, capsys):
    no_fields = write_jsonl(tmp_path / "nofields.jsonl", [{"question": "q", "answer": "a"}] * 3)
    cases = [(no_fields, [], "no trainable rows out of 3"),
             (write_jsonl(tmp_path / "ok.jsonl", rows(2)), ["--block-size", "8"], "prompt longer than the block size")]
    for data, extra, message in cases:  # through main(), in this process (train.py's own run is a subprocess above)
        with pytest.raises(SystemExit) as exit_info:
            train.main(["--model", tiny_dir, "--data", data, "--out", str(tmp_path / "o"), "--mixed-precision", "no",
                        *extra])
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and message in err and "Traceback" not in err
        assert err.strip().splitlines()[-1].startswith("error: ")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(ValueError, match="is empty"):
        train.load_rows(str(empty))
    with pytest.raises(ValueError, match="no such data file"):
        train.load_rows(str(tmp_path / "missing.jsonl"))
    (tmp_path / "bad.jsonl").write_text('{"question": "q"}\n{oops\n')
    with pytest.raises(ValueError, match="line 2"):
        train.load_rows(str(tmp_path / "bad.jsonl"))


# --- precision: bf16 only where it is fast ----------------------------------------------------
def test_auto_precision_follows_the_measured_bf16_speed(monkeypatch):
    monkeypatch.setattr(train, "bf16_matmul_speedup", lambda: 1 / 80)  # AVX2 only: emulated bf16
    assert train.choose_precision("auto", "cpu")[0] == "no"
    monkeypatch.setattr(train, "bf16_matmul_speedup", lambda: 4.0)  # AVX-512-BF16 / AMX
    assert train.choose_precision("auto", "cpu")[0] == "bf16"
    monkeypatch.setattr(train, "bf16_matmul_speedup", lambda: 1 / 0)  # an explicit choice is never probed
    assert train.choose_precision("bf16", "cpu") == ("bf16", "asked for")
    assert train.choose_precision("no", "cpu") == ("no", "asked for")


def test_auto_precision_trains_in_float32_where_bf16_is_slow(monkeypatch, capsys, tiny_dir, tiny_data, tmp_path):
    """train.py with no precision flag, on a CPU whose probe says bf16 is slow (the answer injected,
    so the test does not depend on which CPU runs it): float32, and it says why."""
    monkeypatch.setattr(train, "bf16_matmul_speedup", lambda: 1 / 50)
    out = str(tmp_path / "avx2")
    flags = [f for f in TINY if f not in ("--mixed-precision", "no")] + ["--max-steps", "1"]  # the last wins
    _, summary = train.train(train.parse_args(["--model", tiny_dir, "--data", tiny_data, "--out", out, *flags]))
    assert "precision: float32 (a bf16 matmul runs at 1/50 of float32's speed" in capsys.readouterr().out
    assert summary["mixed_precision"] == "no"
    assert json.load(open(os.path.join(out, "train_summary.json")))["mixed_precision"] == "no"


# --- the embedded GGUF model: two steps, save, reload ----------------------------------------
def test_two_steps_from_gguf_save_a_checkpoint_that_reloads_identically(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    data = write_jsonl(tmp_path / "d.jsonl", rows(2))
    out = str(tmp_path / "out")
    args = train.parse_args(["--data", data, "--out", out, "--max-steps", "2", "--batch-size", "1",
                             "--lr", "1e-4", "--mixed-precision", "no"])
    model, summary = train.train(args)  # no --model: the embedded GGUF
    assert summary["steps"] == 2 and len(read_log(out)) == 2
    reloaded = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(out)
    assert tok.chat_template and "<|im_start|>" in tok.chat_template
    ids = tok("<|im_start|>user\n12+34?<|im_end|>\n<|im_start|>assistant\n", return_tensors="pt").input_ids
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(ids).logits, reloaded(ids).logits)
    assert not os.path.exists(os.path.join(out, "checkpoint"))  # resume state removed once finished


# --- the loss curve, 1 vs 2 processes, resume ---------------------------------------------------
def test_loss_falls_over_20_steps(one_process_run):
    losses = [r["loss"] for r in read_log(one_process_run)]
    assert len(losses) == 20
    assert sum(losses[-3:]) / 3 < 0.5 * sum(losses[:3]) / 3, losses
    summary = json.load(open(os.path.join(one_process_run, "train_summary.json")))
    assert summary["data"]["examples"] == 16
    assert summary["tokens"] == sum(r["tokens"] for r in read_log(one_process_run))


def test_two_process_cpu_run_follows_one_process_curve(tiny_dir, tiny_data, tmp_path):
    """DDP over gloo, 2 processes x 2 micro-batches of 2 per global batch of 8 (the gradient
    all-reduce skipped on the first micro-batch, done on the last) against one process with 4
    micro-batches: the same losses step by step and the same final weights. With one micro-batch
    per process a sync on the wrong micro-batch could not show."""
    flags = [f for f in TINY if f not in ("--batch-size", "4", "--max-steps", "20")] + ["--batch-size", "8", "--max-steps", "6"]
    one = str(tmp_path / "run1")
    train.train(train.parse_args(["--model", tiny_dir, "--data", tiny_data, "--out", one, *flags]))
    out = str(tmp_path / "run2")
    # `--multi_gpu` is accelerate's name for its torchrun launcher; with no GPU, train.py runs DDP on CPU.
    r = run_cli("-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29513",
                "train.py", "--model", tiny_dir, "--data", tiny_data, "--out", out, *flags, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "2 process(es) x 2 micro-batches of <= 2" in r.stdout
    assert [x["step"] for x in read_log(out)] == list(range(1, 7))
    for a, b in zip(read_log(one), read_log(out)):
        assert b["loss"] == pytest.approx(a["loss"], rel=2e-4, abs=2e-5), (a, b)
    from safetensors.torch import load_file

    w1, w2 = (load_file(os.path.join(d, "model.safetensors")) for d in (one, out))
    assert w1.keys() == w2.keys()
    for name in w1:
        torch.testing.assert_close(w2[name], w1[name], rtol=1e-4, atol=1e-5, msg=name)


def test_resume_after_kill_continues_the_same_run(one_process_run, tiny_dir, tiny_data, tmp_path):
    out = str(tmp_path / "killed")
    cmd = [sys.executable, "train.py", "--model", tiny_dir, "--data", tiny_data, "--out", out, *TINY, "--save-every", "3"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = os.path.join(out, "checkpoint", "trainer_state.json")
    try:
        deadline = time.time() + 300
        while not os.path.exists(state) and proc.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, "finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    killed_at = len(read_log(out))
    assert killed_at < 20
    r = run_cli(*cmd[1:], "--resume")
    assert r.returncode == 0, r.stderr[-3000:]
    resumed_at = re.search(r"resumed from \S+ at step (\d+)", r.stdout)
    assert resumed_at, r.stdout
    assert int(resumed_at[1]) % 3 == 0 and 3 <= int(resumed_at[1]) <= killed_at
    resumed, straight = read_log(out), read_log(one_process_run)
    assert [x["step"] for x in resumed] == list(range(1, 21))  # nothing lost, nothing twice
    for a, b in zip(straight, resumed):  # optimizer, schedule and data position all restored
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-4, abs=1e-5), (a, b)
        assert b["lr"] == pytest.approx(a["lr"])


def test_max_minutes_stops_on_the_clock_with_the_schedule_tied_to_it(tiny_dir, tiny_data, tmp_path):
    """A fake clock that advances 0.25 s per reading; train() reads it twice per step (before and
    after), so step k ends at (2k + 1) x 0.25 s and a 6-second budget ends after step 12."""
    ticks = iter(range(10**6))
    out = str(tmp_path / "clock")
    flags = [f for f in TINY if f not in ("--max-steps", "20")] + ["--epochs", "1000", "--max-minutes", "0.1"]
    _, summary = train.train(train.parse_args(["--model", tiny_dir, "--data", tiny_data, "--out", out, *flags]),
                             clock=lambda: 0.25 * next(ticks))
    log = read_log(out)
    assert [x["elapsed"] for x in log] == [(2 * k + 1) * 0.25 for k in range(1, 13)]
    # Tokens per step: the step's batch (4 rows, counted here from the tokenizer), over the 0.25 s
    # the fake clock says the step took.
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    lengths = [sum(map(len, train.render_example(tokenizer, r))) for r in rows(16)]
    batches = [b for epoch in range(3) for b in train.epoch_batches(16, 4, epoch, 0)]
    assert [x["tokens"] for x in log] == [sum(lengths[i] for i in b) for b in batches[:12]]
    assert [x["tokens_per_s"] for x in log] == [round(x["tokens"] / 0.25, 1) for x in log]
    assert summary["steps"] == 12 and summary["total_steps"] == 4000
    # The schedule follows the clock, not the 4,000 planned steps: each step's lr is the schedule at
    # the time already spent, so the last one is near the end of the cosine.
    assert [x["lr"] for x in log] == [train.get_lr(max((k + 0.5) / 4000, e / 6), 1e-2)
                                      for k, e in enumerate([0] + [x["elapsed"] for x in log[:-1]])]
    assert log[-1]["lr"] < 1e-4


@pytest.mark.parametrize("crash_before", ["checkpoint.old", "checkpoint"])
def test_crash_between_checkpoint_renames_resumes(crash_before, one_process_run, tiny_dir, tiny_data, tmp_path,
                                                   monkeypatch, capsys):
    """Kill train.py's save_checkpoint while it writes step 6's checkpoint (saves: every 3 steps and
    at each 4-step epoch's end), at either rename: before the first (checkpoint/ and checkpoint.tmp/
    on disk) or between the two (checkpoint.old/ and checkpoint.tmp/, no checkpoint/). --resume
    continues from step 4's checkpoint and ends on the same curve."""
    out = str(tmp_path / "crash")
    real_rename = os.rename

    def rename(src, dst):  # os.rename, killed when it would move the step-6 checkpoint into place
        state = os.path.join(out, "checkpoint.tmp", "trainer_state.json")
        if dst == os.path.join(out, crash_before) and os.path.exists(state) and json.load(open(state))["step"] == 6:
            raise KeyboardInterrupt("killed")
        real_rename(src, dst)

    args = ["--model", tiny_dir, "--data", tiny_data, "--out", out, *TINY, "--save-every", "3"]
    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(KeyboardInterrupt):
        train.train(train.parse_args(args))
    monkeypatch.setattr(os, "rename", real_rename)
    left = {"checkpoint.old": ["checkpoint.tmp", "checkpoint"], "checkpoint": ["checkpoint.old", "checkpoint.tmp"]}
    assert sorted(n for n in os.listdir(out) if n.startswith("checkpoint")) == sorted(left[crash_before])
    assert len(read_log(out)) == 6
    capsys.readouterr()
    _, summary = train.train(train.parse_args(args + ["--resume"]))
    expected = "checkpoint" if crash_before == "checkpoint.old" else "checkpoint.old"
    assert f"resumed from {os.path.join(out, expected)} at step 4" in capsys.readouterr().out
    resumed, straight = read_log(out), read_log(one_process_run)
    assert [x["step"] for x in resumed] == list(range(1, 21)) and summary["steps"] == 20
    for a, b in zip(straight, resumed):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-4, abs=1e-5), (a, b)


# What accelerate makes of configs/fsdp.yaml: `accelerate launch` turns the YAML into FSDP_* variables
# (its own code, run here) and FullyShardedDataParallelPlugin reads them. A key accelerate does not
# read shows up here; the 2-process test below runs the config itself.
FSDP_FROM_THE_CONFIG = r"""
import json, os, sys
from accelerate.commands.launch import _validate_launch_command, launch_command_parser
from accelerate.utils.launch import prepare_multi_gpu_env
args, _, _ = _validate_launch_command(launch_command_parser().parse_args(["--config_file", sys.argv[1], "train.py"]))
env = prepare_multi_gpu_env(args)
os.environ.update({k: v for k, v in env.items() if k.startswith(("FSDP_", "ACCELERATE_"))})
from accelerate import FullyShardedDataParallelPlugin
plugin = FullyShardedDataParallelPlugin()
print(json.dumps({"use_fsdp": os.environ["ACCELERATE_USE_FSDP"], "processes": args.num_processes,
                  "mixed_precision": os.environ["ACCELERATE_MIXED_PRECISION"], "version": plugin.fsdp_version,
                  "reshard_after_forward": plugin.reshard_after_forward, "state_dict": plugin.state_dict_type.name,
                  "wrap": os.environ["FSDP_AUTO_WRAP_POLICY"], "ram_efficient": plugin.cpu_ram_efficient_loading,
                  "offload": os.environ["FSDP_OFFLOAD_PARAMS"]}))
"""


def test_fsdp_config_as_accelerate_launch_reads_it():
    """configs/fsdp.yaml through accelerate's launcher: FSDP2, parameters resharded after forward
    (full sharding), bf16, one unit per decoder layer, rank 0 loads and the others receive their
    shards, sharded resume state, no offload."""
    r = run_cli("-c", FSDP_FROM_THE_CONFIG, os.path.join(ROOT, "configs", "fsdp.yaml"))
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got == {"use_fsdp": "true", "processes": 8, "mixed_precision": "bf16", "version": 2,
                   "reshard_after_forward": True, "state_dict": "SHARDED_STATE_DICT", "wrap": "TRANSFORMER_BASED_WRAP",
                   "ram_efficient": True, "offload": "false"}


# --- FSDP2 full sharding, 2 CPU processes: train.py itself through the recipe's launcher ---------
@pytest.fixture(scope="module")
def tiny_qwen2_dir(smol_tokenizer, tmp_path_factory):
    """A 2-layer Qwen2 (q, k, v biases, GQA, untied head as in Qwen2.5-32B) with SmolLM2's tokenizer.
    Every sharded dimension is even, so each of 2 processes holds exactly half."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=len(smol_tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, pad_token_id=2)
    path = tmp_path_factory.mktemp("tiny") / "tiny-qwen2"
    Qwen2ForCausalLM(config).save_pretrained(path)
    smol_tokenizer.save_pretrained(path)
    return str(path)


FSDP_FLAGS = ["--batch-size", "8", "--micro-batch-size", "2", "--max-steps", "6", "--lr", "1e-2", "--mixed-precision",
              "no", "--block-size", "256", "--epochs", "10", "--save-every", "2"]


def fsdp_launch(model, data, out, *extra):
    """The recipe's launch line (scripts/s1.sh) with the process count overridden, on a CPU."""
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    return [sys.executable, "-m", "accelerate.commands.launch", "--config_file", os.path.join(ROOT, "configs", "fsdp.yaml"),
            "--num_processes", "2", "--main_process_port", port, "train.py", "--model", model, "--data", data,
            "--out", out, *FSDP_FLAGS, *extra]


@pytest.fixture(scope="module")
def fsdp_runs(tiny_qwen2_dir, tiny_data, tmp_path_factory):
    """(one-process run folder, 2-process FSDP run folder killed with -9 after its first checkpoint
    and resumed, the kill's log, the resumed run's stdout)."""
    one = str(tmp_path_factory.mktemp("fsdp1") / "run")
    train.train(train.parse_args(["--model", tiny_qwen2_dir, "--data", tiny_data, "--out", one, *FSDP_FLAGS]))
    out = str(tmp_path_factory.mktemp("fsdp2") / "run")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.Popen(fsdp_launch(tiny_qwen2_dir, tiny_data, out), cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = os.path.join(out, "checkpoint", "trainer_state.json")
    try:
        deadline = time.time() + 300
        while not os.path.exists(state) and proc.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, "finished before it could be killed"
        import psutil  # (accelerate's dependency) torchrun starts the training processes in sessions of their own

        launcher = psutil.Process(proc.pid)
        for p in [launcher, *launcher.children(recursive=True)]:  # the launcher and both training processes
            p.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    killed_log = read_log(out)
    r = subprocess.run(fsdp_launch(tiny_qwen2_dir, tiny_data, out, "--resume"), cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return one, out, killed_log, r.stdout


def test_fsdp_two_cpu_processes_shard_and_follow_one_process(fsdp_runs, tiny_qwen2_dir):
    """train.py under `accelerate launch --config_file configs/fsdp.yaml --num_processes 2` on a CPU:
    FSDP2 full sharding over gloo, 2 processes x 2 micro-batches of 2 per global batch of 8, against
    one process with 4 micro-batches. Each process holds half of every parameter and of AdamW's
    state; the loss curve is the one process's step by step, before the kill -9 and after --resume
    from the sharded resume state; the HF checkpoint (the full state dict gathered for
    save_pretrained) loads with from_pretrained and equals the one process's weights.
    What differs from the GPU path: the process group is gloo, not NCCL; the weights are float32
    throughout (--mixed-precision no; the GPU recipe computes in bf16 under FSDP's mixed-precision
    policy); and accelerate, which makes a CPU run plain DDP, is told by train.py (make_accelerator)
    to take its FSDP path. The launcher, the config, the wrapping, the sharded optimizer, the
    gathered and the sharded checkpoints are accelerate's and torch's own code, as on GPUs."""
    one, out, killed_log, stdout = fsdp_runs
    from transformers import AutoModelForCausalLM

    straight, sharded = read_log(one), read_log(out)
    for a, b in zip(straight, killed_log):  # up to the kill
        assert b["loss"] == pytest.approx(a["loss"], rel=2e-4, abs=2e-5), (a, b)
    summary = json.load(open(os.path.join(out, "train_summary.json")))
    total = AutoModelForCausalLM.from_pretrained(tiny_qwen2_dir).num_parameters()
    assert summary["distributed"] == "FSDP" and summary["processes"] == 2
    assert summary["parameters_per_process"] == [total // 2, total // 2]  # each holds a half, none the whole
    assert summary["optimizer_state_bytes_per_process"] == [8 * (total // 2)] * 2  # exp_avg, exp_avg_sq: float32
    assert re.search(r"FSDP: \d+ units \(.*Qwen2DecoderLayer x 2[,)]", stdout), stdout  # a unit per decoder layer
    resumed_at = re.search(r"resumed from \S+ at step (\d+)", stdout)
    assert resumed_at and int(resumed_at[1]) in (2, 4) and int(resumed_at[1]) <= len(killed_log) < 6, stdout
    assert [x["step"] for x in sharded] == list(range(1, 7))  # nothing lost, nothing twice
    for a, b in zip(straight, sharded):  # resumed from the sharded state
        assert b["loss"] == pytest.approx(a["loss"], rel=2e-4, abs=2e-5), (a, b)
    w1 = AutoModelForCausalLM.from_pretrained(one).state_dict()
    w2 = AutoModelForCausalLM.from_pretrained(out).state_dict()
    assert w1.keys() == w2.keys()
    for name in w1:
        torch.testing.assert_close(w2[name], w1[name], rtol=1e-4, atol=1e-5, msg=name)


def test_memory_plan_matches_the_measured_shards(fsdp_runs, tiny_qwen2_dir):
    """train.training_memory, the formula behind --plan-memory: its parameter count is the model's,
    and its sharded terms (float32 parameters, gradients, AdamW's two moments) are what each of the 2
    FSDP processes measured it held."""
    _, out, _, _ = fsdp_runs
    summary = json.load(open(os.path.join(out, "train_summary.json")))
    config = json.load(open(os.path.join(tiny_qwen2_dir, "config.json")))
    tiny = {"vocab": config["vocab_size"], "hidden": config["hidden_size"], "intermediate": config["intermediate_size"],
            "layers": config["num_hidden_layers"], "heads": config["num_attention_heads"],
            "kv_heads": config["num_key_value_heads"], "tied": config["tie_word_embeddings"]}
    from transformers import AutoModelForCausalLM

    assert train.qwen2_parameters(**tiny) == AutoModelForCausalLM.from_pretrained(tiny_qwen2_dir).num_parameters()
    plan = train.training_memory(tiny, gpus=2, block=256)
    for held, state in zip(summary["parameters_per_process"], summary["optimizer_state_bytes_per_process"]):
        assert plan["parameters"] == plan["gradients"] == 4 * held and plan["optimizer"] == state
    assert train.qwen2_parameters(**train.QWEN25_32B) == 32_763_876_352  # Qwen2.5-32B: 32.76B


# --- FSDP1's sharded optimizer checkpoint (a config with fsdp_version: 1, on GPUs) -------------------
# accelerate's FSDP1 refuses a CPU process group, so train.py cannot run it here whole. What can: a
# real FSDP1 model over gloo, accelerate's own sharded optimizer save and load (save_fsdp_optimizer /
# load_fsdp_optimizer, what accelerator.save_state / load_state call under FSDP), and train.py's
# load_resume_state, which resume() calls.
FSDP_OPTIMIZER_ROUND_TRIP = r"""
import os, socket, sys, tempfile, types, torch, torch.distributed as dist
from accelerate import FullyShardedDataParallelPlugin, PartialState
from accelerate.utils import DistributedType, load_fsdp_optimizer, save_fsdp_optimizer
from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
import train

with socket.socket() as s:
    s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK="0", WORLD_SIZE="1", LOCAL_RANK="0")
dist.init_process_group("gloo")
PartialState(cpu=True)  # accelerate's logging wants its state
plugin = FullyShardedDataParallelPlugin(fsdp_version=1, state_dict_type="SHARDED_STATE_DICT")

def fresh():
    torch.manual_seed(0)
    model = FSDP(torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.LayerNorm(8), torch.nn.Linear(8, 2)),
                 device_id=torch.device("cpu"), use_orig_params=True)
    return model, torch.optim.AdamW(train.param_groups(model, 0.1), lr=1e-2)

def accelerator_for(model, optimizer):  # the few members train.py and accelerate's FSDP loader use
    acc = types.SimpleNamespace(distributed_type=DistributedType.FSDP, process_index=0, wait_for_everyone=lambda: None)
    acc.load_state = lambda folder: load_fsdp_optimizer(plugin, acc, optimizer, model, folder)
    return acc

model, optimizer = fresh()
for _ in range(3):
    model(torch.randn(4, 8)).sum().backward(); optimizer.step(); optimizer.zero_grad()
folder = tempfile.mkdtemp()
save_fsdp_optimizer(plugin, accelerator_for(model, optimizer), optimizer, model, folder)

model2, optimizer2 = fresh()
weights = [p.detach().clone() for p in model2.parameters()]
train.load_resume_state(accelerator_for(model2, optimizer2), optimizer2, folder)
assert all(torch.equal(a, b) for a, b in zip(weights, model2.parameters())), "a weight moved"
restored = [q in optimizer2.state and torch.equal(optimizer.state[p]["exp_avg_sq"], optimizer2.state[q]["exp_avg_sq"])
            and float(optimizer2.state[q]["step"]) == 3 for p, q in zip(model.parameters(), model2.parameters())]
print("restored", sum(restored), "of", len(restored))
"""


def test_fsdp_resume_restores_adam_state(tmp_path):
    """Under FSDP, accelerate loads a sharded optimizer checkpoint by filling in the entries the
    optimizer already has; train.py's resume gives AdamW its state first (init_optimizer_state), or
    the moments would silently start fresh (tests/test_gpu.py caught it on an H200: the resumed
    loss left the curve one step after resume). Every parameter's moments and step must come back."""
    r = run_cli("-c", FSDP_OPTIMIZER_ROUND_TRIP)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "restored 6 of 6" in r.stdout, r.stdout


# --- the optimizer: clipping, grad_norm, AdamW's betas and weight-decay groups -------------------
def test_gradients_are_clipped_and_grad_norm_is_the_norm_before_clipping(tiny_dir, tiny_data, tmp_path, monkeypatch,
                                                                          smol_tokenizer):
    """--grad-clip 0.05 on a random model (whose gradients are larger): at each optimizer step the
    gradient norm is the clip, and the logged grad_norm is the norm before clipping, computed here
    from the first global batch on a fresh copy of the model. The optimizer is AdamW with the
    paper's betas (0.9, 0.95), weight decay on every matrix and on nothing else (norm weights)."""
    batch = train.epoch_batches(16, 4, 0, 0)[0]
    examples = [tokenize(smol_tokenizer, r, 256) for r in rows(16)]
    model = train.load_model(tiny_dir, "packed_sdpa").train()
    oracle_loss(model, [examples[i] for i in batch]).backward()
    first_norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()])).item()
    assert first_norm > 0.5  # well above the clip: clipping bites
    seen = {}
    spy_on_optimizer_step(monkeypatch, seen)
    out = str(tmp_path / "clip")
    flags = [f for f in TINY if f not in ("--max-steps", "20")] + ["--max-steps", "3", "--grad-clip", "0.05",
                                                                    "--weight-decay", "0.1"]
    train.train(train.parse_args(["--model", tiny_dir, "--data", tiny_data, "--out", out, *flags]))
    log = read_log(out)
    assert log[0]["grad_norm"] == pytest.approx(first_norm, rel=1e-3)
    assert all(x["grad_norm"] > 0.05 for x in log)
    norms = [torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item() for grads in seen["grads"]]
    assert norms == pytest.approx([0.05] * 3, rel=1e-4)
    (decay, wd, betas), (no_decay, wd0, betas0) = seen["groups"]
    assert betas == betas0 == (0.9, 0.95) and wd == 0.1 and wd0 == 0.0
    assert decay == {n for n, d in seen["shapes"].items() if d >= 2}
    assert no_decay == {n for n, d in seen["shapes"].items() if d < 2} and all("norm" in n for n in no_decay)


# --- resume refuses another run's checkpoint; flags checked before anything loads ---------------
def test_resume_refuses_a_checkpoint_of_another_run(tiny_dir, tiny_data, tmp_path, monkeypatch, capsys):
    out = str(tmp_path / "other")
    args = ["--model", tiny_dir, "--data", tiny_data, "--out", out, *TINY, "--max-steps", "4", "--save-every", "2"]

    def killed(*a, **k):
        raise KeyboardInterrupt("killed before the final save")

    monkeypatch.setattr(train, "save_final", killed)
    with pytest.raises(KeyboardInterrupt):
        train.train(train.parse_args(args))
    monkeypatch.undo()
    assert json.load(open(os.path.join(out, "checkpoint", "trainer_state.json")))["step"] == 2
    capsys.readouterr()
    log = read_log(out)
    with pytest.raises(SystemExit) as exit_info:
        train.main(args + ["--batch-size", "8", "--resume"])  # another global batch: another run
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err  # (stderr also has the weights' loading bar)
    assert "belongs to a different run" in err and err.strip().splitlines()[-1].startswith("error: ")
    assert read_log(out) == log and len(log) == 4  # nothing trained, the log untouched


@pytest.mark.parametrize("flag, value", [("--epochs", "0"), ("--batch-size", "0"), ("--micro-batch-size", "0"),
                                         ("--block-size", "0"), ("--lr", "0"), ("--lr", "-0.5")])
def test_bad_numbers_exit_2_before_anything_loads(flag, value, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(train, "load_tokenizer", lambda *a: pytest.fail("loaded before the flags were checked"))
    with pytest.raises(SystemExit) as exit_info:
        train.main(["--data", "x.jsonl", "--out", str(tmp_path), flag, value])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and flag.lstrip("-") in err
