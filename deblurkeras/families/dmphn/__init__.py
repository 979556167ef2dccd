"""DMPHN (Zhang et al., CVPR 2019; HongguangZhang/DMPHN-cvpr19-master, PyTorch): a hierarchy of encoder-decoder
pairs over 1, 2, 4 (and 8) patches, and Stack-DMPHN (the official SDNet2/3/4): 2, 3 or 4 DMPHN 1-2-4 in a row.

Files: model.py + layers.py (Keras), twin.py (PyTorch), convert.py (its layer's PyTorch converter), trainer.py,
importer.py (the official .pkl folders), configs/.
"""
from ...spec import SCHEDULES, Choice, FamilySpec, ModelIO, ModelSpec, ParityCase, Typed

LEVELS = (1, 2, 4, 8)  # patches per level, coarsest first
# (torch-style layer name, kind, in channels, out channels, stride): the official Encoder / Decoder
ENCODER = (("layer1", "conv", 3, 32, 1), ("layer2", "res", 32, 32, 1), ("layer3", "res", 32, 32, 1),
           ("layer5", "conv", 32, 64, 2), ("layer6", "res", 64, 64, 1), ("layer7", "res", 64, 64, 1),
           ("layer9", "conv", 64, 128, 2), ("layer10", "res", 128, 128, 1), ("layer11", "res", 128, 128, 1))
DECODER = (("layer13", "res", 128, 128, 1), ("layer14", "res", 128, 128, 1), ("layer16", "deconv", 128, 64, 2),
           ("layer17", "res", 64, 64, 1), ("layer18", "res", 64, 64, 1), ("layer20", "deconv", 64, 32, 2),
           ("layer21", "res", 32, 32, 1), ("layer22", "res", 32, 32, 1), ("layer24", "conv", 32, 3, 1))
ENCODER_PARAMS, DECODER_PARAMS = 868_288, 939_843
PAIR_PARAMS = ENCODER_PARAMS + DECODER_PARAMS  # 1,808,131: one level's encoder + decoder (no sharing between levels)
SHIFT = 0.5              # the official input is ToTensor() - 0.5 and the output + 0.5


def split_axis(level):
    """Which image axis level `level` (1-based) cuts its parent patches along: "h", "w", "h" for levels 2, 3, 4."""
    return "h" if level % 2 == 0 else "w"


def size_multiples(n_levels):
    """(mh, mw) an input must be a multiple of: every patch is downsampled x4 by the encoder."""
    cuts = [split_axis(lv) for lv in range(2, n_levels + 1)]
    return 4 << cuts.count("h"), 4 << cuts.count("w")


# Each tile gets its own patch hierarchy (halves, quadrants, eighths of the TILE), so tiles change the output away
# from the seams too: 37-38 dB against the whole image at 1280x720 with the official weights, at every overlap
# from 0 to 128 (python -m experiments.seam_error; deblurkeras/docs/inference.md).
TILING_CAVEAT = ("DMPHN in tiles: each tile gets its own patch hierarchy, so the output differs from the whole-image "
                 "one (about 38 dB) whatever the overlap; --tile 0 (and the memory for it) gives the original's output")


def _io(levels):
    # No portrait transposing: the original test script runs images as they are.
    return ModelIO(in_offset=-SHIFT, out_offset=-SHIFT, multiple=size_multiples(len(levels)),
                   tiling_caveat=TILING_CAVEAT)


# Stack-DMPHN (SDNet<N>.py / SDNet<N>_test.py): N stacks of a DMPHN 1-2-4, each with its own 3 pairs.
STACKS = (2, 3, 4)
STACK_LEVELS = LEVELS[:3]
# What stack k > 1 adds to its lv2 decoder output (`residual[s]['lv2'] = decoder[s]['lv2'](...) + ...`):
#   "first"    stack 1's output, as SDNet{2,3,4}.py trains and SDNet{2,3,4}_test.py tests (the released weights);
#   "previous" stack k-1's output (the evident intent; the same as "first" for 2 stacks);
#   "none"     nothing, as the in-training test pass of SDNet{2,3,4}.py (every 200 epochs) computes it.
LV2_RESIDUAL = ("first", "previous", "none")
STACK_TILING_CAVEAT = ("Stack-DMPHN in tiles: each tile gets its own patch hierarchy in every stack, so the output "
                       "differs from the whole-image one whatever the overlap; --tile 0 (and the memory for it) gives "
                       "the original's output")
