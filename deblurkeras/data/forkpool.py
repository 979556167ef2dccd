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
import mmap
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
RING_SLOTS = 32  # shared-memory result slots per worker (with slot_bytes): its read-ahead on that path ...
RING_BYTES = 32 << 20  # ... fewer for big results (at least 2 slots)
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


class _Sender:
    """A worker's end: results as a pickled header (arrays replaced by markers) plus the arrays' bytes, either
    copied into the next slot of the worker's shared ring (when they fit) or written after the header."""

    def __init__(self, fd, ring=None, slot_bytes=0, credits=None):
        self.fd, self.ring, self.slot_bytes, self.credits = fd, ring, slot_bytes, credits
        self.slots = len(ring) // slot_bytes if ring is not None else 0
        self.used = 0  # results sent through the ring

    def _slot(self):
        """The next free slot: past the first lap, wait for the parent to hand one back (one byte each)."""
        if self.used >= self.slots and not os.read(self.credits, 1):
            raise BrokenPipeError("parent gone")
        slot = self.used % self.slots
        self.used += 1
        return slot

    def send(self, result):
        arrays = [x for x in result if isinstance(x, np.ndarray)]
        total = sum(x.nbytes for x in arrays)
        bufs = []
        if self.slots and total <= self.slot_bytes:
            marks, offset = {}, self._slot() * self.slot_bytes
            for x in arrays:
                np.copyto(np.frombuffer(self.ring, np.uint8, x.nbytes, offset).view(x.dtype).reshape(x.shape), x)
                marks[id(x)] = ("__slot__", offset, x.shape, x.dtype.str)
                offset += x.nbytes
            meta = tuple(marks.get(id(x), x) if isinstance(x, np.ndarray) else x for x in result)
        else:
            meta = tuple(("__array__", x.shape, x.dtype.str) if isinstance(x, np.ndarray) else x for x in result)
            bufs = [_buffer(x) for x in arrays]
        head = pickle.dumps(meta, protocol=pickle.HIGHEST_PROTOCOL)
        _writev_all(self.fd, [memoryview(_HEAD.pack(len(head)) + head)] + bufs)


def _worker(k, workers, fn, tasks, sender, parent):
    _die_with_parent(parent)
    tune_malloc()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group: the parent alone handles it
    for i in range(k, len(tasks), workers):
        sender.send(fn(tasks[i]))


class ForkPool:
    """`ForkPool(fn, tasks, workers)` forks at once; iterate it for fn(task) of every task, in task order.

    fn must return a tuple (its numpy arrays travel raw); exceptions in fn are the caller's to catch inside fn.
    With `slot_bytes`, results whose arrays total at most that many bytes come back as views of a shared-memory
    ring (RING_SLOTS slots per worker, no copy through the pipe): such arrays are valid until the next result is
    asked for. Use as a context manager (or call close()): leftover workers are killed and reaped."""

    def __init__(self, fn, tasks, workers, slot_bytes=0):
        self.tasks, self.workers = tasks, max(1, min(int(workers), len(tasks) or 1))
        self.pids, self.fds, self.credit_fds, self.rings = [], [], [], []
        self.held = None  # (worker, uses a slot) of the result handed out last: its slot returns on the next one
        self.stash = [collections.deque() for _ in range(self.workers)]
        self.stash_bytes = [0] * self.workers
        self.left = [len(range(k, len(tasks), self.workers)) for k in range(self.workers)]  # results to receive
        parent = os.getpid()
        try:
            for k in range(self.workers):
                r, w = os.pipe()
                _grow_pipe(w)
                ring = credit_r = credit_w = None
                if slot_bytes:  # shared memory, inherited by the child: results travel without the pipe's copies
                    ring = mmap.mmap(-1, max(2, min(RING_SLOTS, RING_BYTES // slot_bytes)) * slot_bytes)
                    credit_r, credit_w = os.pipe()
                pid = os.fork()
                if pid == 0:  # child: never return into the parent's code
                    code = 1
                    try:
                        os.close(r)
                        for fd in self.fds + self.credit_fds + ([credit_w] if ring is not None else []):
                            os.close(fd)
                        _worker(k, self.workers, fn, tasks, _Sender(w, ring, slot_bytes, credit_r), parent)
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
                self.rings.append(ring)
                if ring is not None:
                    os.close(credit_r)
                    self.credit_fds.append(credit_w)
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
        out, in_slot = [], False
        for x in pickle.loads(meta):  # our own child's header, through our own pipe
            if isinstance(x, tuple) and len(x) == 3 and x[0] == "__array__":
                a = np.empty(x[1], np.dtype(x[2]))
                if a.nbytes:
                    self._read_into(k, memoryview(a).cast("B"))
                x = a
            elif isinstance(x, tuple) and len(x) == 4 and x[0] == "__slot__":
                dtype = np.dtype(x[3])
                n = int(np.prod(x[2], dtype=np.int64)) * dtype.itemsize
                x, in_slot = np.frombuffer(self.rings[k], np.uint8, n, x[1]).view(dtype).reshape(x[2]), True
            out.append(x)
        return tuple(out), in_slot

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
            res, in_slot = self._receive(k)
            self.left[k] -= 1
            self.stash[k].append((res, in_slot))
            self.stash_bytes[k] += 0 if in_slot else sum(x.nbytes for x in res if isinstance(x, np.ndarray))

    def _release(self):
        """The result handed out last is done with: give its slot back to its worker."""
        if self.held and self.held[1]:
            try:
                os.write(self.credit_fds[self.held[0]], b"\x01")
            except BrokenPipeError:
                pass  # that worker has sent all it had and exited
        self.held = None

    def __iter__(self):
        for i in range(len(self.tasks)):
            k = i % self.workers  # worker k's results arrive in its own task order
            self._release()
            self._pump()  # drain what is ready: a worker never waits on a full pipe while we write
            while not self.stash[k]:
                self._pump(k)
            res, in_slot = self.stash[k].popleft()
            self.stash_bytes[k] -= 0 if in_slot else sum(x.nbytes for x in res if isinstance(x, np.ndarray))
            self.held = (k, in_slot)
            yield res
        self._release()

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
        for fd in self.fds + self.credit_fds:
            os.close(fd)
        self.fds, self.credit_fds = [], []
        self.rings = []  # the maps close when the last array viewing them is gone

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
