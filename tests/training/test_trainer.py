"""The training loop: losses fall on a fixed batch, resume is exact, checkpoints are weights-only, --out is safe."""
from __future__ import annotations

import json

import pytest
import torch

from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.modeling.checkpoint import load_model
from trt_panoptic.training import train
from trt_panoptic.training.checkpointer import last_checkpoint


def test_a_few_steps_on_one_fixed_batch_lower_the_loss(tmp_path, tiny_data, tiny_config, monkeypatch):
    # Two images, batch 2, no flip: every iteration sees the same batch (in some order).
    monkeypatch.setattr("trt_panoptic.data.dataset.PanopticDataset.__len__", lambda self: 2)
    cfg = tiny_config(tiny_data, max_iter=12, base_lr=0.02, warmup_iters=0, steps=[], flip=False)
    result = train(cfg, tmp_path / "run", num_threads=1, progress=False)
    totals = [step["total"] for step in result.losses]
    assert len(totals) == 12
    # RoI/anchor sampling makes single steps noisy; compare the ends of the run
    assert sum(totals[-3:]) / 3 < 0.85 * sum(totals[:3]) / 3, totals


def test_resume_reproduces_the_uninterrupted_loss_sequence(tmp_path, tiny_data, tiny_config):
    # on the CPU: CUDA's atomic-add backward kernels (RoIAlign, interpolate) sum in a run-dependent order
    # (seen on an H200: losses agreed to 1e-4, not bit for bit)
    run = {"num_threads": 1, "progress": False, "device": "cpu"}
    full = train(tiny_config(tiny_data, max_iter=6, checkpoint_period=3), tmp_path / "full", **run)
    first = train(tiny_config(tiny_data, max_iter=3), tmp_path / "cut", **run)
    assert last_checkpoint(tmp_path / "cut") == 3
    rest = train(tiny_config(tiny_data, max_iter=6), tmp_path / "cut", resume=True, **run)
    assert rest.start_iter == 3
    resumed = first.losses + rest.losses
    assert len(resumed) == len(full.losses) == 6
    for a, b in zip(full.losses, resumed):
        assert a == b  # bit-identical: same data, lr, momentum, BN statistics and RNG state
    for a, b in zip(full.model.state_dict().values(), rest.model.state_dict().values()):
        assert torch.equal(a, b)
    # the log of the resumed run holds every iteration once
    log = [json.loads(line) for line in (tmp_path / "cut" / "log.jsonl").read_text().splitlines()]
    assert [r["iter"] for r in log if "loss" in r] == [1, 2, 3, 4, 5, 6]
    assert [r["wall_s"] > 0 for r in log if r.get("done")] == [True], "one end record, the stale one dropped"


def test_checkpoints_are_weights_only_and_carry_the_config(tmp_path, tiny_data, tiny_config):
    cfg = tiny_config(tiny_data, max_iter=2, checkpoint_period=1)
    train(cfg, tmp_path / "run", num_threads=1, progress=False)
    out = tmp_path / "run"
    assert sorted(p.name for p in out.glob("*.pt")) == [
        "model_0000001.pt", "model_0000002.pt", "model_final.pt", "state_0000001.pt", "state_0000002.pt"]
    state = torch.load(out / "state_0000002.pt", weights_only=True)
    assert state["iteration"] == 2 and state["optimizer"]["state"], "momentum buffers are saved"
    model, loaded_cfg = load_model(out / "model_final.pt")
    assert not model.training
    # the checkpoint records the size the model is made for: the training images' (64x64), the default
    # input of every exported backend; the rest of the config is the one trained with
    assert cfg.model.input.size == [] and loaded_cfg.model.input.size == [64, 64]
    loaded_cfg.model.input.size = []
    assert loaded_cfg.model == cfg.model


def test_a_non_empty_out_needs_resume_or_force(tmp_path, tiny_data, tiny_config):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    cfg = tiny_config(tiny_data, max_iter=1)
    with pytest.raises(TrtPanopticError, match="--resume .* --force"):
        train(cfg, out, progress=False)
    assert (out / "notes.txt").read_text() == "mine"
    train(cfg, out, force=True, num_threads=1, progress=False)
    assert not (out / "notes.txt").exists() and (out / "model_final.pt").is_file()


def test_a_diverging_loss_stops_with_a_hint(tmp_path, tiny_data, tiny_config):
    cfg = tiny_config(tiny_data, max_iter=3, base_lr=1e6, warmup_iters=0, clip_grad_norm=0.0)
    with pytest.raises(TrtPanopticError, match="base_lr"):
        train(cfg, tmp_path / "run", num_threads=1, progress=False)


def test_training_evaluation_feeds_an_rgb_model_rgb():
    # ModelPredictor (the trainer's evaluation) flips BGR frames for an RGB model, as the backends do
    import numpy as np

    from trt_panoptic.training.evaluate import ModelPredictor

    seen = []

    class Model(torch.nn.Module):
        input_format, fusion = "RGB", {"instance_score_thresh": 0.5, "overlap_thresh": 0.5, "stuff_area_limit": 0}

        def forward(self, images, do_postprocess=True):
            seen.append(images[0].clone())
            z = torch.zeros
            return [{"sem_labels": z(2, 2, dtype=torch.long), "instances": {
                "boxes": z(0, 4), "scores": z(0), "classes": z(0, dtype=torch.long), "mask_probs": z(0, 28, 28)}}]

    frame = np.zeros((2, 2, 3), np.uint8)
    frame[..., 0] = 7  # blue in OpenCV's BGR
    ModelPredictor(Model(), ["t"], ["s"]).predict(frame)
    assert seen[0][2].eq(7).all() and seen[0][0].eq(0).all()  # blue is the last channel for the model
