"""requirements.txt pins what the suite runs with, and run.sh installs the same torch."""
import os
import re
from importlib.metadata import version

from conftest import ROOT


def pins():
    """{name: version} for every requirement line; each must be an exact pin."""
    out = {}
    for line in open(os.path.join(ROOT, "requirements.txt")):
        line = line.split("#")[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)==([0-9][A-Za-z0-9.]*)", line)
        assert m, f"requirements.txt: {line!r} is not pinned (name==version)"
        out[m.group(1)] = m.group(2)
    return out


def test_every_requirement_is_pinned_to_the_installed_version():
    pinned = pins()
    assert {"torch", "transformers", "accelerate", "datasets", "math-verify"} <= set(pinned)
    for name, want in pinned.items():
        assert version(name).split("+")[0] == want, f"{name}: installed {version(name)}, pinned {want}"


def test_run_sh_installs_the_pinned_torch():
    run_sh = open(os.path.join(ROOT, "run.sh")).read()
    torch_installs = set(re.findall(r"pip install [^\n]*?torch==([0-9.]+)", run_sh))
    assert torch_installs == {pins()["torch"]}
