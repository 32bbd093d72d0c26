"""The tensorrt backend: an engine built from our ONNX, run by :class:`trt_panoptic.engine.runner.TrtRunner`.

Only the raw run differs from ONNX Runtime; letterbox, mask pasting and fusion are the shared path. The
config and input size come from the ONNX the engine was built from (its path is in the engine sidecar),
or from ``config``/``height``/``width`` when that file is gone.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from trt_panoptic.config import Config, load_config
from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.runtime.base import RawOutputPredictor


class TensorRTPredictor(RawOutputPredictor):
    """Runs a ``.engine`` (with its sidecar) on the GPU; see :class:`trt_panoptic.engine.runner.TrtRunner`."""

    backend = "tensorrt"

    def __init__(self, engine: str | os.PathLike, *, config: str | Config | None = None, height: int | None = None,
                 width: int | None = None, runner=None) -> None:
        if runner is None:
            from trt_panoptic.engine.runner import TrtRunner

            runner = TrtRunner(engine)
        self.runner = runner
        cfg, h, w = None, height, width
        onnx_path = getattr(getattr(runner, "sidecar", None), "onnx_path", None)
        if onnx_path and Path(onnx_path).is_file():
            from trt_panoptic.export.exporter import load_onnx, onnx_info

            info = onnx_info(load_onnx(onnx_path), source=onnx_path)
            cfg, h, w = info.config, h or info.height, w or info.width
        if config is not None:
            cfg = config if isinstance(config, Config) else load_config(config)
        if cfg is None or h is None or w is None:
            raise TrtPanopticError(
                f"the engine {engine} should have its ONNX beside it (sidecar onnx_path), got none — pass config, height and width")
        super().__init__(cfg, h, w)

    def forward(self, image: np.ndarray) -> dict[str, np.ndarray]:
        return self.runner.run({"image": image})
