"""Dense-field "Deep Generative Filter" generator and PatchGAN discriminator (Ramakrishnan et al. 2017), as in the
original Keras 2 code (leftthomas/ImageDeblurring, model.py `generator_model` / `discriminator_model`; seed 003).
Values in [-1, 1].

Generator (fully convolutional): head Conv3x3(4c) -> 10 dense blocks over the running concatenation
[head, d1, ..., d_{k-1}] (dilation 1,2,3,2,1 on blocks 2,4,6,8,10) -> tail on d10 only (LReLU, Conv1x1(4c), BN)
-> global skip concat([head, tail]) -> Conv3x3(c) -> LReLU(0.2) -> Conv3x3(3, tanh). No residual add to the input.
Dense block: LReLU(0.2) -> Conv1x1(4c) -> BN -> LReLU(0.2) -> Conv3x3(c, dilation) -> BN -> Dropout(0.5).
BatchNormalization uses the Keras defaults (eps 1e-3, momentum 0.99), as the original did.

Discriminator: one shared patch sub-model `patch_gan` (4 x [Conv3x3 stride 2 + BN + LReLU(0.2)], Flatten,
Dense(1, sigmoid)) scores each non-overlapping patch; the scores are averaged. Defects of the original fixed here:
- the patches were cut by `Lambda` closures over loop variables, so calling D on a new tensor sliced the last
  patch 16 times; here each patch is cut by a `Patch(row, col, size)` layer that keeps its indices in its config;
- the patch size was `channel_rate`; here `patch_size` is its own argument (`filters` is the base width).
`batch_patches=False` (faithful) calls the sub-model once per patch position, so in training BatchNormalization
uses per-position batch statistics as the original did; `batch_patches=True` (named deviation, allows any image
size that is a multiple of patch_size) stacks all patches into one batch with an `ExtractPatches` layer.

Layer names (the Keras 2 original used auto-names; families/dense_gan/importer.py maps them by class and order):
    conv2d_1 -> head; conv2d_{2k}, conv2d_{2k+1} -> d{k}_conv1x1, d{k}_conv3x3 (k = 1..10);
    batch_normalization_{2k-1}, _{2k} -> d{k}_bn1, d{k}_bn2; conv2d_22 -> tail_conv1x1;
    batch_normalization_21 -> tail_bn; conv2d_23 -> skip_conv; conv2d_24 -> output.
    Discriminator (built after the generator in the original train script): conv2d_25..28 -> conv1..conv4,
    batch_normalization_22..25 -> bn1..bn4, dense_1 -> score, all inside `patch_gan`.
"""
import keras
from keras import ops

from . import CHANNEL_RATE, DILATIONS, N_BLOCKS  # shared with the twin


def _lrelu(name):
    return keras.layers.LeakyReLU(negative_slope=0.2, name=name)  # Keras 3 default is 0.3: always explicit


def _dense_block(x, k, c, dropout=True):
    """Dense block k (1-based) on the running concatenation x; returns its c-channel output."""
    y = _lrelu(f"d{k}_lrelu1")(x)
    y = keras.layers.Conv2D(4 * c, 1, padding="same", name=f"d{k}_conv1x1")(y)
    y = keras.layers.BatchNormalization(name=f"d{k}_bn1")(y)
    y = _lrelu(f"d{k}_lrelu2")(y)
    y = keras.layers.Conv2D(c, 3, padding="same", dilation_rate=DILATIONS.get(k, 1), name=f"d{k}_conv3x3")(y)
    y = keras.layers.BatchNormalization(name=f"d{k}_bn2")(y)
    return keras.layers.Dropout(0.5, name=f"d{k}_dropout")(y) if dropout else y


def build_generator(channel_rate=CHANNEL_RATE, dropout=True, name="generator"):
    """The dense-field generator: (N, H, W, 3) in [-1, 1] -> (N, H, W, 3) in [-1, 1] (tanh). Any H, W.

    `dropout=False` (named deviation) builds the same weights without the Dropout(0.5) layers.
    """
    c = channel_rate
    inputs = keras.Input((None, None, 3), name="blurred")
    head = keras.layers.Conv2D(4 * c, 3, padding="same", name="head")(inputs)
    x = head
    for k in range(1, N_BLOCKS + 1):
        d = _dense_block(x, k, c, dropout)
        if k < N_BLOCKS:  # blocks 1..9 join the running concatenation; d10 feeds the tail alone
            x = keras.layers.Concatenate(axis=-1, name=f"cat{k}")([x, d])
    t = _lrelu("tail_lrelu")(d)
    t = keras.layers.Conv2D(4 * c, 1, padding="same", name="tail_conv1x1")(t)
    t = keras.layers.BatchNormalization(name="tail_bn")(t)
    x = keras.layers.Concatenate(axis=-1, name="skip_cat")([head, t])
    x = keras.layers.Conv2D(c, 3, padding="same", name="skip_conv")(x)
    x = _lrelu("skip_lrelu")(x)
    outputs = keras.layers.Conv2D(3, 3, padding="same", activation="tanh", name="output")(x)
    return keras.Model(inputs, outputs, name=name)


