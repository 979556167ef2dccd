"""Every `deblurkeras ...` command the README and the pages it links show (deblurkeras/docs/, experiments/README.md, each family's
README.md: every markdown page of the repository) parses with that verb's own argument parser (a DMPHN `deblur` line
once lacked the required --out, and nothing noticed); every page is linked from the README and every relative link
resolves. A command that ends in `...` is a
fragment: its flags must exist. Placeholders read as a user would fill them in: `[--x V]` is taken, `a|b` takes
`a` (a verb written `deblur|eval` is checked as both); a bare `deblurkeras VERB` in a sentence is a mention."""
import argparse
import contextlib
import importlib
import io
import pathlib
import re
import shlex

import pytest

from deblurkeras import cli

REPO = pathlib.Path(__file__).resolve().parents[1]
README = REPO / "README.md"


def pages():
    """Every markdown page of the repository (hidden folders, the venv and build outputs aside), README.md first."""
    skip = {"build", "node_modules"}
    found = sorted(p for p in REPO.rglob("*.md") if not any(part.startswith(".") or part in skip or
                                                                part.endswith(".egg-info")
                                                                for part in p.relative_to(REPO).parts[:-1]))
    return [README] + [p for p in found if p != README]


def _code_commands(lines):
    """Commands in indented code blocks; a trailing backslash, or a next line that starts with `[`, continues."""
    out, cur = [], None
    for line in lines:
        text = line.strip()
        indented = line.startswith("    ") and text
        if cur is not None and indented and (cur.endswith("\\") or text.startswith("[")):
            cur = cur.rstrip("\\ ") + " " + text
            continue
        if cur is not None:
            out.append(cur)
            cur = None
        if indented and text.startswith("deblurkeras "):
            cur = text
    if cur is not None:
        out.append(cur)
    return out


def page_commands(page):
    text = page.read_text(encoding="utf-8")
    inline = re.findall(r"`(deblurkeras [^`]+)`", text) + re.findall(r"`python (data_tools/\w+\.py [^`]+)`", text)
    return [re.sub(r"\s+#.*$", "", c).strip() for c in _code_commands(text.splitlines()) + inline]


def readme_commands():
    """The commands of every page, in page order."""
    return [c for page in pages() for c in page_commands(page)]


def _script_module(script):
    """data_tools/NAME.py is a front end: the deblurkeras module whose main() it runs."""
    m = re.search(r"from (deblurkeras[\w.]*) import main", (README.parent / script).read_text(encoding="utf-8"))
    return m.group(1) if m else None


def _variants(command):
    """[(verb, argv, fragment)] for one README command; a data_tools script is its own verb."""
    tokens = shlex.split(re.sub(r"(^|\s)\[([^\]]*)\]", r"\1\2", command))
    if tokens[0].startswith("data_tools/"):
        fragment = tokens[-1] in ("...", "…")
        return [(tokens[0], [t for t in tokens[1:] if t not in ("...", "…")], fragment)]
    tokens = tokens[1:]
    while tokens and tokens[0] in ("-v", "--verbose", "--offline"):
        tokens = tokens[1:]
    if len(tokens) < 2 or tokens[0] == "VERB":
        return []  # `deblurkeras train` in a sentence names the verb; it is not a command
    fragment = tokens[-1] in ("...", "…")
    argv = [t.split("|")[0] if "|" in t and not t.startswith("-") else t.rstrip(".") or t
            for t in tokens[1:] if t not in ("...", "…")]
    return [(verb, argv, fragment) for verb in tokens[0].split("|")]


def _parser(verb):
    parser = argparse.ArgumentParser(prog=f"deblurkeras {verb}", exit_on_error=False)
    if verb.startswith("data_tools/"):
        importlib.import_module(_script_module(verb)).add_arguments(parser)
    else:
        cli.load_verb(verb).add_arguments(parser)
    return parser


def _problem(verb, argv, fragment):
    if verb.startswith("data_tools/"):
        if not (README.parent / verb).is_file() or not _script_module(verb):
            return f"no script {verb} running a deblurkeras main()"
    elif verb not in cli.VERBS:
        return f"unknown verb {verb!r}"
    parser = _parser(verb)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            if fragment:
                known = {s for a in parser._actions for s in a.option_strings}
                unknown = [t.split("=")[0] for t in argv if t.startswith("--") and t.split("=")[0] not in known]
                return f"unknown options {unknown}" if unknown else None
            parser.parse_args(argv)
        except (SystemExit, argparse.ArgumentError) as e:
            return (err.getvalue().strip().splitlines() or [str(e)])[-1]
    return None


def test_the_readme_shows_commands_for_every_verb_it_documents():
    cmds = readme_commands()
    verbs = {v for c in cmds for v, _, _ in _variants(c)}
    assert len(cmds) >= 25, cmds
    assert {"deblur", "eval", "upscale", "train", "build-hdf5", "export-torch", "convert-keras", "import-torch",
            "import-tf1", "import-keras2", "compare", "demo", "data_tools/combine_pairs.py",
            "data_tools/synthesize_blur.py"} <= verbs


@pytest.mark.parametrize("page,command", [pytest.param(p, c, id=f"{p.relative_to(REPO)}: {c}")
                                          for p in pages() for c in page_commands(p)])
def test_every_readme_command_parses_as_written(page, command):
    problems = [f"{verb}: {p}" for verb, argv, frag in _variants(command) if (p := _problem(verb, argv, frag))]
    assert not problems, f"{page.relative_to(REPO)}: `{command}`: {'; '.join(problems)}"


def test_every_page_is_linked_from_the_readme_and_every_link_resolves():
    text = README.read_text(encoding="utf-8")
    unlinked = [str(p.relative_to(REPO)) for p in pages()[1:] if f"]({p.relative_to(REPO).as_posix()}" not in text]
    assert not unlinked, f"README.md links no page {unlinked}"
    broken = []
    for page in pages():
        prose = re.sub(r"`[^`]*`", "", page.read_text(encoding="utf-8"))  # code spans hold no links
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", prose):
            if "://" not in target and not (page.parent / target).exists():
                broken.append(f"{page.relative_to(REPO)} -> {target}")
    assert not broken, broken


def test_the_check_catches_a_missing_required_flag():
    # the line that once went unnoticed, as it was
    (verb, argv, frag), = _variants("deblurkeras deblur IMG --model dmphn-1-2-4-8 --weights dmphn.weights.h5")
    assert "--out" in _problem(verb, argv, frag)
