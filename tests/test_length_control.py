"""demo/length_control.py: the paper's Table 3 baselines (rejection sampling, budget in the prompt),
run and graded as evaluate.py runs budget forcing."""
import os
import sys

import pytest

import evaluate

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "demo"))
import length_control  # noqa: E402

QUESTIONS = ["What is 2 + 3?", "Name a prime number larger than 10.", "What is 7 times 8? Answer with a number."]


# -----------------------------------------------------------------------------
# rejection sampling: the paper's Table 3 baseline for length control

def fake_result(thinking, closed=True):
    """A budget_force result that thought `thinking` tokens and closed itself (or was cut)."""
    return {"text": "x", "thinking_tokens": thinking, "answer_tokens": 1, "waits": 0, "forced_stop": not closed,
            "forced_mask": [False] * thinking + [not closed, True]}


def test_rejection_sampling_redraws_only_what_does_not_fit(monkeypatch):
    calls = []

    def fake_tree(model, tokenizer, questions, settings, *, temperature, seed, only, **kwargs):
        calls.append((list(questions), [list(o) for o in only], [s["max_think"] for s in settings], seed))
        attempt = len(calls) - 1
        # "short" fits both budgets at once; "medium" thinks 10, then 6 (fits 8), then 3 (fits 4);
        # "long" never fits (cut at each budget's stop)
        lengths = {"short": 3, "medium": [10, 6, 3, 3][attempt], "long": 99}
        out = []
        for q, o in zip(questions, only):
            cut = lambda j: settings[j]["max_think"]  # noqa: E731
            out.append([[fake_result(lengths[q]) if lengths[q] < cut(j) else fake_result(cut(j), closed=False)]
                        if j in o else [None] for j in range(len(settings))])
        return out

    monkeypatch.setattr(length_control.decode_tree, "budget_force_tree", fake_tree)
    results, tries = length_control.rejection_sample(None, None, ["short", "medium", "long"], [8, 4], tries=4,
                                                     temperature=1.0, seed=7)
    assert tries == [[1, 1], [2, 3], [4, 4]]
    assert [[r["thinking_tokens"] for r in per] for per in results] == [[3, 3], [6, 3], [9, 5]]  # "long": last, cut draws
    # each attempt draws once per pending question, under the budgets it has not fit yet
    assert [c[0] for c in calls] == [["short", "medium", "long"], ["medium", "long"], ["medium", "long"], ["long"]]
    assert [c[1] for c in calls] == [[[0, 1]] * 3, [[0, 1]] * 2, [[1], [0, 1]], [[0, 1]]]
    assert {tuple(c[2]) for c in calls} == {(9, 5)}  # a draw is stopped one token past each budget
    assert len({c[3] for c in calls}) == 4  # a new seed for every attempt


def test_rejection_sweep_on_the_model(smol_tokenizer, tmp_path, one_thread):
    """A tiny Llama that chooses between opening the end-of-thinking delimiter itself, ending its
    turn and two words: some draws close their thinking in budget (accepted), some do not."""
    from conftest import tiny_llama

    tokenizer = smol_tokenizer
    words = [evaluate.budget_force.encode(tokenizer, w)[0] for w in (" a", " the")]
    model = tiny_llama(tokenizer, [1, 2] + words, seed=1, spread=0.3)
    questions = evaluate.to_questions([{"question": q, "answer": "5"} for q in QUESTIONS[:3]])
    settings = [{"max_think": b, "num_wait": 0, "min_think": 0} for b in (3, 12)]
    rows = length_control.run_baseline(model, tokenizer, questions, settings, str(tmp_path / "s.jsonl"),
                                       temperature=1.0, max_answer=4, progress=False, rejection_tries=3)
    assert len(rows) == 6 and all(1 <= r["tries"] <= 3 for r in rows)
    # Some draws were accepted: the model closed its thinking itself within the budget (a test that
    # saw only rejections could not tell acceptance from a closed_itself that is always False).
    assert any(r["closed_itself"] and r["thinking_tokens"] <= r["max_think"] and r["tries"] < 3 for r in rows)
    for r in rows:
        fits = r["closed_itself"] and r["thinking_tokens"] <= r["max_think"]
        assert fits or r["tries"] == 3  # only a question that never fit used every try
        assert r["waits"] == 0 and r["thinking_tokens"] <= r["max_think"] + 1  # nothing forced but the stop past the budget
    for q in questions:  # one draw serves both budgets: what fits 3 fits 12, so 12 never needs more draws
        small, large = (next(r for r in rows if r["id"] == q["id"] and r["max_think"] == b) for b in (3, 12))
        if small["closed_itself"] and small["thinking_tokens"] <= 3:
            assert large["tries"] <= small["tries"]
            if large["tries"] == small["tries"]:
                assert large["response"] == small["response"]
    summary = length_control.add_tries(evaluate.summarize(rows, questions, settings), rows, questions)
    for row, s in zip(summary["rows"], settings):
        tries = [r["tries"] for r in rows if r["max_think"] == s["max_think"]]
        assert row["avg_tries"] == sum(tries) / len(tries)


