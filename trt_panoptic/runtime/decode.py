"""Host side shared by every backend: turn raw outputs into a result at the frame's own resolution.

Frames enter through :func:`trt_panoptic.data.preprocess.prepare_input` (letterbox to the model's H×W).

Raw outputs are the exported graph's (:mod:`trt_panoptic.export.graph_model`): ``sem_labels`` [1, H, W],
``boxes`` [1, D, 4], ``scores`` [1, D], ``classes`` [1, D], ``mask_probs`` [1, D, M, M], ``num_detections``
[1]. The ONNX Runtime and TensorRT predictors produce exactly these; the torch predictor fills the same
dict from the eager model — so mask pasting and panoptic fusion (the same ``combine_panoptic`` the model
uses) run once, here, for all of them.
"""
from __future__ import annotations

import numpy as np
import torch

from trt_panoptic.data.preprocess import Letterbox
from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.postprocess import combine_panoptic, paste_masks_in_image
from trt_panoptic.runtime.result import PanopticResult

RAW_OUTPUTS = ("sem_labels", "boxes", "scores", "classes", "mask_probs", "num_detections")


def _resize_nearest(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an [h, w] label map by pixel centres."""
    h, w = labels.shape
    oh, ow = size
    if (h, w) == (oh, ow):
        return labels
    rows = np.minimum(((np.arange(oh) + 0.5) * h / oh).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(ow) + 0.5) * w / ow).astype(np.int64), w - 1)
    return labels[rows[:, None], cols[None, :]]


def decode_outputs(
    raw: dict[str, np.ndarray], box: Letterbox, *, instance_score_thresh: float, overlap_thresh: float,
    stuff_area_limit: int,
) -> PanopticResult:
    """Raw model outputs (batch item 0) → :class:`PanopticResult` at the frame's own resolution.

    Semantic labels are cropped to the letterboxed region and resized (nearest) to the frame; boxes are
    divided by the scale and clipped; masks are pasted at the frame's resolution from the 28×28
    probabilities (sharper than pasting at the model size and resizing); then panoptic fusion.
    """
    missing = [k for k in RAW_OUTPUTS if k not in raw]
    if missing:
        raise TrtPanopticError(f"model outputs should include {', '.join(RAW_OUTPUTS)}, got no {', '.join(missing)} — re-export the model with trt-panoptic export")
    n = int(np.asarray(raw["num_detections"]).reshape(-1)[0])
    h0, w0 = box.original
    rh, rw = box.resized
    sem = np.asarray(raw["sem_labels"])[0, :rh, :rw].astype(np.int32)
    sem = _resize_nearest(sem, (h0, w0))
    boxes = torch.from_numpy(np.asarray(raw["boxes"], dtype=np.float32)[0, :n] / box.scale)
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w0)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h0)
    scores = torch.from_numpy(np.asarray(raw["scores"], dtype=np.float32)[0, :n])
    classes = torch.from_numpy(np.asarray(raw["classes"]).astype(np.int64)[0, :n])
    probs = torch.from_numpy(np.asarray(raw["mask_probs"], dtype=np.float32)[0, :n])
    keep = ((boxes[:, 2] - boxes[:, 0]) > 0) & ((boxes[:, 3] - boxes[:, 1]) > 0)  # no mask fits an empty box
    boxes, scores, classes, probs = boxes[keep], scores[keep], classes[keep], probs[keep]
    masks = paste_masks_in_image(probs, boxes, (h0, w0))
    panoptic, segments = combine_panoptic(
        torch.from_numpy(sem), masks, scores, classes, instance_score_thresh=instance_score_thresh,
        overlap_thresh=overlap_thresh, stuff_area_limit=stuff_area_limit,
    )
    return PanopticResult(
        panoptic=panoptic.numpy().astype(np.int32), segments_info=segments, sem_labels=sem, boxes=boxes.numpy(),
        scores=scores.numpy(), classes=classes.numpy(), masks=masks.numpy(),
    )
