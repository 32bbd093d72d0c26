"""The result every backend returns (defined in :mod:`trt_panoptic.postprocess.result`, re-exported here)."""
from trt_panoptic.postprocess.result import PanopticResult

__all__ = ["PanopticResult"]
