"""Thinking formats: one r1 delimiter set for training and forcing, --format auto on tokenizers with
chat templates of the real shapes (Qwen2.5-Instruct, a DeepSeek-R1 distill, Qwen3), the thinking
opened once, and an end of thinking recognised however the tokenizer splits the delimiter.

The tokenizers are SmolLM2's byte-level BPE (the embedded model's) rebuilt locally, with the
special tokens and chat templates of each family added: no hub, no hard-coded ids.
"""
import pytest
import torch

import budget_force as bf
import train
from conftest import truncated_tokenizer
from test_budget_force import drive, prefer

# The chat templates, abridged to the parts that decide the format (system prompts, tools dropped).
QWEN25_TEMPLATE = (  # Qwen2.5-Instruct: ChatML, nothing about thinking (s1 fine-tunes this one)
    "{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}"
    "{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}")
R1_DISTILL_TEMPLATE = (  # DeepSeek-R1-Distill-Qwen: its generation prompt opens <think> itself
    "{{ bos_token }}{%- for message in messages %}{%- if message['role'] == 'user' %}"
    "{{ '<｜User｜>' + message['content'] }}{%- endif %}"
    "{%- if message['role'] == 'assistant' %}{% set content = message['content'] %}"
    "{% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}"
    "{{ '<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>' }}{%- endif %}{%- endfor %}"
    "{% if add_generation_prompt %}{{ '<｜Assistant｜><think>\\n' }}{% endif %}")
QWEN3_TEMPLATE = (  # Qwen3: ChatML, thinking in <think> tags, enable_thinking=false closes an empty block
    "{%- for message in messages %}{%- if message.role == 'user' %}"
    "{{- '<|im_start|>user\\n' + message.content + '<|im_end|>\\n' }}"
    "{%- elif message.role == 'assistant' %}{%- set content = message.content %}{%- set reasoning = '' %}"
    "{%- if '</think>' in content %}{%- set reasoning = content.split('</think>')[0].split('<think>')[-1].strip('\\n') %}"
    "{%- set content = content.split('</think>')[-1].lstrip('\\n') %}{%- endif %}"
    "{{- '<|im_start|>assistant\\n<think>\\n' + reasoning + '\\n</think>\\n\\n' + content + '<|im_end|>\\n' }}"
    "{%- endif %}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}"
    "{%- endif %}")


def family(smol_tokenizer, name):
    """SmolLM2's BPE cut to 4096 ids (a copy: the session's tokenizer stays as it is; small, so
    forcing scans a short vocabulary) dressed as a model family."""
    tok = truncated_tokenizer(smol_tokenizer, 4096)
    if name == "qwen2.5":
        tok.chat_template = QWEN25_TEMPLATE
    elif name == "r1-distill":
        tok.add_special_tokens({"bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>",
                                "additional_special_tokens": ["<｜User｜>", "<｜Assistant｜>"]})
        tok.add_tokens(["<think>", "</think>"])  # added, not special: they decode in the text
        tok.chat_template = R1_DISTILL_TEMPLATE
    elif name == "qwen3":
        tok.add_tokens(["<think>", "</think>"])
        tok.chat_template = QWEN3_TEMPLATE
    return tok


@pytest.fixture(scope="module")
def families(smol):
    return {name: family(smol[1], name) for name in ("qwen2.5", "r1-distill", "qwen3")}


# -----------------------------------------------------------------------------
# one delimiter set

def test_training_and_forcing_use_the_same_delimiters():
    assert train.FORMATS == bf.FORMATS  # one table, copied (train.py puts "\n" before think_end)
    # R1 distills and Qwen3 close thinking with "\n</think>\n\n" (Qwen3's template writes exactly that)
    assert "\n" + train.FORMATS["r1"]["think_end"] == "\n</think>\n\n"
    assert "'\\n</think>\\n\\n'" in QWEN3_TEMPLATE


@pytest.mark.parametrize("name", ["qwen2.5", "r1-distill", "qwen3"])
def test_forced_close_is_the_token_sequence_training_taught(families, name):
    """The ids budget forcing emits to close thinking appear, as they are, in the training example
    (the tokenizer splits a final "\n\n" differently from one before the answer)."""
    tok = families[name]
    fmt = bf.detect_format(tok)[0]
    row = {"question": "What is 2 + 3?", "deepseek_thinking_trajectory": "2 plus 3 is 5.", "deepseek_attempt": "The answer is 5."}
    prompt, turn = train.render_example(tok, row, fmt)
    forcer = bf.BudgetForcer(tok, max_think=8, fmt=fmt)
    close = forcer.close_ids
    assert any(turn[i:i + len(close)] == close for i in range(len(turn))), (tok.convert_ids_to_tokens(close), tok.convert_ids_to_tokens(turn))
    # and the prompt inference feeds is the prompt training masked, think delimiter included
    text = bf.build_prompt(tok, row["question"], fmt)
    assert bf.encode(tok, text) == (prompt + turn)[:len(bf.encode(tok, text))]


# -----------------------------------------------------------------------------
# --format auto

@pytest.mark.parametrize("name,expected", [("qwen2.5", "s1"), ("r1-distill", "r1"), ("qwen3", "r1")])
def test_auto_detects_the_format_and_training_agrees(families, name, expected):
    tok = families[name]
    assert bf.detect_format(tok)[0] == expected
    assert train.detect_format(tok) == bf.detect_format(tok)  # the copy in train.py has not drifted


def test_auto_on_the_embedded_model_is_s1(smol):
    assert bf.detect_format(smol[1])[0] == "s1"  # the demo's model: ChatML, no <think>