def test_add_tries_averages_each_budgets_own_generations():
    questions = evaluate.to_questions([{"question": "a", "answer": "1"}, {"question": "b", "answer": "2"}])
    settings = [{"max_think": b, "num_wait": 0, "min_think": 0} for b in (4, 8, 16)]
    tries = {4: (1, 4), 8: (2, 2), 16: (9, 9)}
    samples = [{"id": q["id"], **s, "sample": 0, "tries": tries[s["max_think"]][i]}
               for s in settings for i, q in enumerate(questions)]
    summary = {"rows": [{"setting": evaluate.setting_name(s), **s} for s in settings[:2]]}  # 16 is not in this run
    length_control.add_tries(summary, samples, questions)
    assert [r["avg_tries"] for r in summary["rows"]] == [2.5, 2.0]


@pytest.mark.parametrize("flags, message", [
    (["--rejection-tries", "3"], "needs --temperature"),
    (["--rejection-tries", "3", "--temperature", "1", "--num-wait", "1"], "forces nothing"),
    (["--rejection-tries", "-1"], "choose one baseline"),
])
def test_rejection_flags_are_checked(flags, message):
    with pytest.raises(ValueError, match=message):
        length_control.check_args(length_control.parse_args(["--dataset", "x.jsonl", *flags]))


# -----------------------------------------------------------------------------
# token-conditional control: the budget stated in the prompt, nothing forced (Table 3)

def test_conditional_control_states_the_budget_and_forces_nothing(monkeypatch, tmp_path):
    calls = []

    def fake_budget_force(model, tokenizer, prompts, *, max_think, **kwargs):
        calls.append((list(prompts), max_think, kwargs))
        return [fake_result(20) for _ in prompts]  # thinks 20 tokens whatever the budget

    monkeypatch.setattr(length_control.budget_force, "budget_force", fake_budget_force)
    questions = evaluate.to_questions([{"question": "What is 2 + 3?", "answer": "5"}])
    settings = [{"max_think": b, "num_wait": 0, "min_think": 0} for b in (16, 32)]
    rows = length_control.run_baseline(None, None, questions, settings, str(tmp_path / "s.jsonl"), progress=False,
                                       budget_in_prompt=64)
    # one call: a row per (question, budget), each prompt stating its budget
    assert [c[0] for c in calls] == [["What is 2 + 3?\n\nThink for at most 16 tokens.",
                                      "What is 2 + 3?\n\nThink for at most 32 tokens."]]
    assert {c[1] for c in calls} == {64}  # the only cap is the safety net, not the stated budget
    assert all("num_wait" not in c[2] and "min_think" not in c[2] for c in calls)  # nothing forced
    assert [r["max_think"] for r in rows] == [16, 32] and rows[0]["question"] == "What is 2 + 3?"
    summary = evaluate.summarize(rows, questions, settings)
    # 20 thinking tokens: over the stated 16, within the stated 32
    assert [r["within_budget"] for r in summary["rows"]] == [0.0, 1.0]


@pytest.mark.parametrize("flags, message", [
    (["--budget-in-prompt", "256", "--num-wait", "1"], "forces nothing"),
    (["--budget-in-prompt", "256", "--rejection-tries", "2", "--temperature", "1"], "choose one baseline"),
    (["--budget-in-prompt", "64", "--max-think", "16", "128"], "would cut thinking"),
    (["--budget-in-prompt", "-1"], "choose one baseline"),
])
def test_conditional_flags_are_checked(flags, message):
    with pytest.raises(ValueError, match=message):
        length_control.check_args(length_control.parse_args(["--dataset", "x.jsonl", *flags]))
