"""Where the cache lives and how fetching behaves: environment settings, read at each call (never cached).

    DEBLURKERAS_HOME      the cache folder (default ~/.cache/deblurkeras)
    DEBLURKERAS_OFFLINE   1 / true / yes: never open a connection (the CLI's `--offline` sets it)
    DEBLURKERAS_MIRROR    URL: every catalogued file is fetched from URL/<owner>/<repository>/<path in the
                          repository> instead of its own addresses (http allowed: it is the user's explicit choice)
    DEBLURKERAS_TIMEOUT   seconds without a byte before a server counts as stalled (default 30)
"""
import os
import pathlib

TRUE = ("1", "true", "yes", "on")


def home():
    """The cache folder: $DEBLURKERAS_HOME, else ~/.cache/deblurkeras."""
    value = os.environ.get("DEBLURKERAS_HOME")
    return pathlib.Path(value).expanduser() if value else pathlib.Path.home() / ".cache" / "deblurkeras"


def offline(value=None):
    """`value` when given (True / False), else DEBLURKERAS_OFFLINE."""
    if value is not None:
        return bool(value)
    return os.environ.get("DEBLURKERAS_OFFLINE", "").strip().lower() in TRUE


def mirror():
    """DEBLURKERAS_MIRROR without a trailing slash, or None."""
    value = os.environ.get("DEBLURKERAS_MIRROR", "").strip()
    return value.rstrip("/") or None


def timeout():
    from ..errors import BadInputError
    value = os.environ.get("DEBLURKERAS_TIMEOUT", "").strip()
    try:
        seconds = float(value) if value else 30.0
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise BadInputError(f"DEBLURKERAS_TIMEOUT={value}: expected a positive number of seconds")
    return seconds