@pytest.mark.parametrize("name", ["qwen2.5", "r1-distill", "qwen3"])
def test_prompt_opens_the_thinking_exactly_once(families, name):
    tok = families[name]
    prompt = bf.build_prompt(tok, "What is 2 + 3?")
    fmt = bf.detect_format(tok)[0]
    start = bf.FORMATS[fmt]["think_start"]
    assert prompt.endswith(start)
    assert prompt.count(start.strip()) == 1, prompt
    if name == "qwen3":  # enable_thinking is on: the template must not close an empty block
        assert "</think>" not in prompt and prompt.endswith("<|im_start|>assistant\n<think>\n")
    if name == "r1-distill":
        assert prompt.endswith("<｜Assistant｜><think>\n")
    # training masks the same prompt and does not open the thinking again in the turn
    row = {"question": "What is 2 + 3?", "deepseek_thinking_trajectory": "5.", "deepseek_attempt": "5"}
    ids, turn = train.render_example(tok, row, fmt)
    assert tok.decode(ids + turn).count(start.strip()) == 1


def test_a_template_that_opens_think_refuses_s1(families):
    with pytest.raises(ValueError, match="opens <think>"):
        bf.build_prompt(families["r1-distill"], "2+2?", fmt="s1")
    with pytest.raises(ValueError, match="opens <think>"):
        train.render_example(families["r1-distill"], {"question": "q", "deepseek_thinking_trajectory": "t",
                                                      "deepseek_attempt": "a"}, "s1")


def test_auto_is_the_default_and_is_printed(families, capsys):
    assert bf.resolve_format("auto", families["qwen3"]) == "r1"
    assert "format: r1 (auto:" in capsys.readouterr().err
    import evaluate
    assert evaluate.parse_args(["--dataset", "x"]).format == "auto"
    assert train.parse_args([]).format == "auto"


# -----------------------------------------------------------------------------
# the end of thinking, however it is tokenized

def ended_with(tok, script, **kwargs):
    """Drive a forcer in r1 format with the model preferring `script`; returns (emitted text, tokens)."""
    forcer = bf.BudgetForcer(tok, max_think=40, max_answer=6, fmt="r1", **kwargs)
    emitted = drive(forcer, tok, prefer(tok, script))[0]
    return tok.decode(emitted), emitted


def ids(tok, *pieces):
    """One id per piece, each looked up in the vocabulary (never hard-coded)."""
    out = []
    for piece in pieces:
        (i,) = bf.encode(tok, piece) if piece not in tok.get_vocab() else (tok.convert_tokens_to_ids(piece),)
        out.append(i)
    return out


def test_end_as_one_token(families):
    tok = families["qwen3"]  # </think> is one token
    word, end, answer = ids(tok, " so", "</think>", "The")
    text, _ = ended_with(tok, [word, word, end, answer])
    assert text.startswith(" so so</think>\n\nThe")  # recognised: the delimiter completed, then the answer
    text, _ = ended_with(tok, [word, word, end, answer], num_wait=1)
    assert text.startswith(" so soWait") and text.count("</think>") == 1  # the first attempt became a Wait


def test_end_as_several_tokens(smol):
    tok = smol[1]  # SmolLM2 has no <think> token: "</think>" is "</", "think", ">"
    word, lt, think, gt, answer = ids(tok, " so", "</", "think", ">", "The")
    assert bf.encode(tok, "</think>") == [lt, think, gt]
    text, emitted = ended_with(tok, [word, lt, think, gt, answer])
    assert text.startswith(" so</think>\n\nThe")
    # no thinking token after the first piece: the attempt was seen at "</"
    forcer = bf.BudgetForcer(tok, max_think=40, max_answer=6, fmt="r1")
    drive(forcer, tok, prefer(tok, [word, lt, think, gt, answer]))
    assert forcer.rows[0].thinking_tokens == 1
    text, _ = ended_with(tok, [word, lt, think, gt, answer], num_wait=1)
    assert text.startswith(" soWait")


def test_end_merged_with_its_neighbours(smol):
    tok = truncated_tokenizer(smol[1], 4096)
    # BPE tokens that merge the delimiter with the text around it
    tok.add_tokens([".</think>", "</think>\n\n"])
    word, merged_left, merged_right, answer = ids(tok, " so", ".</think>", "</think>\n\n", "The")
    text, _ = ended_with(tok, [word, merged_left, answer])
    assert text.startswith(" so.</think>\n\nThe")  # the model's token, then the rest of the delimiter
    text, _ = ended_with(tok, [word, merged_right, answer])
    assert text.startswith(" so</think>\n\nThe")   # nothing left to complete
    text, _ = ended_with(tok, [word, merged_left, word, answer], num_wait=1)
    assert text.startswith(" so.Wait")              # a Wait replaces the delimiter, the "." stays
    # a vocabulary token that merges the delimiter's first piece with the character before it
    space_lt = ids(smol[1], " </")[0]
    text, _ = ended_with(smol[1], [word, space_lt, answer])
    assert text.startswith(" so </think>\n\nThe")


def test_delimiter_ids_come_from_the_tokenizer(families, smol):
    """The same delimiter, different ids: each forcer reads its own from its tokenizer."""
    one = bf.BudgetForcer(families["qwen3"], max_think=4, fmt="r1")
    several = bf.BudgetForcer(smol[1], max_think=4, fmt="r1")
    assert families["qwen3"].convert_tokens_to_ids("</think>") in one.end_attempt_ids
    assert smol[1].convert_tokens_to_ids("</") in several.end_attempt_ids
    assert families["qwen3"].decode(one.close_ids) == smol[1].decode(several.close_ids) == "\n</think>\n\n"
