"""Packaging for trt_panoptic. `pip install -e .` gives the package and the `trt-panoptic` command."""
from setuptools import find_packages, setup

ROBOTICS = [
    "mcap>=1.2",
    # the CDR encoder is taken from mcap_ros2._dynamic (trt_panoptic/ros2/messages.py): a minor version bump
    # may move it, so newer versions are let in only after the tests ran on them
    "mcap-ros2-support>=0.5.3,<0.7",
    "foxglove-sdk>=0.30",  # the version tested (Context, per-channel has_sinks, foxglove.sdk.v1)
]

setup(
    name="trt_panoptic",
    version="0.1.0",
    description="Panoptic FPN from PyTorch training to real-time TensorRT engines",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["trt_panoptic", "trt_panoptic.*"]),
    include_package_data=True,
    package_data={"trt_panoptic": [
        "configs/*.yaml", "weights/*",
        # ROS 2 interface definitions (ROS's own, verbatim, and trt_panoptic_msgs as a ROS package)
        "ros2/interfaces/*.md", "ros2/interfaces/*/msg/*.msg", "ros2/interfaces/*/package.xml",
        "ros2/interfaces/*/CMakeLists.txt",
    ]},
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
        # the test extra carries the robotics packages so CI runs the bag and Foxglove tests
        "test": ["pytest>=7", "fvcore>=0.1.5", "scipy>=1.10", *ROBOTICS, "websockets>=12"],
        # ROS 2 bags (MCAP) in and out, and the live Foxglove view; no ROS install needed
        "robotics": ROBOTICS,
        # TensorRT itself comes from NVIDIA's pip index (`pip install tensorrt`) or JetPack.
        "tensorrt": ["cuda-python>=12.3"],
    },
    entry_points={"console_scripts": ["trt-panoptic=trt_panoptic.cli.main:main"]},
)
