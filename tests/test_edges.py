"""Budget forcing at the edges other engines' tests and bug reports probe (issue 42).

Each case runs on the s1 and r1 formats and, where it applies, through the processor alone
(BudgetForcer.__call__ / next_token on scores we choose), the plain loop (budget_force) and the
decode tree (budget_force_tree), on tiny models whose next token we script:
  - budgets 0, 1 and exactly N (vLLM's test: N = 5; SGLang's: 20) on a model that would think on;
  - the end-of-thinking delimiter begun by the model as the cap arrives: finished once, never
    restarted or duplicated, and the answer holds no thinking (TensorRT-LLM#18616);
  - the think tag already in the prompt, and a closed empty think block (SGLang#33146, mlx-vlm#1911);
  - delimiter ids read from the tokenizer in use, never constants (SGLang#20029);
  - a cap that falls inside a character a byte-level BPE splits across tokens (llama.cpp);
  - a row state copied mid-count, mid-Wait and mid-close continues as the unforked run, and the
    tree's forks taken in those states keep their counts (llama.cpp's cloned sampler);
  - the cap's text per format (cap_str).
Public surface only: BudgetForcer, budget_force, budget_force_tree, the result dicts.
"""
import copy

import pytest
import torch

import budget_force as bf
from conftest import tiny_llama
from decode_tree import budget_force_tree

FORMATS = ["s1", "r1"]
QUESTION = "Say so."


def think_end(fmt):
    return bf.FORMATS[fmt]["think_end"]


def core(fmt):
    """The delimiter's text without its whitespace: what must appear exactly once."""
    return think_end(fmt).strip()


class Scripted(torch.nn.Module):
    """A tiny Llama (a real KV cache) whose logits are replaced: completion token t is script[t]
    (script[-1] after the script). Every row of one prompt sits at the same step, so in a tree the
    script drives all settings alike and only the forcing tells them apart."""

    def __init__(self, inner, script):
        super().__init__()
        self.inner, self.config, self.script = inner, inner.config, script
        self.generation_config = inner.generation_config
        self.prompt_length = None

    @property
    def device(self):
        return self.inner.device

    @property
    def dtype(self):
        return self.inner.dtype

    def forward(self, input_ids, attention_mask, position_ids, use_cache, cache, logits_to_keep=0):
        out = self.inner(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                         use_cache=use_cache, cache=cache, logits_to_keep=1)
        if input_ids.shape[1] > 1:  # the prefill: the next token is the completion's first
            self.prompt_length = int(position_ids[0, -1]) + 1
        logits = torch.zeros_like(out.logits)
        for row, t in enumerate((position_ids[:, -1] + 1 - self.prompt_length).tolist()):
            logits[row, -1, self.script[min(t, len(self.script) - 1)]] = 10.0
        out.logits = logits
        return out


@pytest.fixture(scope="module")
def tok(smol_tokenizer):
    return smol_tokenizer


@pytest.fixture(scope="module")
def so(tok):
    return bf.encode(tok, " so")[0]


@pytest.fixture(scope="module")
def thinker(tok, so):
    """A tiny Llama that says " so" for ever: it would think longer than any cap."""
    return tiny_llama(tok, [so])


def scripted(tok, so, script):
    return Scripted(tiny_llama(tok, [so]), script)


def without_forks(r):
    return {k: v for k, v in r.items() if k != "forks"}


def tree_and_loop(model, tok, settings, fmt, max_answer=4, question=QUESTION):
    """Each setting's result from the decode tree, checked equal (forks aside) to its own
    budget_force run; returns the tree's results."""
    tree = [row[0] for row in budget_force_tree(model, tok, [question], settings, max_answer=max_answer, fmt=fmt)[0]]
    for setting, r in zip(settings, tree):
        [separate] = bf.budget_force(model, tok, [question], max_answer=max_answer, fmt=fmt, **setting)
        assert without_forks(r) == without_forks(separate), setting
    return tree


def drive(forcer, tok, script, max_steps=200):
    """The processor alone: __call__ once per step, the model preferring script[step]; returns the
    emitted tokens up to the first end-of-turn."""
    stops = bf.stop_token_ids(tok)
    emitted = []
    for step in range(max_steps):
        scores = torch.zeros(1, len(tok))
        scores[0, script[min(step, len(script) - 1)]] = 10.0
        out = forcer(torch.zeros(1, 5 + step, dtype=torch.long), scores)
        assert torch.isfinite(out).sum().item() == 1
        emitted.append(int(out.argmax()))
        if emitted[-1] in stops:
            break
    return emitted


