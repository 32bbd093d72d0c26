"""The torch-cudagraph backend: the export twin captured once as a CUDA graph and replayed per frame.

A small model in eager PyTorch on a GPU is bound by Python, kernel launches and host syncs, not by the GPU.
The export twin (:class:`~trt_panoptic.export.graph_model.PanopticGraphModel`) is the exported ONNX's
computation with static shapes and, run eagerly, no host sync (``sync_free``), so it can be captured as a
CUDA graph the way PyTorch documents whole-network capture (``torch.cuda.graphs``: warm up on a side stream,
capture into static input and output tensors, then ``replay()`` after copying each new input into the
static input): one launch per frame, as a TensorRT engine runs, without TensorRT.

Exactness: the twin's sync-free NMS, pooler and panoptic tail are exact within static bounds and report on
the device whether the frame stayed inside them. That flag is read once per frame with the outputs; a frame
outside the bounds is recomputed by the exact ops (``sync_free`` False, not captured) and counted in
:attr:`CudaGraphPredictor.fallbacks`, so the results always equal the eager twin's.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from trt_panoptic.config import Config
from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.export.graph_model import PanopticGraphModel
from trt_panoptic.modeling import PanopticFPN
from trt_panoptic.runtime.base import RawOutputPredictor
from trt_panoptic.runtime.torch_backend import torch_device

logger = logging.getLogger(__name__)

#: Warm-up runs before capture: the first runs allocate and pick kernels (cuDNN, cuBLAS), which must not
#: happen inside the capture.
WARMUP_RUNS = 3


@dataclass
class _Capture:
    """One captured graph and the static tensors it reads and writes."""

    graph: "torch.cuda.CUDAGraph"
    image: Tensor
    valid_hw: Tensor
    outputs: dict[str, Tensor]
    exact: Tensor


class CudaGraphPredictor(RawOutputPredictor):
    """Runs ``model``'s export twin, ending in the panoptic map, as a CUDA graph on ``device``.

    Args:
        model, cfg: the trained model and its config.
        height, width: the input size (multiples of 32) frames are letterboxed to; captured on the first frame.
        device: "cuda" or "cuda:N".
        half: backbone and heads in FP16 (box math, NMS, sampling, softmax and normalization stay FP32).
    """

    backend = "torch-cudagraph"

    def __init__(self, model: PanopticFPN, cfg: Config, height: int, width: int, device: str = "cuda",
                 half: bool = False) -> None:
        super().__init__(cfg, height, width)
        if device == "cpu":
            raise TrtPanopticError("the torch-cudagraph backend should run on a GPU, got --device cpu — pass --device "
                                   "cuda, or use --backend onnxruntime or torch on the CPU")
        self.device = torch_device(device)
        self.half = half
        self.twin = PanopticGraphModel(model.eval().to(self.device), height, width, half=half,
                                       panoptic_tail=True, raw_outputs=True).eval()
        self._capture: _Capture | None = None
        #: frames run, and those recomputed by the exact ops because a static bound was exceeded
        self.frames = 0
        self.fallbacks = 0

    def capture(self) -> None:
        """Capture the twin now (else on the first frame); the warm-up runs on a blank frame."""
        h, w = self.height, self.width
        image = torch.zeros((1, 3, h, w), dtype=torch.uint8, device=self.device)
        valid_hw = torch.tensor([[h, w]], dtype=torch.int32, device=self.device)
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side), torch.no_grad():
            for _ in range(WARMUP_RUNS):
                self.twin.infer(image, valid_hw)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph), torch.no_grad():
                outputs, exact = self.twin.infer(image, valid_hw)
        except RuntimeError as exc:  # an op that syncs or allocates on the host cannot be captured
            raise TrtPanopticError(f"the twin should be capturable as a CUDA graph, got: {str(exc).splitlines()[0]} "
                                   "— run with --backend torch and report this") from exc
        self._capture = _Capture(graph, image, valid_hw, outputs, exact)
        logger.info("torch-cudagraph: captured the %dx%d twin (%s)", h, w, "FP16" if self.half else "FP32")

    @torch.no_grad()
    def forward(self, image: np.ndarray, valid_hw: np.ndarray | None = None) -> dict[str, Tensor]:
        """uint8 [1, 3, H, W] → the twin's outputs (on the GPU; copies, so the next replay does not touch them)."""
        if image.shape != (1, 3, self.height, self.width):
            raise TrtPanopticError(f"input should be [1, 3, {self.height}, {self.width}], got {list(image.shape)} — "
                                   "letterbox frames with predict()")
        hw = self.full_input(valid_hw)
        if self._capture is None:
            self.capture()
        c = self._capture
        c.image.copy_(torch.from_numpy(image))
        c.valid_hw.copy_(torch.from_numpy(hw))
        c.graph.replay()
        self.frames += 1
        if bool(c.exact):  # the frame's one host read before the outputs themselves
            return {name: t.clone() for name, t in c.outputs.items()}
        self.fallbacks += 1
        self.twin.sync_free = False
        try:
            outputs, _ = self.twin.infer(c.image, c.valid_hw)
        finally:
            self.twin.sync_free = True
        return outputs
