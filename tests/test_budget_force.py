"""budget_force.py: exact control of thinking length, fidelity to the model, the CLI."""
import json
import random
import subprocess
import sys

import pytest
import torch
from transformers import LogitsProcessorList

import budget_force as bf

ROOT = bf.os.path.dirname(bf.os.path.abspath(bf.__file__))
QUESTIONS = ["How many r in raspberry?", "What is 12 + 35?", "Name a prime number larger than 10.",
             "Is 91 a prime number? Think step by step."]


# -----------------------------------------------------------------------------
# the processor alone, driven with scores we choose (no model: fast and exact)

def drive(forcer, choices_per_step, batch=1, vocab=None):
    """Feed the forcer one-hot scores preferring the given token at each step; return emitted tokens."""
    vocab = vocab or forcer.vocab_size
    emitted = [[] for _ in range(batch)]
    for step, choice in enumerate(choices_per_step):
        scores = torch.zeros(batch, vocab)
        scores[:, choice] = 10.0
        out = forcer(torch.zeros(batch, 5 + step, dtype=torch.long), scores)
        assert torch.isfinite(out).sum(dim=-1).tolist() == [1] * batch  # exactly one token allowed per row
        for i, token in enumerate(out.argmax(-1).tolist()):
            emitted[i].append(token)
        if forcer.done():
            break
    return emitted


def test_cap_forces_delimiter_then_final_answer(smol):
    _, tok = smol
    forcer = bf.BudgetForcer(tok, max_think=3, max_answer=50)
    word = bf.encode(tok, " the")[0]
    eot = tok.eos_token_id
    emitted = drive(forcer, [word] * 20 + [eot])[0]
    row = forcer.rows[0]
    assert row.thinking_tokens == 3 and row.forced_stop
    expected = [word] * 3 + bf.encode(tok, "\n<|im_start|>answer\n") + bf.encode(tok, "Final Answer:")
    assert emitted[:len(expected)] == expected
    assert tok.decode(emitted).startswith(" the the the\n<|im_start|>answer\nFinal Answer:")


def test_end_attempt_becomes_wait_until_owed_waits_are_spent(smol):
    _, tok = smol
    wait = bf.encode(tok, " Wait,")
    assert len(wait) > 1  # a multi-token Wait is forced one token per step
    forcer = bf.BudgetForcer(tok, max_think=100, num_wait=2, wait_str=" Wait,", max_answer=5)
    im_start = bf.encode(tok, "<|im_start|>")[0]
    word = bf.encode(tok, " so")[0]
    # The model tries to open the delimiter at once, three times: twice replaced by Wait.
    script = ([im_start] + [word] * (len(wait) - 1)) * 2 + [im_start] + [word] * 3  # a Wait takes len(wait) steps
    emitted = drive(forcer, script)[0]
    row = forcer.rows[0]
    assert row.waits == 2 and not row.forced_stop
    n = len(wait)
    assert emitted[:n] == wait and emitted[n:2 * n] == wait
    # The third attempt is the model's own: it opens the delimiter and the rest is completed, no "Final Answer:".
    assert emitted[2 * n:2 * n + 3] == bf.encode(tok, "<|im_start|>answer\n")
    assert row.forced[2 * n] is False and row.forced[2 * n + 1] is True
    assert "Final Answer" not in tok.decode(emitted)
    assert row.thinking_tokens == 2 * n


def test_min_think_inserts_waits_and_eos_while_thinking_is_replaced(smol):
    _, tok = smol
    eot = tok.eos_token_id
    forcer = bf.BudgetForcer(tok, max_think=50, min_think=4, max_answer=5)
    emitted = drive(forcer, [eot] * 30)[0]
    row = forcer.rows[0]
    # "Wait" is one token: eot is replaced by Wait until 4 thinking tokens exist, then closes naturally.
    assert emitted[:4] == bf.encode(tok, "Wait") * 4 and row.waits == 4 and row.thinking_tokens == 4
    assert emitted[4:8] == bf.encode(tok, "\n<|im_start|>answer\n")  # end-of-turn while thinking -> the delimiter
    assert not row.forced_stop and emitted[-1] == eot and row.answer_tokens == 1


