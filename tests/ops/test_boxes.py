import pytest
import torch

from trt_panoptic.ops import BoxCoder, batched_nms, box_iou, nms
from trt_panoptic.plugins import build

needs_host = pytest.mark.skipif(build.find_cxx() is None, reason="no C++ compiler for the host library")


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


@pytest.mark.parametrize("implementation", ["torch", pytest.param("host", marks=needs_host)])
def test_batched_nms_implementations_keep_the_same_boxes(implementation):
    # Many groups, tied scores, duplicate and empty boxes: both implementations equal the naive loop per group,
    # in the same order (decreasing score, ties in input order).
    gen = torch.Generator().manual_seed(3)
    boxes = _random_boxes(gen, 400)
    boxes[10:20] = boxes[0]  # duplicates
    boxes[20:25, 2:] = boxes[20:25, :2]  # empty
    scores = (torch.rand(400, generator=gen) * 20).round() / 20  # ties
    groups = torch.randint(0, 7, (400,), generator=gen)
    for thr in (0.3, 0.5, 0.7):
        want = batched_nms(boxes, scores, groups, thr, implementation="torch")
        got = batched_nms(boxes, scores, groups, thr, implementation=implementation)
        assert got.tolist() == want.tolist()
        expected = set()
        for g in range(7):
            idx = torch.nonzero(groups == g).squeeze(1)
            expected |= set(idx[naive_nms(boxes[idx].tolist(), scores[idx].tolist(), thr)].tolist())
        assert set(got.tolist()) == expected


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


def clustered_boxes(gen, groups, n):
    """Boxes in a few tight clusters (long chains of suppressions), scores with ties."""
    centres = torch.rand(groups, 4, 2, generator=gen) * 200
    pick = torch.randint(0, 4, (groups, n), generator=gen)
    c = torch.gather(centres, 1, pick[..., None].expand(-1, -1, 2)) + torch.randn(groups, n, 2, generator=gen) * 6
    wh = torch.rand(groups, n, 2, generator=gen) * 40 + 10
    scores = torch.randint(0, 40, (groups, n), generator=gen).float() / 40  # many ties
    return torch.cat([c - wh / 2, c + wh / 2], dim=-1), scores


def test_fixed_shape_nms_makes_the_greedy_decisions():
    from trt_panoptic.ops.boxes import nms_keep_mask

    gen = torch.Generator().manual_seed(0)
    for case in range(30):
        boxes, scores = clustered_boxes(gen, 3, 60)
        scores[0, :5] = float("nan")  # never a candidate
        thr, min_score, cap = (0.5, 0.2, 7) if case % 2 else (0.7, None, None)
        keep, converged = nms_keep_mask(boxes, scores, thr, score_threshold=min_score, max_per_group=cap, rounds=64)
        assert bool(converged)
        for g in range(3):
            cand = torch.nonzero(torch.isfinite(scores[g]) & (scores[g] > (min_score if min_score is not None else -1))).squeeze(1)
            expected = cand[nms(boxes[g, cand], scores[g, cand], thr)][:cap]
            assert torch.nonzero(keep[g]).squeeze(1).tolist() == sorted(expected.tolist()), (case, g)


def test_fixed_shape_nms_says_when_its_rounds_were_too_few():
    from trt_panoptic.ops.boxes import nms_keep_mask

    # a chain: each box overlaps only the next; greedy keeps every other one — 20 links need 20 rounds
    x = torch.arange(20, dtype=torch.float32) * 4  # IoU 0.43 with the next box, 0.11 with the one after
    boxes = torch.stack([x, torch.zeros(20), x + 10, torch.full((20,), 10.0)], dim=1)[None]
    scores = torch.linspace(1, 0.5, 20)[None]
    keep, converged = nms_keep_mask(boxes, scores, 0.3, rounds=5)
    assert not bool(converged)
    keep, converged = nms_keep_mask(boxes, scores, 0.3, rounds=25)
    assert bool(converged) and torch.nonzero(keep[0]).squeeze(1).tolist() == list(range(0, 20, 2))


def test_fixed_shape_nms_has_no_data_dependent_shape_or_branch():
    # torch.export fails on .item(), nonzero() or a Python branch on a tensor value; this one exports whole
    from trt_panoptic.ops.boxes import nms_keep_mask

    class Nms(torch.nn.Module):
        def forward(self, boxes, scores):
            return nms_keep_mask(boxes, scores, 0.5, score_threshold=0.1, max_per_group=10, rounds=8)

    gen = torch.Generator().manual_seed(1)
    boxes, scores = clustered_boxes(gen, 2, 40)
    program = torch.export.export(Nms(), (boxes, scores))
    keep, converged = program.module()(boxes, scores)
    expected, _ = nms_keep_mask(boxes, scores, 0.5, score_threshold=0.1, max_per_group=10, rounds=8)
    assert torch.equal(keep, expected)
