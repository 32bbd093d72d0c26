"""A batch of N images in one graph equals N batch-1 runs: the twin (sync-free and exact), ONNX Runtime on the
portable flavour and on the TensorRT flavour (plugin ops), the plugins' host builds, the padding of a fixed
batch, a dynamic batch, and the CLI's ``--batch``.

Three different scenes with three different frames (``valid_hw``), so an image that read another's frame,
proposals or detections would show. The ONNX graphs agree exactly (ONNX Runtime runs the same kernels per
image); the eager twin's batched convolutions round differently from single-image ones (1e-5 on the
features), so there detections agree to float rounding and a mask-edge pixel may flip.
"""
import functools

import numpy as np
import pytest
import torch

from trt_panoptic.cli.main import main
from trt_panoptic.engine.onnx_info import optimization_profile
from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.export import export_onnx, onnx_info
from trt_panoptic.export.graph_model import PanopticGraphModel
from trt_panoptic.export.ort_ops import ort_session
from trt_panoptic.runtime.onnx_backend import OnnxRuntimePredictor

from .tiny_model import SIZE, cached_export, cached_model, scene

#: Each image's frame inside the 128×128 input: whole, a letterboxed 96-high one, a 64-wide one.
FRAMES = np.asarray([[SIZE, SIZE], [96, SIZE], [SIZE, 64]], np.int32)
EXACT = ("sem_labels", "classes", "num_detections", "num_segments")


def _images(n: int = 3) -> np.ndarray:
    """uint8 [n, 3, H, W]: scenes 1..n, each zeroed outside its frame as a letterbox leaves it."""
    images = np.stack([np.ascontiguousarray(scene(seed).transpose(2, 0, 1)) for seed in range(1, n + 1)])
    for image, (h, w) in zip(images, FRAMES):
        image[:, h:] = 0
        image[:, :, w:] = 0
    return images


@functools.lru_cache(maxsize=None)
def _batch_export(flavor: str, batch: int, dynamic: bool, panoptic_tail: bool = True):
    model, cfg = cached_model()
    return export_onnx(model, cfg, height=SIZE, width=SIZE, flavor=flavor, batch=batch, dynamic_batch=dynamic,
                       panoptic_tail=panoptic_tail)


def _run(proto, images: np.ndarray, valid_hw: np.ndarray) -> dict[str, np.ndarray]:
    session = ort_session(proto)
    outputs = session.run(None, {"image": images, "valid_hw": valid_hw})
    return dict(zip([o.name for o in session.get_outputs()], outputs))


def _assert_equal_per_image(batched: dict[str, np.ndarray], single: list[dict[str, np.ndarray]]) -> None:
    for i, one in enumerate(single):
        assert set(one) == set(batched)
        for name, value in one.items():
            np.testing.assert_array_equal(batched[name][i], value[0], err_msg=f"image {i}: {name}")


@pytest.mark.parametrize("flavor,dynamic,tail", [("portable", False, True), ("tensorrt", True, True),
                                                 ("portable", True, False)])
def test_onnx_batch_equals_batch_one_runs(flavor, dynamic, tail):
    # The portable graph unrolls its tail per image (fixed batch); the TensorRT flavour keeps the plugin
    # nodes (run here by their ONNX Runtime ops) and takes a dynamic batch, so it runs 3 and then 1 image; so
    # does a portable graph that stops at the detections (--host-tail).
    images = _images()
    batched = _batch_export(flavor, 3, dynamic, tail)
    one = cached_export(flavor, panoptic_tail=tail)
    single = [_run(one, images[i:i + 1], FRAMES[i:i + 1]) for i in range(3)]
    _assert_equal_per_image(_run(batched, images, FRAMES), single)
    assert all(int(s["num_detections"][0]) > 0 and int(s.get("num_segments", [1])[0]) > 0 for s in single)
    # the images' results differ, so a mix-up would show
    key = "panoptic" if tail else "boxes"
    assert not any(np.array_equal(single[i][key], single[i - 1][key]) for i in range(3))
    if dynamic:
        _assert_equal_per_image(_run(batched, images[2:], FRAMES[2:]), single[2:])


