"""Packaging for trt_panoptic. `pip install -e .` gives the package and the `trt-panoptic` command."""
from setuptools import find_packages, setup

setup(
    name="trt_panoptic",
    version="0.1.0",
    description="Panoptic FPN from PyTorch training to real-time TensorRT engines",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["trt_panoptic", "trt_panoptic.*"]),
    include_package_data=True,
    package_data={"trt_panoptic": ["configs/*.yaml", "weights/*"]},
    install_requires=[
        # torch is installed first by the README (CPU build); any 2.x >= 2.1 works.
        "torch>=2.1",
        "numpy>=1.23",
        "pyyaml>=6.0",
        "tqdm>=4.60",
        "opencv-python-headless>=4.8",
        "onnx>=1.15",
        "onnxruntime>=1.17",
        "onnx-graphsurgeon>=0.5",
        "onnxruntime-extensions>=0.10",
        "matplotlib>=3.7",
        "pillow>=9.0",  # picture headers (size before decoding); matplotlib needs it too
    ],
    extras_require={
        "test": ["pytest>=7", "fvcore>=0.1.5", "scipy>=1.10"],
        # TensorRT itself comes from NVIDIA's pip index (`pip install tensorrt`) or JetPack.
        "tensorrt": ["cuda-python>=12.3"],
    },
    entry_points={"console_scripts": ["trt-panoptic=trt_panoptic.cli.main:main"]},
)
