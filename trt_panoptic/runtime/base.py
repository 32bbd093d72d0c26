"""The one predict path every backend shares: letterbox → backend forward → :func:`decode_outputs`."""
from __future__ import annotations

from typing import Callable

import numpy as np

from trt_panoptic.config import Config
from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.data.preprocess import Letterbox, prepare_input
from trt_panoptic.runtime.decode import decode_outputs
from trt_panoptic.runtime.result import PanopticResult


def check_valid_hw(valid_hw: np.ndarray, height: int | None, width: int | None) -> np.ndarray:
    """``valid_hw`` as int32 [1, 2]; a one-line error unless it is a frame size inside the H×W input (the
    graph would zero or clip everything outside it)."""
    v = np.asarray(valid_hw)
    ok = v.shape == (1, 2) and np.issubdtype(v.dtype, np.integer)
    # a side of None (the torch backend at each frame's own size) has no upper bound
    if not ok or not all(1 <= int(v[0, i]) <= (side or int(v[0, i])) for i, side in enumerate((height, width))):
        got = v.tolist() if v.size <= 4 else f"shape {list(v.shape)}"
        raise TrtPanopticError(f"valid_hw should be integers [[h, w]] with 1 <= h <= {height} and 1 <= w <= {width}, "
                               f"got {got} — pass the letterboxed frame's size (Letterbox.resized)")
    return v.astype(np.int32)


#: Side in pixels of the blank frame that fills a free slot of a fixed batch (the smallest a graph takes).
PAD_FRAME = 32


def check_batch(images: np.ndarray, valid_hw: np.ndarray, predictor: "RawOutputPredictor") -> tuple[np.ndarray, np.ndarray]:
    """``images`` [n, 3, H, W] with 1 <= n <= the predictor's ``max_batch`` and ``valid_hw`` [n, 2], each row checked
    as :meth:`RawOutputPredictor.full_input` checks it; one-line errors otherwise."""
    n = images.shape[0] if images.ndim == 4 else 0
    if images.shape[1:] != (3, predictor.height, predictor.width) or not 1 <= n <= predictor.max_batch:
        raise TrtPanopticError(f"images should be [n, 3, {predictor.height}, {predictor.width}] with 1 <= n <= "
                               f"{predictor.max_batch} (the graph's batch), got {list(images.shape)} — split the images "
                               "into batches")
    rows = np.asarray(valid_hw)
    if rows.shape != (n, 2):
        raise TrtPanopticError(f"valid_hw should be [{n}, 2], one row per image, got {list(rows.shape)} — pass each "
                               "image's letterboxed frame size")
    return images, np.concatenate([predictor.full_input(rows[i:i + 1]) for i in range(n)])


def run_in_batches(images: np.ndarray, valid_hw: np.ndarray, step: int, fixed: int | None,
                   run: Callable[[np.ndarray, np.ndarray], dict[str, np.ndarray]]) -> tuple[list[dict[str, np.ndarray]], int]:
    """Run checked images [n, 3, H, W] through a batch graph in runs of ``step`` images → (n output dicts, one per
    image in order, each with a batch of one; batch slots used). A ``fixed`` batch larger than a run is filled
    with blank frames whose results are dropped."""
    results: list[dict[str, np.ndarray]] = []
    slots = 0
    for start in range(0, images.shape[0], step):
        chunk, valid = images[start:start + step], valid_hw[start:start + step]
        taken = chunk.shape[0]
        if fixed and fixed > taken:
            pad = fixed - taken
            chunk = np.concatenate([chunk, np.zeros((pad, *chunk.shape[1:]), chunk.dtype)])
            valid = np.concatenate([valid, np.full((pad, 2), PAD_FRAME, np.int32)])
        outputs = run(np.ascontiguousarray(chunk), valid)
        results.extend({name: value[i:i + 1] for name, value in outputs.items()} for i in range(taken))
        slots += chunk.shape[0]
    return results, slots


