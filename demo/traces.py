"""See what budget forcing did: one static HTML file with every generation of an evaluate.py run.

Reads an evaluate.py output folder (samples.jsonl, summary.json, run.json) and writes traces.html,
self-contained (no server, no network: the plot is embedded, the data is one JSON block):
  - the scaling plot and the summary table;
  - a grid of questions x settings, each cell right or wrong with its thinking tokens, filtered by
    domain and by what the Waits did (fixed: wrong without a Wait, right with one; broken: the
    other way round, against the same cap without a Wait);
  - one question opened (click a row, or traces.html#q=ID): its settings as a tree, the text they
    share shown once, then each branch from the token where it forked (samples.jsonl's forks).
    Thinking and answer are told apart, forced text is highlighted by kind (forced_spans), the
    cap's cut is marked, and each leaf shows the gold and extracted answers with the grade.
The page renders a question's text only when it is opened, so 10x the demo's 660 generations stay fast.
Samples.jsonl lines older than forced_spans/forks still load: no highlights, and each setting
shown in full.

    python demo/traces.py --eval runs/demo/eval --plot runs/demo/scaling.png --data runs/demo/data/eval.jsonl
"""
import argparse
import base64
import json
import os
import sys

# Where thinking ends in a response: the end-of-thinking delimiter of evaluate.py's --format
# (budget_force.FORMATS; the forcer never lets its first token into the thinking).
THINK_END = {"s1": "<|im_start|>answer", "r1": "</think>"}
KINDS = {"cap": "the cap: its text (--cap-str, default \"Final Answer:\") and the end of thinking", "wait": "a forced Wait (or what replaced it)",
         "delimiter": "delimiter completed after a natural stop", "answer_cap": "end-of-turn forced at the answer's cap"}


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def setting_name(s):  # as evaluate.py names a setting (forks list the other settings by this name)
    name = f"max_think={s['max_think']} num_wait={s['num_wait']} min_think={s['min_think']}"
    return name if s.get("wait_str", "Wait") == "Wait" else f"{name} wait_str={s['wait_str']!r}"


def short_label(s):
    label = str(s["max_think"])
    extends = s["num_wait"] or s["min_think"]
    if s["num_wait"]:
        label += f" +{s['num_wait']}w"
    if s["min_think"]:
        label += f" min{s['min_think']}"
    if extends and s.get("wait_str", "Wait") != "Wait":
        label += f" {s['wait_str']!r}"
    return label


def wait_effects(rows):
    """{(question id, setting name): "fixed" | "broken"} for each setting that extends thinking,
    against the same question at the same cap without any forcing to think on."""
    plain = {(str(r["id"]), r["max_think"]): r for r in rows if not r["num_wait"] and not r["min_think"]}
    effects = {}
    for r in rows:
        ref = plain.get((str(r["id"]), r["max_think"]))
        if (r["num_wait"] or r["min_think"]) and ref is not None and ref["correct"] != r["correct"]:
            effects[(str(r["id"]), setting_name(r))] = "fixed" if r["correct"] else "broken"
    return effects


