"""Importing checkpoints trained elsewhere (detectron2) into trt_panoptic checkpoints."""
from trt_panoptic.convert.detectron2 import ConversionReport, config_from_detectron2, convert_detectron2

__all__ = ["ConversionReport", "config_from_detectron2", "convert_detectron2"]