def test_answer_cap_and_zero_budget(smol):
    _, tok = smol
    word = bf.encode(tok, " yes")[0]
    forcer = bf.BudgetForcer(tok, max_think=0, max_answer=6)
    emitted = drive(forcer, [word] * 40)[0]
    row = forcer.rows[0]
    assert row.thinking_tokens == 0 and row.forced_stop
    assert row.answer_tokens == 6 and emitted[-1] == tok.eos_token_id and forcer.done()
    assert tok.decode(emitted) == "\n<|im_start|>answer\nFinal Answer: yes yes<|im_end|>"


def test_rows_are_independent_and_state_resets_between_calls(smol):
    _, tok = smol
    forcer = bf.BudgetForcer(tok, max_think=2, max_answer=3)
    word = bf.encode(tok, " a")[0]
    eot = tok.eos_token_id
    # Row 0 wants to think forever, row 1 to stop at once: only row 0 is capped.
    for _ in range(2):  # the second call must start from fresh counters
        scores_seq = []
        out_rows = [[], []]
        for step in range(12):
            scores = torch.zeros(2, forcer.vocab_size)
            scores[0, word] = 5.0
            scores[1, eot] = 5.0
            out = forcer(torch.zeros(2, 7 + step, dtype=torch.long), scores)
            assert not torch.isnan(torch.softmax(out, -1)).any()
            for i, t in enumerate(out.argmax(-1).tolist()):
                out_rows[i].append(t)
            scores_seq.append(out)
        assert forcer.rows[0].forced_stop and forcer.rows[0].thinking_tokens == 2
        assert not forcer.rows[1].forced_stop and forcer.rows[1].thinking_tokens == 0


def test_padded_vocabulary_ids_are_never_emitted(smol):
    _, tok = smol
    forcer = bf.BudgetForcer(tok, max_think=5, max_answer=5, temperature=1.0)
    scores = torch.zeros(1, forcer.vocab_size + 64)
    scores[0, forcer.vocab_size:] = 50.0  # Qwen-style padding rows of the embedding matrix
    out = forcer(torch.zeros(1, 3, dtype=torch.long), scores)
    assert out.argmax(-1).item() < forcer.vocab_size


def test_sampling_decides_on_the_drawn_token(smol):
    """Under sampling the end-of-thinking decision is made on the token actually drawn."""
    _, tok = smol
    eot, word = tok.eos_token_id, bf.encode(tok, " x")[0]
    for seed in range(20):
        forcer = bf.BudgetForcer(tok, max_think=30, num_wait=1, max_answer=3, temperature=1.0, seed=seed)
        for step in range(40):
            scores = torch.full((1, forcer.vocab_size), -30.0)
            scores[0, eot] = 0.0
            scores[0, word] = 0.0  # a coin flip between stopping and thinking on
            forcer(torch.zeros(1, 3 + step, dtype=torch.long), scores)
            if forcer.done():
                break
        row = forcer.rows[0]
        # The first eot drawn became "Wait"; the second drawn one closed thinking; nothing else did.
        tokens = row.tokens
        wait_at = tokens.index(bf.encode(tok, "Wait")[0])
        assert all(t == word for t in tokens[:wait_at])
        assert row.waits == 1 and not row.forced_stop and forcer.done()


