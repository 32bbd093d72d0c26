"""The one predict path every backend shares: letterbox → backend forward → :func:`decode_outputs`."""
from __future__ import annotations

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


class RawOutputPredictor:
    """A :class:`~trt_panoptic.runtime.predictor.Predictor` over a backend that maps the uint8 input
    [1, 3, H, W] to the raw output dict; subclasses implement :meth:`forward`.

    ``height``/``width`` None (torch only) runs each frame at its own size, padded by the model. Class names
    and dataset ids come from the config's model section.
    """

    backend: str = "base"
    thread_safe: bool = False  # a subclass whose forward may run in several threads at once says so

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
