"""The original weights by name: `--weights stack-dmphn-4:gopro` fetches the released files from where they still
live, proves every byte by hash, caches them (with their Keras import) and works offline after.

    catalogue() -> [Release]          every family's released weights (FamilySpec.releases, plain data)
    get(name) -> Release              one release by name (MODEL:TAG); unknown names list the close ones
    is_release_name(text)             a catalogued MODEL:TAG (an existing path never is)
    resolve(name_or_path)             a release name -> the imported .weights.h5 in the cache; a path unchanged
    fetch(name, source=None)          the originals, verified in the cache (source: a copy fetched by hand)
    is_cached(name)                   every original file in the cache, hashes recomputed now
    home()                            the cache folder ($DEBLURKERAS_HOME, default ~/.cache/deblurkeras)
    verify(path) -> (ok, lines)       which release a file or folder is, or which file differs

Settings (environment): DEBLURKERAS_HOME, DEBLURKERAS_OFFLINE=1, DEBLURKERAS_MIRROR=URL, DEBLURKERAS_TIMEOUT
(deblurkeras.releases.settings). The cache layout: deblurkeras.releases.cache. Nothing here imports TensorFlow or
torch until a release is imported.
"""
from .cache import (ManualReleaseError, OfflineError, imported_path, is_cached, load_path,  # noqa: F401
                    original_dir, resolve)
from .cache import fetch_release as fetch  # noqa: F401
from .entries import (Release, ReleaseFile, UnknownReleaseError, add, catalogue, get, git_blob_id,  # noqa: F401
                        is_release_name, looks_like_release, names, remove, sha256_of)
from .download import FetchError, HashMismatchError  # noqa: F401
from .settings import home  # noqa: F401
from .verify import verify  # noqa: F401
