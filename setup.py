"""deblurkeras: a TensorFlow 2 / Keras 3 reference port of classic deblurring and super-resolution models."""
from setuptools import find_packages, setup

setup(
    name="deblurkeras",
    version="0.1.0",
    description="Faithful Keras 3 ports of SRN-DeblurNet, the dense-field DeblurGAN, DMPHN and SRResNet/SRGAN, "
    "with dataset tools, trainers, evaluation and a Keras->PyTorch converter with parity reports.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    # Only the library is installed: data_tools/ and experiments/ are scripts in the repository, tests/ is the suite.
    packages=find_packages(include=["deblurkeras", "deblurkeras.*"]),
    package_data={"deblurkeras": ["families/*/configs/*.yaml"]},
    install_requires=[
        "tensorflow>=2.16",
        "keras>=3",
        "h5py",
        "numpy",
        "pillow",
        "scikit-image",
        "tqdm",
        "pyyaml",
        "safetensors",
        "matplotlib",
    ],
    extras_require={
        # The Makefile installs torch==2.13.0 (a local CPU wheel) first; this range is then already satisfied.
        "torch": ["torch>=2.1", "safetensors"],
        "test": ["pytest", "psutil"],
        # export-onnx / convert-keras --onnx (torch's TorchScript exporter needs no onnxscript) and
        # --engine onnxruntime; --engine openvino reads the file's metadata with onnx
        "onnx": ["onnx", "onnxruntime"],
        "openvino": ["openvino", "onnx"],
        # to view the runs' tb/ logs (they are written with core TensorFlow, no tensorboard needed to train)
        "tensorboard": ["tensorboard"],
        # `deblurkeras serve` (the page) and its browser tests (Playwright driving Debian's chromium)
        "web": ["gradio>=5", "playwright"],
        # video files in deblur / upscale (deblurkeras/video): PyAV's wheel carries FFmpeg with libx264 and ffv1
        "video": ["av>=18"],
    },
    entry_points={"console_scripts": ["deblurkeras=deblurkeras.cli:main"]},
)
