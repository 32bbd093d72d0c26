"""The Predictor interface every backend implements."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from trt_panoptic.runtime.result import PanopticResult


@runtime_checkable
class Predictor(Protocol):
    """Turns one BGR uint8 image [H, W, 3] into a :class:`PanopticResult` at that image's resolution.

    ``thing_classes``/``stuff_classes`` name the classes (``PanopticResult.classes`` indexes the first,
    stuff segment ``category_id`` s ∈ 1..S name ``stuff_classes[s - 1]``).
    """

    backend: str
    thing_classes: list[str]
    stuff_classes: list[str]

    def predict(self, image: np.ndarray) -> PanopticResult: ...


def input_size(predictor: Predictor) -> str:
    """The predictor's fixed input as "HxW", or "frame" when it runs each frame at the frame's own size."""
    h, w = getattr(predictor, "height", None), getattr(predictor, "width", None)
    return f"{h}x{w}" if h and w else "frame"
