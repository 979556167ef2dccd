"""Reading HDF5 files from others without reading anything outside them (issue 31, item 2).

An HDF5 file can make a reader open other files: a dataset with *external storage* keeps its bytes in any file the
writer named (`create_dataset(..., external=[("/etc/passwd", 0, n)])`), a *virtual dataset* maps other files'
datasets, and an *external link* is a group entry that opens another HDF5 file. Read blindly, such a weights file
copies a file of the reader's into the weights written out. Every HDF5 file this project reads (Keras-2 weights,
HDF5 datasets, our `.weights.h5`, a build's partial) is walked once with `check_self_contained` before any array is
read; the walk reads only the file's own metadata (link table and dataset creation properties), never data.

`max_elements` (weights files only) also refuses a dataset that declares more elements than any weight of a
model this project builds could hold, before anything is allocated: a 10 GB dataset in a 1 MB file.
"""
import os

from .errors import BadInputError, show

# the largest weight tensor of the models this project builds is 18.9M elements (srgan-d's fc1 kernel, 18,874,368;
# every registered model built with its defaults, 2026-12-07); 2^26 (67M, 256 MiB of float32) leaves room for wider
# configurations and stays far below what would exhaust a machine's memory
MAX_WEIGHT_ELEMENTS = 1 << 26


def _where(path, name):
    return f"{show(path)}: HDF5 object {name!r}"


def check_self_contained(f, path, max_elements=None):
    """Raise BadInputError (one line naming the file and the object) if the open h5py file `f` holds an external
    link, a user-defined link, a dataset with external storage or a virtual dataset; with `max_elements`, also a
    dataset declaring more elements than that. Only metadata is read."""
    links = []  # (name, link type): collected first, h5py's visit callback must not raise
    f.id.links.visit(lambda name, info: links.append((name, info.type)), info=True)
    for name, kind in links:
        _check_link(f, path, name.decode("utf-8", "replace") if isinstance(name, bytes) else name, kind,
                    max_elements)


def _check_link(f, path, name, kind, max_elements):
    import h5py
    from h5py import h5d, h5l

    if kind == h5l.TYPE_EXTERNAL:
        target = f.get(name, getlink=True)
        where = f"{target.filename}:{target.path}" if isinstance(target, h5py.ExternalLink) else "another file"
        raise BadInputError(f"{_where(path, name)} is an external link to {where}; refused: a weights or data "
                            f"file must hold its own data")
    if kind not in (h5l.TYPE_HARD, h5l.TYPE_SOFT):
        raise BadInputError(f"{_where(path, name)} is a user-defined link (type {kind}); refused")
    if kind == h5l.TYPE_SOFT:
        return  # a path inside this file: its target is visited by its own hard link
    obj = f.get(name)
    if not isinstance(obj, h5py.Dataset):
        return
    dcpl = obj.id.get_create_plist()
    if dcpl.get_external_count() > 0:
        first = dcpl.get_external(0)[0]
        first = first.decode("utf-8", "replace") if isinstance(first, bytes) else first
        raise BadInputError(f"{_where(path, name)} keeps its data in another file ({first!r}: HDF5 external "
                            f"storage); refused: a weights or data file must hold its own data")
    if dcpl.get_layout() == h5d.VIRTUAL:
        raise BadInputError(f"{_where(path, name)} is a virtual dataset (its data lives in other files); "
                            f"refused: a weights or data file must hold its own data")
    if max_elements is not None and obj.size is not None and obj.size > max_elements:
        raise BadInputError(f"{_where(path, name)} declares {tuple(obj.shape)} = {obj.size:,} elements, more "
                            f"than any weight of these models ({max_elements:,}); refused before reading")


def open_checked(path, max_elements=None):
    """h5py.File(path, "r") after `check_self_contained`; a file that is not HDF5 gives OSError as h5py's own."""
    import h5py

    f = h5py.File(os.fspath(path), "r")
    try:
        check_self_contained(f, os.fspath(path), max_elements)
    except BaseException:
        f.close()
        raise
    return f


def check_file(path, max_elements=None):
    """check_self_contained on a file by path (for readers that open it themselves: Keras' load_weights)."""
    open_checked(path, max_elements).close()
