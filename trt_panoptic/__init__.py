"""trt_panoptic: Panoptic FPN from PyTorch training to a real-time TensorRT engine.

Importing the package needs only torch, numpy and PyYAML; ONNX, ONNX Runtime, OpenCV, TensorRT and the
CUDA bindings are imported inside the functions that use them.
"""
from trt_panoptic.errors import TrtPanopticError

__version__ = "0.1.0"
__all__ = ["TrtPanopticError", "__version__"]
