"""Statistics collection: the exposed tensors' absmax and histograms equal a direct reference."""
import numpy as np
import onnxruntime as ort
from quantization.conftest import random_images

from trt_panoptic.quantization.stats import collect_stats, expose_tensors


def test_absmax_and_histogram_match_a_direct_run(model):
    tensors = ["x", "r1", "f"]
    images = random_images(3)
    stats = collect_stats(model, tensors, images, num_bins=64, progress=False)
    session = ort.InferenceSession(expose_tensors(model, tensors).SerializeToString(), providers=["CPUExecutionProvider"])
    values = {t: [] for t in tensors}
    for image in images:
        for t, v in zip(tensors, session.run(tensors, {"image": image})):
            values[t].append(np.abs(v).ravel())
    for t in tensors:
        v = np.concatenate(values[t])
        assert stats[t].absmax == np.float32(v.max())
        ref, _ = np.histogram(v, bins=64, range=(0, v.max()))  # numpy: last bin closed, like ours
        np.testing.assert_array_equal(stats[t].hist, ref)
        assert stats[t].hist.sum() == v.size


def test_absmax_only_pass(model):
    stats = collect_stats(model, ["r2"], random_images(2), histograms=False, progress=False)
    assert stats["r2"].hist is None and stats["r2"].absmax > 0


def test_the_tensorrt_flavour_calibrates_too(tensorrt_onnx):
    # It takes valid_hw besides the image (its panoptic tail fuses inside the frame); calibration fills it.
    from export.tiny_model import SIZE

    conv = next(n.output[0] for n in tensorrt_onnx.graph.node if n.op_type == "Conv")
    image = np.full((1, 3, SIZE, SIZE), 120, np.uint8)
    stats = collect_stats(tensorrt_onnx, [conv], [image], histograms=False, progress=False)
    assert stats[conv].absmax > 0
