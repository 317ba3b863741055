"""budget_force.py: exact control of thinking length, fidelity to the model, the CLI.

Tests use only the public surface: BudgetForcer's constructor and __call__(input_ids, scores)
(one finite entry per row: the emitted token), budget_force()'s result dicts, and stock
model.generate with the processor. Never the forcer's internal state.
"""
import json
import os
import random
import subprocess
import sys

import pytest
import torch
from transformers import LogitsProcessorList

import budget_force as bf
import decode_tree as dt

ROOT = os.path.dirname(os.path.abspath(bf.__file__))
QUESTIONS = ["How many r in raspberry?", "What is 12 + 35?", "Name a prime number larger than 10.",
             "Is 91 a prime number? Think step by step."]
CLOSE = "\n<|im_start|>answer\n"      # the forced end of thinking (s1 format)
DELIMITER = "<|im_start|>answer\n"    # the end-of-thinking delimiter as text


# -----------------------------------------------------------------------------
# the processor alone, driven with scores we choose (no model: fast and exact)

def drive(forcer, tok, scores_at, batch=1, start=5, max_steps=300):
    """Call the forcer as a decode loop would: scores_at(step) -> [batch, vocab] scores. Returns the
    emitted tokens per row, each up to and including its first end-of-turn (the forcer never lets one
    through while thinking, so the first one ends the row)."""
    stops = bf.stop_token_ids(tok)
    emitted = [[] for _ in range(batch)]
    for step in range(max_steps):
        out = forcer(torch.zeros(batch, start + step, dtype=torch.long), scores_at(step))
        assert torch.isfinite(out).sum(dim=-1).tolist() == [1] * batch  # exactly one token allowed per row
        for i, token in enumerate(out.argmax(-1).tolist()):
            emitted[i].append(token)
        if all(stops & set(row) for row in emitted):
            break
    return [row[:next(j for j, t in enumerate(row) if t in stops) + 1] for row in emitted]


def prefer(tok, choices, batch=1):
    """scores_at for drive(): at step s every row prefers choices[s] (the last one after the script)."""
    def scores_at(step):
        scores = torch.zeros(batch, len(tok))
        scores[:, choices[min(step, len(choices) - 1)]] = 10.0
        return scores
    return scores_at


def test_cap_forces_delimiter_then_final_answer(smol):
    _, tok = smol
    forcer = bf.BudgetForcer(tok, max_think=3, max_answer=50)
    word = bf.encode(tok, " the")[0]
    emitted = drive(forcer, tok, prefer(tok, [word] * 20 + [tok.eos_token_id]))[0]
    expected = [word] * 3 + bf.encode(tok, CLOSE) + bf.encode(tok, "Final Answer:")
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
    emitted = drive(forcer, tok, prefer(tok, script))[0]
    n = len(wait)
    assert emitted[:n] == wait and emitted[n:2 * n] == wait
    # The third attempt is the model's own: it opens the delimiter and the rest is completed (the
    # model prefers " so" there), with no "Final Answer:" and no "\n" before it.
    assert emitted[2 * n:2 * n + 3] == bf.encode(tok, DELIMITER)
    assert "Final Answer" not in tok.decode(emitted)
    assert emitted[2 * n + 3:] == [word] * 4 + [tok.eos_token_id]  # the answer cap (5) forces end-of-turn


def test_min_think_inserts_waits_and_eos_while_thinking_is_replaced(smol):
    _, tok = smol
    eot = tok.eos_token_id
    forcer = bf.BudgetForcer(tok, max_think=50, min_think=4, max_answer=5)
    emitted = drive(forcer, tok, prefer(tok, [eot]))[0]
    # "Wait" is one token: eot is replaced by Wait until 4 thinking tokens exist, then thinking
    # closes naturally (end-of-turn while thinking -> the delimiter), and the answer is end-of-turn.
    assert emitted == bf.encode(tok, "Wait") * 4 + bf.encode(tok, CLOSE) + [eot]


