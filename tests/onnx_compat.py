"""ONNX settings for models the tests build by hand."""

# onnx.helper.make_model stamps the installed onnx's newest IR version, which an older onnxruntime refuses
# (seen: onnx 1.23 writes IR 14, onnxruntime 1.30 loads up to 13). IR 10 (onnx 1.16) loads on every
# onnxruntime the package supports (>= 1.17), as the exporter's own files do.
ONNX_IR_VERSION = 10
