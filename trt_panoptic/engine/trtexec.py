"""The ``trtexec`` command line equivalent to a build, so users can reproduce it with NVIDIA's tool.

Flag names checked against ``samples/common/sampleOptions.cpp`` of NVIDIA/TensorRT at v10.3.0, v10.13.0
and v11.1:
- precision: 10.x ``--fp16`` / ``--int8`` (+ ``--calib=CACHE`` for the legacy path); 11.x has no precision
  flags (removed) and ``--stronglyTyped`` is a deprecated no-op, so it is left out; the ONNX carries types.
- plugins: ``--dynamicPlugins=LIB`` loads through ``IPluginRegistry::loadLibrary``, exactly what the Python
  builder does (``--staticPlugins`` would dlopen instead); present in 10.x and 11.x.
- ``--memPoolSize=workspace:<N>M``, ``--timingCacheFile=``, ``--builderOptimizationLevel=``,
  ``--minShapes/--optShapes/--maxShapes=name:AxBxC``: unchanged across 10.x and 11.x.
"""
from __future__ import annotations

import shlex
from typing import Sequence

from trt_panoptic.engine.versions import BuildPlan

Shape = tuple[int, ...]


def trtexec_args(
    plan: BuildPlan,
    onnx: str,
    engine: str,
    *,
    plugins: Sequence[str] = (),
    workspace_mb: int | None = None,
    timing_cache: str | None = None,
    opt_level: int | None = None,
    profile: dict[str, tuple[Shape, Shape, Shape]] | None = None,
    calib_cache: str | None = None,
) -> list[str]:
    """The trtexec argv (``argv[0] == "trtexec"``) for the build ``plan`` describes."""
    args = ["trtexec", f"--onnx={onnx}", f"--saveEngine={engine}"]
    if plan.version.major == 10:
        args += list(plan.trtexec_precision_args)
        if plan.uses_calibration_cache and calib_cache:
            args.append(f"--calib={calib_cache}")
    # 11.x: strong typing is always on; --stronglyTyped would only print a deprecation warning.
    for lib in plugins:
        args.append(f"--dynamicPlugins={lib}")
    if workspace_mb is not None:
        args.append(f"--memPoolSize=workspace:{int(workspace_mb)}M")
    if timing_cache:
        args.append(f"--timingCacheFile={timing_cache}")
    if opt_level is not None:
        args.append(f"--builderOptimizationLevel={int(opt_level)}")
    if profile:
        for key, index in (("min", 0), ("opt", 1), ("max", 2)):
            spec = ",".join(f"{name}:{'x'.join(map(str, shapes[index]))}" for name, shapes in profile.items())
            args.append(f"--{key}Shapes={spec}")
    return args


def trtexec_command(plan: BuildPlan, onnx: str, engine: str, **kwargs) -> str:
    """:func:`trtexec_args` as one shell-quoted line."""
    return shlex.join(trtexec_args(plan, onnx, engine, **kwargs))
