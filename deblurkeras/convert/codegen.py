"""Keras graph -> readable PyTorch source (model.py) + a state dict, through the converter table.

Each Keras layer becomes one attribute of the same name (made a valid identifier), each Keras call one line of
`forward`, in Keras' own execution order. A nested functional model becomes its own class (identical ones share
it). The module imports torch and the helper file tf_same.py that convert-keras copies beside it.
"""
import dataclasses
import os
import inspect
import keyword
import re
import textwrap

import numpy as np
import torch
from torch import nn

from . import tf_same
from .converters import convert_call
from .graph import is_submodel, read_graph

FORMAT = "deblurkeras-converted/1"
_RESERVED = {"self", "torch", "nn", "F", "x"}


@dataclasses.dataclass
class Generated:
    source: str            # model.py
    class_name: str        # the top-level class
    state: dict            # {torch key: numpy array}
    layer_names: dict      # {attr: keras layer name} of the top-level class
    n_layers: int          # Keras layers converted (all nesting levels)


def identifier(name):
    """A Keras name as a Python identifier: non-word characters -> '_', no leading digit, no keyword."""
    s = re.sub(r"\W", "_", name)
    if not s or s[0].isdigit():
        s = f"l{s}"
    if keyword.iskeyword(s) or s in _RESERVED:
        s += "_"
    return s


def class_name(name):
    parts = [p for p in re.split(r"\W|_", name) if p]
    s = "".join(p[:1].upper() + p[1:] for p in parts) or "Model"
    return s if not s[0].isdigit() else f"Model{s}"


def _unique(name, used):
    out = name
    while out in used or hasattr(nn.Module, out) or hasattr(tf_same.TapModule, out):
        out += "_"
    used.add(out)
    return out


def _shape_text(keras_shape):
    """(N, H, W, C) -> '(N, C, H, W)' for the docstring."""
    dims = ["N" if d is None and i == 0 else ("?" if d is None else str(d)) for i, d in enumerate(keras_shape)]
    if len(dims) >= 3:
        dims = [dims[0], dims[-1]] + dims[1:-1]
    return "(" + ", ".join(dims) + ")"


class _Writer:
    def __init__(self, naive=None):
        self.naive = dict(naive or {})
        self.classes = []          # [token, graph, body], dependencies first; tokens become class names at the end
        self.bodies = {}           # class body -> its entry (identical sub-models share one class)
        self.helpers = {}          # helper class name -> source
        self.names = set()
        self.n_layers = 0

    def convert(self, call):
        layer = call.layer
        self.n_layers += 1
        conv = convert_call(call, self.naive)
        for helper in conv.helpers:
            if helper.__name__ not in self.helpers:
                self.helpers[helper.__name__] = textwrap.dedent(inspect.getsource(helper))
        return conv.code, conv.weights, type(layer).__name__

    def _attribute(self, call):
        """('Constructor(...)  # Keras class', weights) for the attribute holding this call's layer."""
        layer = call.layer
        if is_submodel(layer):
            sub, weights, _ = self.graph_class(read_graph(layer), layer.name)
            return f"{sub}()  # functional sub-model", weights
        code, weights, kind = self.convert(call)
        return code + ("" if code.startswith(kind) else f"  # {kind}"), weights

    @staticmethod
    def _call_line(call, attr, k, var, used):
        """`out = self.attr(a, b)` for the k-th call of the layer; names its outputs in `var`."""
        base = attr if k == 0 else f"{attr}_{k}"
        outs = []
        for j, tid in enumerate(call.outputs):
            # the first call's output is named like its layer (already reserved)
            outs.append(base if j == k == 0 else _unique(base if j == 0 else f"{base}_out{j}", used))
            var[tid] = outs[-1]
        return f"{', '.join(outs)} = self.{attr}({', '.join(var[t] for t in call.inputs)})"

    def graph_class(self, graph, name_hint, top=False):
        """Write the class for `graph`; returns (class name, weights relative to it, {attr: keras name})."""
        attrs, used = {}, set(_RESERVED)   # one namespace: attributes and forward variables
        init, forward, weights, calls, names, var = [], [], {}, {}, {}, {}
        for i, (tid, name, _) in enumerate(graph.inputs):  # sub-models: x, x1, ... so equal ones share a class
            if top:
                var[tid] = _unique(identifier(name), used)
            else:
                var[tid] = "x" if i == 0 else f"x{i}"
                used.add(var[tid])
        for call in graph.calls:
            layer = call.layer
            if id(layer) not in attrs:
                attrs[id(layer)] = attr = _unique(identifier(layer.name), used)
                names[attr] = layer.name
                line, w = self._attribute(call)
                weights.update({f"{attr}.{k}": v for k, v in w.items()})
                init.append(f"self.{attr} = {line}")
            attr = attrs[id(layer)]
            calls.setdefault(attr, []).append(call.node_index)
            forward.append(self._call_line(call, attr, len(calls[attr]) - 1, var, used))
        returns = ", ".join(var[t] for t in graph.outputs)
        renamed = {a: n for a, n in names.items() if a != n}
        reordered = {a: c for a, c in calls.items() if c != list(range(len(c)))}
        params = [var[t] for t, _, _ in graph.inputs]
        body = self._body(params, init, forward, returns, renamed, reordered)
        if body in self.bodies and not top:
            entry = self.bodies[body]
            entry[1].append(graph)
            return entry[0], weights, names
        entry = [f"__class{len(self.classes)}__", [graph], body, top]
        self.bodies[body] = entry
        self.classes.append(entry)
        return entry[0], weights, names

    def class_sources(self):
        """Name each class after its Keras model (the common prefix when several share it) and write them out."""
        sources, renames = [], {}
        for token, graphs, body, top in self.classes:
            names = [g.name for g in graphs]
            hint = os.path.commonprefix(names) if len(names) > 1 else names[0]
            cname = _unique(class_name(hint if len(hint) >= 3 else names[0]), self.names)
            renames[token] = cname
            sources.append(f"class {cname}(TapModule):\n{self._doc(graphs, top)}{body}")
        text = "\n\n".join(sources)
        for token, cname in renames.items():
            text = text.replace(token, cname)
        return text, renames

    @staticmethod
    def _doc(graphs, top):
        g = graphs[0]
        ins = ", ".join(f"{name} {_shape_text(shape)}" for _, name, shape in g.inputs)
        if top:
            return f'    """Keras model {g.name!r}: inputs {ins}; {len(g.outputs)} output(s)."""\n\n'
        models = ", ".join(repr(x.name) for x in graphs)
        return f'    """Keras functional sub-model(s) {models}: input {ins}; {len(g.outputs)} output(s)."""\n\n'

    @staticmethod
    def _body(params, init, forward, returns, renamed, reordered):
        lines = []
        if renamed:
            lines.append(_wrap_dict("KERAS_NAMES", renamed))
        if reordered:
            lines.append(_wrap_dict("KERAS_CALLS", reordered))
        if lines:
            lines.append("")
        params = ", ".join(["self"] + params)
        lines += ["    def __init__(self):", "        super().__init__()"]
        lines += [f"        {s}" for s in init]
        lines += ["", f"    def forward({params}):"]
        lines += [f"        {s}" for s in forward]
        lines.append(f"        return {returns}")
        return "\n".join(lines) + "\n"


