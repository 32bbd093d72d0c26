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
from trt_panoptic.export.graph_model import INPUT_NAME, VALID_HW_NAME
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
        sidecar = getattr(runner, "sidecar", None)
        onnx_path = Path(engine).parent / sidecar.onnx_path if getattr(sidecar, "onnx_path", None) else None
        if onnx_path is not None and onnx_path.is_file():
            from trt_panoptic.engine.files import sha256_file
            from trt_panoptic.export.exporter import load_onnx, onnx_info

            if sidecar.onnx_sha256 and sha256_file(onnx_path) != sidecar.onnx_sha256:
                raise TrtPanopticError(
                    f"{onnx_path} should be the ONNX the engine {engine} was built from, got a different file (SHA-256 "
                    f"differs) — rebuild the engine: {sidecar.rebuild_command}"
                )
            info = onnx_info(load_onnx(onnx_path), source=str(onnx_path))
            if (h or info.height, w or info.width) != (info.height, info.width):
                raise TrtPanopticError(
                    f"height × width should be the engine's fixed {info.height}×{info.width}, got {h}×{w} — frames are "
                    "letterboxed to the engine size; drop --height/--width or build an engine at that size"
                )
            cfg, h, w = info.config, info.height, info.width
        if config is not None:
            cfg = config if isinstance(config, Config) else load_config(config)
        if cfg is None or h is None or w is None:
            raise TrtPanopticError(
                f"the engine {engine} should have its ONNX beside it (sidecar onnx_path), got none — pass config, height and width")
        super().__init__(cfg, h, w)

    def forward(self, image: np.ndarray, valid_hw: np.ndarray | None = None) -> dict[str, np.ndarray]:
        feed = {INPUT_NAME: image}
        if any(getattr(s, "name", None) == VALID_HW_NAME for s in getattr(self.runner, "inputs", ())):
            # engines of TensorRT-flavour ONNX fuse the panoptic map inside the frame only
            feed[VALID_HW_NAME] = self.full_input(valid_hw)
        return self.runner.run(feed)

    def close(self) -> None:
        """Free the engine's CUDA buffers and stream."""
        close = getattr(self.runner, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> "TensorRTPredictor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
