"""Small shared helpers: atomic file writes with unique temporary names, stale-temp cleanup, a run-folder lock.

Temporary names are `.NAME.<8 hex>-<pid>.partial.EXT` in the folder of the target (same file system, so the rename
is atomic): hidden (folder listings skip dot files, so a later run never reads one as an input), unique per write
(two processes writing one path never share a temp; O_EXCL never opens a file someone else owns), and keeping the
real extension last (Keras and h5py look at it). The pid tells `clean_stale_temps` a temp left by a killed process
(its pid is gone) from one being written. No lock on the temp itself: HDF5 flocks the files it creates and would
refuse one we hold locked.
"""
import contextlib
import errno
import json
import os
import re
import secrets
import shutil
import time

try:
    import fcntl
except ImportError:  # not POSIX: DirLock then locks nothing
    fcntl = None

TEMP_MARK = ".partial"
# .NAME.<8 hex>-<pid>.partial[.EXT]: the pattern of our temporary names, and nothing else
_TEMP_RE = re.compile(r"^\..+\.[0-9a-f]{8}-([0-9]+)\.partial(\.[A-Za-z0-9_.]+)?$", re.DOTALL)
STALE_AFTER_S = 10.0  # younger temps are left alone whatever their pid (a pid of another host sharing the folder)


def split_ext(path):
    """(root, ext) with `.weights.h5` kept whole (Keras checks that ending)."""
    if path.endswith(".weights.h5"):
        return path[: -len(".weights.h5")], ".weights.h5"
    return os.path.splitext(path)


def is_temp_name(name):
    """True for a name atomic_path / new_temp_dir makes (`.NAME.<8 hex>-<pid>.partial[.EXT]`)."""
    return bool(_TEMP_RE.match(name))


def _new_temp(path, make):
    """Create a fresh, unused temporary next to `path` with `make(tmp)` (which must fail if tmp exists)."""
    folder, base = os.path.split(path)
    root, ext = split_ext(base)
    root = root[:100]  # room for the marks within the 255-byte name limit
    for _ in range(100):
        tmp = os.path.join(folder, f".{root}.{secrets.token_hex(4)}-{os.getpid()}{TEMP_MARK}{ext}")
        try:
            return tmp, make(tmp)
        except FileExistsError:
            continue
    raise FileExistsError(f"{path}: no free temporary name")


@contextlib.contextmanager
def atomic_path(path):
    """Yield a new temporary path next to `path` (see the module docstring); os.replace it onto `path` only if the
    block succeeds, else remove it. Only the temp this call created is ever removed: never a file of the user's."""
    path = os.fspath(path)
    # O_EXCL: a new file, with the permissions the umask gives (the final file gets them through the rename)
    tmp, fd = _new_temp(path, lambda t: os.open(t, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666))
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def new_temp_dir(path):
    """A new, empty temporary folder next to `path` (the same naming); the caller renames or removes it."""
    return _new_temp(os.fspath(path).rstrip(os.sep), os.mkdir)[0]


def clean_stale_temps(folder):
    """Remove temporaries of ours (`is_temp_name`) that a killed run left in `folder`: only those whose process is
    gone and that are older than STALE_AFTER_S. Returns the names removed. A missing folder is ignored."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for e in entries:
        m = _TEMP_RE.match(e.name)
        if not m or _alive(int(m.group(1))):
            continue
        try:
            if now - e.stat(follow_symlinks=False).st_mtime < STALE_AFTER_S:
                continue
            if e.is_dir(follow_symlinks=False):
                shutil.rmtree(e.path)
            elif e.is_file(follow_symlinks=False):
                os.remove(e.path)
            else:
                continue
            removed.append(e.name)
        except OSError:
            continue
    return removed


def _alive(pid):
    """Is process `pid` running here (ours or another user's)?"""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, owned by someone else
        return True
    return True


class DirLock:
    """An exclusive flock on FOLDER/.lock for as long as it is held (released by the system if the process dies).
    `acquire()` returns False when another process holds it. The file's content is never written, so taking the
    lock changes no byte of the folder (a failed `train --resume` leaves the run folder as it was)."""

    def __init__(self, folder, name=".lock"):
        self.path, self.fd = os.path.join(os.fspath(folder), name), None

    def acquire(self):
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self.fd = fd
        return True

    def release(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


# write failures a user meets by mistake (a full disk, a read-only mount, a folder of someone else's): one line each
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG, errno.EACCES, errno.EPERM})


def existing_folder(path):
    """The folder `path` would be written in, or its nearest existing ancestor (verbs create missing folders)."""
    folder = os.path.abspath(os.fspath(path))
    while not os.path.isdir(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return folder


def unwritable_reason(path, is_folder=False):
    """Why `path` (a file to write, or with `is_folder` a folder to write into) cannot be written, or None.
    Reads only: statvfs's read-only flag and access(W_OK) on the folder (or its nearest existing ancestor)."""
    folder = existing_folder(path if is_folder else os.path.dirname(os.path.abspath(os.fspath(path))))
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return f"{folder} is on a read-only file system"
    except OSError:
        pass
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"no permission to write in {folder}"
    if not is_folder and os.path.isfile(path) and not os.access(os.path.dirname(os.path.abspath(path)), os.W_OK):
        return f"no permission to replace {path}"
    return None


def free_bytes(path):
    """Bytes an unprivileged writer may still use on the file system that holds `path` (or its ancestor)."""
    st = os.statvfs(existing_folder(path))
    return st.f_bavail * st.f_frsize


def require_space(path, needed, what="the output"):
    """Raise DiskError naming `path` when its file system has less than `needed` bytes free: before a writer
    (h5py, which on a full disk leaves an unflushable file behind and can crash at exit) starts."""
    from .errors import DiskError

    free = free_bytes(os.path.dirname(os.path.abspath(os.fspath(path))))
    if free < needed:
        raise DiskError(f"{path}: not enough free space for {what} (needs about {needed / 2**20:.1f} MiB, "
                        f"{free / 2**20:.1f} MiB free on {existing_folder(os.path.dirname(os.path.abspath(path)))}); "
                        f"nothing was written")


def target_of_temp(path):
    """The file a temporary of ours (`.NAME.<hex>-<pid>.partial.EXT`) stands for; any other path as it is."""
    folder, name = os.path.split(os.fspath(path))
    m = _TEMP_RE.match(name)
    if not m:
        return os.fspath(path)
    root = name[1:m.start(1) - 10]  # ".{root}.{8 hex}-{pid}": drop the dot, ".<8 hex>-"
    return os.path.join(folder, root + (m.group(2) or ""))


def umask_mode(path):
    """Give `path` the mode a plain open() would (0666 less the umask): safetensors' writer creates its files
    0600, so exported weights were unreadable to the group where every other output is not."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


def finite_json(obj):
    """`obj` with every NaN / Inf float replaced by None, so json.dumps(..., allow_nan=False) writes standard JSON
    (NaN and Infinity are not JSON; strict parsers refuse them)."""
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    return obj


def dumps_json(obj, **kwargs):
    """Standard JSON text of `obj` (non-finite floats as null: see finite_json)."""
    return json.dumps(finite_json(obj), allow_nan=False, **kwargs)


def file_id(path):
    """(device, inode) of `path`, or None: the same file under any name (a link), for one stat call."""
    try:
        st = os.stat(path)
        return st.st_dev, st.st_ino
    except OSError:
        return None
