"""The three data readers (train.py, evaluate.py, curate.py) accept the same file shapes.

Each script keeps its own copy of the few lines that decide a file's shape, so that it runs alone;
this test feeds every shape to every reader and checks that the copies have not drifted apart.
"""
import inspect
import json

import pytest

import curate
import evaluate
import train

ROWS = [{"question": "What is 17 + 25?", "answer": "42"}, {"question": "How many 3s are in 3133?", "answer": "3"}]


def write_shapes(folder):
    """Every shape the readers accept, each holding ROWS: name -> path."""
    import pyarrow
    import pyarrow.parquet

    lines = "".join(json.dumps(r) + "\n" for r in ROWS)
    files = {"rows.jsonl": lines, "list.json": json.dumps(ROWS, indent=2), "wrapped.json": json.dumps({"data": ROWS}),
             "lines-named.json": lines, "list-in.jsonl": json.dumps(ROWS), "no-extension": lines}
    paths = {}
    for name, text in files.items():
        paths[name] = folder / name
        paths[name].write_text(text, encoding="utf-8")
    paths["rows.parquet"] = folder / "rows.parquet"
    pyarrow.parquet.write_table(pyarrow.Table.from_pylist(ROWS), paths["rows.parquet"])
    return paths


READERS = {"train.load_rows": train.load_rows, "evaluate.read_records": evaluate.read_records,
           "curate.load_pool": lambda path: curate.load_pool(path)[0]}


@pytest.mark.parametrize("reader", READERS)
def test_every_reader_reads_every_shape(tmp_path, reader):
    for name, path in write_shapes(tmp_path).items():
        assert READERS[reader](str(path)) == ROWS, name


def test_one_row_object_in_a_json_file_is_one_row(tmp_path):
    path = tmp_path / "one.json"
    path.write_text(json.dumps(ROWS[0]))
    assert [read(str(path)) for read in READERS.values()] == [ROWS[:1]] * 3


def test_the_copies_are_the_same_lines():
    for name in ("json_document", "read_parquet"):
        sources = {inspect.getsource(getattr(module, name)) for module in (train, evaluate, curate)}
        assert len(sources) == 1, name
