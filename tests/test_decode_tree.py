"""budget_force_tree: many settings of a question decoded as one tree must give, setting by
setting, exactly what separate budget_force() runs give (greedy), and the same distribution
(sampling). The embedded model never learned the think format, so it tries to end its thinking
at almost every step: settings fork at the first token and at every end attempt. The sampling
test compares thousands of samples, so it uses a tiny Llama whose choices are a handful of
tokens (conftest.tiny_llama) instead."""
import collections
import functools
import inspect
import math

import pytest
import torch

import budget_force as bf
import decode_tree as dt
from conftest import tiny_llama, truncated_tokenizer

QUESTIONS = ["What is 17*23?", "Name three colors.", "What is 2+2? Answer briefly.",
             "Write a haiku about rain and the sea.", "Is 91 prime?"]

# Every kind of fork: the first token (close vs Wait vs Hmm vs nothing vs the cap at 0), the cap
# inside a multi-token Wait, Waits owed by a minimum vs by a count, the answer's cap (different
# thinking, then different answers), and rows finishing early (max_think 0, short answers).
SETTINGS = [
    {"max_think": 0},
    {"max_think": 8},
    {"max_think": 6, "min_think": 3},
    {"max_think": 10, "min_think": 10},
    {"max_think": 12, "num_wait": 1, "min_think": 4},
    {"max_think": 12, "num_wait": 2, "wait_str": "Hmm"},
    {"max_think": 12, "num_wait": 1, "wait_str": ""},
    {"max_think": 12, "num_wait": 3, "wait_str": ""},
    {"max_think": 9, "num_wait": 3, "wait_str": "Wait, let me think again"},
    {"max_think": 7, "num_wait": 3, "wait_str": "Wait, let me think again"},
]



def test_tree_equals_separate_runs_under_greedy(smol, one_thread):
    model, tokenizer = smol
    finished = []
    tree = dt.budget_force_tree(model, tokenizer, QUESTIONS, SETTINGS, max_answer=5,
                                on_result=lambda i, j, k, r: finished.append((i, j, k)))
    for j, setting in enumerate(SETTINGS):
        separate = bf.budget_force(model, tokenizer, QUESTIONS, max_answer=5, **setting)
        for i in range(len(QUESTIONS)):
            mine = {k: v for k, v in tree[i][j][0].items() if k != "forks"}  # a separate run never forks
            assert mine == {k: v for k, v in separate[i].items() if k != "forks"}, (QUESTIONS[i], setting)
    assert sorted(finished) == [(i, j, 0) for i in range(len(QUESTIONS)) for j in range(len(SETTINGS))]
    # Forks on the model: setting a lists setting b once, at the first token where their completions
    # differ (their common prefix's length), and never when they are the same; spans cover the forced tokens.
    for i in range(len(QUESTIONS)):
        for a in range(len(SETTINGS)):
            r = tree[i][a][0]
            assert [t for s in r["forced_spans"] for t in range(*s["tokens"])] == [t for t, f in enumerate(r["forced_mask"]) if f]
            for b in range(len(SETTINGS)):
                x, y = r["completion_ids"], tree[i][b][0]["completion_ids"]
                at = [f["token"] for f in r["forks"] if b in f["from"]]
                common = next((t for t, (u, v) in enumerate(zip(x, y)) if u != v), min(len(x), len(y)))
                assert at == ([] if x == y or a == b else [common]), (QUESTIONS[i], a, b)
    # The forks really happened: the settings of each question end in several different texts,
    # one cap fell inside the multi-token Wait, and some answers hit the answer's cap.
    for i in range(len(QUESTIONS)):
        assert len({tuple(tree[i][j][0]["completion_ids"]) for j in range(len(SETTINGS))}) >= 5
    long_wait = bf.encode(tokenizer, "Wait, let me think again")
    cut_waits = [r for row in tree for r in (row[8][0], row[9][0])
                 if r["forced_stop"] and r["waits"] and not bf.encode(tokenizer, r["thinking"])[-len(long_wait):] == long_wait]
    assert cut_waits
    assert any(r["answer_tokens"] == 5 for row in tree for r in (x[0] for x in row))


