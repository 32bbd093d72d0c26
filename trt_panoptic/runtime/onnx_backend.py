"""The onnxruntime backend: an exported ONNX (either flavour) on ONNX Runtime, CPU or CUDA provider."""
from __future__ import annotations

import os

import numpy as np
import onnx

from trt_panoptic.errors import TrtPanopticError, import_optional
from trt_panoptic.export.contract import onnx_info
from trt_panoptic.export.exporter import load_onnx
from trt_panoptic.export.graph_model import VALID_HW_NAME
from trt_panoptic.export.ort_ops import ort_session
from trt_panoptic.runtime.base import RawOutputPredictor


def default_providers() -> list[str]:
    """CUDA first when onnxruntime-gpu offers it, then CPU."""
    ort = import_optional("onnxruntime", "pip install onnxruntime (or onnxruntime-gpu for CUDA)")
    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


class OnnxRuntimePredictor(RawOutputPredictor):
    """Runs an ONNX from :func:`trt_panoptic.export.export_onnx` (its metadata carries the config and H×W).

    Args:
        model: path of the ``.onnx`` file, or a loaded ``onnx.ModelProto``.
        providers: ONNX Runtime providers (default: CUDA if available, then CPU).
        threads: intra-op threads (None = ONNX Runtime's default).
    """

    backend = "onnxruntime"
    # InferenceSession.run may be called from several threads at once (ONNX Runtime's documented contract),
    # so the video pipeline may keep several frames in flight (--inflight N).
    thread_safe = True

    def __init__(self, model: str | os.PathLike | onnx.ModelProto, providers: list[str] | None = None,
                 threads: int | None = None) -> None:
        proto = model if isinstance(model, onnx.ModelProto) else load_onnx(model)
        info = onnx_info(proto, source=str(model) if not isinstance(model, onnx.ModelProto) else "model")
        super().__init__(info.config, info.height, info.width)
        self.info = info
        self.session = ort_session(proto, providers or default_providers(), threads=threads)
        self.providers = self.session.get_providers()
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.input_name = self.session.get_inputs()[0].name
        self.takes_valid_hw = any(i.name == VALID_HW_NAME for i in self.session.get_inputs())

    def forward(self, image: np.ndarray, valid_hw: np.ndarray | None = None) -> dict[str, np.ndarray]:
        if image.shape != (1, 3, self.height, self.width):
            raise TrtPanopticError(f"input should be [1, 3, {self.height}, {self.width}], got {list(image.shape)} — letterbox frames with predict()")
        feed = {self.input_name: image}
        if self.takes_valid_hw:
            feed[VALID_HW_NAME] = self.full_input(valid_hw)
        return dict(zip(self.output_names, self.session.run(None, feed)))
