"""build-hdf5's inputs: the work items of each split, the fingerprint `--resume` checks, and the --out checks.

Layouts (INPUT holds train/ and test/): side-by-side (one file per pair, LEFT half sharp), gopro
(<split>/GOPR*/{blur|blur_gamma}/NAME + .../sharp/NAME) and pairs (<split>/blur/NAME + <split>/sharp/NAME); see
deblurkeras.data.build. Listing is sorted by file name, so the output order never depends on the file system.
"""
import json
import os

from ..errors import BadInputError
from ..imageio import image_names, pair_files
from ..utils import file_id

LAYOUTS = ("side-by-side", "gopro", "pairs")
SPLITS = ("train", "test")


def flat_folder_hint(folder):
    """The one-line error for a pair folder given where a dataset folder (train/ + test/) is expected."""
    from ..imageio import list_images

    n = len(list_images([folder])) if os.path.isdir(folder) else 0
    found = f"{n} images at its top level" if n else "nothing usable at its top level"
    return (f"{folder}: no train/ or test/ folder inside ({found}); build-hdf5 reads a dataset folder, "
            f"DIR/train/ + DIR/test/, each a pair folder: move the pairs there (combine_pairs --out DIR/train)")


def list_split(split_dir, layout, gopro_blur="blur"):
    """Sorted work items [(name, paths)] of one split and the unpaired files [(path, missing partner)].

    paths is (file,) for side-by-side and (sharp_file, blurred_file) for the paired layouts (imageio.pair_files).
    """
    if layout == "side-by-side":
        return [(n, (os.path.join(split_dir, n),)) for n in image_names(split_dir)], []
    if layout == "pairs":
        pairs, unpaired = pair_files(os.path.join(split_dir, "blur"), os.path.join(split_dir, "sharp"))
        return [(n, (s, b)) for n, s, b in pairs], unpaired
    items, unpaired = [], []
    for seq in sorted(d for d in os.listdir(split_dir) if os.path.isdir(os.path.join(split_dir, d))):
        pairs, u = pair_files(os.path.join(split_dir, seq, gopro_blur), os.path.join(split_dir, seq, "sharp"),
                              seq + "/")
        items += [(n, (s, b)) for n, s, b in pairs]
        unpaired += u
    return items, unpaired


def list_inputs(input_dir, layout, gopro_blur="blur"):
    """{split: (items, unpaired)} of a dataset folder; None for a missing split folder."""
    if not os.path.isdir(input_dir):
        raise BadInputError(f"{input_dir}: input folder not found")
    if not any(os.path.isdir(os.path.join(input_dir, s)) for s in SPLITS):
        raise BadInputError(flat_folder_hint(input_dir))
    listing = {}
    for split in SPLITS:
        split_dir = os.path.join(input_dir, split)
        listing[split] = list_split(split_dir, layout, gopro_blur) if os.path.isdir(split_dir) else None
    return listing


def input_files(listing):
    """Every file the listing holds (items and unpaired ones), in listing order."""
    for split in SPLITS:
        if listing[split] is None:
            continue
        items, unpaired = listing[split]
        for _, paths in items:
            yield from paths
        for path, _ in unpaired:
            yield path


def check_output(out, partial, listing, overwrite):
    """--out must be a new file path (or --overwrite), never a folder, never one of the inputs."""
    if os.path.isdir(out):
        raise BadInputError(f"--out {out}: is an existing folder; give a file path such as "
                            f"{os.path.join(out, 'data.h5')} (nothing was built)")
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent):
        raise BadInputError(f"--out {out}: folder {parent} does not exist (nothing was built)")
    # The same name, or the same file under another name (a link): compared by (device, inode), which costs
    # one stat per input where realpath() cost a dozen lstat calls (0.2 s for 2,400 inputs).
    names = {os.path.abspath(t) for t in (out, partial)}
    files = {file_id(t) for t in (out, partial)} - {None}
    for path in input_files(listing):
        if os.path.abspath(path) in names or (files and file_id(path) in files):
            raise BadInputError(f"--out {out}: would write over the input file {path}; choose another path")
    if (os.path.exists(out) or os.path.islink(out)) and not overwrite:
        raise BadInputError(f"--out {out}: exists; pass --overwrite to replace it (nothing was built)")


def fingerprint(listing, input_dir):
    """JSON of the inputs (relative name, size, mtime) and missing splits: what --resume checks."""
    files = []
    for path in input_files(listing):
        try:
            st = os.stat(path)
            files.append([os.path.relpath(path, input_dir), st.st_size, st.st_mtime_ns])
        except OSError:
            files.append([os.path.relpath(path, input_dir), -1, -1])
    missing = [s for s in SPLITS if listing[s] is None]
    return json.dumps({"files": files, "missing_splits": missing}, separators=(",", ":"))


def difference(old, new):
    """A short description of how two input records differ, naming a file."""
    if old.get("missing_splits") != new.get("missing_splits"):
        return f"missing split folders {old.get('missing_splits')} then, {new.get('missing_splits')} now"
    before = {f[0]: tuple(f[1:]) for f in old["files"]}
    now = {f[0]: tuple(f[1:]) for f in new["files"]}
    gone, added = sorted(set(before) - set(now)), sorted(set(now) - set(before))
    changed = sorted(n for n in set(before) & set(now) if before[n] != now[n])
    parts = [f"{len(v)} {what}, e.g. {v[0]}" for what, v in (("removed", gone), ("added", added),
                                                               ("changed in size or time", changed)) if v]
    return "; ".join(parts) or "the file order changed"