def test_finished_rows_are_reported_at_once(smol, one_thread):
    """A setting's result arrives when it finishes, before the longer settings are done."""
    model, tokenizer = smol
    order = []
    dt.budget_force_tree(model, tokenizer, QUESTIONS[:2], [{"max_think": 0}, {"max_think": 10, "min_think": 10}],
                         max_answer=3, on_result=lambda i, j, k, r: order.append(j))
    assert order[:2] == [0, 0] and order[2:] == [1, 1]


def no_forks(result):
    """A result without its forks: where a setting parted from the others depends on which other
    settings shared its tree, so only the rest is compared across trees and separate runs."""
    return None if result is None else {k: v for k, v in result.items() if k != "forks"}


def test_only_runs_each_question_under_its_own_settings(smol, one_thread):
    """only[i] limits question i to some settings: those come out as under all settings (greedy),
    the others are not run (None), and a question with none is not decoded at all."""
    model, tokenizer = smol
    settings = SETTINGS[:5]
    whole = dt.budget_force_tree(model, tokenizer, QUESTIONS[:3], settings, max_answer=4)
    only = [[1, 3], [], [4, 0, 2]]
    finished = []
    part = dt.budget_force_tree(model, tokenizer, QUESTIONS[:3], settings, max_answer=4, only=only,
                                on_result=lambda i, j, k, r: finished.append((i, j)))
    for i, wanted in enumerate(only):
        for j in range(len(settings)):
            assert no_forks(part[i][j][0]) == (no_forks(whole[i][j][0]) if j in wanted else None), (i, j)
    assert sorted(finished) == sorted((i, j) for i, wanted in enumerate(only) for j in wanted)


def test_memory_budget_splits_the_batch_then_the_settings_or_refuses_one_row(smol, one_thread):
    """Under a budget that fits one row but not every setting, the tree runs the settings in groups
    (down to one per tree: separate runs) and gives each setting its separate run's greedy tokens;
    only a row that does not fit on its own is refused, with its numbers."""
    model, tokenizer = smol
    settings = SETTINGS[:4]
    separate = [bf.budget_force(model, tokenizer, QUESTIONS[:3], max_answer=4, **s) for s in settings]
    prompt = max(len(bf.encode(tokenizer, bf.build_prompt(tokenizer, q))) for q in QUESTIONS[:3])
    new_tokens = [bf.BudgetForcer(tokenizer, max_think=s["max_think"], max_answer=4).max_new_tokens for s in settings]
    per_token = dt.kv_bytes_per_token(model.config, model.dtype)
    one_row = (prompt + max(new_tokens)) * per_token
    one_question = len(settings) * one_row  # the worst case: forked into one row per setting, each at full length
    by_length = sorted(range(len(settings)), key=lambda j: -new_tokens[j])
    for budget, groups in ((one_question, [list(range(4))]),                        # every setting, a question a tree
                           (2 * one_row, [sorted(by_length[:2]), sorted(by_length[2:])]),  # two by two, longest first
                           (one_row, [[j] for j in by_length])):                     # one setting a tree
        plan = dt.plan_tree(new_tokens, prompt, 3, 1, per_token, budget)
        assert plan.groups == groups and plan.per_tree == [1] * len(groups)
        assert all(size <= budget for size in plan.bytes_per_question)
        tree = dt.budget_force_tree(model, tokenizer, QUESTIONS[:3], settings, max_answer=4, cache_bytes=budget)
        for j in range(len(settings)):
            for i in range(3):
                assert no_forks(tree[i][j][0]) == no_forks(separate[j][i]), (budget, i, settings[j])
    with pytest.raises(ValueError, match=rf"one row of {prompt + max(new_tokens)} tokens \(a prompt of {prompt} \+ "
                                         rf"{max(new_tokens)} new\) takes .* GiB of KV cache at {per_token} bytes per "
                                         r"token, over the budget of"):
        dt.budget_force_tree(model, tokenizer, QUESTIONS[:3], settings, max_answer=4, cache_bytes=one_row - 1)


