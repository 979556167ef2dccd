"""deblurkeras: faithful Keras 3 ports of classic deblurring / super-resolution models and their tooling.

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

_install_quiet_tensorflow(_user_tf_log_level)  # TF's start-up lines off the terminal (deblurkeras/_quiet.py)
_install_keras_hook()  # custom layers registered whenever Keras gets imported (for keras.saving.load_model)
