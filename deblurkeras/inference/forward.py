"""One array through the model: the compiled forward (one tf.function per model, any batch / size), the value
range, and edge padding to the model's size multiples (cropped back after)."""
import math
import weakref

import numpy as np

from ..errors import BadInputError


_FORWARD = weakref.WeakKeyDictionary()


def forward_fn(model, io):
    """The model's image output as one tf.function over any batch / size (traced once per model).

    Graph mode frees each activation after its last use; an eager Keras call keeps far more alive (measured on a
    368x640 SRN colour run: +125 MB peak RSS in graph mode vs +710 MB eager).
    """
    import tensorflow as tf
    key = (io.output_index,)
    fns = _FORWARD.setdefault(model, {})
    if key not in fns:
        spec = tf.TensorSpec((None, None, None, model.inputs[0].shape[-1]), tf.float32)

        def forward(x):
            y = model(x, training=False)
            y = y[io.output_index] if isinstance(y, (list, tuple)) else y
            return tf.cast(y, tf.float32)  # bfloat16 models: float32 before clipping / rounding (no-op in float32)
        fns[key] = tf.function(forward, input_signature=[spec])
    return fns[key]


def normalize(x01, io):
    """In place: the buffer of x01 becomes the model input (no second full-size float copy)."""
    x01 *= np.asarray(io.in_scale, dtype=np.float32)
    x01 += np.asarray(io.in_offset, dtype=np.float32)
    return x01


def run_padded(model, io, x, pad_to=None):
    """Normalized (H, W, 3) -> model output for it as (H*s, W*s, 3) in the model's value range."""
    h, w, _ = x.shape
    if pad_to is not None:
        ph, pw = pad_to
        if h > ph or w > pw:
            raise BadInputError(f"image {h}x{w} does not fit --pad-to {ph}x{pw}")
    else:
        mh, mw = io.multiples
        ph, pw = math.ceil(h / mh) * mh, math.ceil(w / mw) * mw
    if (ph, pw) != (h, w):
        x = np.pad(x, ((0, ph - h), (0, pw - w), (0, 0)), mode="edge")
    batch = x.transpose(2, 0, 1)[..., None] if io.channels == 1 else x[None]  # gray: channels -> batch
    if hasattr(model, "predict_nhwc"):  # an ONNX engine (deblurkeras.engines)
        y = model.predict_nhwc(batch)
    else:
        y = forward_fn(model, io)(batch).numpy()
    y = y[..., 0].transpose(1, 2, 0) if io.channels == 1 else y[0]
    s = io.scale
    return y[: h * s, : w * s]
