"""Host side shared by every backend: raw outputs → a result at the frame's own resolution.

Frames enter through :func:`trt_panoptic.data.preprocess.prepare_input` (letterbox to the model's H×W);
:func:`decode_outputs` is :func:`trt_panoptic.postprocess.result.result_from_outputs`, which every backend,
the training evaluation and ``predict`` share: one result builder.
"""
from __future__ import annotations

from trt_panoptic.postprocess.result import DETECTION_OUTPUTS, PANOPTIC_OUTPUTS
from trt_panoptic.postprocess.result import result_from_outputs as decode_outputs

__all__ = ["DETECTION_OUTPUTS", "PANOPTIC_OUTPUTS", "decode_outputs"]
