"""Turning raw head outputs into image-space results: mask pasting and panoptic fusion.

Plain functions on tensors, shared by the PyTorch model's eval mode and by every runtime backend, so all
backends fuse identically. They import nothing from the other stages.
"""
from trt_panoptic.postprocess.masks import paste_masks_in_image
from trt_panoptic.postprocess.panoptic_fusion import combine_panoptic

__all__ = ["combine_panoptic", "paste_masks_in_image"]
