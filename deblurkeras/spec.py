"""What a model family is: the one place that says which models it has and how they are used.

A family spec is plain data (no TensorFlow, no torch), so the CLI, the converter's PyTorch side and the tests can read
it cheaply. Code is named by "module:attribute" strings and imported only when needed.
"""
import dataclasses
import importlib

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SCHEDULES = ("polynomial", "constant", "piecewise", "time_polynomial")  # train.schedule (training.schedules)
VGG_PREPROCESS = (False, True, "caffe", "torch", "auto")                 # loss.vgg_preprocess (losses)


@dataclasses.dataclass(frozen=True)
class ModelIO:
    """How an RGB image in [0, 1] becomes the model input, and the output goes back to [0, 1].

        model_in = x01 * in_scale + in_offset        (per channel for tuples; SRResNet uses ImageNet mean/std)
        x01_out  = (model_out - out_offset) / out_scale
    `multiple`: (H, W) must be multiples of these (inference edge-pads bottom/right and crops back); an int means
        both axes. DMPHN 1-2-4-8 needs 16 for H but only 8 for W, as the original.
    `transpose`: portrait images run transposed (only SRN's official test script does this).
    `channels`: 1 for the gray SRN models (an RGB image runs as a batch of 3 one-channel images).
    `output_index`: which output is the image when the model returns a list (SRN: the finest, -1).
    `scale`: the upscaling factor (super-resolution), 1 for deblurring.
    `tiling_caveat`: said (one line) whenever such a model runs in tiles, where tiling changes more than seams.
    """
    in_scale: object = 1.0
    in_offset: object = 0.0
    out_scale: float = 1.0
    out_offset: float = 0.0
    multiple: object = 1
    channels: int = 3
    output_index: int = -1
    scale: int = 1
    transpose: bool = False
    image: bool = True          # False: not an image-to-image model (a discriminator), no deblur/eval/upscale
    tiling_caveat: str = ""

    @property
    def multiples(self):
        """(mh, mw)."""
        m = self.multiple
        return (int(m), int(m)) if isinstance(m, int) else (int(m[0]), int(m[1]))