def cap_text(tok, fmt):
    """What the cap forces after the last thinking token under the default cap text, as ids."""
    return bf.encode_followed(tok, "\n" + think_end(fmt)) + bf.encode(tok, bf.FINAL_ANSWER)


# -----------------------------------------------------------------------------
# budgets 0, 1 and exactly N

BUDGETS = [0, 1, 5, 20]


@pytest.mark.parametrize("fmt", FORMATS)
def test_exact_budgets_in_the_loop_and_the_tree(tok, so, thinker, fmt):
    """A model that would think for ever thinks exactly max_think tokens, then the cap's text."""
    results = tree_and_loop(thinker, tok, [{"max_think": n} for n in BUDGETS], fmt)
    for n, r in zip(BUDGETS, results):
        assert r["thinking_tokens"] == n and r["forced_stop"], n
        assert r["completion_ids"][:n] == [so] * n
        assert r["completion_ids"][n:n + len(cap_text(tok, fmt))] == cap_text(tok, fmt)
        assert r["thinking"] == " so" * n
        assert r["forced_spans"][0]["kind"] == "cap" and r["forced_spans"][0]["tokens"][0] == n


@pytest.mark.parametrize("fmt", FORMATS)
def test_exact_budgets_through_the_processor_in_generate(tok, so, thinker, fmt):
    """Stock model.generate with the processor: the same N thinking tokens, then the cap's text."""
    prompt = bf.encode(tok, bf.build_prompt(tok, QUESTION, fmt))
    for n in BUDGETS:
        forcer = bf.BudgetForcer(tok, max_think=n, max_answer=4, fmt=fmt)
        out = thinker.generate(torch.tensor([prompt]), logits_processor=[forcer], do_sample=False,
                               max_new_tokens=forcer.max_new_tokens, pad_token_id=forcer.eot_id)
        ids = out[0, len(prompt):].tolist()
        assert ids[:n] == [so] * n and ids[n:n + len(cap_text(tok, fmt))] == cap_text(tok, fmt), n
        assert forcer.rows[0].thinking_tokens == n and forcer.rows[0].forced_stop


# -----------------------------------------------------------------------------
# the delimiter begun by the model as the cap arrives

def delimiter_script(tok, so, fmt, at):
    """" so" up to token `at`, then the delimiter's tokens as the model would write them, then " so"."""
    return [so] * at + bf.encode(tok, core(fmt)) + [so]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("at", [4, 5])
def test_delimiter_begun_at_the_cap_is_finished_once(tok, so, fmt, at):
    """Cap 5. The model opens the delimiter (several tokens on SmolLM2 in both formats: `</`
    `think` `>`; `<|im_start|>` `answer`) in the last thinking slot (token 4): its own close,
    completed, 4 thinking tokens, no "Final Answer:"; or right at the cap (token 5): the cap's
    close in its place. Either way the delimiter appears once, nothing of it is in the thinking,
    and the answer holds no thinking."""
    model = scripted(tok, so, delimiter_script(tok, so, fmt, at))
    [r] = tree_and_loop(model, tok, [{"max_think": 5}], fmt)
    forcer = bf.BudgetForcer(tok, max_think=5, max_answer=4, fmt=fmt)
    assert drive(forcer, tok, delimiter_script(tok, so, fmt, at)) == r["completion_ids"]
    assert r["text"].count(core(fmt)) == 1 and core(fmt)[:2] not in r["thinking"]
    assert r["thinking"] == " so" * min(at, 5) and r["thinking_tokens"] == min(at, 5)
    after = r["text"][len(r["thinking"]):]
    if at < 5:  # the model's own close: its tokens, then the rest of the delimiter completed
        assert not r["forced_stop"] and after.startswith(think_end(fmt).rstrip("\n"))
        assert bf.FINAL_ANSWER not in r["text"]
    else:
        assert r["forced_stop"] and after.startswith("\n" + think_end(fmt) + bf.FINAL_ANSWER)
    assert core(fmt) not in r["answer"] and core(fmt)[:2] not in r["answer"]
    assert r["answer"].replace(bf.FINAL_ANSWER, "").strip(" so") == ""


