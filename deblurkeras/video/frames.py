"""Frames through the model: one at a time through `inference.run_image` (the image path, exactly), or `--batch N`
frames of one size in one model call.

Batching restates `inference.predict_01` for a stack of whole frames (same scaling, padding, transposition and
output conversion); it is taken only where it can be the same computation: untiled frames, a 3-channel model, the
Keras engine. Whether a batched call gives the same bits as single calls is up to the kernels
(tests/test_video.py measures it; the README gives the figure); `--batch 1`, the default, is the image path.
"""
import math

import numpy as np


class FrameRunner:
    """push(k, pts, rgb, emit) frames in order; emit(k, pts, out_uint8) is called in the same order."""

    def __init__(self, model, name, io, budget, tile, args, label):
        self.model, self.name, self.io, self.budget, self.tile = model, name, io, budget, tile
        self.args, self.label = args, label
        self.batch = args.batch if self.can_batch() else 1
        self.pending = []

    def can_batch(self):
        return (not self.tile and self.io.channels == 3 and not hasattr(self.model, "predict_nhwc")
                and getattr(self.args, "pad_to", None) is None)

    def one(self, rgb):
        from ..inference import run_image
        a = self.args
        return run_image(self.model, self.name, self.io, rgb, self.label, self.budget, self.tile, a.overlap,
                         getattr(a, "transpose", None), a.round, getattr(a, "pad_to", None))

    def push(self, k, pts, rgb, emit):
        if self.batch == 1:
            emit(k, pts, self.one(rgb))
            return
        self.pending.append((k, pts, rgb))
        if len(self.pending) == self.batch:
            self.flush(emit)

    def flush(self, emit):
        if not self.pending:
            return
        outs = predict_batch(self.model, self.io, [p[2] for p in self.pending], getattr(self.args, "transpose", None),
                             self.args.round)
        for (k, pts, _), out in zip(self.pending, outs):
            emit(k, pts, out)
        self.pending = []


def predict_batch(model, io, frames, transpose=None, round=False):  # noqa: A002 - mirrors --round
    """uint8 RGB frames of one size -> their uint8 outputs, in one model call (see the module docstring)."""
    from ..imageio import to_uint8
    from ..inference import forward_fn, normalize

    h, w, _ = frames[0].shape
    transpose = io.transpose if transpose is None else transpose
    rot = transpose and h > w
    x = np.stack(frames)
    if rot:
        x = x.transpose(0, 2, 1, 3)
    x = normalize(np.divide(x, np.float32(255.0), dtype=np.float32), io)
    _, xh, xw, _ = x.shape
    mh, mw = io.multiples
    ph, pw = math.ceil(xh / mh) * mh, math.ceil(xw / mw) * mw
    if (ph, pw) != (xh, xw):
        x = np.pad(x, ((0, 0), (0, ph - xh), (0, pw - xw), (0, 0)), mode="edge")
    s = io.scale
    y = forward_fn(model, io)(x).numpy()[:, : xh * s, : xw * s]
    if io.out_offset:
        y -= np.float32(io.out_offset)
    if io.out_scale != 1:
        y /= np.float32(io.out_scale)
    if rot:
        y = y.transpose(0, 2, 1, 3)
    return [to_uint8(np.ascontiguousarray(f), round=round) for f in y]