def test_batch_graph_io_and_contract():
    portable, dynamic = _batch_export("portable", 3, False), _batch_export("tensorrt", 3, True)
    dims = {v.name: [d.dim_value or d.dim_param for d in v.type.tensor_type.shape.dim]
            for v in [*portable.graph.input, *portable.graph.output]}
    assert dims["image"] == [3, 3, SIZE, SIZE] and dims["valid_hw"] == [3, 2]
    assert dims["panoptic"] == [3, SIZE, SIZE] and dims["segments"] == [3, 54, 10] and dims["num_detections"] == [3]
    for v in [*dynamic.graph.input, *dynamic.graph.output]:  # every input and output leads with "batch"
        assert v.type.tensor_type.shape.dim[0].dim_param == "batch", v.name
    fixed_info, dynamic_info, old_info = onnx_info(portable), onnx_info(dynamic), onnx_info(cached_export("portable"))
    assert (fixed_info.batch, fixed_info.dynamic_batch) == (3, False)
    assert (dynamic_info.batch, dynamic_info.dynamic_batch, dynamic_info.inputs["image"][0]) == (3, True, -1)
    assert (old_info.batch, old_info.dynamic_batch) == (1, False)
    # build --max-batch 3: TensorRT's profile spans 1..3 images and tunes for 3 (the stream count)
    assert optimization_profile(dynamic_info, max_batch=3) == {
        "image": ((1, 3, SIZE, SIZE), (3, 3, SIZE, SIZE), (3, 3, SIZE, SIZE)), "valid_hw": ((1, 2), (3, 2), (3, 2))}
    assert optimization_profile(fixed_info, max_batch=3) == {}
    # the RoI pooler plugin gets each RoI's image index in front of its box: [R, 5]
    fpn = [n for n in dynamic.graph.node if n.op_type == "RoIAlignFPN"]
    assert len(fpn) == 2 and all(n.input[0].endswith("/rois") for n in fpn)


def test_fixed_batch_pads_a_short_batch_and_reports_occupancy():
    images = _images()
    predictor = OnnxRuntimePredictor(_batch_export("portable", 3, False))
    assert predictor.max_batch == 3 and predictor.fixed_batch == 3
    two = predictor.forward_batch(images[:2], FRAMES[:2])
    assert len(two) == 2 and predictor.last_occupancy == (2, 3)
    one = OnnxRuntimePredictor(cached_export("portable"))
    for i, outputs in enumerate(two):
        _assert_equal_per_image({k: v for k, v in outputs.items()}, [one.forward(images[i:i + 1], FRAMES[i:i + 1])])
    predictor.forward(images[2:], FRAMES[2:])
    assert predictor.last_occupancy == (1, 3) and (predictor.images_run, predictor.slots_run) == (3, 6)
    with pytest.raises(TrtPanopticError, match="1 <= n <= 3"):
        predictor.forward_batch(np.concatenate([images, images[:1]]), np.concatenate([FRAMES, FRAMES[:1]]))
    with pytest.raises(TrtPanopticError, match=r"valid_hw should be \[2, 2\]"):
        predictor.forward_batch(images[:2], FRAMES[:1])


def test_predict_batch_gives_each_frame_its_own_result():
    # predict_batch letterboxes frames of different sizes into one batch; each result equals predict alone
    predictor = OnnxRuntimePredictor(_batch_export("portable", 3, False))
    frames = [scene(1), scene(2, 96, SIZE), scene(3, SIZE, 64), scene(4, 64, 64)]
    results = predictor.predict_batch(frames)
    assert [r.panoptic.shape for r in results] == [f.shape[:2] for f in frames]
    assert predictor.last_occupancy == (1, 3)  # 4 frames: a full batch, then one
    one = OnnxRuntimePredictor(cached_export("portable"))
    for frame, result in zip(frames, results):
        alone = one.predict(frame)
        np.testing.assert_array_equal(result.panoptic, alone.panoptic)
        assert result.segments_info == alone.segments_info


