"""Turning raw head outputs into image-space results: mask pasting and panoptic fusion.

:func:`panoptic_from_detections` is the tail every path runs (vectorized, on the tensors' device; on the
CPU through the PanopticFusion plugin's host build). ``paste_masks_in_image`` + ``combine_panoptic`` are
the readable per-instance reference it is tested against.
"""
from trt_panoptic.postprocess.masks import paste_masks_in_image
from trt_panoptic.postprocess.panoptic_fusion import combine_panoptic
from trt_panoptic.postprocess.panoptic_tail import (
    SEGMENT_COLUMNS,
    panoptic_from_detections,
    panoptic_table,
    segments_info_from_table,
)

__all__ = [
    "SEGMENT_COLUMNS", "combine_panoptic", "panoptic_from_detections", "panoptic_table", "paste_masks_in_image",
    "segments_info_from_table",
]
