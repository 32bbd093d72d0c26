"""detectron2 import: numerical parity with detectron2's own outputs on the parity fixture (tests/fixtures/detectron2_parity), and the mapping checks."""
import json
import pickle

import numpy as np
import pytest
import torch
import yaml

from trt_panoptic.cli.main import main
from trt_panoptic.convert import convert_detectron2
from trt_panoptic.convert.detectron2 import read_detectron2_weights
from trt_panoptic.errors import TrtPanopticError

NAMES = {"thing_classes": ["disc", "box", "triangle"], "stuff_classes": ["sky", "road", "grass"]}


@pytest.fixture(scope="module")
def fixture(fixtures):
    root = fixtures / "detectron2_parity"
    model, cfg, report = convert_detectron2(root / "model_final.pth", root / "config.yaml", names=NAMES)
    return root, model, cfg, report, np.load(root / "outputs.npz")


def _image(root, i):
    import cv2

    bgr = cv2.imread(str(root / "images" / f"img_{i:03d}.png"))
    return torch.from_numpy(np.ascontiguousarray(bgr.transpose(2, 0, 1)))


def _panoptic_agreement(ours: np.ndarray, ref: np.ndarray) -> float:
    """Fraction of pixels that agree after mapping each of our segments to the reference segment it overlaps most."""
    mapping = {}
    for sid in np.unique(ours):
        vals, counts = np.unique(ref[ours == sid], return_counts=True)
        mapping[sid] = vals[np.argmax(counts)]
    return float((np.vectorize(mapping.get)(ours) == ref).mean())


def test_config_translation(fixture):
    _, _, cfg, report, _ = fixture
    r = cfg.model.backbone.resnet
    assert (r.depth, r.stem_channels, r.res2_channels, r.bottleneck_channels, r.stride_in_1x1, r.norm) == (50, 16, 64, 16, True, "FrozenBN")
    assert cfg.model.backbone.fpn.out_channels == 64 and cfg.model.semantic_head.conv_dims == 64
    assert (cfg.model.roi_heads.box_fc_dim, cfg.model.roi_heads.mask_conv_dim) == (256, 64)
    assert cfg.model.panoptic.stuff_area_limit == 256 and cfg.model.input.format == "BGR"
    # exported backends default to detectron2's test resize (INPUT.MIN/MAX_SIZE_TEST 256/256 here)
    assert cfg.model.input.size == [256, 256]
    assert report.ok and len(report.placed) == 330


def test_fpn_features_and_proposals_match(fixture):
    root, model, _, _, ref = fixture
    torch.set_num_threads(1)
    with torch.no_grad():
        x, sizes = model.preprocess([_image(root, 0)])
        feats = model.backbone(x)
        (boxes, logits), = model.rpn(feats, sizes)[0]
    for level in range(2, 7):
        want = ref[f"p{level}_0"]
        err = np.abs(feats[f"p{level}"].numpy() - want).max() / np.abs(want).max()
        assert err < 1e-4, (level, err)
    np.testing.assert_allclose(logits.numpy(), ref["objectness_0"], atol=1e-4)
    # Equal logits may come out in either order: match proposals as a set.
    dist = torch.cdist(torch.from_numpy(ref["proposals_0"]), boxes, p=float("inf"))
    assert float(dist.min(dim=1).values.max()) < 1e-2


@pytest.mark.parametrize("i", [0, 1, 2, 3])
def test_outputs_match_detectron2(fixture, i):
    root, model, _, _, ref = fixture
    torch.set_num_threads(1)
    with torch.no_grad():
        (out,) = model([_image(root, i)])
    np.testing.assert_allclose(out["sem_seg"].numpy(), ref[f"sem_seg_{i}"], atol=1e-3)
    inst = out["instances"]
    assert inst["boxes"].shape[0] == ref[f"boxes_{i}"].shape[0]
    np.testing.assert_allclose(inst["boxes"].numpy(), ref[f"boxes_{i}"], atol=0.05)
    np.testing.assert_allclose(inst["scores"].numpy(), ref[f"scores_{i}"], atol=1e-3)
    assert np.array_equal(inst["classes"].numpy(), ref[f"classes_{i}"])
    for ours, want in zip(inst["masks"].numpy(), ref[f"masks_{i}"]):
        assert (ours & want).sum() / max((ours | want).sum(), 1) >= 0.99
    assert _panoptic_agreement(out["panoptic"][0].numpy(), ref[f"panoptic_{i}"]) >= 0.995


def test_predict_save_raw_gives_detectron2_arrays(fixture, tmp_path):
    root, model, cfg, _, ref = fixture
    from trt_panoptic.modeling.checkpoint import save_checkpoint

    weights = save_checkpoint(tmp_path / "d2.pt", model, cfg)
    assert main(["predict", "--weights", str(weights), "--input", str(root / "images" / "img_003.png"),
                 "--output", str(tmp_path / "out"), "--save-raw", "--threads", "1"]) == 0
    raw = np.load(tmp_path / "out" / "img_003.npz")
    assert raw["sem_seg"].dtype == np.float32 and raw["masks"].dtype == bool and raw["panoptic"].dtype == np.int32
    np.testing.assert_allclose(raw["boxes"], ref["boxes_3"], atol=0.05)
    assert np.array_equal(raw["classes"], ref["classes_3"])
    segments = json.loads((tmp_path / "out" / "img_003.json").read_text())["segments_info"]
    assert len(segments) == len(json.loads((root / "segments.json").read_text())[3])
    assert (tmp_path / "out" / "img_003.png").is_file() and (tmp_path / "out" / "img_003_overlay.jpg").is_file()