def outcome_counts(results):
    return collections.Counter(tuple(r["completion_ids"]) for r in results)


def homogeneity(a, b):
    """Chi-square test of homogeneity of two samples of equal size, given as completion counts.
    Completions seen fewer than 10 times in both samples together share one cell. Returns the
    statistic, its degrees of freedom and the share of the samples in that shared cell."""
    cells = [(a[o], b[o]) for o in set(a) | set(b) if a[o] + b[o] >= 10]
    rare = (sum(a.values()) - sum(x for x, _ in cells), sum(b.values()) - sum(y for _, y in cells))
    if sum(rare):
        cells.append(rare)
    return sum((x - y) ** 2 / (x + y) for x, y in cells), len(cells) - 1, sum(rare) / sum(map(sum, cells))


def chi_square_quantile(df, z=3.719):
    """The chi-square distribution's 1 - 1e-4 quantile (Wilson-Hilferty; z is the standard normal's)."""
    return df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3


@pytest.fixture(scope="module")
def tiny_sampler(smol_tokenizer):
    """A tiny Llama over SmolLM2's tokenizer cut to 400 ids, almost always choosing between
    ending its thinking (<|im_start|>, <|im_end|>) and two words, with odds that depend on the
    context: a handful of completions per setting, each frequent enough to compare, and a draw
    over 400 logits instead of 49,152, so a thousand samples per setting take seconds."""
    tokenizer = truncated_tokenizer(smol_tokenizer, 400)
    words = [bf.encode(tokenizer, w) for w in (" a", " the")]
    assert all(len(w) == 1 for w in words)
    return tiny_llama(tokenizer, [1, 2] + [w[0] for w in words], seed=1, spread=0.3), tokenizer


def test_sampling_keeps_each_settings_distribution(tiny_sampler, one_thread):
    """At temperature 0.5, 400 samples of one question per setting from the tree and from
    separate runs (another seed): each setting's completions have the same distribution (a
    chi-square test of homogeneity under its 1e-4 quantile), and the same average thinking length
    within 5 standard errors. The tree as it is scores 0.23-0.43 of the quantile here.

    Power (why 400 draws are enough): with 1,000 draws a tree that ignores the temperature
    (draws at T = 1) scored 4.4-6.7 times the quantile (statistics 249, 234, 288 on 22, 20, 14
    degrees of freedom), and the other regressions below at least four times it. The statistic's
    noncentrality grows with the draws, so at 400 it is 0.4 x (statistic - df) = 91, 85 and 110:
    the noncentral chi-square exceeds the quantile with probability 0.9999, 0.9998 and 1.0000 per
    setting (Poisson mixture of central chi-squares, df 14, 13 and 9 as seen at 400), so the three
    settings all miss with probability ~1e-15; measured at 400: 1.7, 2.5 and 3.7 times the quantile.
    The false alarm rate is at most 3 x 1e-4 per seed pair (the seeds are fixed: the test is
    deterministic). 1,000 draws took 3.5 times as long (55 s vs 16 s on a loaded 2-core CPU).
    Regressions it fails on: a tree that ignores the temperature, draws its fallbacks greedily,
    gives every sample the same first token or decides every setting of a row by one setting's
    rules."""
    model, tokenizer = tiny_sampler
    question, n = "Name a color.", 400
    settings = [{"max_think": 3, "min_think": 2, "wait_str": ""}, {"max_think": 4, "num_wait": 1}, {"max_think": 2}]
    tree = dt.budget_force_tree(model, tokenizer, [question], settings, samples=n, max_answer=2,
                                temperature=0.5, seed=1)[0]
    for j, setting in enumerate(settings):
        separate = bf.budget_force(model, tokenizer, [question] * n, max_answer=2, temperature=0.5, seed=2, **setting)
        a, b = outcome_counts(tree[j]), outcome_counts(separate)
        assert len(a) >= 10  # a real distribution, not one answer: the samples are independent rows
        statistic, df, rare = homogeneity(a, b)
        assert rare < 0.1, setting  # nearly every sample is in a cell the test compares
        assert statistic < chi_square_quantile(df), (setting, statistic, df)
        thinking = [[r["thinking_tokens"] for r in rs] for rs in (tree[j], separate)]
        means = [sum(t) / n for t in thinking]
        variances = [sum((x - m) ** 2 for x in t) / (n - 1) for t, m in zip(thinking, means)]
        assert abs(means[0] - means[1]) <= 5 * math.sqrt(sum(variances) / n) + 1e-9, setting
    # Under sampling too the tree forked every way: a word drawn in place of an end (no string),
    # a forced Wait, and the cap both biting and not.
    assert any(r["waits"] for r in tree[0]) and any(r["waits"] for r in tree[1])
    assert {r["forced_stop"] for r in tree[2]} == {True, False}


