"""``create_predictor``: one call that returns a Predictor for any backend."""
from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

from trt_panoptic.config import Config
from trt_panoptic.errors import TrtPanopticError

log = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "onnxruntime", "tensorrt")
#: Export size when the onnxruntime backend exports the PyTorch model on the fly (no --model given).
DEFAULT_EXPORT_SIZE = (512, 512)


def _tensorrt_available() -> bool:
    return importlib.util.find_spec("tensorrt") is not None


def _pick(backend: str, model: str | None) -> str:
    if backend not in BACKENDS:
        raise TrtPanopticError(f"backend should be one of {', '.join(BACKENDS)}, got {backend!r} — pick one of them")
    suffix = Path(model).suffix.lower() if model else ""
    if model and suffix not in (".onnx", ".engine", ".plan"):
        raise TrtPanopticError(f"--model should be a .onnx or .engine file, got {model!r} — pass an exported model (or --weights for a checkpoint)")
    if backend != "auto":
        return backend
    if suffix in (".engine", ".plan"):
        if not _tensorrt_available():
            raise TrtPanopticError(f"{model} is a TensorRT engine, but tensorrt is not installed — install TensorRT or pass a .onnx model")
        return "tensorrt"
    if suffix == ".onnx":
        return "onnxruntime"
    return "torch"


def create_predictor(
    backend: str = "auto", model: str | os.PathLike | None = None, weights: str | os.PathLike | None = None,
    config: str | os.PathLike | Config | None = None, height: int | None = None, width: int | None = None,
    device: str = "cpu", **options,
):
    """A :class:`~trt_panoptic.runtime.predictor.Predictor` for ``backend``.

    Args:
        backend: "torch", "onnxruntime", "tensorrt", or "auto": tensorrt when ``model`` is an engine (and
            TensorRT is installed), onnxruntime when it is an ONNX, else torch.
        model: a ``.onnx`` (onnxruntime) or ``.engine`` (tensorrt) file. Without it the onnxruntime backend
            exports ``weights`` in memory at ``height`` × ``width`` (default 512×512).
        weights, config: PyTorch checkpoint and config (None = the bundled model) for torch / on-the-fly export.
        height, width: input size in pixels; frames are letterboxed to it (torch: None = each frame's own size).
        device: the torch backend's device ("cpu", "cuda", "cuda:N"); TensorRT always runs on the GPU, and
            the onnxruntime backend here runs on the CPU, so it refuses a GPU device.
        options: backend-specific — onnxruntime: ``providers``, ``threads``; tensorrt: ``runner``.
    """
    model = os.fspath(model) if model is not None else None
    chosen = _pick(backend, model)
    log.info("backend: %s%s", chosen, f" (auto)" if backend == "auto" else "")
    if chosen == "tensorrt":
        if model is None or Path(model).suffix.lower() not in (".engine", ".plan"):
            raise TrtPanopticError(f"the tensorrt backend should get --model with a .engine file, got {model!r} — build one with trt-panoptic build")
        from trt_panoptic.runtime.tensorrt_backend import TensorRTPredictor

        return TensorRTPredictor(model, config=config, height=height, width=width, **options)
    if chosen == "onnxruntime":
        from trt_panoptic.runtime.onnx_backend import OnnxRuntimePredictor

        if device != "cpu":
            raise TrtPanopticError(f"--device {device} selects the torch backend's device, got the onnxruntime backend "
                                   "(CPU here) — drop --device, or use --backend torch or tensorrt for the GPU")

        if model is not None:
            if Path(model).suffix.lower() != ".onnx":
                raise TrtPanopticError(f"the onnxruntime backend should get a .onnx model, got {model!r} — pass the ONNX the engine was built from")
            pred = OnnxRuntimePredictor(model, **options)
            if (height and height != pred.height) or (width and width != pred.width):
                raise TrtPanopticError(
                    f"--height/--width should match the ONNX's fixed size {pred.height}x{pred.width}, got {height}x{width} — re-export at that size or drop them")
            return pred
        from trt_panoptic.export.exporter import export_onnx
        from trt_panoptic.modeling.checkpoint import load_model

        from trt_panoptic.postprocess.panoptic_tail import host_fusion_available

        torch_model, cfg = load_model(weights, config)
        h, w = height or DEFAULT_EXPORT_SIZE[0], width or DEFAULT_EXPORT_SIZE[1]
        # On the CPU the plugins' C++ host build fuses several times faster than ONNX Runtime runs the
        # standard-op tail (benchmarks/results/frame_cost.md), so the graph stops at the detections then.
        host_tail = host_fusion_available()
        log.info("exporting the PyTorch model to ONNX in memory at %dx%d (panoptic tail: %s)", h, w,
                 "host C++ build" if host_tail else "in the graph")
        return OnnxRuntimePredictor(export_onnx(torch_model, cfg, height=h, width=w, panoptic_tail=not host_tail),
                                    **options)
    if model is not None:
        raise TrtPanopticError(f"the torch backend should get --weights (a checkpoint), got --model {model!r} — use --backend onnxruntime/tensorrt for it")
    from trt_panoptic.modeling.checkpoint import load_model
    from trt_panoptic.runtime.torch_backend import TorchPredictor, torch_device

    torch_device(device)  # before the model loads: a bad or missing GPU fails fast
    torch_model, cfg = load_model(weights, config)
    return TorchPredictor(torch_model, cfg, height, width, device=device, **options)
