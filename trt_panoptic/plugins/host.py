"""The plugin kernels' math on the CPU, through the host library (ctypes).

``roi_align_fpn`` and ``semantic_upsample_argmax`` run the very ``__host__ __device__`` functions the CUDA
kernels run (``plugins/*/kernel.cuh``), compiled by the C++ compiler into ``libtrt_panoptic_host.so``
(built on first use, ~1 s; see :mod:`trt_panoptic.plugins.build`). They take and return numpy arrays or
torch tensors (CPU; a torch input gives a torch output). The parse/serialize functions run the plugins'
field handling (``plugins/*/fields.h``) so it can be tested without TensorRT.
"""
from __future__ import annotations

import ctypes
import functools
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.plugins.build import build_host_library

logger = logging.getLogger(__name__)

_ABI_VERSION = 8
_ERR_LEN = 512
#: PluginFieldType names the host parser understands, in FieldKind order (plugins/common/fields.h).
FIELD_KINDS = ("INT8", "INT16", "INT32", "INT64", "FLOAT32", "OTHER")
_KIND_CTYPES = {"INT8": ctypes.c_int8, "INT16": ctypes.c_int16, "INT32": ctypes.c_int32,
                "INT64": ctypes.c_int64, "FLOAT32": ctypes.c_float}


class _RoIAlignFPNParams(ctypes.Structure):
    _fields_ = [("output_size", ctypes.c_int32), ("sampling_ratio", ctypes.c_int32), ("aligned", ctypes.c_int32),
                ("canonical_box_size", ctypes.c_int32), ("canonical_level", ctypes.c_int32)]


class _SemanticUpsampleArgmaxParams(ctypes.Structure):
    _fields_ = [("scale_factor", ctypes.c_int32), ("with_score", ctypes.c_int32)]


class _PanopticFusionParams(ctypes.Structure):
    _fields_ = [("instance_score_thresh", ctypes.c_float), ("overlap_thresh", ctypes.c_float),
                ("stuff_area_limit", ctypes.c_int32), ("mask_threshold", ctypes.c_float), ("num_stuff", ctypes.c_int32)]


class _FusionRules(ctypes.Structure):
    """plugins/panoptic_fusion/fusion_host.h FusionRules: thresholds in double, as the reference compares them."""

    _fields_ = [("instance_score_thresh", ctypes.c_double), ("overlap_thresh", ctypes.c_double),
                ("stuff_area_limit", ctypes.c_int64), ("mask_threshold", ctypes.c_float)]


class _FieldView(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("kind", ctypes.c_int32), ("data", ctypes.c_void_p),
                ("length", ctypes.c_int32)]


@dataclass(frozen=True)
class RoIAlignFPNFields:
    """RoIAlignFPN plugin fields = ONNX node attributes (defaults: detectron2's box head)."""

    output_size: int = 7
    sampling_ratio: int = 0
    aligned: int = 1
    canonical_box_size: int = 224
    canonical_level: int = 4


@dataclass(frozen=True)
class SemanticUpsampleArgmaxFields:
    """SemanticUpsampleArgmax plugin fields = ONNX node attributes."""

    scale_factor: int = 4
    with_score: int = 0


_lock = threading.Lock()
_lib: ctypes.CDLL | None = None