def apply_moves(rows_before, rows, dst, src):
    """What a cache holds after move_cache_rows: row src[k] copied to dst[k], the first `rows` kept."""
    after = list(rows_before) + [None] * max(0, rows - len(rows_before))
    for d, s in zip(dst, src):
        after[d] = rows_before[s]
    return after[:rows]


@pytest.mark.parametrize("parents", [
    [0, 1, 2, 3], [1, 3], [0, 0, 0, 1, 2, 2], [2, 2, 3], [3], [0, 1, 1, 1, 1, 1, 1, 1, 3], []])
def test_place_rows_gives_every_branch_its_parents_cache_and_moves_only_what_must(parents):
    slots = [2, 0, 3, 1]  # old branch b's cache row, after earlier steps moved rows around
    new, dst, src = dt.place_rows(parents, slots)
    cache = apply_moves([f"branch {b}" for b in sorted(range(4), key=lambda b: slots[b])], len(parents), dst, src)
    assert sorted(new) == list(range(len(parents)))  # the rows in use are exactly the first len(parents)
    assert [cache[new[r]] for r in range(len(parents))] == [f"branch {p}" for p in parents]
    assert not set(dst) & set(src)  # copies in any order give the same cache
    # Only forks and rows beyond the new count move: a branch whose row stays in range keeps it.
    kept = {slots[p] for p in parents if slots[p] < len(parents)}
    assert len(dst) == len(parents) - len(kept)


def test_growing_layer_moves_rows_like_a_full_reindex():
    """move_rows (copy only the rows that move) leaves the cache a full batch_select_indices would,
    through forks past the buffer's rows, holes and writes that grow the buffer in length."""
    torch.manual_seed(0)
    in_place, reindexed = dt.GrowingLayer(max_length=64, max_rows=16), dt.GrowingLayer(max_length=64)
    k, v = torch.randn(4, 2, 5, 3), torch.randn(4, 2, 5, 3)
    for layer in (in_place, reindexed):
        layer.update(k, v)
    slots = list(range(4))
    for parents in ([0, 0, 1, 2, 3, 3], [5, 4, 3, 3, 3, 3, 2, 0], [1, 6], [0, 0, 1, 1, 1]):
        new, dst, src = dt.place_rows(parents, slots)
        index = list(range(len(parents)))
        for d, s in zip(dst, src):
            index[d] = s
        in_place.move_rows(len(parents), dst, src)
        reindexed.batch_select_indices(torch.tensor(index))
        step_k, step_v = torch.randn(len(parents), 2, 9, 3), torch.randn(len(parents), 2, 9, 3)
        for layer in (in_place, reindexed):
            layer.update(step_k, step_v)
        assert torch.equal(in_place.keys, reindexed.keys) and torch.equal(in_place.values, reindexed.values)
        slots = new
    assert in_place.key_buffer.shape[0] <= 16  # doubled, but never past max_rows


def test_pick_with_an_order_draws_as_the_ordered_rows_would():
    """A permutation of the rows (cache rows out of branch order) changes no choice: choice k is
    row order[k]'s, drawn with the k-th uniform."""
    scores = torch.randn(6, 50)
    order = [3, 0, 5, 1, 4, 2]
    for temperature in (0.0, 0.8):
        ordered = dt.pick(scores[order], temperature, torch.Generator().manual_seed(1))
        permuted = dt.pick(scores, temperature, torch.Generator().manual_seed(1), order)
        assert permuted == ordered