def test_answer_cap_and_zero_budget(smol):
    _, tok = smol
    word = bf.encode(tok, " yes")[0]
    forcer = bf.BudgetForcer(tok, max_think=0, max_answer=6)
    emitted = drive(forcer, tok, prefer(tok, [word]))[0]
    # 6 answer tokens: "Final Answer:" (3), " yes" twice, end-of-turn forced by the cap.
    assert tok.decode(emitted) == "\n<|im_start|>answer\nFinal Answer: yes yes<|im_end|>"


def test_rows_are_independent_and_state_resets_between_calls(smol):
    """Row 0 wants to think forever, row 1 to stop at once: only row 0 is capped. A second call on a
    new sequence (rows swapped) must start from fresh counters: without a reset both rows would be
    finished already and emit only end-of-turn; with shared state the rows would agree."""
    _, tok = smol
    forcer = bf.BudgetForcer(tok, max_think=2, max_answer=5)
    word, eot = bf.encode(tok, " a")[0], tok.eos_token_id

    def run(preferred):
        def scores_at(step):
            scores = torch.zeros(2, len(tok))
            scores[torch.arange(2), preferred] = 5.0
            return scores
        return drive(forcer, tok, scores_at, batch=2, start=7)

    thinker = [word, word] + bf.encode(tok, CLOSE) + bf.encode(tok, "Final Answer:") + [word, eot]
    stopper = bf.encode(tok, CLOSE) + [eot]
    assert run([word, eot]) == [thinker, stopper]
    assert run([eot, word]) == [stopper, thinker]
    assert run([word, eot]) == [thinker, stopper]


def test_padded_vocabulary_ids_are_never_emitted(smol):
    _, tok = smol
    forcer = bf.BudgetForcer(tok, max_think=5, max_answer=5, temperature=1.0)
    scores = torch.zeros(1, len(tok) + 64)
    scores[0, len(tok):] = 50.0  # Qwen-style padding rows of the embedding matrix
    out = forcer(torch.zeros(1, 3, dtype=torch.long), scores)
    assert out.argmax(-1).item() < len(tok)


def three_way_scores(tok, logits, batch=1):
    """scores_at for drive(): every row, every step, puts the given logits on the given tokens and
    (practically) nothing elsewhere."""
    def scores_at(step):
        scores = torch.full((batch, len(tok)), -50.0)
        for token, logit in logits.items():
            scores[:, token] = logit
        return scores
    return scores_at


def test_sampling_decides_on_the_drawn_token(smol):
    """Under sampling the forcer draws the token and decides on that draw. The argmax is a thinking
    token, so a decision on the argmax would never see an end attempt; the draws must follow
    softmax(logits / T), so ignoring T (greedy, or T = 1) shows in the frequencies."""
    _, tok = smol
    a, b, eot = bf.encode(tok, " A")[0], bf.encode(tok, " B")[0], tok.eos_token_id
    wait = bf.encode(tok, "Wait")[0]
    temperature, logits = 0.5, {a: 0.0, b: -0.5, eot: -1.0}
    expected = torch.softmax(torch.tensor(list(logits.values())) / temperature, 0).tolist()  # ~ .665, .245, .090
    counts = {a: 0, b: 0, wait: 0}
    for seed in (0, 1):
        # Every end attempt is owed a Wait, so each of the 40 thinking steps is one free draw and the
        # emitted token names it: " A" or " B" drawn as themselves, a drawn end-of-turn as "Wait".
        # 30 rows per seed (rows draw one after another from the forcer's generator): 2400 draws.
        forcer = bf.BudgetForcer(tok, max_think=40, num_wait=1000, max_answer=2, temperature=temperature, seed=seed)
        for emitted in drive(forcer, tok, three_way_scores(tok, logits, batch=30), batch=30):
            thinking, rest = emitted[:40], emitted[40:]
            assert set(thinking) <= set(counts)  # an end-of-turn never escapes into the thinking
            assert rest[:len(bf.encode(tok, CLOSE))] == bf.encode(tok, CLOSE)
            for token in thinking:
                counts[token] += 1
    observed = [counts[a] / 2400, counts[b] / 2400, counts[wait] / 2400]
    # 2400 draws: 0.03 is 3 to 5 standard deviations; T = 1 would give ~ .506, .307, .186.
    assert all(abs(o - e) < 0.03 for o, e in zip(observed, expected)), (observed, expected)