_P = ctypes.c_void_p
_I32 = ctypes.c_int32
_SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    "tp_abi_version": (_I32, []),
    "tp_nms_f32": (_I32, [_P, ctypes.c_int64, _P, ctypes.c_int64, ctypes.c_float, _P, ctypes.c_char_p, _I32]),
    "tp_decimal_value": (ctypes.c_double, [ctypes.c_float]),
    "tp_roi_align_fpn_f32": (
        _I32, [_P, ctypes.c_int64, _I32, _P, _P, _P, _I32, _I32, _P, _P, _I32, ctypes.c_char_p, _I32]),
    "tp_roi_align_fpn_elementwise_f32": (
        _I32, [_P, ctypes.c_int64, _I32, _P, _P, _P, _I32, _I32, _P, _P, ctypes.c_char_p, _I32]),
    "tp_roi_align_fpn_levels": (_I32, [_P, ctypes.c_int64, _P, _P, ctypes.c_char_p, _I32]),
    "tp_semantic_upsample_argmax_f32": (_I32, [_P, _I32, _I32, _I32, _I32, _P, _P, _P, _I32, ctypes.c_char_p, _I32]),
    "tp_semantic_upsample_argmax_pixelwise_f32": (
        _I32, [_P, _I32, _I32, _I32, _I32, _P, _P, _P, ctypes.c_char_p, _I32]),
    "tp_semantic_upsample_argmax_grouped_f32": (
        _I32, [_P, _I32, _I32, _I32, _I32, _P, _P, _P, ctypes.c_char_p, _I32]),
    "tp_semantic_upsample_argmax_blocked_f32": (
        _I32, [_P, _I32, _I32, _I32, _I32, _P, _P, _P, ctypes.c_char_p, _I32]),
    "tp_panoptic_fusion_f32": (
        _I32, [_P, _I32, _I32, _I32, _P, _I32, _I32, _P, _P, _P, _P, _P, _P, _P, _P, _I32, _P, _I32, ctypes.c_char_p,
               _I32]),
    "tp_panoptic_fusion_parse_fields": (_I32, [_P, _I32, _P, ctypes.c_char_p, _I32, ctypes.c_char_p, _I32]),
    "tp_panoptic_fusion_serialize_fields": (_I32, [_P, _P, _I32]),
    "tp_roi_align_fpn_parse_fields": (_I32, [_P, _I32, _P, ctypes.c_char_p, _I32, ctypes.c_char_p, _I32]),
    "tp_roi_align_fpn_serialize_fields": (_I32, [_P, _P, _I32]),
    "tp_semantic_upsample_argmax_parse_fields": (_I32, [_P, _I32, _P, ctypes.c_char_p, _I32, ctypes.c_char_p, _I32]),
    "tp_semantic_upsample_argmax_serialize_fields": (_I32, [_P, _P, _I32]),
}


def load_library(path: str | Path | None = None) -> ctypes.CDLL:
    """Load (building first if needed) the host library; cached after the first call.

    Args:
        path: a prebuilt ``libtrt_panoptic_host.so``; default: :func:`build_host_library`'s.
    """
    global _lib
    with _lock:
        if _lib is not None and path is None:
            return _lib
        lib = ctypes.CDLL(str(path or build_host_library()))
        for name, (restype, argtypes) in _SIGNATURES.items():
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = restype, argtypes
        if lib.tp_abi_version() != _ABI_VERSION:
            raise TrtPanopticError(
                f"host library ABI should be {_ABI_VERSION}, got {lib.tp_abi_version()} — delete plugins/build and retry")
        if path is None:
            _lib = lib
        return lib


@functools.lru_cache(maxsize=1)
def library_available() -> bool:
    """Whether the host library loads (built on first use; needs a C++ compiler). Asked once; a failure is
    logged once, and the callers fall back to their PyTorch implementations."""
    try:
        load_library()
        return True
    except (TrtPanopticError, OSError) as exc:
        logger.warning("plugin host library unavailable (%s); using the PyTorch implementations", exc)
        return False


def _check(rc: int, err: ctypes.Array, what: str) -> None:
    if rc != 0:
        raise TrtPanopticError(f"{what}: {err.value.decode(errors='replace')}")


def _to_numpy_f32(x: Any, name: str) -> tuple[np.ndarray, bool]:
    """C-contiguous float32 numpy view/copy of x; also says whether x was a torch tensor."""
    is_torch = type(x).__module__.startswith("torch")
    if is_torch:
        if x.device.type != "cpu":
            raise TrtPanopticError(f"{name} should be a CPU tensor, got {x.device} — call .cpu() first")
        x = x.detach().float().numpy()
    arr = np.ascontiguousarray(np.asarray(x), dtype=np.float32)
    return arr, is_torch


