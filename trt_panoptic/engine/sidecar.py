"""The JSON sidecar written next to every engine, and the check made before running one.

An engine is tied to the TensorRT release, the GPU (compute capability) and the plugin library it was
built with. ``model.engine`` gets ``model.engine.json`` with those facts, the precision, the input
shapes, the SHA-256 of the ONNX and of the plugin library, the build flags and the command that
rebuilds it; :func:`check_sidecar` compares it with what is running and, on a mismatch, raises one line
that ends with that rebuild command.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trt_panoptic.atomic_io import atomic_write_bytes
from trt_panoptic.engine.versions import parse_version
from trt_panoptic.errors import TrtPanopticError

logger = logging.getLogger(__name__)

SIDECAR_FORMAT = 1


@dataclass
class Sidecar:
    """Facts about one engine (all JSON-serializable).

    Attributes:
        tensorrt_version: e.g. ``"10.3.0.30"``.
        gpu_name: e.g. ``"Orin"``, ``"NVIDIA H100 80GB HBM3"``.
        compute_capability: ``"major.minor"``, e.g. ``"8.7"``.
        precision: ``fp32`` | ``fp16`` | ``int8``.
        inputs: input name → shape the engine was built for (the max of a profile when dynamic).
        onnx_path / onnx_sha256: the ONNX it was built from.
        plugin_path / plugin_sha256: the plugin library loaded at build time (None if none).
        builder_flags / network_flags: TensorRT enum member names the build set.
        rebuild_command: ``trt-panoptic build ...`` that makes this engine again.
        trtexec_command: the equivalent trtexec line.
        model_config: the model config the ONNX carried (its ``trt_panoptic.config`` metadata), so that the
            engine runs without its ONNX; None for an ONNX not exported by trt_panoptic.
        input_size: the model's fixed input [H, W] from the same metadata.
    """

    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    precision: str
    inputs: dict[str, list[int]]
    onnx_path: str
    onnx_sha256: str
    plugin_path: str | None = None
    plugin_sha256: str | None = None
    builder_flags: list[str] = field(default_factory=list)
    network_flags: list[str] = field(default_factory=list)
    workspace_mb: int | None = None
    opt_level: int | None = None
    timing_cache: str | None = None
    rebuild_command: str = ""
    trtexec_command: str = ""
    model_config: dict[str, Any] | None = None
    input_size: list[int] | None = None
    format: int = SIDECAR_FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Sidecar":
        known = {f for f in cls.__dataclass_fields__}
        missing = [f for f, spec in cls.__dataclass_fields__.items() if f not in data and _required(spec)]
        if missing:
            raise TrtPanopticError(
                f"engine sidecar should have field {missing[0]!r}, got a file without it — rebuild the engine "
                "with trt-panoptic build"
            )
        return cls(**{k: v for k, v in data.items() if k in known})


def _required(spec: Any) -> bool:
    from dataclasses import MISSING

    return spec.default is MISSING and spec.default_factory is MISSING


def sidecar_path(engine_path: str | os.PathLike) -> Path:
    """``model.engine`` → ``model.engine.json``."""
    engine_path = Path(engine_path)
    return engine_path.with_name(engine_path.name + ".json")


def write_sidecar(engine_path: str | os.PathLike, sidecar: Sidecar) -> Path:
    """Write ``sidecar`` next to ``engine_path`` atomically; returns the JSON path."""
    path = sidecar_path(engine_path)
    atomic_write_bytes(path, sidecar.to_json().encode("utf-8"))
    return path


def read_sidecar(engine_path: str | os.PathLike) -> Sidecar:
    """Read the sidecar of ``engine_path``; a missing or broken one is a one-line error."""
    path = sidecar_path(engine_path)
    if not path.is_file():
        raise TrtPanopticError(
            f"engine {Path(engine_path).name} should have its sidecar {path.name} beside it, got none — rebuild it "
            "with trt-panoptic build --onnx MODEL.onnx --precision P --out "
            f"{engine_path} (engines are tied to TensorRT version, GPU and plugins)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TrtPanopticError(
            f"engine sidecar {path.name} should be JSON, got unreadable content ({exc}) — rebuild the engine"
        ) from None
    if not isinstance(data, dict):
        raise TrtPanopticError(f"engine sidecar {path.name} should be a JSON object — rebuild the engine")
    return Sidecar.from_dict(data)


def check_sidecar(
    sidecar: Sidecar,
    *,
    tensorrt_version: str,
    gpu_name: str,
    compute_capability: str,
    plugin_sha256: str | None,
) -> list[str]:
    """Check that the engine described by ``sidecar`` fits what is running; return warnings.

    Raises :class:`TrtPanopticError` (one line, ending with the rebuild command) when:
    the TensorRT release (major.minor.patch) differs; the compute capability differs; the engine needs a
    plugin library and none or a different one (by SHA-256) is loaded. A different GPU *name* with the
    same compute capability only warns: TensorRT itself loads such an engine with a warning, and it
    may run slower than one tuned for this GPU.
    """
    rebuild = sidecar.rebuild_command or "trt-panoptic build ..."
    built, running = parse_version(sidecar.tensorrt_version), parse_version(tensorrt_version)
    if not built.same_release(running):
        raise TrtPanopticError(
            f"engine should be run by the TensorRT it was built with ({sidecar.tensorrt_version}), got "
            f"{tensorrt_version} — rebuild it here: {rebuild}"
        )
    if sidecar.compute_capability != compute_capability:
        raise TrtPanopticError(
            f"engine should run on a GPU of compute capability {sidecar.compute_capability} "
            f"({sidecar.gpu_name}), got {compute_capability} ({gpu_name}) — rebuild it on this GPU: {rebuild}"
        )
    if sidecar.plugin_sha256 and plugin_sha256 is None:
        raise TrtPanopticError(
            f"engine should be run with its plugin library {sidecar.plugin_path}, got none loaded — pass "
            f"--plugins {sidecar.plugin_path} (or rebuild: {rebuild})"
        )
    if sidecar.plugin_sha256 and plugin_sha256 != sidecar.plugin_sha256:
        raise TrtPanopticError(
            f"plugin library should be the one the engine was built with (sha256 {sidecar.plugin_sha256[:12]}…), "
            f"got sha256 {plugin_sha256[:12]}… — rebuild the engine with this library: {rebuild}"
        )
    warnings = []
    if sidecar.gpu_name != gpu_name:
        warnings.append(
            f"engine was built on {sidecar.gpu_name}, running on {gpu_name} (same compute capability "
            f"{compute_capability}): it works but may be slower — rebuild for best speed: {rebuild}"
        )
    for text in warnings:
        logger.warning(text)
    return warnings
