"""SRN-DeblurNet (Tao et al., CVPR 2018; jiangsutx/SRN-Deblur, TF1): scale-recurrent encoder-decoder.

Files: model.py + layers.py (Keras), twin.py (PyTorch), convert.py (its layers' PyTorch converters), trainer.py,
importer.py (TF1 checkpoints), configs/.
"""
from ...spec import SCHEDULES, Choice, FamilySpec, ModelIO, ModelSpec, ParityCase, Typed

# variant -> (channels, ConvLSTM in the bottleneck); shared by the Keras model and the PyTorch twin
VARIANTS = {"color": (3, False), "gray": (1, False), "lstm": (1, True), "color_lstm": (3, True)}
# The export pitfalls that change SRN's numbers: TF's asymmetric SAME padding and TF1's legacy resize. Its 4x4
# stride-2 deconvs crop symmetrically anyway.
PITFALLS = frozenset({"padding", "resize"})

# The official test script transposes portrait images to fit its landscape placeholder; inputs padded to 16.
_IO = ModelIO(multiple=16, transpose=True)
_IO_GRAY = ModelIO(multiple=16, transpose=True, channels=1)


def _model(name, variant, io, params, memory, parity_size=(32, 32)):
    return ModelSpec(name, "srn", "deblurkeras.families.srn.model:build_srn", {"variant": variant}, io,
                     twin="deblurkeras.families.srn.twin:SRNTorch", params=params, parity_size=parity_size,
                     pitfalls=PITFALLS, memory=memory)


# Train-step parity against the official train op as a tf.compat.v1 graph (original.py). float32: two steps against
# TF1's AdamOptimizer (TF1Adam: its arithmetic bit for bit).
PARITY = (ParityCase("srn-color", "srn-color", options={"lstm": False}, quick=("float64",),
                     float32={"steps": 2, "grad": 1e-6, "loss": 1e-5, "change": 1e-3}),
          ParityCase("srn-lstm", "srn-lstm", options={"lstm": True}))


FAMILY = FamilySpec(
    name="srn",
    # memory measured at 256², 512², 768² (gray, lstm: 128², 192², 256²)
    models=(_model("srn-color", "color", _IO, 6_881_251, (1023.0, 32.0), parity_size=(32, 48)),
            _model("srn-gray", "gray", _IO_GRAY, 6_876_449, (3445.0, 96.0)),
            _model("srn-lstm", "lstm", _IO_GRAY, 8_056_609, (3732.0, 96.0)),      # the paper's model
            _model("srn-color-lstm", "color_lstm", _IO, 8_061_411, (1062.0, 72.0))),
    trainer="deblurkeras.families.srn.trainer",
    optimizer="tf1",  # tf.train.AdamOptimizer(lr, 0.9, 0.999, 1e-8): training.optimizers.TF1Adam
    # the official train.py: batch 16, 256 crops, 524k steps (4000 epochs of GoPro), polynomial decay power 0.3
    config={
        "model": {"resize_mode": Choice("tf1_legacy", "tf1_legacy", "half_pixel"),
                  "init": Choice("xavier", "xavier", "identity")},    # identity: a demo deviation
        "data": {"batch_size": 16, "crop": Typed(256, int, None), "val_crop": Typed(256, int, None), "shuffle": True},
        "train": {"total_steps": 524000, "lr": 1e-4, "end_lr": 0.0, "power": 0.3,
                  "schedule": Choice("polynomial", *SCHEDULES),
                  "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8,
                  "clip_lstm_norm": Typed(None, float)},              # the original's LSTM clipping (3) is off
    },
    importers=("deblurkeras.families.srn.importer",),
    releases="deblurkeras.families.srn.releases",
    configs=("gopro_color", "gopro_lstm", "demo"),
    layer_modules=("deblurkeras.layers", "deblurkeras.families.srn.layers"),
    converters=("deblurkeras.families.srn.convert",),
    original="deblurkeras.families.srn.original",
    parity=PARITY,
    test_runs=(("srn-color", {}),),
)
