"""TensorRT INT8 calibration cache (the legacy implicit-quantization path of TensorRT 10.x).

The text format TensorRT's calibrators write and ``trtexec --calib`` reads::

    TRT-<version>-EntropyCalibration2
    <tensor name>: <scale as the 8 hex digits of its big-endian IEEE-754 float32>

``version`` is ``NV_TENSORRT_VERSION`` (8.6.1 → 8601; 10.x: major·10000 + minor·100 + patch, 10.3.0 →
100300); ``scale = amax / 127`` (a sigmoid output, amax 1, reads ``3c010a14``). Tensor names are the
ONNX tensor names (the parser keeps them). TensorRT uses the cache only when its header names the
calibrator it is run with, so the header says ``EntropyCalibration2`` (what ``trtexec --calib`` uses)
whatever method computed the scales. TensorRT 11 has no calibrators: use the Q/DQ ONNX there.
"""
from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from trt_panoptic.errors import TrtPanopticError

DEFAULT_TRT_VERSION = "10.3.0"
DEFAULT_ALGORITHM = "EntropyCalibration2"
_HEADER = re.compile(r"^TRT-(\d+)-(\w+)$")
_LINE = re.compile(r"^(.+): ([0-9a-fA-F]{8})$")


@dataclass
class CalibrationCache:
    """A parsed cache: ``version`` (e.g. 100300), ``algorithm``, tensor name → scale (amax / 127)."""

    version: int
    algorithm: str
    scales: dict[str, float] = field(default_factory=dict)

    def amax(self) -> dict[str, float]:
        """Tensor name → clipping threshold (scale · 127)."""
        return {k: v * 127.0 for k, v in self.scales.items()}


def version_number(version: str) -> int:
    """``"10.3.0"`` → 100300, ``"8.6.1"`` → 8601 (TensorRT's ``NV_TENSORRT_VERSION``)."""
    parts = str(version).split(".")
    try:
        major, minor, patch = (int(p) for p in (parts + ["0", "0"])[:3])
    except ValueError:
        raise TrtPanopticError(f"TensorRT version should look like 10.3.0, got {version!r} — pass e.g. --trt-version 10.3.0") from None
    return major * 10000 + minor * 100 + patch if major >= 10 else major * 1000 + minor * 100 + patch


def scale_to_hex(scale: float) -> str:
    """The 8 hex digits of ``scale`` as a big-endian float32."""
    return struct.pack(">f", float(scale)).hex()


def hex_to_scale(text: str) -> float:
    return struct.unpack(">f", bytes.fromhex(text))[0]


def format_cache(scales: Mapping[str, float], trt_version: str = DEFAULT_TRT_VERSION,
                 algorithm: str = DEFAULT_ALGORITHM) -> str:
    """The cache text for tensor name → scale (amax / 127)."""
    lines = [f"TRT-{version_number(trt_version)}-{algorithm}"]
    for name, s in scales.items():
        if "\n" in name:
            raise TrtPanopticError(f"tensor names should be one line, got {name!r} — rename the tensor")
        lines.append(f"{name}: {scale_to_hex(s)}")
    return "\n".join(lines) + "\n"


def write_cache(path: str | Path, scales: Mapping[str, float], trt_version: str = DEFAULT_TRT_VERSION,
                algorithm: str = DEFAULT_ALGORITHM) -> Path:
    """Write the cache atomically (temp file, then rename) and return its path."""
    from trt_panoptic.atomic_io import atomic_write_text

    atomic_write_text(path, format_cache(scales, trt_version, algorithm))
    return Path(path)


def read_cache(path: str | Path) -> CalibrationCache:
    """Parse a calibration cache.

    Raises:
        TrtPanopticError: missing file, a header or line not in TensorRT's format.
    """
    p = Path(path)
    if not p.is_file():
        raise TrtPanopticError(f"calibration cache should be a file, got {str(p)!r} (not found) — check --cache")
    lines = p.read_text(encoding="utf-8", errors="replace").splitlines()
    head = _HEADER.match(lines[0].strip()) if lines else None
    if head is None:
        first = lines[0][:60] if lines else ""
        raise TrtPanopticError(f"{p} should start with 'TRT-<version>-<calibrator>', got {first!r} — pass a TensorRT calibration cache")
    cache = CalibrationCache(int(head.group(1)), head.group(2))
    for n, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        m = _LINE.match(line.rstrip())
        if m is None:
            raise TrtPanopticError(f"{p}:{n} should read '<tensor>: <8 hex digits>', got {line[:60]!r} — regenerate the cache")
        cache.scales[m.group(1)] = hex_to_scale(m.group(2))
    return cache


def check_cache_matches(cache: CalibrationCache, model, source: str = "the cache") -> None:
    """Raise unless every tensor named in ``cache`` is a tensor of ``model`` (``onnx.ModelProto``).

    The message names one missing tensor (the first in cache order) and how many are missing.
    """
    graph = model.graph
    known = {t for n in graph.node for t in n.output} | {i.name for i in graph.input}
    missing = [t for t in cache.scales if t not in known]
    if missing:
        raise TrtPanopticError(
            f"tensors of {source} should exist in the ONNX, got {missing[0]!r} missing "
            f"({len(missing)} of {len(cache.scales)} missing) — the cache was made for another export; recalibrate"
        )
