"""An ordered parallel map over forked worker processes, with numpy arrays sent raw through pipes.

Why not concurrent.futures: its workers start by importing modules (forkserver/spawn: ~0.5 s of a 3 s build),
every task and result goes through pickle and a locked queue, and a kill -9 of the parent leaves the forkserver,
the workers and the resource tracker blocked. Here:
  - workers are plain fork() children: nothing to import, nothing to send (they inherit the task list);
  - worker k computes tasks k, k+W, k+2W... and writes each result to its own pipe: arrays as raw bytes after a
    small pickled header. The parent reads whichever pipe has data (select) into a per-worker queue, up to
    STASH_BYTES each, and hands results out in task order: a worker that the scheduler pauses for a while does
    not stall the others (on a busy 2-core machine that mattered more than anything else), and memory stays
    bounded (a worker whose queue is full blocks on its full pipe);
  - each worker dies with its parent (Linux prctl PR_SET_PDEATHSIG, else a parent-pid watchdog); no queue
    semaphores, so no resource tracker process exists.
fork() is only safe in a process without other threads that could hold locks: `fork_is_safe()` says when (the
caller falls back to in-process work otherwise, e.g. after TensorFlow has started its thread pools).
"""
import collections
import ctypes
import os
import pickle
import select
import signal
import struct
import sys
import threading

import numpy as np

from ..errors import DeblurKerasError

_HEAD = struct.Struct("<Q")
PIPE_BYTES = (8 << 20, 1 << 20)  # asked of F_SETPIPE_SZ in turn (above 1 MiB needs privileges); default 64 KiB
STASH_BYTES = 64 << 20  # read-ahead per worker, in results already received (at least one result)
_F_SETPIPE_SZ = 1031
_PR_SET_PDEATHSIG = 1


class WorkerDied(DeblurKerasError):
    """A worker process ended before sending all its results (killed, out of memory...)."""


# Libraries whose C++ thread pools make fork() unsafe (OpenBLAS's own threads are fork-safe: it has atfork hooks).
THREADED_MODULES = ("tensorflow", "torch", "jax")


def fork_is_safe():
    """fork() only from a process without other Python threads and without TensorFlow/PyTorch loaded."""
    return hasattr(os, "fork") and threading.active_count() == 1 and not any(m in sys.modules for m in THREADED_MODULES)


def why_not_fork():
    if not hasattr(os, "fork"):
        return "no fork() on this system"
    loaded = [m for m in THREADED_MODULES if m in sys.modules]
    return f"{', '.join(loaded)} loaded" if loaded else f"{threading.active_count()} Python threads running"


def _die_with_parent(parent):
    """Make the kernel kill this process when its parent dies (also by kill -9)."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # libc, linked into python
        except (OSError, AttributeError):
            pass
    else:  # no prctl: a watchdog thread polls the parent pid
        def watch():
            while os.getppid() == parent:
                threading.Event().wait(0.5)
            os._exit(1)

        threading.Thread(target=watch, daemon=True).start()
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def tune_malloc(mmap_threshold=16 << 20, trim_threshold=128 << 20):
    """glibc returns every buffer over 128 KiB to the system when freed, so each decoded image page-faults its
    memory afresh: that was a third of a worker's time (sys 1.2 s of 3.5 s for 2,420 JPEGs). Keep such buffers
    for reuse. Only for our own processes (workers, the builder's tool process): it is per process and permanent."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold))
                    and libc.mallopt(_M_TRIM_THRESHOLD, int(trim_threshold)))
    except (OSError, AttributeError):
        return False


def _grow_pipe(fd):
    """Fewer wake-ups and more read-ahead than the default 64 KiB pipe (which also works)."""
    try:
        import fcntl
    except ImportError:
        return
    for size in PIPE_BYTES:
        try:
            fcntl.fcntl(fd, _F_SETPIPE_SZ, size)
            return
        except OSError:
            continue


def _buffer(a):
    """A byte view of an array (a contiguous copy first if it is not contiguous; per-row views cost more)."""
    return memoryview(np.ascontiguousarray(a)).cast("B") if a.nbytes else memoryview(b"")


def _writev_all(fd, bufs):
    """os.writev of all `bufs`, in batches under IOV_MAX, resuming after partial writes."""
    bufs, i = [b for b in bufs if b.nbytes], 0
    while i < len(bufs):
        n = os.writev(fd, bufs[i:i + 512])
        while n:
            if n >= bufs[i].nbytes:
                n -= bufs[i].nbytes
                i += 1
            else:
                bufs[i], n = bufs[i][n:], 0


