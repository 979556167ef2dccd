"""Small CLI things a newcomer meets first: Python warnings as one line, `train --print-config`."""
import sys
import types
import warnings

import yaml

from deblurkeras import cli


def test_a_warning_prints_as_one_line_naming_the_verb(monkeypatch, capsys):
    """Was `.../pipeline.py:70: UserWarning: ...` plus a line of source code."""
    verb = types.ModuleType("fake_verb")
    verb.add_arguments = lambda p: None

    def run(args):
        warnings.warn("srn-color: no --weights given, exporting the freshly initialised model", stacklevel=2)
        return 0

    verb.run = run
    monkeypatch.setitem(sys.modules, "fake_verb", verb)
    monkeypatch.setitem(cli.VERBS, "fake", ("fake_verb", "a verb that warns"))
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        before = warnings.showwarning
        assert cli.main(["fake"]) == 0
        assert warnings.showwarning is before  # restored after the verb
    err = capsys.readouterr().err
    assert err == "deblurkeras fake: warning: srn-color: no --weights given, exporting the freshly initialised model\n"


def test_print_config_lists_every_key_with_its_default(capsys):
    assert cli.main(["train", "--config", "srn/gopro_color", "--set", "train.lr=5e-5", "--print-config"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["train"]["lr"] == 5e-5 and cfg["train"]["total_steps"] == 524000  # the file's, the --set
    assert cfg["data"]["val_split"] == "test" and cfg["run"]["precision"] == "float32"  # defaults it did not write