def _twin_outputs(batch: int, sync_free: bool, images: np.ndarray, frames: np.ndarray) -> tuple[dict, bool]:
    """(the twin's outputs, whether its sync-free ops stayed exact) on ``images`` [batch, 3, H, W]."""
    model, _ = cached_model()
    twin = PanopticGraphModel(model, SIZE, SIZE, panoptic_tail=True, raw_outputs=True, batch=batch).eval()
    twin.sync_free = sync_free
    with torch.no_grad():
        outputs, exact = twin.infer(torch.from_numpy(images), torch.from_numpy(frames))
    return outputs, bool(exact)


@pytest.mark.parametrize("sync_free,n", [(True, 3), (False, 2)])
def test_twin_batch_equals_batch_one_runs(sync_free, n):
    images, frames = _images(n), FRAMES[:n]
    batched, batch_exact = _twin_outputs(n, sync_free, images, frames)
    exact = []
    for i in range(n):
        one, one_exact = _twin_outputs(1, sync_free, images[i:i + 1], frames[i:i + 1])
        exact.append(one_exact)
        for name in EXACT:
            assert torch.equal(batched[name][i], one[name][0]), (i, name)
        for name in ("boxes", "scores", "mask_probs"):
            torch.testing.assert_close(batched[name][i], one[name][0], atol=5e-3, rtol=1e-4, msg=f"image {i}: {name}")
        same = (batched["panoptic"][i] == one["panoptic"][0]).float().mean().item()
        assert same > 0.999, (i, same)  # a mask-edge pixel may flip with the convolutions' rounding
        assert int(one["num_detections"][0]) > 0
    # the batch's flag covers every image (the third frame needs more overlap-rule rounds than the static
    # bound: not exact alone either)
    assert batch_exact == all(exact)


def test_twin_rejects_a_batch_it_was_not_built_for():
    model, _ = cached_model()
    twin = PanopticGraphModel(model, SIZE, SIZE, batch=2).eval()
    with pytest.raises(TrtPanopticError, match=r"image should be \[2, 3, 128, 128\]"):
        twin.infer(torch.zeros((3, 3, SIZE, SIZE), dtype=torch.uint8))
    with pytest.raises(TrtPanopticError, match="batch should be a positive integer, got 0"):
        PanopticGraphModel(model, SIZE, SIZE, batch=0)


@pytest.fixture(scope="module")
def host():
    """trt_panoptic.plugins.host with its library built (it needs a C++ compiler)."""
    from trt_panoptic.plugins import host as host_module

    try:
        host_module.load_library()
    except Exception as exc:  # no C++ compiler on this machine
        pytest.skip(f"host library unavailable: {exc}")
    return host_module


