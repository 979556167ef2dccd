"""The model families, one folder each (srn, dense_gan, dmphn, sr); every piece of a family lives in its folder.

This package's face hands on the registry (deblurkeras.registry: model_names, build_model, entry, model_io, ...)
and the spec types (deblurkeras.spec), so `from deblurkeras.families import build_model` reads as it always did.
"""
from ..registry import (FAMILY_PACKAGES, IDENTITY_ATTR, build_model, config_path, entry, families,  # noqa: F401
                        family, family_of, model_identity, model_io, model_names, register_converters,
                        register_keras_layers, shipped_configs, tag_model)
from ..spec import (IMAGENET_MEAN, IMAGENET_STD, SIGNED, UNIT, Choice, FamilySpec, ModelIO, ModelSpec,  # noqa: F401
                    Typed, resolve)
