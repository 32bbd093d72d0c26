"""Host side shared by every backend: letterbox a frame to the model's H×W, and turn raw outputs into a result.

Raw outputs are the exported graph's (:mod:`trt_panoptic.export.graph_model`): ``sem_labels`` [1, H, W],
``boxes`` [1, D, 4], ``scores`` [1, D], ``classes`` [1, D], ``mask_probs`` [1, D, M, M], ``num_detections``
[1]. The ONNX Runtime and TensorRT predictors produce exactly these; the torch predictor fills the same
dict from the eager model — so mask pasting and panoptic fusion (the same ``combine_panoptic`` the model
uses) run once, here, for all of them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.postprocess import combine_panoptic, paste_masks_in_image
from trt_panoptic.runtime.result import PanopticResult

RAW_OUTPUTS = ("sem_labels", "boxes", "scores", "classes", "mask_probs", "num_detections")


@dataclass(frozen=True)
class Letterbox:
    """How a frame was placed in the model input: scaled by ``scale`` to ``resized`` (h, w) at the top-left
    corner, the rest padded; ``original`` is the frame's (h, w)."""

    scale: float
    resized: tuple[int, int]
    original: tuple[int, int]

    @staticmethod
    def identity(height: int, width: int) -> "Letterbox":
        return Letterbox(1.0, (height, width), (height, width))


def check_image(image: np.ndarray) -> None:
    """One-line error unless ``image`` is a BGR uint8 [H, W, 3] array."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise TrtPanopticError(f"image should be a BGR uint8 array [H, W, 3], got {got} — convert it with cv2.imread or .astype(np.uint8)")


def prepare_input(
    image: np.ndarray, height: int | None, width: int | None, pad_value: tuple[float, float, float], rgb: bool = False
) -> tuple[np.ndarray, Letterbox]:
    """BGR uint8 [h, w, 3] → (uint8 [1, 3, H, W] model input, its :class:`Letterbox`): the one preprocessing
    every backend and the INT8 calibration use.

    ``rgb`` flips OpenCV's BGR to the RGB order of models trained on RGB (``cfg.model.input.format``);
    ``height``/``width`` None keeps the frame's own size (the PyTorch model pads it itself).
    """
    check_image(image)
    if rgb:
        image = image[:, :, ::-1]
    if height is None or width is None:
        h, w = image.shape[:2]
        return np.ascontiguousarray(image.transpose(2, 0, 1))[None], Letterbox.identity(h, w)
    return letterbox(image, height, width, pad_value)


def letterbox(image: np.ndarray, height: int, width: int, pad_value: tuple[float, float, float]) -> tuple[np.ndarray, Letterbox]:
    """Fit ``image`` [h, w, 3] into ``height`` × ``width`` keeping its aspect ratio (bilinear), top-left aligned.

    The padding takes ``pad_value`` (the pixel mean: after normalization it is 0, what the PyTorch model
    pads with). Returns (uint8 [1, 3, height, width] NCHW, the :class:`Letterbox` to map results back).
    """
    check_image(image)
    h, w = image.shape[:2]
    scale = min(height / h, width / w)
    rh, rw = min(height, max(1, round(h * scale))), min(width, max(1, round(w * scale)))
    if (rh, rw) != (h, w):
        t = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()
        t = torch.nn.functional.interpolate(t, size=(rh, rw), mode="bilinear", align_corners=False, antialias=scale < 1)
        resized = t[0].round().clamp(0, 255).to(torch.uint8).numpy()
    else:
        resized = np.ascontiguousarray(image.transpose(2, 0, 1))
    out = np.empty((1, 3, height, width), dtype=np.uint8)
    out[0] = np.asarray([round(v) for v in pad_value], dtype=np.uint8)[:, None, None]
    out[0, :, :rh, :rw] = resized
    return out, Letterbox(scale, (rh, rw), (h, w))


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
