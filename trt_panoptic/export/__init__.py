"""Export: PanopticFPN → portable ONNX (standard ops) → TensorRT-flavour ONNX (plugin nodes), FP32 or FP16.

``export_onnx`` builds either flavour in memory, ``save_onnx``/``load_onnx`` write and read files,
``onnx_info`` reads what an exported graph says about itself (``contract``: the one owner of the ONNX
contract), ``inspect_onnx`` reports what TensorRT will think of a graph, and ``ort_ops`` runs the plugin
nodes on ONNX Runtime. ONNX packages are imported by these modules, not by ``import trt_panoptic``.
"""
from __future__ import annotations

__all__ = ["export_onnx", "load_onnx", "onnx_info", "save_onnx"]


def __getattr__(name: str):
    # Lazy: `import trt_panoptic.export` must not require onnx (the base install has torch/numpy/yaml only).
    if name == "onnx_info":
        from trt_panoptic.export import contract

        return contract.onnx_info
    if name in __all__:
        from trt_panoptic.export import exporter

        return getattr(exporter, name)
    raise AttributeError(name)