def test_sampling_drawn_end_closes_and_drawn_thought_continues(smol):
    """Both directions of the draw differing from the argmax, with nothing owed: a drawn end-of-turn
    closes thinking though the argmax would think on (first part), and a drawn thinking token thinks
    on though the argmax would close (second part). Each row gives one geometric run of thinking."""
    _, tok = smol
    a, eot = bf.encode(tok, " A")[0], tok.eos_token_id
    close = bf.encode(tok, CLOSE)
    for logits in ({a: 0.0, eot: -1.0}, {a: -0.3, eot: 0.0}):
        p_think = torch.softmax(torch.tensor([logits[a], logits[eot]]), 0)[0].item()
        mean_run = p_think / (1 - p_think)  # thinking tokens before the first drawn end: geometric
        forcer = bf.BudgetForcer(tok, max_think=60, max_answer=3, temperature=1.0, seed=0)
        runs = []
        for emitted in drive(forcer, tok, three_way_scores(tok, logits, batch=80), batch=80):  # 80 independent rows
            k = emitted.index(close[1])  # the delimiter's "<|im_start|>": thinking ends one token before it
            assert emitted[k - 1:k + len(close) - 1] == close and set(emitted[:k - 1]) <= {a}
            assert "Final Answer" not in tok.decode(emitted)  # a natural stop: never the cap
            runs.append(k - 1)
        # ~ 2.7 and ~ 0.74 here; decisions on the argmax would give 60 (the cap) and 0.
        assert abs(sum(runs) / len(runs) - mean_run) < 0.6 * mean_run, (runs, mean_run)
        assert len(set(runs)) > 2  # the draws differ from row to row


def test_cap_inside_a_multi_token_wait(smol):
    """s1#127: when the cap lands in the middle of a forced "Wait, let me check", thinking stops
    exactly at max_think, mid-Wait, and the close + "Final Answer:" follow at once."""
    _, tok = smol
    wait_str = "Wait, let me check"
    wait, word, eot = bf.encode(tok, wait_str), bf.encode(tok, " so")[0], tok.eos_token_id
    assert len(wait) == 5
    for cut in range(1, len(wait)):  # the cap after 1, 2, 3 and 4 of the Wait's 5 tokens
        forcer = bf.BudgetForcer(tok, max_think=2 + cut, num_wait=1, wait_str=wait_str, max_answer=5)
        emitted = drive(forcer, tok, prefer(tok, [word, word, eot, word]))[0]  # tries to stop after 2 tokens
        expected = [word, word] + wait[:cut] + bf.encode(tok, CLOSE) + bf.encode(tok, "Final Answer:") + [word, eot]
        assert emitted == expected, cut


def test_empty_wait_str_suppresses_the_end_and_takes_the_next_best_token(smol):
    """The paper's "no string" ablation: an end attempt is refused and nothing is appended; the
    row continues with its best token that does not end thinking, and that counts as thinking."""
    _, tok = smol
    forcer = bf.BudgetForcer(tok, max_think=100, num_wait=2, wait_str="", max_answer=5)
    im_start, word, runner_up = bf.encode(tok, "<|im_start|>")[0], bf.encode(tok, " so")[0], bf.encode(tok, " no")[0]

    def scores_at(step):
        scores = torch.zeros(1, len(tok))
        scores[0, im_start if step % 2 == 0 else word] = 10.0  # every other step the model wants to end thinking
        scores[0, runner_up] = 5.0                              # its second choice is " no"
        return scores
    emitted = drive(forcer, tok, scores_at)[0]
    assert emitted[:4] == [runner_up, word, runner_up, word]
    assert emitted[4:7] == bf.encode(tok, DELIMITER)  # the third attempt is let through, completed, no "\n"


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

