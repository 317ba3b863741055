"""demo/traces.py: the static HTML view of an evaluate.py run, checked in a real browser.

The browser is headless Chromium (Debian's chromium-headless-shell or chromium; .ci/run installs
it). The tests that need it skip, saying so, only where neither is installed. They load the page
from disk with --dump-dom (the DOM after the page's scripts ran) and assert what a reader sees.
The page writes any script error or console.error into its #errors element, so a dumped DOM
shows those too."""
import html
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "demo"))
import traces  # noqa: E402

CAP = "\n<|im_start|>answer\nFinal Answer:"
CLOSE = "\n<|im_start|>answer\n"
SETTINGS = [{"max_think": 4, "num_wait": 0, "min_think": 0, "wait_str": "Wait"},
            {"max_think": 16, "num_wait": 0, "min_think": 0, "wait_str": "Wait"},
            {"max_think": 16, "num_wait": 1, "min_think": 0, "wait_str": "Wait"}]
NAMES = [traces.setting_name(s) for s in SETTINGS]


def question_rows(qid, gold, wait_answer):
    """One question under the three settings, as the decode tree writes them: tokens "a", " b",
    " c" shared; at token 3 the Wait setting forces "Wait" where the others go on with " d"; at
    token 4 the cap forces its close where the uncapped one says " e" and closes by itself."""
    texts = ["a b c d" + CAP + " 5<|im_end|>", "a b c d e" + CLOSE + "Answer: 5<|im_end|>",
             "a b cWait e" + CLOSE + f"Answer: {wait_answer}<|im_end|>"]
    spans = [[{"kind": "cap", "start": 7, "end": 7 + len(CAP), "tokens": [4, 11]}],
             [{"kind": "delimiter", "start": 9, "end": 9 + len(CLOSE), "tokens": [5, 9]}],
             [{"kind": "wait", "start": 5, "end": 9, "tokens": [3, 4]},
              {"kind": "delimiter", "start": 11, "end": 11 + len(CLOSE), "tokens": [5, 9]}]]
    forks = [[{"token": 3, "char": 5, "from": [NAMES[2]]}, {"token": 4, "char": 7, "from": [NAMES[1]]}],
             [{"token": 3, "char": 5, "from": [NAMES[2]]}, {"token": 4, "char": 7, "from": [NAMES[0]]}],
             [{"token": 3, "char": 5, "from": [NAMES[0], NAMES[1]]}]]
    extracted = ["5", "5", str(wait_answer)]
    return [{"id": qid, "question": f"question {qid}?", "gold": gold, "response": text, "extracted": x,
             "correct": x == gold, "thinking_tokens": [4, 5, 5][j], "answer_tokens": 3, "waits": [0, 0, 1][j],
             "forced_stop": j == 0, "closed_itself": j != 0, **SETTINGS[j], "sample": 0,
             "forced_spans": spans[j], "forks": forks[j]}
            for j, (text, x) in enumerate(zip(texts, extracted))]


def write_eval(folder, rows):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "samples.jsonl"), "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    with open(os.path.join(folder, "run.json"), "w") as f:
        json.dump({"dataset": "toy.jsonl", "format": "s1"}, f)


@pytest.fixture
def toy_eval(tmp_path):
    """q1: the Wait fixed it (gold 6); q2: all agree on 5; q3: the Wait broke it. Domains from a file."""
    rows = question_rows("q1", "6", 6) + question_rows("q2", "5", 5) + question_rows("q3", "5", 7)
    folder = str(tmp_path / "eval")
    write_eval(folder, rows)
    data = tmp_path / "eval.jsonl"
    data.write_text("".join(json.dumps({"id": q, "domain": d}) + "\n" for q, d in (("q1", "add"), ("q2", "add"), ("q3", "count"))))
    return folder, str(data)


def write_page(folder, data=None):
    args = ["--eval", folder] + (["--data", data] if data else [])
    traces.main(args)
    return os.path.join(folder, "traces.html")


