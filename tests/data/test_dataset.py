"""The training Dataset and its augmentations: targets stay consistent with the picture after resize/crop/flip."""
from __future__ import annotations


import numpy as np
import pytest
import torch

from trt_panoptic.config import load_config
from trt_panoptic.data import PanopticCategories
from trt_panoptic.data.dataset import PanopticDataset, collate_list
from trt_panoptic.data.synthetic import generate_synthetic_dataset
from trt_panoptic.data.transforms import (
    Compose,
    RandomCrop,
    RandomFlip,
    ResizeShortestEdge,
    build_train_transforms,
    resize_nearest,
    shortest_edge_size,
)
from trt_panoptic.errors import TrtPanopticError



@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return generate_synthetic_dataset(tmp_path_factory.mktemp("d") / "s", 4, seed=3, size=(64, 80), progress=False)


@pytest.fixture(scope="module")
def cats():
    return PanopticCategories.from_model_config(load_config("r18_fpn_tiny").model)


def test_sample_types_and_shapes_on_the_real_sample(coco_sample):
    import cv2

    ds = PanopticDataset(coco_sample)
    s = ds[0]
    assert s["image"].dtype == torch.uint8 and s["image"].shape == (3, 427, 640)
    bgr = cv2.imread(s["file_name"], cv2.IMREAD_COLOR)
    assert torch.equal(s["image"], torch.from_numpy(bgr).permute(2, 0, 1))  # BGR, channels first
    assert s["sem_seg"].dtype == torch.int64 and s["sem_seg"].shape == (427, 640)
    assert s["boxes"].dtype == torch.float32 and s["boxes"].shape == (14, 4)
    assert s["classes"].dtype == torch.int64 and s["masks"].dtype == torch.bool and s["masks"].shape == (14, 427, 640)
    assert (s["image_id"], s["height"], s["width"]) == (142238, 427, 640)


def test_resize_nearest_hand_cases():
    a = np.arange(6).reshape(2, 3)
    np.testing.assert_array_equal(resize_nearest(a, 4, 6), np.kron(a, np.ones((2, 2), int)))
    b = np.arange(16).reshape(4, 4)
    np.testing.assert_array_equal(resize_nearest(b, 2, 2), b[1::2, 1::2])  # centres of 2x2 blocks: index 2i+1


def test_shortest_edge_rule():
    assert shortest_edge_size(427, 640, 256, 1000) == (256, 384)
    assert shortest_edge_size(427, 640, 256, 320) == (214, 320)  # long side capped


def _targets_without_aug(ds, i):
    transforms, ds.transforms = ds.transforms, None
    try:
        return ds[i]
    finally:
        ds.transforms = transforms


def test_flip_mirrors_image_masks_and_boxes(synth, cats):
    ds = PanopticDataset(synth, cats, transforms=Compose([RandomFlip(1.0)]))
    for i in range(len(ds)):
        plain, flipped = _targets_without_aug(ds, i), ds[i]
        w = plain["width"]
        assert torch.equal(flipped["image"], plain["image"].flip(-1))
        assert torch.equal(flipped["sem_seg"], plain["sem_seg"].flip(-1))
        assert torch.equal(flipped["masks"], plain["masks"].flip(-1))
        expect = plain["boxes"][:, [2, 1, 0, 3]] * torch.tensor([-1, 1, -1, 1]) + torch.tensor([w, 0, w, 0])
        assert torch.equal(flipped["boxes"], expect)


def test_crop_keeps_targets_consistent_and_drops_vanished_instances(synth, cats):
    ds = PanopticDataset(synth, cats, transforms=Compose([RandomCrop(0.5)]), seed=1)
    for i in range(len(ds)):
        plain, s = _targets_without_aug(ds, i), ds[i]
        h, w = s["sem_seg"].shape
        assert (h, w) == (32, 40)
        # locate the window: the only offset where the cropped picture matches the original
        img = plain["image"]
        hits = [(y, x) for y in range(64 - h + 1) for x in range(80 - w + 1) if torch.equal(img[:, y:y + h, x:x + w], s["image"])]
        assert hits
        y, x = hits[0]
        assert torch.equal(s["sem_seg"], plain["sem_seg"][y:y + h, x:x + w])
        kept = [m[y:y + h, x:x + w] for m in plain["masks"] if m[y:y + h, x:x + w].any()]
        assert len(kept) == len(s["masks"])
        for m_crop, m, box in zip(kept, s["masks"], s["boxes"]):
            assert torch.equal(m_crop, m)
            ys, xs = torch.nonzero(m, as_tuple=True)
            assert box.tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def test_resize_keeps_semantic_and_instance_targets_aligned(synth, cats):
    ds = PanopticDataset(synth, cats, transforms=Compose([ResizeShortestEdge([96], 200)]))
    plain, s = _targets_without_aug(ds, 0), ds[0]
    assert s["image"].shape == (3, 96, 120)
    np.testing.assert_array_equal(s["sem_seg"].numpy(), resize_nearest(plain["sem_seg"].numpy(), 96, 120))
    union = s["masks"].any(0)
    assert (s["sem_seg"][union] == 0).all()  # every instance pixel is 'other' in the semantic target


def test_augmentation_is_a_function_of_seed_epoch_index(synth, cats):
    cfg = load_config("r18_fpn_tiny")
    ds = PanopticDataset(synth, cats, build_train_transforms(cfg.train), seed=4)
    first = [ds[i]["image"] for i in range(4)]
    assert torch.equal(ds[2]["image"], first[2]) and torch.equal(ds[0]["image"], first[0])  # order does not matter
    ds.set_epoch(1)
    sizes = {tuple(ds[i]["image"].shape) for i in range(4)} | {tuple(x.shape) for x in first}
    assert len(sizes) > 1  # several of min_size [224, 256, 288] were drawn
    ds.set_epoch(0)
    assert torch.equal(ds[3]["image"], first[3])


def test_collate_keeps_a_list(synth, cats):
    ds = PanopticDataset(synth, cats)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=3, collate_fn=collate_list)))
    assert isinstance(batch, list) and len(batch) == 3 and batch[1]["image_id"] == 1


def test_bad_transform_settings():
    with pytest.raises(TrtPanopticError, match="crop"):
        RandomCrop(1.5)
    with pytest.raises(TrtPanopticError, match="min_size"):
        ResizeShortestEdge([], 100)


def test_an_rgb_model_is_trained_on_rgb_as_it_is_deployed(synth, cats):
    # one place decides the channel order: the dataset gives an RGB model what every predictor gives it
    from trt_panoptic.data.preprocess import prepare_input

    bgr, rgb = PanopticDataset(synth, cats)[0]["image"], PanopticDataset(synth, cats, input_format="RGB")[0]["image"]
    assert torch.equal(rgb, bgr.flip(0)) and not torch.equal(rgb, bgr)
    frame = np.ascontiguousarray(bgr.numpy().transpose(1, 2, 0))
    deployed, _ = prepare_input(frame, None, None, (0.0, 0.0, 0.0), rgb=True)
    assert torch.equal(torch.from_numpy(deployed[0]), rgb)
