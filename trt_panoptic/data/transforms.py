"""Training augmentations on (image, panoptic id map) pairs: resize, crop, horizontal flip.

Transforms act on the picture and its id map together, *before* targets are built, so the semantic map,
instance masks and boxes derived afterwards agree by construction (boxes are re-measured from the
transformed masks; an instance cropped away simply disappears). The id map is resized with exact
nearest-neighbour sampling (pixel centres, like the picture's bilinear resize), never interpolated.
Randomness comes from a ``numpy.random.Generator`` passed in, so a sample is reproducible from
(seed, epoch, index) whatever the worker that loads it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

from trt_panoptic.data.frames import cv2_module
from trt_panoptic.errors import TrtPanopticError


class Transform(Protocol):
    def __call__(self, image: np.ndarray, pan: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """uint8 [H, W, 3] image and int [H, W] ids → transformed pair (new H', W' allowed)."""


def nearest_source(size_in: int, size_out: int) -> np.ndarray:
    """For each output index of a nearest-neighbour resize, the input index it takes (pixel centres)."""
    return np.minimum(((np.arange(size_out) + 0.5) * size_in / size_out).astype(np.int64), size_in - 1)


def resize_nearest(pan: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize of an [H, W] map to [height, width], sampling at pixel centres.

    The source indices are monotonic, so this is each source row and column repeated as often as the
    output takes it: two ``np.repeat`` calls, several times faster than fancy indexing at video sizes.
    """
    h, w = pan.shape[:2]
    if (h, w) == (height, width):
        return pan
    rows = np.bincount(nearest_source(h, height), minlength=h)
    cols = np.bincount(nearest_source(w, width), minlength=w)
    return np.repeat(np.repeat(pan, cols, axis=1), rows, axis=0)


def shortest_edge_size(h: int, w: int, short: int, max_size: int) -> tuple[int, int]:
    """detectron2's ResizeShortestEdge rule: short side → ``short``, long side capped at ``max_size``."""
    scale = short / min(h, w)
    if max(h, w) * scale > max_size:
        scale = max_size / max(h, w)
    return int(h * scale + 0.5), int(w * scale + 0.5)


@dataclass
class ResizeShortestEdge:
    """Resize so the short side is one of ``min_sizes`` (chosen at random), the long side ≤ ``max_size`` (px)."""

    min_sizes: Sequence[int]
    max_size: int

    def __post_init__(self) -> None:
        if not self.min_sizes or min(self.min_sizes) < 1 or self.max_size < 1:
            raise TrtPanopticError(
                f"resize sizes should be positive, got min_size {list(self.min_sizes)} and max_size {self.max_size} — fix train.min_size/max_size"
            )

    def __call__(self, image, pan, rng):
        cv2 = cv2_module()
        short = int(self.min_sizes[int(rng.integers(len(self.min_sizes)))]) if len(self.min_sizes) > 1 else int(self.min_sizes[0])
        h, w = pan.shape
        nh, nw = shortest_edge_size(h, w, short, self.max_size)
        if (nh, nw) == (h, w):
            return image, pan
        return cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR), resize_nearest(pan, nh, nw)


@dataclass
class RandomCrop:
    """Crop a random window of ``fraction`` × the height and width (detectron2's "relative" crop)."""

    fraction: float

    def __post_init__(self) -> None:
        if not 0.0 < self.fraction <= 1.0:
            raise TrtPanopticError(f"crop fraction should be in (0, 1], got {self.fraction} — fix train.crop (0 = off)")

    def __call__(self, image, pan, rng):
        h, w = pan.shape
        ch, cw = max(int(h * self.fraction + 0.5), 1), max(int(w * self.fraction + 0.5), 1)
        y0, x0 = int(rng.integers(h - ch + 1)), int(rng.integers(w - cw + 1))
        return image[y0:y0 + ch, x0:x0 + cw], pan[y0:y0 + ch, x0:x0 + cw]


@dataclass
class RandomFlip:
    """Mirror left–right with probability ``prob``."""

    prob: float = 0.5

    def __call__(self, image, pan, rng):
        if rng.random() < self.prob:
            return image[:, ::-1], pan[:, ::-1]
        return image, pan


@dataclass
class Compose:
    transforms: Sequence[Transform]

    def __call__(self, image, pan, rng):
        for t in self.transforms:
            image, pan = t(image, pan, rng)
        return np.ascontiguousarray(image), np.ascontiguousarray(pan)


def build_train_transforms(train) -> Compose:
    """From a :class:`~trt_panoptic.config.TrainConfig`: crop (if ``crop`` > 0) → resize → flip (if ``flip``)."""
    ts: list[Transform] = []
    if train.crop > 0:
        ts.append(RandomCrop(train.crop))
    ts.append(ResizeShortestEdge(list(train.min_size), train.max_size))
    if train.flip:
        ts.append(RandomFlip(0.5))
    return Compose(ts)


def build_test_transforms(train) -> Compose:
    """Deterministic resize to the largest training short side (no crop, no flip)."""
    return Compose([ResizeShortestEdge([max(train.min_size)], train.max_size)])