# memory: bytes of peak RSS per padded input pixel over 256²..768² (python -m experiments.calibrate_memory)
STACK_MEMORY = {2: (554.0, 33.0), 3: (586.0, 33.0), 4: (548.0, 33.0)}


def _model(levels, parity_size, memory):
    # torch-native: no export pitfall applies (its stride-2 convs pad explicitly, its deconvs crop symmetrically)
    name = "dmphn-" + "-".join(map(str, levels))
    return ModelSpec(name, "dmphn", "deblurkeras.families.dmphn.model:build_dmphn", {"levels": levels},
                     _io(levels), twin="deblurkeras.families.dmphn.twin:DMPHNTorch",
                     params=len(levels) * PAIR_PARAMS, parity_size=parity_size, memory=memory)


def _stack_model(stacks):
    io = ModelIO(in_offset=-SHIFT, out_offset=-SHIFT, multiple=size_multiples(len(STACK_LEVELS)),
                 tiling_caveat=STACK_TILING_CAVEAT)  # output_index -1: the last stack's output is the image
    # torch-native like DMPHN: no export pitfall applies
    return ModelSpec(f"stack-dmphn-{stacks}", "dmphn", "deblurkeras.families.dmphn.model:build_stack_dmphn",
                     {"stacks": stacks, "lv2_residual": LV2_RESIDUAL[0]}, io,
                     twin="deblurkeras.families.dmphn.twin:StackDMPHNTorch",
                     params=stacks * len(STACK_LEVELS) * PAIR_PARAMS, parity_size=(16, 24),
                     memory=STACK_MEMORY[stacks])


# Train-step parity against the official modules and step loop (original.py). Tiny runs: DMPHN 1-2-4, and 3 stacks,
# the smallest where the released lv2 quirk (stack 1's output, not stack k-1's) shows.
TORCH_FLOAT32 = {"steps": 5, "grad": 1e-5, "loss": 2e-5, "change": 4e-5}  # the torch-origin families' float32 test
PARITY = (ParityCase("dmphn", "dmphn-1-2-4-8", tiny_model="dmphn-1-2-4", loss_tol=2e-5, float32=TORCH_FLOAT32,
                     quick=("float64",)),
          ParityCase("stack-dmphn", "stack-dmphn-4", tiny_model="stack-dmphn-3", loss_tol=2e-5))


FAMILY = FamilySpec(
    name="dmphn",
    models=(_model(LEVELS[:3], (16, 24), (598.0, 33.0)), _model(LEVELS, (32, 24), (544.0, 33.0)),
            *(_stack_model(n) for n in STACKS)),
    trainer="deblurkeras.families.dmphn.trainer",
    optimizer="torch",  # torch.optim.Adam(lr=1e-4), eps 1e-8, StepLR(step_size=1000 epochs, gamma=0.1)
    config={
        "model": {"lv2_residual": Choice(LV2_RESIDUAL[0], *LV2_RESIDUAL)},   # Stack-DMPHN only (build_stack_dmphn)
        # GoProDataset: random 256 crops, DataLoader(shuffle=True)
        "data": {"batch_size": 6, "crop": Typed(256, int, None), "val_crop": Typed(256, int, None), "shuffle": True},
        "train": {"total_steps": 1404000, "lr": 1e-4, "schedule": Choice("piecewise", *SCHEDULES),
                  "boundaries": [351000, 702000, 1053000], "factor": 0.1,
                  "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8},
    },
    importers=("deblurkeras.families.dmphn.importer",),
    releases="deblurkeras.families.dmphn.releases",
    configs=("gopro_1_2_4_8", "gopro_stack_dmphn_4"),
    layer_modules=("deblurkeras.families.dmphn.layers",),
    converters=("deblurkeras.families.dmphn.convert",),
    original="deblurkeras.families.dmphn.original",
    parity=PARITY,
    test_runs=(("dmphn-1-2-4", {}),),
    test_builds={"dmphn-1-2-4": {"levels": (1, 2)}},
)
