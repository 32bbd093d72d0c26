"""The model being trained as a Predictor, for periodic evaluation with
:func:`trt_panoptic.evaluation.evaluate_predictor` (PQ, mIoU) without exporting or reloading it.

It runs the model's raw eval mode and the one result builder every backend uses
(:func:`trt_panoptic.postprocess.result.result_from_outputs`) at the image's size; the deployed backends
(``trt_panoptic.runtime``) are evaluated through the same function by ``trt-panoptic eval``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from trt_panoptic.data.preprocess import Letterbox, to_model_channels
from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.modeling import PanopticFPN
from trt_panoptic.postprocess.result import PanopticResult, detection_outputs, result_from_outputs


class ModelPredictor:
    """The in-memory :class:`PanopticFPN` as a Predictor: one BGR uint8 [H, W, 3] image at its own size.

    Args:
        model: the model (switched to eval mode for each call and back to its previous mode after).
        thing_classes / stuff_classes: class names (from the config).
        device: where the model's parameters live.
        thing_ids / stuff_ids: the classes' dataset category ids (from the config; empty = 1..T, T+1..T+S).
    """

    backend: str = "torch"
    thread_safe: bool = False  # it flips the shared model between train and eval mode
    height: int | None = None  # each image at its own size
    width: int | None = None

    def __init__(self, model: PanopticFPN, thing_classes: list[str], stuff_classes: list[str],
                 device: torch.device | str = "cpu", *, thing_ids: Sequence[int] = (),
                 stuff_ids: Sequence[int] = ()) -> None:
        self.model = model
        self.thing_classes: list[str] = list(thing_classes)
        self.stuff_classes: list[str] = list(stuff_classes)
        self.thing_ids: list[int] = list(thing_ids)
        self.stuff_ids: list[int] = list(stuff_ids)
        self.device = torch.device(device)

    @torch.no_grad()
    def predict(self, image: np.ndarray) -> PanopticResult:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise TrtPanopticError(f"image should be uint8 [H, W, 3] BGR, got {image.dtype} {image.shape} — read it with cv2.imread")
        was_training = self.model.training
        self.model.eval()
        try:
            chw = to_model_channels(image, self.model.input_format).transpose(2, 0, 1)
            x = torch.from_numpy(np.ascontiguousarray(chw)).to(self.device)
            out = self.model([x], do_postprocess=False)[0]
        finally:
            self.model.train(was_training)
        return result_from_outputs(detection_outputs(out), Letterbox.identity(*image.shape[:2]), **self.model.fusion)
