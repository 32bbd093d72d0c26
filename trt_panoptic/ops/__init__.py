"""Tensor operations the model is made of: RoIAlign, the multi-level pooler, box coding and NMS.

Pure PyTorch (no torchvision), so the package installs on a bare CPU machine; the semantics are
torchvision's and are checked against it in the tests when it is installed.
"""
from trt_panoptic.ops.boxes import BoxCoder, batched_nms, box_area, box_iou, clip_boxes, nms, nonempty
from trt_panoptic.ops.poolers import assign_boxes_to_levels, multilevel_roi_align, multilevel_roi_align_fixed
from trt_panoptic.ops.roi_align import roi_align

__all__ = [
    "BoxCoder", "assign_boxes_to_levels", "batched_nms", "box_area", "box_iou", "clip_boxes",
    "multilevel_roi_align", "multilevel_roi_align_fixed", "nms", "nonempty", "roi_align",
]
