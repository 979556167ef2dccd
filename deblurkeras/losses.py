"""Loss pieces shared by the model families: VGG feature extractors, perceptual MSE, L1, adversarial, BCE.

`vgg_features` builds a frozen keras.applications VGG16/VGG19 cut at a named layer. Weights:
  - "imagenet": the Keras download (needs internet the first time; cached in ~/.keras/models afterwards);
  - a local file path: the architecture is built with `weights=None`, then `load_weights(path)` (the Keras
    application `*_notop.h5` files and Keras 3 `.weights.h5` both load);
  - a torchvision state_dict `.pth` (e.g. torchvision's `vgg19-dcbb9e9d.pth`, the VGG19 the SRGAN tutorial uses):
    read with torch.load(weights_only=True), `features.N.weight/bias` mapped strictly onto `blockB_convC`
    (OIHW -> HWIO); `classifier.*` is ignored (no top); anything missing, unexpected or mis-shaped is an error
    naming every such tensor. These weights expect torchvision's input, so preprocessing is then "torch";
  - "none": random weights, with a warning (tests only; the features mean nothing).
VGG input: by default the tensor is fed unchanged. The dense-field GAN original (leftthomas/ImageDeblurring, main.py's
perceptual loss) fed its [-1, 1] images straight into the ImageNet VGG16 without `preprocess_input`; that is the
faithful default. `preprocess` names the alternatives: "caffe" (True) = what Keras' ImageNet VGG weights expect (x in
`input_range` -> [0, 255], RGB->BGR, minus the ImageNet BGR mean), "torch" = [0, 1] then (x - mean) / std per RGB
channel (torchvision's VGG; the SRGAN tutorial's `convert_image(..., 'imagenet-norm')`), "auto" = "torch" for `.pth`
weights, else "caffe".
"""
import os
import warnings

import keras
from keras import ops

from .errors import BadInputError, first_line
from .spec import IMAGENET_MEAN, IMAGENET_STD

VGG_ARCHS = ("vgg16", "vgg19")
PREPROCESS_MODES = (None, "caffe", "torch", "auto")
TORCH_SUFFIXES = (".pth", ".pt", ".pth.tar")
TORCHVISION_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
_CONVS_PER_BLOCK = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def is_torch_file(weights):
    return isinstance(weights, (str, os.PathLike)) and os.fspath(weights).endswith(TORCH_SUFFIXES)


def _preprocess_mode(preprocess, weights):
    mode = ("caffe" if preprocess else None) if isinstance(preprocess, bool) else preprocess
    if mode not in PREPROCESS_MODES:
        raise ValueError(f"unknown VGG preprocess {preprocess!r}; expected False, True, 'caffe', 'torch' or 'auto'")
    if mode == "auto":
        return "torch" if is_torch_file(weights) else "caffe"
    if is_torch_file(weights) and mode != "torch":
        raise BadInputError(f"{os.fspath(weights)}: torchvision VGG weights expect ImageNet mean/std input "
                            f"(vgg_preprocess 'torch' or 'auto'), got {preprocess!r}")
    return mode


def torchvision_vgg_names(arch):
    """[(Keras layer name, torchvision key prefix)]: `features` is conv, ReLU per conv and a max-pool per block."""
    pairs, index = [], 0
    for block, n in enumerate(_CONVS_PER_BLOCK[arch], 1):
        for conv in range(1, n + 1):
            pairs.append((f"block{block}_conv{conv}", f"features.{index}"))
            index += 2
        index += 1
    return pairs


def load_torchvision_vgg(model, path, arch):
    """Fill a keras.applications VGG (no top) from a torchvision state_dict file; strict, nothing half-assigned
    (importers.torch_state.plan: the one strict state-dict loop; the classifier is not in a no-top model)."""
    from .importers.torch_state import as_state_dict, load_torch_file, plan

    path = os.fspath(path)
    sd = as_state_dict(load_torch_file(path), path)
    names = dict(torchvision_vgg_names(arch))
    steps = plan([model.get_layer(name) for name in names], sd, f"{path} (torchvision {arch})", paths=names,
                 ignore=("classifier.",))
    for var, value in steps:
        var.assign(value)
    return model


@keras.saving.register_keras_serializable(package="deblurkeras")
class VGGPreprocess(keras.layers.Layer):
    """Map an RGB tensor with values in `input_range` to the input convention of a VGG ("caffe" or "torch")."""

    def __init__(self, mode="caffe", input_range=(-1.0, 1.0), **kwargs):
        super().__init__(**kwargs)
        if mode not in ("caffe", "torch"):
            raise ValueError(f"unknown VGG preprocess mode {mode!r}; expected 'caffe' or 'torch'")
        self.mode, self.input_range = mode, tuple(float(v) for v in input_range)

    def call(self, x):
        lo, hi = self.input_range
        x01 = (x - lo) / (hi - lo)
        if self.mode == "torch":
            return (x01 - ops.convert_to_tensor(IMAGENET_MEAN, x.dtype)) / ops.convert_to_tensor(IMAGENET_STD, x.dtype)
        bgr = ops.flip(x01 * 255.0, axis=-1)
        return bgr - ops.convert_to_tensor(_CAFFE_MEAN_BGR, x.dtype)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "input_range": self.input_range}


