"""Exact under padding: a frame padded up to the export size gives what the model computes on the frame alone.

The exported graphs run at a fixed H×W that is a multiple of 32, so a 720×1280 frame runs in a 736×1280 input
and a 600×800 one in 608×800. The reference is the eager :class:`PanopticFPN` on the unpadded frame (the
torch predictor without a size), which normalizes, zero-pads to the next multiple of 32 and clips every box to
the frame, as detectron2 does. The frames are the project's synthetic scenes (chosen with detections that
reach the bottom edge, where clipping to the padded size changed them) and a real COCO photograph resized to
the frame size.
"""
import functools
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from trt_panoptic.data.synthetic import default_categories, render_scene
from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.export import export_onnx
from trt_panoptic.export.graph_model import PanopticGraphModel
from trt_panoptic.runtime.base import RawOutputPredictor
from trt_panoptic.runtime.onnx_backend import OnnxRuntimePredictor
from trt_panoptic.runtime.result import PanopticResult
from trt_panoptic.runtime.torch_backend import TorchPredictor

from .tiny_model import SIZE, scene

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

#: frame size → export size (the frame's rounded up to 32) and the synthetic scene seed used at that size
CASES = {(720, 1280): ((736, 1280), 2), (600, 800): ((608, 800), 11)}
#: a real photograph per frame size (tests/fixtures/coco_panoptic_sample), resized to it
COCO = {(720, 1280): "000000439180.jpg", (600, 800): "000000142238.jpg"}


@functools.lru_cache(maxsize=None)
def _bundled():
    from trt_panoptic.modeling.checkpoint import load_model

    return load_model()


@functools.lru_cache(maxsize=None)
def _export(height: int, width: int):
    model, cfg = _bundled()
    return export_onnx(model, cfg, height=height, width=width, flavor="portable")


@functools.lru_cache(maxsize=None)
def _frame(kind: str, size: tuple[int, int]) -> np.ndarray:
    h, w = size
    if kind == "synthetic":
        image, _, _ = render_scene(np.random.default_rng(CASES[size][1]), h, w, default_categories())
        return image
    photo = cv2.imread(str(FIXTURES / "coco_panoptic_sample" / "images" / COCO[size]))
    return cv2.resize(photo, (w, h), interpolation=cv2.INTER_LINEAR)


@functools.lru_cache(maxsize=None)
def _unpadded(kind: str, size: tuple[int, int]) -> PanopticResult:
    """The reference: the eager model on the frame at its own size."""
    model, cfg = _bundled()
    return TorchPredictor(model, cfg).predict(_frame(kind, size))


class _TwinPredictor(RawOutputPredictor):
    """The export's eager twin behind the predict path every backend shares."""

    def __init__(self, twin: PanopticGraphModel, cfg) -> None:
        super().__init__(cfg, twin.height, twin.width)
        self.twin = twin

    def forward(self, image, valid_hw=None):
        with torch.no_grad():
            out = self.twin(torch.from_numpy(image), torch.from_numpy(self.full_input(valid_hw)))
        return dict(zip(self.twin.output_names, out))


def _categories(result: PanopticResult) -> np.ndarray:
    """[H, W, 2] (isthing, category) per pixel, (-1, -1) for void: what a panoptic map says, ids aside."""
    out = np.full(result.panoptic.shape + (2,), -1, np.int64)
    for s in result.segments_info:
        out[result.panoptic == s["id"]] = (int(s["isthing"]), int(s["category_id"]))
    return out


def _category_agreement(a: PanopticResult, b: PanopticResult) -> float:
    return float((_categories(a) == _categories(b)).all(-1).mean())


def _unmatched(ref: PanopticResult, got: PanopticResult, box_atol: float, score_atol: float) -> list[int]:
    """Reference detections with no partner in ``got`` (same class, box and score within tolerance; each
    partner used once). Score order may swap between near-equal scores, so partners are searched for."""
    free = set(range(got.num_instances))
    missing = []
    for i in range(ref.num_instances):
        close = [j for j in sorted(free) if got.classes[j] == ref.classes[i]
                 and np.abs(got.boxes[j] - ref.boxes[i]).max() <= box_atol
                 and abs(float(got.scores[j] - ref.scores[i])) <= score_atol]
        if close:
            free.discard(close[0])
        else:
            missing.append(i)
    return missing


