"""Model families, one module each; `registry` maps CLI names (srn-color, ...) to builders."""
from .registry import build_model, model_io, model_names  # noqa: F401