def page_data(rows, summary, run, domains):
    """The page's JSON: settings, questions, one compact record per generation (sample 0)."""
    rows = [r for r in rows if r.get("sample", 0) == 0]
    names = [r["setting"] for r in (summary or {}).get("rows", [])]
    # Settings in the summary's order, then any it lacks (a run still going) by cap, then Waits.
    extra = sorted({setting_name(r): (r["max_think"], r["num_wait"], r["min_think"], r.get("wait_str", "Wait") != "Wait")
                    for r in rows if setting_name(r) not in names}.items(), key=lambda x: x[1])
    names += [name for name, _ in extra]
    settings = {}
    for r in rows:
        settings.setdefault(setting_name(r), {k: r[k] for k in ("max_think", "num_wait", "min_think")} | {"wait_str": r.get("wait_str", "Wait")})
    names = [n for n in names if n in settings]
    index = {n: j for j, n in enumerate(names)}
    questions, q_index = [], {}
    for r in rows:
        if str(r["id"]) not in q_index:
            q_index[str(r["id"])] = len(questions)
            questions.append({"id": str(r["id"]), "question": r["question"], "gold": r["gold"],
                              "domain": domains.get(str(r["id"]), "all")})
    think_end = THINK_END.get((run or {}).get("format", "s1"), THINK_END["s1"])
    effects = wait_effects(rows)
    gens = []
    for r in rows:
        text, name = r["response"], setting_name(r)
        end = text.find(think_end)
        forks = r.get("forks")
        gens.append({
            "q": q_index[str(r["id"])], "s": index[name], "ok": int(bool(r["correct"])),
            "tt": r["thinking_tokens"], "at": r["answer_tokens"], "w": r["waits"], "cut": int(bool(r["forced_stop"])),
            "x": r["extracted"], "r": text, "te": len(text) if end < 0 else end,
            "sp": [[x["kind"], x["start"], x["end"]] for x in r.get("forced_spans", [])],
            # None: an older line without forks; else [token, char, [setting indices it parted from]].
            "f": None if forks is None else [[f["token"], f["char"], [index[n] for n in f["from"] if n in index]] for f in forks],
            "e": effects.get((str(r["id"]), name), ""),
        })
    return {"settings": [{"name": n, "label": short_label(settings[n])} for n in names], "questions": questions,
            "gens": gens, "kinds": KINDS, "summary": summary, "title": (run or {}).get("dataset", "")}


