"""Trainers: custom-``train_step`` Keras models plus the shared run machinery (``runner``).

Kept import-light on purpose: ``import deblurkeras.training`` pulls in no TensorFlow. Import the submodules
(``deblurkeras.families.srn.trainer``, ``.runner``, ``.gan``, ``.dmphn``, ``.sr``) directly.
"""
