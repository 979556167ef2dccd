"""The repository's structure rules that a test can hold: experiments/ holds scripts that print tables, so neither
the package nor the tests import from it (a test runs such a script as a subprocess, as a user would)."""
import ast

from conftest import REPO


def _imported_modules(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def test_nothing_imports_from_experiments():
    scripts = {p.stem for p in (REPO / "experiments").glob("*.py")}
    offenders = []
    for folder in ("deblurkeras", "tests", "data_tools"):
        for path in sorted((REPO / folder).rglob("*.py")):
            for name in _imported_modules(path):
                top = name.split(".")[0]
                if top == "experiments" or top in scripts:
                    offenders.append(f"{path.relative_to(REPO)}: {name}")
    assert not offenders, offenders