def _out(arr: np.ndarray, as_torch: bool) -> Any:
    if as_torch:
        import torch

        return torch.from_numpy(arr)
    return arr


def roi_align_fpn(
    rois: Any,
    features: Sequence[Any],
    output_size: int,
    sampling_ratio: int = 0,
    aligned: bool = True,
    canonical_box_size: int = 224,
    canonical_level: int = 4,
    path: str = "rois",
    num_threads: int = 0,
) -> Any:
    """Multi-level RoIAlign exactly as the RoIAlignFPN plugin computes it (FP32, on the CPU).

    Each RoI is pooled from the level floor(canonical_level + log2(sqrt(area) / canonical_box_size + 1e-8))
    clamped to [2, 5], level k having stride 2^k, with torchvision's roi_align semantics.

    Args:
        rois: [R, 5] (batch index, x1, y1, x2, y2) or [R, 4] (x1, y1, x2, y2 of image 0), input pixels.
        features: [P2, P3, P4, P5], each [N, C, H_k, W_k] (strides 4, 8, 16, 32).
        output_size: P, the pooled side.
        sampling_ratio: samples per bin side; 0 = adaptive ceil(roi / bin) (torchvision's -1).
        aligned: half-pixel offset (torchvision aligned=True).
        path: "rois" (sampling taps computed once per RoI and reused for every channel, fast) or
            "element" (roiAlignBin per output element, what each CUDA thread runs). Same bits; for tests.
        num_threads: CPU threads for the "rois" path (0 = all cores); results do not depend on it.

    Returns:
        [R, C, P, P] float32 (torch tensor if ``rois`` is one, else numpy). RoIs whose batch index is not an
        integer in [0, N) give zeros.
    """
    if len(features) != 4:
        raise TrtPanopticError(f"features should be the 4 maps P2..P5, got {len(features)} — pass [p2, p3, p4, p5]")
    if sampling_ratio < 0:
        raise TrtPanopticError(f"sampling_ratio should be >= 0, got {sampling_ratio} — use 0 for adaptive sampling")
    if output_size < 1:
        raise TrtPanopticError(f"output_size should be >= 1, got {output_size}")
    if path not in ("rois", "element"):
        raise TrtPanopticError(f"path should be 'rois' or 'element', got {path!r}")
    r, as_torch = _to_numpy_f32(rois, "rois")
    if r.ndim != 2 or r.shape[1] not in (4, 5):
        raise TrtPanopticError(f"rois should be [R, 4] or [R, 5], got shape {tuple(r.shape)}")
    maps = [_to_numpy_f32(f, f"P{k + 2}")[0] for k, f in enumerate(features)]
    for k, m in enumerate(maps):
        if m.ndim != 4 or m.shape[:2] != maps[0].shape[:2]:
            raise TrtPanopticError(
                f"P{k + 2} should be [N, C, H, W] with P2's N and C {maps[0].shape[:2]}, got {tuple(m.shape)}")
    batch, channels = maps[0].shape[:2]
    out = np.empty((r.shape[0], channels, output_size, output_size), dtype=np.float32)
    if r.shape[0] == 0 or channels == 0:
        return _out(out, as_torch)
    params = _RoIAlignFPNParams(output_size, sampling_ratio, int(bool(aligned)), canonical_box_size, canonical_level)
    ptrs = (ctypes.c_void_p * 4)(*[m.ctypes.data for m in maps])
    heights = (ctypes.c_int32 * 4)(*[m.shape[2] for m in maps])
    widths = (ctypes.c_int32 * 4)(*[m.shape[3] for m in maps])
    err = ctypes.create_string_buffer(_ERR_LEN)
    lib = load_library()
    args = [r.ctypes.data, r.shape[0], r.shape[1], ptrs, heights, widths, batch, channels, ctypes.byref(params),
            out.ctypes.data]
    if path == "rois":
        rc = lib.tp_roi_align_fpn_f32(*args, int(num_threads), err, _ERR_LEN)
    else:
        rc = lib.tp_roi_align_fpn_elementwise_f32(*args, err, _ERR_LEN)
    _check(rc, err, "roi_align_fpn")
    return _out(out, as_torch)


