"""Read a Keras 3 functional (or built Sequential) model as a list of layer calls in topological order.

One `Call` per Keras node: the layer, the node's index among the layer's calls (what parity rows are keyed by,
`enc2_1@1` = second call), and the ids of its input and output tensors. A nested functional model is one call
whose `layer` is that model; `read_graph` reads it too when the code generator asks.
"""
import dataclasses

from ..errors import DeblurKerasError


class UnsupportedModelError(DeblurKerasError):
    """The model is not a functional / Sequential graph (e.g. a subclassed keras.Model)."""


@dataclasses.dataclass
class Call:
    layer: object
    node_index: int              # index of this node in layer._inbound_nodes
    inputs: list                 # ids of the flattened input KerasTensors, in call order
    outputs: list                # ids of the output KerasTensors
    input_shapes: list           # Keras (channels-last) shapes, batch first
    output_shapes: list
    node: object = None

    @property
    def name(self):
        return self.layer.name


@dataclasses.dataclass
class Graph:
    name: str
    inputs: list                 # [(tensor id, input name, keras shape)]
    calls: list                  # [Call] in execution order
    outputs: list                # output tensor ids
    model: object = None


def functional(model):
    """The functional graph behind `model` (a built Sequential wraps one); a clear error otherwise."""
    import keras
    if isinstance(model, keras.Sequential):
        fn = getattr(model, "_functional", None)
        if fn is None:
            raise UnsupportedModelError(f"Sequential model {model.name!r} is not built: give it an Input or call "
                                        "build(input_shape) before converting")
        return fn
    if not hasattr(model, "_nodes_by_depth"):
        raise UnsupportedModelError(f"model {model.name!r} ({type(model).__name__}) is a subclassed keras.Model "
                                    "without a graph; only functional and Sequential models can be converted")
    return model


def is_submodel(layer):
    import keras
    return isinstance(layer, keras.Model) and (isinstance(layer, keras.Sequential) or hasattr(layer, "_nodes_by_depth"))


def _shape(t):
    return tuple(t.shape)


def read_graph(model):
    """Graph of `model`: its calls in the order Keras itself runs them (deepest node first)."""
    fn = functional(model)
    in_tensors = list(fn.inputs)
    inputs = [(id(t), _input_name(t, i), _shape(t)) for i, t in enumerate(in_tensors)]
    known = {i for i, _, _ in inputs}
    calls = []
    for depth in sorted(fn._nodes_by_depth, reverse=True):
        for node in fn._nodes_by_depth[depth]:
            if not node.operation or node.is_input:
                continue
            ins = [id(t) for t in node.input_tensors]
            if any(i not in known for i in ins):
                continue  # not reachable from the inputs (Keras skips it too)
            layer = node.operation
            nodes = getattr(layer, "_inbound_nodes", [node])
            index = next((k for k, n in enumerate(nodes) if n is node), 0)
            calls.append(Call(layer, index, ins, [id(t) for t in node.outputs],
                              [_shape(t) for t in node.input_tensors], [_shape(t) for t in node.outputs], node))
            known.update(id(t) for t in node.outputs)
    outputs = [id(t) for t in fn.outputs]
    missing = [o for o in outputs if o not in known]
    if missing:
        raise UnsupportedModelError(f"model {model.name!r}: {len(missing)} output(s) not connected to the inputs")
    return Graph(model.name, inputs, calls, outputs, model)


def _input_name(tensor, index):
    history = getattr(tensor, "_keras_history", None)
    layer = history[0] if history else None
    return getattr(layer, "name", None) or f"input_{index}"
