import torch

from trt_panoptic.ops import BoxCoder, batched_nms, box_iou, nms


def naive_nms(boxes, scores, thr):
    order = sorted(range(len(scores)), key=lambda i: -float(scores[i]))
    keep = []
    for i in order:
        ok = True
        for j in keep:
            xx1, yy1 = max(boxes[i][0], boxes[j][0]), max(boxes[i][1], boxes[j][1])
            xx2, yy2 = min(boxes[i][2], boxes[j][2]), min(boxes[i][3], boxes[j][3])
            inter = max(0.0, xx2 - xx1) * max(0.0, yy2 - yy1)
            a = (boxes[i][2] - boxes[i][0]) * (boxes[i][3] - boxes[i][1])
            b = (boxes[j][2] - boxes[j][0]) * (boxes[j][3] - boxes[j][1])
            if inter / (a + b - inter) > thr:
                ok = False
                break
        if ok:
            keep.append(i)
    return keep


def _random_boxes(gen, n):
    xy = torch.rand(n, 2, generator=gen) * 100
    wh = torch.rand(n, 2, generator=gen) * 40 + 1
    return torch.cat([xy, xy + wh], 1)


def test_nms_matches_greedy_reference():
    gen = torch.Generator().manual_seed(0)
    boxes = _random_boxes(gen, 200)
    scores = torch.rand(200, generator=gen)
    for thr in (0.3, 0.5, 0.7):
        assert nms(boxes, scores, thr).tolist() == naive_nms(boxes.tolist(), scores.tolist(), thr)


def test_batched_nms_is_nms_per_group_sorted_by_score():
    gen = torch.Generator().manual_seed(1)
    boxes = _random_boxes(gen, 120)
    scores = torch.rand(120, generator=gen)
    groups = torch.randint(0, 3, (120,), generator=gen)
    keep = batched_nms(boxes, scores, groups, 0.5)
    expected = []
    for g in range(3):
        idx = torch.nonzero(groups == g).squeeze(1)
        expected += idx[naive_nms(boxes[idx].tolist(), scores[idx].tolist(), 0.5)].tolist()
    assert sorted(keep.tolist()) == sorted(expected)
    assert torch.all(scores[keep][:-1] >= scores[keep][1:])


def test_box_coder_round_trip_and_hand_value():
    coder = BoxCoder((10.0, 10.0, 5.0, 5.0))
    src = torch.tensor([[0.0, 0.0, 10.0, 20.0]])
    dst = torch.tensor([[5.0, 0.0, 25.0, 20.0]])
    deltas = coder.encode(src, dst)
    # centre moves 10 px on a 10 px box (×10 weight) → 10; width doubles → 5·log 2.
    torch.testing.assert_close(deltas, torch.tensor([[10.0, 0.0, 5 * torch.log(torch.tensor(2.0)).item(), 0.0]]))
    torch.testing.assert_close(coder.decode(deltas, src), dst)


def test_box_iou_hand_values():
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    b = torch.tensor([[1.0, 1.0, 3.0, 3.0], [2.0, 2.0, 3.0, 3.0], [0.0, 0.0, 2.0, 2.0]])
    torch.testing.assert_close(box_iou(a, b), torch.tensor([[1 / 7, 0.0, 1.0]]))
