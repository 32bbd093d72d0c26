"""The tensorrt backend: an engine built from our ONNX, run by :class:`trt_panoptic.engine.runner.TrtRunner`.

Only the raw run differs from ONNX Runtime; letterbox, mask pasting and fusion are the shared path. The
config and input size come from the engine's sidecar (recorded at build time from the ONNX's metadata), or
from ``config``/``height``/``width``.
"""
from __future__ import annotations

import os

import numpy as np

from trt_panoptic.config import Config, config_from_dict, load_config
from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.export.graph_model import INPUT_NAME, VALID_HW_NAME
from trt_panoptic.runtime.base import RawOutputPredictor, check_batch, run_in_batches


class TensorRTPredictor(RawOutputPredictor):
    """Runs a ``.engine`` (with its sidecar) on the GPU; see :class:`trt_panoptic.engine.runner.TrtRunner`."""

    backend = "tensorrt"

    def __init__(self, engine: str | os.PathLike, *, config: str | Config | None = None, height: int | None = None,
                 width: int | None = None, plugins: str | os.PathLike | None = None,
                 trust_sidecar_plugins: bool = False, runner=None) -> None:
        if runner is None:
            from trt_panoptic.engine.runner import TrtRunner

            runner = TrtRunner(engine, plugin=plugins, trust_sidecar_plugin=trust_sidecar_plugins)
        self.runner = runner
        # The engine carries its model: config and input size are in its sidecar (from the ONNX's metadata).
        sidecar = runner.sidecar
        cfg = config_from_dict(sidecar.model_config, source=f"{engine} sidecar") if sidecar.model_config else None
        own = tuple(sidecar.input_size) if sidecar.input_size else None
        if own is not None and (height or own[0], width or own[1]) != own:
            raise TrtPanopticError(
                f"height × width should be the engine's fixed {own[0]}×{own[1]}, got {height}×{width} — frames are "
                "letterboxed to the engine size; drop --height/--width or build an engine at that size")
        h, w = own if own is not None else (height, width)
        if config is not None:
            cfg = config if isinstance(config, Config) else load_config(config)
        if cfg is None or h is None or w is None:
            raise TrtPanopticError(
                f"the engine {engine} should carry its model config and input size in its sidecar, got none (built "
                "from an ONNX without trt_panoptic metadata, or by an older version) — rebuild it from an ONNX of "
                "trt-panoptic export, or pass config, height and width")
        super().__init__(cfg, h, w)

    @property
    def max_batch(self) -> int:  # type: ignore[override]
        """Images one run takes: the engine's batch (the largest of its profile when dynamic; the sidecar records
        that shape), 1 for an engine of a batch-1 graph."""
        shape = self.runner.sidecar.inputs.get(INPUT_NAME)
        return max(1, int(shape[0])) if shape else 1

    @property
    def _fixed_batch(self) -> int | None:
        """The engine's batch when fixed (its image input has no dynamic dimension), else None."""
        spec = next((s for s in getattr(self.runner, "inputs", ()) if getattr(s, "name", None) == INPUT_NAME), None)
        shape = getattr(spec, "shape", None)
        return int(shape[0]) if shape and shape[0] > 0 else None

    def _run(self, images: np.ndarray, valid_hw: np.ndarray) -> dict[str, np.ndarray]:
        feed = {INPUT_NAME: images}
        if any(getattr(s, "name", None) == VALID_HW_NAME for s in getattr(self.runner, "inputs", ())):
            # engines of TensorRT-flavour ONNX fuse the panoptic map inside the frame only
            feed[VALID_HW_NAME] = valid_hw
        return self.runner.run(feed)

    def forward(self, image: np.ndarray, valid_hw: np.ndarray | None = None) -> dict[str, np.ndarray]:
        return self.forward_batch(image, self.full_input(valid_hw))[0]

    def forward_batch(self, images: np.ndarray, valid_hw: np.ndarray) -> list[dict[str, np.ndarray]]:
        """[n, 3, H, W] with ``valid_hw`` [n, 2] → n output dicts: one engine run per ``max_batch`` images, a
        fixed-batch engine's free slots filled with blank frames."""
        images, valid = check_batch(images, valid_hw, self)
        return run_in_batches(images, valid, self.max_batch, self._fixed_batch, self._run)[0]

    def close(self) -> None:
        """Free the engine's CUDA buffers and stream."""
        close = getattr(self.runner, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> "TensorRTPredictor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
