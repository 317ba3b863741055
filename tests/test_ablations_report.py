"""demo/ablations_report.py's data-selection statistics (Table 2 in miniature) on small, known
inputs: the two-level bootstrap (seeds, then questions, paired by question), the power numbers,
the base row, the figures the write-up cites, and the single-seed labels. Seconds, no model."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "demo"))
import ablations_report as report  # noqa: E402

IDS = [f"hard-addition-{i}" for i in range(20)] + [f"broad-counting-{i}" for i in range(20)]


def scores(values, ids=IDS):
    return dict(zip(ids, map(float, values)))


def test_two_level_bootstrap_includes_the_seeds_spread():
    """An arm right on every question in one seed and on none in the other two, against a reference
    that is never right: the per-question difference is 1/3 everywhere, so an interval over
    questions alone has no width; over seeds it spans whole seeds (0 to 1)."""
    arm = [scores([1] * 40), scores([0] * 40), scores([0] * 40)]
    ref = [scores([0] * 40)] * 3
    diff, low, high, se = report.two_level_bootstrap(arm, ref)
    assert diff == pytest.approx(1 / 3)
    assert low == 0.0 and high == 1.0 and se > 0.2
    pooled = report.paired_bootstrap(report.mean_over_seeds([{"hard": a} for a in arm], "hard"), scores([0] * 40))
    assert pooled[1] == pooled[2] == pytest.approx(1 / 3)  # the question-level interval alone misses it


def test_two_level_bootstrap_is_paired_by_question():
    """Arm and reference right on exactly the same questions: a paired difference is 0 in every
    resample; drawing the questions separately for each side would give it a spread."""
    same = scores([i % 2 for i in range(40)])
    assert report.two_level_bootstrap([same], [same]) == (0.0, 0.0, 0.0, 0.0)
    const = report.two_level_bootstrap([scores([1] * 40)] * 3, [scores([0] * 40)] * 3)
    assert const == (1.0, 1.0, 1.0, 0.0)
    with pytest.raises(ValueError):
        report.two_level_bootstrap([scores([1] * 40)], [scores([1] * 39, IDS[:39])])


def test_power_from_the_variance_components():
    """SE^2 = var(per-question difference)/questions + each side's seed variance/seeds; the
    detectable gap is 2.80 SE; a single-seed side borrows the other side's seed variance."""
    rng = np.random.default_rng(0)
    arm = [scores(rng.integers(0, 2, 40)) for _ in range(3)]
    ref = [scores(rng.integers(0, 2, 40)) for _ in range(3)]
    a = np.array([[r[i] for i in sorted(IDS)] for r in arm])
    b = np.array([[r[i] for i in sorted(IDS)] for r in ref])
    var_q = (a.mean(0) - b.mean(0)).var(ddof=1)
    se = np.sqrt(var_q / 40 + a.mean(1).var(ddof=1) / 3 + b.mean(1).var(ddof=1) / 3)
    p = report.power(arm, ref)
    assert p["se"] == pytest.approx(se) and p["detectable"] == pytest.approx(2.8016 * se, rel=1e-4)
    one = report.power(arm[:1], ref)
    assert one["var_seeds_arm"] == one["var_seeds_ref"] == pytest.approx(b.mean(1).var(ddof=1))
    # questions needed: var_q / ((gap / z)^2 - var_seeds / seeds); none when the seeds alone are too noisy
    assert report.needed(0.5, 0.0, 0.133, 1) == int(np.ceil(0.5 / (0.133 / report.Z_POWER) ** 2))
    assert report.needed(0.5, 0.01, 0.01, 3) is None


def write_jsonl(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f)


def eval_run(folder, correct, thinking=50, cut=()):
    """An evaluate.py run over IDS: `correct` a list of 0/1; `cut`: indices the cap cut off."""
    write_jsonl(os.path.join(folder, "samples.jsonl"),
                [{"id": i, "question": i, "gold": "1", "extracted": "1", "correct": bool(c), "max_think": 192,
                  "num_wait": 0, "thinking_tokens": 192 if k in cut else thinking, "forced_stop": k in cut}
                 for k, (i, c) in enumerate(zip(IDS, correct))])
    write_json(os.path.join(folder, "summary.json"), {"rows": []})


def arm_run(sel, name, correct, checks, thinking=50, cut=()):
    """An arm's folder: 4 training rows (`checks` of them with a Wait), its training summary, its eval."""
    folder = os.path.join(sel, name)
    rows = [{"question": f"q{k}", "domain": "addition", "thinking_tokens": 10,
             "thinking_trajectories": ["1+1=2\nWait, check" if k < checks else "1+1=2"]} for k in range(4)]
    write_jsonl(os.path.join(folder, "s1k.jsonl"), rows)
    write_json(os.path.join(folder, "train", "train_summary.json"),
               {"data": {"examples": 4}, "steps": 1, "epochs": 1.0, "tokens": 40, "train_seconds": 1.0})
    eval_run(os.path.join(folder, "eval"), correct, thinking, cut)