def test_plugin_host_builds_at_batch_three_equal_per_image_runs(host):
    # RoIAlignFPN with [R, 5] RoIs, SemanticUpsampleArgmax and PanopticFusion on 3 images at once, against
    # each image alone (RoIs [R, 4] of image 0)
    rng = np.random.default_rng(0)
    feats = [rng.standard_normal((3, 4, SIZE // s, SIZE // s)).astype(np.float32) for s in (4, 8, 16, 32)]
    xy = rng.uniform(-10, 110, (30, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(1, 120, (30, 2))], 1).astype(np.float32)
    image = np.repeat(np.arange(3), 10).astype(np.float32)[:, None]
    pooled = host.roi_align_fpn(np.concatenate([image, boxes], 1), feats, 7)
    for i in range(3):
        alone = host.roi_align_fpn(boxes[i * 10:(i + 1) * 10], [f[i:i + 1] for f in feats], 7)
        np.testing.assert_array_equal(pooled[i * 10:(i + 1) * 10], alone)
    logits = rng.standard_normal((3, 5, 32, 32)).astype(np.float32)
    labels = host.semantic_upsample_argmax(logits, scale_factor=4)
    for i in range(3):
        np.testing.assert_array_equal(labels[i], host.semantic_upsample_argmax(logits[i:i + 1], scale_factor=4)[0])
    out, _ = _twin_outputs(3, True, _images(), FRAMES)
    args = [out[k].numpy() for k in ("sem_labels", "mask_probs", "boxes", "scores", "classes", "num_detections")]
    fused = host.panoptic_fusion(*args, FRAMES, stuff_area_limit=0, max_segments=54)
    for i in range(3):
        alone = host.panoptic_fusion(*(a[i:i + 1] for a in args), FRAMES[i:i + 1], stuff_area_limit=0, max_segments=54)
        for got, want in zip(fused, alone):
            np.testing.assert_array_equal(got[i], want[0])
    assert fused[2].min() > 0


def test_portable_dynamic_batch_with_the_tail_is_refused():
    model, cfg = cached_model()
    with pytest.raises(TrtPanopticError, match="should come with --host-tail or --flavor tensorrt"):
        export_onnx(model, cfg, height=SIZE, width=SIZE, batch=3, dynamic_batch=True)


@pytest.mark.parametrize("value", ["0", "3-2", "x", "2-4", "-3", "1-0"])
def test_cli_batch_errors_are_one_line(tmp_path, capsys, value):
    rc = main(["export", "--height", "64", "--width", "64", "--batch", value, "--out", str(tmp_path / "m.onnx")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and "Traceback" not in err, err
    assert f"--batch should be a positive integer N or a range 1-N, got '{value}'" in err


def test_cli_dynamic_batch_needs_the_tensorrt_flavour_or_host_tail(tmp_path, capsys):
    rc = main(["export", "--height", "64", "--width", "64", "--batch", "1-4", "--out", str(tmp_path / "m.onnx")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and "add --host-tail" in err, err


class _OrtAsEngine:
    """Stands in for :class:`trt_panoptic.engine.runner.TrtRunner` over a batch graph: the same named-dict
    ``run()`` (on ONNX Runtime, with the plugin ops), the same ``inputs`` (``TensorSpec``-like: name and
    shape, -1 for a dynamic dimension) and a sidecar whose ``inputs`` hold the build shapes (the largest of the
    profile when dynamic), as ``trt-panoptic build`` writes them."""

    def __init__(self, proto, max_batch: int):
        from types import SimpleNamespace

        from trt_panoptic.engine.sidecar import Sidecar

        self.session = ort_session(proto)
        self.inputs = [SimpleNamespace(name=i.name, shape=tuple(d if isinstance(d, int) else -1 for d in i.shape))
                       for i in self.session.get_inputs()]
        self.sidecar = Sidecar(tensorrt_version="10.3.0", gpu_name="GPU", compute_capability="8.7", precision="fp16",
                               inputs={"image": [max_batch, 3, SIZE, SIZE], "valid_hw": [max_batch, 2]},
                               onnx_path="m.onnx", onnx_sha256="0" * 64, model_config=onnx_info(proto).config.to_dict(),
                               input_size=[SIZE, SIZE])

    def run(self, inputs):
        return dict(zip([o.name for o in self.session.get_outputs()], self.session.run(None, inputs)))


@pytest.mark.parametrize("dynamic", [False, True], ids=["fixed batch 3", "dynamic batch 1-3"])
def test_tensorrt_backend_runs_a_batch_per_engine_call(dynamic):
    # The tensorrt backend reads its batch from the engine (the sidecar's build shape) and runs one engine call
    # per batch, padding a fixed one: each image equals its own batch-1 run.
    from trt_panoptic.runtime.tensorrt_backend import TensorRTPredictor

    images = _images()
    # ONNX Runtime runs either flavour; the exports the tests above made (a fixed batch is a portable one there)
    proto = _batch_export("tensorrt", 3, True) if dynamic else _batch_export("portable", 3, False)
    engine = _OrtAsEngine(proto, max_batch=3)
    calls = []
    run = engine.run
    engine.run = lambda feed: calls.append(feed["image"].shape[0]) or run(feed)
    predictor = TensorRTPredictor("m.engine", runner=engine)
    assert predictor.max_batch == 3
    two = predictor.forward_batch(images[:2], FRAMES[:2])
    assert calls == [2 if dynamic else 3]
    one = cached_export("tensorrt" if dynamic else "portable")
    single = [_run(one, images[i:i + 1], FRAMES[i:i + 1]) for i in range(2)]
    for i, outputs in enumerate(two):
        _assert_equal_per_image(outputs, [single[i]])
    assert predictor.forward(images[2:], FRAMES[2:])["num_detections"].shape == (1,)