def _assert_same_as_unpadded(ref: PanopticResult, got: PanopticResult, height: int) -> None:
    assert ref.num_instances >= 5, "the frame should give detections to compare"
    assert (ref.boxes[:, 3] >= height - 2).any(), "the frame should have detections at its bottom edge"
    missing = _unmatched(ref, got, box_atol=1e-2, score_atol=1e-4)
    assert not missing and got.num_instances == ref.num_instances, (
        f"{len(missing)} of {ref.num_instances} detections unmatched, {got.num_instances} returned")
    agreement = _category_agreement(ref, got)
    assert agreement >= 0.999, f"panoptic category agreement {agreement:.5f}"


@pytest.mark.parametrize("kind", ["synthetic", "coco"])
@pytest.mark.parametrize("frame_size", list(CASES), ids=["720x1280 in 736x1280", "600x800 in 608x800"])
def test_padded_export_gives_the_unpadded_models_detections_and_map(frame_size, kind):
    # the portable graph on ONNX Runtime, ending in the panoptic map
    got = OnnxRuntimePredictor(_export(*CASES[frame_size][0])).predict(_frame(kind, frame_size))
    _assert_same_as_unpadded(_unpadded(kind, frame_size), got, frame_size[0])


@pytest.mark.parametrize("frame_size", list(CASES), ids=["720x1280 in 736x1280", "600x800 in 608x800"])
def test_padded_eager_twin_and_torch_predictor_give_the_unpadded_models_result(frame_size):
    # The export's eager twin (its graph's arithmetic in PyTorch) and the torch predictor at the export size.
    model, cfg = _bundled()
    size = CASES[frame_size][0]
    ref = _unpadded("synthetic", frame_size)
    for predictor in (_TwinPredictor(PanopticGraphModel(model, *size, panoptic_tail=True).eval(), cfg),
                      TorchPredictor(model, cfg, *size)):
        _assert_same_as_unpadded(ref, predictor.predict(_frame("synthetic", frame_size)), frame_size[0])


@pytest.mark.parametrize("graph", ["detections", "portable", "tensorrt"])
def test_every_graph_takes_valid_hw_and_gives_the_unpadded_models_result(tiny, detections_onnx, portable_onnx,
                                                                         tensorrt_onnx, graph):
    # Both flavours and the graph that stops at the detections (export --host-tail) zero the padding and clip
    # to the frame: a 100×128 frame in the tiny model's 128×128 input (its own size rounded up to 32) gives
    # the unpadded model's result. (The TensorRT flavour runs with our plugin ops registered in ONNX Runtime.)
    model, cfg = tiny
    frame = scene(5)[:100]
    ref = TorchPredictor(model, cfg).predict(frame)
    proto = {"detections": detections_onnx, "portable": portable_onnx, "tensorrt": tensorrt_onnx}[graph]
    got = OnnxRuntimePredictor(proto).predict(frame)
    assert ref.num_instances > 5 and (ref.boxes[:, 3] >= 98).any()
    assert not _unmatched(ref, got, box_atol=1e-2, score_atol=1e-4) and got.num_instances == ref.num_instances
    assert _category_agreement(ref, got) >= 0.999


def test_torch_predictor_at_a_size_computes_what_the_export_twin_computes(tiny, monkeypatch):
    # A frame letterboxed into a larger input (90×150 → 77×128 in 128×128): the torch predictor cuts the frame
    # out and lets the model zero-pad it to the input size, which is the export twin's arithmetic bit for bit;
    # every box ends inside the frame's 77 rows. Both pool with the tensor RoIAlign here (on the CPU the eager
    # model takes the host build by default, which sums in another order).
    import functools

    from trt_panoptic.modeling import roi_heads
    from trt_panoptic.ops import multilevel_roi_align

    monkeypatch.setattr(roi_heads, "multilevel_roi_align", functools.partial(multilevel_roi_align, implementation="torch"))
    model, cfg = tiny
    frame = cv2.resize(scene(7, 192, 320), (150, 90), interpolation=cv2.INTER_AREA)
    predictor = TorchPredictor(model, cfg, SIZE, SIZE)
    image, box = predictor.prepare(frame)
    valid = np.asarray([box.resized], np.int32)
    assert box.resized == (77, SIZE)
    got = predictor.forward(image, valid)
    twin = PanopticGraphModel(model, SIZE, SIZE).eval()
    twin.sync_free = False  # the ops the graph exports (the sync-free ones pool in another summation order)
    with torch.no_grad():
        want = dict(zip(twin.output_names, twin(torch.from_numpy(image), torch.from_numpy(valid))))
    n = int(want["num_detections"][0])
    assert int(got["num_detections"][0]) == n > 5
    for name in ("boxes", "scores", "classes", "mask_probs"):
        assert torch.equal(got[name][0, :n], want[name][0, :n]), name
    assert torch.equal(got["sem_labels"][0], want["sem_labels"][0, :77])
    assert float(want["boxes"][0, :n, 3].max()) <= 77.0


