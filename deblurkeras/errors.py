"""Named exceptions for errors a user can cause. The CLI prints them on one line and exits non-zero."""


class DeblurKerasError(Exception):
    """Base class: anything the user can fix (bad file, wrong weights, bad option)."""


class BadInputError(DeblurKerasError):
    """An input file is missing, unreadable, corrupt, of the wrong kind or size. Message names the file."""


class DiskError(DeblurKerasError):
    """An output cannot be written: read-only file system, no permission, not enough free space. Message names it."""


class WeightsMismatchError(DeblurKerasError):
    """A weight file does not fit the model: missing, unexpected or mis-shaped tensors, listed by name."""

    def __init__(self, source, missing=(), unexpected=(), mismatched=()):
        self.source, self.missing, self.unexpected, self.mismatched = source, list(missing), list(unexpected), list(mismatched)
        parts = []
        if self.missing:
            parts.append("missing: " + ", ".join(self.missing))
        if self.unexpected:
            parts.append("unexpected: " + ", ".join(self.unexpected))
        if self.mismatched:
            parts.append("shape mismatch: " + ", ".join(f"{n} {a} vs {b}" for n, a, b in self.mismatched))
        super().__init__(f"{source}: weights do not match the model ({'; '.join(parts)})")


def first_line(e):
    """The first line of an exception's message (its class name when empty): for one-line error messages."""
    return (str(e).strip() or type(e).__name__).splitlines()[0]


def show(name):
    """A file name for a one-line message: as is when printable, else its repr (a newline in the name is `\\n`)."""
    import os
    text = os.fsdecode(name) if isinstance(name, (bytes, os.PathLike)) else str(name)
    return text if text.isprintable() else repr(text)


def one_line(message):
    """A message that prints on one line: control characters (a newline in a file name) escaped."""
    text = str(message)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
