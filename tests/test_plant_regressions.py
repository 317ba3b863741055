"""scripts/plant_regressions.py, the tool itself: it finds a plant's line up to whitespace, plants
and reverts in a throwaway worktree, reports a plant whose line is gone as STALE (exit 1) and never
touches the working tree. Whether today's plants are current is the tool's job (`--check`), not
this suite's: re-spacing a line must not fail a test."""
import importlib.util
import os
import subprocess

import pytest
from conftest import ROOT

spec = importlib.util.spec_from_file_location("plant_regressions", os.path.join(ROOT, "scripts", "plant_regressions.py"))
plant_regressions = importlib.util.module_from_spec(spec)
spec.loader.exec_module(plant_regressions)


def test_the_plants_are_well_formed():
    names = [r[0] for r in plant_regressions.REGRESSIONS]
    assert len(names) == len(set(names)) >= 20
    for name, path, old, new, tests in plant_regressions.REGRESSIONS:
        assert plant_regressions.line_pattern(old).pattern != plant_regressions.line_pattern(new).pattern, name
        assert tests.split()[0].startswith("tests/"), name


def test_a_line_is_found_up_to_whitespace_and_only_whole():
    find = plant_regressions.find_line
    line = "if row.waits < self.num_wait or x:"
    assert find("a\n        if row.waits  <  self.num_wait or x:\n", line) == (10, 46)
    assert isinstance(find("if row.waits<self.num_wait\n        or x:", line), tuple)  # re-wrapped, re-spaced
    assert find("if row.waits <= self.num_wait or x:", line) == "its line occurs 0 times, not once"
    assert find("m = matches[-1]\nitem = matches[-1]\n", "m = matches[-1]") == (0, 15)  # not inside `item`
    assert find("return x\nreturnx\n", "return x") == (0, 8)
    assert find("return x\nreturnx\n", "returnx") == (9, 16)
    assert find("return x\n  return   x\n", "return x") == "its line occurs 2 times, not once"


def test_plant_breaks_only_that_line_keeping_its_indentation(tmp_path):
    (tmp_path / "f.py").write_text("a = 1\nif b:\n    c  =  2\n")
    plant_regressions.plant(str(tmp_path), "f.py", "    c = 2", "    c = 3")
    assert (tmp_path / "f.py").read_text() == "a = 1\nif b:\n    c = 3\n"
    with pytest.raises(ValueError, match="0 times"):
        plant_regressions.plant(str(tmp_path), "f.py", "d = 4", "d = 5")
    with pytest.raises(ValueError, match="does not exist"):
        plant_regressions.plant(str(tmp_path), "g.py", "d = 4", "d = 5")


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          check=True, capture_output=True, text=True).stdout


def test_the_tool_reports_caught_missed_and_stale_and_leaves_the_tree_alone(tmp_path, capsys):
    repo = tmp_path / "repo"
    (repo / "tests").mkdir(parents=True)
    (repo / "f.py").write_text("def double(x):\n    return 2 * x\n")
    (repo / "tests" / "test_f.py").write_text("from f import double\n\n\ndef test_double():\n    assert double(3) == 6\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "f")
    edited = "def double(x):\n    return  2 * x  # an uncommitted edit\n"
    (repo / "f.py").write_text(edited)
    plants = [
        ("doubling lost", "f.py", "return 2 * x", "return x", "tests/test_f.py"),
        ("a harmless default", "f.py", "def double(x):", "def double(x, y=0):", "tests/test_f.py"),
        ("a line that is gone", "f.py", "return 3 * x", "return x", "tests/test_f.py"),
        ("a file that is gone", "g.py", "return 2 * x", "return x", "tests/test_f.py"),
    ]
    assert plant_regressions.main([], root=str(repo), regressions=plants) == 1
    out = capsys.readouterr().out
    lines = {line.split("  ")[0]: line for line in out.splitlines()}
    assert " caught " in lines["doubling lost"] and "test_double" in lines["doubling lost"]
    assert "MISSED" in lines["a harmless default"]
    assert "STALE" in lines["a line that is gone"] and "0 times" in lines["a line that is gone"]
    assert "STALE" in lines["a file that is gone"] and "g.py does not exist" in lines["a file that is gone"]
    assert "1 of 2 caught; MISSED: a harmless default" in out
    assert "2 STALE" in out and "a line that is gone, a file that is gone" in out
    assert (repo / "f.py").read_text() == edited  # the working tree as it was
    assert git(repo, "status", "--porcelain") == " M f.py\n"
    assert len(git(repo, "worktree", "list").splitlines()) == 1  # the throwaway worktree is gone

    # --check runs no tests; only the stale plant fails it
    assert plant_regressions.main([], check_only=True, root=str(repo), regressions=plants[:2]) == 0
    assert plant_regressions.main(["gone"], check_only=True, root=str(repo), regressions=plants) == 1
    out = capsys.readouterr().out
    assert "found" in out and "caught" not in out and "2 STALE" in out