class RawOutputPredictor:
    """A :class:`~trt_panoptic.runtime.predictor.Predictor` over a backend that maps the uint8 input
    [1, 3, H, W] to the raw output dict; subclasses implement :meth:`forward`.

    ``height``/``width`` None (torch only) runs each frame at its own size, padded by the model. Class names
    and dataset ids come from the config's model section.
    """

    backend: str = "base"
    thread_safe: bool = False  # a subclass whose forward may run in several threads at once says so
    #: images one :meth:`forward_batch` call takes; 1 = the graph has a fixed batch of one, and
    #: :meth:`predict_batch` runs the images one by one
    max_batch: int = 1

    def __init__(self, cfg: Config, height: int | None, width: int | None) -> None:
        self.cfg = cfg
        self.height: int | None = height
        self.width: int | None = width
        m = cfg.model
        self.thing_classes: list[str] = list(m.thing_classes)
        self.stuff_classes: list[str] = list(m.stuff_classes)
        self.thing_ids: list[int] = list(m.thing_ids)
        self.stuff_ids: list[int] = list(m.stuff_ids)
        p = m.panoptic
        self.fusion = {"instance_score_thresh": p.instance_score_thresh, "overlap_thresh": p.overlap_thresh,
                       "stuff_area_limit": p.stuff_area_limit}
        self.pad_value = tuple(float(v) for v in m.input.pixel_mean)
        self.rgb = m.input.format == "RGB"

    def forward(self, image: np.ndarray, valid_hw: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """uint8 [1, 3, H, W] (model channel order) → raw outputs (see :mod:`trt_panoptic.runtime.decode`).

        ``valid_hw`` int32 [1, 2]: the frame's height and width inside the padded input, for graphs that
        take it (those that end in the panoptic map fuse only there); None = all of it.
        """
        raise NotImplementedError

    def forward_batch(self, images: np.ndarray, valid_hw: np.ndarray) -> list[dict[str, np.ndarray]]:
        """uint8 [N, 3, H, W] with int32 ``valid_hw`` [N, 2] (N <= :attr:`max_batch`) → N raw output dicts, in
        image order, each as :meth:`forward` returns for one image.

        The default runs :meth:`forward` once per image; a backend whose graph takes a batch sets
        :attr:`max_batch` and runs the N images in one call here.
        """
        return [self.forward(images[i:i + 1], valid_hw[i:i + 1]) for i in range(len(images))]

    def full_input(self, valid_hw: np.ndarray | None) -> np.ndarray:
        """``valid_hw`` checked against the input size, or the whole input when it is None (int32 [1, 2])."""
        if valid_hw is None:
            return np.asarray([[self.height, self.width]], np.int32)
        return check_valid_hw(valid_hw, self.height, self.width)

    def prepare(self, image: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        """BGR uint8 [h, w, 3] → (model input [1, 3, H, W] in the model's channel order, how it was placed)."""
        return prepare_input(image, self.height, self.width, self.pad_value, self.rgb)

    def predict(self, image: np.ndarray) -> PanopticResult:
        """BGR uint8 [h, w, 3] → :class:`PanopticResult` at [h, w]."""
        x, box = self.prepare(image)
        return decode_outputs(self.forward(x, np.asarray([box.resized], np.int32)), box, **self.fusion)

    def predict_batch(self, images: list[np.ndarray]) -> list[PanopticResult]:
        """BGR uint8 images [h_i, w_i, 3] (any sizes) → one :class:`PanopticResult` per image, in order.

        With :attr:`max_batch` 1 this is :meth:`predict` per image. Otherwise the images are letterboxed,
        stacked into batches of up to :attr:`max_batch` for :meth:`forward_batch`, and each image's outputs
        are decoded at its own size, exactly as :meth:`predict` decodes them.
        """
        if self.max_batch <= 1:
            return [self.predict(image) for image in images]
        results: list[PanopticResult] = []
        for start in range(0, len(images), self.max_batch):
            prepared = [self.prepare(image) for image in images[start:start + self.max_batch]]
            x = np.concatenate([inp for inp, _ in prepared])
            valid_hw = np.asarray([box.resized for _, box in prepared], np.int32)
            for outputs, (_, box) in zip(self.forward_batch(x, valid_hw), prepared):
                results.append(decode_outputs(outputs, box, **self.fusion))
        return results
