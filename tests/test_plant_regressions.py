"""scripts/plant_regressions.py stays in step with the code: every line it breaks still exists, once."""
import importlib.util
import os

import pytest
from conftest import ROOT

spec = importlib.util.spec_from_file_location("plant_regressions", os.path.join(ROOT, "scripts", "plant_regressions.py"))
plant_regressions = importlib.util.module_from_spec(spec)
spec.loader.exec_module(plant_regressions)


def test_every_planted_line_occurs_once_and_its_tests_exist():
    names = [r[0] for r in plant_regressions.REGRESSIONS]
    assert len(names) == len(set(names)) >= 20
    for name, path, old, new, tests in plant_regressions.REGRESSIONS:
        text = open(os.path.join(ROOT, path)).read()
        assert text.count(old) == 1, f"{name}: {path} has {text.count(old)} copies of {old!r}"
        assert new != old, name
        files = [t for t in tests.split() if t.startswith("tests/")]
        assert files and all(os.path.exists(os.path.join(ROOT, f)) for f in files), name


def test_plant_breaks_only_that_line(tmp_path):
    (tmp_path / "f.py").write_text("a = 1\nb = 2\n")
    plant_regressions.plant(str(tmp_path), "f.py", "b = 2", "b = 3")
    assert (tmp_path / "f.py").read_text() == "a = 1\nb = 3\n"
    with pytest.raises(ValueError, match="0 times"):
        plant_regressions.plant(str(tmp_path), "f.py", "c = 4", "c = 5")
