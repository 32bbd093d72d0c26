"""Calibration images: an image folder, a video file (every k-th frame) or the synthetic generator,
preprocessed exactly as inference preprocesses a frame.

The exported ONNX takes uint8 BGR [1, 3, H, W] at the engine size; every predictor fills it with
:func:`trt_panoptic.data.preprocess.prepare_input` (aspect-preserving bilinear resize, top-left, padding with
the pixel mean, RGB flip for RGB models), and so does calibration — the statistics must come from the pixels inference will see.

Sources (``--data``):

- a folder: its ``.jpg/.jpeg/.png/.bmp/.tif/.tiff/.webp`` files, sorted by name (a COCO panoptic dataset
  folder with no pictures of its own means its ``images/``, never the ``panoptic/`` label PNGs);
  unreadable files are skipped with a warning;
- a video file (``.mp4 .avi .mkv .mov .webm .m4v``): frames 0, k, 2k, … (``every_k``);
- ``synthetic`` or ``synthetic:SEED``: scenes of :mod:`trt_panoptic.data.synthetic` drawn at the engine size.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from trt_panoptic.data.frames import decode_image, folder_images, is_image_file, read_image_bgr, video_frames
from trt_panoptic.errors import TrtPanopticError

logger = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v")
SYNTHETIC = "synthetic"


def _prepare_fn(height: int, width: int, pad_value: tuple[float, float, float], rgb: bool
                ) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """BGR uint8 [h, w, 3] → (uint8 [1, 3, H, W], valid_hw int32 [1, 2]) exactly as the predictors prepare a
    frame: the graph zeroes the letterbox padding outside ``valid_hw``, so calibration must say where it is."""
    from trt_panoptic.data.preprocess import prepare_input

    def prepare(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tensor, box = prepare_input(image, height, width, pad_value, rgb)
        return tensor, np.asarray([box.resized], np.int32)

    return prepare


class CalibrationImages:
    """A re-iterable set of calibration inputs (uint8 [1, 3, H, W]); each pass decodes them again.

    Constructing it scans the source once and keeps the usable items (readable images, decodable
    frames) up to ``num_images``; fewer than asked logs a warning with the count.

    Args:
        source: folder, video file, or ``synthetic[:SEED]``.
        num_images: how many images to use.
        size: (H, W) of the model input in pixels.
        pad_value: letterbox padding per channel (the model's pixel mean, BGR).
        every_k: video frame stride.
        rgb: the model takes RGB (``cfg.model.input.format``); frames are flipped as the predictors do.

    Raises:
        TrtPanopticError: unknown source, or no usable image at all.
    """

    def __init__(self, source: str | Path, num_images: int, size: tuple[int, int],
                 pad_value: tuple[float, float, float] = (0.0, 0.0, 0.0), *, every_k: int = 10,
                 rgb: bool = False) -> None:
        if int(num_images) < 1:
            raise TrtPanopticError(f"--num-images should be at least 1, got {num_images} — e.g. 256")
        if int(every_k) < 1:
            raise TrtPanopticError(f"--every-k should be at least 1, got {every_k} — e.g. 10")
        self.source = str(source)
        self.num_images, self.every_k = int(num_images), int(every_k)
        self.height, self.width = size
        self.prepare = _prepare_fn(self.height, self.width, pad_value, rgb)
        self.kind, self.items = self._scan()
        if not self.items:
            raise TrtPanopticError(f"calibration data should have usable images, got none in {self.source!r} — point --data at images, a video or 'synthetic'")
        if len(self.items) < self.num_images:
            logger.warning("calibration: %d usable images in %s, fewer than the %d asked; calibrating with %d",
                           len(self.items), self.source, self.num_images, len(self.items))

    # ---- scanning
    def _scan(self) -> tuple[str, list]:
        src = self.source
        if src == SYNTHETIC or src.startswith(SYNTHETIC + ":"):
            seed = src.partition(":")[2] or "0"
            if not seed.lstrip("-").isdigit():
                raise TrtPanopticError(f"--data should be 'synthetic' or 'synthetic:SEED' with an integer seed, got {src!r} — e.g. synthetic:7")
            self.seed = int(seed)
            return "synthetic", list(range(self.num_images))
        path = Path(src)
        if path.is_dir():
            return "folder", self._scan_folder(path)
        if path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
            return "video", self._scan_video(path)
        if is_image_file(path):
            return "folder", self._scan_files([path])
        if not path.exists():
            raise TrtPanopticError(f"--data should be a folder, a video file or 'synthetic', got {src!r} (not found) — check the path")
        raise TrtPanopticError(f"--data should be a folder, a video ({', '.join(VIDEO_SUFFIXES)}) or 'synthetic', got {src!r} — convert it")

    def _scan_folder(self, path: Path) -> list[Path]:
        # Plain name order, as calibration has always used: another order would pick other images from a
        # large folder and silently change the calibration.
        files = folder_images(path, natural=False)
        if not files and (path / "images").is_dir():
            files = folder_images(path / "images", natural=False)
        return self._scan_files(files)

    def _scan_files(self, files: list[Path]) -> list[Path]:
        usable = []
        for p in files:
            if len(usable) >= self.num_images:
                break
            if decode_image(p) is not None:
                usable.append(p)
            else:
                logger.warning("calibration: skipping unreadable image %s", p)
        return usable

    def _scan_video(self, path: Path) -> list[int]:
        frames = []
        for index, _ in video_frames(path, every_k=self.every_k):
            frames.append(index)
            if len(frames) >= self.num_images:
                break
        return frames

    # ---- iteration
    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[np.ndarray]:
        """The model inputs, uint8 [1, 3, H, W]."""
        for tensor, _ in self.with_valid_hw():
            yield tensor

    def with_valid_hw(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(input, valid_hw) pairs: the frame's region inside each letterboxed input, for graphs that take it."""
        if self.kind == "synthetic":
            from trt_panoptic.data.synthetic import default_categories, render_scene

            cats = default_categories()
            for i in self.items:
                image, _, _ = render_scene(np.random.default_rng([self.seed, i]), self.height, self.width, cats)
                yield self.prepare(image)
        elif self.kind == "folder":
            for p in self.items:
                try:
                    image = read_image_bgr(p)
                except TrtPanopticError as exc:
                    logger.warning("calibration: skipping %s (%s)", p, exc)
                    continue
                yield self.prepare(image)
        else:
            for _, frame in video_frames(self.source, every_k=self.every_k, wanted=set(self.items)):
                yield self.prepare(frame)
