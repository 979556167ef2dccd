"""SRResNet and SRGAN x4 (Ledig et al. 2017, as in sgrvinod/a-PyTorch-Tutorial-to-Super-Resolution).

Files: model.py + layers.py (Keras), twin.py (PyTorch), convert.py (its layers' PyTorch converters), trainer.py,
data.py (LR/HR pairs), inference.py (`deblurkeras upscale`), importer.py (the tutorial's .pth), configs/.
"""
from ...spec import (IMAGENET_MEAN, IMAGENET_STD, SCHEDULES, VGG_PREPROCESS, Choice, FamilySpec, ModelIO, ModelSpec,
                     ParityCase, Typed)

# SRResNet x4 (64 channels, 16 blocks): 1,549,462 trainable = torch's sum(p.numel() for p in parameters()), + the
# 33 BN layers' moving mean / variance (33 * 128). The CRD pixel shuffle is the pitfall a naive export misses.
# Memory measured at 64², 96², 128² LR (srgan-x4 is srresnet-x4's network).
_G_FIGURES = dict(params=1_553_686, fixed=4_224, parity_size=(12, 10), pitfalls=frozenset({"shuffle"}),
                  memory=(17240.0, 1024.0))

# LR input: ImageNet-normalised [0, 1] image; HR output in [-1, 1] (tanh)
_IO = ModelIO(in_scale=tuple(1 / s for s in IMAGENET_STD),
              in_offset=tuple(-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)),
              out_scale=2.0, out_offset=-1.0, scale=4)
_D_IO = ModelIO(in_scale=_IO.in_scale, in_offset=_IO.in_offset, image=False)
_G = "deblurkeras.families.sr.model:build_srresnet"
_G_TWIN = "deblurkeras.families.sr.twin:SRResNetTorch"

# Train-step parity against the tutorial's modules and train_srresnet.py / train_srgan.py's steps (original.py).
_TINY_G = {"channels": 8, "n_blocks": 1}
TORCH_FLOAT32 = {"steps": 5, "grad": 1e-5, "loss": 2e-5, "change": 4e-5}  # the torch-origin families' float32 test
PARITY = (ParityCase("srresnet", "srresnet-x4", tiny_builds={"srresnet-x4": _TINY_G}, data="sr", loss_tol=2e-5,
                     float32=TORCH_FLOAT32, quick=("float32",)),
          ParityCase("srgan", "srgan-x4", data="sr", loss_tol=2e-5, float32=TORCH_FLOAT32, quick=("float64",),
                     config={"loss": {"vgg_weights": None, "vgg_preprocess": "torch"}},  # the tutorial's VGG input
                     tiny_builds={"srgan-x4": _TINY_G, "srgan-d": {"channels": 8, "n_blocks": 4, "fc_size": 16}}))


FAMILY = FamilySpec(
    name="sr",
    models=(
        ModelSpec("srresnet-x4", "sr", _G, {"scale": 4}, _IO, twin=_G_TWIN, **_G_FIGURES),
        ModelSpec("srgan-x4", "sr", _G, {"scale": 4}, _IO, twin=_G_TWIN, **_G_FIGURES),
        # 96x96 input: 23,565,505 trainable (torch's count) + the 7 BN layers' moving mean / variance (2 * 1,856)
        ModelSpec("srgan-d", "sr", "deblurkeras.families.sr.model:build_srgan_discriminator", {}, _D_IO,
                  twin="deblurkeras.families.sr.twin:SRGANDiscriminatorTorch", params=23_569_217, fixed=3_712,
                  parity_size=(96, 96), pitfalls=frozenset({"leaky"})),
    ),
    trainer="deblurkeras.families.sr.trainer",
    optimizer="torch",  # torch.optim.Adam(lr=1e-4), default betas / eps 1e-8
    config={
        "model": {"discriminator": Choice("srgan-d", "srgan-d")},
        # random crops of random images each batch (the tutorial's DataLoader(shuffle=True)); shuffle cannot be off
        "data": {"batch_size": 16, "crop": 96, "val_path": Typed(None, str), "shuffle": Choice(True, True)},
        # the tutorial's torchvision VGG19 (a local state_dict file) fed ImageNet mean/std ("auto" -> "torch" for .pth)
        "loss": {"vgg_layer": "block5_conv4", "vgg_weights": "vgg19-dcbb9e9d.pth",
                 "vgg_preprocess": Choice("auto", *VGG_PREPROCESS), "beta": 1e-3},
        # schedule / boundaries None = the model's own: SRResNet constant, SRGAN x0.1 at half of total_steps
        "train": {"total_steps": 1000000, "lr": 1e-4, "schedule": Choice(None, None, *SCHEDULES),
                  "boundaries": Typed(None, list), "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8},
    },
    importers=("deblurkeras.families.sr.importer",),
    releases="deblurkeras.families.sr.releases",
    configs=("srresnet_x4", "srgan_x4"),
    layer_modules=("deblurkeras.families.sr.layers", "deblurkeras.families.sr.model"),
    converters=("deblurkeras.families.sr.convert",),
    verbs={"upscale": ("deblurkeras.families.sr.inference", "x4 super-resolution with SRResNet / SRGAN")},
    data_sources=("skimage",),  # data.py's ImageSource: the photos bundled with scikit-image
    original="deblurkeras.families.sr.original",
    parity=PARITY,
    test_runs=(("srresnet-x4", {}), ("srgan-x4", {"loss": {"vgg_weights": "none"}})),
    test_builds={"srresnet-x4": _TINY_G, "srgan-x4": _TINY_G, "srgan-d": {"channels": 8, "n_blocks": 2, "fc_size": 16}},
)