def roi_align_fpn_levels(boxes: Any, canonical_box_size: int = 224, canonical_level: int = 4) -> np.ndarray:
    """FPN level (2..5) the plugin assigns to each box [R, 4] (x1, y1, x2, y2, input pixels); int32 [R]."""
    b, _ = _to_numpy_f32(boxes, "boxes")
    if b.ndim != 2 or b.shape[1] != 4:
        raise TrtPanopticError(f"boxes should be [R, 4], got shape {tuple(b.shape)}")
    levels = np.empty(b.shape[0], dtype=np.int32)
    params = _RoIAlignFPNParams(7, 0, 1, canonical_box_size, canonical_level)
    err = ctypes.create_string_buffer(_ERR_LEN)
    rc = load_library().tp_roi_align_fpn_levels(b.ctypes.data, b.shape[0], ctypes.byref(params), levels.ctypes.data,
                                                err, _ERR_LEN)
    _check(rc, err, "roi_align_fpn_levels")
    return levels


_UPSAMPLE_PATHS = {"rows": "tp_semantic_upsample_argmax_f32", "pixel": "tp_semantic_upsample_argmax_pixelwise_f32",
                   "group": "tp_semantic_upsample_argmax_grouped_f32",
                   "block": "tp_semantic_upsample_argmax_blocked_f32"}