# -----------------------------------------------------------------------------
# the think tag in the prompt, a closed empty think block

R1_TEMPLATE = ("{% for m in messages %}<｜User｜>{{ m['content'] }}{% endfor %}"
               "{% if add_generation_prompt %}<｜Assistant｜><think>\n{% endif %}")
QWEN3_LIKE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
              "{% if add_generation_prompt %}<|im_start|>assistant\n"
              "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n{% endif %}{% endif %}")
NO_THINKING = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
               "{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n\n</think>\n\n{% endif %}")


def with_template(tok, template):
    other = copy.deepcopy(tok)
    other.chat_template = template
    return other


def test_a_generation_prompt_that_opens_thinking_is_not_opened_twice(tok, thinker, so):
    """R1 distills' template ends the generation prompt with `<think>\\n`: the prompt keeps that one."""
    r1 = with_template(tok, R1_TEMPLATE)
    assert bf.detect_format(r1)[0] == "r1"
    prompt = bf.build_prompt(r1, QUESTION)
    assert prompt.endswith("<｜Assistant｜><think>\n") and prompt.count("<think>") == 1
    [r] = bf.budget_force(thinker, r1, QUESTION, max_think=5, max_answer=4)
    assert r["prompt"] == prompt and r["thinking_tokens"] == 5 and r["completion_ids"][:5] == [so] * 5


def test_thinking_switched_on_for_a_template_that_can_switch_it_off(tok):
    """Qwen3's template writes an empty block unless enable_thinking: the prompt opens thinking."""
    qwen3 = with_template(tok, QWEN3_LIKE)
    prompt = bf.build_prompt(qwen3, QUESTION, "r1")
    assert prompt.endswith("<|im_start|>assistant\n<think>\n") and "</think>" not in prompt


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_closed_empty_think_block_is_refused(tok, thinker, fmt):
    """A generation prompt that closes an empty think block asked for no thinking: budget forcing
    refuses it with one line rather than open a second block after it."""
    closed = with_template(tok, NO_THINKING)
    for call in (lambda: bf.build_prompt(closed, QUESTION, fmt),
                 lambda: bf.budget_force(thinker, closed, QUESTION, max_think=5, fmt=fmt)):
        with pytest.raises(ValueError, match="empty think block") as e:
            call()
        assert "\n" not in str(e.value)


@pytest.mark.parametrize("fmt", FORMATS)
def test_think_tags_inside_the_question_are_text(tok, so, thinker, fmt):
    """Only the current chain counts: delimiters written in the user's question change nothing."""
    question = "What do these lines mean in a chat template?\n<think>\n</think>\n<|im_start|>answer\n"
    [r] = tree_and_loop(thinker, tok, [{"max_think": 5}], fmt, question=question)
    assert r["prompt"].endswith(bf.FORMATS[fmt]["think_start"])
    assert r["thinking_tokens"] == 5 and r["completion_ids"][:5] == [so] * 5 and r["forced_stop"]


# -----------------------------------------------------------------------------
# ids from the tokenizer in use

def with_added_tokens(tok, tokens):
    other = copy.deepcopy(tok)
    other.add_tokens(tokens, special_tokens=True)
    return other


def test_r1_delimiter_ids_come_from_the_tokenizer(tok):
    """`<think>` and `</think>` added as single tokens in either order get each other's ids: the
    forced close and the model's own close use the ids of the tokenizer in use."""
    a, b = with_added_tokens(tok, ["<think>", "</think>"]), with_added_tokens(tok, ["</think>", "<think>"])
    assert a.convert_tokens_to_ids("</think>") != b.convert_tokens_to_ids("</think>")
    for t in (a, b):
        end, so = t.convert_tokens_to_ids("</think>"), bf.encode(t, " so")[0]
        [capped] = bf.budget_force(tiny_llama(t, [so]), t, QUESTION, max_think=5, max_answer=4, fmt="r1")
        assert capped["completion_ids"][5:7] == bf.encode(t, "\n") + [end] and capped["forced_stop"]
        assert capped["text"].startswith(" so" * 5 + "\n</think>\n\n" + bf.FINAL_ANSWER)
        [closed] = bf.budget_force(tiny_llama(t, [end]), t, QUESTION, max_think=5, max_answer=4, fmt="r1")
        assert closed["completion_ids"][0] == end and closed["thinking_tokens"] == 0 and not closed["forced_stop"]


