"""The data order is a function of (seed, iteration, rank): resumable without replay, disjoint across ranks."""
from __future__ import annotations

from trt_panoptic.training.stream import BatchStream


class Recorder:
    """Stands in for PanopticDataset: a sample says which (epoch, index) it was read as."""

    def __init__(self, n: int) -> None:
        self.n, self.epoch = n, 0

    def __len__(self) -> int:
        return self.n

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> tuple[int, int]:
        return self.epoch, index


def stream(start_iter=0, max_iter=12, rank=0, world_size=1, n=10, seed=7, batch=4):
    return BatchStream(Recorder(n), seed=seed, ims_per_batch=batch, start_iter=start_iter, max_iter=max_iter,
                       rank=rank, world_size=world_size)


def test_every_epoch_visits_every_sample_once():
    s = stream(max_iter=5)  # 5 × 4 = 20 samples = 2 epochs of 10
    seen = [sample for k in range(len(s)) for sample in s[k]]
    for epoch in (0, 1):
        assert sorted(i for e, i in seen if e == epoch) == list(range(10))
    assert [i for e, i in seen if e == 0] != [i for e, i in seen if e == 1], "each epoch is reshuffled"


def test_a_resumed_stream_continues_exactly_where_the_full_one_was():
    full = stream(max_iter=12)
    resumed = stream(start_iter=7, max_iter=12)
    assert len(resumed) == 5
    assert [resumed[k] for k in range(5)] == [full[7 + k] for k in range(5)]


def test_ranks_split_each_global_batch():
    single = stream(batch=4)
    ranks = [stream(batch=4, rank=r, world_size=2) for r in (0, 1)]
    for it in range(12):
        assert ranks[0][it] + ranks[1][it] == single[it]
        assert len(ranks[0][it]) == 2


def test_the_seed_changes_the_order():
    assert [stream(seed=1)[k] for k in range(3)] != [stream(seed=2)[k] for k in range(3)]