def check_control(results, tok, *, max_think, min_think, num_wait, max_answer, wait_str="Wait"):
    """Every count in the result dicts against an independent reading of completion_ids: the
    delimiter's position in the tokens, the decoded text split at the delimiter, forced_mask."""
    im_start, newline = bf.encode(tok, "<|im_start|>")[0], bf.encode(tok, "\n")[0]
    wait_len = len(bf.encode(tok, wait_str))
    for r in results:
        ids, mask = r["completion_ids"], r["forced_mask"]
        assert len(ids) == len(mask) and ids[-1] == tok.eos_token_id
        # The first "<|im_start|>" opens the delimiter (the forcer never lets one into the thinking).
        # A forced close is "\n" + delimiter, so its "\n" is not thinking; the model's own is.
        k = ids.index(im_start)
        assert ids[k:k + 3] == bf.encode(tok, DELIMITER)
        forced_close = mask[k]
        assert not forced_close or (ids[k - 1] == newline and mask[k - 1])
        thinking_tokens = k - 1 if forced_close else k
        thinking_text, answer_text = tok.decode(ids).split(DELIMITER, 1)
        assert r["thinking_tokens"] == thinking_tokens
        assert r["thinking"] + ("\n" if forced_close else "") == thinking_text
        assert r["answer_tokens"] == len(ids) - (k + 3) and answer_text.endswith("<|im_end|>")
        assert r["answer"] == answer_text[:-len("<|im_end|>")].strip()
        assert r["text"] == tok.decode(ids)
        # The controls: the cap is exact, and only the cap forces a stop (then "Final Answer:" follows).
        assert thinking_tokens <= max_think and r["answer_tokens"] <= max_answer
        assert r["forced_stop"] == (thinking_tokens == max_think)
        forced_in_thinking = sum(mask[:thinking_tokens])  # the Waits, token by token
        if r["forced_stop"]:
            prefix = min(3, r["answer_tokens"] - 1)  # "Final Answer:" is 3 tokens; the answer cap may cut it
            assert ids[k + 3:k + 3 + prefix] == bf.encode(tok, "Final Answer:")[:prefix] and all(mask[k + 3:k + 3 + prefix])
            assert r["waits"] * wait_len - wait_len < forced_in_thinking <= r["waits"] * wait_len or r["waits"] == forced_in_thinking == 0
        else:
            assert thinking_tokens >= min_think and r["waits"] >= num_wait
            assert forced_in_thinking == r["waits"] * wait_len
        check_spans(r, tok, thinking_tokens, k, forced_close, wait_str)


def check_spans(r, tok, thinking_tokens, k, forced_close, wait_str):
    """forced_spans: in order, disjoint, exactly the forced tokens; each one's character offsets cut
    out of the text what its tokens decode to; the kinds in the order the forcing happened (each
    Wait, then the cap or the delimiter, then end-of-turn at the answer's cap)."""
    ids, mask, spans = r["completion_ids"], r["forced_mask"], r["forced_spans"]
    assert [i for s in spans for i in range(*s["tokens"])] == [i for i, forced in enumerate(mask) if forced]
    for s in spans:
        first, end = s["tokens"]
        assert r["text"][:s["start"]] == tok.decode(ids[:first])
        assert r["text"][s["start"]:s["end"]] == tok.decode(ids[first:end])
    close = "cap" if r["forced_stop"] else "delimiter"
    assert [s["kind"] for s in spans] == ["wait"] * r["waits"] + [close] + ["answer_cap"] * mask[-1]
    for s in spans[:r["waits"]]:  # every Wait is the whole string, except one the cap cut
        text = r["text"][s["start"]:s["end"]]
        assert s["tokens"][1] <= thinking_tokens
        assert text == wait_str or (r["forced_stop"] and s["tokens"][1] == thinking_tokens and wait_str.startswith(text))
    closing = spans[r["waits"]]
    assert closing["tokens"][0] == (thinking_tokens if forced_close else k + 1)  # the model's own "<|im_start|>" is not forced
    if r["forced_stop"]:
        assert r["text"][closing["start"]:closing["end"]] in (CLOSE + "Final Answer:", CLOSE + "Final", CLOSE + "Final Answer", CLOSE)
    if mask[-1]:
        assert spans[-1]["tokens"] == [len(ids) - 1, len(ids)] and ids[-1] == tok.eos_token_id


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
        check_control(results, tok, max_think=max_think, min_think=min_think, num_wait=num_wait, max_answer=max_answer)