def test_s1_delimiter_ids_come_from_the_tokenizer(tok):
    """A vocabulary without the token `answer` (SmolLM2's first 2,000 ids) spells the s1 delimiter
    with other ids; forcing writes them and counts the same."""
    from conftest import truncated_tokenizer

    small = truncated_tokenizer(tok, 2000)
    assert bf.encode(small, "\n<|im_start|>answer\n") != bf.encode(tok, "\n<|im_start|>answer\n")
    for t in (tok, small):
        so = bf.encode(t, " so")[0]
        [r] = bf.budget_force(tiny_llama(t, [so]), t, QUESTION, max_think=5, max_answer=12, fmt="s1")
        assert r["thinking_tokens"] == 5 and r["completion_ids"][5:5 + len(cap_text(t, "s1"))] == cap_text(t, "s1")
        assert r["text"].startswith(" so" * 5 + "\n<|im_start|>answer\n" + bf.FINAL_ANSWER)


# -----------------------------------------------------------------------------
# the cap inside a character: the hard cap

RARE = "龘"  # SmolLM2's byte-level BPE has no token for it: three byte tokens


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_cap_inside_a_character_is_a_hard_cap(tok, so, fmt):
    """The cap falls after the first two of the character's three byte tokens: thinking stops there
    (exactly max_think tokens, the thinking text ends in U+FFFD), the cap's close follows intact,
    and the answer holds no byte of the character."""
    pieces = bf.encode(tok, RARE)
    assert len(pieces) == 3 and all(tok.decode([p]) == "\ufffd" for p in pieces)
    script = [so, so, so] + pieces + [so]
    [r] = tree_and_loop(scripted(tok, so, script), tok, [{"max_think": 5}], fmt)
    assert r["thinking_tokens"] == 5 and r["completion_ids"][:5] == [so] * 3 + pieces[:2]
    assert r["thinking"] == " so" * 3 + "\ufffd"
    assert r["completion_ids"][5:5 + len(cap_text(tok, fmt))] == cap_text(tok, fmt)
    assert r["text"].endswith(r["answer"] + "<|im_end|>") and "\ufffd" not in r["answer"]


# -----------------------------------------------------------------------------
# forks: a state copied mid-count, mid-Wait and mid-close continues as the unforked run

LONG_WAIT = "Wait, let me check"


def run_states(forcer, states, choices):
    return [[forcer.next_token(state, c, c) for c in choices] for state in states]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_copied_state_continues_as_the_unforked_run(tok, so, fmt):
    """next_token on a state copied at every step of a script that crosses a Wait (several
    tokens), the cap's close (several tokens) and the answer: the copy and the original emit the
    unforked run's tokens from there on, and end with its counts."""
    eot = tok.eos_token_id
    choices = [so, so, eot] + [so] * 60
    forcer = bf.BudgetForcer(tok, max_think=8, num_wait=1, wait_str=LONG_WAIT, max_answer=6, fmt=fmt)
    reference = bf.RowState()
    unforked = run_states(forcer, [reference], choices)[0]
    wait, close = len(bf.encode(tok, LONG_WAIT)), len(cap_text(tok, fmt))
    assert unforked[2:2 + wait] == bf.encode(tok, LONG_WAIT) and unforked[8:8 + close] == cap_text(tok, fmt)
    for k in [1, 3, 2 + wait - 1, 9, 8 + close - 1, 8 + close + 1]:  # mid-count, mid-Wait, mid-close, answer
        state = bf.RowState()
        head = run_states(forcer, [state], choices[:k])[0]
        clone = copy.deepcopy(state)
        tails = run_states(forcer, [state, clone], choices[k:])
        assert head + tails[0] == unforked and head + tails[1] == unforked, k
        for s in (state, clone):
            assert (s.thinking_tokens, s.waits, s.forced_stop, s.answer_tokens) == \
                (reference.thinking_tokens, reference.waits, reference.forced_stop, reference.answer_tokens), k


