"""PanopticFPN end to end on a CPU-sized config: losses go down, eval outputs are consistent, bad input is named."""
import pytest
import torch

from trt_panoptic.config import config_from_dict
from trt_panoptic.modeling import build_model

TINY = {
    "model": {
        "backbone": {"resnet": {"depth": 18, "width_mult": 0.25, "norm": "BN"}, "fpn": {"out_channels": 32}},
        "semantic_head": {"conv_dims": 32},
        "rpn": {"pre_nms_topk_train": 200, "post_nms_topk_train": 100, "pre_nms_topk_test": 100, "post_nms_topk_test": 50},
        "roi_heads": {"box_fc_dim": 64, "mask_conv_dim": 32, "batch_size_per_image": 64},
        "panoptic": {"stuff_area_limit": 16},
    }
}


def _batch():
    img = torch.zeros(3, 64, 96, dtype=torch.uint8)
    img[:] = torch.tensor([200, 120, 40], dtype=torch.uint8)[:, None, None]
    img[:, 10:40, 20:50] = 30
    sem = torch.full((64, 96), 1, dtype=torch.long)
    sem[40:] = 2
    sem[10:40, 20:50] = 0
    masks = torch.zeros(1, 64, 96, dtype=torch.bool)
    masks[0, 10:40, 20:50] = True
    target = {"sem_seg": sem, "boxes": torch.tensor([[20.0, 10.0, 50.0, 40.0]]), "classes": torch.tensor([1]), "masks": masks}
    return [img], [target]


def test_a_few_sgd_steps_lower_the_total_loss():
    model = build_model(config_from_dict(TINY)).train()
    images, targets = _batch()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    totals = []
    for _ in range(8):
        losses = model(images, targets)
        assert set(losses) == {"rpn_cls", "rpn_loc", "cls", "box_reg", "mask", "sem_seg"}
        total = sum(losses.values())
        opt.zero_grad()
        total.backward()
        opt.step()
        totals.append(total.item())
    assert totals[-1] < 0.7 * totals[0], totals


def test_eval_outputs_are_consistent_at_input_resolution():
    model = build_model(config_from_dict(TINY)).eval()
    img = torch.randint(0, 255, (3, 70, 90), dtype=torch.uint8)  # not a multiple of 32: padded inside
    with torch.no_grad():
        (out,) = model([img])
    assert out["sem_seg"].shape == (4, 70, 90)
    assert torch.equal(out["sem_labels"], out["sem_seg"].argmax(0))
    inst = out["instances"]
    n = inst["boxes"].shape[0]
    assert inst["masks"].shape == (n, 70, 90) and inst["mask_probs"].shape == (n, 28, 28)
    panoptic, segments = out["panoptic"]
    assert panoptic.shape == (70, 90) and panoptic.dtype == torch.int32
    assert set(torch.unique(panoptic).tolist()) - {0} == {s["id"] for s in segments}


def test_do_postprocess_false_stops_at_the_raw_outputs_that_give_the_same_panoptic_map():
    # detectron2's switch: without postprocessing no masks are pasted and nothing is fused; the one result
    # builder every predictor uses turns the raw outputs into the map the postprocessed call returns.
    from trt_panoptic.data.preprocess import Letterbox
    from trt_panoptic.postprocess.result import detection_outputs, result_from_outputs

    model = build_model(config_from_dict(TINY)).eval()
    img = torch.randint(0, 255, (3, 70, 90), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        (full,) = model([img])
        (raw,) = model([img], do_postprocess=False)
    assert "panoptic" not in raw and "masks" not in raw["instances"]
    assert torch.equal(raw["instances"]["boxes"], full["instances"]["boxes"])
    result = result_from_outputs(detection_outputs(raw), Letterbox.identity(70, 90), **model.fusion)
    panoptic, segments = full["panoptic"]
    assert (result.panoptic == panoptic.numpy()).all() and result.segments_info == segments
    assert (result.masks == full["instances"]["masks"].numpy()).all()  # pasted when asked for


def test_train_mode_needs_targets():
    model = build_model(config_from_dict(TINY)).train()
    with pytest.raises(ValueError, match="needs targets"):
        model([torch.zeros(3, 32, 32, dtype=torch.uint8)])


@pytest.mark.parametrize(
    "images,match",
    [
        ([torch.zeros(3, 32, 32, dtype=torch.int64)], "uint8 or float32"),
        ([torch.zeros(4, 32, 32, dtype=torch.uint8)], "Tensor\\[3, H, W\\]"),
        ([torch.zeros(32, 32, dtype=torch.uint8)], "Tensor\\[3, H, W\\]"),
        (torch.zeros(3, 32, 32, dtype=torch.uint8), "Tensor\\[N, 3, H, W\\]"),
        ([], "at least one image"),
    ],
)
def test_bad_input_names_what_was_expected(images, match):
    model = build_model(config_from_dict(TINY)).eval()
    with pytest.raises(ValueError, match=match):
        model(images)


def test_pad_to_pads_with_zeros_after_normalizing_and_keeps_the_image_size():
    model = build_model(config_from_dict(TINY)).eval()
    images, _ = _batch()
    x, sizes = model.preprocess(images, pad_to=(128, 160))
    assert x.shape == (1, 3, 128, 160) and sizes == [(64, 96)]
    torch.testing.assert_close(x[0, :, :64, :96], (images[0].float() - model.pixel_mean) / model.pixel_std)
    assert torch.equal(x[0, :, 64:], torch.zeros(3, 64, 160)) and torch.equal(x[0, :, :, 96:], torch.zeros(3, 128, 64))
    with torch.no_grad():
        out = model(images, pad_to=(128, 160), do_postprocess=False)[0]
    assert out["sem_labels"].shape == (64, 96)
    boxes = out["instances"]["boxes"]
    assert bool((boxes[:, 2] <= 96).all() and (boxes[:, 3] <= 64).all())


@pytest.mark.parametrize("pad_to", [(32, 96), (64, 80), (100, 128)], ids=["smaller", "smaller width", "not a multiple"])
def test_bad_pad_to_is_a_one_line_error(pad_to):
    from trt_panoptic.errors import TrtPanopticError

    model = build_model(config_from_dict(TINY)).eval()
    images, _ = _batch()
    with pytest.raises(TrtPanopticError, match="pad_to should be multiples of 32") as err:
        model(images, pad_to=pad_to)
    assert "\n" not in str(err.value)