def _send(fd, result):
    """A result tuple: header = the tuple with arrays replaced by (shape, dtype); then each array's bytes, in one
    gathered write (no copy of the arrays in this process)."""
    meta = tuple(("__array__", x.shape, x.dtype.str) if isinstance(x, np.ndarray) else x for x in result)
    head = pickle.dumps(meta, protocol=pickle.HIGHEST_PROTOCOL)
    bufs = [memoryview(_HEAD.pack(len(head)) + head)]
    bufs += [_buffer(x) for x in result if isinstance(x, np.ndarray)]
    _writev_all(fd, bufs)


def _worker(k, workers, fn, tasks, fd, parent):
    _die_with_parent(parent)
    tune_malloc()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group: the parent alone handles it
    for i in range(k, len(tasks), workers):
        _send(fd, fn(tasks[i]))


class ForkPool:
    """`ForkPool(fn, tasks, workers)` forks at once; iterate it for fn(task) of every task, in task order.

    fn must return a tuple (its numpy arrays travel raw); exceptions in fn are the caller's to catch inside fn.
    Use as a context manager (or call close()): leftover workers are killed and reaped."""

    def __init__(self, fn, tasks, workers):
        self.tasks, self.workers = tasks, max(1, min(int(workers), len(tasks) or 1))
        self.pids, self.fds = [], []
        self.stash = [collections.deque() for _ in range(self.workers)]
        self.stash_bytes = [0] * self.workers
        self.left = [len(range(k, len(tasks), self.workers)) for k in range(self.workers)]  # results to receive
        parent = os.getpid()
        try:
            for k in range(self.workers):
                r, w = os.pipe()
                _grow_pipe(w)
                pid = os.fork()
                if pid == 0:  # child: never return into the parent's code
                    code = 1
                    try:
                        os.close(r)
                        for fd in self.fds:
                            os.close(fd)
                        _worker(k, self.workers, fn, tasks, w, parent)
                        code = 0
                    except BrokenPipeError:
                        pass  # the parent stopped reading: nothing to report
                    except BaseException:  # noqa: BLE001 - report it; the parent names the dead worker
                        import traceback

                        traceback.print_exc()
                    finally:
                        os._exit(code)
                os.close(w)
                self.pids.append(pid)
                self.fds.append(r)
        except BaseException:
            self.close()
            raise

    def _read_into(self, k, view):
        while view.nbytes:
            n = os.readv(self.fds[k], [view])
            if n == 0:
                raise WorkerDied(self._death(k))
            view = view[n:]

    def _death(self, k):
        pid = self.pids[k]
        try:
            _, status = os.waitpid(pid, 0)
            self.pids[k] = None
            how = f"killed by signal {-os.waitstatus_to_exitcode(status)}" if os.WIFSIGNALED(status) \
                else f"exit status {os.waitstatus_to_exitcode(status)}"
        except ChildProcessError:
            how = "gone"
        return f"decode worker {pid} ended before sending its results ({how}); rerun with --resume"

    def _receive(self, k):
        head = bytearray(_HEAD.size)
        self._read_into(k, memoryview(head))
        meta = bytearray(_HEAD.unpack(head)[0])
        self._read_into(k, memoryview(meta))
        out = []
        for x in pickle.loads(meta):  # our own child's header, through our own pipe
            if isinstance(x, tuple) and len(x) == 3 and x[0] == "__array__":
                a = np.empty(x[1], np.dtype(x[2]))
                if a.nbytes:
                    self._read_into(k, memoryview(a).cast("B"))
                x = a
            out.append(x)
        return tuple(out)

    def _pump(self, need=None):
        """Receive one result from every worker with data ready (worker `need` always, the others while their
        queue is under STASH_BYTES). Blocks until there is one when `need` is given, else only polls."""
        fds = [fd for k, fd in enumerate(self.fds)
               if self.left[k] and (k == need or self.stash_bytes[k] < STASH_BYTES)]
        if not fds:
            return
        ready, _, _ = select.select(fds, [], [], None if need is not None else 0)
        for fd in ready:
            k = self.fds.index(fd)
            res = self._receive(k)
            self.left[k] -= 1
            self.stash[k].append(res)
            self.stash_bytes[k] += sum(x.nbytes for x in res if isinstance(x, np.ndarray))

    def __iter__(self):
        for i in range(len(self.tasks)):
            k = i % self.workers  # worker k's results arrive in its own task order
            self._pump()  # drain what is ready: a worker never waits on a full pipe while we write
            while not self.stash[k]:
                self._pump(k)
            res = self.stash[k].popleft()
            self.stash_bytes[k] -= sum(x.nbytes for x in res if isinstance(x, np.ndarray))
            yield res

    def close(self):
        for k, pid in enumerate(self.pids):
            if pid is None:
                continue
            try:
                if os.waitpid(pid, os.WNOHANG) == (0, 0):  # still running (stopped early): end it
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
            except ChildProcessError:
                pass
            self.pids[k] = None
        for fd in self.fds:
            os.close(fd)
        self.fds = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
