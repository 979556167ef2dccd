"""Reusable Keras layers shared by the model families (all registered for safe_mode loading); a family's own layers
live in its folder (families/<f>/layers.py)."""
from .resize import ResizeBilinear, ScaleResize, resize_bilinear, scaled_size, RESIZE_MODES  # noqa: F401
