"""The Predictor interface every backend implements."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from trt_panoptic.runtime.result import PanopticResult


@runtime_checkable
class Predictor(Protocol):
    """Turns one BGR uint8 image [H, W, 3] into a :class:`PanopticResult` at that image's resolution.

    Every implementation (the backends in :mod:`trt_panoptic.runtime`, the training-time
    :class:`~trt_panoptic.training.evaluate.ModelPredictor`, test doubles) sets all of these attributes;
    callers read them directly.

    Attributes:
        backend: the backend's name as users choose it ("torch", "onnxruntime", "tensorrt"; test doubles
            use their own), shown in logs and recorded in stats and metrics.
        thing_classes: names of the thing classes; ``PanopticResult.classes`` and a thing segment's
            ``category_id`` index this list (0-based).
        stuff_classes: names of the stuff classes; a stuff segment's ``category_id`` s ∈ 1..S names
            ``stuff_classes[s - 1]``.
        thing_ids / stuff_ids: the dataset category ids (COCO panoptic ``category_id``) of ``thing_classes``
            and ``stuff_classes``, one per name, used when writing predictions; empty means 1..T for the
            things, then T+1..T+S for the stuff, in name order (the model config's ``thing_ids``/``stuff_ids``).
        thread_safe: whether :meth:`predict` may be called from several threads at once (the video
            pipeline keeps several frames in flight only then).
        height / width: the fixed input frames are letterboxed to, or None when each frame runs at its own
            size.
    """

    backend: str
    thing_classes: list[str]
    stuff_classes: list[str]
    thing_ids: list[int]
    stuff_ids: list[int]
    thread_safe: bool
    height: int | None
    width: int | None

    def predict(self, image: np.ndarray) -> PanopticResult: ...


def input_size(predictor: Predictor) -> str:
    """The predictor's fixed input as "HxW", or "frame" when it runs each frame at the frame's own size."""
    h, w = predictor.height, predictor.width
    return f"{h}x{w}" if h and w else "frame"


def predict_many(predictor: Predictor, images: list[np.ndarray]) -> list[PanopticResult]:
    """One result per image, in order: the predictor's ``predict_batch`` when it has one (every backend of
    :mod:`trt_panoptic.runtime`), else ``predict`` per image (test doubles, the training-time predictor)."""
    batch = getattr(predictor, "predict_batch", None)
    if batch is not None:
        return batch(images)
    return [predictor.predict(image) for image in images]


def max_batch(predictor: Predictor) -> int:
    """Images the predictor's graph takes in one call (1 when it does not say: a graph of batch one)."""
    return max(1, int(getattr(predictor, "max_batch", 1)))
