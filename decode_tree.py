"""The decode tree: a sweep of budget-forcing settings decoded together (evaluate.py's engine).

Several settings of one question (caps, Waits) agree on its tokens until a budget makes them
disagree: at a cap, at an end attempt (close, Wait, Hmm or nothing), at the answer's cap. The tree
decodes a shared prefix once and forks a row only where its settings emit different tokens, so the
demo's sweep decodes about 4x fewer tokens than separate budget_force() runs. Every decision is
budget_force.BudgetForcer.next_token on a setting's own state, which each setting of each row has
from the first token: a fork only splits a row's settings, so one forked mid-Wait or mid-count goes
on with its own queue and counters. Under greedy each setting gets exactly its separate run's
tokens (tests/test_decode_tree.py).

Also here: fitting a sweep (check_context, with the largest cap that fits; plan_tree,
kv_bytes_per_token, the KV-cache budget) and the cache machinery that makes many rows cheap.

Transformers internals used (the file's only ones; budget_force.py uses public API alone):
`transformers.cache_utils.DynamicLayer` is subclassed by GrowingLayer (its keys/values/
is_initialized/lazy_initialization/get_seq_length) and the DynamicCache's `layers` list and
`layer_class_to_replicate` are replaced; that API is transformers 5.x's (requirements.txt pins it).
"""
import inspect
import itertools
from dataclasses import dataclass, field

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

import budget_force as bf
from budget_force import DONE, BudgetForcer, RowState, build_prompt, detect_format, encode


@dataclass
class TreeState(RowState):
    """A setting's RowState in the tree, plus where it parted from the others."""
    forks: list = field(default_factory=list)  # [token, [settings]]: its first token that differs from those


@dataclass
class Branch:
    """One row of the tree's batch: a question (and sample) and the settings that agree on every
    token so far, each with its own state (their counters may differ: one may owe a Wait)."""
    root: int        # index into the tree's (question, sample) roots
    members: list    # [(setting index, TreeState)]