def nms(boxes: np.ndarray, group_starts: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS within each group of ranked boxes (``plugins/host/nms.cpp``).

    Args:
        boxes: [n, 4] float32 XYXY, sorted by group, then by decreasing score.
        group_starts: [groups + 1] int64 offsets of each group's run (0 first, n last).
        iou_threshold: a box is suppressed by a kept better-ranked box of its group when IoU > this.

    Returns:
        [n] bool, True where the ranked box is kept.
    """
    b = np.ascontiguousarray(boxes, dtype=np.float32)
    starts = np.ascontiguousarray(group_starts, dtype=np.int64)
    if b.ndim != 2 or b.shape[1] != 4:
        raise TrtPanopticError(f"nms: boxes should be [n, 4], got shape {tuple(b.shape)}")
    keep = np.empty(b.shape[0], dtype=np.uint8)
    err = ctypes.create_string_buffer(_ERR_LEN)
    rc = load_library().tp_nms_f32(b.ctypes.data, b.shape[0], starts.ctypes.data, starts.shape[0] - 1,
                                   float(iou_threshold), keep.ctypes.data, err, _ERR_LEN)
    _check(rc, err, "nms")
    return keep.astype(bool)


def semantic_upsample_argmax(
    logits: Any, scale_factor: int = 4, with_score: bool = False, path: str = "rows", num_threads: int = 0
) -> Any:
    """Fused bilinear upsampling (align_corners=False) and argmax over classes, as the plugin computes it.

    Equals ``F.interpolate(logits, scale_factor=s, mode="bilinear", align_corners=False).argmax(1)`` (the
    first class wins an exact tie) without materializing the [N, C, s*h, s*w] tensor.

    Args:
        logits: [N, C, h, w] class scores at 1/s resolution (FP16 inputs are computed in FP32).
        scale_factor: s, a positive integer.
        with_score: also return the winning upsampled logit [N, s*h, s*w] float32.
        path: which loop runs the math — "rows" (the fast host loop), or the functions the CUDA kernel
            runs: "pixel" (one output pixel per call, its path for s other than 2, 4, 8), "block" (the s x s
            block of one input cell per call, its path for s = 2, 4) or "group" (s consecutive pixels per
            call, its path for s = 8). All give identical results; the choice is for tests.
        num_threads: CPU threads for the "rows" path (0 = all cores); results do not depend on it.

    Returns:
        labels [N, s*h, s*w] int32 (torch tensor if ``logits`` is one, else numpy), or (labels, scores).
    """
    if scale_factor < 1 or int(scale_factor) != scale_factor:
        raise TrtPanopticError(f"scale_factor should be a positive integer, got {scale_factor}")
    if path not in _UPSAMPLE_PATHS:
        raise TrtPanopticError(f"path should be one of {sorted(_UPSAMPLE_PATHS)}, got {path!r}")
    x, as_torch = _to_numpy_f32(logits, "logits")
    if x.ndim != 4 or x.shape[1] == 0:
        raise TrtPanopticError(f"logits should be [N, C, h, w] with C >= 1, got shape {tuple(x.shape)}")
    n, c, h, w = x.shape
    labels = np.empty((n, h * scale_factor, w * scale_factor), dtype=np.int32)
    scores = np.empty(labels.shape, dtype=np.float32) if with_score else None
    if labels.size:
        params = _SemanticUpsampleArgmaxParams(int(scale_factor), int(with_score))
        err = ctypes.create_string_buffer(_ERR_LEN)
        lib = load_library()
        args = [x.ctypes.data, n, c, h, w, ctypes.byref(params), labels.ctypes.data,
                scores.ctypes.data if scores is not None else None]
        if path == "rows":
            args.append(int(num_threads))
        rc = getattr(lib, _UPSAMPLE_PATHS[path])(*args, err, _ERR_LEN)
        _check(rc, err, "semantic_upsample_argmax")
    if with_score:
        return _out(labels, as_torch), _out(scores, as_torch)
    return _out(labels, as_torch)


@dataclass(frozen=True)
class PanopticFusionFields:
    """PanopticFusion plugin fields = ONNX node attributes (defaults: detectron2's fusion rules)."""

    instance_score_thresh: float = 0.5
    overlap_thresh: float = 0.5
    stuff_area_limit: int = 4096
    mask_threshold: float = 0.5
    num_stuff: int = 0


def panoptic_fusion(
    sem_labels: Any, mask_probs: Any, boxes: Any, scores: Any, classes: Any, num_detections: Any = None,
    valid_hw: Any = None, *, instance_score_thresh: float = 0.5, overlap_thresh: float = 0.5,
    stuff_area_limit: int = 4096, mask_threshold: float = 0.5, max_segments: int | None = None, num_threads: int = 0,
) -> tuple[Any, Any, Any]:
    """Mask pasting + panoptic fusion as the PanopticFusion plugin computes them (FP32, on the CPU).

    Args:
        sem_labels: [N, H, W] int semantic labels (0 = 'other', 1..S stuff; negative = no stuff).
        mask_probs: [N, D, M, M] probabilities; boxes: [N, D, 4] XYXY pixels; scores: [N, D];
        classes: [N, D] 0-based thing classes; num_detections: [N] valid rows per image (None = all D).
        valid_hw: [N, 2] height and width of the frame inside a padded input: only that region is fused,
            the rest stays 0 (None = the whole map).
        max_segments: rows of the table (default D + the largest label).
        num_threads: images fused in parallel (0 = all cores); results do not depend on it.

    Returns:
        (panoptic [N, H, W] int32, table [N, S, 10] float32 with
        :data:`trt_panoptic.postprocess.panoptic_tail.SEGMENT_COLUMNS`, num_segments [N] int32) — torch
        tensors if ``sem_labels`` is one, else numpy.
    """
    as_torch = type(sem_labels).__module__.startswith("torch")

    def arr(x: Any, dtype: Any, name: str) -> np.ndarray:
        if type(x).__module__.startswith("torch"):
            if x.device.type != "cpu":
                raise TrtPanopticError(f"{name} should be a CPU tensor, got {x.device} — call .cpu() first")
            x = x.detach().numpy()
        return np.ascontiguousarray(np.asarray(x), dtype=dtype)

    labels = arr(sem_labels, np.int32, "sem_labels")
    probs = arr(mask_probs, np.float32, "mask_probs")
    if labels.ndim != 3 or probs.ndim != 4 or probs.shape[0] != labels.shape[0] or probs.shape[2] != probs.shape[3]:
        raise TrtPanopticError(f"sem_labels should be [N, H, W] and mask_probs [N, D, M, M], got {labels.shape} and {probs.shape}")
    n, h, w = labels.shape
    d, m = probs.shape[1], probs.shape[3]
    box = arr(boxes, np.float32, "boxes").reshape(n, d, 4)
    score = arr(scores, np.float32, "scores").reshape(n, d)
    cls = arr(classes, np.int32, "classes").reshape(n, d)
    counts = None if num_detections is None else arr(num_detections, np.int32, "num_detections").reshape(n)
    valid = None if valid_hw is None else arr(valid_hw, np.int32, "valid_hw").reshape(n, 2)
    if max_segments is None:
        max_segments = d + max(int(labels.max()) if labels.size else 0, 0)
    panoptic = np.zeros((n, h, w), np.int32)
    table = np.zeros((n, max_segments, 10), np.float32)
    num = np.zeros(n, np.int32)
    if n and h and w:
        params = _FusionRules(float(instance_score_thresh), float(overlap_thresh), int(stuff_area_limit),
                              float(mask_threshold))
        err = ctypes.create_string_buffer(_ERR_LEN)
        rc = load_library().tp_panoptic_fusion_f32(
            labels.ctypes.data, n, h, w, probs.ctypes.data, d, m, box.ctypes.data, score.ctypes.data, cls.ctypes.data,
            None if counts is None else counts.ctypes.data, None if valid is None else valid.ctypes.data,
            ctypes.byref(params), panoptic.ctypes.data,
            table.ctypes.data, max_segments, num.ctypes.data, int(num_threads), err, _ERR_LEN)
        _check(rc, err, "panoptic_fusion")
    return _out(panoptic, as_torch), _out(table, as_torch), _out(num, as_torch)


def field_decimal(value: float) -> float:
    """The decimal a FLOAT32 plugin field (an ONNX float attribute) stands for: the shortest decimal that rounds
    to it (0.7f → 0.7). Thresholds travel as float32 but compare as the Python float the user wrote, in the
    plugins (``plugins/common/fields.h`` decimalValue), their ONNX Runtime ops and the portable tail alike."""
    return float(np.format_float_positional(np.float32(value), unique=True, trim="0"))


def _field_views(fields: dict[str, tuple[str, Any]]) -> tuple[ctypes.Array, list[Any]]:
    """(name -> (PluginFieldType name, value or list)) as a FieldView array; keeps the buffers alive."""
    views = (_FieldView * max(len(fields), 1))()
    keep: list[Any] = []
    for i, (name, (kind, value)) in enumerate(fields.items()):
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        ctype = _KIND_CTYPES.get(kind, ctypes.c_int32)
        buf = (ctype * max(len(values), 1))(*values)
        name_b = name.encode()
        keep += [buf, name_b]
        views[i] = _FieldView(name_b, FIELD_KINDS.index(kind if kind in _KIND_CTYPES else "OTHER"),
                              ctypes.cast(buf, ctypes.c_void_p), len(values))
    return views, keep


def _parse(fn_name: str, params_cls: type, fields: dict[str, tuple[str, Any]]) -> tuple[Any, list[str]]:
    views, _keep = _field_views(fields)
    params = params_cls()
    ignored = ctypes.create_string_buffer(_ERR_LEN)
    err = ctypes.create_string_buffer(_ERR_LEN)
    rc = getattr(load_library(), fn_name)(views, len(fields), ctypes.byref(params), ignored, _ERR_LEN, err, _ERR_LEN)
    _check(rc, err, "plugin fields")
    names = [s for s in ignored.value.decode().split(",") if s]
    return params, names


def _serialize(fn_name: str, params: ctypes.Structure) -> dict[str, tuple[str, int]]:
    out = (_FieldView * 16)()
    n = getattr(load_library(), fn_name)(ctypes.byref(params), out, 16)
    result = {}
    for v in out[:n]:
        assert v.length == 1, "host: all fields are scalars"
        kind = FIELD_KINDS[v.kind]
        result[v.name.decode()] = (kind, ctypes.cast(v.data, ctypes.POINTER(_KIND_CTYPES[kind])).contents.value)
    return result


def parse_roi_align_fpn_fields(fields: dict[str, tuple[str, Any]]) -> tuple[RoIAlignFPNFields, list[str]]:
    """Parse plugin fields as the RoIAlignFPN creator does.

    Args:
        fields: name -> (PluginFieldType name such as "INT32", value or list of values).

    Returns:
        (the resulting fields, unknown field names the creator would ignore with a warning).

    Raises:
        TrtPanopticError: with the creator's message on a wrong type, length or range.
    """
    p, ignored = _parse("tp_roi_align_fpn_parse_fields", _RoIAlignFPNParams, fields)
    return RoIAlignFPNFields(p.output_size, p.sampling_ratio, p.aligned, p.canonical_box_size, p.canonical_level), ignored


def serialize_roi_align_fpn_fields(fields: RoIAlignFPNFields) -> dict[str, tuple[str, int]]:
    """The fields the RoIAlignFPN plugin serializes, as name -> (type name, value), in its order."""
    p = _RoIAlignFPNParams(fields.output_size, fields.sampling_ratio, fields.aligned, fields.canonical_box_size,
                           fields.canonical_level)
    return _serialize("tp_roi_align_fpn_serialize_fields", p)


def parse_semantic_upsample_argmax_fields(
    fields: dict[str, tuple[str, Any]]
) -> tuple[SemanticUpsampleArgmaxFields, list[str]]:
    """Parse plugin fields as the SemanticUpsampleArgmax creator does (see parse_roi_align_fpn_fields)."""
    p, ignored = _parse("tp_semantic_upsample_argmax_parse_fields", _SemanticUpsampleArgmaxParams, fields)
    return SemanticUpsampleArgmaxFields(p.scale_factor, p.with_score), ignored


def serialize_semantic_upsample_argmax_fields(fields: SemanticUpsampleArgmaxFields) -> dict[str, tuple[str, int]]:
    """The fields the SemanticUpsampleArgmax plugin serializes, as name -> (type name, value)."""
    p = _SemanticUpsampleArgmaxParams(fields.scale_factor, fields.with_score)
    return _serialize("tp_semantic_upsample_argmax_serialize_fields", p)


def parse_panoptic_fusion_fields(fields: dict[str, tuple[str, Any]]) -> tuple[PanopticFusionFields, list[str]]:
    """Parse plugin fields as the PanopticFusion creator does (see parse_roi_align_fpn_fields)."""
    p, ignored = _parse("tp_panoptic_fusion_parse_fields", _PanopticFusionParams, fields)
    return PanopticFusionFields(p.instance_score_thresh, p.overlap_thresh, p.stuff_area_limit, p.mask_threshold,
                                p.num_stuff), ignored


def serialize_panoptic_fusion_fields(fields: PanopticFusionFields) -> dict[str, tuple[str, Any]]:
    """The fields the PanopticFusion plugin serializes, as name -> (type name, value), in its order."""
    p = _PanopticFusionParams(fields.instance_score_thresh, fields.overlap_thresh, fields.stuff_area_limit,
                              fields.mask_threshold, fields.num_stuff)
    return _serialize("tp_panoptic_fusion_serialize_fields", p)
