"""Frame preprocessing shared by inference (every runtime backend) and INT8 calibration.

A BGR uint8 frame of any size becomes the model input uint8 [1, 3, H, W]: channels flipped for RGB-trained
models, resized with its aspect ratio kept, placed top-left, the rest padded with the pixel mean rounded to
uint8. :class:`Letterbox` records the placement so results map back to the frame; its ``resized`` is the
``valid_hw`` every backend passes on, with which the exported graphs and the torch predictor make the padding
exactly 0 after normalization themselves (what the PyTorch model pads with), so the pad value does not reach
their results.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from trt_panoptic.errors import TrtPanopticError


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


def to_model_channels(image: np.ndarray, input_format: str) -> np.ndarray:
    """A BGR [H, W, 3] image (OpenCV's order) in the channel order the model takes (``cfg.model.input.format``).

    The one place that decides, for training, training-time evaluation, ``predict``, every backend and the
    INT8 calibration: a model trained on RGB sees RGB everywhere (a view, no copy).
    """
    if input_format not in ("BGR", "RGB"):
        raise TrtPanopticError(f"model.input.format should be BGR or RGB, got {input_format!r} — fix the config")
    return image[:, :, ::-1] if input_format == "RGB" else image


def prepare_input(
    image: np.ndarray, height: int | None, width: int | None, pad_value: tuple[float, float, float], rgb: bool = False
) -> tuple[np.ndarray, Letterbox]:
    """BGR uint8 [h, w, 3] → (uint8 [1, 3, H, W] model input, its :class:`Letterbox`): the one preprocessing
    every backend and the INT8 calibration use.

    ``rgb`` flips OpenCV's BGR to the RGB order of models trained on RGB (``cfg.model.input.format``);
    ``height``/``width`` None keeps the frame's own size (the PyTorch model pads it itself).
    """
    check_image(image)
    image = to_model_channels(image, "RGB" if rgb else "BGR")
    if height is None or width is None:
        h, w = image.shape[:2]
        return np.ascontiguousarray(image.transpose(2, 0, 1))[None], Letterbox.identity(h, w)
    return letterbox(image, height, width, pad_value)


def letterbox(image: np.ndarray, height: int, width: int, pad_value: tuple[float, float, float]) -> tuple[np.ndarray, Letterbox]:
    """Fit ``image`` [h, w, 3] into ``height`` × ``width`` keeping its aspect ratio (bilinear), top-left aligned.

    The padding takes ``pad_value`` rounded to uint8 (the pixel mean: near 0 after normalization; the
    backends zero it exactly from the returned ``resized``). Returns (uint8 [1, 3, height, width] NCHW, the :class:`Letterbox` to map results back).
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
