"""Model registry: CLI/model names -> builder + the I/O conventions inference and evaluation must follow.

Builders are imported lazily so each family stays independent (and `import deblurkeras` stays light).
`io` says how an RGB image in [0, 1] becomes the model input and how the output goes back to [0, 1]:
    model_in = x01 * in_scale + in_offset           (per channel for lists; SRResNet uses ImageNet mean/std)
    x01_out  = (model_out - out_offset) / out_scale
`multiple`: H and W must be multiples of it (inference pads bottom/right by edge replication and crops back);
`channels`: 1 for the gray SRN models (an RGB image runs as a batch of 3 one-channel images);
`output_index`: which output is the image when the model returns a list (SRN: the finest, -1);
`scale`: the upscaling factor (super-resolution), 1 for deblurring.
"""
import dataclasses
import importlib


@dataclasses.dataclass(frozen=True)
class ModelIO:
    in_scale: object = 1.0
    in_offset: object = 0.0
    out_scale: float = 1.0
    out_offset: float = 0.0
    multiple: int = 1
    channels: int = 3
    output_index: int = -1
    scale: int = 1


UNIT = ModelIO()                                                     # [0, 1] in and out
SIGNED = ModelIO(in_scale=2.0, in_offset=-1.0, out_scale=2.0, out_offset=-1.0)  # [-1, 1] in and out
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclasses.dataclass(frozen=True)
class Entry:
    module: str
    builder: str
    defaults: dict
    io: ModelIO
    family: str


_REGISTRY = {}


def register(name, module, builder, io=UNIT, family=None, **defaults):
    _REGISTRY[name] = Entry(module, builder, defaults, io, family or module.rsplit(".", 1)[-1])


_SRN = "deblurkeras.models.srn"
register("srn-color", _SRN, "build_srn", ModelIO(multiple=16), variant="color")
register("srn-gray", _SRN, "build_srn", ModelIO(multiple=16, channels=1), variant="gray")
register("srn-lstm", _SRN, "build_srn", ModelIO(multiple=16, channels=1), variant="lstm")
register("srn-color-lstm", _SRN, "build_srn", ModelIO(multiple=16), variant="color_lstm")
# Dense-field "Deep Generative Filter" DeblurGAN: [-1, 1] in and out, fully convolutional.
_DG = "deblurkeras.models.dense_gan"
register("dense-gan", _DG, "build_generator", SIGNED)
register("dense-gan-d", _DG, "build_discriminator", SIGNED)
# DMPHN: input = ToTensor - 0.5, output + 0.5.
_DM = "deblurkeras.models.dmphn"
register("dmphn-1-2-4", _DM, "build_dmphn", ModelIO(in_offset=-0.5, out_offset=-0.5, multiple=8), levels=(1, 2, 4))
register("dmphn-1-2-4-8", _DM, "build_dmphn", ModelIO(in_offset=-0.5, out_offset=-0.5, multiple=16),
         levels=(1, 2, 4, 8))
# SRResNet / SRGAN x4: ImageNet-normalised LR input, [-1, 1] HR output.
_SR = "deblurkeras.models.srresnet"
_SR_IO = ModelIO(in_scale=tuple(1 / s for s in IMAGENET_STD),
                 in_offset=tuple(-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)),
                 out_scale=2.0, out_offset=-1.0, scale=4)
register("srresnet-x4", _SR, "build_srresnet", _SR_IO, scale=4)
register("srgan-x4", _SR, "build_srresnet", _SR_IO, scale=4)
register("srgan-d", _SR, "build_srgan_discriminator", _SR_IO)


def model_names():
    return sorted(_REGISTRY)


def entry(name):
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; expected one of {model_names()}")
    return _REGISTRY[name]


def model_io(name):
    return entry(name).io


def build_model(name, **overrides):
    """Build a registered model by name; `overrides` replace the registered defaults."""
    e = entry(name)
    fn = getattr(importlib.import_module(e.module), e.builder)
    return fn(**{**e.defaults, **overrides})
