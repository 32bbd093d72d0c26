"""TensorRT plugins RoIAlignFPN, SemanticUpsampleArgmax and PanopticFusion: building them and running their
math on the CPU.

The C++/CUDA sources live in the repository's ``plugins/`` folder (one folder per plugin). This package
builds them (:mod:`trt_panoptic.plugins.build`, ``python -m trt_panoptic.plugins build``) and exposes the
kernels' math on the host through ctypes (:mod:`trt_panoptic.plugins.host`). Nothing here imports TensorRT.
The names, namespace, version and fields the plugins register under are the ONNX contract's
(:mod:`trt_panoptic.export.contract`).
"""
from trt_panoptic.plugins.build import PLUGIN_LIBRARY_NAME, build_host_library

__all__ = ["PLUGIN_LIBRARY_NAME", "build_host_library"]