def test_empty_wait_str_suppresses_the_end_and_takes_the_next_best_token(smol):
    """The paper's "no string" ablation: an end attempt is refused and nothing is appended; the
    row continues with its best token that does not end thinking, and that counts as thinking."""
    _, tok = smol
    forcer = bf.BudgetForcer(tok, max_think=100, num_wait=2, wait_str="", max_answer=5)
    im_start, word, runner_up = bf.encode(tok, "<|im_start|>")[0], bf.encode(tok, " so")[0], bf.encode(tok, " no")[0]
    emitted = []
    for step in range(12):
        scores = torch.zeros(1, forcer.vocab_size)
        # every other step the model wants to end thinking; its second choice is " no"
        scores[0, im_start if step % 2 == 0 else word] = 10.0
        scores[0, runner_up] = 5.0
        out = forcer(torch.zeros(1, 5 + step, dtype=torch.long), scores)
        assert torch.isfinite(out).sum().item() == 1
        emitted.append(out.argmax(-1).item())
        if forcer.done():
            break
    row = forcer.rows[0]
    assert emitted[:4] == [runner_up, word, runner_up, word] and row.forced[:4] == [True, False, True, False]
    assert row.waits == 2 and row.thinking_tokens == 4
    assert emitted[4:7] == bf.encode(tok, "<|im_start|>answer\n")  # the third attempt is let through


@pytest.mark.parametrize("kwargs, message", [
    (dict(max_think=-1), "max_think"), (dict(max_think=5, min_think=6), "larger than"),
    (dict(max_think=5, num_wait=-2), "num_wait"), (dict(max_think=5, fmt="xml"), "unknown format"),
    (dict(max_think=5, max_answer=0), "max_answer"),
])
def test_bad_arguments_raise_clear_errors(smol, kwargs, message):
    with pytest.raises(ValueError, match=message):
        bf.BudgetForcer(smol[1], **kwargs)


def test_build_prompt(smol):
    _, tok = smol
    p = bf.build_prompt(tok, "2+2?")
    assert p.endswith("<|im_start|>assistant\n<|im_start|>think\n") and "2+2?" in p
    assert bf.build_prompt(tok, "2+2?", fmt="r1").endswith("<|im_start|>assistant\n<think>\n")
    with pytest.raises(ValueError, match="empty prompt"):
        bf.build_prompt(tok, "  ")


# -----------------------------------------------------------------------------
# the decode loop on the embedded model

def check_control(results, max_think, min_think, num_wait, max_answer, tok):
    for r in results:
        assert r["thinking_tokens"] <= max_think
        if not r["forced_stop"]:
            assert r["thinking_tokens"] >= min_think and r["waits"] >= num_wait
        assert r["answer_tokens"] <= max_answer
        assert "<|im_start|>answer\n" in r["text"]
        assert len(r["completion_ids"]) == len(r["forced_mask"])
        assert r["completion_ids"][-1] == tok.eos_token_id
        assert tok.decode(r["completion_ids"][:r["thinking_tokens"]]) == r["thinking"]


def test_control_fuzzed(smol):
    """Thinking never exceeds max_think; an unforced stop always honours min_think and num_wait."""
    model, tok = smol
    rng = random.Random(1234)
    for _ in range(10):
        max_think = rng.randint(0, 48)
        min_think = rng.randint(0, max_think)
        num_wait = rng.randint(0, 3)
        batch = rng.randint(1, 4)
        max_answer = rng.randint(1, 12)
        questions = rng.sample(QUESTIONS, batch)
        results = bf.budget_force(model, tok, questions, max_think=max_think, min_think=min_think,
                                  num_wait=num_wait, max_answer=max_answer)
        assert [r["prompt"] for r in results] == [bf.build_prompt(tok, q) for q in questions]
        check_control(results, max_think, min_think, num_wait, max_answer, tok)


