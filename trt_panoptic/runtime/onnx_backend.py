"""The onnxruntime backend: an exported ONNX (either flavour) on ONNX Runtime, CPU or CUDA provider."""
from __future__ import annotations

import os
import threading

import numpy as np
import onnx

from trt_panoptic.errors import TrtPanopticError, import_optional
from trt_panoptic.export.contract import onnx_info
from trt_panoptic.export.exporter import load_onnx
from trt_panoptic.export.graph_model import VALID_HW_NAME
from trt_panoptic.export.ort_ops import ort_session
from trt_panoptic.runtime.base import RawOutputPredictor, check_batch, run_in_batches


def default_providers() -> list[str]:
    """CUDA first when onnxruntime-gpu offers it, then CPU."""
    ort = import_optional("onnxruntime", "pip install onnxruntime (or onnxruntime-gpu for CUDA)")
    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


class OnnxRuntimePredictor(RawOutputPredictor):
    """Runs an ONNX from :func:`trt_panoptic.export.export_onnx` (its metadata carries the config, H×W and batch).

    :attr:`max_batch` is the graph's batch (``export --batch``). A graph of a fixed batch N always runs N images:
    :meth:`forward_batch` fills a short batch with blank images (zeros, a 32×32 frame: the cheapest to run)
    and drops their results; :attr:`last_occupancy` and the running counts :attr:`images_run` /
    :attr:`slots_run` say how full the runs were. A dynamic batch runs exactly the images given.

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
        #: images every run takes (the fixed batch), or None when the batch is dynamic
        self.fixed_batch: int | None = None if info.dynamic_batch else info.batch
        #: (images, slots) of the latest run: slots - images were padding
        self.last_occupancy: tuple[int, int] = (0, 0)
        #: images and batch slots run so far (images_run / slots_run is the mean occupancy)
        self.images_run = 0
        self.slots_run = 0
        self._count_lock = threading.Lock()  # runs may come from several threads at once (thread_safe)

    @property
    def max_batch(self) -> int:  # type: ignore[override]
        """The graph's batch (its largest, for a dynamic one)."""
        return self.info.batch

    def forward(self, image: np.ndarray, valid_hw: np.ndarray | None = None) -> dict[str, np.ndarray]:
        if image.shape != (1, 3, self.height, self.width):
            raise TrtPanopticError(f"input should be [1, 3, {self.height}, {self.width}], got {list(image.shape)} — letterbox frames with predict()")
        return self._run(image, self.full_input(valid_hw))[0]

    def forward_batch(self, images: np.ndarray, valid_hw: np.ndarray) -> list[dict[str, np.ndarray]]:
        return self._run(*check_batch(images, valid_hw, self))

    def _run(self, images: np.ndarray, valid_hw: np.ndarray) -> list[dict[str, np.ndarray]]:
        """Checked images [n, 3, H, W] and ``valid_hw`` [n, 2] → n output dicts, in runs of the graph's batch (a
        subclass may declare a larger :attr:`max_batch` than its graph takes)."""
        def run(chunk: np.ndarray, valid: np.ndarray) -> dict[str, np.ndarray]:
            feed = {self.input_name: chunk}
            if self.takes_valid_hw:
                feed[VALID_HW_NAME] = valid
            return dict(zip(self.output_names, self.session.run(None, feed)))

        results, slots = run_in_batches(images, valid_hw, self.info.batch, self.fixed_batch, run)
        n = images.shape[0]
        with self._count_lock:
            self.last_occupancy = (n, slots)
            self.images_run += n
            self.slots_run += slots
        return results