def generate_with(model, tok, prompts, **kwargs):
    """Stock generate() with a fresh BudgetForcer: the completion tokens per row (padding included)."""
    forcer = bf.BudgetForcer(tok, model=model, **kwargs)
    prompt_ids, mask = dt.left_pad([bf.encode(tok, p) for p in prompts], tok.pad_token_id)
    # Enough steps for any row: thinking, the longest close, the answer.
    max_new = kwargs["max_think"] + 8 + kwargs.get("max_answer", 512)
    out = model.generate(prompt_ids, attention_mask=mask, logits_processor=LogitsProcessorList([forcer]),
                         do_sample=False, max_new_tokens=max_new, pad_token_id=tok.pad_token_id)
    return [row[prompt_ids.shape[1]:].tolist() for row in out]


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
        for r, generated in zip(results, generate_with(model, tok, [r["prompt"] for r in results], **kwargs)):
            assert generated[:len(r["completion_ids"])] == r["completion_ids"]
            assert all(t == tok.pad_token_id for t in generated[len(r["completion_ids"]):])
    assert any(r["forced_stop"] for r in seen) and any(not r["forced_stop"] for r in seen)
    assert any(r["waits"] for r in seen)


def test_rows_finishing_at_different_steps(smol):
    """Rows of one batch end at different steps, the first row before the next two, so the decode loop
    drops finished rows from the batch and the cache while others go on. Each row must come out exactly as when it
    runs alone, and as stock generate() gives it."""
    model, tok = smol
    kwargs = dict(max_think=12, num_wait=1, max_answer=16)
    batch = bf.budget_force(model, tok, QUESTIONS, **kwargs)
    lengths = [len(r["completion_ids"]) for r in batch]
    assert lengths[0] < min(lengths[1:3]), lengths  # the first row ends first: the others shift up in the batch
    for question, r in zip(QUESTIONS, batch):
        assert r == bf.budget_force(model, tok, [question], **kwargs)[0]
    for r, generated in zip(batch, generate_with(model, tok, [r["prompt"] for r in batch], **kwargs)):
        assert generated[:len(r["completion_ids"])] == r["completion_ids"]
    check_control(batch, tok, max_think=12, min_think=0, num_wait=1, max_answer=16)


def test_cap_inside_a_multi_token_wait_on_the_model(smol):
    """s1#127 on the model: the cap lands inside a forced "Wait, let me check"; thinking ends at
    exactly max_think and the completion goes on with the close and "Final Answer:"."""
    model, tok = smol
    wait_str, question = "Wait, let me check", QUESTIONS[1]
    wait = bf.encode(tok, wait_str)
    free = bf.budget_force(model, tok, [question], max_think=64, num_wait=1, wait_str=wait_str, max_answer=4)[0]
    start = free["forced_mask"].index(True)  # where the model first tried to stop: the Wait begins
    assert free["completion_ids"][start:start + len(wait)] == wait
    max_think = start + 2  # two of the Wait's five tokens fit
    r = bf.budget_force(model, tok, [question], max_think=max_think, num_wait=1, wait_str=wait_str, max_answer=4)[0]
    head = free["completion_ids"][:start] + wait[:2] + bf.encode(tok, CLOSE) + bf.encode(tok, "Final Answer:")
    assert r["completion_ids"][:len(head)] == head
    assert r["thinking_tokens"] == max_think and r["forced_stop"] and r["waits"] == 1
    check_control([r], tok, max_think=max_think, min_think=0, num_wait=1, max_answer=4, wait_str=wait_str)


def test_sampling_is_seeded(smol):
    """Sampling is reproducible by seed and only by seed: the same seed gives the same tokens, other
    seeds other tokens (greedy, or a seed that is ignored, fails this); generate() agrees."""
    model, tok = smol
    kwargs = dict(max_think=16, min_think=6, num_wait=1, max_answer=6, temperature=1.0)
    runs = {seed: bf.budget_force(model, tok, QUESTIONS[:2], seed=seed, **kwargs) for seed in (7, 8)}
    again = bf.budget_force(model, tok, QUESTIONS[:2], seed=7, **kwargs)
    ids = {seed: [r["completion_ids"] for r in rs] for seed, rs in runs.items()}
    assert [r["completion_ids"] for r in again] == ids[7]
    assert ids[7] != ids[8]
    for rs in runs.values():
        check_control(rs, tok, max_think=16, min_think=6, num_wait=1, max_answer=6)
    generated = generate_with(model, tok, [r["prompt"] for r in runs[7]], seed=7, **kwargs)
    assert [g[:len(c)] for g, c in zip(generated, ids[7])] == ids[7]


