"""The result every backend returns for one image, in numpy, at the image's own resolution."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class PanopticResult:
    """Panoptic prediction for one H×W image.

    Attributes:
        panoptic: int32 [H, W] segment id per pixel, 0 = unassigned (VOID).
        segments_info: one dict per segment, detectron2's format: ``{"id", "isthing", "category_id",
            "score" (things), "instance_id" (things, index into the instance arrays), "area" (stuff)}``.
            ``category_id`` is the 0-based thing class for things and the semantic channel (1..S) for stuff.
        sem_labels: int32 [H, W] semantic-head label per pixel (0 = 'other', 1..S stuff).
        boxes: float32 [N, 4] XYXY in image pixels.
        scores: float32 [N].
        classes: int64 [N], 0-based thing class.
        masks: bool [N, H, W].
    """

    panoptic: np.ndarray
    segments_info: list[dict]
    sem_labels: np.ndarray
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    scores: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    classes: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))
    masks: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0), bool))

    @property
    def num_instances(self) -> int:
        return int(self.boxes.shape[0])
