"""The fixed-shape panoptic tail equals the tail on the frame alone (padded back), and says when its rounds
did not suffice."""
import pytest
import torch

from trt_panoptic.postprocess.panoptic_fixed import panoptic_table_fixed
from trt_panoptic.postprocess.panoptic_tail import panoptic_table

from postprocess.cases import random_case


def _padded(case, height, width, extra, seed):
    """The case as a graph hands it over: the frame top-left in a larger input (garbage labels in the padding)
    and ``extra`` rows past the detections (garbage too: they must be ignored)."""
    sem, probs, boxes, scores, classes = case
    g = torch.Generator().manual_seed(seed)
    h, w = sem.shape
    big = torch.randint(0, 5, (height, width), generator=g)
    big[:h, :w] = sem
    def grow(t, fill):
        return torch.cat([t, fill(extra, *t.shape[1:])])
    return (big, grow(probs, lambda *s: torch.rand(*s, generator=g)), grow(boxes, lambda *s: torch.rand(*s, generator=g) * 50),
            grow(scores, lambda *s: torch.ones(*s)), grow(classes, lambda *s: torch.ones(*s, dtype=classes.dtype)))


@pytest.mark.parametrize("seed", range(40))
def test_fixed_tail_equals_the_tail_on_the_frame(seed):
    h, w = [(37, 53), (64, 64), (100, 80), (21, 90)][seed % 4]
    n = seed % 19
    case = random_case(seed, h, w, n=n)
    overlap = [0.5, 0.2, 0.8][seed % 3]
    pan_ref, table_ref = panoptic_table(*case, overlap_thresh=overlap, stuff_area_limit=0, implementation="torch")
    height, width = h + seed % 7, w + 32
    sem, probs, boxes, scores, classes = _padded(case, height, width, extra=3, seed=seed)
    pan, table, num, exact = panoptic_table_fixed(
        sem, probs, boxes, scores, classes, torch.tensor([n], dtype=torch.int32), torch.tensor([h, w]), num_stuff=4,
        overlap_thresh=overlap, rounds=n + 1, chunk_values=3000)
    assert bool(exact)
    assert pan.dtype == torch.int32 and pan.shape == (height, width)
    assert torch.equal(pan[:h, :w], pan_ref) and not pan[h:].any() and not pan[:, w:].any()
    k = table_ref.shape[0]
    assert int(num[0]) == k and table.shape == (n + 3 + 4, 10)
    assert torch.equal(table[:k], table_ref) and not table[k:].any()


def test_too_few_rounds_for_a_chain_of_skips_is_flagged():
    # Full masks on integer boxes: A placed, B skipped (7/10 on A), C placed (4/10 on A), D skipped (6/10 on C),
    # E placed — each decision depends on the one before, so the fixed point needs several rounds.
    xs = [0, 3, 6, 10, 14]
    boxes = torch.tensor([[x, 0, x + 10, 10] for x in xs], dtype=torch.float32)
    args = (torch.zeros(10, 30, dtype=torch.long), torch.ones(5, 28, 28), boxes, torch.linspace(0.9, 0.6, 5),
            torch.zeros(5, dtype=torch.long), torch.tensor(5), torch.tensor([10, 30]))
    _, want = panoptic_table(*args[:5], stuff_area_limit=0, implementation="torch")
    assert want[:, 5].tolist() == [0, 2, 4]
    _, table, _, exact = panoptic_table_fixed(*args, num_stuff=1, rounds=1)
    assert not bool(exact)
    _, table, num, exact = panoptic_table_fixed(*args, num_stuff=1, rounds=4)
    assert bool(exact) and torch.equal(table[: int(num[0])], want)


def test_no_detections_leaves_stuff_only():
    sem = torch.tensor([[0, 1, 1], [2, 2, 1]])
    pan, table, num, exact = panoptic_table_fixed(
        sem, torch.zeros(2, 28, 28), torch.zeros(2, 4), torch.zeros(2), torch.zeros(2, dtype=torch.long),
        torch.tensor([0]), torch.tensor([2, 3]), num_stuff=2)
    assert bool(exact) and int(num[0]) == 2
    assert pan.tolist() == [[0, 1, 1], [2, 2, 1]]
    assert table[:2, 2].tolist() == [1.0, 2.0] and table[:2, 4].tolist() == [3.0, 2.0]
