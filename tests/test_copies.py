"""Copies that must stay copies. Each stage script stands alone, so a few lines are pasted into
several files; these tests compare the copies so that a fix in one cannot silently miss the others:
  - the model-loader block (its banner line through load_tokenizer) in budget_force.py, train.py
    and curate.py, by source text;
  - the formats table, FORMATS in budget_force.py and train.py, by value;
  - curate.py's decontamination sets (EVAL_SETS) against evaluate.py's HUB_DATASETS, by value;
  - the file readers json_document and read_parquet in curate.py, evaluate.py and train.py, by source.
The files are parsed, not imported: nothing here loads torch or a model."""
import ast
import difflib
import os

from conftest import ROOT

LOADER_FILES = ("budget_force.py", "train.py", "curate.py")
# The second of the block's three banner lines: unique to the block, so it finds the block.
LOADER_BANNER = "# Model loader: the same lines in budget_force.py, train.py and curate.py, so each file stands alone"


def read(name):
    with open(os.path.join(ROOT, name), encoding="utf-8") as f:
        return f.read()


def loader_block(name, text):
    """(source of the copied block, its last line number): from the dashes line above the banner
    through the last line of load_tokenizer."""
    lines = text.splitlines()
    at = [i for i, line in enumerate(lines) if line == LOADER_BANNER]
    assert len(at) == 1, f"{name}: the loader banner occurs {len(at)} times, not once: {LOADER_BANNER!r}"
    start = at[0] - 1
    assert start >= 0 and lines[start].startswith("# ---"), f"{name}: no '# ---' line right above the loader banner"
    ends = [node.end_lineno for node in ast.parse(text).body
            if isinstance(node, ast.FunctionDef) and node.name == "load_tokenizer" and node.lineno > start]
    assert len(ends) == 1, f"{name}: no single load_tokenizer after the loader banner"
    return "\n".join(lines[start:ends[0]]) + "\n", ends[0]


def odd_copies(blocks):
    """{file: source} -> the files whose source differs from the most common one (all but one file
    when every copy differs), each with a unified diff against a file of the majority."""
    groups = {}
    for name, source in blocks.items():
        groups.setdefault(source, []).append(name)
    if len(groups) == 1:
        return {}
    majority = max(groups.values(), key=len)
    reference = majority[0]
    return {name: "".join(difflib.unified_diff(blocks[reference].splitlines(True), source.splitlines(True),
                                                reference, name))
            for source, names in groups.items() if names is not majority for name in names}


def module_constant(name, text, constant):
    """The value of a top-level `CONSTANT = <literal>` in a file's source."""
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == constant for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name}: no top-level {constant} = ... literal")


def test_the_loader_block_is_the_same_text_in_every_stage_script():
    blocks = {name: loader_block(name, read(name))[0] for name in LOADER_FILES}
    odd = odd_copies(blocks)
    assert not odd, "the copied model-loader block differs in " + ", ".join(odd) + \
        " (paste the same block into every file):\n" + "\n".join(odd.values())
    for name in LOADER_FILES:
        assert "def resolve_model(model):" in blocks[name] and "EMBEDDED_GGUF = " in blocks[name], name


def test_each_stage_script_has_its_own_load_model_after_the_block():
    for name in LOADER_FILES:
        text = read(name)
        end = loader_block(name, text)[1]
        defs = [node for node in ast.parse(text).body if isinstance(node, ast.FunctionDef) and node.name == "load_model"]
        assert len(defs) == 1 and defs[0].lineno > end, f"{name}: load_model must follow the copied block, outside it"
        assert ast.get_docstring(defs[0]), f"{name}: load_model needs a docstring saying what it returns and why it is its own"


def test_the_formats_table_has_one_shape_and_one_value():
    tables = {name: module_constant(name, read(name), "FORMATS") for name in ("budget_force.py", "train.py")}
    shapes = {name: {fmt: sorted(fields) for fmt, fields in table.items()} for name, table in tables.items()}
    assert shapes["budget_force.py"] == shapes["train.py"], f"FORMATS has different formats or fields: {shapes}"
    for fmt, fields in tables["budget_force.py"].items():
        assert fields == tables["train.py"][fmt], \
            f"FORMATS[{fmt!r}]: budget_force.py has {fields!r}, train.py has {tables['train.py'][fmt]!r}"


def test_curate_decontaminates_against_evaluate_s_own_hub_entries():
    eval_sets = module_constant("curate.py", read("curate.py"), "EVAL_SETS")
    hub = module_constant("evaluate.py", read("evaluate.py"), "HUB_DATASETS")
    assert eval_sets, "curate.py: EVAL_SETS is empty"
    for name, entry in eval_sets.items():
        assert name in hub, f"curate.py: EVAL_SETS[{name!r}] is not one of evaluate.py's HUB_DATASETS ({', '.join(hub)})"
        assert entry == hub[name], f"{name}: curate.py's EVAL_SETS has {entry!r}, evaluate.py's HUB_DATASETS {hub[name]!r}"


def test_odd_copies_names_the_file_that_differs():
    block = "# ---\n" + LOADER_BANNER + "\ndef load_tokenizer(model=None):\n    return model\n"
    respaced = block.replace("return model", "return  model")
    assert odd_copies({"a.py": block, "b.py": block, "c.py": block}) == {}
    odd = odd_copies({"a.py": block, "b.py": respaced, "c.py": block})
    assert list(odd) == ["b.py"] and "+    return  model" in odd["b.py"] and "--- a.py" in odd["b.py"]
    assert loader_block("a.py", "x = 1\n" + block + "\n\ndef load_model():\n    pass\n") == (block, 5)


READER_FILES = ("curate.py", "evaluate.py", "train.py")


def test_the_file_readers_are_the_same_text_where_they_are_copied():
    """json_document and read_parquet are pasted into each script that reads a data file."""
    for function in ("json_document", "read_parquet"):
        sources = {}
        for name in READER_FILES:
            text = read(name)
            nodes = [n for n in ast.parse(text).body if isinstance(n, ast.FunctionDef) and n.name == function]
            assert len(nodes) == 1, f"{name}: {len(nodes)} top-level {function}, not one"
            sources[name] = ast.get_source_segment(text, nodes[0])
        odd = odd_copies(sources)
        assert not odd, f"{function} differs in {', '.join(odd)}:\n" + "\n".join(odd.values())
