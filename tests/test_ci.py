"""CI runs every test: the default set (`make test`, pytest.ini leaves out the tests marked slow) and then the slow
set (`make test-slow`), so a slow test cannot break unseen, and none runs twice."""
import re
import shutil
import subprocess

import pytest

from conftest import REPO


def _pytest_lines(target):
    """The pytest command lines `make -n <target>` would run (the venv's install step left out)."""
    out = subprocess.run(["make", "-n", "-o", ".venv/.installed", target], cwd=REPO, capture_output=True,
                         text=True, check=True).stdout
    return [line.split("-m pytest", 1)[1].split(";")[0] for line in out.splitlines() if "-m pytest" in line]


def test_ci_runs_the_default_set_then_the_slow_set():
    steps = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()
             if line.strip().startswith("make ")]
    assert steps == ["make test", "make test-slow"], steps


@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
def test_make_targets_split_the_suite_by_the_slow_mark():
    ini = (REPO / "pytest.ini").read_text()
    assert re.search(r'^addopts = .*-m "not slow"', ini, re.M), "the default set must leave out the slow tests"
    (default,), (slow,), (everything,) = (_pytest_lines(t) for t in ("test", "test-slow", "test-all"))
    assert " -m " not in default, default          # pytest.ini's -m "not slow" applies
    assert re.search(r" -m slow\b", slow), slow      # only the slow ones: together each test runs once
    assert ' -m ""' in everything, everything       # the mark filter cleared: everything
