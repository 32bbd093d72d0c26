"""TensorRT engines: build plans per TensorRT version, the builder, the sidecar and the raw runner.

Importing this package never imports ``tensorrt``, ``cuda`` or ``pycuda``; they are imported inside
:func:`trt_panoptic.engine.builder.build_engine` and :class:`trt_panoptic.engine.runner.TrtRunner`.
What has run on real TensorRT: nothing yet (see README "Status"); names and signatures are checked
against NVIDIA's real 10.3 and 11.4 bindings in tests/engine/test_api_surface.py.
"""
from trt_panoptic.engine.sidecar import Sidecar, check_sidecar, read_sidecar, sidecar_path, write_sidecar
from trt_panoptic.engine.trtexec import trtexec_args, trtexec_command
from trt_panoptic.engine.versions import BuildPlan, TrtVersion, parse_version, select_plan

__all__ = [
    "BuildPlan",
    "Sidecar",
    "TrtVersion",
    "check_sidecar",
    "parse_version",
    "read_sidecar",
    "select_plan",
    "sidecar_path",
    "trtexec_args",
    "trtexec_command",
    "write_sidecar",
]
