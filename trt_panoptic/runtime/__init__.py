"""One Predictor interface over the torch, onnxruntime and tensorrt backends."""
from trt_panoptic.runtime.factory import BACKENDS, create_predictor
from trt_panoptic.runtime.result import PanopticResult

__all__ = ["BACKENDS", "PanopticResult", "create_predictor"]