# -----------------------------------------------------------------------------
# what the tree shares, what it holds in memory, and whose rows are whose

def record_forward(monkeypatch, model):
    """Every forward call's batch size (prefill first), recorded on the model instance."""
    calls, forward = [], model.forward

    @functools.wraps(forward)  # keeps the signature: budget_force reads the cache argument's name from it
    def counting(*args, **kwargs):
        calls.append(kwargs["input_ids"].shape[0])
        return forward(*args, **kwargs)

    monkeypatch.setattr(model, "forward", counting)
    return calls


def test_settings_share_rows_until_their_tokens_differ(smol, monkeypatch, one_thread):
    """The rows the tree decodes, step by step, are exactly the distinct (question, sample, prefix)
    among the generations still running: counted here from the finished texts, not from the tree.
    A tree that gave every setting its own row from the first token decodes more rows (two of the
    ten settings never differ before their fourth token), and the prefill runs once per question,
    not once per sample."""
    model, tokenizer = smol
    calls = record_forward(monkeypatch, model)
    samples = 2
    tree = dt.budget_force_tree(model, tokenizer, QUESTIONS[:2], SETTINGS, samples=samples, max_answer=3)
    assert calls[0] == 2  # one prefill row per question
    results = [(i, k, r["completion_ids"]) for i, row in enumerate(tree) for per in row for k, r in enumerate(per)]
    expected = [len({(i, k, tuple(ids[:t + 1])) for i, k, ids in results if len(ids) > t + 1})
                for t in range(max(len(ids) for _, _, ids in results) - 1)]
    assert calls[1:] == expected
    assert expected[0] < len(results)  # shared rows at the first step: there was something to share
    assert sum(expected) < sum(len(ids) - 1 for _, _, ids in results)


def cache_bytes_per_token(model):
    """KV-cache bytes per token, counted from the tensors a real prefill leaves in a cache."""
    from transformers import DynamicCache

    cache, length = DynamicCache(config=model.config), 7
    with torch.no_grad():
        model(input_ids=torch.arange(100, 100 + length)[None], use_cache=True,
              **{"cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values": cache})
    return sum(layer.keys.nbytes + layer.values.nbytes for layer in cache.layers) // length


def test_memory_bound_holds_for_several_samples_and_splits_without_changing_draws(tiny_sampler, monkeypatch,
                                                                                   one_thread):
    """cache_bytes for two questions' worst case (every root forked into one row per setting at
    full length), with the bytes per token counted from a real cache, not from kv_bytes_per_token:
    five questions x 3 samples x 4 settings run as trees of 2, 2 and 1 questions, the cache's
    buffers never hold more than the bound, and with a seed per question (sampling) every question
    gets the very samples it gets in one unbounded tree. (The tiny Llama: its draws are between a
    handful of tokens, far apart, so float noise from another batch composition cannot flip one;
    over SmolLM2's 49K ids it can.)"""
    model, tokenizer = tiny_sampler
    per_token = cache_bytes_per_token(model)
    assert dt.kv_bytes_per_token(model.config, model.dtype) == per_token
    settings, samples, max_answer = SETTINGS[1:5], 3, 3
    longest = max(len(bf.encode(tokenizer, bf.build_prompt(tokenizer, q))) for q in QUESTIONS)
    longest += max(bf.BudgetForcer(tokenizer, max_answer=max_answer, **s).max_new_tokens for s in settings)
    bound = 2 * samples * len(settings) * longest * per_token
    kwargs = dict(samples=samples, max_answer=max_answer, temperature=1.0, seed=[5, 6, 7, 8, 9])
    whole = dt.budget_force_tree(model, tokenizer, QUESTIONS, settings, **kwargs)

    trees, caches, peak = [], [], [0]
    decode_tree, growing_cache, forward = dt.decode_tree, dt.growing_cache, model.forward

    def counting_tree(model, prompt_ids, *args):
        trees.append(len(prompt_ids))
        return decode_tree(model, prompt_ids, *args)

    def kept_cache(*args):
        caches.append(growing_cache(*args))
        return caches[-1]

    @functools.wraps(forward)
    def measuring(*args, **kwargs):
        out = forward(*args, **kwargs)
        peak[0] = max(peak[0], sum(layer.key_buffer.nbytes + layer.value_buffer.nbytes for layer in caches[-1].layers))
        return out

    monkeypatch.setattr(bf, "decode_tree", counting_tree)
    monkeypatch.setattr(bf, "growing_cache", kept_cache)
    monkeypatch.setattr(model, "forward", measuring)
    split = dt.budget_force_tree(model, tokenizer, QUESTIONS, settings, cache_bytes=bound, **kwargs)
    assert trees == [2, 2, 1]
    assert bound // 4 < peak[0] <= bound  # the buffers came near the bound, and stayed under it
    assert split == whole
    assert all(len({tuple(r["completion_ids"]) for r in per}) > 1 for row in whole for per in row[:1])


