"""The result every path returns for one image — numpy, at the image's own resolution — and the one
function that builds it from model outputs (:func:`result_from_outputs`), for every backend, the training
evaluation and ``predict``.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import Tensor

from trt_panoptic.data.preprocess import Letterbox
from trt_panoptic.data.transforms import nearest_source, resize_nearest
from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.postprocess.masks import paste_masks_in_image
from trt_panoptic.postprocess.panoptic_tail import SEGMENT_COLUMNS, panoptic_table, segments_info_from_table

#: What a graph that stops at the detections gives (batch item 0 is used).
DETECTION_OUTPUTS = ("sem_labels", "boxes", "scores", "classes", "mask_probs", "num_detections")
#: What a graph that ends in the panoptic map gives.
PANOPTIC_OUTPUTS = ("panoptic", "segments", "num_segments", "boxes", "scores", "classes", "num_detections")


@dataclass
class PanopticResult:
    """Panoptic prediction for one H×W image.

    Attributes:
        panoptic: int32 [H, W] segment id per pixel, 0 = unassigned (VOID).
        segments_info: one dict per segment, detectron2's format: ``{"id", "isthing", "category_id",
            "score" (things), "instance_id" (things, index into the instance arrays), "area" (stuff)}``.
            ``category_id`` is the 0-based thing class for things and the semantic channel (1..S) for stuff.
        sem_labels: int32 [H, W] semantic-head label per pixel (0 = 'other', 1..S stuff); may be given as a
            function that makes it, called the first time it is read (from a graph's map at model
            resolution, resizing it to the frame is work only mIoU needs).
        boxes: float32 [N, 4] XYXY in image pixels — every detection the model returned (above its test
            score threshold, 0.05 for detectron2's models), not only those placed in ``panoptic``; the
            segments' ``instance_id`` say which were.
        scores: float32 [N].
        classes: int64 [N], 0-based thing class.
        masks: bool [N, H, W], pasted from ``mask_probs`` the first time it is read (nothing on the hot
            path needs them: the panoptic map already holds every placed pixel).
        mask_probs: float32 [N, M, M] mask probabilities of the instances, when the model gave them.
        segment_boxes: float32 [K, 4] per ``segments_info`` entry, a box X0, Y0, X1, Y1 (ends exclusive)
            holding all the segment's pixels (from the segment table), when known; the renderer then works
            per segment in its box instead of over the frame.
    """

    panoptic: np.ndarray
    segments_info: list[dict]
    sem_labels: np.ndarray
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    scores: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    classes: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))
    masks: np.ndarray | None = field(default=None, repr=False, compare=False)
    mask_probs: np.ndarray | None = field(default=None, repr=False, compare=False)
    segment_boxes: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def num_instances(self) -> int:
        return int(self.boxes.shape[0])


def _get_masks(self: PanopticResult) -> np.ndarray:
    if self._masks is None:
        h, w = self.panoptic.shape
        if self.mask_probs is None or not len(self.boxes):
            self._masks = np.zeros((self.num_instances, h, w), bool)
        else:
            self._masks = paste_masks_in_image(torch.from_numpy(self.mask_probs), torch.from_numpy(self.boxes), (h, w)).numpy()
    return self._masks


def _set_masks(self: PanopticResult, value: np.ndarray | None) -> None:
    self._masks = value


PanopticResult.masks = property(_get_masks, _set_masks)  # type: ignore[assignment]  # lazy, set by __init__


def _get_sem_labels(self: PanopticResult) -> np.ndarray:
    if callable(self._sem_labels):
        self._sem_labels = self._sem_labels()
    return self._sem_labels


def _set_sem_labels(self: PanopticResult, value: np.ndarray | Callable[[], np.ndarray]) -> None:
    self._sem_labels = value


PanopticResult.sem_labels = property(_get_sem_labels, _set_sem_labels)  # type: ignore[assignment]  # lazy too


def detection_outputs(out: Mapping[str, Any]) -> dict[str, Tensor]:
    """One image's ``PanopticFPN(..., do_postprocess=False)`` output as the graph's :data:`DETECTION_OUTPUTS`
    (batch 1, on the model's device)."""
    inst = out["instances"]
    boxes = inst["boxes"]
    return {
        "sem_labels": out["sem_labels"][None].to(torch.int32),
        "boxes": boxes[None].float(),
        "scores": inst["scores"][None].float(),
        "classes": inst["classes"][None].to(torch.int32),
        "mask_probs": inst["mask_probs"][None].float(),
        "num_detections": torch.tensor([boxes.shape[0]], dtype=torch.int32),
    }


def _tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else torch.from_numpy(np.ascontiguousarray(x))


def _resize_nearest(labels: Tensor, size: tuple[int, int]) -> Tensor:
    """:func:`~trt_panoptic.data.transforms.resize_nearest` of an [h, w] label map, on its device."""
    h, w = labels.shape
    oh, ow = size
    if (h, w) == (oh, ow):
        return labels
    if labels.device.type == "cpu":
        return torch.from_numpy(resize_nearest(labels.numpy(), oh, ow))
    rows = torch.from_numpy(nearest_source(h, oh)).to(labels.device)
    cols = torch.from_numpy(nearest_source(w, ow)).to(labels.device)
    return labels.index_select(0, rows).index_select(1, cols)


def result_from_outputs(
    raw: Mapping[str, Any], box: Letterbox, *, instance_score_thresh: float, overlap_thresh: float,
    stuff_area_limit: int, implementation: str = "auto",
) -> PanopticResult:
    """Model outputs (batch item 0; numpy arrays or tensors on any device) → :class:`PanopticResult` at the
    frame's own resolution.

    A graph that ends in the panoptic map (:data:`PANOPTIC_OUTPUTS`) only has its id map cropped to the
    letterboxed region and resized (nearest) to the frame, and its segment table read; stuff segments
    smaller than ``stuff_area_limit`` frame pixels then become void (the graph keeps them all, since only
    the host knows the frame's resolution). A graph that stops at
    the detections (:data:`DETECTION_OUTPUTS`) gets the panoptic tail here, on the outputs' device, at the
    frame's resolution: semantic labels cropped and resized (nearest), boxes divided by the scale and
    clipped, masks pasted from the 28×28 probabilities at the frame's resolution (sharper than pasting at
    the model's and resizing), then fused (:func:`~trt_panoptic.postprocess.panoptic_table`).
    """
    if all(k in raw for k in PANOPTIC_OUTPUTS):
        return _from_panoptic(raw, box, stuff_area_limit)
    missing = [k for k in DETECTION_OUTPUTS if k not in raw]
    if missing:
        raise TrtPanopticError(f"model outputs should include {', '.join(DETECTION_OUTPUTS)}, got no "
                               f"{', '.join(missing)} — re-export the model with trt-panoptic export")
    n = int(_tensor(raw["num_detections"]).reshape(-1)[0])
    h0, w0 = box.original
    rh, rw = box.resized
    sem = _resize_nearest(_tensor(raw["sem_labels"])[0, :rh, :rw].to(torch.int32), (h0, w0))
    boxes, scores, classes, keep = _detections(raw, n, box)
    probs = _tensor(raw["mask_probs"])[0, :n].float()[keep]
    panoptic, table = panoptic_table(
        sem, probs, boxes, scores, classes, instance_score_thresh=instance_score_thresh,
        overlap_thresh=overlap_thresh, stuff_area_limit=stuff_area_limit, implementation=implementation,
    )
    table = table.cpu()
    return PanopticResult(
        panoptic=panoptic.cpu().numpy(), segments_info=segments_info_from_table(table),
        sem_labels=sem.cpu().numpy(), boxes=boxes.cpu().numpy(), scores=scores.cpu().numpy(),
        classes=classes.cpu().numpy(), mask_probs=probs.cpu().numpy(), segment_boxes=_extents(table),
    )


def _extents(table: Tensor) -> np.ndarray:
    """The segment table's pixel boxes [K, 4] (X0, Y0, X1, Y1, ends exclusive)."""
    first = SEGMENT_COLUMNS.index("x0")
    return table[:, first:first + 4].numpy().astype(np.float32)


def _detections(raw: Mapping[str, Any], n: int, box: Letterbox,
                keep_rows: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The first n detections in frame pixels, without empty boxes (except ``keep_rows``, which stay):
    (boxes, scores, classes int64, kept rows)."""
    h0, w0 = box.original
    boxes = _tensor(raw["boxes"])[0, :n].float() / box.scale
    boxes = torch.stack([boxes[:, 0].clamp(0, w0), boxes[:, 1].clamp(0, h0), boxes[:, 2].clamp(0, w0),
                         boxes[:, 3].clamp(0, h0)], dim=1)
    keep = ((boxes[:, 2] - boxes[:, 0]) > 0) & ((boxes[:, 3] - boxes[:, 1]) > 0)  # no mask fits an empty box
    if keep_rows is not None:
        keep[keep_rows.to(keep.device)] = True
    scores = _tensor(raw["scores"])[0, :n].float()[keep]
    classes = _tensor(raw["classes"])[0, :n].to(torch.int64)[keep]
    return boxes[keep], scores, classes, keep


def _from_panoptic(raw: Mapping[str, Any], box: Letterbox, stuff_area_limit: int) -> PanopticResult:
    """A graph's own id map and table → the result at the frame's resolution.

    Everything but the two resizes (id map, semantic labels) happens at model resolution: nearest resizing
    repeats source row i r_i times and column j c_j times, so a segment's frame area is the sum of r_i·c_j
    over its model pixels, and dropping or renumbering segments is a lookup on the small map.
    """
    h0, w0 = box.original
    rh, rw = box.resized
    pan = np.ascontiguousarray(_tensor(raw["panoptic"])[0, :rh, :rw].to(torch.int32).cpu().numpy())
    num = int(_tensor(raw["num_segments"]).reshape(-1)[0])
    table = _tensor(raw["segments"])[0, :num].float().cpu().clone()
    n = int(_tensor(raw["num_detections"]).reshape(-1)[0])
    col = SEGMENT_COLUMNS.index("instance")
    things = table[:, SEGMENT_COLUMNS.index("isthing")] > 0
    placed = table[things, col].long()
    # a detection the graph placed stays even if its box, mapped to the frame, rounds to empty
    boxes, scores, classes, keep = _detections(raw, n, box, keep_rows=placed)
    # instance indices in the table count every detection; the result's arrays hold the kept ones
    new_index = torch.cumsum(keep.long(), 0) - 1
    table[things, col] = new_index[placed].float()
    src_rows, src_cols = nearest_source(rh, h0), nearest_source(rw, w0)
    weight = np.outer(np.bincount(src_rows, minlength=rh), np.bincount(src_cols, minlength=rw)).reshape(-1)
    area = torch.from_numpy(np.bincount(pan.reshape(-1), weights=weight, minlength=num + 1)[1 : num + 1].astype(np.float32))
    # stuff below the limit in frame pixels becomes void; ids stay 1..K in order
    kept = things | ((area >= stuff_area_limit) & (area > 0))
    table[:, SEGMENT_COLUMNS.index("area")] = area
    if not bool(kept.all()):
        new_id = np.zeros(num + 1, np.int32)
        new_id[1:][kept.numpy()] = np.arange(1, int(kept.sum()) + 1, dtype=np.int32)
        pan = np.take(new_id, pan)
        table = table[kept]
        table[:, SEGMENT_COLUMNS.index("id")] = torch.arange(1, table.shape[0] + 1, dtype=torch.float32)
    probs = _tensor(raw["mask_probs"])[0, :n].float()[keep].cpu().numpy() if "mask_probs" in raw else None
    frame_pan = resize_nearest(pan, h0, w0)
    if "sem_labels" in raw:
        labels = np.ascontiguousarray(_tensor(raw["sem_labels"])[0, :rh, :rw].to(torch.int32).cpu().numpy())
        sem: np.ndarray | Callable[[], np.ndarray] = functools.partial(resize_nearest, labels, h0, w0)
    else:
        sem = np.zeros_like(frame_pan)
    return PanopticResult(
        panoptic=frame_pan, segments_info=segments_info_from_table(table), sem_labels=sem,
        boxes=boxes.cpu().numpy(), scores=scores.cpu().numpy(), classes=classes.cpu().numpy(), mask_probs=probs,
        segment_boxes=_frame_extents(table, src_rows, src_cols),
    )


def _frame_extents(table: Tensor, src_rows: np.ndarray, src_cols: np.ndarray) -> np.ndarray:
    """The table's model-resolution boxes as frame boxes: the frame rows/columns whose source lies in them
    (the source indices are sorted, so two binary searches per side)."""
    first = SEGMENT_COLUMNS.index("x0")
    x0, y0, x1, y1 = table[:, first:first + 4].double().numpy().T
    out = np.stack([np.searchsorted(src_cols, x0), np.searchsorted(src_rows, y0),
                    np.searchsorted(src_cols, x1), np.searchsorted(src_rows, y1)], axis=1)
    return out.astype(np.float32)
