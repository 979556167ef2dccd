"""`deblurkeras <verb>`: one entry point, each verb implemented in its own module.

A verb module provides `add_arguments(parser)` and `run(args) -> int` (exit status). Modules are imported only
when their verb runs, so `deblurkeras --help` stays fast. User errors (DeblurKerasError, FileNotFoundError)
are printed on one line and give a non-zero exit status.
"""
import argparse
import importlib
import sys

# verb -> (module, one-line help)
VERBS = {
    "build-hdf5": ("deblurkeras.data.build", "build the HDF5 dataset from side-by-side / GoPro / paired images"),
    "train": ("deblurkeras.training.cli", "train a model from a YAML config"),
    "eval": ("deblurkeras.evaluate", "PSNR/SSIM of a model on an HDF5 file or a folder of pairs"),
    "deblur": ("deblurkeras.inference", "deblur images or folders with a trained model"),
    "upscale": ("deblurkeras.inference_sr", "x4 super-resolution with SRResNet / SRGAN"),
    "import-tf1": ("deblurkeras.families.srn.importer", "import an original SRN-Deblur TF1 checkpoint"),
    "import-torch": ("deblurkeras.checkpoints.torch_import", "import original PyTorch checkpoints (DMPHN, SRResNet, SRGAN)"),
    "import-keras2": ("deblurkeras.families.dense_gan.importer", "import weights saved by the original Keras 2 dense-field GAN"),
    "export-torch": ("deblurkeras.convert.cli", "export to PyTorch (safetensors) with a per-layer parity report"),
    "convert-keras": ("deblurkeras.convert.keras_to_torch", "any Keras functional model -> readable PyTorch model.py + "
                      "weights + parity report"),
    "compare": ("deblurkeras.convert.compare_cli", "per-layer diff of a Keras model against any PyTorch module, "
                "with the likely cause of the first divergence"),
    "demo": ("deblurkeras.demo", "the main job: synthetic data -> train -> evaluate -> pictures"),
}


def _load(verb):
    return importlib.import_module(VERBS[verb][0])


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="deblurkeras", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb, (_, help_text) in VERBS.items():
        sub.add_parser(verb, help=help_text, add_help=False)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in VERBS:
        parser.print_help() if (not argv or argv[0] in ("-h", "--help")) else parser.error(f"unknown verb {argv[0]!r}")
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    verb = argv[0]
    module = _load(verb)
    vparser = argparse.ArgumentParser(prog=f"deblurkeras {verb}", description=VERBS[verb][1])
    module.add_arguments(vparser)
    args = vparser.parse_args(argv[1:])
    from .errors import DeblurKerasError
    try:
        return int(module.run(args) or 0)
    except (DeblurKerasError, FileNotFoundError, IsADirectoryError, PermissionError) as e:
        print(f"deblurkeras {verb}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"deblurkeras {verb}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
