"""Inference engines of deblur / eval / upscale: keras (the default, the faithful reference), onnxruntime, openvino.

`--engine onnxruntime|openvino --weights M.onnx` runs a file written by `deblurkeras export-onnx` (its metadata
names the model, so the registry's value range, multiples, channels and scale apply) through the same code path as
Keras: the same padding to the model's multiples, tiling, memory budget (the Keras-calibrated estimate), uint8
conventions and progress bars; only the forward pass changes (`predict_nhwc`). The runtimes are optional extras:
`pip install 'deblurkeras[onnx]'` / `'deblurkeras[openvino]'`; a missing one is a one-line error naming it.

Precision: onnxruntime computes float32. OpenVINO's CPU plugin picks bf16 by itself on CPUs that have it, so
float32 is asked for explicitly (INFERENCE_PRECISION_HINT f32); `--precision bfloat16` sets the hint to bf16 where
the CPU computes it natively (avx512_bf16 / amx_bf16), else says so and stays f32; `auto` picks by the same test.
"""
import json
import os

import numpy as np

from .errors import BadInputError, DeblurKerasError

ENGINES = ("keras", "onnxruntime", "openvino")


def add_argument(parser):
    parser.add_argument("--engine", choices=ENGINES, default="keras",
                        help="keras (default: the faithful reference, --weights = Keras / original weights), or "
                             "onnxruntime / openvino running a file from `deblurkeras export-onnx` given as --weights")


class OnnxEngine:
    """An exported .onnx file behind the one call the inference code needs: predict_nhwc(NHWC float32 batch)."""

    def __init__(self, path, engine="onnxruntime", precision="float32", announce=None, threads=None):
        from .convert.onnx_export import FORMAT, read_metadata, require
        from . import registry
        self.path, self.engine = os.fspath(path), engine
        if not os.path.isfile(self.path):
            raise BadInputError(f"{self.path}: no such file")
        require("onnxruntime" if engine == "onnxruntime" else "openvino")
        meta = read_metadata(self.path)
        if meta.get("format") != FORMAT or meta.get("model") not in registry.model_names(image_only=True):
            raise BadInputError(f"{self.path}: not a file written by `deblurkeras export-onnx` "
                                f"(metadata format {meta.get('format')!r})")
        self.meta, self.model_name = meta, meta["model"]
        self.multiples = tuple(int(v) for v in json.loads(meta.get("multiples", "[1, 1]")))
        self.precision = self._precision(precision, announce)
        self.dtype_policy_name = f"{engine} {self.precision}"
        self._run = self._ort(threads) if engine == "onnxruntime" else self._openvino(threads)

    def _precision(self, name, announce):
        from . import precision as prec
        name = "float32" if name is None else name
        if self.engine == "onnxruntime":
            if name == "bfloat16":
                raise BadInputError("--engine onnxruntime computes float32; use --engine openvino (or keras) for "
                                    "--precision bfloat16")
            return "float32"
        native, why = prec.detect()
        if name == "auto":
            name = "bfloat16" if native else "float32"
            if announce:
                announce(f"precision auto -> {name} on openvino: {why}")
        elif name == "bfloat16" and not native:
            if announce:
                announce(f"precision bfloat16: {why}; OpenVINO runs f32")
            name = "float32"
        elif name == "bfloat16" and announce:
            announce(f"precision bfloat16: OpenVINO INFERENCE_PRECISION_HINT bf16 ({why})")
        return name

    def _ort(self, threads):
        from .convert.onnx_export import INPUT, OUTPUT, ort_session
        sess = ort_session(self.path, threads)
        return lambda x: sess.run([OUTPUT], {INPUT: x})[0]

    def _openvino(self, threads):
        ov = __import__("openvino")
        core = ov.Core()
        config = {"INFERENCE_PRECISION_HINT": "bf16" if self.precision == "bfloat16" else "f32"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        compiled = core.compile_model(core.read_model(self.path), "CPU", config)
        out = compiled.output(0)
        request = compiled.create_infer_request()
        return lambda x: np.array(request.infer({0: x})[out], dtype=np.float32, copy=True)

    def check_size(self, h, w):
        mh, mw = self.multiples
        if h % mh or w % mw:
            raise BadInputError(f"{self.path}: {self.model_name} runs on sizes that are multiples of {mh}x{mw}, "
                                f"got {h}x{w}")

    def predict_nhwc(self, batch):
        """(N, H, W, C) float32 in the model's range -> (N, H*s, W*s, C) float32 (the image output)."""
        self.check_size(*batch.shape[1:3])
        try:
            y = self._run(np.ascontiguousarray(np.asarray(batch, np.float32).transpose(0, 3, 1, 2)))
        except Exception as err:  # noqa: BLE001 - onnxruntime Fail / InvalidArgument (plain Exception), OpenVINO
            from .errors import first_line
            raise DeblurKerasError(f"{self.path}: {self.engine} failed at {batch.shape[2]}x{batch.shape[1]} "
                                   f"({first_line(err)[:200]}); try a smaller --max-memory or --tile") from None
        return np.ascontiguousarray(y.transpose(0, 2, 3, 1))


def load(engine, weights, model_name, precision, keras_loader, announce=None, allowed=None):
    """(model or engine, registered name) for the inference verbs. `keras_loader()` loads the Keras model; the other
    engines read the .onnx file `weights`. `allowed`: the model names the verb accepts (upscale: the SR models)."""
    from . import precision as prec
    from .registry import model_identity
    if engine in (None, "keras"):
        if os.fspath(weights).endswith(".onnx"):
            raise BadInputError(f"{weights}: an ONNX file; run it with --engine onnxruntime or --engine openvino")
        model = prec.build(keras_loader, precision, announce)
        return model, model_name or model_identity(model)["model"]
    if engine not in ENGINES:
        raise BadInputError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")
    model = OnnxEngine(weights, engine, precision, announce)
    if model_name is not None and model_name != model.model_name:
        raise BadInputError(f"{weights}: holds {model.model_name}, not --model {model_name}")
    if allowed is not None and model.model_name not in allowed:
        raise BadInputError(f"{weights}: holds {model.model_name}, expected one of {', '.join(allowed)}")
    return model, model.model_name
