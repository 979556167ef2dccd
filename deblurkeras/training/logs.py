"""What a run writes for people to read: log.csv, TensorBoard scalars and images, preview PNGs."""
import csv
import os

import numpy as np

from ..utils import atomic_path


def image_grid(blurred, output, sharp, value_range=(0, 1)):
    """(N, H, 3W, 3) float [0, 1]: blurred | output | sharp side by side, gray images shown as RGB.

    `blurred` and `sharp` come from the data pipeline in `value_range` (e.g. [-1, 1] for the dense-field GAN);
    `output` is the trainer's preview, already in [0, 1]."""
    import tensorflow as tf

    lo, hi = (float(v) for v in value_range)
    to01 = [lambda t: (t - lo) / (hi - lo), lambda t: t, lambda t: (t - lo) / (hi - lo)]
    parts = [tf.clip_by_value(f(tf.cast(t, tf.float32)), 0.0, 1.0) for f, t in zip(to01, (blurred, output, sharp))]
    channels = max(int(p.shape[-1]) for p in parts)
    parts = [tf.image.grayscale_to_rgb(p) if p.shape[-1] == 1 and channels == 3 else p for p in parts]
    return tf.concat(parts, axis=2)


def save_grid_png(grid, path):
    """Stack an (N, H, W, C) [0, 1] grid vertically and write it as a PNG (atomically)."""
    from PIL import Image

    arr = np.concatenate(list(np.asarray(grid)), axis=0)
    arr = (np.clip(arr, 0, 1) * 255).astype(np.uint8)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with atomic_path(path) as tmp:
        Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr).save(tmp)


class CsvLog:
    """Appends rows to log.csv; on resume drops rows past the restored step (they are redone identically)."""

    def __init__(self, path, start_step):
        self.path, self.fields = path, None
        if os.path.isfile(path) and start_step > 0:
            with open(path, newline="", encoding="utf-8") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= start_step]
            if rows:
                self.fields = list(rows[0].keys())
            with atomic_path(path) as tmp:
                with open(tmp, "w", newline="", encoding="utf-8") as f:
                    if self.fields:
                        w = csv.DictWriter(f, self.fields)
                        w.writeheader()
                        w.writerows(rows)
        elif os.path.isfile(path):
            os.remove(path)

    def write(self, row):
        new = not os.path.isfile(self.path) or self.fields is None
        if self.fields is None:
            self.fields = list(row.keys())
        with open(self.path, "a", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, self.fields, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow(row)


def _summary_metadata(plugin, data_class):
    from tensorflow.core.framework import summary_pb2

    md = summary_pb2.SummaryMetadata()
    md.plugin_data.plugin_name = plugin
    md.data_class = data_class
    return md.SerializeToString()


def tb_scalar(tag, value, step):
    """A TensorBoard scalar written with core TF only (tf.summary.scalar needs the tensorboard package)."""
    import tensorflow as tf
    from tensorflow.core.framework import summary_pb2

    tf.summary.write(tag, tf.constant(float(value), tf.float32), step=step,
                     metadata=_summary_metadata("scalars", summary_pb2.DATA_CLASS_SCALAR))


def tb_images(tag, images, step):
    """TensorBoard images ([width, height, png...] string tensor, the images plugin's format), core TF only."""
    import tensorflow as tf
    from tensorflow.core.framework import summary_pb2

    u8 = tf.image.convert_image_dtype(tf.clip_by_value(tf.cast(images, tf.float32), 0.0, 1.0), tf.uint8)
    pngs = [tf.io.encode_png(u8[i]) for i in range(u8.shape[0])]
    h, w = int(u8.shape[1]), int(u8.shape[2])
    tensor = tf.stack([tf.constant(str(w)), tf.constant(str(h))] + pngs)
    tf.summary.write(tag, tensor, step=step, metadata=_summary_metadata("images", summary_pb2.DATA_CLASS_BLOB_SEQUENCE))