@pytest.mark.parametrize("fmt", FORMATS)
def test_tree_forks_mid_count_and_mid_forcing_keep_their_counts(tok, so, fmt):
    """Settings that part mid-count (caps 3 and 6: the 6 goes on counting from 3), mid-Wait (two
    Waits that share "Wait, let me" and part at the next word) and at an end attempt: in the tree
    each gets its separate run's tokens and counts, and forks where the texts part."""
    eot = tok.eos_token_id
    script = [so] * 4 + [eot] + [so] * 40
    settings = [{"max_think": 3}, {"max_think": 6}, {"max_think": 12, "num_wait": 1, "wait_str": LONG_WAIT},
                {"max_think": 12, "num_wait": 1, "wait_str": "Wait, let me think"}]
    results = tree_and_loop(scripted(tok, so, script), tok, settings, fmt)
    assert [r["thinking_tokens"] for r in results] == [3, 4, 12, 12]
    assert [r["forced_stop"] for r in results] == [True, False, True, True]
    shared = len(bf.encode(tok, "Wait, let me"))
    assert bf.encode(tok, LONG_WAIT)[:shared] == bf.encode(tok, "Wait, let me think")[:shared]
    assert [r["completion_ids"][4:4 + shared] for r in results[2:]] == [bf.encode(tok, "Wait, let me")] * 2
    forks = [[(f["token"], f["from"]) for f in r["forks"]] for r in results]
    assert forks[0] == [(3, [1, 2, 3])] and forks[1] == [(3, [0]), (4, [2, 3])]
    assert forks[2] == [(3, [0]), (4, [1]), (4 + shared, [3])] and forks[3] == [(3, [0]), (4, [1]), (4 + shared, [2])]


@pytest.mark.parametrize("fmt", FORMATS)
def test_cap_texts_part_mid_close(tok, so, thinker, fmt):
    """Two cap texts that share their first word fork inside the cap's forcing, after it; each keeps
    its own count and text."""
    settings = [{"max_think": 3}, {"max_think": 3, "cap_str": "Final answer:"}]
    results = tree_and_loop(thinker, tok, settings, fmt)
    close = len(bf.encode_followed(tok, "\n" + think_end(fmt)))
    at = 3 + close + 1  # "Final" shared, then " Answer" against " answer"
    assert [r["thinking_tokens"] for r in results] == [3, 3]
    assert [[(f["token"], f["from"]) for f in r["forks"]] for r in results] == [[(at, [1])], [(at, [0])]]
    assert results[1]["text"].startswith(" so" * 3 + "\n" + think_end(fmt) + "Final answer:")


# -----------------------------------------------------------------------------
# the cap's text per format

QWEN3_PHRASE = "Considering the limited time by the user, I have to give the solution based on the thinking directly now."


def test_default_cap_text_per_model_family(tok):
    """s1 and R1 distills (whose template has no thinking switch) force "Final Answer:" after the
    delimiter; Qwen3 (its template reads enable_thinking) its report's phrase before `</think>`."""
    qwen3 = with_template(tok, QWEN3_LIKE)
    assert bf.default_cap_str(tok, "s1") == bf.default_cap_str(tok, "r1") == bf.FINAL_ANSWER == "Final Answer:"
    assert bf.default_cap_str(with_template(tok, R1_TEMPLATE), "r1") == bf.FINAL_ANSWER
    assert bf.default_cap_str(qwen3, "r1") == QWEN3_PHRASE + "\n</think>"
    assert bf.default_cap_str(qwen3, "s1") == bf.FINAL_ANSWER  # s1's own format on a Qwen3 base keeps s1's text


def test_qwen3_caps_with_its_phrase_before_the_delimiter(tok, so):
    """Thinking stops at exactly max_think tokens; the phrase and the delimiter are the cap's span
    (not thinking, not answer); the processor forces the same tokens."""
    qwen3 = with_template(tok, QWEN3_LIKE)
    forced = "\n" + QWEN3_PHRASE + "\n</think>\n\n"
    [r] = tree_and_loop(tiny_llama(qwen3, [so]), qwen3, [{"max_think": 5}], "auto")
    assert r["text"] == " so" * 5 + forced + " so" * 3 + "<|im_end|>"
    assert r["thinking_tokens"] == 5 and r["thinking"] == " so" * 5 and r["forced_stop"]
    assert r["answer"] == "so so so" and r["answer_tokens"] == 4
    [cap, _] = r["forced_spans"]
    assert cap["kind"] == "cap" and r["text"][cap["start"]:cap["end"]] == forced
    assert drive(bf.BudgetForcer(qwen3, max_think=5, max_answer=4), qwen3, [so]) == r["completion_ids"]
    import grade
    assert QWEN3_PHRASE not in grade.answer_section(r["text"])


