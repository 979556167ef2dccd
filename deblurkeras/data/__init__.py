"""Datasets: the build_hdf5 HDF5 layout, lazy tf.data pipelines, synthetic motion blur.

Modules: hdf5 (layout, writer, reader), build (`build-hdf5`, over forkpool's forked decode workers), combine
(side-by-side from blur/ + sharp/), synthesize (synthetic blur pairs), blur_kernels, pipeline (tf.data).

`make_dataset` imports TensorFlow on first use; `count`/`read_pairs` and the blur kernels do not.
"""
from .hdf5 import SPLITS, Hdf5Writer, count, read_pairs  # noqa: F401
from .blur_kernels import random_trajectory, trajectory_to_kernel, blur_image, random_kernel  # noqa: F401


def __getattr__(name):
    # Keep `import deblurkeras.data` free of TensorFlow until the pipeline is used.
    if name in ("make_dataset", "sample_index", "load_sample", "to_range", "GRAY_WEIGHTS"):
        from . import pipeline
        return getattr(pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