@torch.no_grad()
def budget_force_tree(model, tokenizer, questions, settings, *, samples=1, max_answer=512, temperature=0.0,
                      fmt="auto", seed=0, cache_bytes=None, on_result=None, only=None, cap_str=None):
    """Every question under every setting (`samples` times each) in KV-cached decode trees.

    settings: dicts with max_think and optionally min_think, num_wait, wait_str, cap_str
    (BudgetForcer's meaning; cap_str: the argument where a setting has none, None: the format's). Returns results[i][j][k]: question i, setting j, sample k, each the dict
    budget_force() returns, with forks: each place this setting's tokens parted from other settings
    of its tree ({"token": the first token that differs, "char": its offset into text, "from": the
    indices of those settings}). on_result(i, j, k, result) is called as soon as one finishes.
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
                            temperature=temperature, fmt=fmt, model=model, cap_str=s.get("cap_str", cap_str))
               for s in settings]
    results = [[[None] * samples for _ in settings] for _ in questions]
    if not questions or not settings:
        return results
    prompts = [build_prompt(tokenizer, q, fmt) for q in questions]
    prompt_ids = [encode(tokenizer, p) for p in prompts]
    check_context(model, tokenizer, max(map(len, prompt_ids)), max(s["max_think"] for s in settings), max_answer, fmt, cap_str)
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
                results[i][j][k] = result_dict(tokenizer, prompts[i], state, forcers[j].stop_ids, group)
                if on_result is not None:
                    on_result(i, j, k, results[i][j][k])
            decode_tree(model, [prompt_ids[i] for i in chunk], [forcers[j] for j in group], samples, temperature,
                        [generators[i] for i in chunk], report,
                        [[local[j] for j in only[i] if j in local] for i in chunk])
    return results


def result_dict(tokenizer, prompt, state, stop_ids, group):
    """budget_force's result dict with this setting's forks (group: the tree numbers its settings
    within the group, so fork["from"] maps back to the sweep's indices)."""
    result = bf.result_dict(tokenizer, prompt, state, stop_ids)
    result["forks"] = [{"token": token, "char": len(tokenizer.decode(state.tokens[:token])), "from": [group[o] for o in others]}
                       for token, others in state.forks]
    return result


def decode_tree(model, prompt_ids, forcers, samples, temperature, generators, report, only):
    """One tree: prefill each prompt once, then one token per row per step, forking where the
    settings of a row disagree; report(i, j, k, state) as each setting of each root finishes.
    only[i]: the indices of the settings prompt i runs; generators[i]: the generator its rows draw
    from (the same object for several prompts: they share one stream)."""
    device = model.device
    pad_id = forcers[0].eot_id  # padding is masked out: any id will do
    prompt_ids, prompt_mask = (x.to(device) for x in left_pad(prompt_ids, pad_id))
    cache_arg = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"  # as budget_force
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
    # Each setting of each root has its own state from the start: a fork only splits the members.
    branches = [Branch(r, [(j, TreeState()) for j in only[r // samples]]) for r in range(len(root_question))]
    # Each branch's row in the KV cache (and in logits). Branches stay in order, so every branch
    # draws the same uniform as it would in an ordered batch; cache rows need not, so a fork or a
    # finished branch moves only the rows it concerns (place_rows).
    slots = list(range(len(branches)))
    blocked_ids = forcers[0].end_attempt_ids  # the same for every setting: it depends on the tokenizer only
    need_fallback = any(not f.wait_ids for f in forcers)
    for step in range(max(f.max_new_tokens for f in forcers)):
        scores = logits.float()
        scores[:, forcers[0].vocab_size:] = -float("inf")  # padded vocabulary rows (as BudgetForcer)
        # Branches are ordered by root, so a prompt's rows are consecutive: each draws its uniforms
        # from its own generator, as many as it has rows, whatever the other prompts do.
        row_generators = [generators[b.root // samples] for b in branches]
        choices = pick(scores, temperature, row_generators, slots)
        fallbacks = choices
        if need_fallback:  # what a row says where it may not end its thinking (an empty wait_str)
            blocked = scores.clone()
            blocked[:, sorted(blocked_ids)] = -float("inf")
            fallbacks = pick(blocked, temperature, row_generators, slots)
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
# sampling: one uniform per branch, in branch order, whatever cache row holds it

def pick(scores, temperature, generator, order=None):
    """budget_force.pick, by branch: order[k] is the row of `scores` that branch k holds; branch k
    draws the k-th uniform (generator: one torch.Generator, or one per uniform: see uniforms), so
    the choices do not depend on which cache row holds whom."""
    order = list(range(len(scores))) if order is None else order
    u = uniforms(generator, len(scores))[torch.tensor(order).argsort()] if temperature > 0 else None
    chosen = bf.pick(scores, temperature, u)
    return [chosen[i] for i in order]


def uniforms(generator, n):
    """n float64 uniforms in [0, 1), as a column: all from one generator, or, given a list of n
    generators, the k-th from the k-th (a run of one generator draws in sequence, in one call)."""
    if isinstance(generator, torch.Generator):
        return torch.rand((n, 1), generator=generator, dtype=torch.float64)
    return torch.cat([torch.rand((len(list(run)), 1), generator=g, dtype=torch.float64)
                      for g, run in itertools.groupby(generator)])


# -----------------------------------------------------------------------------
# the cache: written in place, rows moved only where they must

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


# -----------------------------------------------------------------------------
# fitting a sweep: every row within the model's context (refused before anything is generated),
# and into memory (the tree's plan)

def text_config(config):
    return config.get_text_config() if hasattr(config, "get_text_config") else config


def context_length(model, tokenizer=None):
    """(tokens, source): the most a row may hold, prompt and generation together: the config's
    max_position_embeddings, else the tokenizer's model_max_length where that is a real number
    (transformers writes ~1e30 when it knows none). (None, None) when neither says."""
    config = text_config(model.config)
    n = getattr(config, "max_position_embeddings", None)
    if isinstance(n, int) and n > 0:
        return n, "max_position_embeddings"
    n = getattr(tokenizer, "model_max_length", None)
    return (n, "the tokenizer's model_max_length") if isinstance(n, int) and 0 < n < 10**7 else (None, None)


def context_overflow(prompt_length, max_think, max_new_tokens, max_answer, context, source):
    """None when a row (the prompt + max_new_tokens: the thinking cap, forced Waits included, the
    delimiter, the answer's cap) fits the context, else the one-line reason with every number."""
    total = prompt_length + max_new_tokens
    if total <= context:
        return None
    closing = max_new_tokens - max_think - max_answer
    fits = context - prompt_length - closing - max_answer
    return (f"a prompt of {prompt_length} tokens + max_think {max_think} + {closing} for the end-of-thinking "
            f"delimiter + max_answer {max_answer} = {total} tokens, over the model's context of {context} "
            f"({source}); " + (f"the largest max_think that fits is {fits}" if fits >= 0 else
                               "lower max_answer") + " (nothing was generated)")


def check_context(model, tokenizer, prompt_length, max_think, max_answer, fmt, cap_str=None):
    """ValueError (context_overflow's line), before anything is generated, when the prompt and its longest
    generation would not fit the model's context: refused rather than clipped, so a cap never silently means less."""
    context, source = context_length(model, tokenizer)
    longest = bf.max_new_tokens(tokenizer, max_think, max_answer, fmt, cap_str)
    if context and (reason := context_overflow(prompt_length, max_think, longest, max_answer, context, source)):
        raise ValueError(reason)


def kv_bytes_per_token(config, dtype):
    """KV-cache bytes one token of one row takes: a key and a value of head_dim per KV head (fewer
    than the attention heads under GQA) in every layer, in the model's dtype. From the config
    alone, so a plan can be made for a model that is not loaded (tests/test_fit.py: Qwen2.5-32B)."""
    config = text_config(config)
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    return 2 * config.num_hidden_layers * kv_heads * head_dim * dtype.itemsize


CUDA_HEADROOM = 2 * 2**30  # left free on a GPU for what a step needs besides the cache (activations, logits)
CPU_CACHE_BYTES = 8 * 2**30  # the KV-cache budget on a CPU, where free memory says little (other jobs, swap)


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


