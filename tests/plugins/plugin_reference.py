"""Independent float64 references for the plugin tests: plain loops over the official rules."""
from __future__ import annotations

import numpy as np
import torch
from roi_align_reference import roi_align_ref


def fpn_level(box: np.ndarray, canonical_box_size: int = 224, canonical_level: int = 4) -> int:
    """detectron2's assign_boxes_to_levels for one box, in FP32 as detectron2 computes it (levels 2..5)."""
    f32 = np.float32
    area = (f32(box[2]) - f32(box[0])) * (f32(box[3]) - f32(box[1]))
    size = np.sqrt(max(area, f32(0)))
    level = np.floor(f32(canonical_level) + np.log2(size / f32(canonical_box_size) + f32(1e-8)))
    return int(min(max(level, 2), 5))


def roi_align_fpn_reference(
    rois: np.ndarray, features: list[np.ndarray], output_size: int, sampling_ratio: int = 0, aligned: bool = True
) -> np.ndarray:
    """Multi-level RoIAlign in float64: each RoI [R, 5] (batch, x1, y1, x2, y2) pooled by the single-level
    definition (tests/roi_align_reference.py) on the level fpn_level picks."""
    out = np.zeros((len(rois), features[0].shape[1], output_size, output_size))
    for r, roi in enumerate(rois.astype(np.float64)):
        level = fpn_level(roi[1:])
        fmap = torch.from_numpy(np.asarray(features[level - 2], dtype=np.float64))
        out[r] = roi_align_ref(fmap, torch.from_numpy(roi[None]), output_size, 1.0 / 2**level, sampling_ratio,
                               aligned)[0].numpy()
    return out
