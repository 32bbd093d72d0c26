"""The training data order: a deterministic function of (seed, iteration, rank).

The dataset is read as an endless stream of epochs, each a fresh permutation drawn from
``torch.Generator().manual_seed(seed + epoch)``. Iteration ``i`` takes positions
``[i·B, (i+1)·B)`` of the stream (``B`` = ``ims_per_batch`` over all ranks); rank ``r`` takes its
contiguous ``B / world_size`` slice of that. So the batches of iteration ``i`` never depend on what was
loaded before — resuming at ``i`` needs no replay — and ranks never share a sample within a step.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import torch

from trt_panoptic.data.dataset import PanopticDataset


class BatchStream(torch.utils.data.Dataset):
    """Map-style dataset whose item ``k`` is this rank's list of samples for iteration ``start_iter + k``.

    Use it with ``DataLoader(stream, batch_size=None, collate_fn=lambda b: b)`` so worker processes
    prefetch whole batches; each sample is a dict of :class:`~trt_panoptic.data.dataset.PanopticDataset`.
    """

    def __init__(self, dataset: PanopticDataset, *, seed: int, ims_per_batch: int, start_iter: int, max_iter: int,
                 rank: int = 0, world_size: int = 1) -> None:
        assert ims_per_batch % world_size == 0, "stream: ims_per_batch must divide by world_size"
        self.dataset = dataset
        self.seed = seed
        self.ims_per_batch = ims_per_batch
        self.per_rank = ims_per_batch // world_size
        self.start_iter = start_iter
        self.max_iter = max_iter
        self.rank = rank

    def __len__(self) -> int:
        return max(self.max_iter - self.start_iter, 0)

    def positions(self, iteration: int) -> list[tuple[int, int]]:
        """(epoch, dataset index) of each sample this rank trains on at ``iteration``."""
        n = len(self.dataset)
        first = iteration * self.ims_per_batch + self.rank * self.per_rank
        return [(pos // n, int(self._permutation(pos // n, n)[pos % n])) for pos in range(first, first + self.per_rank)]

    @lru_cache(maxsize=4)
    def _permutation(self, epoch: int, n: int) -> torch.Tensor:
        return torch.randperm(n, generator=torch.Generator().manual_seed(self.seed + epoch))

    def __getitem__(self, k: int) -> list[dict[str, Any]]:
        samples = []
        for epoch, index in self.positions(self.start_iter + k):
            self.dataset.set_epoch(epoch)  # picks the augmentation stream of that epoch
            samples.append(self.dataset[index])
        return samples
