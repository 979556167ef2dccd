"""deblurkeras: faithful Keras 3 ports of classic deblurring / super-resolution models and their tooling.

Importing the package is cheap: TensorFlow is imported by the submodules that need it, torch never here.
"""
import os

# The models use TensorFlow ops (TF1 legacy resize, depth_to_space); pin the backend before keras is imported.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

from .errors import DeblurKerasError, WeightsMismatchError, BadInputError  # noqa: E402,F401
