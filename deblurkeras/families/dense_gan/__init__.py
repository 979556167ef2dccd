"""The dense-field "Deep Generative Filter" DeblurGAN (leftthomas/ImageDeblurring, Keras 2): a densely connected
generator with dilated 3x3 convs, and a PatchGAN discriminator averaged over 16 patches.

Files: model.py (Keras), twin.py (PyTorch), trainer.py, importer.py (Keras-2 .h5 weights), configs/.
"""
from ...spec import SCHEDULES, SIGNED, VGG_PREPROCESS, Choice, FamilySpec, ModelIO, ModelSpec, ParityCase, Typed

CHANNEL_RATE = 64
N_BLOCKS = 10
DILATIONS = {2: 1, 4: 2, 6: 3, 8: 2, 10: 1}  # even blocks only; odd blocks use a plain 3x3 conv

# Train-step parity against main.py's loop restated with Keras 2's Adam and cross-entropy (original.py). No dropout
# (random masks cannot be shared with the reference), random VGG, lr 1e-3 (main.py: Keras 2's default). float32:
# one batch; later steps are chaotic at the floor's level (conv biases before BN get zero gradient, Adam turns noise
# into +-lr steps, and G.predict in inference mode does not cancel them).
PARITY = (ParityCase("dense-gan", "dense-gan", data="signed",
                     config={"model": {"dropout": False}, "loss": {"vgg_weights": None}, "train": {"lr": 1e-3}},
                     tiny_config={"model": {"channel_rate": 8, "d_filters": 8, "patch_size": 16}},
                     float32={"steps": 1, "grad": 1e-5, "loss": 1e-6, "change": 1e-4}),)


FAMILY = FamilySpec(
    name="dense_gan",
    models=(
        # counts: the BN moving statistics are the fixed weights (the seed: "300万个可训练参数,和近7000个固定参数" =
        # 3M trainable, ~7000 fixed; worked out by hand in tests/families/dense_gan/test_dense_gan.py). Keras 2's BN
        # eps / momentum and LeakyReLU(0.2) are the pitfalls a naive export misses.
        ModelSpec("dense-gan", "dense_gan", "deblurkeras.families.dense_gan.model:build_generator", {}, SIGNED,
                  twin="deblurkeras.families.dense_gan.twin:DenseGeneratorTorch", params=3_204_739, fixed=6_912,
                  parity_size=(24, 20), pitfalls=frozenset({"bn", "leaky"}), memory=(8201.0, 832.0)),
        # PatchGAN ("96万个可训练参数,1400个固定参数"); TF SAME on its stride-2 convs too
        ModelSpec("dense-gan-d", "dense_gan", "deblurkeras.families.dense_gan.model:build_discriminator", {},
                  ModelIO(in_scale=2.0, in_offset=-1.0, image=False),
                  twin="deblurkeras.families.dense_gan.twin:PatchGANTorch", params=967_809, fixed=1_408,
                  parity_size=(256, 256), pitfalls=frozenset({"padding", "bn", "leaky"})),
    ),
    trainer="deblurkeras.families.dense_gan.trainer",
    # main.py compiles all three models with optimizer='adam': Keras 2's Adam(lr=1e-3, 0.9, 0.999, epsilon=None),
    # and None means K.epsilon() = 1e-7 (Keras 2.1.x, the `pip install keras` of the README's TF 1.5 set-up;
    # Keras <= 2.1.2 defaulted to 1e-8). training.optimizers.Keras2Adam computes it as Keras 2 did.
    optimizer="keras2",
    # main.py: whole 256x256 images in HDF5 file order (no shuffling), batch 2, Adam 1e-3 for D, D-on-G and G
    config={
        "model": {"channel_rate": CHANNEL_RATE, "dropout": True, "discriminator": Choice("dense-gan-d", "dense-gan-d"),
                  "patch_size": 64, "d_filters": 64, "batch_patches": False},
        "data": {"batch_size": 2, "crop": Typed(256, int, None), "val_crop": Typed(256, int, None), "shuffle": False},
        "loss": {"vgg_weights": "imagenet", "vgg_preprocess": Choice(False, *VGG_PREPROCESS), "k_perceptual": 145.0,
                 "k_l1": 170.0},
        "train": {"total_steps": 3020, "lr": 1e-3, "schedule": Choice("constant", *SCHEDULES), "beta_1": 0.9,
                  "beta_2": 0.999, "epsilon": 1e-7, "mode": Choice("original", "original", "combined"),
                  "critic_steps": 1, "adv_weight": 1.0, "fake_for_d": Choice("inference", "inference", "training"),
                  "d_bn_in_g_step": Choice("batch", "batch", "inference"),
                  "adv_eps": 0.0},                              # -log D unclipped, as the original
    },
    importers=("deblurkeras.families.dense_gan.importer",),
    configs=("original",),
    layer_modules=("deblurkeras.families.dense_gan.model",),
    original="deblurkeras.families.dense_gan.original",
    parity=PARITY,
    test_runs=(("dense-gan", {"model": {"channel_rate": 4, "d_filters": 4, "patch_size": 16},
                              "loss": {"vgg_weights": "none"}}),),
)
