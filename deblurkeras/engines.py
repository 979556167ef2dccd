"""Inference engines of deblur / eval / upscale: keras (the default, the faithful reference), onnxruntime, openvino.

`--engine onnxruntime|openvino --weights M.onnx` runs a file written by `deblurkeras export-onnx` (its metadata
names the model, so the registry's value range, multiples, channels and scale apply) through the same code path as
Keras: the same padding to the model's multiples, tiling, memory budget (the Keras-calibrated estimate), uint8
conventions and progress bars; only the forward pass changes (`predict_nhwc`). The runtimes are optional extras:
`pip install 'deblurkeras[onnx]'` / `'deblurkeras[openvino]'`; a missing one is a one-line error naming it.

Trust: an .onnx file is checked against what its metadata claims before the first image (`check_graph`,
`check_external_data`, `probe`): the model's multiples, scale and channels as the registry has them, one input and
the image output with the right ranks, weights kept inside the file or beside it (never `../x`, `/etc/passwd` or a
symlink out of its folder), no initializer over 2^28 elements, and a probe run whose output has the size the claimed
model gives. A file that lies about any of it is refused in one line (issue 31, item 4); a file that claims one
deblurring model and holds another of the same scale and sizes still runs: the graph cannot tell that apart.

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
        io_ = registry.model_io(self.model_name)
        self.multiples = check_metadata(self.path, meta, io_)
        self.scale, self.channels = int(io_.scale), int(io_.channels)
        proto = load_proto(self.path)
        check_external_data(self.path, proto)
        check_graph(self.path, proto, self.model_name, self.channels)
        del proto
        self.precision = self._precision(precision, announce)
        self.dtype_policy_name = f"{engine} {self.precision}"
        try:  # the runtimes refuse hostile files themselves, with multi-line messages: one line here
            self._run = self._ort(threads) if engine == "onnxruntime" else self._openvino(threads)
        except DeblurKerasError:
            raise
        except Exception as err:  # noqa: BLE001 - onnxruntime Fail / InvalidGraph, OpenVINO's RuntimeError
            raise BadInputError(f"{self.path}: {engine} cannot load this ONNX file ({_short(err)})") from None
        self.probe()

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

    def probe(self):
        """Run a small zero image of the claimed model's multiples and compare the output's size with what that
        model gives (H*scale x W*scale, the same channels): a x1 graph labelled x4, or an SR graph labelled as a
        deblurring model, is refused here, before the first image."""
        mh, mw = self.multiples
        h, w = mh * -(-PROBE_SIDE // mh), mw * -(-PROBE_SIDE // mw)
        x = np.zeros((1, self.channels, h, w), np.float32)
        try:
            y = np.asarray(self._run(x))
        except Exception as err:  # noqa: BLE001 - any runtime failure on a size the claimed model accepts
            raise BadInputError(f"{self.path}: the graph fails on a {h}x{w} (HxW) probe that {self.model_name} accepts "
                                f"({_short(err)}); not the model its metadata names") from None
        want = (1, self.channels, h * self.scale, w * self.scale)
        if tuple(y.shape) != want:
            raise BadInputError(f"{self.path}: metadata says {self.model_name} (x{self.scale}, {self.channels} "
                                f"channels) but the graph turns a {h}x{w} (HxW) probe into {tuple(y.shape)}, "
                                f"not {want}: the file is not the model it names")

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
            h, w = batch.shape[1:3]
            raise DeblurKerasError(f"{self.path}: {self.engine} failed on a {h}x{w} (HxW) input ({_short(err)})"
                                   f"{runtime_hint(err)}") from None
        return np.ascontiguousarray(y.transpose(0, 2, 3, 1))


PROBE_SIDE = 32            # the probe image: the smallest multiple of the model's multiples at least this side
MAX_MULTIPLE = 4096        # a model's size multiple beyond this is not a real one
MAX_INITIALIZER_ELEMENTS = 1 << 28  # 1 GiB of float32; the largest weight of these models is 18.9M elements


def runtime_hint(err):
    """What to try after a runtime failure: a smaller memory plan only when the runtime ran out of memory; a shape
    the graph refuses (a file exported for one size, a Split sized at export) is not helped by tiles."""
    text = str(err).lower()
    if any(word in text for word in ("bad_alloc", "failed to allocate", "out of memory", "cannot allocate")):
        return "; the runtime ran out of memory: try a smaller --max-memory or --tile"
    if any(word in text for word in ("shape", "dimension", "split", "reshape", "size")):
        return ("; the graph does not accept this size (was it exported for one size only? `deblurkeras "
                "export-onnx` writes files that run at any size of the model's multiples)")
    return ""


def _short(err):
    from .errors import first_line
    return first_line(err)[:200]


def check_metadata(path, meta, io_):
    """The metadata's multiples, scale and channels are well-formed and those of the model it names: returns the
    multiples. `[0, 0]`, `junk`, `[8]` and a lie each give one line naming the file."""
    raw = meta.get("multiples", "[1, 1]")
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not (isinstance(value, list) and len(value) == 2
            and all(type(v) is int and 1 <= v <= MAX_MULTIPLE for v in value)):
        raise BadInputError(f"{path}: metadata multiples {raw[:40]!r} is not [H, W] of integers from 1 to "
                            f"{MAX_MULTIPLE}")
    claims = {"multiples": tuple(value), "scale": meta.get("scale", str(io_.scale)),
              "channels": meta.get("channels", str(io_.channels))}
    truth = {"multiples": tuple(io_.multiples), "scale": str(io_.scale), "channels": str(io_.channels)}
    for key in claims:
        if claims[key] != truth[key]:
            raise BadInputError(f"{path}: metadata {key} {claims[key]} is not that of {meta['model']} "
                                f"({truth[key]}): the file was not written for the model it names")
    return tuple(value)


def load_proto(path):
    """The ONNX file's graph, without its external data (nothing outside the file is read)."""
    from .convert.onnx_export import require
    onnx = require("onnx")
    try:
        return onnx.load(os.fspath(path), load_external_data=False)
    except Exception as err:  # noqa: BLE001 - protobuf's DecodeError and friends
        raise BadInputError(f"{path}: not a readable ONNX file ({_short(err)})") from None


