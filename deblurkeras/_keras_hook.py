"""Register the families' custom Keras layers as soon as Keras is imported, without importing Keras ourselves.

`import deblurkeras; keras.saving.load_model("srn.keras")` must work (safe_mode looks classes up in Keras' registry,
filled only when the defining module runs), yet `import deblurkeras` stays cheap: TensorFlow is not imported for
`deblurkeras --help` or by the HDF5 builder's workers. So: if Keras is already imported, register now; otherwise a
one-shot import hook registers right after Keras' own module has finished executing. The hook (`OneShot`) also
serves deblurkeras/_quiet.py.
"""
import importlib.abc
import importlib.util
import sys


def _register():
    try:
        from .registry import register_keras_layers
        register_keras_layers()
    except Exception:  # noqa: BLE001 - never break the user's `import keras`; model modules register on use anyway
        pass


class _Loader(importlib.abc.Loader):
    def __init__(self, inner, run):
        self.inner, self.run = inner, run

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module):
        self.run(self.inner.exec_module, module)


class OneShot(importlib.abc.MetaPathFinder):
    """The first import of module `name` executes as `run(exec_module, module)`; then the hook is gone."""

    def __init__(self, name, run):
        self.name, self.run = name, run

    def find_spec(self, name, path=None, target=None):
        if name != self.name:
            return None
        sys.meta_path.remove(self)          # one shot; also keeps find_spec below from finding us again
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader, self.run)
        return spec


def installed(name):
    return [f for f in sys.meta_path if isinstance(f, OneShot) and f.name == name]


def _then_register(exec_module, module):
    exec_module(module)
    _register()


def install():
    if "keras" in sys.modules:
        _register()
    elif not installed("keras"):
        sys.meta_path.insert(0, OneShot("keras", _then_register))