# -----------------------------------------------------------------------------
# the command line

# -----------------------------------------------------------------------------
# forced_mask on a model: a delimiter the model opens itself is its own choice (both formats)

@pytest.mark.parametrize("fmt", ["s1", "r1"])
def test_forced_mask_tells_a_delimiter_the_model_opened_from_a_forced_one(smol_tokenizer, fmt):
    """Tiny Llamas that always choose one token: the delimiter's first token (the model closes its
    thinking itself: that token is not forced, and evaluate.closed_itself says so), end-of-turn
    (replaced by the forced delimiter) and a word (thinking cut at the cap). budget_force and the
    decode tree agree."""
    import evaluate
    from conftest import tiny_llama

    tok = smol_tokenizer
    think_end = bf.FORMATS[fmt]["think_end"]
    # the delimiter as training tokenized it, followed by the answer (r1's final "\n\n" splits)
    end_ids, word = bf.encode_followed(tok, think_end), bf.encode(tok, " so")[0]
    cases = {"opens the delimiter": end_ids[0], "ends its turn": tok.eos_token_id, "thinks on": word}
    for what, token in cases.items():
        model = tiny_llama(tok, [token])
        [r] = bf.budget_force(model, tok, ["What is 2+2?"], max_think=4, max_answer=5, fmt=fmt)
        assert dt.budget_force_tree(model, tok, ["What is 2+2?"], [{"max_think": 4}], max_answer=5,
                                    fmt=fmt)[0][0][0] == r
        n = r["thinking_tokens"]
        assert len(r["forced_mask"]) == len(r["completion_ids"])
        if what == "opens the delimiter":
            assert n == 0 and r["completion_ids"][:len(end_ids)] == end_ids and not r["forced_stop"]
            assert r["forced_mask"][0] is False and evaluate.closed_itself(r)
        elif what == "ends its turn":  # "\n" + delimiter forced in place of end-of-turn
            assert n == 0 and r["completion_ids"][:len(end_ids) + 1] == bf.encode_followed(tok, "\n" + think_end)
            assert r["forced_mask"][0] is True and not evaluate.closed_itself(r)
        else:
            assert n == 4 and r["forced_stop"] and r["forced_mask"][:4] == [False] * 4
            assert r["forced_mask"][4] is True and not evaluate.closed_itself(r)
            assert r["text"].startswith(" so" * 4 + "\n" + think_end + "Final Answer:")


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
def test_cli_bad_input_one_line_exit_2(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bf.main(args)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_cli_json(smol, smol_dir):
    """The real entry point: one JSON object per prompt, in order, each what budget_force returns
    for the same flags (values, not just keys; forced_mask left out), under the cap."""
    prompts = ["How many r in raspberry", "What is 2+2?"]
    proc = run_cli("--model", smol_dir, "--prompt", prompts[0], "--prompt", prompts[1],
                   "--max-think", "20", "--num-wait", "1", "--max-answer", "10", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    model, tok = smol
    expected = bf.budget_force(model, tok, prompts, max_think=20, num_wait=1, max_answer=10)
    assert rows == [json.loads(json.dumps({k: v for k, v in e.items() if k != "forced_mask"})) for e in expected]
    assert all(r["thinking_tokens"] <= 20 and prompts[i] in r["prompt"] for i, r in enumerate(rows))


def test_cli_explains_thinking_that_closes_at_once(smol_dir, capsys):
    """Issue 11: the untrained model closes its thinking at once; the CLI printed an empty answer
    and nothing else. Now one stderr line says why and what to try; forcing makes it think."""
    bf.main(["--model", smol_dir, "--prompt", "How many r in raspberry", "--max-think", "20", "--max-answer", "4"])
    out, err = capsys.readouterr()
    assert "[thinking tokens: 0/20" in out
    notes = [line for line in err.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "0 thinking tokens" in notes[0]
    assert all(hint in notes[0] for hint in ("--min-think", "--num-wait", "trained to think"))
    bf.main(["--model", smol_dir, "--prompt", "How many r in raspberry", "--max-think", "20", "--min-think", "8",
             "--max-answer", "4", "--json"])
    out, err = capsys.readouterr()
    assert json.loads(out)["thinking_tokens"] >= 8 and "note:" not in err


def test_cli_streams(smol_dir, capsys):
    bf.main(["--model", smol_dir, "--prompt", "How many r in raspberry", "--max-think", "16", "--max-answer", "8"])
    out = capsys.readouterr().out
    assert "<|im_start|>answer" in out and "[thinking tokens:" in out
    # the streamed text is the generation itself: the same as the --json run's text
    bf.main(["--model", smol_dir, "--prompt", "How many r in raspberry", "--max-think", "16", "--max-answer", "8",
             "--json"])
    text = json.loads(capsys.readouterr().out)["text"]
    assert text.replace("<|im_end|>", "").strip() in out


# -----------------------------------------------------------------------------
# the file people copy: public transformers names only, and nothing of the sweep engine

def test_budget_force_imports_only_top_level_transformers_names_and_not_the_sweep_engine():
    """budget_force.py runs copied alone under transformers 4.57 to 5.x (scripts/check_transformers.sh):
    it may import only names transformers exports at its top level (no transformers.cache_utils,
    whose classes change between releases), and no module of this repository."""
    import ast
    import transformers

    tree = ast.parse(open(bf.__file__).read())
    imported = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                imported[alias.name] = None
        elif isinstance(node, ast.ImportFrom):
            imported.setdefault(node.module, []).extend(a.name for a in node.names)
    assert [m for m in imported if m.startswith("transformers")] == ["transformers"], imported
    assert imported["transformers"] and all(hasattr(transformers, name) for name in imported["transformers"])
    ours = {os.path.splitext(f)[0] for f in os.listdir(ROOT) if f.endswith(".py")}
    assert not ours & {m.split(".")[0] for m in imported}, imported
    # Importing it loads nothing of the decode tree (a fresh interpreter: this one has it loaded).
    code = "import sys, budget_force; print('decode_tree' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_on_token_reports_every_appended_token_in_order_with_its_phase(smol_tokenizer):
    """on_token(row, token, phase) is the streaming hook serve.py builds on: every token a row
    appends, in order, as it is decided, and nothing after a row finished; phase "think" for
    thinking (forced Wait tokens included), "close" for the end-of-thinking delimiter, "answer"
    for everything after it. Rows: one capped mid-thought (close + "Final Answer:" forced), one
    that gets a Wait before its own delimiter (a tiny Llama that always tries to end its turn)."""
    from conftest import tiny_llama

    tok = smol_tokenizer
    word = bf.encode(tok, " so")[0]
    close = bf.encode_followed(tok, "\n" + bf.FORMATS["s1"]["think_end"])
    for token, max_think, num_wait in ((word, 3, 0), (tok.eos_token_id, 8, 1)):
        model = tiny_llama(tok, [token])
        seen = []
        [r] = bf.budget_force(model, tok, ["What is 2+2?"], max_think=max_think, num_wait=num_wait, max_answer=6,
                              on_token=lambda row, t, phase: seen.append((row, t, phase)))
        assert [t for _, t, _ in seen] == r["completion_ids"] and {row for row, _, _ in seen} == {0}
        phases = [p for _, _, p in seen]
        n = r["thinking_tokens"]
        assert phases == ["think"] * n + ["close"] * len(close) + ["answer"] * r["answer_tokens"], (phases, r["text"])
        assert r["completion_ids"][n:n + len(close)] == close
        if token == word:  # the cap: "Final Answer:" is the first answer text
            assert n == 3 and r["forced_stop"] and r["text"][len(" so" * 3):].startswith(
                "\n<|im_start|>answer\nFinal Answer:")
        else:  # the Wait replaced the end of turn and counts as thinking
            assert r["waits"] == 1 and r["thinking"] == "Wait" and not r["forced_stop"]
