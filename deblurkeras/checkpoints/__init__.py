"""Importers of original PyTorch checkpoints shared by several families (`torch_import`: DMPHN .pkl folders, the SR
tutorial's .pth). Family-specific importers live in their family (`families/srn/importer.py`, TF1 checkpoints;
`families/dense_gan/importer.py`, Keras 2 .h5). Submodules import torch themselves, so this package stays cheap.
"""