def _wrap_dict(name, d):
    items = [f"{k!r}: {v!r}" for k, v in d.items()]
    text = f"    {name} = {{" + ", ".join(items) + "}"
    if len(text) <= 116:
        return text
    return f"    {name} = {{\n" + "".join(f"        {i},\n" for i in items) + "    }"


_HEADER = '''"""PyTorch port of the Keras model {name!r}, written by `deblurkeras convert-keras`.

Channels first: a Keras (N, H, W, C) tensor is (N, C, H, W) here. Attributes are the Keras layers (same names),
`forward` makes the Keras calls in Keras' order. TF-exact padding / resize live in tf_same.py beside this file.
Weights: model.safetensors beside this file; `load()` returns the ready model.
"""
import torch
import torch.nn.functional as F  # noqa: F401
from torch import nn  # noqa: F401

try:  # imported as a package (deblurkeras.convert.load_torch)
    from .tf_same import {names}
except ImportError:  # this directory on sys.path
    from tf_same import {names}
'''

_FOOTER = '''

MODEL = {cls}


def load(directory=None):
    """{cls} with the weights of model.safetensors in `directory` (default: beside this file), in eval mode."""
    import os
    from safetensors.torch import load_file
    directory = directory or os.path.dirname(os.path.abspath(__file__))
    model = {cls}()
    model.load_state_dict(load_file(os.path.join(directory, "model.safetensors")))
    return model.eval()
'''


def generate(model, naive=None):
    """Generated source + state dict for a Keras functional / Sequential model."""
    w = _Writer(naive)
    token, weights, names = w.graph_class(read_graph(model), model.name, top=True)
    classes, renames = w.class_sources()
    cls = renames[token]
    body = "\n\n".join(list(w.helpers.values()) + [classes])
    public = [n for n in _tf_same_names() if re.search(rf"\b{n}\(", body)]  # the names it calls
    names_text = ", ".join(["TapModule"] + [n for n in public if n != "TapModule"])
    source = _HEADER.format(name=model.name, names=names_text) + "\n\n" + body + _FOOTER.format(cls=cls)
    return Generated(source, cls, weights, names, w.n_layers)


def _tf_same_names():
    skip = {"contextlib", "operator", "torch", "nn", "F"}
    return [n for n in vars(tf_same) if not n.startswith("_") and n not in skip]


def to_torch_state(state):
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}
