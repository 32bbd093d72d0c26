"""Multi-level RoIAlign over a feature pyramid with the FPN paper's level mapping."""
from __future__ import annotations

import torch
from torch import Tensor

from trt_panoptic.ops.roi_align import convert_boxes_to_roi_format, roi_align


def assign_boxes_to_levels(
    boxes: Tensor, min_level: int, max_level: int, canonical_box_size: int = 224, canonical_level: int = 4
) -> Tensor:
    """Pyramid level index (0 = ``min_level``) of each box, Eqn. (1) of the FPN paper.

    ``level = floor(canonical_level + log2(sqrt(area) / canonical_box_size))`` clamped to
    [min_level, max_level]; the 1e-8 keeps a box of exactly the canonical size on the canonical level
    despite rounding (detectron2's convention).

    Args:
        boxes: Tensor[K, 4] XYXY in input pixels.

    Returns:
        Tensor[K] int64 in [0, max_level - min_level].
    """
    sizes = torch.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
    levels = torch.floor(canonical_level + torch.log2(sizes / canonical_box_size + 1e-8))
    return (levels.clamp(min=min_level, max=max_level) - min_level).to(torch.int64)


def multilevel_roi_align(
    features: list[Tensor],
    boxes: Tensor | list[Tensor],
    output_size: int,
    strides: list[int],
    sampling_ratio: int = 0,
    aligned: bool = True,
    canonical_box_size: int = 224,
    canonical_level: int = 4,
) -> Tensor:
    """RoIAlign each box on the pyramid level its size selects.

    Args:
        features: pyramid maps Tensor[N, C, H/s, W/s], one per stride in ``strides`` (e.g. P2..P5, 4..32).
        boxes: Tensor[K, 5] (batch index, x1, y1, x2, y2) or list of N Tensor[L, 4], input pixels.
        output_size: P, the pooled size (7 for the box head, 14 for the mask head).
        strides: power-of-two stride of each map; level = log2(stride).

    Returns:
        Tensor[K, C, P, P], in the order of ``boxes``.
    """
    rois = convert_boxes_to_roi_format(boxes).to(features[0].dtype)
    levels = [int(round(torch.log2(torch.tensor(float(s))).item())) for s in strides]
    assert levels == list(range(levels[0], levels[0] + len(levels))), "poolers: strides must be consecutive powers of 2"
    num_rois, channels = rois.shape[0], features[0].shape[1]
    out = features[0].new_zeros((num_rois, channels, output_size, output_size))
    if num_rois == 0:
        return out
    level_idx = assign_boxes_to_levels(rois[:, 1:], levels[0], levels[-1], canonical_box_size, canonical_level)
    for i, (feature, stride) in enumerate(zip(features, strides)):
        idx = torch.nonzero(level_idx == i).squeeze(1)
        if idx.numel():
            out[idx] = roi_align(feature, rois[idx], output_size, 1.0 / stride, sampling_ratio, aligned)
    return out