def test_several_questions_and_samples_each_get_their_own_rows(smol, tiny_sampler, one_thread):
    """Three questions x 3 samples x 3 settings in one tree. Greedy (the embedded model): every
    sample of question i is its separate budget_force() run on question i. Sampling with a seed per
    question (the tiny Llama): question i's samples are those of a tree holding question i alone,
    so no sample came from another question's rows, and a question's samples are not all alike."""
    model, tokenizer = smol
    questions, settings = QUESTIONS[:3], SETTINGS[1:4]
    greedy = dt.budget_force_tree(model, tokenizer, questions, settings, samples=3, max_answer=3)
    for j, setting in enumerate(settings):
        separate = bf.budget_force(model, tokenizer, questions, max_answer=3, **setting)
        for i in range(len(questions)):
            assert [no_forks(r) for r in greedy[i][j]] == [no_forks(separate[i])] * 3, (i, j)
    model, tokenizer = tiny_sampler
    seeds = [21, 22, 23]
    sampled = dt.budget_force_tree(model, tokenizer, questions, settings, samples=3, max_answer=3,
                                   temperature=1.0, seed=seeds)
    for i, question in enumerate(questions):
        alone = dt.budget_force_tree(model, tokenizer, [question], settings, samples=3, max_answer=3,
                                     temperature=1.0, seed=[seeds[i]])[0]
        assert sampled[i] == alone, i
        assert all(r["prompt"] == bf.build_prompt(tokenizer, question) for per in alone for r in per)
    assert all(len({tuple(r["completion_ids"]) for r in sampled[i][2]}) > 1 for i in range(len(questions)))


def test_r1_format_in_the_tree_equals_separate_runs(smol, one_thread):
    """The r1 delimiters (<think> ... </think>) through the tree, greedy: each setting as its own
    budget_force run, the cap closing with </think> then "Final Answer:"."""
    model, tokenizer = smol
    settings = [{"max_think": 3}, {"max_think": 6, "min_think": 6}, {"max_think": 8, "num_wait": 1}]
    tree = dt.budget_force_tree(model, tokenizer, QUESTIONS[:2], settings, max_answer=4, fmt="r1")
    for j, setting in enumerate(settings):
        separate = bf.budget_force(model, tokenizer, QUESTIONS[:2], max_answer=4, fmt="r1", **setting)
        for i in range(2):
            assert no_forks(tree[i][j][0]) == no_forks(separate[i])
            assert tree[i][j][0]["prompt"].endswith("<think>\n") and "<|im_start|>think" not in tree[i][j][0]["prompt"]
    capped = tree[0][1][0]
    assert capped["forced_stop"] and capped["thinking_tokens"] == 6
    assert capped["text"][len(capped["thinking"]):].startswith("\n</think>\n\nFinal Answer:")

# forced spans and forks, on scores we choose: every forced token known in advance

