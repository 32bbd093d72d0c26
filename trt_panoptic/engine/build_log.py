"""TensorRT's build log, forwarded to ours, with its errors kept to explain a failed build in one line.

``builder.build_serialized_network`` says only ``None`` when it fails; why is in the log TensorRT writes to
its ``ILogger``. The most common failure on a Jetson — "could not find any implementation for node …" — is
usually memory, not an unsupported layer: every tactic that would fit the graph needed more scratch memory
than the workspace or the device had left. So the builder logs through :func:`capturing_logger` and turns
those messages into advice (:func:`explain_build_failure`).
"""
from __future__ import annotations

import logging
import re
from typing import Any

logger = logging.getLogger(__name__)

#: Messages TensorRT writes when a build runs short of memory (tactic search or allocation).
_MEMORY = re.compile(r"could not find any implementation|out of memory|insufficient memory|cudaErrorMemoryAllocation"
                     r"|failed to allocate|requested amount of GPU memory", re.IGNORECASE)
#: Smallest default workspace (MiB): below it TensorRT has few tactics left for a detector's convolutions.
MIN_WORKSPACE_MB = 256


def default_workspace_mb(free_bytes: int) -> int:
    """The workspace a build gets when ``--workspace-mb`` is not given: half the device memory free now.

    TensorRT's own default is the whole device; on a Jetson (memory shared with the CPU) or a busy desktop
    GPU that lets the tactic search take what the rest of the process — and the builder's own copies of
    the weights — need, and the build fails with "could not find any implementation".
    """
    return max(MIN_WORKSPACE_MB, (int(free_bytes) // 2) >> 20)


def capturing_logger(trt: Any) -> tuple[Any, list[str]]:
    """A ``tensorrt.ILogger`` forwarding to this module's logger; returns it and the list its errors go to.

    INFO goes to debug (TensorRT is chatty there), VERBOSE nowhere; ERROR and INTERNAL_ERROR are logged and
    kept.
    """
    errors: list[str] = []

    class BuildLogger(trt.ILogger):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            trt.ILogger.__init__(self)

        def log(self, severity: Any, msg: str) -> None:  # noqa: D102 — TensorRT's callback
            level = getattr(severity, "name", str(severity))
            if level in ("INTERNAL_ERROR", "ERROR"):
                errors.append(msg)
                logger.error("TensorRT: %s", msg)
            elif level == "WARNING":
                logger.warning("TensorRT: %s", msg)
            elif level == "INFO":
                logger.debug("TensorRT: %s", msg)

    return BuildLogger(), errors


def explain_build_failure(errors: list[str], workspace_mb: int | None, memory: tuple[int, int] | None) -> str:
    """One line on why a build failed, from TensorRT's error messages: memory advice when they say memory."""
    free = f"{memory[0] >> 20} MiB free of {memory[1] >> 20} MiB" if memory else "free memory unknown"
    workspace = f"a workspace of {workspace_mb} MiB" if workspace_mb else "TensorRT's default workspace"
    if any(_MEMORY.search(e) for e in errors):
        return (f"TensorRT ran out of memory choosing kernels ({workspace}; {free}): its 'could not find any "
                "implementation' means no kernel fitted, not an unsupported layer — close other GPU programs, or "
                "pass --workspace-mb with a size that fits (smaller when the device is short, larger when it has room)")
    first = errors[0] if errors else "no error message (see the log above)"
    return f"TensorRT's first error: {first} — check trt-panoptic inspect on the ONNX"