def _first_conv_input(model):
    """``model`` with the input of its first Conv (the normalized image) added as an output; that name."""
    import onnx

    proto = onnx.ModelProto()
    proto.CopyFrom(model)
    conv = next(n for n in proto.graph.node if n.op_type == "Conv")
    proto.graph.output.append(onnx.helper.make_tensor_value_info(conv.input[0], onnx.TensorProto.FLOAT, None))
    return proto, conv.input[0]


@pytest.mark.parametrize("valid", [(100, SIZE), (SIZE, 72), (37, 53)])
def test_padding_is_exactly_zero_after_normalization(tiny, portable_onnx, valid):
    # Proof of the zero padding, in the exported graph (ONNX Runtime) and in its eager twin: what the
    # backbone gets is exactly 0 (+0.0) outside valid_hw and (x - mean) / std inside, whatever the uint8
    # input holds in the padding (here the letterbox's rounded pixel mean, then noise).
    from trt_panoptic.export.ort_ops import ort_session

    model, _ = tiny
    vh, vw = valid
    image = np.ascontiguousarray(scene(3).transpose(2, 0, 1))[None].copy()
    mean = model.pixel_mean.numpy()
    want = (image.astype(np.float32) - mean) / model.pixel_std.numpy()
    want[..., vh:, :] = 0
    want[..., :, vw:] = 0
    image_mean = image.copy()
    image_mean[..., vh:, :] = np.round(mean).astype(np.uint8)
    image_mean[..., :, vw:] = np.round(mean).astype(np.uint8)
    proto, name = _first_conv_input(portable_onnx)
    session = ort_session(proto)
    twin = PanopticGraphModel(model, SIZE, SIZE).eval()
    seen = []
    hook = twin.model.backbone.register_forward_hook(lambda mod, args, out: seen.append(args[0].numpy()))
    try:
        for padded in (image_mean, image):
            feed = {"image": padded, "valid_hw": np.asarray([valid], np.int32)}
            (x,) = session.run([name], feed)
            with torch.no_grad():
                twin(*(torch.from_numpy(v) for v in feed.values()))
            for got in (x, seen.pop()):
                np.testing.assert_array_equal(got, want)
                assert not np.signbit(got[..., vh:, :]).any() and not np.signbit(got[..., :, vw:]).any()
    finally:
        hook.remove()


@pytest.mark.parametrize("bad", [[[0, 64]], [[SIZE + 1, 64]], [[64, SIZE + 1]], [[64.5, 64]], [[1, 2, 3]]])
def test_valid_hw_outside_the_input_is_a_one_line_error(tiny, detections_onnx, bad):
    model, cfg = tiny
    image = np.zeros((1, 3, SIZE, SIZE), np.uint8)
    for predictor in (OnnxRuntimePredictor(detections_onnx), TorchPredictor(model, cfg, SIZE, SIZE)):
        with pytest.raises(TrtPanopticError, match=r"valid_hw should be integers") as err:
            predictor.forward(image, np.asarray(bad))
        assert "\n" not in str(err.value)


def test_sync_free_twin_equals_the_eager_model_on_the_bundled_validation_images():
    # The bundled model's validation images (synthetic, seed 1000, as benchmarks/train_bundled.sh makes them):
    # the twin's sync-free forward (what --backend torch-cudagraph captures) gives the eager model's result,
    # within its static bounds on every image.
    model, cfg = _bundled()
    twin = PanopticGraphModel(model, 256, 256, panoptic_tail=True).eval()
    rng = np.random.default_rng(1000)
    for _ in range(4):
        frame = render_scene(rng, 256, 256, default_categories())[0]
        ref = TorchPredictor(model, cfg, 256, 256).predict(frame)
        image, box = _TwinPredictor(twin, cfg).prepare(frame)
        with torch.no_grad():
            _, exact = twin.infer(torch.from_numpy(image), torch.tensor([box.resized], dtype=torch.int32))
        got = _TwinPredictor(twin, cfg).predict(frame)
        assert bool(exact)
        assert ref.num_instances >= 3 and got.num_instances == ref.num_instances
        assert not _unmatched(ref, got, box_atol=1e-2, score_atol=1e-4)
        assert _category_agreement(ref, got) >= 0.999
