"""Named exceptions for errors a user can cause. The CLI prints them on one line and exits non-zero."""


class DeblurKerasError(Exception):
    """Base class: anything the user can fix (bad file, wrong weights, bad option)."""


class BadInputError(DeblurKerasError):
    """An input file is missing, unreadable, corrupt, of the wrong kind or size. Message names the file."""


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