def browser():
    for name in ("chromium-headless-shell", "chromium", "chromium-browser"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("no headless Chromium on this machine (apt-get install chromium-headless-shell; .ci/run does)")


def dump_dom(page, fragment=""):
    exe = browser()
    args = [exe, "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=" + os.path.dirname(page) + "/profile"]
    if not exe.endswith("headless-shell"):
        args.append("--headless")
    out = subprocess.run(args + ["--dump-dom", "file://" + page + fragment], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def view_of(dom):
    """The opened question, as rendered (not the page's script)."""
    return html.unescape(dom[dom.index('<div id="view">'):dom.index('<pre id="errors"')])


def errors_shown(dom):
    m = re.search(r'<pre id="errors"[^>]*>(.*?)</pre>', dom, re.S)
    return html.unescape(m.group(1)) if m else "the page has no #errors element"


def test_page_in_chromium_grid_fork_and_waits_highlight(toy_eval):
    folder, data = toy_eval
    page = write_page(folder, data)
    source = open(page).read()
    assert not re.search(r"""(src|href)=["']?https?:""", source)  # nothing fetched from a network
    dom = dump_dom(page, "#q=q1")  # q1: the question whose Wait fixed the answer, opened
    assert errors_shown(dom) == ""
    assert "3 of 3 questions" in dom
    assert len(re.findall(r'<td class="c (?:ok|bad)', dom)) == 3 * 3  # questions x settings
    assert dom.count('class="c bad"') + dom.count('class="c bad broken"') == 3  # q1 at 4 and 16; q3 with the Wait
    assert 'class="c ok fixed"' in dom and 'class="c bad broken"' in dom
    view = view_of(dom)
    # The tree: "a b c" shared once, the Wait branch parts at token 3, the cap from the uncapped at 4.
    assert view.count(">a b c<") == 1
    assert "16 +1w: forks at token 3 (char 5)" in view
    assert "4: forks at token 4 (char 7)" in view
    assert re.search(r'<span class="think f-wait" title="forced: [^"]*">Wait</span>', view)
    assert 'class="cut"' in view and "f-cap" in view
    assert "gold <code>6</code>: <span class=\"right\">right</span>" in view


def test_filters_by_domain_and_by_what_the_waits_did(toy_eval):
    folder, data = toy_eval
    page = write_page(folder, data)
    shown = lambda dom: re.findall(r'<tr data-q="\d+"( hidden="")?><td class="q"[^>]*>(q\d)', dom)
    for fragment, visible in (("#effect=fixed", ["q1"]), ("#effect=broken", ["q3"]), ("#effect=changed", ["q1", "q3"]),
                              ("#domain=add", ["q1", "q2"]), ("#domain=count&effect=fixed", [])):
        dom = dump_dom(page, fragment)
        assert errors_shown(dom) == ""
        assert [q for hidden, q in shown(dom) if not hidden] == visible, fragment
        assert f"{len(visible)} of 3 questions" in dom


def test_page_reports_script_errors(toy_eval, monkeypatch):
    """The no-error check above means something: a page whose script throws shows it in #errors."""
    folder, _ = toy_eval
    monkeypatch.setattr(traces, "PAGE", traces.PAGE.replace("header(); grid();", "header(); undefinedFunction(); grid();"))
    dom = dump_dom(write_page(folder))
    assert "undefinedFunction" in errors_shown(dom)


def test_older_samples_without_spans_or_forks_still_load(toy_eval):
    folder, _ = toy_eval
    rows = [{k: v for k, v in r.items() if k not in ("forced_spans", "forks")}
            for r in traces.read_jsonl(os.path.join(folder, "samples.jsonl"))]
    write_eval(folder, rows)
    data = traces.page_data(rows, None, None, {})
    assert len(data["gens"]) == 9 and all(g["sp"] == [] and g["f"] is None for g in data["gens"])
    dom = dump_dom(write_page(folder), "#q=q1")
    assert errors_shown(dom) == ""
    assert view_of(dom).count("(no fork recorded: in full)") == 3  # each setting on its own


def test_bad_input_one_line_exit_2(tmp_path):
    out = subprocess.run([sys.executable, os.path.join(ROOT, "demo", "traces.py"), "--eval", str(tmp_path)],
                         capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.startswith("error:") and len(out.stderr.strip().splitlines()) == 1
