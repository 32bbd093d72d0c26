"""``create_predictor``: one call that returns a Predictor for any backend."""
from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

from trt_panoptic.config import Config
from trt_panoptic.errors import TrtPanopticError

logger = logging.getLogger(__name__)

#: Every ``backend`` argument :func:`create_predictor` takes (and the CLI's ``--backend`` choices).
BACKENDS = ("auto", "torch", "torch-cudagraph", "onnxruntime", "tensorrt")
#: Backends that can time a bare backbone (``bench latency``); torch-cudagraph runs only a whole model's twin.
BACKBONE_BACKENDS = ("torch", "onnxruntime", "tensorrt")
#: Export size when the onnxruntime backend exports a PyTorch model whose config records no input size.
DEFAULT_EXPORT_SIZE = (512, 512)


def _tensorrt_available() -> bool:
    return importlib.util.find_spec("tensorrt") is not None


def _onnxruntime_available() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def export_size(cfg: Config, height: int | None, width: int | None) -> tuple[int, int]:
    """The input size an exporting backend uses: the one asked for, else the model's own
    (``model.input.size``), else :data:`DEFAULT_EXPORT_SIZE`."""
    own = tuple(cfg.model.input.size) or DEFAULT_EXPORT_SIZE
    return height or own[0], width or own[1]


#: Largest input side a predictor accepts: beyond it one frame's activations need tens of GB.
MAX_INPUT_SIDE = 8192


def check_input_size(height: int | None, width: int | None) -> None:
    """One-line errors for a half-given or absurd ``--height/--width`` (given alone it used to be ignored)."""
    if (height is None) != (width is None):
        raise TrtPanopticError("--height and --width should be given together, got only one — give both, or neither "
                               "for the model's own size")
    for name, value in (("--height", height), ("--width", width)):
        if value is not None and not 0 < value <= MAX_INPUT_SIDE:
            raise TrtPanopticError(f"{name} should be 1..{MAX_INPUT_SIDE} pixels, got {value} — e.g. {name} 512")


def _pick(backend: str, model: str | None, device: str = "cpu") -> str:
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
    # a checkpoint: ONNX Runtime on the CPU (2-3x PyTorch eager there); on a GPU the export twin captured as a
    # CUDA graph (eager PyTorch there is bound by launches and host syncs, not by the GPU)
    if device == "cpu":
        return "onnxruntime" if _onnxruntime_available() else "torch"
    return "torch-cudagraph"


def create_predictor(
    backend: str = "auto", model: str | os.PathLike | None = None, weights: str | os.PathLike | None = None,
    config: str | os.PathLike | Config | None = None, height: int | None = None, width: int | None = None,
    device: str = "cpu", plugins: str | os.PathLike | None = None, trust_sidecar_plugins: bool = False, **options,
):
    """A :class:`~trt_panoptic.runtime.predictor.Predictor` for ``backend``.

    Args:
        backend: "torch", "torch-cudagraph", "onnxruntime", "tensorrt", or "auto", in this order: tensorrt when
            ``model`` is an engine (and TensorRT is installed); onnxruntime when it is an ONNX, or for a
            checkpoint on the CPU; torch-cudagraph for a checkpoint on a GPU.
        model: a ``.onnx`` (onnxruntime) or ``.engine`` (tensorrt) file. Without it the onnxruntime backend
            exports ``weights`` at ``height`` × ``width`` (default: the model's ``model.input.size``, else
            512×512), once: the graph is kept on disk (:mod:`trt_panoptic.runtime.export_cache`).
        weights, config: PyTorch checkpoint and config (None = the bundled model) for torch / on-the-fly export.
        height, width: input size in pixels; frames are letterboxed to it (torch: None = each frame's own size).
        device: the torch backend's device ("cpu", "cuda", "cuda:N"); TensorRT always runs on the GPU, and
            the onnxruntime backend here runs on the CPU, so it refuses a GPU device.
        plugins: tensorrt: the plugin library to load (default: the one the engine's sidecar names, if it is
            this package's own build); trust_sidecar_plugins: load the sidecar's library wherever it is.
        options: backend-specific — onnxruntime: ``providers``, ``threads``; tensorrt: ``runner``;
            torch-cudagraph: ``half`` (FP16 backbone and heads).
    """
    model = os.fspath(model) if model is not None else None
    check_input_size(height, width)
    chosen = _pick(backend, model, device)
    if backend == "auto":
        why = {"tensorrt": "a TensorRT engine", "onnxruntime": "an ONNX model" if model else "a checkpoint on the CPU",
               "torch": f"a checkpoint on {device}", "torch-cudagraph": f"a checkpoint on {device}"}[chosen]
        logger.info("backend: %s (auto: %s)", chosen, why)
    else:
        logger.info("backend: %s", chosen)
    if chosen == "tensorrt":
        if model is None or Path(model).suffix.lower() not in (".engine", ".plan"):
            got = "no --model" if model is None else repr(model)
            raise TrtPanopticError(f"the tensorrt backend should get --model with a .engine file, got {got} — build one with trt-panoptic build")
        from trt_panoptic.runtime.tensorrt_backend import TensorRTPredictor

        return TensorRTPredictor(model, config=config, height=height, width=width, plugins=plugins,
                                 trust_sidecar_plugins=trust_sidecar_plugins, **options)
    if plugins is not None:
        raise TrtPanopticError(f"--plugins should go with the tensorrt backend (an engine), got the {chosen} backend — "
                               "drop --plugins, or pass --model model.engine")
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
        from trt_panoptic.modeling.checkpoint import bundled_weights, load_model
        from trt_panoptic.postprocess.panoptic_tail import host_fusion_available
        from trt_panoptic.runtime.export_cache import cached_export, export_key

        torch_model, cfg = load_model(weights, config)
        h, w = export_size(cfg, height, width)
        # On the CPU the plugins' C++ host build fuses several times faster than ONNX Runtime runs the
        # standard-op tail (benchmarks/results/frame_cost.md), so the graph stops at the detections then.
        host_tail = host_fusion_available()
        options_key = {"height": h, "width": w, "flavor": "portable", "panoptic_tail": not host_tail}
        key = export_key(Path(weights) if weights is not None else bundled_weights(), cfg, **options_key)

        def export():
            logger.info("exporting the PyTorch model to ONNX at %dx%d (panoptic tail: %s)", h, w,
                     "host C++ build" if host_tail else "in the graph")
            return export_onnx(torch_model, cfg, height=h, width=w, panoptic_tail=not host_tail)

        return OnnxRuntimePredictor(cached_export(key, export), **options)
    if model is not None:
        raise TrtPanopticError(f"the {chosen} backend should get --weights (a checkpoint), got --model {model!r} — use --backend onnxruntime/tensorrt for it")
    from trt_panoptic.modeling.checkpoint import load_model
    from trt_panoptic.runtime.torch_backend import TorchPredictor, torch_device

    if chosen == "torch-cudagraph" and device == "cpu":
        raise TrtPanopticError("the torch-cudagraph backend should run on a GPU, got --device cpu — pass --device cuda, "
                               "or use --backend onnxruntime or torch on the CPU")
    torch_device(device)  # before the model loads: a bad or missing GPU fails fast
    torch_model, cfg = load_model(weights, config)
    if chosen == "torch-cudagraph":
        from trt_panoptic.runtime.cudagraph_backend import CudaGraphPredictor

        return CudaGraphPredictor(torch_model, cfg, *export_size(cfg, height, width), device=device, **options)
    return TorchPredictor(torch_model, cfg, height, width, device=device, **options)