def test_mismatched_weights_are_listed(fixture, tmp_path):
    root, *_ = fixture
    d2 = yaml.safe_load((root / "config.yaml").read_text())
    d2["MODEL"]["FPN"]["OUT_CHANNELS"] = 128
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(d2))
    with pytest.raises(TrtPanopticError, match="mis-shaped") as err:
        convert_detectron2(root / "model_final.pth", tmp_path / "c.yaml", names=NAMES)
    assert "fpn_lateral" in str(err.value)


def test_pickle_needs_explicit_trust(fixture, tmp_path):
    root, *_ = fixture
    state = torch.load(root / "model_final.pth", weights_only=True)["model"]
    pkl = tmp_path / "model_final.pkl"
    with pkl.open("wb") as f:
        pickle.dump({"model": {k: v.numpy() for k, v in state.items()}, "__author__": "test"}, f)
    with pytest.raises(TrtPanopticError, match="--trust-pickle"):
        read_detectron2_weights(pkl)
    loaded = read_detectron2_weights(pkl, trust_pickle=True)
    assert torch.equal(loaded["backbone.fpn_lateral2.weight"], state["backbone.fpn_lateral2.weight"])


def test_cli_convert_errors_are_one_line(tmp_path, capsys):
    assert main(["convert", str(tmp_path / "missing.pth"), "--d2-config", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "m.pt")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not found" in err


@pytest.mark.parametrize("flavor", ["portable", "tensorrt"])
def test_converted_model_exports_with_detectron2_outputs(fixture, tmp_path, flavor):
    """checkpoint → ONNX (both flavours) → ONNX Runtime predictor still gives detectron2's results."""
    import cv2

    from trt_panoptic.export.exporter import export_onnx, save_onnx
    from trt_panoptic.runtime import create_predictor

    root, model, cfg, _, ref = fixture
    path = save_onnx(export_onnx(model, cfg, height=256, width=256, flavor=flavor), tmp_path / f"{flavor}.onnx")
    predictor = create_predictor("onnxruntime", model=str(path))
    for i in (0, 3):
        result = predictor.predict(cv2.imread(str(root / "images" / f"img_{i:03d}.png")))
        np.testing.assert_allclose(result.boxes, ref[f"boxes_{i}"], atol=0.05)
        assert np.array_equal(result.classes, ref[f"classes_{i}"])
        assert _panoptic_agreement(result.panoptic, ref[f"panoptic_{i}"]) >= 0.995


def test_the_recorded_input_size_follows_detectron2s_test_resize():
    from trt_panoptic.convert.detectron2 import _test_size

    assert _test_size({}) == [800, 1344]  # detectron2's defaults 800/1333, a landscape frame, rounded up to 32
    assert _test_size({"INPUT": {"MIN_SIZE_TEST": 600, "MAX_SIZE_TEST": 1000}}) == [608, 1024]
    assert _test_size({"INPUT": {"MIN_SIZE_TEST": 0}}) == []  # no test-time resize: nothing to record


@pytest.mark.parametrize("change, message", [
    ({"ROI_BOX_HEAD": {"POOLER_TYPE": "ROIAlign"}}, "ROI_BOX_HEAD.POOLER_TYPE should be ROIAlignV2"),
    ({"ROI_MASK_HEAD": {"POOLER_TYPE": "ROIPool"}}, "ROI_MASK_HEAD.POOLER_TYPE should be ROIAlignV2"),
    ({"ROI_MASK_HEAD": {"POOLER_SAMPLING_RATIO": 2}}, "should be one value >= 0, got 0 and 2"),
])
def test_unsupported_poolers_are_refused_in_one_line(fixture, change, message):
    # detectron2's pooler settings are honoured or refused, never ignored
    from trt_panoptic.convert.detectron2 import config_from_detectron2

    root = fixture[0]
    d2 = yaml.safe_load((root / "config.yaml").read_text())
    for head, values in change.items():
        d2["MODEL"][head].update(values)
    with pytest.raises(TrtPanopticError, match=message.replace("(", r"\(")):
        config_from_detectron2(d2, NAMES)


def test_a_shared_sampling_ratio_is_honoured(fixture):
    from trt_panoptic.convert.detectron2 import config_from_detectron2

    d2 = yaml.safe_load((fixture[0] / "config.yaml").read_text())
    for head in ("ROI_BOX_HEAD", "ROI_MASK_HEAD"):
        d2["MODEL"][head]["POOLER_SAMPLING_RATIO"] = 2
    assert config_from_detectron2(d2, NAMES).model.roi_heads.pooler_sampling_ratio == 2
