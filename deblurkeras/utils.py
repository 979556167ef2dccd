"""Small shared helpers: atomic file writes."""
import contextlib
import os


@contextlib.contextmanager
def atomic_path(path, suffix=".partial"):
    """Yield a temporary path next to `path`; rename it onto `path` only if the block succeeds.

    The temporary name keeps the real extension last (Keras and h5py look at it), e.g. `out.partial.png`.
    """
    path = os.fspath(path)
    root, ext = os.path.splitext(path)
    if path.endswith(".weights.h5"):
        root, ext = path[: -len(".weights.h5")], ".weights.h5"
    tmp = f"{root}{suffix}{ext}"
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def umask_mode(path):
    """Give `path` the mode a plain open() would (0666 less the umask): safetensors' writer creates its files
    0600, so exported weights were unreadable to the group where every other output is not."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)
