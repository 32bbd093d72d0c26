"""Two-process DDP on CPU (gloo), as torchrun would launch it: both ranks hold the same weights after steps."""
from __future__ import annotations

import os
import socket

import torch
import torch.multiprocessing as mp

from trt_panoptic.modeling import build_model
from trt_panoptic.modeling.checkpoint import read_checkpoint
from trt_panoptic.training import train


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world_size: int, port: int, cfg, out, dump) -> None:
    # the variables torchrun sets for each process
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world_size),
                      LOCAL_RANK=str(rank))
    result = train(cfg, out, device="cpu", num_threads=1, progress=False)
    torch.save({"params": dict(result.model.named_parameters()), "losses": result.losses}, dump / f"rank{rank}.pt")


def test_two_gloo_ranks_end_a_step_with_identical_weights(tmp_path, tiny_data, tiny_config):
    cfg = tiny_config(tiny_data, ims_per_batch=2, max_iter=2, warmup_iters=0)
    mp.spawn(_worker, args=(2, _free_port(), cfg, tmp_path / "run", tmp_path), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]

    # each rank trained on its own image (different losses) ...
    assert ranks[0]["losses"][0]["total"] != ranks[1]["losses"][0]["total"]
    # ... yet the averaged gradients keep every parameter identical across ranks
    for name, p0 in ranks[0]["params"].items():
        assert torch.equal(p0, ranks[1]["params"][name]), name
    # and the step did change them
    torch.manual_seed(cfg.train.seed)
    init = dict(build_model(cfg).named_parameters())
    assert any(not torch.equal(init[n], p) for n, p in ranks[0]["params"].items())
    # only rank 0 writes, and what it wrote is what both ranks hold
    saved = read_checkpoint(tmp_path / "run" / "model_final.pt")["model"]
    assert all(torch.equal(saved[n], p) for n, p in ranks[1]["params"].items())