UNIT = ModelIO()                                                                      # [0, 1] in and out
SIGNED = ModelIO(in_scale=2.0, in_offset=-1.0, out_scale=2.0, out_offset=-1.0)      # [-1, 1] in and out


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One registered model: CLI name, Keras builder + its keyword arguments, I/O convention, PyTorch twin, and the
    figures its tests hold it to.

    `params`: Keras count_params() with the registered defaults (every weight, BN moving statistics included);
    `fixed`: of those, the non-trainable ones (BN moving mean / variance), so `trainable` = torch's parameter count;
    `parity_size`: a small (H, W) the model accepts, for the export parity check of the contract test;
    `pitfalls`: the hand-port pitfalls (deblurkeras.convert.torch_layers.PITFALLS, `--naive`) that change its
        numbers; every other pitfall must leave its parity report unchanged;
    `memory`: (bytes of peak RSS, largest tensor's elements) per padded input pixel, what deblurkeras.memory plans
        tiles with; measured by `python -m experiments.calibrate_memory` (random weights: peak RSS does not depend
        on them) at three sizes. None for a model that does not run on images.
    """
    name: str
    family: str
    builder: str                # "module:function" building the Keras model from `defaults`
    defaults: dict
    io: ModelIO
    twin: str = None            # "module:Class" of the pure-PyTorch twin, built with the same keyword arguments
    params: int = None
    fixed: int = 0
    parity_size: tuple = None
    pitfalls: frozenset = frozenset()
    memory: tuple = None

    @property
    def trainable(self):
        return None if self.params is None else self.params - self.fixed

    @property
    def module(self):
        return self.builder.split(":")[0]

    def build(self, **overrides):
        return resolve(self.builder)(**{**self.defaults, **overrides})


@dataclasses.dataclass(frozen=True)
class ParityCase:
    """One train-step parity case (deblurkeras.training.step_parity): the family's trainer against its restatement
    of the original's training step (the family's `original` module), from the same weights on the same real crops.

    `model` / `tiny_model`: the registered model trained at full size / in tiny runs (the tests'; default `model`);
    `config`: overrides of the family's config (section -> {key: value}); `tiny_config`: more in tiny runs;
    `tiny_builds`: registered model -> builder overrides in tiny runs (for models the trainer builds by name);
    `data`: what both sides train on: "deblur" (blurred, sharp) crops in [0, 1], "signed" the same in [-1, 1],
        "sr" (LR = bicubic /4 of the sharp crop, HR);
    `options`: passed on to the family's `describe` (e.g. SRN's ConvLSTM);
    `loss_tol`: the float32 target for the loss (relative);
    `float32`: the float32 test's run and bounds {"steps", "grad", "loss", "change"} (tests/test_train_parity.py;
        None: no float32 test); `quick`: which of the tests' runs ("float32", "float64") are cheap enough for the
        default test set (the others are marked slow).
    """
    name: str
    model: str
    tiny_model: str = None
    config: dict = dataclasses.field(default_factory=dict)
    tiny_config: dict = dataclasses.field(default_factory=dict)
    tiny_builds: dict = dataclasses.field(default_factory=dict)
    data: str = "deblur"
    options: dict = dataclasses.field(default_factory=dict)
    loss_tol: float = 1e-5
    float32: dict = None
    quick: tuple = ()


@dataclasses.dataclass(frozen=True)
class FamilySpec:
    """A family: its models, its trainer module, its importers and its training conventions.

    `trainer`: module providing build_trainer(cfg) (see deblurkeras.training.contract);
    `config`: the family's config defaults (the original's), section -> {key: default}; merged over the
        family-independent base of deblurkeras.training.config. A default's type is the type a value must have;
        `Typed` / `Choice` say more where the default alone cannot (None defaults, named options);
    `optimizer`: whose Adam the original used, rounding included (deblurkeras.training.optimizers): "tf1"
        (tf.compat.v1.train.AdamOptimizer), "keras2" (Keras 2's Adam), "torch" (torch.optim.Adam: eps added to
        sqrt(v_hat)) or "keras" (Keras 3's own);
    `importers`: modules reading original checkpoints, each with accepts(path) and import_weights(path, model=None,
        model_name=None) -> (model, name) (see deblurkeras.weights);
    `configs`: shipped YAML configs, name -> file inside the family's configs/ folder;
    `releases`: module holding the family's released weights as plain data (RELEASES, FILES, REPO, COMMIT, URLS,
        LICENSE, IMPORTER), read by deblurkeras.releases; None when the original released none.
    `data_sources`: words `data.path` may hold instead of a file or folder (sr: "skimage", the bundled photos), so
        the runner's early check (deblurkeras.training.preflight) does not look for them on disk.
    `original`: the module restating the original (PyTorch modules, TF1 graph or Keras-2 loop: imported only by tests
        and experiments) with describe() and run_reference() for its `parity` cases (ParityCase);
    `test_runs`: (model, config overrides) per model whose trainer differs: what makes a run through the real runner
        tiny (tests/tiny_trainers.py); `test_builds`: registered model -> builder overrides that make it tiny there.
    """
    name: str
    models: tuple
    trainer: str = None
    config: dict = dataclasses.field(default_factory=dict)
    optimizer: str = "keras"
    importers: tuple = ()
    configs: tuple = ()
    layer_modules: tuple = ()   # modules whose import registers the family's custom Keras layers
    converters: tuple = ()      # modules whose import registers its layers' PyTorch converters (deblurkeras.convert)
    verbs: dict = dataclasses.field(default_factory=dict)  # CLI verbs of its own: verb -> ("module", one-line help)
    releases: str = None        # module of the released-weights catalogue (deblurkeras.releases)
    data_sources: tuple = ()
    original: str = None
    parity: tuple = ()
    test_runs: tuple = ()
    test_builds: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Typed:
    """A config default whose type the value alone cannot say: `Typed(None, float)` = None or a number;
    `Typed(256, int, None)` = an int, None allowed. The config loader replaces it by `default`."""
    default: object
    types: tuple

    def __init__(self, default, *types):
        object.__setattr__(self, "default", default)
        object.__setattr__(self, "types", tuple(types))


@dataclasses.dataclass(frozen=True)
class Choice:
    """A config default limited to named options: `Choice("original", "original", "combined")`."""
    default: object
    options: tuple

    def __init__(self, default, *options):
        if default not in options:
            raise ValueError(f"default {default!r} is not one of {options}")
        object.__setattr__(self, "default", default)
        object.__setattr__(self, "options", tuple(options))


def resolve(ref):
    """"package.module:attr" -> the object (imports the module)."""
    module, _, attr = ref.partition(":")
    obj = importlib.import_module(module)
    return getattr(obj, attr) if attr else obj
