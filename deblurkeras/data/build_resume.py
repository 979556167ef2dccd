"""build-hdf5's resume: the PATH.partial bookkeeping that lets `--resume` continue an interrupted build.

A build writes PATH.partial and renames it onto PATH only when complete. The partial records the input files it was
started from (INPUTS_KEY: name, size, mtime of each, zlib-compressed JSON) and, in its `progress` attribute, the
next source index per split and the skip / conversion counts so far. `--resume` continues after the last stored pair
and refuses when the options (source, size, layout, compression, exif) or the input files differ.
"""
import json
import os
import zlib

import numpy as np

from ..errors import BadInputError
from .build_listing import difference

INPUTS_KEY = "build_inputs"  # dataset of a .partial: the input files (name, size, mtime) it was started from


def partial_path(out):
    return os.fspath(out) + ".partial"


def record_inputs(writer, inputs_json):
    """Store the fingerprint of the inputs in a new partial (what check_resumable compares)."""
    record = np.frombuffer(zlib.compress(inputs_json.encode("utf-8")), np.uint8)
    writer.f.create_dataset(INPUTS_KEY, data=record)


def _refuse(partial, why):
    raise BadInputError(f"--resume: {partial} {why}; remove it or build without --resume")


def check_resumable(f, partial, want, inputs_json):
    """The partial (open h5py file `f`) must come from the same options (`want`: the attributes a new build would
    write) and the same, unchanged, input files."""
    stored = {k: (f.attrs[k].item() if hasattr(f.attrs[k], "item") else f.attrs[k])
              for k in ("source", "size", "layout", "compression", "exif") if k in f.attrs}
    if stored.get("compression", "none") != want["compression"]:
        raise BadInputError(f"--resume: {partial} was started with --compression "
                            f"{stored.get('compression', 'none')}, not {want['compression']}; resume with "
                            "the same option, or remove it")
    for key, option in (("source", "INPUT"), ("size", "--size"), ("layout", "--layout"), ("exif", "--exif")):
        if stored.get(key) != want[key]:
            _refuse(partial, f"was started with {option} {stored.get(key)!r}, not {want[key]!r}")
    if INPUTS_KEY not in f:
        _refuse(partial, "holds no record of its input files, so they cannot be checked")
    old = json.loads(zlib.decompress(f[INPUTS_KEY][()].tobytes()))
    new = json.loads(inputs_json)
    if old != new:
        _refuse(partial, f"was started from other input files ({difference(old, new)})")


def open_partial(partial, want, compression, inputs_json, log):
    """(writer, progress state) of an existing partial fit for --resume; None when there is none to continue."""
    from ..h5safe import open_checked
    from .hdf5 import Hdf5Writer, full_key

    if not os.path.exists(partial):
        log(f"--resume: no {partial}; starting a new build")
        return None
    try:
        with open_checked(partial) as f:
            check_resumable(f, partial, want, inputs_json)
            shape = f[full_key("train")].shape[1:3] if full_key("train") in f else None
    except OSError as e:
        log(f"--resume: {partial} is unreadable ({e}); starting a new build")
        return None
    writer = Hdf5Writer(partial, shape, compression, mode="a")
    return writer, progress(writer)


def progress(writer):
    """The resume state a partial holds: {"next": {split: index}, "done": {split: bool}, "skipped", "converted"}."""
    return json.loads(writer.f.attrs.get("progress", "{}"))


def commit_progress(writer, split, next_index, done, skipped, converted):
    """Commit the writer with the resume state (next source index of `split`, skip and conversion counts)."""
    st = progress(writer)
    st.setdefault("next", {})[split] = next_index
    st.setdefault("done", {})[split] = done
    st["skipped"] = {s: dict(c) for s, c in skipped.items()}
    st["converted"] = dict(converted)
    writer.commit(progress=json.dumps(st))


def start_index(writer, split, items, partial, input_dir):
    """Where a resumed split continues: after its last stored pair (and after skips recorded since)."""
    if writer is None:
        return 0
    st = progress(writer)
    if st.get("done", {}).get(split):
        return len(items)
    start = int(st.get("next", {}).get(split, 0))
    names = writer.names(split)
    if names:
        index = {n: i for i, (n, _) in enumerate(items)}
        if names[-1] not in index:
            raise BadInputError(f"{partial}: holds {names[-1]!r}, which is not in {input_dir}/{split}; "
                                "remove it or drop --resume")
        start = max(start, index[names[-1]] + 1)
    return start


def drop_bookkeeping(writer):
    """A finished file keeps no resume state."""
    if "progress" in writer.f.attrs:
        del writer.f.attrs["progress"]
    if INPUTS_KEY in writer.f:
        del writer.f[INPUTS_KEY]
