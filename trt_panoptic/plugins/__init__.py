"""TensorRT plugins RoIAlignFPN and SemanticUpsampleArgmax: building them and running their math on the CPU.

The C++/CUDA sources live in the repository's ``plugins/`` folder (one folder per plugin). This package
builds them (:mod:`trt_panoptic.plugins.build`, ``python -m trt_panoptic.plugins build``) and exposes the
kernels' math on the host through ctypes (:mod:`trt_panoptic.plugins.host`). Nothing here imports TensorRT.
"""
from trt_panoptic.plugins.build import PLUGIN_LIBRARY_NAME, build_host_library

#: the namespace, names and version the plugins register under (ONNX node: op_type = name,
#: attributes plugin_namespace / plugin_version + the fields listed in each plugin's README).
PLUGIN_NAMESPACE = "trt_panoptic"
PLUGIN_VERSION = "1"
ROI_ALIGN_FPN = "RoIAlignFPN"
SEMANTIC_UPSAMPLE_ARGMAX = "SemanticUpsampleArgmax"

__all__ = [
    "PLUGIN_LIBRARY_NAME", "PLUGIN_NAMESPACE", "PLUGIN_VERSION", "ROI_ALIGN_FPN", "SEMANTIC_UPSAMPLE_ARGMAX",
    "build_host_library",
]
