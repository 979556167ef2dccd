"""TensorFlow's start-up lines kept off the terminal, for the CLI and for `import deblurkeras` users alike.

Loading TensorFlow prints lines that no log level reaches: absl writes "oneDNN custom operations are on", "Could
not find cuda drivers" and (at the first device probe) "failed call to cuInit" to file descriptor 2 before TF's own
log level applies. So the first import of TensorFlow, and its first device probe, run with descriptor 2 pointed at
/dev/null (a one-shot import hook: nothing is imported early). Python exceptions still propagate (they are objects,
not writes). Not done when the user asked for TF's log: `deblurkeras --verbose`, or for `import deblurkeras`
TF_CPP_MIN_LOG_LEVEL set below 2 before the import.
"""
import contextlib
import os
import sys

from ._keras_hook import OneShot, installed


@contextlib.contextmanager
def fd2_to_devnull():
    """Point file descriptor 2 at /dev/null for the block (C++ code writes there directly, not via sys.stderr)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _silenced(exec_module, module):
    with fd2_to_devnull():
        exec_module(module)
        try:
            module.config.list_physical_devices()  # the cuInit probe, inside the silence too
        except Exception:  # noqa: BLE001 - a broken TF install shows itself at first use
            pass


def install(user_level):
    """Silence TensorFlow's first import unless the user set TF_CPP_MIN_LOG_LEVEL below 2 (`user_level`: its value
    before the package set its default)."""
    wants_log = user_level is not None and user_level.strip() in ("0", "1")
    if wants_log or "tensorflow" in sys.modules or installed("tensorflow"):
        return
    sys.meta_path.insert(0, OneShot("tensorflow", _silenced))


def uninstall():
    """`deblurkeras --verbose`: TensorFlow's log shown after all."""
    for hook in installed("tensorflow"):
        sys.meta_path.remove(hook)


def quiet_cli():
    """`deblurkeras VERB` without --verbose: TensorFlow's first import is silenced whatever the environment says."""
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = os.environ.get("TF_CPP_MIN_LOG_LEVEL") or "2"
    install(None)
