"""Zip archives from others (PyTorch `.pth` / `.pkl`, Keras `.keras`) checked from their central directory before a
reader inflates them (issue 31, items 6 and 7).

A zip member declares its uncompressed size. torch.save and Keras both store their members uncompressed (ZIP_STORED:
declared size = stored size, measured on files of both), so a member that inflates to many times its stored bytes
is a decompression bomb, not a weights file: one storage record deflated from 2 GiB of zeros made a 5.6 MB `.pkl`
that took 2.9 GB of memory to import; six 200 MiB zero assets in a 1.2 MB `.keras` filled the temp folder during
Keras' extraction. Checked here, reading only the central directory:
- a member over SMALL bytes may inflate at most MAX_RATIO times its stored size;
- all members together may declare at most MAX_TOTAL bytes, and (for archives a reader extracts to disk) no more
  than the temp folder has free;
- at most MAX_MEMBERS members.
"""
import os
import tempfile
import zipfile

from .errors import BadInputError, show

SMALL = 1 << 20          # members up to 1 MiB may compress as they like (JSON, pickled metadata)
MAX_RATIO = 20           # beyond: text compresses ~5-10x, float weights ~1.1x
MAX_TOTAL = 4 << 30      # 4 GiB: 50x the largest model of this project in float32 (srgan-d, 94 MB)
MAX_MEMBERS = 100_000


def check_zip(path, what, extracts_to_temp=False, max_total=MAX_TOTAL):
    """Refuse a zip archive whose declared sizes are a bomb (see the module docstring); BadInputError naming the
    file and the member. A file that is not a zip archive passes (its own reader names it)."""
    path = os.fspath(path)
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
    except (OSError, zipfile.BadZipFile, ValueError):
        return
    if len(infos) > MAX_MEMBERS:
        raise BadInputError(f"{show(path)}: a {what} with {len(infos):,} members (more than {MAX_MEMBERS:,}); refused")
    total = 0
    for info in infos:
        total += info.file_size
        if info.file_size > SMALL and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise BadInputError(f"{show(path)}: member {info.filename!r} inflates {info.compress_size:,} stored bytes "
                                f"to {info.file_size:,} (a decompression bomb; {what} files store their tensors "
                                f"uncompressed); refused before reading")
    if total > max_total:
        raise BadInputError(f"{show(path)}: its members declare {total / 2**30:.1f} GiB (more than "
                            f"{max_total / 2**30:.0f} GiB); refused before reading")
    if extracts_to_temp:
        folder = tempfile.gettempdir()
        st = os.statvfs(folder)
        free = st.f_bavail * st.f_frsize
        if total > free:
            raise BadInputError(f"{show(path)}: its members declare {total / 2**20:.0f} MiB, more than the "
                                f"{free / 2**20:.0f} MiB free in the temp folder {folder} it is read through; refused")