@pytest.fixture
def run(tmp_path):
    """A finished run: s1 at 3 seeds (right on 4 hard questions each), random at 3 (right on every
    hard question in seed 0 only), longest at 1; the base right on every hard question, half the broad."""
    sel = str(tmp_path / "run" / "selection")
    write_json(os.path.join(sel, "dev", "summary.json"), {"rows": [{"accuracy": 0.7, "n": 20}]})
    write_json(os.path.join(sel, "warmup", "train_summary.json"), {"steps": 48, "tokens": 100})
    write_jsonl(os.path.join(sel, "attempts", "samples.jsonl"), [{"question": "q0", "correct": True}])
    for seed in range(3):
        arm_run(sel, f"s1-s{seed}", [1] * 4 + [0] * 36, checks=3, thinking=120, cut=range(10))
        arm_run(sel, f"random-s{seed}", ([1] * 20 if seed == 0 else [0] * 20) + [0] * 20, checks=1)
    arm_run(sel, "longest-s0", [0] * 40, checks=4)
    write_json(os.path.join(sel, "s1-s0", "s1k.report.json"), {"stages": [{"stage": "difficulty", "in": 10, "out": 6}]})
    eval_run(os.path.join(sel, "base", "eval"), [1] * 20 + [1, 0] * 10, thinking=30)
    return str(tmp_path / "run")


def test_data_selection_reports_the_base_row_primary_and_computed_figures(run):
    ds = report.data_selection(run)
    assert ds["base"]["accuracy"] == {"hard": 1.0, "broad": 0.5}
    s1, random, longest = (ds["arms"][a] for a in ("s1", "random", "longest"))
    # s1 is right on 4 hard questions and no broad one: below the base on both
    assert s1["verdict_base"] == {"hard": "below the base", "broad": "below the base"}
    assert "longest" in ds["arms_below_base"]["hard"] and "s1" in ds["arms_below_base"]["broad"]
    assert random["role"] == {"hard": "primary", "broad": "secondary"} and longest["role"]["hard"] == "secondary"
    assert longest["single_seed"] and not random["single_seed"]
    # random's pooled interval spans its seeds (all right in one, none in two): it includes 0
    d, low, high, _ = random["vs_s1"]["hard"]
    assert d == pytest.approx(1 / 3 - 0.2) and low < 0 < high
    assert random["verdict"]["hard"] == "indistinguishable at this size"
    # the write-up's figures, computed: self-checking rows, thinking tokens, cut off, accuracy by domain
    assert s1["stats"]["self_checking_rows"] == 0.75 and random["stats"]["self_checking_rows"] == 0.25
    assert s1["stats"]["hard"]["thinking_tokens"] == pytest.approx((10 * 192 + 10 * 120) / 20)
    assert s1["stats"]["hard"]["cut_off"] == 0.5 and s1["stats"]["broad"]["cut_off"] == 0.0
    assert s1["stats"]["hard"]["accuracy_by_domain"] == {"addition": pytest.approx(0.2)}
    assert ds["power"]["primary"]["seeds_arm"] == 3 and ds["power"]["primary"]["detectable"] > 0
    assert [h["arm"] for h in ds["power"]["paper_scale"]] == ["random", "diverse", "longest"]
    text = "\n".join(report.format_data_selection(ds))
    assert "base" in text and "1 seed" in text and "hard (primary)" in text and "arms below the base" in text


def test_cli_writes_to_out_and_leaves_the_run_alone(run, tmp_path):
    out = tmp_path / "report"
    r = subprocess.run([sys.executable, "demo/ablations_report.py", "--run", run, "--demo", str(tmp_path / "none"),
                        "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (out / "report.json").exists() and (out / "data_selection.png").exists()
    assert not os.path.exists(os.path.join(run, "report.json"))
    bad = subprocess.run([sys.executable, "demo/ablations_report.py", "--run", str(tmp_path / "missing")], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


def test_experiment_2_shares_the_base_row_and_flags_a_binding_cap(run, tmp_path):
    """Experiment 2's arms live in selection-long; its pool, warm-up, filter and base row are the
    first experiment's. An arm whose generations the cap cut off above 5% is named (the
    registered check): here s1, half of whose hard-set generations hit the cap."""
    import shutil
    long = os.path.join(run, "selection-long")
    for arm in os.listdir(os.path.join(run, "selection")):
        if arm.startswith(("s1-", "random-")):
            shutil.copytree(os.path.join(run, "selection", arm), os.path.join(long, arm))
    first, second = report.data_selection(run), report.data_selection(run, folder="selection-long")
    assert set(second["arms"]) == {"s1", "random"} and second["base"] == first["base"]
    assert second["arms"]["random"]["vs_s1"] == first["arms"]["random"]["vs_s1"]
    assert set(second["cap_bit"]) == {"s1"} and second["cap_bit"]["s1"]["hard"] == 0.5
    assert "the cap bit" in "\n".join(report.format_data_selection(second))
    r = subprocess.run([sys.executable, "demo/ablations_report.py", "--run", run, "--demo", str(tmp_path / "none"),
                        "--out", str(tmp_path / "report")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "experiment 2" in r.stdout and (tmp_path / "report" / "data_selection_long.png").exists()
    assert json.load(open(tmp_path / "report" / "report.json"))["data_selection_long"]["arms"]