def test_fidelity_greedy_and_identical_to_generate(smol):
    """Unforced tokens are the argmax of a full forward pass; generate() with the processor agrees."""
    model, tok = smol
    seen = []
    # Two settings so that capped rows, Waits and natural stops all occur (the base model stops early).
    for kwargs in (dict(max_think=10, min_think=4, num_wait=2, max_answer=12), dict(max_think=40, num_wait=1, max_answer=12)):
        results = bf.budget_force(model, tok, QUESTIONS[:3], **kwargs)
        seen += results
        for r in results:
            prompt_ids = bf.encode(tok, r["prompt"])
            with torch.no_grad():
                logits = model(torch.tensor([prompt_ids + r["completion_ids"]])).logits[0]
            argmax = logits[len(prompt_ids) - 1:-1].argmax(-1).tolist()
            own = [(a, c) for a, c, forced in zip(argmax, r["completion_ids"], r["forced_mask"]) if not forced]
            assert own and all(a == c for a, c in own)

        forcer = bf.BudgetForcer(tok, model=model, **kwargs)
        prompt_ids, mask = bf.left_pad([bf.encode(tok, r["prompt"]) for r in results], tok.pad_token_id)
        out = model.generate(prompt_ids, attention_mask=mask, logits_processor=LogitsProcessorList([forcer]),
                             do_sample=False, max_new_tokens=forcer.max_new_tokens, pad_token_id=tok.pad_token_id)
        for i, r in enumerate(results):
            generated = out[i, prompt_ids.shape[1]:].tolist()
            assert generated[:len(r["completion_ids"])] == r["completion_ids"]
            assert all(t == tok.pad_token_id for t in generated[len(r["completion_ids"]):])
    assert any(r["forced_stop"] for r in seen) and any(not r["forced_stop"] for r in seen)
    assert any(r["waits"] for r in seen)


def test_sampling_is_seeded_and_controlled(smol):
    model, tok = smol
    kwargs = dict(max_think=24, min_think=8, num_wait=1, max_answer=8, temperature=1.0)
    a = bf.budget_force(model, tok, QUESTIONS[:2], seed=7, **kwargs)
    b = bf.budget_force(model, tok, QUESTIONS[:2], seed=7, **kwargs)
    assert [r["completion_ids"] for r in a] == [r["completion_ids"] for r in b]
    check_control(a, 24, 8, 1, 8, tok)


# -----------------------------------------------------------------------------
# the command line

def run_cli(*args):
    return subprocess.run([sys.executable, "budget_force.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("args, message", [
    (["--prompt", "hi", "--max-think", "-5"], "non-negative"),
    (["--prompt", "hi", "--min-think", "10", "--max-think", "5"], "larger than"),
    (["--prompt", "hi", "--format", "xml"], "unknown format"),
    (["--prompt", "hi", "--model", "./no/such/model"], "no such model folder"),
    (["--prompt", "hi", "--model", "missing.gguf"], "no such GGUF file"),
    (["--prompt", "   "], "empty prompt"),
])
def test_cli_bad_input_one_line_exit_2(args, message):
    proc = run_cli(*args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in proc.stderr


def test_cli_json(smol_dir):
    proc = run_cli("--model", smol_dir, "--prompt", "How many r in raspberry", "--prompt", "What is 2+2?",
                   "--max-think", "20", "--num-wait", "1", "--max-answer", "10", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == 2
    for row in rows:
        assert {"prompt", "completion_ids", "text", "thinking", "answer", "thinking_tokens", "answer_tokens",
                "waits", "forced_stop"} <= set(row)
        assert row["thinking_tokens"] <= 20


def test_cli_explains_thinking_that_closes_at_once(smol_dir):
    """Issue 11: the untrained model closes its thinking at once; the CLI printed an empty answer
    and nothing else. Now one stderr line says why and what to try; forcing makes it think."""
    proc = run_cli("--model", smol_dir, "--prompt", "How many r in raspberry", "--max-think", "20", "--max-answer", "4")
    assert proc.returncode == 0, proc.stderr
    assert "[thinking tokens: 0/20" in proc.stdout
    notes = [line for line in proc.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "0 thinking tokens" in notes[0]
    assert all(hint in notes[0] for hint in ("--min-think", "--num-wait", "trained to think"))
    forced = run_cli("--model", smol_dir, "--prompt", "How many r in raspberry", "--max-think", "20",
                     "--min-think", "8", "--max-answer", "4", "--json")
    assert forced.returncode == 0, forced.stderr
    assert json.loads(forced.stdout)["thinking_tokens"] >= 8 and "note:" not in forced.stderr


def test_cli_streams(smol_dir):
    proc = run_cli("--model", smol_dir, "--prompt", "How many r in raspberry", "--max-think", "16",
                   "--max-answer", "8")
    assert proc.returncode == 0, proc.stderr
    assert "<|im_start|>answer" in proc.stdout and "[thinking tokens:" in proc.stdout