def generator_param_count(channel_rate=CHANNEL_RATE):
    """Parameters of build_generator, counted from the architecture: (total, non-trainable)."""
    c, f = channel_rate, 4 * channel_rate
    conv = lambda k, cin, cout: k * k * cin * cout + cout  # noqa: E731
    total = conv(3, 3, f)                                   # head
    for k in range(1, N_BLOCKS + 1):
        cin = f + c * (k - 1)                               # head + d1..d_{k-1}
        total += conv(1, cin, f) + 4 * f + conv(3, f, c) + 4 * c
    total += conv(1, c, f) + 4 * f                          # tail on d10
    total += conv(3, 2 * f, c) + conv(3, c, 3)              # global skip conv, output conv
    non_trainable = 2 * (N_BLOCKS * (f + c) + f)            # BN moving mean + variance
    return total, non_trainable


# ----------------------------------------------------------------------------------------------- discriminator

@keras.saving.register_keras_serializable(package="deblurkeras")
class Patch(keras.layers.Layer):
    """The (row, col) patch of side `size`: x[:, row*size:(row+1)*size, col*size:(col+1)*size, :]."""

    def __init__(self, row, col, size, **kwargs):
        super().__init__(**kwargs)
        self.row, self.col, self.size = int(row), int(col), int(size)

    def call(self, x):
        r, c, s = self.row * self.size, self.col * self.size, self.size
        return x[:, r:r + s, c:c + s, :]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.size, self.size, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "row": self.row, "col": self.col, "size": self.size}


@keras.saving.register_keras_serializable(package="deblurkeras")
class ExtractPatches(keras.layers.Layer):
    """(N, H, W, C) -> (N * H/s * W/s, s, s, C): non-overlapping patches, row-major per image, images in order."""

    def __init__(self, size, **kwargs):
        super().__init__(**kwargs)
        self.size = int(size)

    def call(self, x):
        s = self.size
        shape = ops.shape(x)
        nh, nw, ch = shape[1] // s, shape[2] // s, x.shape[-1]
        x = ops.reshape(x, (-1, nh, s, nw, s, ch))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (-1, s, s, ch))

    def compute_output_shape(self, input_shape):
        return (None, self.size, self.size, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "size": self.size}


@keras.saving.register_keras_serializable(package="deblurkeras")
class PatchMean(keras.layers.Layer):
    """Average the per-patch scores (N * P, 1) of ExtractPatches back to one score per image (N, 1)."""

    def call(self, inputs):
        scores, image = inputs
        n = ops.shape(image)[0]
        return ops.mean(ops.reshape(scores, (n, -1)), axis=1, keepdims=True)

    def compute_output_shape(self, input_shapes):
        return (input_shapes[1][0], 1)


def build_patch_model(patch_size=64, filters=CHANNEL_RATE, name="patch_gan"):
    """The shared PatchGAN sub-model: (N, s, s, 3) -> (N, 1) probability that the patch is real."""
    if patch_size % 16:
        raise ValueError(f"patch_size must be a multiple of 16 (4 stride-2 convs), got {patch_size}")
    inputs = keras.Input((patch_size, patch_size, 3), name="patch")
    x = inputs
    for i, mult in enumerate((1, 2, 4, 4), start=1):
        x = keras.layers.Conv2D(mult * filters, 3, strides=2, padding="same", name=f"conv{i}")(x)
        x = keras.layers.BatchNormalization(name=f"bn{i}")(x)
        x = _lrelu(f"lrelu{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", name="score")(x)
    return keras.Model(inputs, outputs, name=name)


def build_discriminator(patch_size=64, image_shape=(256, 256, 3), filters=CHANNEL_RATE, batch_patches=False,
                        name="discriminator"):
    """PatchGAN: image (N, H, W, 3) in [-1, 1] -> (N, 1), the mean of the patch scores. See the module docstring.

    H and W must be multiples of patch_size. With batch_patches=True, image_shape may hold None for H and W.
    """
    h, w = image_shape[0], image_shape[1]
    for side in (h, w):
        if side is not None and side % patch_size:
            raise ValueError(f"image size {h}x{w} is not a multiple of patch_size {patch_size}")
    patch_model = build_patch_model(patch_size, filters)
    image = keras.Input(tuple(image_shape), name="image")
    if batch_patches:
        scores = patch_model(ExtractPatches(patch_size, name="extract_patches")(image))
        outputs = PatchMean(name="average")([scores, image])
    else:
        if h is None or w is None:
            raise ValueError("batch_patches=False needs a fixed image_shape (H and W)")
        scores = [patch_model(Patch(r, c, patch_size, name=f"patch_{r}_{c}")(image))
                  for r in range(h // patch_size) for c in range(w // patch_size)]
        outputs = keras.layers.Average(name="average")(scores) if len(scores) > 1 else scores[0]
    return keras.Model(image, outputs, name=name)


def discriminator_param_count(patch_size=64, filters=CHANNEL_RATE):
    """Parameters of build_discriminator (the shared patch model), counted by hand: (total, non-trainable)."""
    chans = [3, filters, 2 * filters, 4 * filters, 4 * filters]
    total = sum(9 * cin * cout + cout + 4 * cout for cin, cout in zip(chans, chans[1:]))
    side = patch_size // 16
    total += side * side * chans[-1] + 1                    # Dense(1) on the flattened 4x4x256 (patch 64)
    return total, 2 * sum(chans[1:])
