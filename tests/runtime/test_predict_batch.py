"""predict_batch: the batch API a batch-N graph plugs into gives what predict gives, image by image."""
import cv2
import numpy as np

from export.tiny_model import SIZE, scene
from trt_panoptic.runtime.onnx_backend import OnnxRuntimePredictor
from trt_panoptic.runtime.predictor import max_batch, predict_many
from video.conftest import FakePredictor


def _frames() -> list[np.ndarray]:
    # three frames of different sizes: each is letterboxed on its own and decoded back at its own size
    return [cv2.resize(scene(seed, 192, 320), size, interpolation=cv2.INTER_AREA)
            for seed, size in ((3, (150, 90)), (4, (SIZE, SIZE)), (5, (100, 120)))]


class _BatchOfTwo(OnnxRuntimePredictor):
    """Declares a batch of two and records the batches forward_batch receives (the default runs them one by one)."""

    max_batch = 2

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.batches: list[tuple[tuple[int, ...], list[list[int]]]] = []

    def forward_batch(self, images, valid_hw):
        self.batches.append((images.shape, valid_hw.tolist()))
        return super().forward_batch(images, valid_hw)


def _same(a, b) -> None:
    np.testing.assert_array_equal(a.panoptic, b.panoptic)
    np.testing.assert_array_equal(a.boxes, b.boxes)
    assert a.segments_info == b.segments_info


def test_predict_batch_equals_predict_per_image(detections_onnx) -> None:
    frames = _frames()
    single = OnnxRuntimePredictor(detections_onnx)
    expected = [single.predict(f) for f in frames]
    assert single.max_batch == 1
    for got, want in zip(single.predict_batch(frames), expected):
        _same(got, want)

    batched = _BatchOfTwo(detections_onnx)
    results = batched.predict_batch(frames)
    # 3 images with max_batch 2: a full batch, then one image; each stacked at the model's input size
    assert [shape for shape, _ in batched.batches] == [(2, 3, SIZE, SIZE), (1, 3, SIZE, SIZE)]
    assert batched.batches[0][1][0] != batched.batches[0][1][1]  # each image keeps its own letterbox
    assert [r.panoptic.shape for r in results] == [f.shape[:2] for f in frames]
    for got, want in zip(results, expected):
        _same(got, want)


def test_predict_many_falls_back_to_predict_for_objects_without_a_batch_api() -> None:
    from video.conftest import synth_frame

    fake = FakePredictor()
    results = predict_many(fake, [synth_frame(i) for i in range(3)])
    assert fake.seen == [0, 1, 2] and len(results) == 3 and max_batch(fake) == 1
