"""deblurkeras: faithful Keras 3 ports of classic deblurring / super-resolution models and their tooling.

Layout. A model family is one folder, `families/<f>/` (srn, dense_gan, dmphn, sr), and holds everything about its
models: the spec in its `__init__.py` (a plain-data FamilySpec: model names and builders, I/O conventions, the
figures each model is held to, config defaults, optimizer semantics, and which modules are its layers, converters,
importers, trainer and CLI verbs), the Keras model and layers, the pure-PyTorch twin, the converters of its layers,
the importer of the original's weights, the trainer and the shipped configs. `registry` is built from the specs
(`spec` holds the plain-data types; `families` hands both on). The packages around the families serve any of them,
name none and import the registry, never a family: `weights` (the one strict loader), `importers` (what importers
share, and the `import` verb), `layers` (shared Keras layers), `convert` (Keras -> PyTorch export, parity, the
converter hook the families fill), `training` (config, contract, loop, checkpoints of a run), `data` (HDF5 building
and tf.data pipelines), `inference`, `evaluate`, `cli`. Data flows one way: images -> data -> training -> weights ->
inference / evaluate / convert.

Importing the package is cheap: TensorFlow is imported by the submodules that need it, torch never here. Once
Keras is imported (by anyone), the families' custom layers are registered, so `keras.saving.load_model` finds them.
"""
import os

# The models use TensorFlow ops (TF1 legacy resize, depth_to_space); pin the backend before keras is imported.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
_user_tf_log_level = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

from .errors import DeblurKerasError, WeightsMismatchError, BadInputError  # noqa: E402,F401
from ._keras_hook import install as _install_keras_hook  # noqa: E402

from ._quiet import install as _install_quiet_tensorflow  # noqa: E402
from .privacy import no_telemetry as _no_telemetry  # noqa: E402

_no_telemetry()  # ONNX Runtime's and OpenVINO's telemetry off before either loads (deblurkeras/privacy.py)

_install_quiet_tensorflow(_user_tf_log_level)  # TF's start-up lines off the terminal (deblurkeras/_quiet.py)
_install_keras_hook()  # custom layers registered whenever Keras gets imported (for keras.saving.load_model)