def _tensors(graph):
    """Every tensor stored in a graph: initializers, sparse initializers, Constant values, subgraphs' too."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("g"):
                yield from _tensors(attr.g)
            for g in attr.graphs:
                yield from _tensors(g)


def check_external_data(path, proto):
    """Refuse tensors declaring more than MAX_INITIALIZER_ELEMENTS, and external data that is not a plain file in
    the model's own folder: an absolute path, `..`, a symlink, or a path leaving the folder by any other way."""
    folder = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    for t in _tensors(proto.graph):
        n = int(np.prod([int(d) for d in t.dims], dtype=object)) if len(t.dims) else 1
        if n > MAX_INITIALIZER_ELEMENTS:
            raise BadInputError(f"{path}: tensor {t.name!r} declares {list(t.dims)} = {n:,} elements (more than "
                                f"{MAX_INITIALIZER_ELEMENTS:,}); refused before loading")
        if t.data_location != 1:  # TensorProto.EXTERNAL
            continue
        loc = {e.key: e.value for e in t.external_data}.get("location", "")
        full = os.path.join(folder, loc)
        inside = os.path.realpath(full).startswith(folder + os.sep)
        if not loc or os.path.isabs(loc) or ".." in loc.replace("\\", "/").split("/") or os.path.islink(full) \
                or not inside:
            raise BadInputError(f"{path}: tensor {t.name!r} keeps its data at {loc!r}, outside the model's folder "
                                f"(or through a link); refused: external data must be a plain file beside the model")


def check_graph(path, proto, model_name, channels):
    """One graph input (the image, rank 4, `channels` where fixed) and the image output (rank 4)."""
    from .convert.onnx_export import INPUT, OUTPUT
    stored = {t.name for t in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in stored]
    outputs = {o.name: o for o in proto.graph.output}

    def dims(value_info):
        shape = value_info.type.tensor_type.shape
        return [d.dim_value if d.HasField("dim_value") else None for d in shape.dim] \
            if value_info.type.tensor_type.HasField("shape") else None

    if [i.name for i in inputs] != [INPUT]:
        raise BadInputError(f"{path}: graph inputs {[i.name for i in inputs][:4]}, not the one image input "
                            f"{INPUT!r} of a `deblurkeras export-onnx` file of {model_name}")
    if OUTPUT not in outputs:
        raise BadInputError(f"{path}: no graph output {OUTPUT!r} (has {list(outputs)[:4]}): not a `deblurkeras "
                            f"export-onnx` file of {model_name}")
    for what, info in (("input", inputs[0]), ("output", outputs[OUTPUT])):
        d = dims(info)
        if d is not None and (len(d) != 4 or d[1] not in (None, 0, channels)):
            raise BadInputError(f"{path}: graph {what} {info.name!r} has shape {d}, not (N, {channels}, H, W) of "
                                f"{model_name}")


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
    from .releases import is_release_name
    if is_release_name(os.fspath(weights)):  # a release is the original's weights, not a graph: export it first
        stem = os.fspath(weights).replace(":", "-")
        raise BadInputError(f"{weights}: a release holds weights, not an ONNX graph; export it once "
                            f"(`deblurkeras export-onnx --weights {weights} --out {stem}.onnx`), then pass "
                            f"--engine {engine} --weights {stem}.onnx")
    model = OnnxEngine(weights, engine, precision, announce)
    if model_name is not None and model_name != model.model_name:
        raise BadInputError(f"{weights}: holds {model.model_name}, not --model {model_name}")
    if allowed is not None and model.model_name not in allowed:
        raise BadInputError(f"{weights}: holds {model.model_name}, expected one of {', '.join(allowed)}")
    return model, model.model_name