def render(data, plot_png):
    """The HTML page: the data as a JSON block (never parsed as markup: "</" is escaped)."""
    blob = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    img = f'<img id="plot" alt="scaling plot" src="data:image/png;base64,{base64.b64encode(plot_png).decode()}">' if plot_png else ""
    return PAGE.replace("%PLOT%", img).replace("%DATA%", blob)


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>budget forcing traces</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:16px;color:#222}
h1{font-size:20px;margin:0 0 8px} h2{font-size:16px;margin:16px 0 6px}
#top{display:flex;gap:24px;align-items:flex-start;flex-wrap:wrap} #plot{max-width:480px;border:1px solid #ddd}
table{border-collapse:collapse} td,th{padding:2px 6px;border:1px solid #ddd;text-align:right}
#grid td.q{text-align:left;max-width:360px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;cursor:pointer}
#grid tr:hover td{outline:1px solid #bbb} #grid td.c{cursor:pointer;min-width:44px}
td.ok{background:#d9f2d9} td.bad{background:#f6d5d5} td.fixed{box-shadow:inset 0 -3px #2a8f2a} td.broken{box-shadow:inset 0 -3px #c0392b}
tr.open td{outline:2px solid #36c}
.legend span,.text span{border-radius:2px}
.think{color:#555;background:#f4f4f8} .ans{color:#000;background:#fffbe6;font-weight:500}
.f-cap{background:#ffb3b3} .f-wait{background:#ffd966} .f-delimiter{background:#b3d9ff} .f-answer_cap{background:#d9b3ff}
.cut{color:#c00;font-weight:bold;padding:0 2px;border-left:2px solid #c00}
.text{white-space:pre-wrap;font:13px/1.45 ui-monospace,monospace;margin:4px 0;padding:4px;border:1px solid #eee}
.branch{margin:6px 0 6px 14px;padding-left:8px;border-left:3px solid #9ab}
.fork{font-size:12px;color:#236;font-weight:600} .who{font-size:12px;color:#666}
.grade{font-size:13px;margin:2px 0 8px} .right{color:#1a7a1a} .wrong{color:#b02020}
#errors{color:#b00;background:#fee}
</style></head><body>
<h1>Budget forcing traces <span id="title"></span></h1>
<div id="top">%PLOT%<div><table id="summary"></table><p id="metrics"></p></div></div>
<p class="legend" id="legend"></p>
<h2>Questions x settings</h2>
<p>domain <select id="domain"><option value="">all</option></select>
 Waits <select id="effect"><option value="">any</option><option value="fixed">fixed a wrong answer</option>
 <option value="broken">broke a right answer</option><option value="changed">changed the grade</option></select>
 <span id="count"></span> &middot; click a row to open it; a cell: green right, red wrong, the number its thinking tokens;
 underline: the Waits fixed (green) or broke (red) it</p>
<table id="grid"></table>
<div id="view"></div>
<pre id="errors" hidden></pre>
<script id="data" type="application/json">%DATA%</script>
<script>
// Errors go into the page itself, where a reader (and the browser test) sees them; a script of its
// own, so that even a syntax error in the next one is caught.
function showError(message) {
  const e = document.getElementById("errors"); e.hidden = false; e.textContent += message + "\\n";
}
window.onerror = function (msg, src, line) { showError(msg + " (line " + line + ")"); };
const consoleError = console.error;
console.error = function (...args) { showError(args.join(" ")); consoleError.apply(console, args); };
</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const S = D.settings, Q = D.questions, gen = new Map();
for (const g of D.gens) gen.set(g.q + "," + g.s, g);
const esc = t => String(t).replace(/[&<>"]/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})[c]);
const pct = x => (100 * x).toFixed(1) + "%";

function header() {
  document.getElementById("title").textContent = D.title ? "(" + D.title + ")" : "";
  const sm = D.summary;
  if (sm) {
    let h = "<tr><th>setting</th><th>n</th><th>accuracy</th><th>avg thinking</th><th>control</th></tr>";
    for (const r of sm.rows) h += "<tr><td style='text-align:left'>" + esc(r.setting) + "</td><td>" + r.n + "</td><td>" +
      pct(r.accuracy) + "</td><td>" + r.avg_thinking_tokens.toFixed(1) + "</td><td>" + pct(r.control) + "</td></tr>";
    document.getElementById("summary").innerHTML = h;
    const m = sm.metrics;
    document.getElementById("metrics").textContent = "Control " + pct(m.control) + ", Scaling " +
      (m.scaling === null ? "n/a" : m.scaling.toPrecision(3) + " accuracy/token") + ", Performance " + pct(m.performance);
  }
  let l = "<span class='think'>thinking</span> <span class='ans'>answer</span> <span class='cut'>&#9986;</span> the cap's cut &middot; forced: ";
  for (const k in D.kinds) l += "<span class='f-" + k + "'>" + esc(D.kinds[k]) + "</span> ";
  document.getElementById("legend").innerHTML = l;
  const dom = document.getElementById("domain");
  for (const d of [...new Set(Q.map(q => q.domain))].sort()) dom.add(new Option(d, d));
}

function grid() {  // one string, one innerHTML: fast for thousands of cells
  let h = "<tr><th>question</th><th>domain</th>" + S.map(s => "<th title='" + esc(s.name) + "'>" + esc(s.label) + "</th>").join("") + "</tr>";
  Q.forEach((q, i) => {
    h += "<tr data-q='" + i + "'><td class='q' title='" + esc(q.question) + "'>" + esc(q.id + ": " + q.question) + "</td><td>" + esc(q.domain) + "</td>";
    S.forEach((s, j) => {
      const g = gen.get(i + "," + j);
      h += g ? "<td class='c " + (g.ok ? "ok" : "bad") + (g.e ? " " + g.e : "") + "' title='" + esc(s.name) + "'>" + g.tt + "</td>" : "<td></td>";
    });
    h += "</tr>";
  });
  document.getElementById("grid").innerHTML = h;
  document.getElementById("grid").onclick = e => {
    const tr = e.target.closest("tr[data-q]");
    if (tr) location.hash = "q=" + encodeURIComponent(Q[+tr.dataset.q].id);  // opens it (onhashchange)
  };
}

function filter() {
  const dom = document.getElementById("domain").value, eff = document.getElementById("effect").value;
  let shown = 0;
  for (const tr of document.querySelectorAll("#grid tr[data-q]")) {
    const i = +tr.dataset.q, es = S.map((s, j) => (gen.get(i + "," + j) || {}).e);
    const ok = (!dom || Q[i].domain === dom) && (!eff || (eff === "changed" ? es.some(e => e) : es.includes(eff)));
    tr.hidden = !ok; shown += ok;
  }
  document.getElementById("count").textContent = shown + " of " + Q.length + " questions";
}

// A generation's text from char a to b: thinking or answer, forced spans by kind, the cap's cut.
function text(g, a, b) {
  const cuts = new Set([a, b]);
  if (g.te > a && g.te < b) cuts.add(g.te);
  for (const [, s, e] of g.sp) for (const x of [s, e]) if (x > a && x < b) cuts.add(x);
  const xs = [...cuts].sort((x, y) => x - y);
  let h = "";
  for (let k = 0; k + 1 < xs.length; k++) {
    const s = xs[k], e = xs[k + 1];
    const span = g.sp.find(([, ss, se]) => ss <= s && e <= se);
    if (span && span[0] === "cap" && span[1] === s) h += "<span class='cut' title='the cap cut thinking here'>&#9986;</span>";
    h += "<span class='" + (s < g.te ? "think" : "ans") + (span ? " f-" + span[0] : "") + "'" +
         (span ? " title='forced: " + esc(D.kinds[span[0]]) + "'" : "") + ">" + esc(g.r.slice(s, e)) + "</span>";
  }
  return "<div class='text'>" + h + "</div>";
}

// The settings of one question as a tree: parted(a, b) is where a's record says it forked from b.
function tree(qi, members, start) {
  const g = j => gen.get(qi + "," + j);
  const parted = (a, b) => { for (const f of g(a).f || []) if (f[2].includes(b)) return f; return null; };
  let first = null;
  for (const a of members) for (const b of members) { const p = parted(a, b); if (p && (!first || p[0] < first[0])) first = p; }
  if (!first) {  // no recorded fork among them: identical generations share a leaf, anything else (an older file) its own
    const byText = new Map();
    for (const j of members) { const t = g(j).r; byText.set(t, (byText.get(t) || []).concat(j)); }
    if (byText.size === 1) return {members, start, leaf: true};
    return {members, start, end: start, children: [...byText.values()].map(m => ({members: m, start, leaf: true}))};
  }
  const group = new Map(members.map(j => [j, j]));  // union-find: together unless they parted at `first`
  const root = j => group.get(j) === j ? j : root(group.get(j));
  for (const a of members) for (const b of members) {
    const p = parted(a, b);
    if (a < b && !(p && p[0] === first[0])) group.set(root(a), root(b));
  }
  const parts = new Map();
  for (const j of members) parts.set(root(j), (parts.get(root(j)) || []).concat(j));
  return {members, start, end: first[1], token: first[0], children: [...parts.values()].map(m => tree(qi, m, first[1]))};
}

const who = ms => ms.map(j => S[j].label).join(", ");
function node(qi, n) {
  const g = gen.get(qi + "," + n.members[0]);
  if (n.leaf) {
    let h = text(g, n.start, g.r.length);
    for (const j of n.members) {
      const x = gen.get(qi + "," + j), q = Q[qi];
      h += "<div class='grade'><b>" + esc(S[j].label) + "</b>: extracted <code>" + esc(x.x === null ? "(none)" : x.x) +
        "</code>, gold <code>" + esc(q.gold) + "</code>: <span class='" + (x.ok ? "right'>right" : "wrong'>wrong") + "</span>" +
        " &middot; " + x.tt + " thinking tokens" + (x.cut ? " (cut by the cap)" : "") + ", " + x.w + " Wait(s), " + x.at + " answer tokens" +
        (x.e ? " &middot; the Waits " + x.e + " it" : "") + "</div>";
    }
    return h;
  }
  let h = n.end > n.start ? "<div class='who'>shared by " + esc(who(n.members)) + "</div>" + text(g, n.start, n.end) : "";
  for (const c of n.children) {
    h += "<div class='branch'><div class='fork'>" + esc(who(c.members)) +
      (n.token === undefined ? " (no fork recorded: in full)" : ": forks at token " + n.token + " (char " + n.end + ")") +
      "</div>" + node(qi, c) + "</div>";
  }
  return h;
}

const param = name => decodeURIComponent((location.hash.match(new RegExp("[#&]" + name + "=([^&]*)")) || [])[1] || "");
function openQuestion(scroll) {
  const id = param("q");
  const qi = Q.findIndex(q => q.id === id);
  for (const tr of document.querySelectorAll("#grid tr.open")) tr.classList.remove("open");
  const view = document.getElementById("view");
  if (qi < 0) { view.innerHTML = ""; return; }
  document.querySelector("#grid tr[data-q='" + qi + "']").classList.add("open");
  const members = S.map((s, j) => j).filter(j => gen.has(qi + "," + j));
  const t = tree(qi, members, 0);
  view.innerHTML = "<h2>" + esc(Q[qi].id) + " (" + esc(Q[qi].domain) + ")</h2><div class='text'>" + esc(Q[qi].question) +
    "</div><p>gold: <code>" + esc(Q[qi].gold) + "</code></p>" + node(qi, t);
  if (scroll) view.scrollIntoView();
}

// A link can set the filters and open a question: traces.html#effect=fixed&q=ID
header(); grid();
for (const name of ["domain", "effect"]) {
  const select = document.getElementById(name), value = param(name);
  if ([...select.options].some(o => o.value === value)) select.value = value;
}
filter();
document.getElementById("domain").onchange = filter;
document.getElementById("effect").onchange = filter;
window.onhashchange = () => openQuestion(true);
openQuestion(false);
</script></body></html>
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--eval", default="runs/demo/eval", help="an evaluate.py output folder")
    parser.add_argument("--plot", default=None, help="the PNG to show at the top (default: <eval>/scaling.png)")
    parser.add_argument("--data", default=None, help="the eval set as JSONL with a domain column (for the domain filter)")
    parser.add_argument("--out", default=None, help="default: <eval>/traces.html")
    args = parser.parse_args(argv)
    samples = os.path.join(args.eval, "samples.jsonl")
    plot = args.plot or os.path.join(args.eval, "scaling.png")
    try:
        rows = read_jsonl(samples)
        if not rows:
            raise ValueError(f"{samples} holds no generations")
        summary = run = None
        if os.path.exists(os.path.join(args.eval, "summary.json")):
            with open(os.path.join(args.eval, "summary.json")) as f:
                summary = json.load(f)
        if os.path.exists(os.path.join(args.eval, "run.json")):
            with open(os.path.join(args.eval, "run.json")) as f:
                run = json.load(f)
        domains = {str(r["id"]): r.get("domain", "all") for r in read_jsonl(args.data)} if args.data else {}
        png = open(plot, "rb").read() if os.path.exists(plot) else None
        html = render(page_data(rows, summary, run, domains), png)
    except (OSError, ValueError, KeyError) as e:
        print(f"error: {e if not isinstance(e, KeyError) else f'a line of {samples} lacks {e}'}", file=sys.stderr)
        sys.exit(2)
    out = args.out or os.path.join(args.eval, "traces.html")
    with open(out, "w", encoding="utf-8") as f:
        f.write(html)
    print(f"traces: {out} ({len(rows)} generations, {len(html) // 1024} KB)")


if __name__ == "__main__":
    main()