class Scripted(torch.nn.Module):
    """A tiny Llama (for a real KV cache) whose logits are replaced: the completion's token t is
    script[t] (script[-1] after the script), with a second choice `fallback` (what an empty wait
    string takes in place of an end). Every row of one prompt sits at the same step, so the script
    drives all settings of a tree alike and only the forcing tells them apart."""

    def __init__(self, inner, script, fallback):
        super().__init__()
        self.inner, self.config, self.script, self.fallback = inner, inner.config, script, fallback
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
        steps = (position_ids[:, -1] + 1 - self.prompt_length).tolist()
        logits = torch.zeros_like(out.logits)
        for row, t in enumerate(steps):
            logits[row, -1, self.fallback] = 5.0
            logits[row, -1, self.script[min(t, len(self.script) - 1)]] = 10.0
        out.logits = logits
        return out


def test_forced_spans_and_forks_on_scripted_scores(smol):
    """The model says " so" except an end-of-turn at token 2 and "<|im_start|>" (the delimiter)
    at token 5. Four settings, worked out by hand:
      cap 2:           so so | cap: \\n<|im_start|>answer\\n Final Answer: | so | end-of-turn at the answer cap
      1 Wait:          so so | Wait | so so <|im_start|> + delimiter completed | so x4 | answer cap
      1 empty Wait:    so so | so (the fallback in place of the end) | so so <|im_start|> + completed | ...
      cap 8, no Wait:  so so | \\n<|im_start|>answer\\n in place of the end-of-turn | so x4 | answer cap
    The cap and the unforced run both emit "\\n<|im_start|>answer\\n" at tokens 2-5, so they fork
    from the two Waits at 2 and from each other at 6 ("Final" against " so")."""
    _, tok = smol
    so, im_start, eot = bf.encode(tok, " so")[0], bf.encode(tok, "<|im_start|>")[0], tok.eos_token_id
    script = [so, so, eot, so, so, im_start, so]
    model = Scripted(tiny_llama(tok, [so]), script, fallback=so)
    settings = [{"max_think": 2}, {"max_think": 8, "num_wait": 1}, {"max_think": 8, "num_wait": 1, "wait_str": ""},
                {"max_think": 8}]
    close, final, delimiter_rest = (len(bf.encode(tok, x)) for x in ("\n<|im_start|>answer\n", "Final Answer:", "answer\n"))
    expected = [
        [("cap", 2, 2 + close + final, "\n<|im_start|>answer\nFinal Answer:"), ("answer_cap", 10, 11, "<|im_end|>")],
        [("wait", 2, 3, "Wait"), ("delimiter", 6, 6 + delimiter_rest, "answer\n"), ("answer_cap", 12, 13, "<|im_end|>")],
        [("wait", 2, 3, " so"), ("delimiter", 6, 6 + delimiter_rest, "answer\n"), ("answer_cap", 12, 13, "<|im_end|>")],
        [("delimiter", 2, 2 + close, "\n<|im_start|>answer\n"), ("answer_cap", 10, 11, "<|im_end|>")],
    ]
    expected_forks = [[(2, [1, 2]), (6, [3])], [(2, [0, 2, 3])], [(2, [0, 1, 3])], [(2, [1, 2]), (6, [0])]]
    tree = dt.budget_force_tree(model, tok, ["Say so."], settings, max_answer=5)[0]
    for j, setting in enumerate(settings):
        separate = bf.budget_force(model, tok, ["Say so."], max_answer=5, **setting)[0]
        r = tree[j][0]
        assert {k: v for k, v in r.items() if k != "forks"} == {k: v for k, v in separate.items() if k != "forks"}
        assert separate["forks"] == []  # one setting alone never forks
        spans = [(s["kind"], *s["tokens"], r["text"][s["start"]:s["end"]]) for s in r["forced_spans"]]
        assert spans == expected[j], setting
        assert [i for s in r["forced_spans"] for i in range(*s["tokens"])] == [i for i, f in enumerate(r["forced_mask"]) if f]
        assert [(f["token"], f["from"]) for f in r["forks"]] == expected_forks[j], setting
        for f in r["forks"]:  # the char offset: where the text after the shared tokens begins
            assert r["text"][:f["char"]] == tok.decode(r["completion_ids"][:f["token"]])
