"""One calibration run: recipe → plan → statistics → thresholds → Q/DQ ONNX (+ TensorRT calibration cache).

Statistics do not depend on the method, so one :func:`collect_calibration_stats` serves every method
(:func:`thresholds`) — the accuracy benchmark compares methods on the same measurements.
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from trt_panoptic.config import InputConfig, read_yaml
from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.quantization.methods import TensorStats, check_method, compute_amax, needs_histogram
from trt_panoptic.quantization.qdq import DEFAULT_SKIP, QuantPlan, insert_qdq, name_nodes, plan_quantization

logger = logging.getLogger(__name__)



@dataclass
class CalibrationRecipe:
    """What to calibrate with (``calibration/*.yaml`` load into this).

    Attributes:
        method: one of ``minmax``, ``percentile``, ``entropy``, ``mse``.
        num_images: calibration images to use.
        percentile: for ``percentile``, in percent.
        skip: globs on node / weight names kept in float (see :mod:`trt_panoptic.quantization.qdq`).
        every_k: video sources: use every k-th frame.
        convtranspose_axis: ConvTranspose weight-scale axis (0 = what TensorRT's kernels take).
    """

    method: str = "entropy"
    num_images: int = 256
    percentile: float = 99.99
    skip: list[str] = field(default_factory=lambda: list(DEFAULT_SKIP))
    every_k: int = 10
    convtranspose_axis: int = 0

    def __post_init__(self) -> None:
        check_method(self.method)
        if isinstance(self.skip, str):  # one pattern written without brackets in a recipe
            self.skip = [self.skip]
        for name, kind in (("num_images", int), ("every_k", int), ("convtranspose_axis", int), ("percentile", (int, float))):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, kind):
                raise TrtPanopticError(f"recipe {name} should be a number, got {value!r} — fix the recipe or the flag")
        if not isinstance(self.skip, (list, tuple)):
            raise TrtPanopticError(f"recipe skip should be a list of node-name patterns, got {self.skip!r} — e.g. skip: ['*predictor*']")
        if not 0 < float(self.percentile) <= 100:
            raise TrtPanopticError(f"percentile should be in (0, 100], got {self.percentile} — e.g. 99.99")
        if self.convtranspose_axis not in (0, 1):
            raise TrtPanopticError(f"convtranspose_axis should be 0 or 1, got {self.convtranspose_axis} — use 0 for TensorRT")
        self.skip = [str(s) for s in self.skip]


def load_recipe(path: str | Path) -> CalibrationRecipe:
    """Read a recipe YAML (keys of :class:`CalibrationRecipe`; unknown keys are an error)."""
    p = Path(path)
    if not p.is_file():
        raise TrtPanopticError(f"recipe should be a YAML file, got {str(p)!r} (not found) — see calibration/*.yaml")
    data = read_yaml(p, "recipe") or {}
    if not isinstance(data, dict):
        raise TrtPanopticError(f"{p} should hold a mapping of recipe keys, got {type(data).__name__} — see calibration/*.yaml")
    known = set(CalibrationRecipe.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        raise TrtPanopticError(f"{p}: keys should be among {', '.join(sorted(known))}, got {unknown[0]!r} — remove or rename it")
    return CalibrationRecipe(**data)


def model_input_size(model) -> tuple[int, int]:
    """(H, W) of the ONNX's static uint8 [1, 3, H, W] input (what calibration frames are fed as)."""
    import onnx

    tensor = model.graph.input[0].type.tensor_type
    dims = [d.dim_value for d in tensor.shape.dim]
    if tensor.elem_type != onnx.TensorProto.UINT8 or len(dims) != 4 or dims[:2] != [1, 3] or min(dims) <= 0:
        dtype = onnx.TensorProto.DataType.Name(tensor.elem_type)
        raise TrtPanopticError(f"ONNX input should be uint8 [1, 3, H, W] images (a trt-panoptic export), got {dtype} "
                               f"{dims} — calibrate the ONNX from `trt-panoptic export` with a fixed --height/--width")
    return dims[2], dims[3]


def _model_input_config(model) -> InputConfig | None:
    from trt_panoptic.export.contract import onnx_info

    cfg = onnx_info(model, require_metadata=False).config
    return cfg.model.input if cfg is not None else None


def model_pixel_mean(model) -> tuple[float, float, float]:
    """The letterbox padding the predictors use (the config's pixel mean), read from the export metadata."""
    inp = _model_input_config(model)
    return tuple(float(v) for v in inp.pixel_mean) if inp is not None else (0.0, 0.0, 0.0)


def model_takes_rgb(model) -> bool:
    """Whether the exported model's config says its input is RGB (frames are BGR and get flipped)."""
    inp = _model_input_config(model)
    return inp is not None and inp.format.upper() == "RGB"


def collect_calibration_stats(model, plan: QuantPlan, images, *, histograms: bool = True,
                              progress: bool = True) -> dict[str, TensorStats]:
    """Statistics of every tensor the plan quantizes or the calibration cache names."""
    from trt_panoptic.quantization.stats import collect_stats

    tensors = list(dict.fromkeys(plan.activations + plan.cache_tensors))
    return collect_stats(model, tensors, images, histograms=histograms, progress=progress)


def thresholds(stats: Mapping[str, TensorStats], method: str, percentile: float = 99.99) -> dict[str, float]:
    """Tensor name → amax by ``method``."""
    return {t: compute_amax(s, method, percentile=percentile) for t, s in stats.items()}


def quantized_model(model, plan: QuantPlan, amax: Mapping[str, float], recipe: CalibrationRecipe,
                    info: Mapping[str, Any] | None = None):
    """The Q/DQ ``onnx.ModelProto``, its metadata saying ``precision: int8`` and how it was calibrated."""
    from trt_panoptic.export.contract import write_metadata

    out = insert_qdq(model, plan, amax, convtranspose_axis=recipe.convtranspose_axis)
    calibration = {**asdict(recipe), **(dict(info) if info else {}), "quantized_nodes": len(plan.nodes),
                   "residual_adds": len(plan.residual_adds)}
    return write_metadata(out, precision="int8", calibration=json.dumps(calibration))


@dataclass
class CalibrationResult:
    """Everything one run produced: the Q/DQ model, the plan, the thresholds, the images used."""

    model: Any
    plan: QuantPlan
    amax: dict[str, float]
    num_images: int


def calibrate(model, data: str | Path, recipe: CalibrationRecipe, *, progress: bool = True) -> CalibrationResult:
    """Calibrate a float ``onnx.ModelProto`` on ``data`` (folder, video, ``synthetic[:SEED]``) by ``recipe``."""
    import onnx

    from trt_panoptic.quantization.calib_data import CalibrationImages
    from trt_panoptic.quantization.qdq import FP16_QDQ_OPSET

    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < FP16_QDQ_OPSET and any(init.data_type == onnx.TensorProto.FLOAT16 for init in model.graph.initializer):
        # checked before the statistics pass (minutes), not when the Q/DQ nodes are inserted
        raise TrtPanopticError(f"--onnx FP16-typed needs opset ≥ {FP16_QDQ_OPSET} for FP16 Q/DQ, got opset {opset} — "
                               f"re-export with --fp16 --opset {FP16_QDQ_OPSET}")
    name_nodes(model)
    plan = plan_quantization(model, recipe.skip)
    if not plan.nodes:
        raise TrtPanopticError("the ONNX should have Conv/Gemm nodes to quantize, got none outside the skip list — check --skip")
    images = CalibrationImages(data, recipe.num_images, model_input_size(model), model_pixel_mean(model),
                               every_k=recipe.every_k, rgb=model_takes_rgb(model))
    logger.info("calibrating %d tensors (%d linear nodes, %d residual adds; %d skipped) on %d images by %s",
                len(plan.activations), len(plan.nodes), len(plan.residual_adds), len(plan.skipped), len(images), recipe.method)
    stats = collect_calibration_stats(model, plan, images, histograms=needs_histogram(recipe.method), progress=progress)
    amax = thresholds(stats, recipe.method, recipe.percentile)
    info = {"data": str(data), "images_used": len(images)}
    return CalibrationResult(quantized_model(model, plan, amax, recipe, info), plan, amax, len(images))


def cache_scales(plan: QuantPlan, amax: Mapping[str, float]) -> dict[str, float]:
    """Tensor name → scale (amax / 127) for the calibration cache, in the plan's order."""
    from trt_panoptic.quantization.qdq import activation_scale

    return {t: float(activation_scale(amax[t])) for t in plan.cache_tensors if t in amax}


def recipe_with(recipe: CalibrationRecipe, **overrides: Any) -> CalibrationRecipe:
    """A copy of ``recipe`` with the non-None ``overrides`` applied (CLI flags over recipe values)."""
    data = asdict(recipe)
    data.update({k: v for k, v in overrides.items() if v is not None})
    return CalibrationRecipe(**data)