def _vgg_backbone(arch, weights):
    apps = {"vgg16": keras.applications.VGG16, "vgg19": keras.applications.VGG19}
    if arch not in apps:
        raise ValueError(f"unknown VGG arch {arch!r}; expected one of {VGG_ARCHS}")
    build = apps[arch]
    if weights is None or str(weights).lower() == "none":
        warnings.warn(f"{arch}: random weights (weights='none'); perceptual features are meaningless", stacklevel=3)
        return build(include_top=False, weights=None, input_shape=(None, None, 3))
    if weights == "imagenet":
        try:
            return build(include_top=False, weights="imagenet", input_shape=(None, None, 3))
        except Exception as e:  # offline: the Keras download fails with a URL/HTTP error
            raise BadInputError(f"{arch}: could not get the ImageNet weights ({type(e).__name__}: {e}); "
                                f"pass a local weights file instead") from e
    path = os.fspath(weights)
    if not os.path.isfile(path):
        hint = f" (torchvision's {arch.upper()}: {TORCHVISION_URL})" if arch == "vgg19" and is_torch_file(path) else ""
        raise BadInputError(f"{path}: VGG weights file not found{hint}")
    model = build(include_top=False, weights=None, input_shape=(None, None, 3))
    if is_torch_file(path):
        return load_torchvision_vgg(model, path, arch)
    from .h5safe import MAX_WEIGHT_ELEMENTS, check_file
    try:
        if not path.endswith(".keras"):  # HDF5 holding its own data only (issue 31); Keras reads it next
            check_file(path, MAX_WEIGHT_ELEMENTS)
        model.load_weights(path)
    except BadInputError:
        raise
    except Exception as e:
        raise BadInputError(f"{path}: not a {arch} (no top) weights file ({first_line(e)})") from e
    return model


def vgg_features(arch="vgg16", layer="block3_conv3", weights="imagenet", preprocess=False,
                 input_range=(-1.0, 1.0), name=None):
    """A frozen model: image (N, H, W, 3) -> VGG `layer` activations. See the module docstring for the options.

    Defaults are the dense-field GAN's: VGG16 `block3_conv3`, ImageNet weights, input fed unchanged.
    SRGAN uses arch="vgg19", layer="block5_conv4" (the tutorial's TruncatedVGG19(i=5, j=4): torchvision
    `features[:36]`, i.e. conv5_4 and its ReLU, before the 5th max-pool; Keras' block5_conv4 includes that ReLU).
    """
    mode = _preprocess_mode(preprocess, weights)
    vgg = _vgg_backbone(arch, weights)
    names = [lyr.name for lyr in vgg.layers]
    if layer not in names:
        raise ValueError(f"{arch} has no layer {layer!r}; expected one of {names[1:]}")
    features = keras.Model(vgg.input, vgg.get_layer(layer).output, name=f"{arch}_{layer}")
    image = keras.Input((None, None, 3), name="image")
    x = VGGPreprocess(mode, input_range, name="vgg_preprocess")(image) if mode else image
    model = keras.Model(image, features(x), name=name or f"{arch}_{layer}_features")
    model.trainable = False
    return model


def l1_loss(y_true, y_pred):
    """Mean absolute error over every element (the original `K.mean(K.abs(y_pred - y_true))`)."""
    return ops.mean(ops.abs(y_pred - y_true))


def mse_loss(y_true, y_pred):
    return ops.mean(ops.square(y_pred - y_true))


def perceptual_loss(features, y_true, y_pred):
    """Mean squared difference of `features(y_true)` and `features(y_pred)` (features: a vgg_features model)."""
    return ops.mean(ops.square(features(y_true, training=False) - features(y_pred, training=False)))


def content_loss(features, y_true, y_pred, k_perceptual=145.0, k_l1=170.0):
    """The dense-field generator loss: k_perceptual * perceptual + k_l1 * L1 (145 and 170 in the original)."""
    return k_perceptual * perceptual_loss(features, y_true, y_pred) + k_l1 * l1_loss(y_true, y_pred)


def adversarial_loss(d_fake, eps=0.0):
    """Generator adversarial loss -log D(G(x)), averaged: the original's `adversarial_loss` (`-K.log(y_pred)`,
    no clipping; Keras 2 then averages it over the batch).

    Default eps=0 is exactly that: where D(G(x)) is tiny the generator still gets the full gradient (at a patch
    logit of -17, d(-log sigmoid(z))/dz = -1). A D output of exactly 0 gives inf, as in the original.
    `eps` > 0 (a named deviation) clips D's output to [eps, 1] first: finite everywhere, but zero gradient wherever
    D(G(x)) < eps. (Only the D step uses Keras' `binary_crossentropy`, which clips at 1e-7: see `bce_loss`.)
    """
    d_fake = ops.clip(d_fake, eps, 1.0) if eps else d_fake
    return ops.mean(-ops.log(d_fake))


def bce_loss(y_true, y_pred, eps=1e-7):
    """Binary cross-entropy on probabilities, averaged (Keras' `binary_crossentropy`, which clips at 1e-7)."""
    y_pred = ops.clip(y_pred, eps, 1.0 - eps)
    return ops.mean(-(y_true * ops.log(y_pred) + (1.0 - y_true) * ops.log(1.0 - y_pred)))


def psnr(y_true, y_pred, max_val=2.0):
    """Mean PSNR in dB over the batch; max_val is the value range width (2 for [-1, 1], 1 for [0, 1])."""
    mse = ops.mean(ops.square(y_pred - y_true), axis=tuple(range(1, len(y_true.shape))))
    return ops.mean(10.0 * ops.log(max_val ** 2 / ops.maximum(mse, 1e-12)) / ops.log(10.0))
