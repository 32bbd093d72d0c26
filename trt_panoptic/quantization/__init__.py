"""INT8 quantization: calibration data and statistics, thresholds (minmax / percentile / entropy / mse),
explicit Q/DQ ONNX for TensorRT, the legacy TensorRT calibration cache, and a per-group sensitivity study.

Entry points: :func:`trt_panoptic.quantization.pipeline.calibrate` and ``trt-panoptic calibrate``.
Only numpy is imported here; onnx / onnxruntime / cv2 are imported by the functions that need them.
"""
from trt_panoptic.quantization.methods import METHODS

__all__ = ["METHODS"]