@pytest.mark.parametrize("fmt", FORMATS)
def test_cap_str_is_forced_where_it_says(tok, so, thinker, fmt):
    """cap_str after the delimiter ("Answer:"), nothing after it (""), or with the delimiter in it:
    the text before goes before it. The same through the processor, the loop and the tree."""
    expected = {"Answer:": "\n" + think_end(fmt) + "Answer:", "": "\n" + think_end(fmt),
                "Time is up.\n" + core(fmt): "\nTime is up.\n" + think_end(fmt),
                "Time is up. " + core(fmt) + " Answer:": "\nTime is up. " + think_end(fmt) + "Answer:"}
    settings = [{"max_think": 5, "cap_str": c} for c in expected]
    for (cap_str, text), r in zip(expected.items(), tree_and_loop(thinker, tok, settings, fmt, max_answer=6)):
        assert r["thinking_tokens"] == 5 and r["text"].startswith(" so" * 5 + text + " so"), cap_str
        assert r["text"][r["forced_spans"][0]["start"]:r["forced_spans"][0]["end"]] == text
        forcer = bf.BudgetForcer(tok, max_think=5, max_answer=6, fmt=fmt, cap_str=cap_str)
        assert drive(forcer, tok, [so]) == r["completion_ids"]
        assert r["text"].count(core(fmt)) == 1


def test_cap_str_bad_values_are_refused(tok):
    for bad, message in ((5, "cap_str must be a string"), ("a </think> b </think>", "once")):
        with pytest.raises(ValueError, match=message):
            bf.BudgetForcer(tok, max_think=5, fmt="r1", cap_str=bad)


def test_cli_cap_str(tok, thinker, monkeypatch, capsys):
    monkeypatch.setattr(bf, "load_model", lambda model=None: (thinker, tok))
    bf.main(["--prompt", QUESTION, "--max-think", "5", "--max-answer", "12", "--format", "s1", "--json",
             "--cap-str", "Time is up. Answer:"])
    r = __import__("json").loads(capsys.readouterr().out)
    assert r["text"].startswith(" so" * 5 + "\n<|im_start|>answer\nTime is up. Answer:")


def test_evaluate_cap_str(tok, thinker, tmp_path):
    """evaluate.py --cap-str reaches every generation of the sweep and is part of the run's config
    (a resumed run must force the same text); without it run.json is as before."""
    import evaluate

    args = evaluate.parse_args(["--dataset", "x.jsonl", "--max-think", "4", "--cap-str", "Answer:"])
    assert args.cap_str == "Answer:" and evaluate.run_config(args)["cap_str"] == "Answer:"
    assert "cap_str" not in evaluate.run_config(evaluate.parse_args(["--dataset", "x.jsonl"]))
    questions = evaluate.to_questions([{"question": QUESTION, "answer": "5"}])
    rows = evaluate.run_sweep(thinker, tok, questions, [{"max_think": 4, "num_wait": 0, "min_think": 0}],
                              str(tmp_path / "s.jsonl"), max_answer=4, fmt="s1", cap_str="Answer:", progress=False)
    assert rows[0]["response"].startswith(" so" * 4 + "\n<|im_start|>answer\nAnswer:")


def test_s1_script_passes_cap_str(tmp_path):
    """scripts/s1.sh's CAP_STR knob reaches both evaluate.py runs as one argument (spaces kept);
    unset, no --cap-str at all. The stages are stubbed: only the commands are printed."""
    import subprocess

    stub = ("want(){ [ \"$1\" = eval ]; }; fresh(){ return 1; }; banner(){ :; }; "
            "timed(){ shift; printf '%s|' \"$@\"; echo; }; source scripts/s1.sh; s1_recipe")
    env = {"PATH": "/usr/bin:/bin", "NGPU": "1", "EVAL_SETS": "aime24", "OUT": str(tmp_path)}
    root = bf.os.path.dirname(bf.os.path.abspath(bf.__file__))
    out = subprocess.run(["bash", "-c", stub], env={**env, "CAP_STR": "Time is up. Answer:"}, cwd=root,
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(out) == 2 and all("|--cap-str|Time is up. Answer:|" in line for line in out)
    out = subprocess.run(["bash", "-c", stub], env=env, cwd=root, capture_output=True, text=True, check=True).stdout
    assert "--cap-str" not in out and out.count("evaluate.py") == 2
